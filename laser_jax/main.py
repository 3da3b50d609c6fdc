"""`python -m laser_jax.main`: LASeR training, resumable (the command line is `laser_jax/cli/train.py`)."""

import sys

from laser_jax.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
