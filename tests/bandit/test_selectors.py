"""The selector interface: every registered selector, checked on weights and against its bandit."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax import bandit as selectors
from laser_jax.bandit import exp3, linucb
from laser_jax.bandit import arm_counts, chosen_arms, make_selector
from laser_jax.errors import ConfigError

K, D, B = 4, 16, 8
HPARAMS = {"fixed": {"arm": 2}, "laser": {"history_size": 64}, "exp3": {"history_size": 64}}


def _contexts(seed, b=B):
    return np.random.default_rng(seed).normal(size=(b, D)).astype(np.float32)


@functools.cache
def _jit(fn):
    return jax.jit(fn)  # one wrapper per function: separate wrappers would compile again


def _jitted(sel):
    return _jit(sel.select), _jit(sel.update)


@pytest.mark.parametrize("name", sorted(selectors.REGISTRY))
def test_weights_shape_and_sum_and_jit(name):
    sel = make_selector(name, **HPARAMS.get(name, {}))
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    for step in range(3):
        ctx = _contexts(step)
        weights, state = select(state, ctx, jax.random.key(step), step)
        w = np.asarray(weights)
        assert w.shape == (B, K) and w.dtype == np.float32
        np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
        if name in ("ensemble", "agreement") or (name == "online_ensemble" and step < 2):
            np.testing.assert_array_equal(w, 1.0 / K)  # every RM scores, uniformly (online: r' = 0.5 at first)
        elif name == "online_ensemble":  # every RM scores, the same learned weights per prompt
            assert (w > 0).all() and (w == w[0]).all() and not np.allclose(w, 1.0 / K)
        else:  # one RM for the whole batch, one-hot
            assert set(np.unique(w)) == {0.0, 1.0} and (w == w[0]).all()
        agreement = jnp.asarray([1.0, 0.0, 0.5, 0.25], jnp.float32) if sel.needs_agreement else None
        state, info = update(state, weights, ctx, jnp.float32(-1.0 - step), agreement)
        assert float(info["raw_reward"]) == -1.0 - step
    counts = np.asarray(state.counts)
    assert counts.sum() == 3 * B * (K if name in ("ensemble", "agreement", "online_ensemble") else 1)


def _hedge_reference(raws, agreements, eta, normalise):
    """Hedge in float64 by hand: r' by the 20/80 rule against the history so far (numpy's linear
    percentiles; 0.5 on a flat band) or raw; gains a r' + (1 - a)(1 - r'), no vote = 1/2."""
    hist, log_w, out = [], np.zeros(len(agreements[0])), []
    for raw, a in zip(raws, agreements):
        hist.append(raw)
        if normalise == "none":
            r = raw
        else:
            q20, q80 = np.percentile(hist, [20, 80])
            r = 0.5 if q80 - q20 <= 1e-12 else float(np.clip((raw - q20) / (q80 - q20), 0, 1))
        a = np.where(np.isnan(a), 0.5, a)
        log_w += eta * (a * r + (1 - a) * (1 - r))
        w = np.exp(log_w - log_w.max())
        out.append(w / w.sum())
    return np.array(out)


@pytest.mark.parametrize("normalise", ["quantile", "none"])
def test_online_ensemble_hedge_weights_match_a_reference(normalise):
    """After a known sequence of rewards and agreements, the weights are Hedge's (to float32)."""
    rng = np.random.default_rng(5)
    steps = 30
    raws = (rng.random(steps) if normalise == "none" else -rng.gamma(2.0, 1.0, steps)).tolist()
    agreements = rng.random((steps, K))
    agreements[rng.random((steps, K)) < 0.1] = np.nan  # an RM without a vote now and then
    want = _hedge_reference(raws, agreements, 0.7, normalise)
    sel = make_selector("online_ensemble", eta=0.7, history_size=64, normalise=normalise)
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    ctx = np.zeros((B, 0), np.float32)
    for t in range(steps):
        weights, state = select(state, ctx, jax.random.key(t), t)
        state, info = update(state, weights, ctx, jnp.float32(raws[t]), jnp.asarray(agreements[t], jnp.float32))
        got = np.asarray(select(state, ctx, jax.random.key(0), t)[0])
        np.testing.assert_allclose(got, np.broadcast_to(want[t], (B, K)), rtol=1e-5, atol=1e-6, err_msg=t)
    assert want[-1].max() > 0.3  # the weights did move away from 1/K = 0.25
    with pytest.raises(ValueError, match="agreement"):
        sel.update(state, weights, ctx, jnp.float32(0.0))


