"""LinUCB and the 20/80 reward normalisation, checked against plain numpy references."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax.bandit import linucb
from laser_jax.bandit import normalise as nm

import linucb_exactness as exactness  # tests/: the stream and the float64 reference

# Jitted once for the whole file (eager op-by-op dispatch compiles every primitive: slow on CPU).
push = jax.jit(nm.push)
push_norm = jax.jit(nm.push_and_normalise)
normalise = jax.jit(nm.normalise)
quantiles = jax.jit(nm.quantiles, static_argnums=1)
K, D, H = 4, 16, 64  # shapes shared by the small tests, so compiled functions are reused


def np_normalise(history, r):
    """Reference r' for raw reward r; ``history`` holds the kept rewards, r included."""
    q20, q80 = np.percentile(np.asarray(history, np.float64), [20, 80])
    if q80 - q20 <= nm.DEFAULT_EPS:
        return 0.5
    return float(np.clip((r - q20) / (q80 - q20), 0.0, 1.0))


# ----------------------------------------------------------------------------- normalise


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 65, 150, 333])
def test_quantiles_match_numpy_including_wraparound(n):
    cap = H
    rng = np.random.default_rng(n)
    rewards = rng.normal(size=n).astype(np.float32) * 3.0 - 1.0
    hist = nm.init_history(cap)
    for i, r in enumerate(rewards):
        hist, r_norm = push_norm(hist, r)  # one compile serves every count
        kept = rewards[max(0, i + 1 - cap): i + 1]
        np.testing.assert_allclose(float(r_norm), np_normalise(kept, r), atol=1e-5)
    kept = rewards[-min(n, cap):]
    np.testing.assert_allclose(np.asarray(quantiles(hist, (0.0, 0.2, 0.5, 0.8, 1.0))),
                               np.percentile(kept, [0, 20, 50, 80, 100]), rtol=1e-6, atol=1e-6)
    assert int(hist.count) == n


def test_normalise_clips_and_interpolates():
    hist = nm.init_history(H)
    for r in [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]:
        hist = push(hist, r)
    q20, q80 = np.percentile([0, 1, 2, 3, 4, 5], [20, 80])  # 1.0, 4.0
    assert float(normalise(hist, 2.5)) == pytest.approx((2.5 - q20) / (q80 - q20))
    assert float(normalise(hist, 0.0)) == 0.0
    assert float(normalise(hist, q20)) == 0.0
    assert float(normalise(hist, 5.0)) == 1.0


def test_equal_quantiles_give_one_half():
    hist, r = push_norm(nm.init_history(H), -3.0)  # the very first reward
    assert float(r) == 0.5
    for _ in range(5):
        hist, r = push_norm(hist, -3.0)  # all equal
        assert float(r) == 0.5
    # Not all equal, but q20 == q80 == 1: the guard, not a division by zero.
    hist = nm.init_history(H)
    for v in [0.0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]:
        hist = push(hist, v)
    assert float(normalise(hist, 2.0)) == 0.5
    assert float(normalise(nm.init_history(H), 1.0)) == 0.5  # empty history
    # Non-finite rewards are not pushed; NaN / +inf normalise to NaN, -inf to 0 (the worst).
    pushed, r = push_norm(hist, np.float32(np.inf))
    assert np.isnan(float(r)) and int(pushed.count) == int(hist.count)
    np.testing.assert_array_equal(np.asarray(pushed.values), np.asarray(hist.values))
    pushed, r = push_norm(hist, np.float32(-np.inf))
    assert float(r) == 0.0 and int(pushed.count) == int(hist.count)


def test_history_rejects_bad_capacity_and_vector_rewards():
    with pytest.raises(ValueError, match="history_size"):
        nm.init_history(0)
    with pytest.raises(ValueError, match="scalar"):
        nm.push(nm.init_history(4), jnp.ones(3))


# ----------------------------------------------------------------------------- reference


class NumpyLinUCB:
    """Textbook LinUCB in float64: A_k kept explicitly, inverted with np.linalg.inv each pick."""

    def __init__(self, k, d, lam, history_size):
        self.a = np.stack([lam * np.eye(d) for _ in range(k)])
        self.b = np.zeros((k, d))
        self.history = []
        self.h = history_size

    def scores(self, c, alpha):
        out = []
        for a, b in zip(self.a, self.b):
            a_inv = np.linalg.inv(a)
            out.append(c @ (a_inv @ b) + alpha * np.sqrt(max(c @ a_inv @ c, 0.0)))
        return np.array(out)

    def update(self, arm, c, raw):
        self.history = (self.history + [float(np.float32(raw))])[-self.h:]
        r = np_normalise(self.history, float(np.float32(raw)))
        self.a[arm] += np.outer(c, c)
        self.b[arm] += r * c
        return r


