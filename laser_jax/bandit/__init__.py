"""Bandits that pick the reward model: LinUCB (LASeR), Exp3, and the baseline selectors.

The selector interface and registry are in selector.py; importing this package registers every
selector (linear.py, baselines.py, exp3.py, hedge.py, in the order of ``REGISTRY``)."""

from laser_jax.bandit import selector  # noqa: I001  (first: the registry the implementations fill)
from laser_jax.bandit import linear, baselines, exp3, hedge  # noqa: I001  (registration order)
from laser_jax.bandit import linucb, normalise
from laser_jax.bandit.normalise import RewardHistory
from laser_jax.bandit.selector import (
    REGISTRY,
    Selector,
    arm_counts,
    check_args,
    chosen_arms,
    default_args,
    grow_state,
    hparams_from_args,
    make_selector,
    selector_arms,
)

__all__ = [
    "REGISTRY",
    "RewardHistory",
    "Selector",
    "arm_counts",
    "baselines",
    "check_args",
    "chosen_arms",
    "default_args",
    "exp3",
    "grow_state",
    "hedge",
    "hparams_from_args",
    "linear",
    "linucb",
    "make_selector",
    "normalise",
    "selector",
]
