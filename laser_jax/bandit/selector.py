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

This module holds the interface, the registry (each implementation registers itself with
`register`: linear.py laser and thompson, baselines.py fixed / random / sequential / ensemble /
agreement, exp3.py exp3, hedge.py online_ensemble), the argument table (`Arg`: the one home of
each argument's default and check) and state growth.

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
              preferred response (bandit/combine.majority_pairs). Best-of-n: the answer is the
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
import types
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from flax import struct

from laser_jax.bandit import normalise as norm
from laser_jax.errors import ConfigError, is_int, is_number

REQUIRED = inspect.Parameter.empty  # an init keyword without default (an `Arg` with required=True)


# ----------------------------------------------------------------------------- helpers


def chosen_arms(weights: jax.Array) -> jax.Array:
    """Argmax arm per prompt, [B] int32 (ties: lowest index)."""
    return jnp.argmax(weights, axis=-1).astype(jnp.int32)


def arm_counts(weights: jax.Array) -> jax.Array:
    """[K] int32: for each arm, the number of prompts it scores (weight > 0)."""
    return jnp.sum(weights > 0, axis=0).astype(jnp.int32)


def batch_size(contexts: jax.Array) -> int:
    if jnp.ndim(contexts) != 2:
        raise ValueError(f"contexts must be [B, d] (pass jnp.zeros((B, 0)) to a selector that "
                         f"needs no context), got shape {jnp.shape(contexts)}.")
    return contexts.shape[0]


def one_hot_batch(arm: jax.Array, batch: int, num_arms: int) -> jax.Array:
    """Same arm for every prompt: [B, K] float32."""
    return jnp.broadcast_to(jax.nn.one_hot(arm, num_arms, dtype=jnp.float32), (batch, num_arms))


def check_weights(weights: jax.Array, contexts: jax.Array, num_arms: int) -> None:
    b = batch_size(contexts)
    if weights.shape != (b, num_arms):
        raise ValueError(f"weights must be [B={b}, K={num_arms}] as returned by select, got "
                         f"{weights.shape}.")


def scalar_reward(raw_reward, name: str) -> jax.Array:
    raw = jnp.asarray(raw_reward, jnp.float32)
    if raw.shape != ():
        raise ValueError(f"selector {name!r} selects per batch and needs one scalar raw_reward "
                         f"(-(batch training loss)), got shape {raw.shape}.")
    return raw


def stateless_update(state, weights, contexts, raw_reward, agreement=None):
    """For selectors that do not learn: counts += arm_counts(weights)."""
    del agreement
    check_weights(weights, contexts, state.counts.shape[0])
    used = arm_counts(weights)
    info = {"raw_reward": jnp.asarray(raw_reward, jnp.float32), "arm_counts": used}
    return state.replace(counts=state.counts + used), info


def zeros_counts(num_arms: int) -> jax.Array:
    if not is_int(num_arms, 1):
        raise ValueError(f"num_arms must be a positive int (the number of reward models), "
                         f"got {num_arms!r}.")
    return jnp.zeros((int(num_arms),), jnp.int32)


@struct.dataclass
class CountsState:
    """State of a selector that does not learn: counts [K] int32 prompts scored per arm."""

    counts: jax.Array


# ----------------------------------------------------------------------------- arguments


@dataclasses.dataclass(frozen=True)
class Arg:
    """One selector argument as the config's ``selector_args.<name>`` gives it: its default, the
    rule a value must meet (given the number of RMs K) and how the rule reads in an error."""

    name: str
    default: Any
    check: Callable[[Any, int], bool]  # (value, num_arms) -> valid
    need: str
    to_hparam: Callable[[Any], Any] = lambda v: v  # config value -> the selector's hparam
    required: bool = False  # the hparam has no default (fixed's arm); the config's default still applies

    def hparam_default(self):
        return self.to_hparam(self.default)


ALPHA = Arg("alpha", 0.1, lambda v, k: is_number(v, 0), "a finite number >= 0 (LinUCB's exploration weight)")
LAM = Arg("lam", 1.0, lambda v, k: is_number(v, 0, low_open=True), "a finite number > 0 (A = lam * I at the start)")
HISTORY = Arg("history_size", 1024, lambda v, k: is_int(v, 1), "an integer >= 1 (raw rewards kept for the "
              "quantile normalisation)")
PER_PROMPT = Arg("per_prompt", False, lambda v, k: isinstance(v, bool), "true or false")
MAX_PULLS = Arg("max_pulls", -1, lambda v, k: is_int(v, -1), "-1 (automatic), 0 (dense) or a positive "
                "integer (low-rank, at most that many basis directions per arm)",
                lambda v: None if v == -1 else v)
SCALE = Arg("posterior_scale", 0.1, lambda v, k: is_number(v, 0), "a finite number >= 0 (Thompson "
            "sampling's v: theta ~ N(A^-1 b, v^2 A^-1))")
ETA = Arg("eta", 0.5, lambda v, k: is_number(v, 0, low_open=True), "a finite number > 0 (Hedge's learning rate)")
ARM = Arg("arm", 0, lambda v, k: is_int(v, 0, k - 1), "an integer in [0, number of reward models)",
          required=True)
GAMMA = Arg("gamma", 0.1, lambda v, k: is_number(v, 0, 1, low_open=True), "a number in (0, 1] (Exp3's exploration)")
# Not a selector_args field: the config's bandit.normalise; the default of every selector whose init
# takes ``normalise`` (laser, thompson, exp3, online_ensemble).
NORMALISE = Arg("normalise", "quantile", lambda v, k: v in norm.RULES, f"one of {norm.RULES}")


# ----------------------------------------------------------------------------- interface


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
    # strict majority of the RMs order alike, bandit/combine.majority_pairs; best-of-n answers
    # with the response most RMs rank first, bandit/combine.combine_answers).
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
            raise ConfigError(f"selector {self.name!r} got unknown hparam(s) {unknown}; "
                              f"valid hparams: {valid}.")

    def bind(self, **hparams) -> "Selector":
        """A copy with ``hparams`` bound (merged over those already bound)."""
        self.check_hparams(hparams)
        merged = types.MappingProxyType({**self.hparams, **hparams})
        return dataclasses.replace(self, hparams=merged)

    def init(self, key: jax.Array, num_arms: int, dim: int, **hparams):
        """Initial state for ``num_arms`` RMs and contexts of dimension ``dim``."""
        self.check_hparams(hparams)
        defaults = {a.name: a.hparam_default() for a in self.args if not a.required}
        if "normalise" in self.valid_hparams:
            defaults["normalise"] = NORMALISE.hparam_default()
        return self.init_fn(key, num_arms, dim, **{**defaults, **self.hparams, **hparams})

    @property
    def per_prompt(self) -> bool:
        """One RM per prompt (per-prompt rewards) rather than one per batch."""
        return bool(self.hparams.get("per_prompt", False))

    @property
    def majority(self) -> bool:
        """The used RMs' scores are combined by majority vote (``combine == "majority"``)."""
        return self.combine == "majority"


_REGISTRY: dict[str, Selector] = {}  # filled once, at import, by `register` on each implementation
REGISTRY: Mapping[str, Selector] = types.MappingProxyType(_REGISTRY)


def register(name: str, *, select, update, needs_context: bool = False, args: tuple[Arg, ...] = (),
             **options):
    """Decorator on a selector's init function: registers ``Selector(name, ...)`` with it (options:
    the other `Selector` fields: hint, exploit, combine, prior, needs_agreement)."""
    def wrap(init_fn):
        if name in _REGISTRY:
            raise ValueError(f"selector {name!r} is registered twice")
        _REGISTRY[name] = Selector(name, needs_context, init_fn, select, update, tuple(args), **options)
        return init_fn
    return wrap


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
    """The registered selector ``name`` with ``hparams`` bound; ConfigError on an unknown name or hparam."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown selector {name!r}; valid selectors: "
                          f"{', '.join(sorted(REGISTRY))}.")
    return REGISTRY[name].bind(**hparams)
