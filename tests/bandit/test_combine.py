"""bandit/combine.py against plain numpy written here: hand formulas on small arrays (NaN / inf
entries, ties), and both settings' old code (copied from ba479b4, before combine.py existed) to show
that training and the replay rank exactly as before."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax.bandit import combine


# ---- the arithmetic of ba479b4 (checks of bad input left out): the references for "unchanged" ---------

def old_standardise(scores, groups=None, eps=1e-6):  # rewards/base.py standardise
    s = np.asarray(scores, np.float64)
    inverse = np.zeros(s.shape[1], np.int64) if groups is None else np.unique(np.asarray(groups), return_inverse=True)[1]
    n_groups = int(inverse.max()) + 1 if inverse.size else 0
    out = np.full_like(s, np.nan)
    for k in range(s.shape[0]):
        ok = np.isfinite(s[k])
        g, v = inverse[ok], s[k][ok]
        count = np.bincount(g, minlength=n_groups).astype(np.float64)
        mean = np.bincount(g, v, n_groups) / np.maximum(count, 1)
        dev = v - mean[g]
        std = np.sqrt(np.bincount(g, dev * dev, n_groups) / np.maximum(count, 1))
        sd = std[g]
        out[k, ok] = np.where(sd > eps, dev / np.where(sd > eps, sd, 1.0), 0.0)
    return out


def old_combine_scores(scores, weights):  # training/pairs.py combine_scores
    used = weights > 0
    out = np.zeros(scores.shape[1:], np.float64)
    for arm in range(scores.shape[0]):
        rows = used[:, arm]
        if not rows.any():
            continue
        part = scores[arm][rows]
        z = old_standardise(part.reshape(1, -1))[0].reshape(part.shape)
        out[rows] += weights[rows, arm][:, None] * z
    return out


def old_rm_agreement(raw, chosen, rejected, valid):  # training/feedback.py rm_agreement
    rows = np.arange(raw.shape[1])[:, None]
    s_c, s_r = raw[:, rows, chosen], raw[:, rows, rejected]
    votes = np.asarray(valid, bool)[None] & np.isfinite(s_c) & np.isfinite(s_r)
    with np.errstate(invalid="ignore"):
        agree = np.where(s_c > s_r, 1.0, np.where(s_c == s_r, 0.5, 0.0))
    n = votes.sum(axis=(1, 2))
    total = np.where(votes, agree, 0.0).sum(axis=(1, 2))
    return np.where(n > 0, total / np.maximum(n, 1), np.nan).astype(np.float32)


def old_standardise_scores(scores):  # best_of_n/replay.py standardise_scores
    s = np.asarray(scores, np.float64)
    ok = np.isfinite(s)
    cnt = np.maximum(ok.sum(-1, keepdims=True), 1)
    mean = np.where(ok, s, 0.0).sum(-1, keepdims=True) / cnt
    var = np.where(ok, (s - mean) ** 2, 0.0).sum(-1, keepdims=True) / cnt
    std = np.sqrt(var)
    z = np.where(std > 0, (s - mean) / np.where(std > 0, std, 1.0), 0.0)
    return np.where(ok, z, -np.inf).astype(np.float32)


@jax.jit
def old_replay_combined(zq, weights):  # best_of_n/replay.py, inside the step, majority=False / True
    used = weights > 0
    combined = jnp.sum(jnp.where(used[:, :, None], weights[:, :, None] * zq, 0.0), 1)
    top = jnp.max(jnp.where(used[:, :, None], zq, -jnp.inf), -1, keepdims=True)
    votes = jnp.sum(used[:, :, None] & (zq == top) & jnp.isfinite(zq), axis=1)
    return combined, votes * 100.0 + combined


@jax.jit
def old_agreement(zq, pick, valid):  # best_of_n/replay.py _agreement
    zpick = jnp.take_along_axis(zq, pick[:, None, None], 2)[..., 0]
    votes = valid[:, None] & jnp.isfinite(zpick)
    top = (zpick == jnp.max(zq, -1)).astype(jnp.float32)
    n_votes = jnp.sum(votes, 0)
    return jnp.where(n_votes > 0, jnp.sum(jnp.where(votes, top, 0.0), 0) / jnp.maximum(n_votes, 1), jnp.nan)


def messy_scores(rng, shape, levels=4):
    """Integer-ish scores (many ties) with a few NaN / +inf / -inf entries and one constant row."""
    s = rng.integers(0, levels, size=shape).astype(np.float64) + 0.25 * rng.integers(0, 2, size=shape)
    bad = rng.random(shape) < 0.15
    s[bad] = rng.choice([np.nan, np.inf, -np.inf], size=int(bad.sum()))
    s[..., 0, :] = 2.0  # a constant row: z = 0
    return s


# ---- training -------------------------------------------------------------------------------------

def test_standardise_by_hand_with_nonfinite_and_groups():
    s = np.array([[1.0, 3.0, np.nan, 5.0, 7.0, np.inf], [4.0, 4.0, 4.0, 4.0, 4.0, 4.0]])
    z = combine.standardise(s)
    fin = np.array([1.0, 3.0, 5.0, 7.0])
    want = (fin - fin.mean()) / np.sqrt(((fin - fin.mean()) ** 2).mean())
    np.testing.assert_allclose(z[0, [0, 1, 3, 4]], want, rtol=1e-12)
    assert np.isnan(z[0, [2, 5]]).all() and (z[1] == 0).all() and z.dtype == np.float64
    zg = combine.standardise(s, groups=[0, 0, 0, 1, 1, 2])  # group 2 holds only the inf
    np.testing.assert_allclose(zg[0, [0, 1, 3, 4]], [-1.0, 1.0, -1.0, 1.0], rtol=1e-12)
    assert np.isnan(zg[0, [2, 5]]).all()
    # eps: a spread of 1e-7 is "constant" for training, not for the replay
    tiny = np.array([[1.0, 1.0 + 2e-7]])
    assert (combine.standardise(tiny) == 0).all()
    np.testing.assert_allclose(combine.standardise_per_query(tiny), [[-1.0, 1.0]], rtol=1e-6)
    with pytest.raises(ValueError, match=r"\[K, N\]"):
        combine.standardise(np.zeros(3))
    with pytest.raises(ValueError, match=r"groups must be \[N\]=6"):
        combine.standardise(s, groups=[0, 1])


@pytest.mark.parametrize("seed", range(4))
def test_standardise_and_combine_scores_match_the_old_training_code_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    k, b, n = 3 + seed % 3, 5, 6
    s = messy_scores(rng, (k, b * n))
    groups = rng.integers(0, 4, size=b * n)
    np.testing.assert_array_equal(combine.standardise(s), old_standardise(s))
    np.testing.assert_array_equal(combine.standardise(s, groups), old_standardise(s, groups))
    scores = s.reshape(k, b, n)
    for weights in (np.eye(k)[rng.integers(0, k, size=b)],  # one RM per prompt
                    np.full((b, k), 1.0 / k, np.float32),  # the score ensemble (float32, as selected)
                    rng.dirichlet(np.ones(k), size=b) * (rng.random((b, k)) < 0.7),  # sparse mixes
                    np.zeros((b, k))):  # nothing used
        np.testing.assert_array_equal(combine.combine_scores(scores, weights), old_combine_scores(scores, weights))


def test_combine_scores_by_hand():
    """Two RMs, two prompts of three responses; RM 1 is used for prompt 1 only (its NaNs in
    prompt 0 are never read), RM 0 for both; each RM standardised over the responses it scored."""
    scores = np.array([[[0.0, 1.0, 2.0], [3.0, 4.0, np.nan]],
                       [[np.nan, np.nan, np.nan], [10.0, 10.0, 40.0]]])
    weights = np.array([[1.0, 0.0], [0.5, 0.5]])
    got = combine.combine_scores(scores, weights)
    f0 = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    z0 = (f0 - 2.0) / f0.std()
    z1 = (np.array([10.0, 10.0, 40.0]) - 20.0) / np.array([10.0, 10.0, 40.0]).std()
    np.testing.assert_allclose(got[0], z0[:3], rtol=1e-12)
    np.testing.assert_allclose(got[1, :2], 0.5 * z0[3:] + 0.5 * z1[:2], rtol=1e-12)
    assert np.isnan(got[1, 2])


def test_majority_pairs_by_hand():
    """Three RMs; pair (0, 1): all for; (2, 3): 2 against, 1 tie -> swapped; (4, 5): 1 for,
    1 against, 1 NaN -> dropped; an invalid candidate stays invalid."""
    raw = np.array([[[3.0, 1.0, 0.0, 1.0, 2.0, 1.0]],
                    [[2.0, 1.0, 0.0, 5.0, 0.0, 1.0]],
                    [[9.0, 1.0, 1.0, 1.0, np.nan, 1.0]]])
    chosen, rejected = np.array([[0, 2, 4, 0]]), np.array([[1, 3, 5, 1]])
    valid = np.array([[True, True, True, False]])
    c, r, v, votes = combine.majority_pairs(raw, chosen, rejected, valid)
    assert c.tolist() == [[0, 3, 4, 0]] and r.tolist() == [[1, 2, 5, 1]]
    assert v.tolist() == [[True, True, False, False]] and votes.tolist() == [[3, -2, 0, 3]]


@pytest.mark.parametrize("seed", range(3))
def test_pair_agreement_matches_a_loop_and_the_old_code(seed):
    rng = np.random.default_rng(seed)
    raw = messy_scores(rng, (4, 5, 6), levels=3)
    raw[3] = np.nan  # an RM that scored nothing: NaN
    chosen, rejected = rng.integers(0, 6, (5, 3)), rng.integers(0, 6, (5, 3))
    valid = rng.random((5, 3)) < 0.8
    got = combine.pair_agreement(raw, chosen, rejected, valid)
    np.testing.assert_array_equal(got, old_rm_agreement(raw, chosen, rejected, valid))
    for k in range(4):
        marks = [1.0 if a > b_ else 0.5 if a == b_ else 0.0
                 for b in range(5) for p in range(3) if valid[b, p]
                 for a, b_ in [(raw[k, b, chosen[b, p]], raw[k, b, rejected[b, p]])]
                 if np.isfinite(a) and np.isfinite(b_)]
        if marks:
            assert got[k] == pytest.approx(np.mean(marks))
        else:
            assert np.isnan(got[k])
    assert got.dtype == np.float32 and np.isnan(got[3])


# ---- best-of-n's replay ---------------------------------------------------------------------------

def test_standardise_per_query_by_hand_and_as_before():
    s = np.array([[[1.0, 3.0, np.nan, 5.0], [2.0, 2.0, 2.0, -np.inf]]])
    z = combine.standardise_per_query(s)
    fin = np.array([1.0, 3.0, 5.0])
    np.testing.assert_allclose(z[0, 0, [0, 1, 3]], (fin - 3.0) / fin.std(), rtol=1e-6)
    assert z[0, 0, 2] == -np.inf and (z[0, 1, :3] == 0).all() and z[0, 1, 3] == -np.inf
    assert z.dtype == np.float32
    rng = np.random.default_rng(7)
    for n in (3, 8, 13):  # n >= 8: numpy's pairwise sums; still the same bits
        big = messy_scores(rng, (3, 9, n))
        np.testing.assert_array_equal(combine.standardise_per_query(big), old_standardise_scores(big))


def test_weighted_sum_numpy_and_jnp_agree_with_the_formula():
    rng = np.random.default_rng(3)
    z = combine.standardise_per_query(messy_scores(rng, (3, 4, 5))).transpose(1, 0, 2)  # [B, K, n]
    w = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0], [0.2, 0.3, 0.5]], np.float32)
    want = np.zeros((4, 5), np.float32)
    for b in range(4):
        for k in range(3):
            if w[b, k] > 0:
                want[b] += w[b, k] * z[b, k]
    np.testing.assert_allclose(combine.weighted_sum(z, w, np), want, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(combine.weighted_sum(jnp.asarray(z), jnp.asarray(w), jnp)), want,
                               rtol=1e-6)


def test_first_choice_votes_by_hand():
    """Three RMs, one query, four responses: RM 0 and RM 1 rank response 2 first, RM 2 ties 0
    and 3 for first (both get its vote); response 1 is -inf for RM 0; RM 2 is unused in row 1."""
    z = jnp.asarray([[[0.0, -jnp.inf, 1.0, 0.5], [0.0, 0.1, 0.9, 0.2], [1.0, 0.0, -1.0, 1.0]]] * 2)
    used = jnp.asarray([[True, True, True], [True, True, False]])
    np.testing.assert_array_equal(combine.first_choice_votes(z, used), [[1, 0, 2, 1], [0, 0, 2, 0]])
    key = combine.combine_answers(z, jnp.asarray([[1 / 3] * 3, [0.5, 0.5, 0.0]]), majority=True)
    assert int(jnp.argmax(key[0])) == 2 and float(key[1, 2]) == pytest.approx(200.0 + 0.95)


@pytest.mark.parametrize("seed", range(3))
def test_replay_combination_and_agreement_match_the_old_replay_code_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    k, b, n = 4, 6, 5
    zq = jnp.asarray(combine.standardise_per_query(messy_scores(rng, (b, k, n), levels=3)))
    for w in (np.eye(k)[rng.integers(0, k, size=b)], np.full((b, k), 1.0 / k),
              rng.dirichlet(np.ones(k), size=b) * (rng.random((b, k)) < 0.6)):
        w = jnp.asarray(w, jnp.float32)
        weighted, voted = old_replay_combined(zq, w)
        combine_jit = jax.jit(combine.combine_answers, static_argnames="majority")
        np.testing.assert_array_equal(combine_jit(zq, w, majority=False), weighted)
        np.testing.assert_array_equal(combine_jit(zq, w, majority=True), voted)
    pick = jnp.asarray(rng.integers(0, n, size=b))
    valid = jnp.asarray(rng.random(b) < 0.7).at[0].set(True)
    got = jax.jit(combine.first_choice_agreement)(zq, pick, valid)
    np.testing.assert_array_equal(got, old_agreement(zq, pick, valid))
    # and by hand: the share of valid queries where the pick is the RM's top (finite) score
    z_np, p_np, v_np = np.asarray(zq), np.asarray(pick), np.asarray(valid)
    for m in range(k):
        hits = [z_np[i, m, p_np[i]] == z_np[i, m].max() for i in range(b) if v_np[i] and np.isfinite(z_np[i, m, p_np[i]])]
        assert (np.isnan(got[m]) if not hits else float(got[m]) == pytest.approx(np.mean(hits)))
