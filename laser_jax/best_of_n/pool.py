"""The pool's own statistics: how good and how different the reward models (RMs) are on the
sampled responses, before any method is replayed (results.json's ``pool``, table.md, pool.png).

Everything is computed on the TEST queries only (``Tables.calibration`` False), per RM, per task
family (families without test queries are left out) and over all test queries ("all").

Pairs. For one query with n responses, the n(n-1)/2 unordered pairs (i, j) whose task metrics
differ (metric_i != metric_j); pairs with equal metrics count nowhere. An RM's order of a pair is
sign(s_i - s_j) in {-1, 0, +1} on its raw scores; a pair where either score is non-finite (the RM
could not score that response) counts as a tie, 0: the RM did not order it.

  ranking_accuracy  per RM: sum of credits / number of pairs, credit 1 when the RM orders the pair
                    like the metric, 1/2 for a tie (equal or non-finite scores), 0 otherwise.
                    95 % interval: percentile bootstrap over queries (`stats.bootstrap_ratio_ci`):
                    each resample draws the test queries (of the family) with replacement, each
                    bringing all its pairs, and takes sum(credits) / sum(pairs) of the draw.
  agreement         [R, R] per pair of RMs: the share of the pairs that the two order alike, i.e.
                    the same sign (a tie agrees only with a tie; non-finite counts as a tie), pooled
                    over the queries' pairs; the diagonal is 1; 1 - agreement is the paper's conflict
                    statistic.
  top1              per RM: the mean over queries of the metric of the response it ranks first, as
                    the replay's fixed:<rm> picks it: argmax of its standardised scores
                    (bandit/combine.py `standardise_per_query`, non-finite -> -inf, then
                    `combine_answers` with one-hot weights); a tie for first is broken uniformly at
                    random in the replay, so the figure is the mean metric of the tied responses (the
                    replay's expectation over its orders; all non-finite: all n tie).
  blind             per RM: the share of queries on which it scores all n responses alike (max ==
                    min over its finite scores, or no finite score): it cannot choose there.
  reference         oracle = mean over queries of the best metric among the n responses (the pool's
                    ceiling; not the replay's ``oracle`` method, the best single-RM answer);
                    best_single = the highest RM top1 (best_rm: that RM, the first on ties);
                    ensemble = top1 of the replay's ``ensemble`` (weights 1/R on the standardised
                    scores, `combine_answers`); oracle_minus_best_single, oracle_minus_ensemble.

Conditions (the pool is worth routing over; ``conditions``, each with the numbers behind it):
  no_rm_blind            every RM's blind share is <= BLIND_MAX (0.5) on every family.
  every_rm_above_chance  every RM's ranking-accuracy 95 % interval lies above CHANCE (lower bound
                         > 0.5) on at least MIN_FAMILIES (2) families.
  best_rm_differs        by top1: no RM is among the best (ties within TIE_TOL) on every family
                         (needs two families or more).
  ensemble_below_oracle  oracle - ensemble >= ENSEMBLE_GAP (0.03, 3 points of the metric).
  all                    the four together.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from laser_jax.bandit.combine import combine_answers, standardise_per_query
from laser_jax.best_of_n.replay import Tables
from laser_jax.outputs import json_safe
from laser_jax.stats import bootstrap_ratio_ci

BLIND_MAX = 0.5
CHANCE = 0.5
MIN_FAMILIES = 2
ENSEMBLE_GAP = 0.03
TIE_TOL = 1e-9


def pair_signs(values: np.ndarray) -> np.ndarray:
    """values [..., n] -> [..., n(n-1)/2] int: sign(v_i - v_j) over the pairs i < j (np.triu_indices
    order); 0 where either value is non-finite."""
    i, j = np.triu_indices(values.shape[-1], 1)
    a, b = values[..., i].astype(np.float64), values[..., j].astype(np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    return np.where(ok, np.sign(np.where(ok, a - b, 0.0)), 0).astype(np.int8)


def pair_counts(scores: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """scores [R, Q, n], metric [Q, n] -> (credits [R, Q], pairs [Q], alike [R, R, Q]): per query
    the RM's ranking credits and the number of metric-differing pairs, and per pair of RMs how
    many of those pairs they order alike (module docstring)."""
    dm, ds = pair_signs(metric), pair_signs(scores)  # [Q, P], [R, Q, P]
    differ = dm != 0
    credit = np.where(ds == dm, 1.0, np.where(ds == 0, 0.5, 0.0))
    credits = np.where(differ, credit, 0.0).sum(-1)
    alike = ((ds[:, None] == ds[None]) & differ).sum(-1)
    return credits, differ.sum(-1), alike


def top1_per_query(z: np.ndarray, weights: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """z [R, Q, n] (`standardise_per_query`), weights [R] -> [Q]: the mean metric of the responses
    tied for first under the replay's combination (`combine_answers`, float32 as in the replay)."""
    zq = jnp.moveaxis(jnp.asarray(z, jnp.float32), 0, 1)  # [Q, R, n]
    w = jnp.broadcast_to(jnp.asarray(weights, jnp.float32), zq.shape[:2])
    combined = np.asarray(combine_answers(zq, w, False))
    top = combined == combined.max(-1, keepdims=True)
    return (metric * top).sum(-1) / top.sum(-1)


