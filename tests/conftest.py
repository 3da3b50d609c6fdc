"""Test-wide settings. Tiny models compile far longer than they run, so LLVM's backend
optimisation is turned down (XLA_FLAGS must be set before JAX starts its CPU backend); the
numbers computed are the same operations either way."""

import os
import sys
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))  # tests/runs.py: helpers shared by test modules
