"""Pairs and score combination with non-finite scores, against plain numpy written here."""

from __future__ import annotations

import numpy as np

from laser_jax.rewards.base import standardise
from laser_jax.training.pairs import build_pairs, combine_scores


def reference_pairs(row: np.ndarray, p: int):
    """Finite responses ranked best first (stable), paired best-worst inward; ties dropped."""
    idx = [i for i in np.argsort(-np.where(np.isfinite(row), row, -np.inf), kind="stable") if np.isfinite(row[i])]
    out = []
    for j in range(min(p, len(idx) // 2)):
        c, r = idx[j], idx[len(idx) - 1 - j]
        if row[c] > row[r]:
            out.append((c, r))
    return out


def test_build_pairs_leaves_out_only_nonfinite_responses():
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores = rng.integers(0, 4, (3, 6)).astype(float)
        scores[rng.random((3, 6)) < 0.2] = rng.choice([np.nan, np.inf, -np.inf])
        chosen, rejected, valid = build_pairs(scores, 3)
        for b in range(3):
            got = [(int(c), int(r)) for c, r, v in zip(chosen[b], rejected[b], valid[b]) if v]
            assert got == reference_pairs(scores[b], 3), (scores[b], got)


def test_build_pairs_unchanged_for_finite_scores():
    scores = np.array([[0.3, 0.9, 0.1, 0.5], [1.0, 1.0, 1.0, 1.0]])
    chosen, rejected, valid = build_pairs(scores, 2)
    assert chosen.tolist() == [[1, 3], [0, 1]] and rejected.tolist() == [[2, 0], [3, 2]]
    assert valid.tolist() == [[True, True], [False, False]]


def test_one_nan_score_does_not_poison_the_batch():
    scores = np.array([[[1.0, 2.0, np.nan, 4.0], [5.0, 1.0, 2.0, 0.0]]])  # one RM, 2 prompts, n=4
    combined = combine_scores(scores, np.ones((2, 1)))
    finite = scores[0][np.isfinite(scores[0])]
    z = (scores[0] - finite.mean()) / finite.std()
    np.testing.assert_allclose(combined, z)  # NaN stays NaN, the rest standardised over finite scores
    _, _, valid = build_pairs(combined, 2)
    assert valid.sum() == 3  # prompt 0 has 3 finite responses -> 1 pair; prompt 1 -> 2


def test_standardise_ignores_nonfinite_per_group():
    s = np.array([[1.0, np.inf, 3.0, 5.0, np.nan, 9.0]])
    z = standardise(s, groups=[0, 0, 0, 1, 1, 1])
    assert np.isnan(z[0, [1, 4]]).all()
    np.testing.assert_allclose(z[0, [0, 2, 3, 5]], [-1.0, 1.0, -1.0, 1.0])