def blind_per_query(scores: np.ndarray) -> np.ndarray:
    """scores [R, Q, n] -> [R, Q] bool: no finite score, or all finite scores equal."""
    ok = np.isfinite(scores)
    hi = np.where(ok, scores, -np.inf).max(-1)
    lo = np.where(ok, scores, np.inf).min(-1)
    return ~ok.any(-1) | (hi == lo)


def _ratio(num, den) -> float:
    return float(num / den) if den > 0 else float("nan")


def _group(credits, pairs, alike, top1, ens, blind, best_metric, rm_names,
           seed: int, resamples: int) -> dict:
    """Every statistic over one group of queries (the arrays already restricted to it)."""
    out = {"queries": int(len(pairs)), "pairs": int(pairs.sum()), "ranking_accuracy": {}, "top1": {},
           "blind": {}}
    for k, rm in enumerate(rm_names):
        out["ranking_accuracy"][rm] = {
            "mean": _ratio(credits[k].sum(), pairs.sum()),
            "ci95": list(bootstrap_ratio_ci(credits[k], pairs, seed=seed, resamples=resamples))}
        out["top1"][rm] = float(top1[k].mean())
        out["blind"][rm] = float(blind[k].mean())
    total = alike.sum(-1)
    out["agreement"] = (total / pairs.sum() if pairs.sum() else np.full(total.shape, np.nan)).tolist()
    tops = np.array([out["top1"][rm] for rm in rm_names])
    oracle, best, ensemble = float(best_metric.mean()), float(tops.max()), float(ens.mean())
    out["reference"] = {"oracle": oracle, "best_rm": rm_names[int(np.argmax(tops))], "best_single": best,
                        "ensemble": ensemble, "oracle_minus_best_single": oracle - best,
                        "oracle_minus_ensemble": oracle - ensemble}
    return out


def conditions(pool: dict) -> dict:
    """The pool conditions (module docstring) from ``pool_stats``'s by_family and all."""
    fams = pool["by_family"]
    rms = pool["reward_models"]
    blind = [(pool["by_family"][f]["blind"][rm], rm, f) for f in fams for rm in rms]
    worst = max(blind, key=lambda b: b[0], default=(float("nan"), None, None))  # the first on ties
    above = {rm: [f for f in fams if (fams[f]["ranking_accuracy"][rm]["ci95"][0] or 0.0) > CHANCE]
             for rm in rms}  # a None (NaN) bound: no pairs there, not above chance
    best = {f: [rm for rm in rms
                if fams[f]["top1"][rm] >= max(fams[f]["top1"].values()) - TIE_TOL] for f in fams}
    common = set(rms).intersection(*best.values()) if best else set(rms)
    gap = pool["all"]["reference"]["oracle_minus_ensemble"]
    out = {
        "no_rm_blind": {"holds": bool(worst[0] <= BLIND_MAX), "max_blind_share": worst[0],
                        "rm": worst[1], "family": worst[2], "threshold": BLIND_MAX},
        "every_rm_above_chance": {
            "holds": all(len(v) >= MIN_FAMILIES for v in above.values()), "families_above_chance": above,
            "rule": f"ranking-accuracy 95% CI lower bound > {CHANCE} on >= {MIN_FAMILIES} families"},
        "best_rm_differs": {"holds": len(fams) >= 2 and not common, "best_by_family": best,
                            "best_everywhere": sorted(common), "rule": "by top1"},
        "ensemble_below_oracle": {"holds": bool(gap >= ENSEMBLE_GAP), "oracle_minus_ensemble": gap,
                                  "threshold": ENSEMBLE_GAP}}
    out["all"] = all(c["holds"] for c in out.values())
    return out


