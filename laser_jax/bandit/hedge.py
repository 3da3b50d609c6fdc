"""``online_ensemble``: Hedge over the RMs' gains from their agreement with what was trained
(selector.py's docstring defines it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from laser_jax.bandit import normalise as norm
from laser_jax.bandit import selector as sel
from laser_jax.bandit.selector import ETA, HISTORY


@struct.dataclass
class HedgeState:
    counts: jax.Array
    log_weights: jax.Array  # [K] float32: eta * summed gains, shifted so that the largest is 0
    history: norm.RewardHistory
    eta: jax.Array  # float32 scalar, traced


def _hedge_select(state: HedgeState, contexts, key, step):
    del key, step
    w = jax.nn.softmax(state.log_weights)
    return jnp.broadcast_to(w, (sel.batch_size(contexts), w.shape[0])), state


def _hedge_update(state: HedgeState, weights, contexts, raw_reward, agreement=None):
    """Hedge on the RMs' gains (module docstring): L_k += eta (a_k r' + (1 - a_k)(1 - r')). A
    non-finite r' (a diverged loss) changes nothing."""
    k = state.counts.shape[0]
    sel.check_weights(weights, contexts, k)
    if agreement is None:
        raise ValueError("selector 'online_ensemble' learns from each RM's agreement with what was "
                         "trained: pass agreement [K] to update (bandit/combine.pair_agreement)")
    a = jnp.asarray(agreement, jnp.float32)
    if a.shape != (k,):
        raise ValueError(f"selector 'online_ensemble': agreement must be [K={k}], got {a.shape}")
    raw = sel.scalar_reward(raw_reward, "online_ensemble")
    history, r = norm.push_and_normalise(state.history, raw)
    a = jnp.where(jnp.isfinite(a), jnp.clip(a, 0.0, 1.0), 0.5)
    ok = jnp.isfinite(r)
    r = jnp.clip(r, 0.0, 1.0)  # a gain needs r' in [0, 1]: normalise="none" is for rewards already there
    gain = a * r + (1.0 - a) * (1.0 - r)
    log_w = state.log_weights + jnp.where(ok, state.eta * gain, 0.0)
    used = sel.arm_counts(weights)
    info = {"raw_reward": raw, "norm_reward": r, "gain": jnp.where(ok, gain, jnp.nan), "arm_counts": used}
    return state.replace(counts=state.counts + used, log_weights=log_w - jnp.max(log_w),
                         history=history), info


@sel.register("online_ensemble", select=_hedge_select, update=_hedge_update, args=(ETA, HISTORY),
              needs_agreement=True)
def _hedge_init(key, num_arms, dim, *, eta, history_size, normalise):
    del key, dim
    counts = sel.zeros_counts(num_arms)
    return HedgeState(counts=counts, log_weights=jnp.zeros(counts.shape, jnp.float32),
                      history=norm.init_history(history_size, rule=normalise),
                      eta=jnp.asarray(eta, jnp.float32))
