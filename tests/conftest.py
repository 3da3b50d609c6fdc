"""Test-wide settings. Tiny models compile far longer than they run, so compiling is made cheaper
(tests/suite_flags.py: XLA_FLAGS must be set before JAX starts its CPU backend); the numbers
computed are the same operations either way.

One persistent XLA compilation cache serves the whole run: both xdist workers and every command
line a test starts (they inherit the environment), so the tiny configs' programs, which a dozen
test modules run through subprocesses, compile once. Its entries are keyed by the program, the
XLA flags and the JAX version, so a hit is the same executable; the size cap turns on JAX's file
lock, which makes concurrent readers and writers safe. Set JAX_COMPILATION_CACHE_DIR to move it."""

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/runs.py, suite_flags.py: helpers shared by test modules
from suite_flags import XLA_FLAGS  # noqa: E402

os.environ.setdefault("XLA_FLAGS", XLA_FLAGS)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "laser_jax_tests_xla"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 << 30))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# The longest test files first, so the parallel workers (pytest-xdist, one file per worker at a
# time) do not end on one long file while the others sit idle; the rest keep their order. xdist
# (3.5 on) would otherwise hand out files by their number of tests, most first, which put the long
# files of 1-3 tests last: setup.cfg passes --no-loadscope-reorder (xdist 3.8) to keep this order.
LONGEST_FIRST = ("test_e2e.py", "test_gemma_rm.py", "test_gemma_real.py", "test_cli.py", "test_reliability.py",
                 "test_instruction_following.py",
                 "test_sharding.py", "test_linucb_large_d.py", "test_front_door.py", "test_smollm2.py",
                 "test_multihost.py", "test_linucb.py", "test_sampling.py", "test_demo.py", "test_judge_cli.py",
                 "test_compare.py", "test_update.py", "test_selectors.py", "test_parity.py", "test_replay.py",
                 "test_old_workdir.py", "test_faults.py", "test_kill.py", "test_checkpoint.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
