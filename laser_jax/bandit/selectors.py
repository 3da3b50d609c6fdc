"""Reward-model selectors: the config's ``selector``, all behind one interface.

A selector decides, for each batch of B prompts, which of the K reward models (arms) score the
responses. Every selector is a `Selector` with

    state = sel.init(key, num_arms, dim, **hparams)                  # pytree
    weights, state = sel.select(state, contexts, key, step)          # weights [B, K] float32
    state, info = sel.update(state, weights, contexts, raw_reward, agreement)  # after training on it

``weights[b]`` is prompt b's weighting of the arms: one-hot for a single chosen RM, 1/K everywhere
for the score ensemble. The training loop scores responses only with arms of nonzero weight and
combines per-RM standardised scores with these weights. ``contexts`` [B, d] are the policy's
final hidden states at each prompt's last token; selectors with ``needs_context=False`` read only
``contexts.shape[0]`` (pass ``jnp.zeros((B, 0))`` to skip computing them). ``raw_reward`` is the
bandit reward -(training loss): a scalar for per-batch selection, [B] for per-prompt selection.
``agreement`` [K] (or None) is each RM's agreement with what was trained (training/feedback.py,
best_of_n/replay.py); only ``online_ensemble`` reads it (``needs_agreement``).
``select`` and ``update`` are jittable (``step`` may be traced); hyperparameters live in the
state (traced ones as leaves, shape-deciding ones as static fields).

Selectors (``REGISTRY``; build one with ``make_selector(name, **hparams)``):
  laser       LinUCB on the batch-mean context, one RM for the whole batch (the paper).
              hparams: alpha=0.1, lam=1.0, history_size=1024, per_prompt=False, max_pulls=None,
              normalise="quantile" (bandit/normalise.py: "quantile", "none" or "window"; the
              config's ``bandit.normalise``, not a selector_args field).
              per_prompt=True picks one RM per prompt from its own context and updates with
              per-prompt rewards (an option beyond the paper). max_pulls picks the state (see
              linucb.py; both are square-root forms, float32-exact against a float64 LinUCB):
              0 = dense R_k [K, d, d]; m in [1, d] = low-rank, the factors in the coordinates of
              an orthonormal basis of each arm's contexts with at most m rows (exact while an
              arm's contexts span <= m directions; m = d is exact always), O(n d) per step while
              the bases hold n directions; None (default) = dense when d <= 1024 (~14 ms a step
              at K=4), else low-rank with m = d (d=4096, K=4, 2-core CPU: a few ms per
              select+update while arms hold tens of pulls, ~80 ms at ~1000; dense there ~56 ms;
              bench/bench_linucb.py). The low-rank state reads its rows in static buckets that
              ``Selector.jitted`` picks on the host before each jitted call (``hint``).
  thompson    linear Thompson sampling (beyond the paper; the 2025 follow-up BayesianRouter,
              arXiv 2510.02850, reports it beating LASeR): LinUCB's state and update, but the
              pick is argmax_k c . theta_k of one draw theta_k ~ N(A_k^-1 b_k, v^2 A_k^-1) per arm
              from the step's key (linucb.sample_scores: exact through the square-root factor).
              hparams: posterior_scale=0.1 (v), lam, history_size, per_prompt, max_pulls,
              normalise as laser. Every arm starts at A = lam I, b = 0, or from an offline prior
              (``Selector.prior``, laser too: every arm learns every labelled calibration context
              with its own reward; best-of-n's laser_prior / thompson_prior).
              Frozen (``exploit``, best-of-n test queries under the gold reward): the posterior
              mean's argmax.
  fixed       always RM ``arm`` (required hparam): the single-RM and "best RM" baselines.
  random      one uniformly random RM per batch, drawn from ``key``.
  sequential  RM ``step mod K``: cycles through the RMs.
  ensemble    RM score ensemble: every RM scores every response, uniform weights 1/K; no learning.
  exp3        Exp3 (no context), one RM per batch; hparams: gamma=0.1, history_size=1024,
              normalise="quantile".

  agreement   RM agreement ensemble (the v2 paper's baseline; our definition, its text not at
              hand): every RM scores every response (weights 1/K). Training: the candidate pairs
              are built from the summed standardised scores as for ``ensemble``; a pair is kept
              only when a strict majority of all K RMs (> K/2; a tie or a missing score is no
              vote) order its two responses the same way, and chosen is the majority's
              preferred response (training/pairs.majority_pairs). Best-of-n: the answer is the
              response most RMs rank first (each RM votes for its top response(s)), ties by the
              summed standardised score. No learning.

  online_ensemble
              the v2 paper's online ensemble, Hedge (our definition, its text not at hand): every
              RM scores every response; the weights are w = softmax(L), one per RM, the same for
              every prompt (a score ensemble with learned instead of 1/K weights), L = eta times
              each RM's summed gains. After a step with normalised reward r' in [0, 1], RM k
              gains g_k = a_k r' + (1 - a_k)(1 - r'), a_k in [0, 1] its agreement with what was
              trained (``agreement``; no vote: a_k = 1/2): an RM that agreed with a step that went
              well, or disagreed with one that went badly, gains; L_k += eta g_k (r' clipped to
              [0, 1]: normalise="none" only suits a reward already in [0, 1], e.g. a gold
              metric). Hedge's weights converge on the single RM with the largest summed gain.
              hparams: eta=0.5, history_size, normalise as laser.

Helpers: ``chosen_arms(weights)`` (argmax per prompt; meaningless for the ensemble, where every
arm is used) and ``arm_counts(weights)`` (per arm, the number of prompts it scores).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import types
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from laser_jax.bandit import exp3 as exp3_lib
from laser_jax.bandit import linucb
from laser_jax.bandit import normalise as norm

_REQUIRED = inspect.Parameter.empty


# ----------------------------------------------------------------------------- helpers


def chosen_arms(weights: jax.Array) -> jax.Array:
    """Argmax arm per prompt, [B] int32 (ties: lowest index)."""
    return jnp.argmax(weights, axis=-1).astype(jnp.int32)


def arm_counts(weights: jax.Array) -> jax.Array:
    """[K] int32: for each arm, the number of prompts it scores (weight > 0)."""
    return jnp.sum(weights > 0, axis=0).astype(jnp.int32)


def _batch_size(contexts: jax.Array) -> int:
    if jnp.ndim(contexts) != 2:
        raise ValueError(f"contexts must be [B, d] (pass jnp.zeros((B, 0)) to a selector that "
                         f"needs no context), got shape {jnp.shape(contexts)}.")
    return contexts.shape[0]


def _one_hot_batch(arm: jax.Array, batch: int, num_arms: int) -> jax.Array:
    """Same arm for every prompt: [B, K] float32."""
    return jnp.broadcast_to(jax.nn.one_hot(arm, num_arms, dtype=jnp.float32), (batch, num_arms))


def _check_weights(weights: jax.Array, contexts: jax.Array, num_arms: int) -> None:
    b = _batch_size(contexts)
    if weights.shape != (b, num_arms):
        raise ValueError(f"weights must be [B={b}, K={num_arms}] as returned by select, got "
                         f"{weights.shape}.")


def _scalar_reward(raw_reward, name: str) -> jax.Array:
    raw = jnp.asarray(raw_reward, jnp.float32)
    if raw.shape != ():
        raise ValueError(f"selector {name!r} selects per batch and needs one scalar raw_reward "
                         f"(-(batch training loss)), got shape {raw.shape}.")
    return raw


def _stateless_update(state, weights, contexts, raw_reward, agreement=None):
    """For selectors that do not learn: counts += arm_counts(weights)."""
    del agreement
    _check_weights(weights, contexts, state.counts.shape[0])
    used = arm_counts(weights)
    info = {"raw_reward": jnp.asarray(raw_reward, jnp.float32), "arm_counts": used}
    return state.replace(counts=state.counts + used), info


# ----------------------------------------------------------------------------- states


@struct.dataclass
class CountsState:
    """State of a selector that does not learn: counts [K] int32 prompts scored per arm."""

    counts: jax.Array


@struct.dataclass
class FixedState:
    counts: jax.Array
    arm: jax.Array  # int32 scalar


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


@struct.dataclass
class Exp3SelectorState:
    counts: jax.Array
    bandit: exp3_lib.Exp3State
    gamma: jax.Array  # float32 scalar, traced
    last_probs: jax.Array  # [K], the distribution the current arm was drawn from


def _zeros_counts(num_arms: int) -> jax.Array:
    if isinstance(num_arms, bool) or not isinstance(num_arms, (int, np.integer)) or num_arms < 1:
        raise ValueError(f"num_arms must be a positive int (the number of reward models), "
                         f"got {num_arms!r}.")
    return jnp.zeros((int(num_arms),), jnp.int32)


# ----------------------------------------------------------------------------- laser


# laser's default max_pulls=None: dense up to this context dimension, low-rank above it.
DENSE_MAX_DIM = 1024


def _linear_bandit(name, num_arms, dim, lam, history_size, max_pulls, normalise):
    """The LinUCB state laser and thompson share (linucb.py): dense or low-rank by max_pulls."""
    if max_pulls is None:
        max_pulls = 0 if dim <= DENSE_MAX_DIM else linucb.default_max_pulls(dim)
    if (isinstance(max_pulls, bool) or not isinstance(max_pulls, (int, np.integer))
            or not 0 <= max_pulls <= dim):
        raise ValueError(f"selector {name!r}: max_pulls must be None (automatic), 0 (dense) "
                         f"or an int in [1, dim={dim}] (low-rank basis rows), got {max_pulls!r}.")
    if max_pulls == 0:
        return linucb.init(num_arms, dim, lam=lam, history_size=history_size, normalise=normalise)
    return linucb.init_lowrank(num_arms, dim, lam=lam, history_size=history_size,
                               max_pulls=int(max_pulls), normalise=normalise)


def _laser_init(key, num_arms, dim, *, alpha=0.1, lam=1.0, history_size=1024, per_prompt=False,
                max_pulls=None, normalise="quantile"):
    del key
    return LaserState(
        counts=_zeros_counts(num_arms),
        bandit=_linear_bandit("laser", num_arms, dim, lam, history_size, max_pulls, normalise),
        alpha=jnp.asarray(alpha, jnp.float32),
        per_prompt=bool(per_prompt),
    )


def _laser_hint(state, new: int):
    """The static ``rows`` of a low-rank bandit (linucb.rows_hint), read on the host before a
    jitted call; None for a dense bandit."""
    return linucb.rows_hint(state.bandit, new)


def _linear_pick(state, contexts, scores_of):
    """Weights [B, K] from a linear bandit's per-arm scores (``scores_of(c)``: [K] for c [d],
    [B, K] for [B, d]): per prompt from its own context with ``per_prompt``, else one RM for the
    whole batch from the batch-mean context. Ties go to the lowest arm."""
    contexts = jnp.asarray(contexts, jnp.float32)
    b, k = _batch_size(contexts), state.bandit.num_arms
    if state.per_prompt:
        return jax.nn.one_hot(jnp.argmax(scores_of(contexts), -1), k, dtype=jnp.float32)
    return _one_hot_batch(jnp.argmax(scores_of(jnp.mean(contexts, axis=0))).astype(jnp.int32), b, k)


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
    _check_weights(weights, contexts, state.bandit.num_arms)
    arms = chosen_arms(weights)
    if state.per_prompt:
        raw = jnp.asarray(raw_reward, jnp.float32)
        if raw.shape != (contexts.shape[0],):
            raise ValueError(f"selector 'laser' with per_prompt=True needs one raw_reward per "
                             f"prompt, shape [{contexts.shape[0]}], got {raw.shape}.")
        rows = _laser_hint(state, contexts.shape[0]) if rows is None else rows
        bandit, info = linucb.update_many_jit(state.bandit, arms, contexts, raw, rows=rows)
    else:
        raw = _scalar_reward(raw_reward, "laser")
        rows = _laser_hint(state, 1) if rows is None else rows
        bandit, info = linucb.update_jit(state.bandit, arms[0], jnp.mean(contexts, axis=0), raw,
                                         rows=rows)
    used = arm_counts(weights)
    info = dict(info, arm_counts=used)
    return state.replace(bandit=bandit, counts=state.counts + used), info


# ----------------------------------------------------------------------------- thompson


def _thompson_init(key, num_arms, dim, *, posterior_scale=0.1, lam=1.0, history_size=1024,
                   per_prompt=False, max_pulls=None, normalise="quantile"):
    del key
    return ThompsonState(
        counts=_zeros_counts(num_arms),
        bandit=_linear_bandit("thompson", num_arms, dim, lam, history_size, max_pulls,
                              normalise),
        scale=jnp.asarray(posterior_scale, jnp.float32),
        per_prompt=bool(per_prompt),
    )


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


# ----------------------------------------------------------------------------- baselines


def _fixed_init(key, num_arms, dim, *, arm=_REQUIRED):
    del key, dim
    counts = _zeros_counts(num_arms)
    if arm is _REQUIRED:
        raise ValueError("selector 'fixed' needs hparam arm=<index of the reward model to use>, "
                         f"an int in [0, {num_arms}).")
    if isinstance(arm, bool) or not isinstance(arm, (int, np.integer)) or not 0 <= arm < num_arms:
        raise ValueError(f"selector 'fixed': arm must be an int in [0, {num_arms}) (num_arms="
                         f"{num_arms}), got {arm!r}.")
    return FixedState(counts=counts, arm=jnp.asarray(arm, jnp.int32))


def _fixed_select(state: FixedState, contexts, key, step):
    del key, step
    return _one_hot_batch(state.arm, _batch_size(contexts), state.counts.shape[0]), state


def _counts_init(key, num_arms, dim):
    del key, dim
    return CountsState(counts=_zeros_counts(num_arms))


def _random_select(state: CountsState, contexts, key, step):
    del step
    k = state.counts.shape[0]
    arm = jax.random.randint(key, (), 0, k, dtype=jnp.int32)
    return _one_hot_batch(arm, _batch_size(contexts), k), state


def _sequential_select(state: CountsState, contexts, key, step):
    del key
    k = state.counts.shape[0]
    arm = jnp.asarray(step, jnp.int32) % k
    return _one_hot_batch(arm, _batch_size(contexts), k), state


def _ensemble_select(state: CountsState, contexts, key, step):
    del key, step
    k = state.counts.shape[0]
    return jnp.full((_batch_size(contexts), k), 1.0 / k, jnp.float32), state


# ----------------------------------------------------------------------------- exp3


def _exp3_init(key, num_arms, dim, *, gamma=0.1, history_size=1024, normalise="quantile"):
    del key, dim
    if not 0.0 < float(gamma) <= 1.0:
        raise ValueError(f"selector 'exp3': gamma (exploration rate) must be in (0, 1], "
                         f"got {gamma!r}.")
    bandit = exp3_lib.init(num_arms, history_size=history_size, normalise=normalise)
    g = jnp.asarray(gamma, jnp.float32)
    return Exp3SelectorState(counts=_zeros_counts(num_arms), bandit=bandit, gamma=g,
                             last_probs=exp3_lib.probs(bandit, g))


def _exp3_select(state: Exp3SelectorState, contexts, key, step):
    del step
    arm, p = exp3_lib.select(state.bandit, key, state.gamma)
    weights = _one_hot_batch(arm, _batch_size(contexts), state.bandit.num_arms)
    return weights, state.replace(last_probs=p)


def _exp3_update(state: Exp3SelectorState, weights, contexts, raw_reward, agreement=None):
    del agreement
    _check_weights(weights, contexts, state.bandit.num_arms)
    raw = _scalar_reward(raw_reward, "exp3")
    arm = chosen_arms(weights)[0]
    bandit, info = exp3_lib.update(state.bandit, arm, raw, state.gamma, state.last_probs)
    used = arm_counts(weights)
    info = dict(info, arm_counts=used)
    return state.replace(bandit=bandit, counts=state.counts + used), info


# ----------------------------------------------------------------------------- online ensemble


@struct.dataclass
class HedgeState:
    counts: jax.Array
    log_weights: jax.Array  # [K] float32: eta * summed gains, shifted so that the largest is 0
    history: norm.RewardHistory
    eta: jax.Array  # float32 scalar, traced


def _hedge_init(key, num_arms, dim, *, eta=0.5, history_size=1024, normalise="quantile"):
    del key, dim
    counts = _zeros_counts(num_arms)
    return HedgeState(counts=counts, log_weights=jnp.zeros(counts.shape, jnp.float32),
                      history=norm.init_history(history_size, rule=normalise),
                      eta=jnp.asarray(eta, jnp.float32))


def _hedge_select(state: HedgeState, contexts, key, step):
    del key, step
    w = jax.nn.softmax(state.log_weights)
    return jnp.broadcast_to(w, (_batch_size(contexts), w.shape[0])), state


def _hedge_update(state: HedgeState, weights, contexts, raw_reward, agreement=None):
    """Hedge on the RMs' gains (module docstring): L_k += eta (a_k r' + (1 - a_k)(1 - r')). A
    non-finite r' (a diverged loss) changes nothing."""
    k = state.counts.shape[0]
    _check_weights(weights, contexts, k)
    if agreement is None:
        raise ValueError("selector 'online_ensemble' learns from each RM's agreement with what was "
                         "trained: pass agreement [K] to update (training/feedback.rm_agreement)")
    a = jnp.asarray(agreement, jnp.float32)
    if a.shape != (k,):
        raise ValueError(f"selector 'online_ensemble': agreement must be [K={k}], got {a.shape}")
    raw = _scalar_reward(raw_reward, "online_ensemble")
    history, r = norm.push_and_normalise(state.history, raw)
    a = jnp.where(jnp.isfinite(a), jnp.clip(a, 0.0, 1.0), 0.5)
    ok = jnp.isfinite(r)
    r = jnp.clip(r, 0.0, 1.0)  # a gain needs r' in [0, 1]: normalise="none" is for rewards already there
    gain = a * r + (1.0 - a) * (1.0 - r)
    log_w = state.log_weights + jnp.where(ok, state.eta * gain, 0.0)
    used = arm_counts(weights)
    info = {"raw_reward": raw, "norm_reward": r, "gain": jnp.where(ok, gain, jnp.nan), "arm_counts": used}
    return state.replace(counts=state.counts + used, log_weights=log_w - jnp.max(log_w),
                         history=history), info


# ----------------------------------------------------------------------------- interface


# ----------------------------------------------------------------------------- arguments


def _real(check):
    return lambda v, k: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(v) and check(v)


def _int(check):
    return lambda v, k: isinstance(v, (int, np.integer)) and not isinstance(v, bool) and check(v, k)


@dataclasses.dataclass(frozen=True)
class Arg:
    """One selector argument as the config's ``selector_args.<name>`` gives it: its default, the
    rule a value must meet (given the number of RMs K) and how the rule reads in an error."""

    name: str
    default: Any
    check: Callable[[Any, int], bool]  # (value, num_arms) -> valid
    need: str
    to_hparam: Callable[[Any], Any] = lambda v: v  # config value -> the selector's hparam


ALPHA = Arg("alpha", 0.1, _real(lambda v: v >= 0), "a finite number >= 0 (LinUCB's exploration weight)")
LAM = Arg("lam", 1.0, _real(lambda v: v > 0), "a finite number > 0 (A = lam * I at the start)")
HISTORY = Arg("history_size", 1024, _int(lambda v, k: v >= 1), "an integer >= 1 (raw rewards kept for the "
              "quantile normalisation)")
PER_PROMPT = Arg("per_prompt", False, lambda v, k: isinstance(v, bool), "true or false")
MAX_PULLS = Arg("max_pulls", -1, _int(lambda v, k: v >= -1), "-1 (automatic), 0 (dense) or a positive "
                "integer (low-rank, at most that many basis directions per arm)",
                lambda v: None if v == -1 else v)
SCALE = Arg("posterior_scale", 0.1, _real(lambda v: v >= 0), "a finite number >= 0 (Thompson "
            "sampling's v: theta ~ N(A^-1 b, v^2 A^-1))")
ETA = Arg("eta", 0.5, _real(lambda v: v > 0), "a finite number > 0 (Hedge's learning rate)")
ARM = Arg("arm", 0, _int(lambda v, k: 0 <= v < k), "an integer in [0, number of reward models)")
GAMMA = Arg("gamma", 0.1, _real(lambda v: 0 < v <= 1), "a number in (0, 1] (Exp3's exploration)")


@dataclasses.dataclass(frozen=True, eq=False)
class Selector:
    """One selector: ``init``, ``select``, ``update`` (see the module docstring), and the
    arguments it takes from the config's ``selector_args`` (``args``).

    ``hparams`` are bound by `make_selector`; ``init(..., **hparams)`` may override them.
    """

    name: str
    needs_context: bool
    init_fn: Callable[..., Any]
    select: Callable[..., Any]
    update: Callable[..., Any]
    args: tuple[Arg, ...] = ()
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    # hint(state, new) -> a static ``rows`` keyword for select (new=0) and update (new=B), read
    # on the host from the concrete state before a jitted call (see `jitted`); None: no hint.
    hint: Callable[[Any, int], Any] | None = None
    # exploit(state, contexts) -> weights: the pick of a frozen selector (no more learning, e.g.
    # best-of-n's test queries under the gold reward); None: ``select`` (with its exploration).
    exploit: Callable[[Any, Any], Any] | None = None
    # How the used RMs' scores become a ranking: "weighted" (standardised scores times the
    # weights, summed) or "majority" (the agreement ensemble: training keeps only the pairs a
    # strict majority of the RMs order alike, training/pairs.majority_pairs; best-of-n answers
    # with the response most RMs rank first, best_of_n/replay.py).
    combine: str = "weighted"
    # prior(state, contexts [N, d], rewards [N, K]) -> state: a full-information warm start from a
    # labelled stream (every arm sees every context with its own reward); None: not available.
    prior: Callable[[Any, Any, Any], Any] | None = None
    # update reads ``agreement`` (each RM's agreement with what was trained): callers compute it
    # only for such a selector (None otherwise).
    needs_agreement: bool = False

    def jitted(self, **jit_kwargs):
        """(select, update) jitted with ``jit_kwargs`` (update also donates its state); a
        selector with a ``hint`` gets its static ``rows`` from the concrete state on each call."""
        select = jax.jit(self.select, static_argnames=("rows",) if self.hint else (), **jit_kwargs)
        update = jax.jit(self.update, donate_argnums=(0,),
                         static_argnames=("rows",) if self.hint else (), **jit_kwargs)
        if self.hint is None:
            return select, update
        hint = self.hint

        def select_hinted(state, contexts, key, step):
            return select(state, contexts, key, step, rows=hint(state, 0))

        def update_hinted(state, weights, contexts, raw_reward, agreement=None):
            return update(state, weights, contexts, raw_reward, agreement,
                          rows=hint(state, int(jnp.shape(contexts)[0])))

        return select_hinted, update_hinted

    @property
    def valid_hparams(self) -> tuple[str, ...]:
        params = inspect.signature(self.init_fn).parameters.values()
        return tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)

    def check_hparams(self, hparams: Mapping[str, Any]) -> None:
        unknown = sorted(set(hparams) - set(self.valid_hparams))
        if unknown:
            valid = ", ".join(self.valid_hparams) or "none"
            raise ValueError(f"selector {self.name!r} got unknown hparam(s) {unknown}; "
                             f"valid hparams: {valid}.")

    def bind(self, **hparams) -> "Selector":
        """A copy with ``hparams`` bound (merged over those already bound)."""
        self.check_hparams(hparams)
        merged = types.MappingProxyType({**self.hparams, **hparams})
        return dataclasses.replace(self, hparams=merged)

    def init(self, key: jax.Array, num_arms: int, dim: int, **hparams):
        """Initial state for ``num_arms`` RMs and contexts of dimension ``dim``."""
        self.check_hparams(hparams)
        return self.init_fn(key, num_arms, dim, **{**self.hparams, **hparams})