def _run_against_reference(state, steps=500, alpha=0.1, lam=1.0, seed=13, twin=None):
    """Runs ``state`` on the d=64, K=4 stream beside the float64 reference (and beside ``twin``,
    another LinUCB state, when given): same arm and same scores at every step.

    Returns (final state, reference, smallest decision gap of the reference)."""
    k, d = state.num_arms, state.dim
    rng = np.random.default_rng(seed)  # seed 13: the closest decision is 1.2e-3 apart
    thetas = rng.normal(size=(k, d))
    contexts = (rng.normal(size=(steps, d)) / np.sqrt(d)).astype(np.float32)
    noise = 0.1 * rng.normal(size=steps)

    ref = NumpyLinUCB(k, d, lam, state.history.capacity)
    gaps = []
    for t in range(steps):
        c = contexts[t]
        ref_scores = ref.scores(c.astype(np.float64), alpha)
        arm, ours = linucb.select_jit(state, c, alpha)
        np.testing.assert_allclose(np.asarray(ours), ref_scores, rtol=1e-4, atol=1e-5)
        ref_arm = int(np.argmax(ref_scores))
        assert int(arm) == ref_arm, f"step {t}: ours {int(arm)} vs reference {ref_arm}"
        if twin is not None:
            twin_arm, twin_scores = linucb.select_jit(twin, c, alpha)
            assert int(twin_arm) == ref_arm, f"step {t}: twin {int(twin_arm)} vs {ref_arm}"
            # the twin is another algorithm (square-root dense vs factored inverse): both are
            # held to the reference above, and to each other at the same tolerance
            np.testing.assert_allclose(np.asarray(ours), np.asarray(twin_scores), rtol=1e-4,
                                       atol=1e-5)
        others = ref_scores[ref_scores != ref_scores[ref_arm]]  # exact ties: untouched arms
        if others.size:
            gaps.append(ref_scores[ref_arm] - others.max())
        raw = float(c @ thetas[ref_arm] + noise[t])
        r_ref = ref.update(ref_arm, c.astype(np.float64), raw)
        state, info = linucb.update_jit(state, arm, c, raw)
        assert float(info["norm_reward"]) == pytest.approx(r_ref, abs=1e-5)
        if twin is not None:
            twin, _ = linucb.update_jit(twin, arm, c, raw)
    return state, ref, min(gaps)


def test_same_decisions_as_numpy_reference_500_steps():
    k, d, steps, hist_size = 4, 64, 500, 128
    state, ref, gap = _run_against_reference(linucb.init(k, d, history_size=hist_size), steps)
    assert gap > 1e-4  # >> the 1e-5 score tolerance: no decision hinges on rounding
    counts = np.asarray(state.counts)
    assert (counts > 50).all() and counts.sum() == steps
    np.testing.assert_allclose(np.asarray(linucb.inverse(state)), np.linalg.inv(ref.a), atol=1e-5)
    np.testing.assert_allclose(np.asarray(state.b), ref.b, atol=1e-4)


def _stream_regret(use_random, contexts, thetas, noise, key):
    """Cumulative regret on a linear bandit stream: LinUCB's picks, or uniform ones."""
    k, d = thetas.shape

    def step(carry, xs):
        state, regret = carry
        c, eps, kt = xs
        expected = thetas @ c
        ucb_arm, _ = linucb.select(state, c, 0.1)
        arm = jnp.where(use_random, jax.random.randint(kt, (), 0, k), ucb_arm)
        state, _ = linucb.update(state, arm, c, expected[arm] + eps)
        return (state, regret + expected.max() - expected[arm]), None

    keys = jax.random.split(key, contexts.shape[0])
    (_, regret), _ = jax.lax.scan(step, (linucb.init(k, d), 0.0), (contexts, noise, keys))
    return regret


def test_regret_below_a_third_of_random():
    steps = 2000
    rng = np.random.default_rng(0)
    thetas = jnp.asarray(rng.normal(size=(K, D)), jnp.float32)
    contexts = jnp.asarray(rng.normal(size=(steps, D)) / np.sqrt(D), jnp.float32)
    noise = jnp.asarray(0.1 * rng.normal(size=steps), jnp.float32)
    run = jax.jit(_stream_regret)
    key = jax.random.key(0)
    regret_ucb = float(run(False, contexts, thetas, noise, key))
    regret_rand = float(run(True, contexts, thetas, noise, key))
    assert regret_ucb < regret_rand / 3, (regret_ucb, regret_rand)  # about 125 vs 1900


def _random_updates(seed, n=400):
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, K, size=n).astype(np.int32)
    contexts = rng.normal(size=(n, D)).astype(np.float32)
    rewards = rng.normal(size=n).astype(np.float32)
    return arms, contexts, rewards