def test_sequential_cycles_through_arms():
    sel = make_selector("sequential")
    select = jax.jit(sel.select)
    state = sel.init(jax.random.key(0), K, D)
    ctx = np.zeros((B, 0), np.float32)  # no context needed
    arms = [int(chosen_arms(select(state, ctx, jax.random.key(0), jnp.int32(s))[0])[0])
            for s in range(2 * K + 1)]
    assert arms == [s % K for s in range(2 * K + 1)]
    assert not sel.needs_context


def test_fixed_is_constant():
    sel = make_selector("fixed", arm=2)
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    for step in range(4):
        weights, state = select(state, _contexts(step), jax.random.key(step), step)
        np.testing.assert_array_equal(np.asarray(weights), np.eye(K, dtype=np.float32)[[2] * B])
        state, _ = update(state, weights, _contexts(step), jnp.float32(step))
    np.testing.assert_array_equal(np.asarray(state.counts), [0, 0, 4 * B, 0])


def test_random_is_reproducible_and_roughly_uniform():
    sel = make_selector("random")
    state = sel.init(jax.random.key(0), K, D)
    ctx = np.zeros((B, 0), np.float32)

    def arm_of(key):
        return chosen_arms(sel.select(state, ctx, key, 0)[0])

    arms_of = jax.jit(jax.vmap(arm_of))
    arms = np.asarray(arms_of(jax.random.split(jax.random.key(1), 2000)))
    assert arms.shape == (2000, B) and (arms == arms[:, :1]).all()  # one arm per batch
    again = np.asarray(arms_of(jax.random.split(jax.random.key(1), 2000)))
    other = np.asarray(arms_of(jax.random.split(jax.random.key(2), 2000)))
    np.testing.assert_array_equal(arms, again)
    assert not (arms == other).all()
    freq = np.bincount(arms[:, 0], minlength=K) / 2000
    np.testing.assert_allclose(freq, 1.0 / K, atol=0.04)  # 4.5 standard deviations


def test_laser_equals_linucb_on_the_mean_context():
    alpha = 0.3
    sel = make_selector("laser", alpha=alpha, history_size=64)
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    assert sel.needs_context and not state.per_prompt
    ref = linucb.init(K, D, history_size=64)
    ref_select, ref_update = linucb.select_jit, linucb.update_jit
    thetas = np.random.default_rng(9).normal(size=(K, D)).astype(np.float32)
    picked = []
    for step in range(40):
        ctx = _contexts(100 + step)
        weights, state = select(state, ctx, jax.random.key(step), step)
        ref_arm, _ = ref_select(ref, ctx.mean(axis=0), alpha)
        arm = int(chosen_arms(weights)[0])
        assert arm == int(ref_arm), f"step {step}"
        raw = np.float32(ctx.mean(axis=0) @ thetas[arm])
        state, info = update(state, weights, ctx, raw)
        ref, ref_info = ref_update(ref, ref_arm, ctx.mean(axis=0), raw)
        assert float(info["norm_reward"]) == pytest.approx(float(ref_info["norm_reward"]))
        picked.append(arm)
    assert len(set(picked)) > 1
    for a, b in zip(jax.tree.leaves(state.bandit), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(state.counts), np.bincount(picked, minlength=K) * B)


def test_laser_per_prompt_update_equals_sequential_single_updates():
    sel = make_selector("laser", per_prompt=True, alpha=1.0, history_size=64)
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    # Warm the bandit up so prompts disagree.
    rng = np.random.default_rng(3)
    for step in range(5):
        weights, state = select(state, _contexts(step), jax.random.key(0), step)
        state, _ = update(state, weights, _contexts(step), rng.normal(size=B).astype(np.float32))
    ctx = _contexts(50)
    weights, state = select(state, ctx, jax.random.key(0), 5)
    arms = np.asarray(chosen_arms(weights))
    ref_arms, _ = linucb.select_jit(state.bandit, ctx, 1.0)
    np.testing.assert_array_equal(arms, np.asarray(ref_arms))
    np.testing.assert_array_equal(np.asarray(weights), np.eye(K, dtype=np.float32)[arms])
    assert len(set(arms.tolist())) > 1
    rewards = rng.normal(size=B).astype(np.float32)
    new, info = update(state, weights, ctx, rewards)
    assert info["norm_reward"].shape == (B,)
    ref, ref_update = state.bandit, linucb.update_jit
    for i in range(B):
        ref, _ = ref_update(ref, arms[i], ctx[i], rewards[i])
    for a, b in zip(jax.tree.leaves(new.bandit), jax.tree.leaves(ref)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="one raw_reward per prompt"):
        sel.update(state, weights, ctx, 1.0)