REGISTRY: Mapping[str, Selector] = types.MappingProxyType({
    "laser": Selector("laser", True, _laser_init, _laser_select, _laser_update,
                      (ALPHA, LAM, HISTORY, PER_PROMPT, MAX_PULLS), hint=_laser_hint, prior=_linear_prior),
    "thompson": Selector("thompson", True, _thompson_init, _thompson_select, _laser_update,
                         (SCALE, LAM, HISTORY, PER_PROMPT, MAX_PULLS), hint=_laser_hint,
                         exploit=_thompson_exploit, prior=_linear_prior),
    "fixed": Selector("fixed", False, _fixed_init, _fixed_select, _stateless_update, (ARM,)),
    "random": Selector("random", False, _counts_init, _random_select, _stateless_update),
    "sequential": Selector("sequential", False, _counts_init, _sequential_select,
                           _stateless_update),
    "ensemble": Selector("ensemble", False, _counts_init, _ensemble_select, _stateless_update),
    "agreement": Selector("agreement", False, _counts_init, _ensemble_select, _stateless_update,
                          combine="majority"),
    "exp3": Selector("exp3", False, _exp3_init, _exp3_select, _exp3_update,
                     (GAMMA, HISTORY)),
    "online_ensemble": Selector("online_ensemble", False, _hedge_init, _hedge_select, _hedge_update,
                                (ETA, HISTORY), needs_agreement=True),
})