def test_factor_is_cholesky_of_a_and_inverse_exact_after_many_updates():
    arms, contexts, rewards = _random_updates(1)
    state, _ = linucb.update_many_jit(linucb.init(K, D, lam=2.0, history_size=H), arms,
                                      contexts, rewards)
    a = np.stack([2.0 * np.eye(D)] * K)
    for arm, c in zip(arms, contexts.astype(np.float64)):
        a[arm] += np.outer(c, c)
    r = np.asarray(state.r)
    np.testing.assert_array_equal(r, np.triu(r))  # upper triangular, positive diagonal
    assert (np.diagonal(r, axis1=1, axis2=2) > 0).all()
    np.testing.assert_allclose(np.einsum("kji,kjl->kil", r.astype(np.float64), r), a, rtol=1e-5, atol=1e-3)
    a_inv = np.asarray(linucb.inverse(state))
    np.testing.assert_allclose(a_inv, np.linalg.inv(a), atol=1e-6, rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(state.counts), np.bincount(arms, minlength=K))
    # Variance c^T A^-1 c is non-negative and the width is its root.
    probe = np.random.default_rng(2).normal(size=(64, D)).astype(np.float32)
    mean, width = jax.jit(linucb.mean_and_width)(state, probe)
    var_ref = np.einsum("bi,kij,bj->bk", probe, np.linalg.inv(a), probe)
    assert (var_ref > 0).all() and (np.asarray(width) >= 0).all()
    np.testing.assert_allclose(np.asarray(width) ** 2, var_ref, rtol=1e-4)
    theta_ref = np.einsum("kij,kj->ki", np.linalg.inv(a), np.asarray(state.b, np.float64))
    np.testing.assert_allclose(np.asarray(mean), probe @ theta_ref.T, rtol=1e-4, atol=1e-5)


def test_update_touches_only_the_chosen_arm():
    state = linucb.init(K, D, history_size=H)
    c = np.zeros(D, np.float32)
    c[[0, 2]] = [1.0, 2.0]
    new, info = linucb.update_jit(state, np.int32(1), c, np.float32(5.0))
    assert float(info["raw_reward"]) == 5.0 and float(info["norm_reward"]) == 0.5
    for arr_old, arr_new in [(state.r, new.r), (state.z, new.z)]:
        np.testing.assert_array_equal(np.delete(np.asarray(arr_new), 1, axis=0),
                                      np.delete(np.asarray(arr_old), 1, axis=0))
    np.testing.assert_allclose(np.asarray(new.b)[1], 0.5 * c)
    np.testing.assert_allclose(np.asarray(linucb.inverse(new))[1],
                               np.linalg.inv(np.eye(D) + np.outer(c, c)), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(new.counts), [0, 1, 0, 0])
    # A NaN loss changes nothing (the history included) and is reported as NaN.
    same, info = linucb.update_jit(new, np.int32(2), c, np.float32(np.nan))
    assert np.isnan(float(info["norm_reward"]))
    for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(new)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # -inf (the chosen RM tied every pair): the pull counts with r' = 0, the history is untouched.
    worst, info = linucb.update_jit(new, np.int32(2), c, np.float32(-np.inf))
    assert float(info["norm_reward"]) == 0.0
    np.testing.assert_array_equal(np.asarray(worst.counts), [0, 1, 1, 0])
    np.testing.assert_array_equal(np.asarray(worst.b), np.asarray(new.b))
    np.testing.assert_allclose(np.asarray(linucb.inverse(worst))[2], np.linalg.inv(np.eye(D) + np.outer(c, c)), atol=1e-6)
    assert int(worst.history.count) == int(new.history.count)


def test_batched_select_equals_per_context_select():
    state, _ = linucb.update_many_jit(linucb.init(K, D, history_size=H), *_random_updates(3))
    batch = np.random.default_rng(4).normal(size=(6, D)).astype(np.float32)
    arms_b, scores_b = linucb.select_jit(state, batch, 0.5)
    assert arms_b.shape == (6,) and arms_b.dtype == jnp.int32 and scores_b.shape == (6, K)
    arms_b, scores_b = np.asarray(arms_b), np.asarray(scores_b)
    for i in range(6):
        arm_i, scores_i = linucb.select_jit(state, batch[i], 0.5)
        assert int(arm_i) == arms_b[i]
        np.testing.assert_allclose(np.asarray(scores_i), scores_b[i], rtol=1e-5, atol=1e-6)
    assert len(set(arms_b.tolist())) > 1  # the prompts do not all agree


def test_update_many_equals_sequential_updates():
    state0 = linucb.init(K, D, history_size=H)
    arms, contexts, rewards = _random_updates(5)  # 400 updates: the history wraps
    many, infos = linucb.update_many_jit(state0, arms, contexts, rewards)
    seq = state0
    norm_seq = []
    for i in range(len(arms)):
        seq, info = linucb.update_jit(seq, arms[i], contexts[i], rewards[i])
        norm_seq.append(float(info["norm_reward"]))
    np.testing.assert_allclose(np.asarray(infos["norm_reward"]), norm_seq, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(seq)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_jit_and_donation():
    state = linucb.init(K, D, history_size=H)
    c = np.full(D, 0.25, np.float32)
    arm, _ = linucb.select_jit(state, c, jnp.float32(0.1))
    expected, _ = linucb.update_jit(state, arm, c, np.float32(-2.0))
    got, info = linucb.update_donated(state, arm, c, np.float32(-2.0))
    assert state.r.is_deleted()  # updated in place
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # alpha is traced: a new value does not recompile.
    before = linucb.select_jit._cache_size()
    linucb.select_jit(got, c, jnp.float32(3.0))
    assert linucb.select_jit._cache_size() == before


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="num_arms"):
        linucb.init(0, 4)
    with pytest.raises(ValueError, match="lam"):
        linucb.init(2, 4, lam=0.0)
    state = linucb.init(2, 4)
    with pytest.raises(ValueError, match=r"d=4"):
        linucb.scores(state, jnp.ones(5), 0.1)
    with pytest.raises(ValueError, match="update_many"):
        linucb.update(state, 0, jnp.ones((2, 4)), 1.0)


