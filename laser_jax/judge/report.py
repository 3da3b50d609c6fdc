"""What ``python -m laser_jax.judge`` writes: the per-prompt judgements and the summary with win
rates and intervals (``winrate.win_rate``); the bar chart per category is ``plots.plot_by_category``.

Per prompt (judgements.jsonl): uid, category, ``ab`` and ``ba`` (the verdict in each order:
``p_first`` = P(the response shown first is better), ``label`` "first"/"second"/"tie", the judge's
own numbers, e.g. an LM judge's answer-token logits and ``mass``; ``mirrored`` true for the order a
reward-model judge did not need to judge), ``outcome`` (run A's 1 / 0 / 0.5) and ``result``:
"a" (both orders prefer A), "b", "tie" (a tie in either order) or "disagreement" (the orders
prefer different runs: position bias).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from laser_jax.judge.judges import Verdicts
from laser_jax.judge.pairs import Paired
from laser_jax.judge.winrate import FIRST, SECOND, TIE

__all__ = ["judgement_records", "results", "summary"]


def _plain(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return x


def results(ab: Verdicts, ba: Verdicts) -> list[str]:
    """Per prompt: "a", "b", "tie" or "disagreement" (module docstring)."""
    out = []
    for x, y in zip(ab.label, ba.label):
        if x == FIRST and y == SECOND:
            out.append("a")
        elif x == SECOND and y == FIRST:
            out.append("b")
        elif TIE in (x, y):
            out.append("tie")
        else:
            out.append("disagreement")
    return out


def _order(v: Verdicts, n: int, mirrored: bool) -> dict[str, Any]:
    row = {"p_first": float(v.p_first[n]), "label": str(v.label[n])}
    row.update({k: _plain(x[n]) for k, x in v.extra.items()})
    if mirrored:
        row["mirrored"] = True
    return row


def judgement_records(paired: Paired, ab: Verdicts, ba: Verdicts, outcome: np.ndarray, *,
                      mirrored: bool) -> list[dict[str, Any]]:
    """One record per prompt (module docstring); ``mirrored``: BA was derived from AB."""
    return [{"uid": uid, "category": cat, "ab": _order(ab, n, False), "ba": _order(ba, n, mirrored),
             "outcome": float(outcome[n]), "result": res}
            for n, (uid, cat, res) in enumerate(zip(paired.uids, paired.categories, results(ab, ba)))]


def summary(rates: dict[str, Any], *, judge: dict[str, Any], ab: Verdicts, ba: Verdicts,
            runs: dict[str, dict[str, Any]], settings: dict[str, Any], symmetric: bool) -> dict[str, Any]:
    """judge.json: the runs, the judge, ``winrate.win_rate``'s figures (``prefers_first`` is the
    position-bias share, None for a judge that saw one order), the settings."""
    judge = dict(judge)
    if "mass" in ab.extra:
        judge["answer_mass_mean"] = float(np.mean(np.concatenate([ab.extra["mass"], ba.extra["mass"]])))
    if "prompt_truncated" in ab.extra:  # each text appears once per order: count order AB
        judge["truncated"] = {"prompts": int(np.sum(ab.extra["prompt_truncated"])),
                              "responses": int(np.sum(ab.extra["responses_truncated"]))}
    rates = dict(rates)
    if symmetric:
        rates["prefers_first"] = None
        rates["by_category"] = {c: {**v, "prefers_first": None} for c, v in rates.get("by_category", {}).items()}
        rates["disagreements_note"] = "one order judged (the judge scores each response alone): no position bias"
    return {"a": runs["a"], "b": runs["b"], "judge": judge, **rates, **settings}