def selector_arms(state) -> int:
    """The number of arms (reward models) of any selector's state (every state counts per arm)."""
    return int(state.counts.shape[0])


def grow_state(old, fresh):
    """``old`` (a selector's state over K arms) grown to the arms of ``fresh`` (the same selector
    initialised for K' > K arms): arm-indexed arrays keep the old arms' values in their first K
    rows and take the fresh arms' initial values after them (LinUCB / Thompson: A = lam I,
    b = 0; Exp3: its initial weight; counts 0); everything else (reward history, hparams) is
    the old state's. Used when a resumed run appends reward models."""
    k_old, k_new = selector_arms(old), selector_arms(fresh)
    if jax.tree.structure(old) != jax.tree.structure(fresh):
        raise ValueError("grow_state: the states differ in structure (another selector or hparams)")

    def leaf(o, f):
        o, f = jnp.asarray(o), jnp.asarray(f)
        if o.shape == f.shape:
            return o
        if o.ndim and o.shape[0] == k_old and f.shape[0] == k_new and o.shape[1:] == f.shape[1:]:
            return f.at[:k_old].set(o)
        raise ValueError(f"grow_state: cannot grow an array of shape {o.shape} to {f.shape}")

    return jax.tree.map(leaf, old, fresh)


def default_args() -> dict[str, Any]:
    """Every selector's arguments with their defaults: the config's ``selector_args``."""
    return {a.name: a.default for sel in REGISTRY.values() for a in sel.args}


