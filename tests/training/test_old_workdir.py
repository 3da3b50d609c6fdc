"""A workdir written by an older laser_jax still resumes under today's code.

tests/fixtures/workdir_29af67d/ was written by commit 29af67d, unchanged, with configs/tiny.py
stopped after 2 of its 4 steps (XLA at -O0, as this suite runs):

    LASER_JAX_CACHE=/tmp/oldcache XLA_FLAGS=--xla_backend_optimization_level=0 \\
    python -m laser_jax.main --config configs/tiny.py --workdir WORKDIR --config.data.train_limit=6 \\
        --config.logging.progress=False --config.training.checkpoint_every=100 \\
        --config.training.stop_after=2 --config.training.keep_checkpoints=1 \\
        --config.logging.tensorboard=False --config.logging.plot=False

Its config.json names the tiny models and data under that run's cache (/tmp/oldcache/tiny); the
test builds the same tiny assets (deterministic) under its own cache and points config.json there,
as one would after moving a workdir and its model cache to another machine.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from laser_jax.models.tiny import smoke_assets
from runs import final_state, metrics
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "workdir_29af67d"
OLD_ASSETS = "/tmp/oldcache/tiny"
# the old run's flags (the config must match; checkpoint_every, keep_checkpoints and logging may change)
FLAGS = ["--config.data.train_limit=6", "--config.logging.progress=False", "--config.training.checkpoint_every=100",
         "--config.training.keep_checkpoints=1", "--config.logging.tensorboard=False", "--config.logging.plot=False"]


def test_workdir_of_29af67d_resumes_from_its_checkpoint(tmp_path):
    cache = tmp_path / "cache"
    smoke_assets(cache / "tiny")
    workdir = tmp_path / "workdir"
    shutil.copytree(FIXTURE, workdir)
    config = workdir / "config.json"
    config.write_text(config.read_text().replace(OLD_ASSETS, str(cache / "tiny")))
    old_lines = (FIXTURE / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in old_lines] == [1, 2]

    env = dict(os.environ, LASER_JAX_CACHE=str(cache))
    cmd = [sys.executable, "-m", "laser_jax.main", f"--config={ROOT / 'configs' / 'tiny.py'}",
           f"--workdir={workdir}", *FLAGS]
    out = forked.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resumed from {workdir / 'checkpoints'} at step 2" in out.stderr, out.stderr[-3000:]

    # steps 3-4 were appended to the old run's steps 1-2, which are kept byte for byte: a run that
    # restarted from scratch would have rewritten them (their time_* fields are the old run's timings)
    lines = (workdir / "metrics.jsonl").read_text().splitlines()
    assert lines[:2] == old_lines
    recs = metrics(workdir)
    assert [r["step"] for r in recs] == [1, 2, 3, 4] and [r["iteration"] for r in recs] == [0, 0, 1, 1]
    for r in recs[2:]:
        assert set(json.loads(old_lines[0])) <= set(r)  # every field the old run recorded, still recorded
    step, _ = final_state(workdir)
    assert step == 4
    res = json.loads((workdir / "results.json").read_text())
    assert res["status"] == "complete" and res["steps"] == 4
    assert sum(res["steps_per_arm"].values()) == 4
    assert (workdir / "eval_before.jsonl").read_text() == (FIXTURE / "eval_before.jsonl").read_text()
