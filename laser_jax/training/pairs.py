"""Preference pairs from scored samples, and the packed token batch the train step consumes.

Per prompt, the n samples are ranked by score (descending); pairs are the nested, disjoint
(best, worst), (2nd best, 2nd worst), ... up to `pairs_per_prompt` (so at most n // 2), chosen =
the higher score; a pair whose two scores are equal is dropped (weight 0). The agreement
ensemble then keeps only the pairs a strict majority of the RMs order alike
(`laser_jax.bandit.combine.majority_pairs`). Scores of several RMs are combined first
(`laser_jax.bandit.combine.combine_scores`): each RM's scores are standardised over the batch and
weighted by the selector's weights (one-hot for a single RM, 1/K for the score ensemble). A
non-finite score (NaN / inf from an RM) makes its response's combined score NaN, and that response
is left out of the pairs; the other responses of the batch are paired as usual.
"""

from __future__ import annotations

import numpy as np

from laser_jax.training.update import PairBatch


PAIRINGS = ("extremes", "top_vs_rest")


def build_pairs(scores: np.ndarray, pairs_per_prompt: int, pairing: str = "extremes"):
    """scores [B, n] -> (chosen [B, P], rejected [B, P], valid [B, P]) sample indices.

    ``pairing`` (training.pairing): "extremes" (ours: (best, worst), (2nd best, 2nd worst), ...,
    disjoint, at most n // 2) or "top_vs_rest" (the authors' code: (1st, 2nd), (1st, 3rd), ...
    over the responses sorted by score, at most n - 1). A non-finite score (an RM that failed on
    that response) excludes only its response: each row pairs its f finite responses (at most
    f // 2, or f - 1, pairs); the other slots, and pairs whose two scores tie, have valid = False."""
    if pairing not in PAIRINGS:  # config validation refuses a bad training.pairing: a caller's bug here
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
