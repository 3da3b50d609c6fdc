"""Summaries of replayed methods: means with bootstrap intervals over queries (`laser_jax.stats`),
paired differences, per-family means and RM use.

Interval: each test query's metric is first averaged over the replay orders (the orders average
out the method's own randomness: its query order, random arms, tie-breaks); the 95 % interval is
the percentile bootstrap of the mean over queries (queries resampled with replacement, seeded),
i.e. it says how much the figure would move on another draw of queries like these. A paired
comparison resamples the same queries for both methods and reports the interval of the mean
difference.
"""

from __future__ import annotations

import numpy as np

from laser_jax.best_of_n.replay import REFERENCES, MethodResult, Tables
from laser_jax.stats import bootstrap_ci, difference_interval, resampled_means  # noqa: F401 - also used as stats.*


def per_query(result: MethodResult) -> np.ndarray:
    """[Qt] each test query's metric averaged over orders."""
    return result.metric.mean(axis=0)


def paired(a: MethodResult, b: MethodResult, *, resamples: int = 2000, seed: int = 0) -> dict:
    """Mean of (a - b) over the same test queries, its bootstrap interval, and the share of
    resamples where a > b."""
    mean, ci, above = difference_interval(per_query(a) - per_query(b), resamples=resamples, seed=seed)
    return {"against": b.method, "mean_diff": mean, "ci95": ci, "p_better": above}


def arm_use(result: MethodResult, rm_names) -> dict[str, float]:
    """Share of (order, test query) answers chosen by each RM; "several" for ensemble answers."""
    out = {name: float((result.arm == k).mean()) for k, name in enumerate(rm_names)}
    several = float((result.arm < 0).mean())
    if several:
        out["several"] = several
    return out


def arm_use_by_family(result: MethodResult, tables: Tables) -> dict[str, dict[str, float]]:
    """Per family: arm_use over that family's test queries."""
    fam = tables.family[result.test_ids]
    out = {}
    for f, name in enumerate(tables.family_names):
        cols = fam == f
        if cols.any():
            sub = MethodResult(result.method, result.metric[:, cols], result.arm[:, cols],
                               result.test_ids[cols])
            out[name] = arm_use(sub, tables.rm_names)
    return out


def summarise(results: dict[str, MethodResult], tables: Tables, *, metric_name: str,
              reference: str = "best", seed: int = 0, resamples: int = 2000) -> list[dict]:
    """One record per method: method, label, metric, mean, ci95, by_family, arm_use,
    arm_use_by_family and, when ``reference`` was replayed, a paired comparison with it."""
    fam = tables.family[next(iter(results.values())).test_ids]
    rows = []
    for method, res in results.items():
        pq = per_query(res)
        row = {"method": method,
               "label": "reference" if method in REFERENCES else "method",
               "metric": metric_name, "mean": float(pq.mean()),
               "ci95": list(bootstrap_ci(pq, seed=seed, resamples=resamples)),
               "by_family": {name: float(pq[fam == f].mean())
                             for f, name in enumerate(tables.family_names) if (fam == f).any()},
               "arm_use": arm_use(res, tables.rm_names),
               "arm_use_by_family": arm_use_by_family(res, tables)}
        if reference in results and method != reference:
            row["vs_" + reference] = paired(res, results[reference], seed=seed, resamples=resamples)
        rows.append(row)
    return rows
