"""Preference pairs from scored samples, and the packed token batch the train step consumes.

Per prompt, the n samples are ranked by score (descending); pairs are the nested, disjoint
(best, worst), (2nd best, 2nd worst), ... up to `pairs_per_prompt` (so at most n // 2), chosen =
the higher score; a pair whose two scores are equal is dropped (weight 0). The agreement
ensemble then keeps only the pairs a strict majority of the RMs order alike (`majority_pairs`). Scores of several RMs are
combined first (`combine_scores`): each RM's scores are standardised over the batch and weighted
by the selector's weights (one-hot for a single RM, 1/K for the score ensemble). A non-finite score
(NaN / inf from an RM) makes its response's combined score NaN, and that response is left out of
the pairs; the other responses of the batch are paired as usual.
"""

from __future__ import annotations

import numpy as np

from laser_jax.rewards.base import standardise
from laser_jax.training.update import PairBatch


def combine_scores(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """scores [K, B, n] (NaN where an RM did not score), weights [B, K] -> combined [B, n].

    With one arm per prompt the result keeps that RM's ranking exactly; standardisation only
    matters when several RMs are mixed.
    """
    k = scores.shape[0]
    used = weights > 0  # [B, K]
    out = np.zeros(scores.shape[1:], np.float64)
    for arm in range(k):
        rows = used[:, arm]
        if not rows.any():
            continue
        part = scores[arm][rows]  # [rows, n]
        z = standardise(part.reshape(1, -1))[0].reshape(part.shape)
        out[rows] += weights[rows, arm][:, None] * z
    return out


PAIRINGS = ("extremes", "top_vs_rest")


def build_pairs(scores: np.ndarray, pairs_per_prompt: int, pairing: str = "extremes"):
    """scores [B, n] -> (chosen [B, P], rejected [B, P], valid [B, P]) sample indices.

    ``pairing`` (training.pairing): "extremes" (ours: (best, worst), (2nd best, 2nd worst), ...,
    disjoint, at most n // 2) or "top_vs_rest" (the authors' code: (1st, 2nd), (1st, 3rd), ...
    over the responses sorted by score, at most n - 1). A non-finite score (an RM that failed on
    that response) excludes only its response: each row pairs its f finite responses (at most
    f // 2, or f - 1, pairs); the other slots, and pairs whose two scores tie, have valid = False."""
    if pairing not in PAIRINGS:
        raise ValueError(f"training.pairing={pairing!r} must be one of {PAIRINGS}")
    b, n = scores.shape
    finite = np.isfinite(scores)
    order = np.argsort(np.where(finite, -scores, np.inf), axis=1, kind="stable")  # finite best first
    f = finite.sum(axis=1)[:, None]  # [B, 1]
    rows = np.arange(b)[:, None]
    if pairing == "top_vs_rest":
        p = min(int(pairs_per_prompt), n - 1)
        j = np.arange(p)[None, :]
        chosen = np.repeat(order[:, :1], p, axis=1)
        rejected = order[:, 1:p + 1]
        usable = j + 1 < f
    else:
        p = min(int(pairs_per_prompt), n // 2)
        j = np.arange(p)[None, :]
        chosen = order[:, :p]
        rejected = np.take_along_axis(order, np.clip(f - 1 - j, 0, n - 1), axis=1)  # the j-th worst finite
        usable = j < f // 2
    with np.errstate(invalid="ignore"):
        valid = usable & (scores[rows, chosen] > scores[rows, rejected])
    return chosen, rejected, valid


def majority_pairs(raw: np.ndarray, chosen: np.ndarray, rejected: np.ndarray, valid: np.ndarray):
    """The agreement ensemble's filter (selector ``agreement``): raw [K, B, n] per-RM scores and
    candidate pairs [B, P] -> (chosen, rejected, valid). A candidate is kept only when a strict
    majority of all K RMs order its two responses the same way (more than K / 2 of them; an RM
    whose two scores tie or are not finite casts no vote); chosen becomes the majority's
    preferred response (the candidate is swapped when the majority prefers its rejected one).
    Returns the vote margin too: (chosen, rejected, valid, votes [B, P] = for - against)."""
    k, b, _ = raw.shape
    rows = np.arange(b)[:, None]
    s_c, s_r = raw[:, rows, chosen], raw[:, rows, rejected]  # [K, B, P]
    with np.errstate(invalid="ignore"):
        pro = np.sum(s_c > s_r, axis=0)  # NaN compares False: no vote
        con = np.sum(s_c < s_r, axis=0)
    swap = con * 2 > k
    keep = valid & ((pro * 2 > k) | swap)
    return (np.where(swap, rejected, chosen), np.where(swap, chosen, rejected), keep, pro - con)


def pack(prompt_ids: np.ndarray, prompt_mask: np.ndarray, tokens: np.ndarray, lengths: np.ndarray,
         chosen: np.ndarray, rejected: np.ndarray, valid: np.ndarray) -> PairBatch:
    """The train step's batch: the prompts as they are, and per prompt P chosen and P rejected
    responses [B, 2, P, R] (right-padded, masked after each response's length; the EOS token
    counts) with weights [B, P] (0 for a dropped pair)."""
    rows = np.arange(tokens.shape[0])[:, None]
    steps = np.arange(tokens.shape[2])
    ids = np.stack([tokens[rows, chosen], tokens[rows, rejected]], axis=1)  # [B, 2, P, R]
    n_tok = np.stack([lengths[rows, chosen], lengths[rows, rejected]], axis=1)  # [B, 2, P]
    mask = steps < n_tok[..., None]
    return PairBatch(np.asarray(prompt_ids, np.int32), np.asarray(prompt_mask, np.int32),
                     np.where(mask, ids, 0).astype(np.int32), mask.astype(np.int32), valid.astype(np.float32))
