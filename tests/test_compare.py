"""The comparison runner on tiny models: Ctrl-C in the middle of a method, then the same command
resumes it (not from scratch) and goes on to the next method; the table and plots at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from laser_jax.compare import pairwise_ranking_accuracy
from laser_jax.tiny import smoke_assets
from runs import metrics

ROOT = Path(__file__).resolve().parents[1]
ARGS = [f"--config={ROOT / 'configs' / 'tiny.py'}", "--methods=laser,random", "--config.data.train_limit=6",
        "--config.logging.progress=False", "--config.training.checkpoint_every=1"]


def test_pairwise_ranking_accuracy_by_hand():
    import numpy as np

    scores = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, 5.0]])
    correct = np.array([[True, False, False], [True, False, False]])
    # prompt 0: correct beats both (2 hits); prompt 1: tie with one (1/2), loses to the other (0)
    assert pairwise_ranking_accuracy(scores, correct) == pytest.approx(2.5 / 4)
    assert np.isnan(pairwise_ranking_accuracy(scores, np.ones_like(correct)))


def test_ctrl_c_then_rerun_resumes(tmp_path):
    cache = tmp_path / "cache"
    smoke_assets(cache / "tiny")
    env = dict(os.environ, LASER_JAX_CACHE=str(cache), JAX_COMPILATION_CACHE_DIR=str(cache / "xla"))
    workdir = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "laser_jax.compare", f"--workdir={workdir}", *ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 300
    while not (workdir / "laser" / "checkpoints" / "1").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "rerun the same command to resume" in err
    stopped_at = [r["step"] for r in metrics(workdir / "laser")]
    assert 1 <= len(stopped_at) < 4 and not (workdir / "random").exists()

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from {workdir / 'laser' / 'checkpoints'} at step {len(stopped_at)}" in again.stderr
    assert [r["step"] for r in metrics(workdir / "laser")] == [1, 2, 3, 4]
    summary = json.loads((workdir / "results.json").read_text())
    assert [r["method"] for r in summary["rows"]] == ["before", "laser", "random"]
    assert "| LASeR |" in again.stdout and "| Random RM |" in again.stdout
    for name in ("table.md", "accuracy.png", "arms_by_family.png"):
        assert (workdir / name).stat().st_size > 0
