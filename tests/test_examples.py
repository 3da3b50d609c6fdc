"""The worked examples of examples/: each config validates as shipped and runs end to end with a
tiny random policy (and judge) in place of SmolLM2, on its own data file and reward functions."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import numpy as np
import pytest

from laser_jax.best_of_n.run import run, validate
from laser_jax.config import DEFAULT_METHODS
from laser_jax.models.tiny import smoke_assets

ROOT = Path(__file__).resolve().parents[1]
BYO = ROOT / "examples" / "byo"


def _byo_config():
    spec = importlib.util.spec_from_file_location("byo_config", BYO / "config.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def test_byo_config_validates_with_paths_beside_it():
    cfg = validate(_byo_config())
    assert Path(cfg.data.path) == BYO / "questions.jsonl" and cfg.data.task == "jsonl"
    kinds = {r["name"]: r["kind"] for r in cfg.rewards}
    assert kinds == {"arithmetic_check": "python", "answer_format": "python", "judge": "judge"}
    lines = [json.loads(line) for line in (BYO / "questions.jsonl").read_text().splitlines()]
    assert 24 <= len(lines) <= 40 and len({line["family"] for line in lines}) == 3
    assert len({line["id"] for line in lines}) == len(lines)


def test_byo_reward_functions():
    from laser_jax.rewards.python_fn import load_function

    check = load_function(f"{BYO / 'rewards.py'}:arithmetic_check", "test")
    fmt = load_function(f"{BYO / 'rewards.py'}:answer_format", "test")
    responses = ["6 * 7 = 42, then 42 + 5 = 47.\nFinal answer: 47", "9 x 8 = 81", "It is big.",
                 "100 - 37 = 63 and 63 / 0 = 1", "word " * 90 + "12"]
    assert check([""] * 5, responses, [None] * 5) == [1.0, 0.0, None, 0.5, None]
    assert fmt([""] * 5, responses, [None] * 5) == [1.0, 0.5, 0.0, 0.5, 0.0]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return smoke_assets(tmp_path_factory.mktemp("cache") / "tiny")


def test_byo_example_runs_with_a_tiny_policy(tmp_path, assets):
    """The shipped config with SmolLM2 (policy and judge) swapped for the tiny random model and
    shorter samples: every method of the replay reports a mean and a 95 % interval."""
    c = _byo_config()
    c.policy.path = str(assets["policy"])
    for entry in c.rewards:
        if entry.get("path") == "smollm2-135m-instruct":
            entry["path"] = str(assets["policy"])
    c.sampling.max_new_tokens = 8
    c.replay.orders, c.replay.resamples = 4, 100
    c.logging.plot = c.logging.tensorboard = c.logging.progress = False
    t0 = time.perf_counter()
    results = run(c, tmp_path / "work")
    took = time.perf_counter() - t0
    saved = json.loads((tmp_path / "work" / "results.json").read_text())
    assert saved["queries"] == 24 and saved["calibration_queries"] == 8 and saved["samples_per_query"] == 4
    assert saved["reward_models"] == ["arithmetic_check", "answer_format", "judge"]
    assert sorted(saved["families"]) == ["arithmetic", "units", "word_problem"]
    for reward in ("gold", "nll"):
        rows = {r["method"]: r for r in saved["by_reward"][reward]["methods"]}
        assert set(rows) == set(DEFAULT_METHODS)
        for r in rows.values():
            lo, hi = r["ci95"]
            assert np.isfinite([lo, hi, r["mean"]]).all() and lo <= r["mean"] <= hi, r
    assert results["methods"] == saved["methods"]
    assert (tmp_path / "work" / "table.md").read_text().startswith("bandit reward: gold")
    assert took < 60, took  # ~10-20 s on 2 CPU cores
