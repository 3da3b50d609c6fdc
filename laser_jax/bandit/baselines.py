"""The selectors that do not learn: ``fixed`` (one RM: the single-RM and best-RM baselines),
``random``, ``sequential``, the score ``ensemble`` and the ``agreement`` ensemble (selector.py's
docstring defines them)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from laser_jax.bandit import selector as sel
from laser_jax.bandit.selector import ARM, CountsState
from laser_jax.errors import ConfigError


@struct.dataclass
class FixedState:
    counts: jax.Array
    arm: jax.Array  # int32 scalar


def _fixed_select(state: FixedState, contexts, key, step):
    del key, step
    return sel.one_hot_batch(state.arm, sel.batch_size(contexts), state.counts.shape[0]), state


@sel.register("fixed", select=_fixed_select, update=sel.stateless_update, args=(ARM,))
def _fixed_init(key, num_arms, dim, *, arm=sel.REQUIRED):
    del key, dim
    counts = sel.zeros_counts(num_arms)
    if arm is sel.REQUIRED:
        raise ConfigError("selector 'fixed' needs hparam arm=<index of the reward model to use> "
                          f"(selector_args.arm), an int in [0, {num_arms}).")
    if not ARM.check(arm, num_arms):
        raise ConfigError(f"selector 'fixed': arm must be an int in [0, {num_arms}) (selector_args.arm: "
                          f"the index of one of the {num_arms} reward models), got {arm!r}.")
    return FixedState(counts=counts, arm=jnp.asarray(arm, jnp.int32))


def _random_select(state: CountsState, contexts, key, step):
    del step
    k = state.counts.shape[0]
    arm = jax.random.randint(key, (), 0, k, dtype=jnp.int32)
    return sel.one_hot_batch(arm, sel.batch_size(contexts), k), state


def _sequential_select(state: CountsState, contexts, key, step):
    del key
    k = state.counts.shape[0]
    arm = jnp.asarray(step, jnp.int32) % k
    return sel.one_hot_batch(arm, sel.batch_size(contexts), k), state


def _ensemble_select(state: CountsState, contexts, key, step):
    del key, step
    k = state.counts.shape[0]
    return jnp.full((sel.batch_size(contexts), k), 1.0 / k, jnp.float32), state


@sel.register("random", select=_random_select, update=sel.stateless_update)
def _random_init(key, num_arms, dim):
    del key, dim
    return CountsState(counts=sel.zeros_counts(num_arms))


@sel.register("sequential", select=_sequential_select, update=sel.stateless_update)
def _sequential_init(key, num_arms, dim):
    return _random_init(key, num_arms, dim)


@sel.register("ensemble", select=_ensemble_select, update=sel.stateless_update)
def _ensemble_init(key, num_arms, dim):
    return _random_init(key, num_arms, dim)


@sel.register("agreement", select=_ensemble_select, update=sel.stateless_update, combine="majority")
def _agreement_init(key, num_arms, dim):
    return _random_init(key, num_arms, dim)
