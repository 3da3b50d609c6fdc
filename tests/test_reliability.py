"""Faults through the command lines (issue 20): a bug is exit 1 with its traceback kept in the
workdir, `--help` exits 0, a torn or damaged file laser_jax wrote is recovered or named, every JSON
written is valid JSON, a file given where a directory is needed is refused by name, and a
damaged checkpoint falls back without a traceback."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from laser_jax.models.tiny import smoke_assets
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.py")
QUIET = ["--config.logging.progress=False", "--config.data.train_limit=3", "--config.eval.before=False",
         "--config.logging.plot=False"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    smoke_assets(cache / "tiny")
    # one XLA compilation cache for the module's runs: the tiny models' functions compile once
    return dict(os.environ, LASER_JAX_CACHE=str(cache), PYTHONPATH=str(ROOT))


@pytest.fixture(scope="module")
def one_step(env, tmp_path_factory):
    """A workdir stopped (checkpointed) after its first step, written once for the tests that
    start from one; each copies it."""
    workdir = tmp_path_factory.mktemp("one_step") / "work"
    first = run(env, *main_args(workdir, "--config.training.stop_after=1", "--config.training.checkpoint_every=1"))
    assert first.returncode == 0, first.stderr[-3000:]
    return workdir


def run(env, *args, timeout=300):
    return forked.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout)


def main_args(workdir, *overrides):
    return ["-m", "laser_jax.main", f"--config={TINY}", f"--workdir={workdir}", *QUIET, *overrides]


def strict_json(text: str):
    """json.loads that refuses NaN / Infinity (not JSON)."""
    def refuse(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_a_bug_inside_a_training_step_is_exit_1_with_its_traceback_in_the_workdir(env, tmp_path):
    workdir = tmp_path / "work"
    wrapper = tmp_path / "buggy.py"
    wrapper.write_text(
        "import sys\nfrom laser_jax.training import loop\n\n\n"
        "def broken(*a, **k):\n    raise ValueError('a bug in a step')\n\n\n"
        "loop.laser_step = broken\nfrom laser_jax import main\n\nsys.exit(main.main())\n")
    out = run(env, str(wrapper), *main_args(workdir)[2:])
    assert out.returncode == 1, out.stderr[-3000:]
    assert "internal error (ValueError: a bug in a step): a bug in laser_jax" in out.stderr
    assert str(workdir / "error.log") in out.stderr and "Traceback" not in out.stderr
    log = (workdir / "error.log").read_text()
    assert "Traceback" in log and "ValueError: a bug in a step" in log and "broken" in log


@pytest.mark.parametrize("module,flag", [("laser_jax.main", "--workdir"), ("laser_jax.compare", "--methods"),
                                         ("laser_jax.best_of_n", "--methods"), ("laser_jax.judge", "--judge")])
def test_help_exits_0_and_lists_the_flags(env, module, flag):
    out = run(env, "-m", module, "--help")
    assert out.returncode == 0, out.stderr[-3000:]
    assert flag in out.stdout and "Traceback" not in out.stderr


def test_resume_drops_a_torn_metrics_line_and_names_a_damaged_one(env, one_step, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(one_step, workdir)
    metrics = workdir / "metrics.jsonl"
    good = metrics.read_text()
    metrics.write_text(good + '{"step": 2, "loss": 0.5, "ar')  # killed during the append
    out = run(env, *main_args(workdir, "--config.training.stop_after=1", "--config.training.checkpoint_every=1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "metrics.jsonl:2: the last line is incomplete" in out.stderr and "Traceback" not in out.stderr
    steps = [strict_json(line)["step"] for line in metrics.read_text().splitlines()]
    assert steps == [1, 2]
    metrics.write_text('{"step": 1, oops\n' + metrics.read_text())  # damaged before the end: named, kept
    damaged = metrics.read_text()
    out = run(env, *main_args(workdir))
    assert out.returncode == 2 and "metrics.jsonl:1 is damaged" in out.stderr, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and metrics.read_text() == damaged


def test_a_damaged_eval_before_json_is_named(env, one_step, tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(one_step, workdir)
    (workdir / "eval_before.json").write_text('{"accuracy": 0.')
    out = run(env, *main_args(workdir))
    assert out.returncode == 2 and "eval_before.json is damaged" in out.stderr and "delete it" in out.stderr
    assert "Traceback" not in out.stderr


def test_every_json_written_is_valid_with_an_empty_test_split(env, tmp_path):
    workdir = tmp_path / "work"
    out = run(env, *main_args(workdir, "--config.data.holdout_fraction=0.001", "--config.training.iterations=1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "the test split is empty" in out.stderr
    results = strict_json((workdir / "results.json").read_text())
    assert results["test_examples"] == 0 and results["accuracy_after"] is None
    written = [p for p in workdir.rglob("*.json*") if "checkpoints" not in p.parts]
    assert len(written) >= 4
    for path in written:
        lines = path.read_text().splitlines() if path.suffix == ".jsonl" else [path.read_text()]
        for line in filter(str.strip, lines):
            strict_json(line)


@pytest.mark.parametrize("args", [
    ["-m", "laser_jax.main", f"--config={TINY}", "--workdir={file}"],
    ["-m", "laser_jax.compare", f"--config={TINY}", "--workdir={file}", "--methods=laser"],
    ["-m", "laser_jax.best_of_n", "--config=configs/best_of_n.py", "--workdir={file}"],
    ["-m", "laser_jax.judge", "--a={dir}", "--b={dir}", "--judge=verifier:gsm8k", "--out={file}"],
    ["-m", "laser_jax.judge", "--a={file}", "--b={dir}", "--judge=verifier:gsm8k", "--out={dir}/out"],
    ["-m", "laser_jax.tiny", "{file}"],
], ids=["main", "compare", "best_of_n", "judge --out", "judge --a", "tiny"])
def test_a_file_where_a_directory_is_needed_is_refused_by_name(env, tmp_path, args):
    file, folder = tmp_path / "a_file", tmp_path / "a_dir"
    file.write_text("mine")
    folder.mkdir()
    out = run(env, *[a.replace("{file}", str(file)).replace("{dir}", str(folder)) for a in args])
    assert out.returncode == 2, (out.stdout + out.stderr)[-3000:]
    assert f"{file} is a file" in out.stderr and "Traceback" not in out.stderr
    assert file.read_text() == "mine"


def test_a_damaged_checkpoint_falls_back_quietly(env, tmp_path):
    workdir = tmp_path / "work"
    ckpt = ["--config.training.checkpoint_every=1", "--config.training.keep_checkpoints=3"]
    first = run(env, *main_args(workdir, "--config.training.stop_after=2", *ckpt))
    assert first.returncode == 0, first.stderr[-3000:]
    for f in (workdir / "checkpoints" / "2").rglob("*"):
        if f.is_file():
            f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
    out = run(env, *main_args(workdir, "--config.training.stop_after=1", *ckpt))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2.corrupt" in out.stderr and "resumed from" in out.stderr
    assert "Exception ignored" not in out.stderr and "Traceback" not in out.stderr, out.stderr[-3000:]