def test_exp3_selector_matches_exp3_module():
    sel = make_selector("exp3", gamma=0.3, history_size=64)
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    ref = exp3.init(K, history_size=64)
    ctx = np.zeros((B, 0), np.float32)
    for step in range(20):
        key = jax.random.key(step)
        weights, state = select(state, ctx, key, step)
        ref_arm, ref_p = exp3.select_jit(ref, key, 0.3)
        assert int(chosen_arms(weights)[0]) == int(ref_arm)
        np.testing.assert_allclose(np.asarray(state.last_probs), np.asarray(ref_p), rtol=1e-6)
        raw = jnp.float32(float(ref_arm == 1) + 0.1 * step)
        state, _ = update(state, weights, ctx, raw)
        ref, _ = exp3.update_jit(ref, ref_arm, raw, 0.3, ref_p)
    np.testing.assert_allclose(np.asarray(state.bandit.log_weights),
                               np.asarray(ref.log_weights), rtol=1e-6, atol=1e-6)


def test_helpers():
    w = jnp.array([[0, 1, 0], [1, 0, 0], [0, 1, 0], [1 / 3, 1 / 3, 1 / 3]], jnp.float32)
    np.testing.assert_array_equal(np.asarray(chosen_arms(w)), [1, 0, 1, 0])
    np.testing.assert_array_equal(np.asarray(arm_counts(w)), [2, 3, 1])


def test_bad_selector_arguments_are_config_errors_and_state_misuse_is_not():
    """A selector argument the user gives (its name, an hparam, its value) is a ConfigError (exit 2
    through a command line); a caller's wrong shapes stay a plain ValueError (a bug: exit 1)."""
    key = jax.random.key(0)
    for bad in (lambda: make_selector("lasr"), lambda: make_selector("laser", gama=0.1),
                lambda: make_selector("fixed").init(key, K, D),
                lambda: make_selector("fixed", arm=K).init(key, K, D),
                lambda: make_selector("exp3", gamma=1.5).init(key, K, D),
                lambda: make_selector("laser", max_pulls=D + 1).init(key, K, D)):
        with pytest.raises(ConfigError):
            bad()
    sel = make_selector("random")
    state = sel.init(key, K, D)
    with pytest.raises(ValueError) as err:
        sel.update(state, jnp.zeros((B, K + 1)), jnp.zeros((B, 0)), 0.0)
    assert not isinstance(err.value, ConfigError)


def test_errors_list_the_valid_choices():
    with pytest.raises(ValueError, match="unknown selector 'lasr'") as err:
        make_selector("lasr")
    for name in selectors.REGISTRY:
        assert name in str(err.value)
    with pytest.raises(ValueError,
                       match="valid hparams: alpha, lam, history_size, per_prompt, max_pulls"):
        make_selector("laser", gama=0.1)
    with pytest.raises(ValueError, match="needs hparam arm"):
        make_selector("fixed").init(jax.random.key(0), K, D)
    with pytest.raises(ValueError, match=r"arm must be an int in \[0, 4\)"):
        make_selector("fixed", arm=4).init(jax.random.key(0), K, D)
    with pytest.raises(ValueError, match="valid hparams: none"):
        make_selector("sequential").init(jax.random.key(0), K, D, arm=1)
    with pytest.raises(ValueError, match="gamma"):
        make_selector("exp3", gamma=0.0).init(jax.random.key(0), K, D)
    sel = make_selector("laser", history_size=64)
    state = sel.init(jax.random.key(0), K, D)
    weights = jnp.zeros((B, K)).at[:, 0].set(1.0)
    with pytest.raises(ValueError, match="one scalar raw_reward"):
        sel.update(state, weights, _contexts(0), jnp.zeros(B))
    with pytest.raises(ValueError, match=r"weights must be \[B=8, K=4\]"):
        sel.update(state, weights[:, :3], _contexts(0), 1.0)


def test_init_overrides_bound_hparams():
    sel = make_selector("laser", alpha=0.5, history_size=64)
    assert float(sel.init(jax.random.key(0), K, D).alpha) == 0.5
    state = sel.init(jax.random.key(0), K, D, alpha=2.0, per_prompt=True)
    assert float(state.alpha) == 2.0 and state.per_prompt
    assert dict(sel.hparams) == {"alpha": 0.5, "history_size": 64}


