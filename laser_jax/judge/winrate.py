"""Pairwise win rate of run A against run B on the same prompts, each pair judged in both orders.

A judge sees one prompt and two responses and says which is better. It is asked twice per prompt:
in order AB (run A's response shown first, run B's second) and in order BA (B first, A second),
so that a judge that favours a position does not favour a run.

Verdicts. Each verdict is about positions: ``"first"``, ``"second"`` or ``"tie"``, or a
probability ``P(first is better)`` in [0, 1], read as "first" when > 0.5, "second" when < 0.5 and
"tie" when exactly 0.5. (For a tie band around 0.5, turn the judge's logits into labels with
``judgement_from_logits`` and its ``tie_margin`` first.) In order AB "first" prefers A; in order BA
"second" prefers A.

Per prompt, A's outcome is
  1    when both orders prefer A                                       (a win),
  0    when both orders prefer B                                       (a loss),
  1/2  otherwise: a tie in either order, or the two orders preferring
       different runs (a disagreement, the mark of position bias)     (a half).
The win rate is ``w = mean over prompts of the outcome = (wins + halves / 2) / prompts``.
Swapping the runs swaps wins and losses and keeps halves, so B's win rate is ``1 - w``.

Interval: the 95 % percentile bootstrap of ``w`` over prompts (prompts resampled with
replacement, ``resamples`` times, seeded; ``laser_jax.best_of_n.stats.bootstrap_ci``). Swapping
the runs with the same seed draws the same resamples, so the interval becomes ``[1 - hi, 1 - lo]``
(up to float rounding). Per category (an optional label per prompt), the same figures over that
category's prompts, with the same seed.

Two-token logits (``judgement_from_logits``): a judge asked to answer with one token, e.g. "A" for
the response shown first and "B" for the second, gives the logits of those two tokens;
``P(first is better) = exp(l_first) / (exp(l_first) + exp(l_second)) = sigmoid(l_first -
l_second)``, the softmax restricted to the two tokens; the label is "tie" when ``|l_first -
l_second| <= tie_margin``, else the position with the larger logit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from laser_jax.stats import bootstrap_ci
from laser_jax.data.example import DataError
from laser_jax.errors import is_int, is_number

__all__ = ["FIRST", "LABELS", "SECOND", "TIE", "judgement_from_logits", "outcomes",
           "position_labels", "win_rate"]

FIRST, SECOND, TIE = "first", "second", "tie"
LABELS = (FIRST, SECOND, TIE)


def judgement_from_logits(logit_first: Any, logit_second: Any, *, tie_margin: float = 0.0):
    """(P(first is better), label) from the two answer tokens' logits; arrays give arrays."""
    if not is_number(tie_margin, 0.0):
        raise DataError("judgement_from_logits: tie_margin must be a number >= 0, "
                        f"got {tie_margin!r}")
    first, second = np.asarray(logit_first, np.float64), np.asarray(logit_second, np.float64)
    if first.shape != second.shape:
        raise DataError(f"judgement_from_logits: the logits have shapes {first.shape} and "
                        f"{second.shape}; give one pair per verdict")
    if not (np.isfinite(first).all() and np.isfinite(second).all()):
        raise DataError("judgement_from_logits: a logit is not finite (nan or inf); check the "
                        "judge's scoring")
    diff = first - second
    prob = np.exp(-np.logaddexp(0.0, -diff))  # sigmoid(diff), no overflow
    label = np.where(np.abs(diff) <= tie_margin, TIE, np.where(diff > 0, FIRST, SECOND))
    if prob.ndim == 0:
        return float(prob), str(label)
    return prob, label


