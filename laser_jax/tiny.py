"""`python -m laser_jax.tiny`: a tiny random model for smoke runs (the command line is `laser_jax/cli/tiny.py`)."""

import sys

from laser_jax.cli.tiny import main

if __name__ == "__main__":
    sys.exit(main())