@pytest.mark.parametrize("per_prompt", [False, True])
def test_laser_lowrank_decides_as_dense_laser(per_prompt):
    """max_pulls=D: the low-rank state (its bases fill up within the run) gives the dense
    selector's weights, rewards and final A^-1; `Selector.jitted` feeds its row hint."""
    hp = dict(alpha=0.5, history_size=64, per_prompt=per_prompt)
    low_sel, dense_sel = make_selector("laser", max_pulls=D, **hp), make_selector("laser", **hp)
    low, dense = low_sel.init(jax.random.key(0), K, D), dense_sel.init(jax.random.key(0), K, D)
    assert isinstance(low.bandit, linucb.LowRankLinUCBState) and low.bandit.max_pulls == D
    assert isinstance(dense.bandit, linucb.LinUCBState)  # D <= 1024: dense by default
    (low_select, low_update), (dense_select, dense_update) = low_sel.jitted(), _jitted(dense_sel)
    rng = np.random.default_rng(21)
    thetas = rng.normal(size=(K, D)).astype(np.float32)
    for step in range(30):
        ctx = _contexts(200 + step)
        w_low, low = low_select(low, ctx, jax.random.key(step), step)
        w_dense, dense = dense_select(dense, ctx, jax.random.key(step), step)
        np.testing.assert_array_equal(np.asarray(w_low), np.asarray(w_dense), err_msg=f"{step}")
        arms = np.asarray(chosen_arms(w_low))
        raw = np.einsum("bd,bd->b", ctx, thetas[arms]).astype(np.float32)
        raw = raw if per_prompt else np.float32(raw.mean())
        low, info_low = low_update(low, w_low, ctx, raw)
        dense, info_dense = dense_update(dense, w_dense, ctx, raw)
        np.testing.assert_allclose(np.asarray(info_low["norm_reward"]),
                                   np.asarray(info_dense["norm_reward"]), rtol=1e-6)
    nb, counts = np.asarray(low.bandit.nb), np.asarray(low.bandit.counts)
    np.testing.assert_array_equal(nb, np.minimum(counts, D))  # a direction per pull until full
    assert (nb > 0).all() and (per_prompt == (nb == D).any()), nb
    np.testing.assert_array_equal(np.asarray(low.counts), np.asarray(dense.counts))
    np.testing.assert_allclose(np.asarray(linucb.inverse(low.bandit)),
                               np.asarray(linucb.inverse(dense.bandit)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(low.bandit.b), np.asarray(dense.bandit.b), rtol=1e-5, atol=1e-4)  # dense b = R^T z


def test_laser_max_pulls_default_and_errors():
    sel = make_selector("laser", history_size=64)
    assert isinstance(sel.init(jax.random.key(0), 2, 1024).bandit, linucb.LinUCBState)
    big = sel.init(jax.random.key(0), 2, 1040)  # above linear.DENSE_MAX_DIM: low-rank
    assert isinstance(big.bandit, linucb.LowRankLinUCBState) and big.bandit.max_pulls == 1040
    assert isinstance(sel.init(jax.random.key(0), 2, 1040, max_pulls=0).bandit,
                      linucb.LinUCBState)
    assert sel.init(jax.random.key(0), K, D, max_pulls=D).bandit.max_pulls == D
    for bad in (-1, D + 1, 1.5, True):
        with pytest.raises(ValueError, match=r"max_pulls must be None .* \[1, dim=16\]"):
            make_selector("laser", max_pulls=bad).init(jax.random.key(0), K, D)


@pytest.mark.parametrize("name", ["laser", "thompson", "exp3", "ensemble"])
def test_grow_state_keeps_old_arms_and_adds_fresh_ones(name):
    """K = 4 arms after a few updates, grown to 6: every arm-indexed array keeps the old arms'
    rows and takes a fresh 6-arm state's rows for arms 4 and 5; the rest is the old state's."""
    sel = make_selector(name, **HPARAMS.get(name, {}))
    select, update = _jitted(sel)
    state = sel.init(jax.random.key(0), K, D)
    for step in range(3):
        ctx = _contexts(50 + step)
        weights, state = select(state, ctx, jax.random.key(step), step)
        state, _ = update(state, weights, ctx, jnp.float32(-1.0 - step))
    fresh = sel.init(jax.random.key(1), K + 2, D)
    grown = selectors.grow_state(state, fresh)
    assert selectors.selector_arms(grown) == K + 2
    changed = 0
    for o, f, g in zip(jax.tree.leaves(state), jax.tree.leaves(fresh), jax.tree.leaves(grown)):
        o, f, g = np.asarray(o), np.asarray(f), np.asarray(g)
        if o.shape == f.shape:
            np.testing.assert_array_equal(g, o)
        else:
            changed += 1
            np.testing.assert_array_equal(g[:K], o)
            np.testing.assert_array_equal(g[K:], f[K:])
    assert changed >= 1
    with pytest.raises(ValueError, match="structure"):
        other = "exp3" if name == "laser" else "laser"
        selectors.grow_state(state, make_selector(other).init(jax.random.key(0), K + 2, D))
