"""Two processes on localhost (jax.distributed, CPU collectives): LASeR on a tiny model over a
mesh that spans both (fsdp=2: every weight is split across the processes, each process feeds
its half of every batch), checkpointed, both killed, resumed: the same final state and metrics
as an uninterrupted two-process run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from laser_jax.models.tiny import smoke_assets

from runs import assert_same_final_state, comparable, metrics
import suite_flags  # tests/: the suite's XLA flags
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# 16 training prompts in batches of 4 -> 4 steps; the batch splits over the two processes
ARGS = ["--config.data.train_limit=16", "--config.training.batch_size=4", "--config.training.iterations=1",
        "--config.training.checkpoint_every=2", "--config.logging.progress=False", "--config.eval.batch_size=4",
        "--config.eval.before=False"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    smoke_assets(cache / "tiny")
    return dict(os.environ, LASER_JAX_CACHE=str(cache),
                JAX_NUM_PROCESSES="2", XLA_FLAGS=suite_flags.XLA_FLAGS)


def launch(env, workdir) -> list:
    port = free_port()
    procs = []
    for pid in range(2):
        e = dict(env, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_PROCESS_ID=str(pid))
        cmd = [sys.executable, "-m", "laser_jax.main", f"--config={ROOT / 'configs' / 'tiny.py'}",
               f"--workdir={workdir}", *ARGS]
        log = open(Path(workdir).parent / f"{Path(workdir).name}.{pid}.log", "w")
        procs.append(forked.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=e, cwd=ROOT))
    return procs


def wait(procs, timeout=400) -> list[int]:
    deadline = time.time() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(1, deadline - time.time())))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    return codes


def logs(workdir) -> str:
    return "\n".join(Path(f"{workdir}.{pid}.log").read_text()[-3000:] for pid in range(2))


@pytest.fixture(scope="module")
def runs(env, tmp_path_factory):
    root = tmp_path_factory.mktemp("multihost")
    full, parts = root / "full", root / "parts"
    for d in (full, parts):
        d.mkdir()
    assert wait(launch(env, full)) == [0, 0], logs(full)

    # the same run, killed (SIGKILL, no clean-up) once the step-2 checkpoint is complete
    procs = launch(env, parts)
    deadline = time.time() + 400
    while not (parts / "checkpoints" / "2" / "_CHECKPOINT_METADATA").exists():
        assert time.time() < deadline and all(p.poll() is None for p in procs), logs(parts)
        time.sleep(0.2)
    time.sleep(0.5)
    for p in procs:
        p.send_signal(signal.SIGKILL)
    wait(procs)
    killed_at = [r["step"] for r in metrics(parts)]
    assert wait(launch(env, parts)) == [0, 0], logs(parts)
    return full, parts, killed_at


def test_two_processes_resume_to_the_uninterrupted_state(runs):
    full, parts, killed_at = runs
    assert killed_at[:2] == [1, 2] and len(killed_at) < 4  # killed after the checkpoint, before the end
    assert "resumed from" in Path(f"{parts}.0.log").read_text()
    assert comparable(metrics(full)) == comparable(metrics(parts))
    assert [r["step"] for r in metrics(full)] == [1, 2, 3, 4]
    assert_same_final_state(full, parts, step=4)


def test_only_process_zero_writes_and_both_see_the_whole_mesh(runs):
    full, _, _ = runs
    res = json.loads((full / "results.json").read_text())
    assert res["status"] == "complete" and res["steps"] == 4
    assert (full / "eval_after.jsonl").exists() and (full / "arms.png").exists()
    for pid in range(2):
        text = Path(f"{full}.{pid}.log").read_text()
        assert "mesh" in text and "2 processes" in text, text[-2000:]
    # process 1 logged nothing of its own into the shared outputs
    assert len((full / "metrics.jsonl").read_text().splitlines()) == 4
