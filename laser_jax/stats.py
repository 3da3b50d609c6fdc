"""Percentile-bootstrap intervals shared by the best-of-n replay, the comparison's seeds and the
judge's win rates: the mean of per-item values (queries, test questions, prompts) resampled with
replacement, seeded, so an interval says how much the figure would move on another draw of items
like these; a paired comparison resamples the same items for both sides.
"""

from __future__ import annotations

import numpy as np


def resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``values`` [Q] over ``resamples`` seeded resamplings of the queries."""
    values = np.asarray(values, np.float64)
    idx = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    return values[idx].mean(axis=1)


def bootstrap_ci(values: np.ndarray, *, resamples: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` [Q]."""
    lo, hi = np.quantile(resampled_means(values, resamples, seed), [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def difference_interval(diff: np.ndarray, *, resamples: int = 2000,
                        seed: int = 0) -> tuple[float, list[float], float]:
    """(mean, [lo, hi] percentile-bootstrap 95 % interval, share of resamples above 0) of paired
    per-query differences ``diff`` [Q]."""
    means = resampled_means(diff, resamples, seed)
    lo, hi = np.quantile(means, [0.025, 0.975])
    return float(np.mean(diff)), [float(lo), float(hi)], float((means > 0).mean())
