"""Pairs and score combination with non-finite scores, against plain numpy written here."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.bandit.combine import combine_scores, majority_pairs, standardise
from laser_jax.training import pairs
from laser_jax.training.pairs import build_pairs


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


def _majority_reference(raw, chosen, rejected, valid):
    """Per pair, written out: count the RMs preferring each side (NaN and ties: no vote)."""
    k = raw.shape[0]
    out_c, out_r, out_v = chosen.copy(), rejected.copy(), np.zeros_like(valid)
    for b in range(chosen.shape[0]):
        for p in range(chosen.shape[1]):
            i, j = chosen[b, p], rejected[b, p]
            pro = sum(1 for m in range(k) if raw[m, b, i] > raw[m, b, j])
            con = sum(1 for m in range(k) if raw[m, b, i] < raw[m, b, j])
            if valid[b, p] and pro > k / 2:
                out_v[b, p] = True
            elif valid[b, p] and con > k / 2:
                out_c[b, p], out_r[b, p], out_v[b, p] = j, i, True
    return out_c, out_r, out_v


def test_majority_pairs_hand_made():
    """Three RMs, one prompt, four responses, pairs (0, 3) and (1, 2): unanimity keeps (0, 3);
    a 2-1 majority against the candidate's order swaps (1, 2) into (2, 1)."""
    raw = np.array([[[4.0, 1.0, 2.0, 0.0]], [[3.0, 1.0, 2.0, 0.0]], [[2.0, 3.0, 1.0, 0.0]]])
    chosen, rejected, valid = np.array([[0, 1]]), np.array([[3, 2]]), np.array([[True, True]])
    c, r, v, votes = majority_pairs(raw, chosen, rejected, valid)
    np.testing.assert_array_equal(c, [[0, 2]])
    np.testing.assert_array_equal(r, [[3, 1]])
    np.testing.assert_array_equal(v, [[True, True]])
    np.testing.assert_array_equal(votes, [[3, -1]])
    # Even K = 4: 2-2 is no strict majority (dropped); a tie or NaN in one RM is no vote, so
    # 2 for, 1 against, 1 abstaining is not > 4 / 2 either; 3-1 keeps.
    raw4 = np.array([[[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]], [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]],
                     [[0.0, 1.0, 0.0, 1.0, 1.0, 0.0]], [[0.0, 1.0, np.nan, 0.0, 0.0, 1.0]]])
    ch, rj, va = np.array([[0, 2, 4]]), np.array([[1, 3, 5]]), np.array([[True, True, True]])
    c, r, v, _ = majority_pairs(raw4, ch, rj, va)
    np.testing.assert_array_equal(v, [[False, False, True]])
    # An invalid candidate stays invalid whatever the votes.
    _, _, v, _ = majority_pairs(raw, chosen, rejected, np.array([[False, True]]))
    np.testing.assert_array_equal(v, [[False, True]])


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_majority_pairs_match_a_loop_reference(k):
    """Random integer scores (many ties) with NaNs, K from 2 to 5, against the loop above."""
    rng = np.random.default_rng(k)
    raw = rng.integers(0, 3, size=(k, 6, 8)).astype(np.float64)
    raw[rng.random(raw.shape) < 0.1] = np.nan
    combined = np.nansum(raw, axis=0)
    chosen, rejected, valid = pairs.build_pairs(combined, 3)
    got = majority_pairs(raw, chosen, rejected, valid)[:3]
    want = _majority_reference(raw, chosen, rejected, valid)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[2].sum() > 0 and (got[2] != valid).any()  # keeps some, drops some


def test_top_vs_rest_pairs_the_best_with_each_of_the_rest():
    """The authors' pairing: (1st, 2nd), (1st, 3rd), ... over the sorted finite responses, at most
    pairs_per_prompt of them, ties with the best dropped; against a loop written here."""
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 5, size=(6, 7)).astype(np.float64)
    scores[rng.random(scores.shape) < 0.15] = np.nan
    for p in (1, 3, 6, 9):
        chosen, rejected, valid = build_pairs(scores, p, "top_vs_rest")
        assert chosen.shape == (6, min(p, 6))
        for b, row in enumerate(scores):
            idx = [i for i in np.argsort(-np.where(np.isfinite(row), row, -np.inf), kind="stable")
                   if np.isfinite(row[i])]
            want = [(idx[0], idx[j]) for j in range(1, min(p + 1, len(idx))) if row[idx[0]] > row[idx[j]]]
            got = [(int(c), int(r)) for c, r, v in zip(chosen[b], rejected[b], valid[b]) if v]
            assert got == want, (p, b, row)
    with pytest.raises(ValueError, match="training.pairing"):
        build_pairs(scores, 2, "all_pairs")