def check_args(name: str, args: Mapping[str, Any], num_arms: int) -> list[str]:
    """Problems with ``selector=name`` and the ``selector_args`` it reads, each naming its field."""
    if name not in REGISTRY:
        return [f"selector={name!r} is not one of {sorted(REGISTRY)}"]
    problems = []
    for a in REGISTRY[name].args:
        value = args.get(a.name, a.default)
        if not a.check(value, num_arms):
            problems.append(f"selector_args.{a.name}={value!r} must be {a.need} (selector {name!r})")
    return problems


def hparams_from_args(name: str, args: Mapping[str, Any], normalise: str | None = None) -> dict[str, Any]:
    """The hparams selector ``name`` takes from the config's ``selector_args``, and ``normalise``
    (the config's ``bandit.normalise``) for a selector that normalises its reward."""
    hp = {a.name: a.to_hparam(args.get(a.name, a.default)) for a in REGISTRY[name].args}
    if normalise is not None and "normalise" in REGISTRY[name].valid_hparams:
        hp["normalise"] = normalise
    return hp


def make_selector(name: str, **hparams) -> Selector:
    """The registered selector ``name`` with ``hparams`` bound; ValueError on unknown names."""
    if name not in REGISTRY:
        raise ValueError(f"unknown selector {name!r}; valid selectors: "
                         f"{', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name].bind(**hparams)