# ----------------------------------------------------------------------------- low-rank state


def _hinted(state, c, alpha):
    return linucb.select_jit(state, c, alpha, rows=linucb.rows_hint(state))


def test_lowrank_same_decisions_as_numpy_reference_and_dense():
    """500 steps, ~125 pulls per arm: the basis fills up (64 = d directions) and the low-rank
    state keeps deciding as the float64 reference and the dense state do."""
    k, d, hist_size = 4, 64, 128
    state = linucb.init_lowrank(k, d, history_size=hist_size)
    assert state.max_pulls == d and state.q.shape == (k, d, d)
    state, ref, gap = _run_against_reference(state, twin=linucb.init(k, d, history_size=hist_size))
    assert gap > 1e-4
    assert (np.asarray(state.nb) == d).all()  # every arm's basis is full
    np.testing.assert_allclose(np.asarray(linucb.inverse(state)), np.linalg.inv(ref.a), atol=1e-5)
    np.testing.assert_allclose(np.asarray(state.b), ref.b, atol=1e-4)


def test_lowrank_accurate_over_hundreds_of_updates():
    """400 updates, ~200 basis directions per arm (of d = 224), against float64 exact inverses;
    the basis stays orthonormal and its unused rows zero."""
    k, d, n, lam = 2, 224, 400, 2.0
    rng = np.random.default_rng(7)
    arms = rng.integers(0, k, size=n).astype(np.int32)
    contexts = rng.normal(size=(n, d)).astype(np.float32)  # |c| ~ 15
    rewards = rng.normal(size=n).astype(np.float32)
    low, _ = linucb.update_many_jit(linucb.init_lowrank(k, d, lam=lam, history_size=H), arms,
                                    contexts, rewards)
    nb = np.asarray(low.nb)
    np.testing.assert_array_equal(nb, np.bincount(arms, minlength=k))  # a direction per pull
    q = np.asarray(low.q, np.float64)
    for arm in range(k):
        np.testing.assert_allclose(q[arm, :nb[arm]] @ q[arm, :nb[arm]].T, np.eye(nb[arm]),
                                   atol=2e-6)
        assert not q[arm, nb[arm]:].any()
    a_inv = _exact_inverses(lam, arms, contexts, k, d)
    np.testing.assert_allclose(np.asarray(linucb.inverse(low)), a_inv, atol=1e-6)
    probe = rng.normal(size=(32, d)).astype(np.float32)
    var_ref = np.einsum("bi,kij,bj->bk", probe, a_inv, probe)
    theta_ref = np.einsum("kij,kj->ki", a_inv, np.asarray(low.b, np.float64))
    mean, width = jax.jit(linucb.mean_and_width)(low, probe)
    np.testing.assert_allclose(np.asarray(width) ** 2, var_ref, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(mean), probe @ theta_ref.T, atol=5e-5)


def _exact_inverses(lam, arms, contexts, k, d):
    a = np.stack([lam * np.eye(d)] * k)
    for arm, c in zip(arms, contexts.astype(np.float64)):
        a[arm] += np.outer(c, c)
    return np.linalg.inv(a)


