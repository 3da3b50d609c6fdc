"""Bandits that pick the reward model: LinUCB (LASeR), Exp3, and the baseline selectors."""

from laser_jax.bandit import exp3, linucb, normalise
from laser_jax.bandit.normalise import RewardHistory
from laser_jax.bandit.selectors import (
    REGISTRY,
    Selector,
    arm_counts,
    chosen_arms,
    make_selector,
)

__all__ = [
    "REGISTRY",
    "RewardHistory",
    "Selector",
    "arm_counts",
    "chosen_arms",
    "exp3",
    "linucb",
    "make_selector",
    "normalise",
]
