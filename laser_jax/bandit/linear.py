"""The linear selectors on LinUCB's state (linucb.py): ``laser`` (the paper's LinUCB pick) and
``thompson`` (linear Thompson sampling), with the offline prior both accept (selector.py's docstring
describes them and their hparams)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from laser_jax.bandit import linucb
from laser_jax.bandit import selector as sel
from laser_jax.bandit.selector import ALPHA, HISTORY, LAM, MAX_PULLS, PER_PROMPT, SCALE
from laser_jax.errors import ConfigError, is_int


@struct.dataclass
class LaserState:
    counts: jax.Array
    bandit: linucb.LinUCBState | linucb.LowRankLinUCBState
    alpha: jax.Array  # float32 scalar, traced
    per_prompt: bool = struct.field(pytree_node=False, default=False)


@struct.dataclass
class ThompsonState:
    counts: jax.Array
    bandit: linucb.LinUCBState | linucb.LowRankLinUCBState
    scale: jax.Array  # float32 scalar v, traced: theta ~ N(A^-1 b, v^2 A^-1)
    per_prompt: bool = struct.field(pytree_node=False, default=False)


# laser's default max_pulls=None: dense up to this context dimension, low-rank above it.
DENSE_MAX_DIM = 1024


def _linear_bandit(name, num_arms, dim, lam, history_size, max_pulls, normalise):
    """The LinUCB state laser and thompson share (linucb.py): dense or low-rank by max_pulls."""
    if max_pulls is None:
        max_pulls = 0 if dim <= DENSE_MAX_DIM else linucb.default_max_pulls(dim)
    if not is_int(max_pulls, 0, dim):
        # reachable from a config: selector_args.max_pulls is checked there without the context size
        raise ConfigError(f"selector {name!r}: max_pulls must be None (automatic: selector_args.max_pulls=-1), "
                          f"0 (dense) or an int in [1, dim={dim}] (low-rank basis rows; dim: the context size, "
                          f"the policy's hidden size), got {max_pulls!r}.")
    if max_pulls == 0:
        return linucb.init(num_arms, dim, lam=lam, history_size=history_size, normalise=normalise)
    return linucb.init_lowrank(num_arms, dim, lam=lam, history_size=history_size,
                               max_pulls=int(max_pulls), normalise=normalise)


def _laser_hint(state, new: int):
    """The static ``rows`` of a low-rank bandit (linucb.rows_hint), read on the host before a
    jitted call; None for a dense bandit."""
    return linucb.rows_hint(state.bandit, new)


def _linear_pick(state, contexts, scores_of):
    """Weights [B, K] from a linear bandit's per-arm scores (``scores_of(c)``: [K] for c [d],
    [B, K] for [B, d]): per prompt from its own context with ``per_prompt``, else one RM for the
    whole batch from the batch-mean context. Ties go to the lowest arm."""
    contexts = jnp.asarray(contexts, jnp.float32)
    b, k = sel.batch_size(contexts), state.bandit.num_arms
    if state.per_prompt:
        return jax.nn.one_hot(jnp.argmax(scores_of(contexts), -1), k, dtype=jnp.float32)
    return sel.one_hot_batch(jnp.argmax(scores_of(jnp.mean(contexts, axis=0))).astype(jnp.int32), b, k)


def _laser_select(state: LaserState, contexts, key, step, rows=None):
    del key, step
    if rows is None:  # called eagerly: read the state here (under a trace this gives None)
        rows = _laser_hint(state, 0)
    # The jitted entry points: a caller may run this eagerly (the training step jits it).
    return _linear_pick(state, contexts,
                        lambda c: linucb.select_jit(state.bandit, c, state.alpha, rows=rows)[1]), state


def _laser_update(state, weights, contexts, raw_reward, agreement=None, rows=None):
    """LinUCB's update (laser and thompson share it): the chosen arm learns the batch-mean
    context and the step's reward, or each prompt's with ``per_prompt``."""
    del agreement
    contexts = jnp.asarray(contexts, jnp.float32)
    sel.check_weights(weights, contexts, state.bandit.num_arms)
    arms = sel.chosen_arms(weights)
    if state.per_prompt:
        raw = jnp.asarray(raw_reward, jnp.float32)
        if raw.shape != (contexts.shape[0],):
            raise ValueError(f"selector 'laser' with per_prompt=True needs one raw_reward per "
                             f"prompt, shape [{contexts.shape[0]}], got {raw.shape}.")
        rows = _laser_hint(state, contexts.shape[0]) if rows is None else rows
        bandit, info = linucb.update_many_jit(state.bandit, arms, contexts, raw, rows=rows)
    else:
        raw = sel.scalar_reward(raw_reward, "laser")
        rows = _laser_hint(state, 1) if rows is None else rows
        bandit, info = linucb.update_jit(state.bandit, arms[0], jnp.mean(contexts, axis=0), raw,
                                         rows=rows)
    used = sel.arm_counts(weights)
    info = dict(info, arm_counts=used)
    return state.replace(bandit=bandit, counts=state.counts + used), info


def _thompson_select(state: ThompsonState, contexts, key, step, rows=None):
    """One draw theta_k ~ N(A_k^-1 b_k, v^2 A_k^-1) per arm from ``key`` (linucb.sample_scores),
    the argmax of c . theta_k: on the batch-mean context, or per prompt with ``per_prompt``."""
    del step
    if rows is None:
        rows = _laser_hint(state, 0)
    return _linear_pick(state, contexts, lambda c: linucb.sample_scores_jit(
        state.bandit, c, key, state.scale, rows=rows)), state


def _linear_prior(state, contexts, rewards):
    """An offline prior for laser / thompson: every arm learns every labelled context with its own
    reward (full information: contexts [N, d], rewards [N, K], e.g. each RM's answer scored against
    the gold on a calibration stream), A_k = lam I + sum c c^T, b_k = sum c r_k (through the
    normalisation, as any reward; a NaN reward is skipped)."""
    contexts = jnp.asarray(contexts, jnp.float32)
    rewards = jnp.asarray(rewards, jnp.float32)
    n, k = rewards.shape
    arms = jnp.repeat(jnp.arange(k, dtype=jnp.int32), n)  # arm-major: arm 0's N contexts, then arm 1's
    bandit, _ = linucb.update_many(state.bandit, arms, jnp.tile(contexts, (k, 1)), rewards.T.reshape(-1))
    return state.replace(bandit=bandit)


def _thompson_exploit(state: ThompsonState, contexts):
    """Frozen routing: the posterior mean's argmax (a sampler that learns nothing more gains
    nothing from sampling)."""
    return _linear_pick(state, contexts, lambda c: linucb.mean_and_width(state.bandit, c)[0])


@sel.register("laser", select=_laser_select, update=_laser_update, needs_context=True,
              args=(ALPHA, LAM, HISTORY, PER_PROMPT, MAX_PULLS), hint=_laser_hint, prior=_linear_prior)
def _laser_init(key, num_arms, dim, *, alpha, lam, history_size, per_prompt,
                max_pulls, normalise):
    del key
    return LaserState(
        counts=sel.zeros_counts(num_arms),
        bandit=_linear_bandit("laser", num_arms, dim, lam, history_size, max_pulls, normalise),
        alpha=jnp.asarray(alpha, jnp.float32),
        per_prompt=bool(per_prompt),
    )


@sel.register("thompson", select=_thompson_select, update=_laser_update, needs_context=True,
              args=(SCALE, LAM, HISTORY, PER_PROMPT, MAX_PULLS), hint=_laser_hint,
              exploit=_thompson_exploit, prior=_linear_prior)
def _thompson_init(key, num_arms, dim, *, posterior_scale, lam, history_size,
                   per_prompt, max_pulls, normalise):
    del key
    return ThompsonState(
        counts=sel.zeros_counts(num_arms),
        bandit=_linear_bandit("thompson", num_arms, dim, lam, history_size, max_pulls,
                              normalise),
        scale=jnp.asarray(posterior_scale, jnp.float32),
        per_prompt=bool(per_prompt),
    )