def test_lowrank_buckets_batched_select_and_update_many():
    """Arms with bases of different sizes (full, 16, 6, empty) read with every row count
    from the hint's bucket to all rows: the same scores; batched select equals per-context select
    and the dense state's; update_many equals sequential updates."""
    d = 48
    assert linucb.row_buckets(d) == (16, 32, 48) and linucb.bucket_for(d, 17) == 32
    rng = np.random.default_rng(11)
    n = 70
    arms = rng.choice(3, size=n, p=[0.6, 0.3, 0.1]).astype(np.int32)  # arm 3 stays empty
    contexts = rng.normal(size=(n, d)).astype(np.float32)
    rewards = rng.normal(size=n).astype(np.float32)
    state0 = linucb.init_lowrank(K, d, history_size=H)
    many, infos = linucb.update_many_jit(state0, arms, contexts, rewards,
                                         rows=linucb.rows_hint(state0, n))
    nb = np.asarray(many.nb)
    assert nb[0] == d and nb[1] >= 16 and 0 < nb[2] < 16 and nb[3] == 0, nb
    seq, norm_seq = state0, []
    for i in range(n):
        seq, info = linucb.update_jit(seq, arms[i], contexts[i], rewards[i],
                                      rows=linucb.rows_hint(seq, 1))
        norm_seq.append(float(info["norm_reward"]))
    np.testing.assert_allclose(np.asarray(infos["norm_reward"]), norm_seq, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(seq)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    dense, _ = linucb.update_many_jit(linucb.init(K, d, history_size=H), arms, contexts, rewards)
    np.testing.assert_allclose(np.asarray(linucb.inverse(many)), np.asarray(linucb.inverse(dense)),
                               atol=1e-6)
    batch = rng.normal(size=(6, d)).astype(np.float32)
    arms_b, scores_b = _hinted(many, batch, 0.5)
    assert arms_b.shape == (6,) and scores_b.shape == (6, K)
    dense_arms, dense_scores = linucb.select_jit(dense, batch, 0.5)
    np.testing.assert_array_equal(np.asarray(arms_b), np.asarray(dense_arms))
    np.testing.assert_allclose(np.asarray(scores_b), np.asarray(dense_scores), rtol=1e-4,
                               atol=1e-5)
    for i in range(6):
        arm_i, scores_i = _hinted(many, batch[i], 0.5)
        assert int(arm_i) == int(arms_b[i])
        np.testing.assert_allclose(np.asarray(scores_i), np.asarray(scores_b)[i], rtol=1e-5,
                                   atol=1e-6)
    # A state with small bases: every bucket from the hint's up gives the same scores.
    small, _ = linucb.update_many_jit(state0, arms[:20], contexts[:20], rewards[:20])
    assert linucb.rows_hint(small) == 16
    ref = np.asarray(linucb.select_jit(small, batch, 0.5)[1])  # rows=None: every row
    for rows in (16, 32):
        np.testing.assert_allclose(np.asarray(linucb.select_jit(small, batch, 0.5, rows=rows)[1]),
                                   ref, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match=r"rows must be None or an int in \[1, 48\]"):
        linucb.select(small, batch, 0.5, rows=49)


def test_lowrank_full_basis_projects_later_contexts():
    """max_pulls = m < d: an arm holds at most m directions; later contexts enter A and b through
    their projection on the basis (the documented price of a smaller state). Checked against a
    float64 LinUCB fed the projected contexts; queries keep their full width."""
    k, d, m, lam = 2, 8, 3, 1.0
    rng = np.random.default_rng(5)
    state = linucb.init_lowrank(k, d, lam=lam, history_size=H, max_pulls=m)
    cs = rng.normal(size=(7, d)).astype(np.float32)
    for i, c in enumerate(cs):
        state, _ = linucb.update_jit(state, 1, c, np.float32(i))
    assert int(state.nb[1]) == m and int(state.counts[1]) == 7
    q = np.asarray(state.q, np.float64)[1]
    proj = q.T @ q
    np.testing.assert_allclose(q[0], cs[0] / np.linalg.norm(cs[0]), atol=1e-6)
    a = lam * np.eye(d) + sum(np.outer(proj @ c, proj @ c) for c in cs.astype(np.float64))
    np.testing.assert_allclose(np.asarray(linucb.inverse(state))[1], np.linalg.inv(a), atol=1e-5)
    probe = rng.normal(size=d).astype(np.float32)
    _, width = jax.jit(linucb.mean_and_width)(state, probe)
    np.testing.assert_allclose(float(width[1]) ** 2, probe @ np.linalg.inv(a) @ probe, rtol=1e-5)


def test_lowrank_nonfinite_rewards():
    state = linucb.init_lowrank(K, D, history_size=H)
    rng = np.random.default_rng(12)
    cs = rng.normal(size=(6, D)).astype(np.float32)
    for i in range(3):
        state, _ = linucb.update_jit(state, np.int32(1), cs[i], np.float32(i))
    same, info = linucb.update_jit(state, np.int32(1), cs[3], np.float32(np.nan))
    assert np.isnan(float(info["norm_reward"]))  # NaN: nothing changes, no basis row, no history
    for a, b in zip(jax.tree.leaves(same), jax.tree.leaves(state)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    worst, info = linucb.update_jit(state, np.int32(1), cs[3], np.float32(-np.inf))
    assert float(info["norm_reward"]) == 0.0 and int(worst.counts[1]) == 4
    assert int(worst.nb[1]) == 4  # -inf is a pull with r' = 0: A grows, b does not
    np.testing.assert_allclose(np.asarray(worst.b), np.asarray(state.b), atol=1e-5)
    np.testing.assert_allclose(np.asarray(linucb.inverse(worst))[1],
                               _exact_inverses(1.0, [1] * 4, cs[:4], K, D)[1], atol=1e-6)


def test_lowrank_donation_updates_in_place():
    state = linucb.init_lowrank(K, D, history_size=H)
    c = np.full(D, 0.25, np.float32)
    arm, _ = _hinted(state, c, jnp.float32(0.1))
    expected, _ = linucb.update_jit(state, arm, c, np.float32(-2.0), rows=16)
    got, _ = linucb.update_donated(state, arm, c, np.float32(-2.0), rows=16)
    assert state.q.is_deleted() and state.r.is_deleted()
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_refresh_folds_the_pending_block_into_the_base():
    """Every `refresh` pulls of an arm its base factor absorbs the pending rows by one block
    Householder QR and the current factor restarts from it: both are then the Cholesky factor
    of A (to rounding), nothing is pending; between refreshes the base lags."""
    p = 5
    state = linucb.init(K, D, lam=2.0, history_size=H, refresh=p)
    arms, contexts, rewards = _random_updates(8, n=60)
    arms = np.zeros_like(arms)  # one arm: refreshes after pulls 5, 10, ...
    for i in range(7):
        state, _ = linucb.update_jit(state, 0, contexts[i], rewards[i])
        a = 2.0 * np.eye(D) + contexts[: i + 1].astype(np.float64).T @ contexts[: i + 1]
        chol = np.linalg.cholesky(a).T
        np.testing.assert_allclose(np.asarray(state.r)[0], chol, rtol=1e-5, atol=1e-5)
        assert int(state.npend[0]) == (i + 1) % p
        base = np.asarray(state.r_base)[0]
        if (i + 1) % p == 0:
            np.testing.assert_array_equal(base, np.asarray(state.r)[0])
        else:
            done = (i + 1) // p * p
            a_done = 2.0 * np.eye(D) + contexts[:done].astype(np.float64).T @ contexts[:done]
            np.testing.assert_allclose(base, np.linalg.cholesky(a_done).T, rtol=1e-5, atol=1e-5)
    b = sum(float(r) * c for r, c in zip(
        [nm_r for nm_r in np.asarray(linucb.update_many_jit(
            linucb.init(K, D, lam=2.0, history_size=H, refresh=p), arms[:7], contexts[:7],
            rewards[:7])[1]["norm_reward"])], contexts[:7].astype(np.float64)))
    np.testing.assert_allclose(np.asarray(state.b)[0], b, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="refresh"):
        linucb.init(K, D, refresh=0)


def test_when_under_vmap_runs_the_branch_on_exactly_the_rows_that_need_it():
    """qr.when under a vmap wider than WHEN_CHUNK gathers the rows whose predicate holds, a chunk at
    a time (here 13 of 20 rows: two rounds), and leaves the others as they were."""
    from laser_jax.bandit import qr

    rows = 20
    assert rows > qr.WHEN_CHUNK and 13 > qr.WHEN_CHUNK
    pred = np.zeros(rows, bool)
    pred[[0, 2, 3, 5, 7, 8, 9, 11, 12, 14, 17, 18, 19]] = True
    x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
    y = np.arange(rows, dtype=np.int32)
    got_x, got_y = jax.jit(jax.vmap(lambda p, a, b: qr.when(p, lambda ops: (ops[0] * 2 + 1, ops[1] - 7), (a, b))))(
        pred, x, y)
    np.testing.assert_array_equal(got_x, np.where(pred[:, None], x * 2 + 1, x))
    np.testing.assert_array_equal(got_y, np.where(pred, y - 7, y))
    none_x, _ = jax.jit(jax.vmap(lambda a, b: qr.when(False, lambda ops: (ops[0] + 1, ops[1]), (a, b))))(x, y)
    np.testing.assert_array_equal(none_x, x)


def test_vmapped_updates_equal_one_state_at_a_time():
    """LinUCB updates under a vmap over 12 states (the replay's vmap over orders), with block
    refreshes due in many of them at once, equal the same updates state by state."""
    states, steps, p = 12, 9, 3
    rng = np.random.default_rng(5)
    contexts = rng.normal(size=(steps, states, D)).astype(np.float32) * 5
    arms = rng.integers(0, 2, size=(steps, states)).astype(np.int32)
    arms[:3] = 0  # every state's arm 0 is due a refresh after step 3
    rewards = rng.normal(size=(steps, states)).astype(np.float32)
    one = linucb.init(K, D, history_size=H, refresh=p)
    batched = jax.tree.map(lambda a: jnp.broadcast_to(a, (states,) + a.shape), one)
    vupdate = jax.jit(jax.vmap(lambda s, a, c, r: linucb.update(s, a, c, r)[0]))
    for t in range(steps):
        batched = vupdate(batched, arms[t], contexts[t], rewards[t])
    for i in range(states):
        ref = one
        for t in range(steps):
            ref, _ = linucb.update_jit(ref, arms[t, i], contexts[t, i], rewards[t, i])
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(ref)):
            np.testing.assert_allclose(np.asarray(a)[i], np.asarray(b), rtol=1e-6, atol=1e-6)


def test_triangular_solve_matches_float64():
    """`_solve_rt` (forward substitution) against float64 on an ill-conditioned factor."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 40)) * np.logspace(0, 3, 40)
    r = np.linalg.qr(np.vstack([np.eye(40), x]))[1]
    r = (r * np.sign(np.diagonal(r))[:, None]).astype(np.float32)
    a = rng.normal(size=(40, 3)).astype(np.float32)
    w = np.asarray(jax.jit(linucb._solve_rt)(r[None], a[None]))[0]
    w64 = np.linalg.solve(r.astype(np.float64).T, a.astype(np.float64))
    np.testing.assert_allclose(w, w64, rtol=1e-4, atol=1e-5 * np.abs(w64).max())


def test_lowrank_errors_name_the_argument():
    for bad in (0, 65, 2.0, True):
        with pytest.raises(ValueError, match=r"max_pulls .* in \[1, dim=64\]"):
            linucb.init_lowrank(2, 64, max_pulls=bad)
    state = linucb.init_lowrank(2, 4)
    with pytest.raises(ValueError, match=r"d=4"):
        linucb.scores(state, jnp.ones(5), 0.1)
    with pytest.raises(ValueError, match="update_many"):
        linucb.update(state, 0, jnp.ones((2, 4)), 1.0)


@pytest.mark.parametrize("lowrank", [False, True])
def test_nonfinite_context_never_enters_the_state(lowrank):
    """A NaN context is skipped (state unchanged, counted); it does not make its arm win later."""
    d, k = 8, 3
    state = linucb.init_lowrank(k, d) if lowrank else linucb.init(k, d)
    rng = np.random.default_rng(0)
    for i in range(6):  # some history: arm 1 pays
        c = rng.normal(size=d).astype(np.float32)
        state, _ = linucb.update_jit(state, i % k, c, 1.0 if i % k == 1 else 0.0)
    before = jax.tree.map(np.asarray, state)
    bad = np.full(d, np.nan, np.float32)
    state, info = linucb.update_jit(state, 2, bad, 5.0)
    assert int(info["skipped_nonfinite"]) == 1
    after = jax.tree.map(np.asarray, state)
    for name in ("counts", "r", "z", "pend", "npend") + (("q", "nb") if lowrank else ()):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name), err_msg=name)
    arm, s = linucb.select_jit(state, bad, 0.1)  # an unusable context: zero scores, arm 0
    assert int(arm) == 0 and np.all(np.asarray(s) == 0)
    c = rng.normal(size=d).astype(np.float32)
    assert np.isfinite(np.asarray(linucb.select_jit(state, c, 0.1)[1])).all()


# ----------------------------------------------------------------------------- float32 exactness


@pytest.mark.parametrize("kind", ["dense", "lowrank"])
def test_exact_in_float32_over_5000_near_parallel_steps(kind):
    """The reliability issue's bar at d = 64 (576 and 4096 below): over 5,000 steps the float32
    state picks the float64 arm at every step and its UCB values are within 1e-4 of the step's
    largest |UCB| (see tests/linucb_exactness.py). (The stored float32 A^-1 this module first
    had picked 12 wrong arms in the first 1,000 steps, with 13% error; the one-tier square-root
    form reached 1.4e-4.)"""
    init = linucb.init if kind == "dense" else linucb.init_lowrank
    worst, wrong, ties = exactness.run(init(4, 64, history_size=128), 5000)
    assert not wrong, f"arms differ at steps {wrong}"
    assert ties == 0
    assert worst < 1e-4, worst


def test_normalise_none_passes_the_raw_reward_through():
    """rule "none": r' = r (the 0/1 case where the 20/80 rule gives 0.5 forever); -inf -> 0."""
    h = nm.init_history(8, rule="none")
    for r in (1.0, 1.0, 1.0, 1.0, 0.0):
        h, out = nm.push_and_normalise(h, r)
        assert float(out) == r
    q = nm.init_history(8)
    for r in (1.0, 1.0, 1.0, 1.0, 1.0, 0.0):
        q, out_q = nm.push_and_normalise(q, r)
    assert float(out_q) == 0.5  # the quantile rule: sorted 0,1,1,1,1,1: q20 = q80 = 1, no signal
    assert float(nm.normalise(h, -np.inf)) == 0.0 and np.isnan(float(nm.normalise(h, np.nan)))
    with pytest.raises(ValueError, match="rule must be one of"):
        nm.init_history(8, rule="zscore")
    state = linucb.init(2, 3, normalise="none")
    state, info = linucb.update_jit(state, 1, jnp.ones(3), 0.25)
    assert float(info["norm_reward"]) == 0.25


def test_a_rule_held_as_data_normalises_as_that_rule_in_one_program():
    """normalise.rule_as_data: each rule's outputs equal the plain history's on the same rewards
    (-inf and NaN included), and the three rules' histories trace one program."""
    traces = []

    @jax.jit
    def step(h, r):
        traces.append(1)
        return nm.push_and_normalise(h, r)

    rewards = [0.3, -1.0, 2.0, -np.inf, 0.7, np.nan, 0.7, 1.5, -0.2, 0.9]
    for rule in nm.RULES:
        plain, data = nm.init_history(8, rule=rule), nm.rule_as_data(nm.init_history(8, rule=rule))
        assert isinstance(data, nm.RuleAsData) and int(data.rule_id) == nm.RULES.index(rule)
        for r in rewards:
            plain, want = push_norm(plain, r)
            data, got = step(data, r)
            np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"{rule} {r}")
        np.testing.assert_array_equal(np.asarray(data.values), np.asarray(plain.values))
    assert len(traces) == 1
    state = nm.rule_as_data(linucb.init(2, 3, normalise="none"))  # a selector state: its history converted
    assert isinstance(state.history, nm.RuleAsData) and nm.rule_as_data(state).history is state.history