def pool_stats(tables: Tables, *, seed: int = 0, resamples: int = 2000) -> dict:
    """The pool's statistics on the test queries (module docstring), JSON-safe (NaN -> None):
    queries, samples_per_query, reward_models, families, all and by_family (each: queries, pairs,
    ranking_accuracy {rm: mean, ci95}, top1 {rm}, blind {rm}, agreement [R][R], reference), and
    conditions."""
    test = ~np.asarray(tables.calibration, bool)
    scores = np.asarray(tables.scores)[:, test]
    metric = np.asarray(tables.metric, np.float64)[test]
    fam = np.asarray(tables.family)[test]
    rm_names = list(tables.rm_names)
    r = len(rm_names)
    credits, pairs, alike = pair_counts(scores, metric)
    z = standardise_per_query(scores)
    top1 = np.stack([top1_per_query(z, np.eye(r)[k], metric) for k in range(r)])
    ens = top1_per_query(z, np.full(r, 1.0 / r), metric)
    blind = blind_per_query(scores)
    best_metric = metric.max(-1)

    def group(cols):
        return _group(credits[:, cols], pairs[cols], alike[..., cols], top1[:, cols], ens[cols],
                      blind[:, cols], best_metric[cols], rm_names, seed, resamples)

    pool = {"queries": int(test.sum()), "samples_per_query": int(metric.shape[1]),
            "reward_models": rm_names, "families": [], "all": group(np.ones(len(fam), bool)),
            "by_family": {}}
    for f, name in enumerate(tables.family_names):
        if (fam == f).any():
            pool["families"].append(name)
            pool["by_family"][name] = group(fam == f)
    pool = json_safe(pool)
    pool["conditions"] = conditions(pool)
    return pool


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}"


def pool_table(pool: dict) -> str:
    """Markdown: per RM the ranking accuracy (95 % CI), top1 and blind share over all test queries
    and per family; top1 of the ensemble and the oracle; the agreement matrix; the conditions."""
    rms, fams = pool["reward_models"], pool["families"]
    groups = [("all", pool["all"])] + [(f, pool["by_family"][f]) for f in fams]
    head = "| | " + " | ".join(g for g, _ in groups) + " |\n|" + "---|" * (len(groups) + 1)
    acc = [f"| {rm} | " + " | ".join(
        f"{_pct(g['ranking_accuracy'][rm]['mean'])} ({_pct(g['ranking_accuracy'][rm]['ci95'][0])}-"
        f"{_pct(g['ranking_accuracy'][rm]['ci95'][1])})" for _, g in groups) + " |" for rm in rms]
    top = [f"| {rm} | " + " | ".join(_pct(g["top1"][rm]) for _, g in groups) + " |" for rm in rms]
    top += [f"| {name} | " + " | ".join(_pct(g["reference"][key]) for _, g in groups) + " |"
            for name, key in (("ensemble", "ensemble"), ("oracle (best of n)", "oracle"))]
    blind = [f"| {rm} | " + " | ".join(_pct(g["blind"][rm]) for _, g in groups) + " |" for rm in rms]
    agree = ["| | " + " | ".join(rms) + " |", "|" + "---|" * (len(rms) + 1)]
    agree += [f"| {a} | " + " | ".join(_pct(v) for v in row) + " |"
              for a, row in zip(rms, pool["all"]["agreement"])]
    c = pool["conditions"]
    yes = {True: "yes", False: "NO"}
    cond = [f"- no RM blind on a family (blind share <= {100 * BLIND_MAX:.0f}%): "
            f"{yes[c['no_rm_blind']['holds']]} (max {_pct(c['no_rm_blind']['max_blind_share'])}%: "
            f"{c['no_rm_blind']['rm']} on {c['no_rm_blind']['family']})",
            f"- every RM above chance on >= {MIN_FAMILIES} families (ranking-accuracy CI lower bound "
            f"> {100 * CHANCE:.0f}%): {yes[c['every_rm_above_chance']['holds']]} (" + "; ".join(
                f"{rm}: {', '.join(v) or 'none'}"
                for rm, v in c["every_rm_above_chance"]["families_above_chance"].items()) + ")",
            f"- the best RM (by top-1) differs between families: {yes[c['best_rm_differs']['holds']]} (" +
            "; ".join(f"{f}: {', '.join(v)}" for f, v in c["best_rm_differs"]["best_by_family"].items()) + ")",
            f"- ensemble at least {100 * ENSEMBLE_GAP:.0f} points below the oracle: "
            f"{yes[c['ensemble_below_oracle']['holds']]} "
            f"(oracle - ensemble {_pct(c['ensemble_below_oracle']['oracle_minus_ensemble'])})"]
    return "\n\n".join([
        f"pool ({pool['queries']} test queries, {pool['samples_per_query']} samples each; "
        f"{pool['all']['pairs']} pairs whose metric differs)",
        "ranking accuracy (%) over pairs whose metric differs, 95% bootstrap CI over queries\n\n"
        + head + "\n" + "\n".join(acc),
        "top-1 (%): mean metric of the response ranked first\n\n" + head + "\n" + "\n".join(top),
        "blind (%): share of queries with all n scores alike\n\n" + head + "\n" + "\n".join(blind),
        "agreement (%): pairs two RMs order alike (all test queries)\n\n" + "\n".join(agree),
        "pool conditions: " + yes[c["all"]] + "\n\n" + "\n".join(cond)])
