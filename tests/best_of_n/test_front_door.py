"""The best-of-n front door's quick variant, end to end on the real SmolLM2 policy and the demo RMs:
`python -m laser_jax.best_of_n --config configs/best_of_n.py:quick`, then a rerun that reuses the
collected samples, and a changed sampling config refused by name."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from laser_jax.best_of_n.run import DEFAULT_METHODS
from laser_jax.models.embedded import smollm2_gguf
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CONFIG = f"--config={ROOT / 'configs' / 'best_of_n.py'}:quick"
# one sampling batch of 6 queries (2 train, 4 test) x 4 samples of 16 tokens: scoring with the four
# demo RMs (one stacked multi-LoRA pass over each query's chat-template prompt) is most of the time
SMALLER = ["--config.data.train_limit=2", "--config.data.test_limit=4", "--config.training.batch_size=6",
           "--config.sampling.max_new_tokens=16", "--config.sampling.max_prompt_tokens=128"]


def _run(workdir, *args, env):
    return forked.run([sys.executable, "-m", "laser_jax.best_of_n", CONFIG, f"--workdir={workdir}", *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def front_door(tmp_path_factory):
    smollm2_gguf()
    workdir = tmp_path_factory.mktemp("bon")
    env = dict(os.environ)  # the suite's XLA flags: cheaper here than XLA's defaults (tests/suite_flags.py)
    run = _run(workdir, *SMALLER, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, run, env


def test_outputs_every_method_with_an_interval(front_door):
    workdir, run, _ = front_door
    res = json.loads((workdir / "results.json").read_text())
    assert res["queries"] == 4 and res["samples_per_query"] == 4 and res["orders"] == 20
    assert set(res["by_reward"]) == {"gold", "nll"}
    for reward, part in res["by_reward"].items():
        rows = {r["method"]: r for r in part["methods"]}
        assert list(rows) == list(DEFAULT_METHODS)
        for m, r in rows.items():
            lo, hi = r["ci95"]
            assert 0 <= lo <= r["mean"] <= hi <= 1, (reward, m, r)
            assert r["label"] == ("reference" if m in ("oracle", "random_response") else "method")
            assert set(r["by_family"]) <= {"arithmetic", "choice", "yesno"}
        assert rows["oracle"]["mean"] >= max(rows[m]["mean"] for m in rows)
        assert abs(sum(rows["laser"]["arm_use"].values()) - 1) < 1e-9
    for name in ("table.md", "methods_gold.png", "methods_nll.png", "arms_by_family_gold.png", "pool.png"):
        assert (workdir / name).stat().st_size > 0
    pool = res["pool"]  # best_of_n/pool.py: the pool's own statistics on the test queries
    assert pool["queries"] == 4 and set(pool["conditions"]) >= {"no_rm_blind", "all"}
    assert len(pool["all"]["agreement"]) == len(res["reward_models"])
    assert "pool conditions:" in (workdir / "table.md").read_text()
    assert "| laser |" in run.stdout and "bandit reward: nll" in run.stdout


def test_rerun_reuses_samples_and_a_changed_config_is_refused(front_door):
    workdir, _, env = front_door
    # how the selectors learn does not change the samples: replayed, not refused
    again = _run(workdir, *SMALLER, "--methods=laser,best,oracle", "--config.replay.orders=5",
                 "--config.bandit.normalise=window", "--config.selector_args.alpha=0.5", env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 batches collected now" in again.stderr
    res = json.loads((workdir / "results.json").read_text())
    assert [r["method"] for r in res["methods"]] == ["laser", "best", "oracle"] and res["orders"] == 5
    changed = _run(workdir, *SMALLER, "--config.sampling.temperature=0.5", env=env)
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    assert "samples collected with another config" in changed.stderr and "sampling" in changed.stderr
