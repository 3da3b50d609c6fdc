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

from laser_jax.training.compare import pairwise_ranking_accuracy
from laser_jax.models.tiny import smoke_assets
from runs import metrics
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
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
    env = dict(os.environ, LASER_JAX_CACHE=str(cache))
    workdir = tmp_path / "cmp"
    cmd = [sys.executable, "-m", "laser_jax.compare", f"--workdir={workdir}", *ARGS]
    proc = forked.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
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

    again = forked.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resumed from {workdir / 'laser' / 'checkpoints'} at step {len(stopped_at)}" in again.stderr
    assert [r["step"] for r in metrics(workdir / "laser")] == [1, 2, 3, 4]
    summary = json.loads((workdir / "results.json").read_text())
    assert [r["method"] for r in summary["rows"]] == ["before", "laser", "random"]
    assert "| LASeR |" in again.stdout and "| Random RM |" in again.stdout
    for name in ("table.md", "accuracy.png", "arms_by_family.png"):
        assert (workdir / name).stat().st_size > 0


def test_seed_statistics_by_hand():
    """Means, per-seed accuracies and the paired difference with best, from correctness matrices
    written here; a constant per-question difference has a zero-width interval at that value."""
    import numpy as np

    from laser_jax.training.compare import seed_statistics

    rng = np.random.default_rng(0)
    best = (rng.random((3, 50)) < 0.5).astype(float)
    method = best.copy()
    method[:, :10] = 1.0 - best[:, :10]  # flips 10 of 50 questions in every seed
    st = seed_statistics(method, best)
    assert st["mean"] == pytest.approx(method.mean())
    np.testing.assert_allclose(st["per_seed"], method.mean(axis=1))
    assert st["ci95"][0] <= st["mean"] <= st["ci95"][1]
    assert st["vs_best"]["mean_diff"] == pytest.approx((method - best).mean())
    lo, hi = st["vs_best"]["ci95"]
    assert lo <= st["vs_best"]["mean_diff"] <= hi
    shifted = seed_statistics(np.ones((3, 50)), np.zeros((3, 50)))
    assert shifted["vs_best"] == {"mean_diff": 1.0, "ci95": [1.0, 1.0], "p_above": 1.0}


def test_seeds_run_every_method_per_seed_and_report_intervals(tmp_path, monkeypatch):
    """--seeds 2 on tiny models (in process): WORKDIR/<method>/seed<k> per seed, seeded
    config.seed + k (different sampling, so the runs differ), the table over seeds, the plot;
    --seeds 0 is refused with exit 2."""
    from ml_collections import ConfigDict

    from laser_jax.training.compare import compare
    from runs import tiny_config

    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path / "cache"))
    smoke_assets(tmp_path / "cache" / "tiny")
    c = ConfigDict(tiny_config().to_dict())
    c.data.train_limit, c.logging.progress, c.logging.plot = 6, False, False
    code, summary = compare(c, tmp_path / "cmp", ["random", "sequential"], seeds=2)
    assert code == 0 and summary["seeds"] == 2
    for m in ("random", "sequential"):
        for k in (0, 1):
            res = json.loads((tmp_path / "cmp" / m / f"seed{k}" / "results.json").read_text())
            assert res["status"] == "complete"
            cfg = json.loads((tmp_path / "cmp" / m / f"seed{k}" / "config.json").read_text())
            assert cfg["seed"] == c.seed + k
    arms = [[r["arm"] for r in metrics(tmp_path / "cmp" / "random" / f"seed{k}")] for k in (0, 1)]
    assert arms[0] != arms[1]  # the random RM per batch follows the seed
    rows = {r["method"]: r for r in summary["rows"]}
    assert len(rows["random"]["seeds"]["per_seed"]) == 2 and "vs_best" not in rows["random"]["seeds"]
    text = (tmp_path / "cmp" / "table.md").read_text()
    assert "Over 2 seeds" in text and "| Random RM |" in text
    assert (tmp_path / "cmp" / "accuracy_seeds.png").stat().st_size > 0
    env = dict(os.environ, LASER_JAX_CACHE=str(tmp_path / "cache"))
    bad = forked.run([sys.executable, "-m", "laser_jax.compare", f"--workdir={tmp_path / 'bad'}", *ARGS,
                          "--seeds=0"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert bad.returncode == 2 and "--seeds=0 must be >= 1" in bad.stderr and "Traceback" not in bad.stderr
