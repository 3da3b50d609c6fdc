"""Bad inputs and faults through the command lines: each case asserts the exit code, that the
message names the file / flag / field, that no traceback is printed, and that nothing already in
the workdir was lost."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from laser_jax.models.tiny import smoke_assets
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.py")
QUIET = ["--config.logging.progress=False", "--config.data.train_limit=3", "--config.eval.before=False"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    smoke_assets(cache / "tiny")
    files = tmp_path_factory.mktemp("files")
    (files / "bad_syntax.py").write_text("def get_config(:\n")
    (files / "no_get.py").write_text("x = 1\n")
    (files / "broken.jsonl").write_text('{"question": "1+1?", "answer": "#### 2"}\n{"question": oops\n')
    (files / "empty.jsonl").write_text("")
    (files / "not_a_model").mkdir()
    (files / "garbage.gguf").write_bytes(b"GGUF" + os.urandom(64))
    (files / "a_file").write_text("x")
    for name, change in (("garbage_rm.py", f"c.rewards[1]['path'] = {str(files / 'garbage.gguf')!r}"),
                         # two unnamed verifiers derive the same name, exact_match:gsm8k
                         ("same_rm_twice.py", "c.rewards += [dict(kind='verifier')] * 2")):
        (files / name).write_text(  # configs/tiny.py with one change
            "import importlib.util\n"
            f"spec = importlib.util.spec_from_file_location('tiny', {TINY!r})\n"
            "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n\n\n"
            f"def get_config():\n    c = tiny.get_config()\n    {change}\n    return c\n")
    # the XLA compilation cache (tests/conftest.py) is shared with every other module
    e = dict(os.environ, LASER_JAX_CACHE=str(cache), PYTHONPATH=str(ROOT))
    return e, files


def run(env, *args, timeout=300):
    e, _ = env
    return forked.run([sys.executable, "-m", *args], capture_output=True, text=True, env=e, cwd=ROOT,
                          timeout=timeout)


def main_args(workdir, *overrides, config=TINY):
    return ["laser_jax.main", f"--config={config}", f"--workdir={workdir}", *QUIET, *overrides]


F = "{files}"  # replaced by the fixture's folder
CASES = [
    # (id, command-line args with {files} / {workdir}, exit code, words the message must contain)
    ("config missing", ["laser_jax.main", "--config={files}/nope.py", "--workdir={workdir}"], 2,
     ["--config", "nope.py", "No such file"]),
    ("config syntax error", ["laser_jax.main", "--config={files}/bad_syntax.py", "--workdir={workdir}"], 2,
     ["bad_syntax.py line 1"]),
    ("config without get_config", ["laser_jax.main", "--config={files}/no_get.py", "--workdir={workdir}"], 2,
     ["no_get.py", "get_config()"]),
    ("unknown override field", main_args("{workdir}", "--config.training.nope=1"), 2,
     ["--config.training.nope=1", "no field 'nope'"]),
    ("unparsable override value", main_args("{workdir}", "--config.training.batch_size=abc"), 2,
     ["--config.training.batch_size=abc"]),
    ("override into a list", main_args("{workdir}", "--config.rewards.2.task=mmlu"), 2, ["rewards.2.task"]),
    ("no workdir", ["laser_jax.main", f"--config={TINY}"], 2, ["--workdir is required"]),
    ("no config", ["laser_jax.main", "--workdir={workdir}"], 2, ["--config is required"]),
    ("unknown selector", main_args("{workdir}", "--config.selector=ucb2"), 2, ["selector='ucb2'"]),
    ("NaN learning rate", main_args("{workdir}", "--config.training.learning_rate=nan"), 2,
     ["training.learning_rate=nan"]),
    ("NaN max_grad_norm", main_args("{workdir}", "--config.training.max_grad_norm=nan"), 2,
     ["training.max_grad_norm=nan"]),
    ("infinite beta", main_args("{workdir}", "--config.training.beta=inf"), 2, ["training.beta=inf"]),
    ("keep no checkpoints", main_args("{workdir}", "--config.training.keep_checkpoints=0"), 2,
     ["training.keep_checkpoints=0"]),
    ("top_p out of range", main_args("{workdir}", "--config.sampling.top_p=1.5"), 2, ["sampling.top_p=1.5"]),
    ("fixed arm out of range", main_args("{workdir}", "--config.selector=fixed", "--config.selector_args.arm=7"), 2,
     ["selector_args.arm=7"]),
    ("mesh size 0", main_args("{workdir}", "--config.mesh.fsdp=0"), 2, ["mesh sizes"]),
    ("unknown task", main_args("{workdir}", "--config.data.task=chess"), 2, ["data.task='chess'"]),
    ("data file missing", main_args("{workdir}", "--config.data.path={files}/none.jsonl"), 2,
     ["data.path=", "none.jsonl"]),
    ("data file with a broken line", main_args("{workdir}", "--config.data.path={files}/broken.jsonl"), 2,
     ["broken.jsonl:2"]),
    ("empty data file", main_args("{workdir}", "--config.data.path={files}/empty.jsonl"), 2, ["empty.jsonl"]),
    ("policy path missing", main_args("{workdir}", "--config.policy.path={files}/no_model"), 2,
     ["policy.path=", "no_model"]),
    ("policy dir without a model", main_args("{workdir}", "--config.policy.path={files}/not_a_model"), 2,
     ["policy.path", "not_a_model"]),
    ("reward model file is garbage", main_args("{workdir}", config="{files}/garbage_rm.py"), 2,
     ["rewards[1].path", "garbage.gguf"]),
    ("workdir under a file", main_args("{files}/a_file/run"), 2, ["cannot write", "a_file"]),
    ("two reward models named alike", main_args("{workdir}", config="{files}/same_rm_twice.py"), 2,
     ["rewards[4].name='exact_match:gsm8k' repeats rewards[3]"]),
    ("max_pulls above the context size", main_args("{workdir}", "--config.selector_args.max_pulls=100000"), 2,
     ["max_pulls", "dim=32", "got 100000"]),
    ("unknown lora target", main_args("{workdir}", "--config.policy.lora_targets=('q','nope')"), 2,
     ["policy.lora_targets", "['nope']"]),
    ("overflowing noise", main_args("{workdir}", "--config.selector=ensemble", "--config.training.label_smoothing=0.7"),
     2, ["training.label_smoothing=0.7"]),
    ("memory: config syntax error", ["laser_jax.memory", "--config={files}/bad_syntax.py"], 2,
     ["bad_syntax.py line 1"]),
    ("memory: bad meshes", ["laser_jax.memory", f"--config={TINY}", "--meshes=8x"], 2, ["--meshes"]),
    ("convert: missing source", ["laser_jax.convert", "{files}/no_model", "{workdir}/out"], 2, ["no_model"]),
    ("convert --overwrite onto a folder that is not a checkpoint",
     ["laser_jax.convert", "{cache}/tiny/policy", "{workdir}", "--overwrite"], 2,
     ["work", "not a laser_jax checkpoint"]),
    ("compare: unknown method", ["laser_jax.compare", f"--config={TINY}", "--workdir={workdir}", "--methods=ucb"],
     2, ["--methods", "ucb"]),
    ("compare: config without get_config", ["laser_jax.compare", "--config={files}/no_get.py",
                                            "--workdir={workdir}"], 2, ["no_get.py", "get_config()"]),
    ("compare: a task without gold answers", ["laser_jax.compare", f"--config={TINY}", "--workdir={workdir}",
                                              "--config.data.task=wildchat"],
     2, ["data.task='wildchat' has no gold answers", "laser_jax.judge"]),
    ("tiny: unknown kind", ["laser_jax.tiny", "{workdir}/m", "--kind", "vision"], 2, ["--kind", "vision"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_a_clear_error(env, tmp_path, case):
    _, args, code, words = case
    _, files = env
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("mine")
    cache = env[0]["LASER_JAX_CACHE"]
    out = run(env, *[a.replace("{files}", str(files)).replace("{workdir}", str(workdir)).replace("{cache}", cache)
                     for a in args])
    text = out.stderr + out.stdout
    assert out.returncode == code, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for w in words:
        assert w in text, (w, text[-3000:])
    assert (workdir / "notes.txt").read_text() == "mine"


def test_resume_with_another_config_or_a_damaged_config_json(env, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps({"seed": 12345}))
    out = run(env, *main_args(workdir))
    assert out.returncode == 2 and "different config" in out.stderr and "seed" in out.stderr
    assert "Traceback" not in out.stderr
    (workdir / "config.json").write_text("{not json")
    out = run(env, *main_args(workdir))
    assert out.returncode == 2 and "config.json" in out.stderr and "Traceback" not in out.stderr
    assert (workdir / "config.json").read_text() == "{not json"  # kept for the user to look at


def test_no_intact_checkpoint(env, tmp_path):
    workdir = tmp_path / "work"
    first = run(env, *main_args(workdir, "--config.training.stop_after=1", "--config.training.checkpoint_every=1"))
    assert first.returncode == 0, first.stderr[-3000:]
    for f in (workdir / "checkpoints").rglob("*"):
        if f.is_file():
            f.write_bytes(b"")
    out = run(env, *main_args(workdir))
    assert out.returncode == 2 and "no checkpoint restores" in out.stderr and "Traceback" not in out.stderr
    assert (workdir / "checkpoints" / "1.corrupt").is_dir()
