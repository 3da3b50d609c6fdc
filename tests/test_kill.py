"""kill -9 at random instants of a checkpoint_every=1 run (also during a save): rerunning the same
command each time ends bit-identical to an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from laser_jax.models.tiny import smoke_assets
from runs import assert_same_final_state, comparable, metrics
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
ARGS = [f"--config={ROOT / 'configs' / 'tiny.py'}", "--config.data.train_limit=9", "--config.logging.progress=False",
        "--config.eval.before=False", "--config.eval.after=False", "--config.training.checkpoint_every=1",
        "--config.logging.tensorboard=False", "--config.training.iterations=3"]  # 3 batches x 3 iterations = 9 steps,
# a checkpoint after each


def test_kill_9_at_random_instants_then_resume(tmp_path):
    cache = tmp_path / "cache"
    smoke_assets(cache / "tiny")
    env = dict(os.environ, LASER_JAX_CACHE=str(cache))

    def cmd(workdir):
        return [sys.executable, "-m", "laser_jax.main", f"--workdir={workdir}", *ARGS]

    full, killed = tmp_path / "full", tmp_path / "killed"
    ref = forked.run(cmd(full), capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert ref.returncode == 0, ref.stderr[-3000:]

    def steps_logged():
        path = killed / "metrics.jsonl"
        return len(path.read_text().splitlines()) if path.exists() else 0

    rng = random.Random(0)
    kills, instants = 0, []
    while kills < 5:  # each attempt: wait for a random step, then a random instant within ~1.5 s
        proc = forked.Popen(cmd(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
        target = rng.randint(min(steps_logged(), 7), 7)
        deadline = time.time() + 300
        while proc.poll() is None and steps_logged() < target and time.time() < deadline:
            time.sleep(0.05)
        delay = rng.uniform(0.0, 1.5)
        time.sleep(delay)
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
        instants.append((target, round(delay, 2)))
    final = forked.run(cmd(killed), capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    assert comparable(metrics(full)) == comparable(metrics(killed))
    assert_same_final_state(full, killed, step=9)
    assert kills >= 5, f"only {kills} kills ({instants}) landed before the run finished"
