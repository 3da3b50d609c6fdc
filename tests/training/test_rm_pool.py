"""The RM pool builder (`python -m laser_jax.rm_pool`, laser_jax/training/specialists.py): the quick
variant end to end on tiny models through the command line (adapters, pool.json entries that
validate, load and score, recorded sha256), a rerun that trains nothing, bad configs refused by
field (exit 2), and the default pool's training questions disjoint from the front door's queries."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from laser_jax.batch import family
from laser_jax.config import base_config, from_config, load
from laser_jax.config.sections import DataSection
from laser_jax.data.prompts import format_prompt
from laser_jax.rewards import build_reward_models
from laser_jax.rewards.spec import check_specs
from laser_jax.training.identity import changed_fields
from laser_jax.training.runtime import load_data
from laser_jax.training.specialists import check_pool_config, pool_rewards, specialist_config
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
QUICK = f"--config={ROOT / 'configs' / 'rm_pool.py'}:quick"


def _config(path: str, *args):
    spec = importlib.util.spec_from_file_location("cfg", ROOT / "configs" / path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config(*args)


def _run(out, *args):
    return forked.run([sys.executable, "-m", "laser_jax.rm_pool", QUICK, f"--out={out}", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    out = tmp_path_factory.mktemp("pool")
    run = _run(out)
    assert run.returncode == 0, run.stderr[-3000:]
    return out, run


def test_quick_pool_writes_adapters_and_valid_entries(pool):
    out, run = pool
    record = json.loads((out / "pool.json").read_text())
    names = [s["name"] for s in _config("rm_pool.py", "quick").specialists]
    assert [e["name"] for e in record["rewards"]] == names
    assert record["command"].startswith("python -m laser_jax.rm_pool") and "--out=" in record["command"]
    assert record["config"]["beta"] == 0.1
    for e, row in zip(record["rewards"], record["specialists"]):
        path = Path(e["adapter"])
        assert path == out / f"{e['name']}.safetensors" and path.is_file()
        assert e["adapter_sha256"] == row["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert e["kind"] == "implicit_dpo" and e["beta"] == 0.1 and row["bytes"] == path.stat().st_size
        assert (out / e["name"] / "results.json").exists() and not row["reused"]
        assert f"{e['name']}: trained" in run.stdout
    # as the rewards of a run config: they pass its validation, load and score
    c = base_config()
    c.policy.path = record["rewards"][0]["path"]
    c.data.task = "demo"
    c.rewards = record["rewards"]
    load(c, "training")
    for entries in (record["rewards"], pool_rewards(out)):
        rms = build_reward_models(entries, default_task="demo")
        assert [rm.name for rm in rms] == names
        prompts, responses = ["What is 2 + 3?"] * 2, ["5", "It is 7."]
        for rm in rms:
            scores = np.asarray(rm.score(prompts, responses, golds=["5", "5"], tasks=["gsm8k"] * 2))
            assert scores.shape == (2,) and np.isfinite(scores).all()


def test_rerun_reuses_finished_specialists(pool):
    out, _ = pool
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")}
    steps = {p.parent.name: len(list((p.parent / "checkpoints").iterdir())) for p in out.glob("*/results.json")}
    run = _run(out)
    assert run.returncode == 0, run.stderr[-3000:]
    record = json.loads((out / "pool.json").read_text())
    assert all(row["reused"] for row in record["specialists"])
    assert "LASeR[" not in run.stderr  # no training loop ran
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.safetensors")} == before
    assert {p.parent.name: len(list((p.parent / "checkpoints").iterdir())) for p in out.glob("*/results.json")} == steps


@pytest.mark.parametrize("args, field", [
    (["--config.beta=-1"], "beta=-1"),
    (["--config.run.training.batch_size=0"], "training.batch_size=0"),
    (["--config.run.data.train_split=nope"], "data"),
])
def test_bad_config_exits_2_naming_the_field(tmp_path, args, field):
    run = _run(tmp_path / "out", *args)
    assert run.returncode == 2, run.stderr[-2000:]
    assert field in run.stderr and "Traceback" not in run.stderr


def test_pool_config_checks_name_their_field():
    pc = _config("rm_pool.py")
    pc.specialists = [dict(name="a/b", families="arithmetic", seed=-1, extra=1), dict(name="x", families=(), seed=0, train_limit=-1)]
    problems = "\n".join(check_pool_config(pc))
    for text in ("specialists[0].name='a/b'", "specialists[0].families='arithmetic'", "specialists[0].seed=-1",
                 "specialists[0].extra", "specialists[1].families=()", "specialists[1].train_limit=-1"):
        assert text in problems


def test_data_families_check_and_filter():
    assert DataSection(task="demo", families=("nope",)).check() == [
        "data.families: ['nope'] are not demo families ['arithmetic', 'yesno', 'choice']"]
    assert "data.families='choice' must be a tuple" in DataSection(task="demo", families="choice").check()[0]
    c = base_config()
    c.data.task, c.data.train_split, c.data.test_split = "demo", "test", "test"
    c.data.families = ("yesno",)
    train, test = load_data(from_config(c))
    assert len(train) + len(test) == 32 and {family(ex) for ex in train + test} == {"yesno"}


def test_specialists_never_train_on_front_door_queries():
    """No question a specialist of the default pool trains or is tested on is among the front
    door's queries (configs/best_of_n.py: its test queries and its calibration stream), by text:
    the question with its options, as the prompt shows them (`format_prompt`). The bare stem
    "Which of these is a fruit?" recurs across splits with other options; nothing else does."""
    front = from_config(_config("best_of_n.py"))
    train, test = load_data(front)
    front_prompts = {format_prompt(ex) for ex in train + test}
    front_questions = {ex.question for ex in train + test}
    assert len(front_prompts) == 192  # 64 per family
    pc = _config("rm_pool.py")
    seen = set()
    for spec in pc.specialists:
        tr, te = load_data(from_config(specialist_config(pc, spec)))
        assert {family(ex) for ex in tr} == set(spec["families"])
        prompts = {format_prompt(ex) for ex in tr + te}
        assert prompts and not prompts & front_prompts, spec["name"]
        shared = {ex.question for ex in tr + te} & front_questions
        assert all(q.startswith("Which of these is") for q in shared), shared
        seen |= prompts
    assert len(seen) == 96  # the demo's whole "test" split, 32 per family


def test_committed_pool_matches_its_files_and_config():
    """assets/rm_pool (the default pool, built by its recorded command): every adapter's sha256
    as recorded, together under 10 MB, the entries valid for the front door's base, and the
    recorded build config today's configs/rm_pool.py."""
    folder = ROOT / "assets" / "rm_pool"
    record = json.loads((folder / "pool.json").read_text())
    entries = pool_rewards(folder)
    assert [e["name"] for e in entries] == [s["name"] for s in _config("rm_pool.py").specialists]
    total = 0
    for e in entries:
        path = Path(e["adapter"])
        total += path.stat().st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == e["adapter_sha256"]
        assert e["kind"] == "implicit_dpo" and e["path"] == "smollm2-135m-instruct"
    assert total < 10_000_000
    assert check_specs(entries, default_task="demo") == []
    assert record["command"] == "python -m laser_jax.rm_pool --config configs/rm_pool.py --out /work/rm_pool_out"
    now = json.loads(_config("rm_pool.py").to_json_best_effort())
    # the run template as a resume compares it: a field added since the build, at its default
    # (data.metric), is the same build
    assert changed_fields(now.pop("run"), dict(record["config"])["run"]) == []
    assert {k: v for k, v in record["config"].items() if k != "run"} == now
