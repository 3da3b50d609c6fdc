"""LinUCB in float32 at the context sizes of real models (d = 576, SmolLM2; d = 4096, a 7B model)
against a float64 LinUCB, in a subprocess at XLA's default optimisation level (this suite compiles
with -O0, which makes these long loops 4-5x slower). Its own file, so that the test runner can put
it beside test_linucb.py's other tests."""

import json
import os
import sys

import pytest

import linucb_exactness as exactness  # tests/: the stream and the float64 reference
import forked  # tests/forked.py: command lines in forked children of a pre-imported process


@pytest.mark.slow
@pytest.mark.parametrize("runs", ["dense 576 5000 4 + lowrank 576 5000 4", "lowrank 4096 1000 4",
                                  "dense 4096 300 4"])
def test_exact_in_float32_large_d(runs):
    """d = 576 over 5,000 steps; d = 4096 over 1,000 (low-rank, the default there) and 300 (dense:
    ~55 ms a step, so 1,000 steps take 80-190 s; `python tests/linucb_exactness.py dense 4096 1000 4`
    runs them). The same bar as at d = 64. Measured: worst 5.9e-5 (dense, 576), 5.6e-5 (low-rank,
    576), 5.1e-6 (dense, 4096, 1,000 steps), 6.6e-6 (low-rank, 4096)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = forked.run([sys.executable, exactness.__file__, *runs.split()],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    results = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert len(results) == runs.count("+") + 1
    for result in results:
        assert not result["wrong"] and result["ties"] == 0, result
        assert result["worst"] < 1e-4, result
