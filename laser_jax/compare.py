"""`python -m laser_jax.compare`: LASeR against the baselines, one table (the command line is `laser_jax/cli/compare.py`)."""

import sys

from laser_jax.cli.compare import main

if __name__ == "__main__":
    sys.exit(main())
