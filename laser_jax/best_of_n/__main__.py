"""`python -m laser_jax.best_of_n`: best-of-n with every method replayed (the command line is `laser_jax/cli/best_of_n.py`)."""

import sys

from laser_jax.cli.best_of_n import main

if __name__ == "__main__":
    sys.exit(main())
