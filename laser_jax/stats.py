"""Percentile-bootstrap intervals shared by the best-of-n replay, the comparison's seeds and the
judge's win rates: the mean of per-item values (queries, test questions, prompts) resampled with
replacement, seeded, so an interval says how much the figure would move on another draw of items
like these; a paired comparison resamples the same items for both sides.
"""

from __future__ import annotations

import numpy as np


def _resample_indices(items: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, items] item indices drawn with replacement, seeded."""
    return np.random.default_rng(seed).integers(0, items, size=(resamples, items))


def resampled_means(values: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Means of ``values`` [Q] over ``resamples`` seeded resamplings of the queries."""
    values = np.asarray(values, np.float64)
    return values[_resample_indices(len(values), resamples, seed)].mean(axis=1)


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


def bootstrap_ratio_ci(numer: np.ndarray, denom: np.ndarray, *, resamples: int = 2000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of sum(numer) / sum(denom) over items [Q] (e.g. a query's
    hits and its pairs): each resample draws the items with replacement and takes the ratio of
    its sums; a resample whose denominator is 0 is left out (NaN interval if every one is)."""
    numer, denom = np.asarray(numer, np.float64), np.asarray(denom, np.float64)
    idx = _resample_indices(len(numer), resamples, seed)
    num, den = numer[idx].sum(axis=1), denom[idx].sum(axis=1)
    ratio = num[den > 0] / den[den > 0]
    if not len(ratio):
        return float("nan"), float("nan")
    lo, hi = np.quantile(ratio, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
