"""Preference pairs from scored samples, and the packed token batch the train step consumes.

Per prompt, the n samples are ranked by score (descending); pairs are the nested, disjoint
(best, worst), (2nd best, 2nd worst), ... up to `pairs_per_prompt` (so at most n // 2), chosen =
the higher score; a pair whose two scores are equal is dropped. Scores of several RMs are
combined first (`combine_scores`): each RM's scores are standardised over the batch and weighted
by the selector's weights (one-hot for a single RM, 1/K for the score ensemble).
"""

from __future__ import annotations

import numpy as np

from laser_jax.train_step import PairBatch


def standardise(scores: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Per-RM z-scores over every response of the batch: [K, ...] -> [K, ...]."""
    s = np.asarray(scores, np.float64)
    flat = s.reshape(s.shape[0], -1)
    mean = flat.mean(axis=1)
    std = flat.std(axis=1)
    std = np.where(std > eps, std, 1.0)
    return ((flat - mean[:, None]) / std[:, None]).reshape(s.shape)


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
        z = standardise(scores[arm][rows][None])[0]
        out[rows] += weights[rows, arm][:, None] * z
    return out


def build_pairs(scores: np.ndarray, pairs_per_prompt: int):
    """scores [B, n] -> (chosen [B, P], rejected [B, P], valid [B, P]) sample indices."""
    b, n = scores.shape
    p = min(int(pairs_per_prompt), n // 2)
    order = np.argsort(-scores, axis=1, kind="stable")
    chosen = order[:, :p]
    rejected = order[:, ::-1][:, :p]
    rows = np.arange(b)[:, None]
    valid = scores[rows, chosen] > scores[rows, rejected]
    return chosen, rejected, valid


def pack(prompt_ids: np.ndarray, prompt_mask: np.ndarray, tokens: np.ndarray, lengths: np.ndarray,
         chosen: np.ndarray, rejected: np.ndarray, valid: np.ndarray) -> tuple[PairBatch, np.ndarray]:
    """Token batch for the train step: prompt (left-padded) + response (right-padded) per row.

    prompt_ids/mask [B, Tp]; tokens [B, n, R] and lengths [B, n] from the sampler. Returns the
    batch with a fixed count of B*P pairs (invalid ones weight 0) and the prompt index of each pair.
    """
    b, p = chosen.shape
    tp, r = prompt_ids.shape[1], tokens.shape[2]
    prompt_of_pair = np.repeat(np.arange(b), p)
    ids = np.zeros((2, b * p, tp + r), np.int32)
    mask = np.zeros((2, b * p, tp + r), np.int32)
    target = np.zeros((2, b * p, r), np.float32)
    steps = np.arange(r)
    for side, pick in enumerate((chosen, rejected)):
        idx = pick.reshape(-1)
        resp = tokens[prompt_of_pair, idx]  # [B*P, R]
        n_tok = lengths[prompt_of_pair, idx]
        ids[side, :, :tp] = prompt_ids[prompt_of_pair]
        mask[side, :, :tp] = prompt_mask[prompt_of_pair]
        real = steps[None, :] < n_tok[:, None]
        ids[side, :, tp:] = np.where(real, resp, 0)
        mask[side, :, tp:] = real
        target[side] = real
    weights = valid.reshape(-1).astype(np.float32)
    batch = PairBatch(ids.reshape(2 * b * p, -1), mask.reshape(2 * b * p, -1), target.reshape(2 * b * p, -1),
                      weights)
    return batch, prompt_of_pair
