"""Behaviour pinned across refactorings: `configs/tiny.py` for 6 steps with two selectors (laser,
ensemble) must give the same metrics.jsonl (timings aside) and final-checkpoint arrays as the files
under tests/golden/, and the sampler the same tokens at a fixed seed.

The files were written by the code before the architecture restructuring. Sampled tokens, chosen
arms, pair counts and every other integer are still identical; floats agree to 1e-5 relative
(1e-5 absolute for the DPO implicit rewards and margin: beta times differences of summed
log-probs of ~50, so their float32 error is ~beta * 1e-6 * 50, whatever their size), and
checkpoint arrays to 1e-5 in norm: the train step now runs a prompt once and attends its
responses to the prompt's keys without repeating them (`decoder.attend_shared`), which sums the
prompt's and the response's attention terms separately (a different float32 summation order;
measured: at most 2.2e-6 relative in norm on any array, 1e-7 on the bandit's).

A change that means to change behaviour regenerates the files (`python tests/test_golden.py`, under
the test suite's XLA flags, which this file sets as tests/conftest.py does) and says so in its commit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from suite_flags import XLA_FLAGS  # noqa: E402

os.environ.setdefault("XLA_FLAGS", XLA_FLAGS)  # as tests/conftest.py

import numpy as np  # noqa: E402

from laser_jax.models.cache import ModelCache  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
SELECTORS = ("laser", "ensemble")
RTOL, ATOL = 1e-5, 1e-6  # see the module doc before loosening
DIFFERENCES = ("chosen_reward", "rejected_reward", "margin")  # atol 1e-5, see the module doc
NEW_KEYS = {"nonfinite_scores", "skipped_contexts", "arm_counts_by_family"}  # metrics added after the golden files were written (not compared)


def _config(selector: str):
    from runs import tiny_config

    c = tiny_config()
    c.selector = selector
    c.logging.progress = c.logging.plot = c.logging.tensorboard = False
    c.eval.before = c.eval.after = False
    c.data.train_limit = 9  # 3 batches of 3 x 2 iterations = 6 steps
    return c


def run(selector: str, workdir: Path, cache) -> tuple[list[dict], dict[str, np.ndarray]]:
    from laser_jax.training import train
    from runs import comparable, final_state, leaves, metrics

    out = train(_config(selector), workdir, cache=cache)
    assert out["status"] == "complete" and out["steps"] == 6, out
    _, tree = final_state(workdir)
    arrays = {k: v for k, v in leaves(tree) if v.dtype != object}  # optax's empty states are None
    return comparable(metrics(workdir)), _as_inverse(arrays)


def _as_inverse(arrays: dict) -> dict:
    """The golden files hold LinUCB as A^-1 and b (the state before it became the square-root
    form R, z with A = R^T R, z = R^-T b): the same bandit is compared through A^-1 = R^-1 R^-T
    and b = R^T z, computed here in float64 (the two-tier form's base factor and pending rows
    are bookkeeping for the same A and b and are not compared)."""
    key = "/bandit/bandit/"
    if key + "r" not in arrays:
        return arrays
    r, z = arrays.pop(key + "r").astype(np.float64), arrays.pop(key + "z").astype(np.float64)
    for name in ("r_base", "z_base", "pend", "pend_y", "npend"):  # the two-tier form's extras
        arrays.pop(key + name, None)
    r_inv = np.linalg.inv(r)
    arrays[key + "a_inv"] = np.einsum("kij,klj->kil", r_inv, r_inv).astype(np.float32)
    arrays[key + "b"] = np.einsum("kij,ki->kj", r, z).astype(np.float32)
    return arrays


def sampled_tokens() -> np.ndarray:
    """The tiny policy's samples for two prompts at a fixed key (n=3, temperature 0.8, top-p 0.9)."""
    import jax
    from laser_jax import sampling
    from laser_jax.models.loading import load_pretrained

    c = _config("laser")
    model = load_pretrained(c.policy.path)
    ids = np.array([[0, 0, 5, 9, 12, 40, 41], [7, 8, 9, 10, 11, 12, 13]], np.int32)
    mask = (np.arange(7)[None] >= np.array([[2], [0]])).astype(np.int32)
    out = sampling.sample(model, ids, mask, jax.random.key(3),
                          sampling.SamplingConfig(max_new_tokens=12, temperature=0.8, top_p=0.9, n=3, eos_ids=(3,)))
    return np.asarray(out.tokens)


def test_tiny_runs_match_golden(tmp_path, monkeypatch):
    from laser_jax.models.tiny import smoke_assets

    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path / "cache"))
    smoke_assets(tmp_path / "cache" / "tiny")
    cache = ModelCache()
    for selector in SELECTORS:
        recs, arrays = run(selector, tmp_path / selector, cache)
        want = [json.loads(line) for line in (GOLDEN / f"{selector}_metrics.jsonl").read_text().splitlines()]
        assert len(recs) == len(want) == 6
        for got, exp in zip(recs, want):
            assert got.keys() - NEW_KEYS == exp.keys(), got.keys() ^ exp.keys()
            for k in exp:
                if isinstance(exp[k], float):
                    np.testing.assert_allclose(got[k], exp[k], rtol=RTOL, atol=1e-5 if k in DIFFERENCES else ATOL,
                                               err_msg=f"{selector} step {exp['step']} {k}")
                else:
                    assert got[k] == exp[k], (selector, exp["step"], k)
        with np.load(GOLDEN / f"{selector}_state.npz") as z:
            assert sorted(z.files) == sorted(arrays) and len(arrays) > 10
            for k in z.files:
                want_k = z[k].astype(np.float64)
                assert arrays[k].shape == want_k.shape and arrays[k].dtype == z[k].dtype, k
                err = np.linalg.norm(arrays[k] - want_k)
                assert err <= RTOL * np.linalg.norm(want_k), (selector, k, err, np.linalg.norm(want_k))
    with np.load(GOLDEN / "tiny_samples.npz") as z:
        np.testing.assert_array_equal(sampled_tokens(), z["tokens"])


if __name__ == "__main__":  # regenerate the golden files
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    from laser_jax.models.tiny import smoke_assets

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LASER_JAX_CACHE"] = str(Path(tmp) / "cache")
        smoke_assets(Path(tmp) / "cache" / "tiny")
        cache = ModelCache()
        GOLDEN.mkdir(exist_ok=True)
        for selector in SELECTORS:
            recs, arrays = run(selector, Path(tmp) / selector, cache)
            (GOLDEN / f"{selector}_metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
            np.savez_compressed(GOLDEN / f"{selector}_state.npz", **arrays)
        np.savez_compressed(GOLDEN / "tiny_samples.npz", tokens=sampled_tokens())
    print("wrote", sorted(p.name for p in GOLDEN.iterdir()))
