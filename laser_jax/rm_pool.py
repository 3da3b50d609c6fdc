"""`python -m laser_jax.rm_pool`: builds a pool of specialist reward models (the command line is
`laser_jax/cli/rm_pool.py`)."""

import sys

from laser_jax.cli.rm_pool import main

if __name__ == "__main__":
    sys.exit(main())
