"""Faults inside a run (configs/tiny.py, in process): a NaN reward-model score excludes only its
response; a NaN loss stops the run before anything of that step is saved."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from laser_jax.models.cache import ModelCache
from laser_jax.models.tiny import smoke_assets
from laser_jax.training import loop, runtime, step
from runs import final_state, leaves, metrics, tiny_config

@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cache")
    smoke_assets(d / "tiny")
    return d


def short_config(cache_dir, monkeypatch):
    monkeypatch.setenv("LASER_JAX_CACHE", str(cache_dir))
    c = tiny_config()
    c.selector = "ensemble"  # every RM scores every response
    c.data.train_limit, c.training.iterations, c.training.checkpoint_every = 9, 1, 2  # 3 steps
    c.eval.before = c.eval.after = c.logging.progress = c.logging.plot = c.logging.tensorboard = False
    return c


def test_nan_score_excludes_only_its_response(cache_dir, monkeypatch, tmp_path, caplog):
    real = step.score_samples

    def one_nan(rt, batch, texts, weights):
        raw = real(rt, batch, texts, weights)
        raw[1, 0, 0] = np.nan  # RM 1 fails on prompt 0's first response
        return raw

    monkeypatch.setattr(step, "score_samples", one_nan)
    with caplog.at_level(logging.WARNING, logger="laser_jax"):
        out = loop.train(short_config(cache_dir, monkeypatch), tmp_path, cache=ModelCache())
    assert out["status"] == "complete"
    recs = metrics(tmp_path)
    assert [r["nonfinite_scores"] for r in recs] == [[0, 1, 0]] * 3
    assert all(r["pairs"] >= 1 and np.isfinite(r["loss"]) for r in recs)
    assert caplog.text.count("gave 1 non-finite scores") == 1  # warned once for the RM
    assert "likelihood" in caplog.text


def on_call(fn, n: int, spoil):
    """`fn` whose n-th call's output goes through `spoil`."""
    calls = []

    def wrapped(*a):
        calls.append(1)
        out = fn(*a)
        return spoil(out) if len(calls) == n else out

    return wrapped


def spoil_compiled(monkeypatch, *, step=None):
    """Make the run's compiled train step misbehave once (step: an (n, spoil) pair)."""
    real = runtime.compile_step

    def compile_step(*args):
        optimizer, opt_sh, step_fn, context_fn = real(*args)
        return optimizer, opt_sh, on_call(step_fn, *step) if step else step_fn, context_fn

    monkeypatch.setattr(runtime, "compile_step", compile_step)


def test_nan_loss_stops_before_saving(cache_dir, monkeypatch, tmp_path):
    spoil_compiled(monkeypatch, step=(3, lambda out: (out[0], out[1], {**out[2], "loss": out[2]["loss"] * np.nan})))
    with pytest.raises(loop.TrainingDiverged, match=r"step 3: loss=nan.*latest checkpoint: step 2.*learning_rate"):
        loop.train(short_config(cache_dir, monkeypatch), tmp_path, cache=ModelCache())
    last, tree = final_state(tmp_path)
    assert last == 2 and not (tmp_path / "checkpoints" / "3").exists()
    assert all(np.isfinite(v).all() for _, v in leaves(tree) if v.dtype != object)
    assert not (tmp_path / "results.json").exists()


def test_nan_context_is_skipped_by_the_bandit(cache_dir, monkeypatch, tmp_path):
    # the step's contexts (the sampler's prompt hidden states) are NaN at step 2
    monkeypatch.setattr(step, "contexts", on_call(step.contexts, 2, lambda out: out * np.nan))
    c = short_config(cache_dir, monkeypatch)
    c.selector = "laser"
    assert loop.train(c, tmp_path, cache=ModelCache())["status"] == "complete"
    assert [r["skipped_contexts"] for r in metrics(tmp_path)] == [0, 1, 0]
    _, tree = final_state(tmp_path)
    bandit = [v for k, v in leaves(tree) if k.startswith("/bandit") and v.dtype != object]
    assert bandit and all(np.isfinite(v).all() for v in bandit)


def test_resume_on_changed_data_is_refused(cache_dir, monkeypatch, tmp_path):
    c = short_config(cache_dir, monkeypatch)
    data = tmp_path / "data.jsonl"
    data.write_text(Path(c.data.path).read_text())
    c.data.path, c.training.iterations, c.training.checkpoint_every, c.training.stop_after = str(data), 1, 1, 1
    assert loop.train(c, tmp_path / "run", cache=ModelCache())["status"] == "stopped"
    data.write_text(data.read_text().replace("#### ", "#### 9"))  # the gold answers edited in place
    c.training.stop_after = 0
    with pytest.raises(loop.ConfigError, match=r"trained on other data.*data.path="):
        loop.train(c, tmp_path / "run", cache=ModelCache())