# ----------------------------------------------------------------------------- Thompson sampling


def _a_and_b(lam, arms, contexts, norm_rewards, k, d):
    a = np.stack([lam * np.eye(d)] * k)
    b = np.zeros((k, d))
    for arm, c, r in zip(arms, contexts.astype(np.float64), norm_rewards):
        a[arm] += np.outer(c, c)
        b[arm] += r * c
    return a, b


@pytest.mark.parametrize("lowrank", [False, True])
def test_thompson_draws_have_the_posterior_mean_and_covariance(lowrank):
    """Over 20,000 keys, the sampled scores of B = 3 contexts per arm have mean C A^-1 b and
    covariance v^2 C A^-1 C^T (float64, written here) within sampling tolerance (~1 % standard
    error on a variance at this count; asserted at 6 %). Low-rank: with 10 pulls on arm 0 of
    d = 16, most of each context lies outside the basis (the lam I part of A)."""
    k, d, v, lam = 3, D, 0.7, 2.0
    rng = np.random.default_rng(9)
    n = 10 if lowrank else 60
    arms = rng.integers(0, k, size=n).astype(np.int32) * (0 if lowrank else 1)
    contexts = rng.normal(size=(n, d)).astype(np.float32)
    rewards = rng.normal(size=n).astype(np.float32)
    init = linucb.init_lowrank if lowrank else linucb.init
    state, info = linucb.update_many_jit(init(k, d, lam=lam, history_size=H), arms, contexts,
                                         rewards)
    a, b = _a_and_b(lam, arms, contexts, np.asarray(info["norm_reward"], np.float64), k, d)
    probe = rng.normal(size=(3, d)).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), 20000)
    draws = np.asarray(jax.jit(jax.vmap(lambda key: linucb.sample_scores(state, probe, key, v)))(
        keys), np.float64)  # [N, B, K]
    for arm in range(k):
        a_inv = np.linalg.inv(a[arm])
        mean_ref = probe @ a_inv @ b[arm]
        cov_ref = v * v * probe @ a_inv @ probe.T
        x = draws[:, :, arm]
        se = np.sqrt(np.diag(cov_ref) / len(x))
        np.testing.assert_array_less(np.abs(x.mean(0) - mean_ref), 5 * se + 1e-5)
        np.testing.assert_allclose(np.cov(x.T), cov_ref, rtol=0.06, atol=0.06 * np.abs(cov_ref).max())


