"""`python -m laser_jax.memory`: per-device memory of a run for several meshes (the command line is `laser_jax/cli/memory.py`)."""

import sys

from laser_jax.cli.memory import main

if __name__ == "__main__":
    sys.exit(main())
