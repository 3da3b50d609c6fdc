"""Exp3 (Auer et al. 2002), the adversarial bandit of the paper's noisy-RM analysis.

No context: arm k has a log-weight log w_k. With exploration rate gamma in (0, 1]:

    p_k = (1 - gamma) * w_k / sum_j w_j + gamma / K        (softmax of log w: stable)
    pick k ~ p;  r' = normalised raw reward in [0, 1] (same 20/80 rule as LinUCB)
    x_hat = r' / p_k;   log w_k += gamma * x_hat / K        (only the picked arm)

After each update the log-weights are shifted so their max is 0; p is unchanged by the shift
and the weights cannot overflow. ``gamma`` is a traced argument everywhere.
Arms are drawn by inverse CDF from one uniform u = jax.random.uniform(key) (``sample_arm``),
so a reference implementation can replay the same draws.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from laser_jax.bandit import normalise as norm
from laser_jax.bandit import selector as sel
from laser_jax.bandit.selector import GAMMA, HISTORY
from laser_jax.errors import ConfigError, is_int


@struct.dataclass
class Exp3State:
    """log_weights [K] float32; counts [K] int32 updates per arm; raw-reward history."""

    log_weights: jax.Array
    counts: jax.Array
    history: norm.RewardHistory

    @property
    def num_arms(self) -> int:
        return self.log_weights.shape[0]


def init(num_arms: int, history_size: int = 1024, normalise: str = "quantile") -> Exp3State:
    """Uniform weights (all log w_k = 0) and an empty reward history (rule ``normalise``)."""
    if not is_int(num_arms, 1):
        raise ValueError(f"num_arms must be a positive int, got {num_arms!r}.")
    return Exp3State(
        log_weights=jnp.asarray(np.zeros((int(num_arms),), np.float32)),
        counts=jnp.asarray(np.zeros((int(num_arms),), np.int32)),
        history=norm.init_history(history_size, rule=normalise),
    )


def probs(state: Exp3State, gamma) -> jax.Array:
    """p [K] = (1 - gamma) * softmax(log_weights) + gamma / K; sums to 1."""
    gamma = jnp.asarray(gamma, jnp.float32)
    return (1.0 - gamma) * jax.nn.softmax(state.log_weights) + gamma / state.num_arms


def sample_arm(p: jax.Array, u) -> jax.Array:
    """Inverse-CDF draw: the first k with cumsum(p)[k] > u, for u in [0, 1). int32."""
    cdf = jnp.cumsum(p)
    k = jnp.searchsorted(cdf, jnp.asarray(u, cdf.dtype), side="right")
    return jnp.minimum(k, p.shape[0] - 1).astype(jnp.int32)


def select(state: Exp3State, key: jax.Array, gamma):
    """(arm, probs): arm ~ probs(state, gamma), drawn from u = jax.random.uniform(key)."""
    p = probs(state, gamma)
    return sample_arm(p, jax.random.uniform(key, (), jnp.float32)), p


def update(state: Exp3State, arm, raw_reward, gamma, probs_at_select=None):
    """Pushes and normalises ``raw_reward``, then log w_arm += gamma * (r' / p_arm) / K.

    ``probs_at_select``: the p the arm was drawn from; None recomputes it from ``state`` (the
    same thing if no update happened in between). raw_reward -inf counts as r' = 0; NaN / +inf
    change nothing and give norm_reward NaN. Returns (new_state, info) with info =
    {"raw_reward", "norm_reward", "estimate"} (estimate = x_hat).
    """
    arm = jnp.asarray(arm, jnp.int32)
    raw = jnp.asarray(raw_reward, jnp.float32)
    if arm.shape != () or raw.shape != ():
        raise ValueError(f"Exp3 update takes a scalar arm and a scalar raw_reward, got shapes "
                         f"{arm.shape} and {raw.shape}.")
    gamma = jnp.asarray(gamma, jnp.float32)
    if probs_at_select is None:
        p = probs(state, gamma)
    else:
        p = jnp.asarray(probs_at_select, jnp.float32)
    if p.shape != (state.num_arms,):
        raise ValueError(f"probs_at_select must be [K={state.num_arms}], got {p.shape}.")
    history, r = norm.push_and_normalise(state.history, raw)
    ok = jnp.isfinite(r)
    x_hat = jnp.where(ok, r, 0.0) / p[arm]
    log_w = state.log_weights.at[arm].add(jnp.where(ok, gamma * x_hat / state.num_arms, 0.0))
    new_state = Exp3State(
        log_weights=log_w - jnp.max(log_w),
        counts=state.counts.at[arm].add(ok.astype(jnp.int32)),
        history=history,
    )
    return new_state, {"raw_reward": raw, "norm_reward": r, "estimate": x_hat}


# Jitted entry points (immutable function objects, not state).
probs_jit = jax.jit(probs)
select_jit = jax.jit(select)
update_jit = jax.jit(update)


# ----------------------------------------------------------------------------- the exp3 selector


@struct.dataclass
class Exp3SelectorState:
    counts: jax.Array
    bandit: Exp3State
    gamma: jax.Array  # float32 scalar, traced
    last_probs: jax.Array  # [K], the distribution the current arm was drawn from


def _exp3_select(state: Exp3SelectorState, contexts, key, step):
    del step
    arm, p = select(state.bandit, key, state.gamma)
    weights = sel.one_hot_batch(arm, sel.batch_size(contexts), state.bandit.num_arms)
    return weights, state.replace(last_probs=p)


def _exp3_update(state: Exp3SelectorState, weights, contexts, raw_reward, agreement=None):
    del agreement
    sel.check_weights(weights, contexts, state.bandit.num_arms)
    raw = sel.scalar_reward(raw_reward, "exp3")
    arm = sel.chosen_arms(weights)[0]
    bandit, info = update(state.bandit, arm, raw, state.gamma, state.last_probs)
    used = sel.arm_counts(weights)
    info = dict(info, arm_counts=used)
    return state.replace(bandit=bandit, counts=state.counts + used), info


@sel.register("exp3", select=_exp3_select, update=_exp3_update, args=(GAMMA, HISTORY))
def _exp3_init(key, num_arms, dim, *, gamma, history_size, normalise):
    del key, dim
    if not GAMMA.check(gamma, num_arms):
        raise ConfigError(f"selector 'exp3': gamma (selector_args.gamma, the exploration rate) must be "
                          f"in (0, 1], got {gamma!r}.")
    bandit = init(num_arms, history_size=history_size, normalise=normalise)
    g = jnp.asarray(gamma, jnp.float32)
    return Exp3SelectorState(counts=sel.zeros_counts(num_arms), bandit=bandit, gamma=g,
                             last_probs=probs(bandit, g))
