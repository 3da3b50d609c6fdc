"""`python -m laser_jax.convert`: a model converted to a laser_jax Flax checkpoint (the command line is `laser_jax/cli/convert.py`)."""

import sys

from laser_jax.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
