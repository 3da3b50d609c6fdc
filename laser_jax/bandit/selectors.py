"""The old home of the selectors, kept because training/validation.py, best_of_n/run.py, config.py
and the training loop still import from it: the interface, registry and argument table are in
selector.py; the implementations in linear.py, baselines.py, exp3.py and hedge.py."""

from laser_jax.bandit import baselines, exp3, hedge, linear  # noqa: F401  (each registers its selectors)
from laser_jax.bandit.linear import DENSE_MAX_DIM
from laser_jax.bandit.selector import (
    REGISTRY,
    Arg,
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

__all__ = ["DENSE_MAX_DIM", "REGISTRY", "Arg", "Selector", "arm_counts", "check_args", "chosen_arms",
           "default_args", "grow_state", "hparams_from_args", "make_selector", "selector_arms"]
