"""`python -m laser_jax.judge`: two runs judged pairwise (the command line is `laser_jax/cli/judge.py`)."""

import sys

from laser_jax.cli.judge import main

if __name__ == "__main__":
    sys.exit(main())