def test_thompson_picks_as_a_float64_sampler_with_the_same_noise():
    """The near-parallel stream (|c| up to 300), 1,000 steps, the float32 dense state and a
    float64 Thompson sampler written here (theta_k = R^-1 (z + v xi) with R the Cholesky factor
    of the float64 A_k, z = R^-T b_k, and the same xi drawn from the step's key): the same arm at
    every step; the sampled scores within 5e-4 of the step's largest |score| (measured 1.3e-4:
    the draw's R^-1 xi reaches into the weakly determined directions that a UCB's c-aligned
    solve hardly sees, so it carries more of the factor's rounding)."""
    k, d, v, steps = 4, 64, 0.5, 1000
    contexts, fam, rng = exactness.near_parallel_stream(steps, d)
    state = linucb.init(k, d, history_size=128)
    a, b = np.stack([np.eye(d)] * k), np.zeros((k, d))
    sample = jax.jit(linucb.sample_scores)
    worst = 0.0
    for t in range(steps):
        key = jax.random.key(t)
        xi = np.asarray(jax.random.normal(jax.random.split(key)[0], (k, d)), np.float64)
        c64 = contexts[t].astype(np.float64)
        ref = np.empty(k)
        for j in range(k):
            r64 = np.linalg.cholesky(a[j]).T
            theta = np.linalg.solve(r64, np.linalg.solve(r64.T, b[j]) + v * xi[j])
            ref[j] = c64 @ theta
        ours = np.asarray(sample(state, contexts[t], key, v))
        worst = max(worst, np.abs(ours - ref).max() / np.abs(ref).max())
        arm = int(np.argmax(ref))
        assert int(np.argmax(ours)) == arm, (t, ours, ref)
        raw = float(arm == [2, 0, 3][fam[t]]) + 0.3 * rng.normal()
        state, info = linucb.update_jit(state, arm, contexts[t], raw)
        a[arm] += np.outer(c64, c64)
        b[arm] += float(info["norm_reward"]) * c64
    assert worst < 5e-4, worst
    assert (np.asarray(state.counts) > 20).all()