def _label(verdict: Any, where: str) -> str:
    if isinstance(verdict, str):
        if verdict not in LABELS:
            raise DataError(f"{where}: unknown verdict {verdict!r}; use one of {LABELS} or a "
                            "probability P(first is better) in [0, 1]")
        return verdict
    try:
        p = float(verdict)
    except (TypeError, ValueError):
        raise DataError(f"{where}: verdict {verdict!r} is neither a label {LABELS} nor a "
                        "probability") from None
    if not (0.0 <= p <= 1.0) or math.isnan(p):
        raise DataError(f"{where}: probability {p} is outside [0, 1]; give P(first is better)")
    return FIRST if p > 0.5 else SECOND if p < 0.5 else TIE


def position_labels(verdicts: Sequence[Any], *, order: str) -> list[str]:
    """Each verdict as "first"/"second"/"tie" (``order`` "AB" or "BA" only names it in errors)."""
    return [_label(v, f"order {order}, prompt {n}") for n, v in enumerate(verdicts)]


def _both_orders(ab: Sequence[Any], ba: Sequence[Any]) -> tuple[list[str], list[str]]:
    if len(ab) != len(ba):
        raise DataError(f"win rate: {len(ab)} verdicts in order AB but {len(ba)} in order BA; "
                        "give both orders for every prompt, in the same prompt order")
    if not len(ab):
        raise DataError("win rate: no verdicts; judge at least one prompt")
    return position_labels(ab, order="AB"), position_labels(ba, order="BA")


def outcomes(ab: Sequence[Any], ba: Sequence[Any]) -> np.ndarray:
    """[P] A's outcome per prompt (1, 0 or 0.5; see the module docstring)."""
    a_first, b_first = _both_orders(ab, ba)
    out = np.full(len(ab), 0.5)
    for n, (x, y) in enumerate(zip(a_first, b_first)):
        if x == FIRST and y == SECOND:
            out[n] = 1.0
        elif x == SECOND and y == FIRST:
            out[n] = 0.0
    return out


def _summary(result: np.ndarray, prefers_first: np.ndarray, disagree: np.ndarray, *,
             resamples: int, seed: int) -> dict[str, Any]:
    lo, hi = bootstrap_ci(result, resamples=resamples, seed=seed)
    return {"win_rate": float(result.mean()), "ci95": [lo, hi], "prompts": int(result.size),
            "wins": int((result == 1).sum()), "losses": int((result == 0).sum()),
            "halves": int((result == 0.5).sum()), "disagreements": int(disagree.sum()),
            "prefers_first": float(prefers_first.mean())}


def win_rate(ab: Sequence[Any], ba: Sequence[Any], *, categories: Sequence[str] | None = None,
             resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Run A's win rate against run B from the verdicts in order AB and in order BA (one per
    prompt each, same prompt order).

    Returns ``win_rate``, ``ci95`` [lo, hi], ``prompts``, ``wins``, ``losses``, ``halves`` (prompts
    counted 1/2), ``disagreements`` (halves where the two orders preferred different runs) and
    ``prefers_first`` (share of all 2 x prompts verdicts that chose the first position: 0.5 for a
    judge without position bias); with ``categories``, also ``by_category``: the same figures per
    category, in sorted order."""
    if not is_int(resamples, 1):
        raise DataError(f"win rate: resamples must be a whole number > 0, got {resamples!r}")
    result = outcomes(ab, ba)
    a_first, b_first = _both_orders(ab, ba)
    first = np.array([(x == FIRST) + (y == FIRST) for x, y in zip(a_first, b_first)]) / 2
    # the same position in both orders = different runs
    disagree = np.array([x == y != TIE for x, y in zip(a_first, b_first)])
    out = _summary(result, first, disagree, resamples=resamples, seed=seed)
    if categories is not None:
        categories = list(categories)
        if len(categories) != result.size:
            raise DataError(f"win rate: {len(categories)} categories for {result.size} prompts; "
                            "give one category per prompt, in the prompts' order")
        labels = np.array([str(c) for c in categories])
        out["by_category"] = {
            c: _summary(result[labels == c], first[labels == c], disagree[labels == c],
                        resamples=resamples, seed=seed)
            for c in sorted(set(labels.tolist()))}
    return out
