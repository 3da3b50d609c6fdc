"""How reward-model scores become a ranking, in both settings: standardising, combining by the
selector's weights, combining by vote, and each RM's agreement with what was used.

The selector (bandit/selector.py) gives per prompt a weight per RM [B, K]; the RMs' scores of the
prompt's n responses [K, B, n] are standardised per RM, so that RMs on different scales can be
mixed, and ranked by how the selector combines them (``Selector.combine``):

  "weighted"  the standardised scores times the weights, summed over RMs (`weighted_sum`): one-hot
              weights keep the chosen RM's ranking; 1/K weights are the score ensemble.
  "majority"  the agreement ensemble, a vote of the RMs. The settings vote on different things:
              training keeps the preference pairs a strict majority of the RMs order alike
              (`majority_pairs`, pair votes), best-of-n answers with the response most RMs rank
              first (`combine_answers`, first-choice votes), because training needs pairs and
              best-of-n needs one answer.

The two settings also standardise differently, on purpose, and both variants live here:

  training (training/step.py)   `standardise`, `combine_scores`, `majority_pairs`, `pair_agreement`:
                                numpy on the host in float64; a standard deviation <= 1e-6 gives
                                z = 0; a non-finite score stays NaN (its response is left out of
                                the pairs); each RM standardised over the batch's prompts it scored.
  best-of-n (best_of_n/replay)  `standardise_per_query`, `combine_answers`, `first_choice_votes`,
                                `first_choice_agreement`: per RM and query, float32, only a zero
                                standard deviation gives 0; a non-finite score becomes -inf (never
                                the argmax while a finite score exists). Standardising runs once on
                                the host over the whole table; the rest is jax.numpy inside the
                                replay's jitted scan.

Why an array-namespace argument (``xp``) rather than one jnp version: the arithmetic both settings
share (`weighted_sum`, the vote share of the agreements) is written once against ``xp``. Training
passes numpy: its scores are host arrays in float64, and jax without x64 would compute in float32
and change training's numbers (the golden runs pin them). The replay passes jax.numpy, so the same
expressions trace into its jitted loop. What only one setting does stays in that setting's
library (numpy's bincount and errstate for training, jnp for the replay's votes).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

STANDARDISE_EPS = 1e-6  # training: a standard deviation at most this is "constant scores" (z = 0)
VOTE_WEIGHT = 100.0  # best-of-n majority: one vote outweighs the mean standardised score (|mean z| <= sqrt(n - 1))


def _z(dev, std, floor: float):
    """dev / std where std > floor, else 0 (constant scores, a group of one): never inf or NaN."""
    return np.where(std > floor, dev / np.where(std > floor, std, 1.0), 0.0)


def standardise(scores: np.ndarray, groups: Sequence | np.ndarray | None = None,
                eps: float = STANDARDISE_EPS) -> np.ndarray:
    """Training's per-RM z-scores of `scores` [K, N] (row k = RM k's scores of the same N responses).

    groups=None: each RM's scores are standardised over all N responses: (s - mean_k) / std_k.
    groups [N] (e.g. the prompt index of each response): standardised within each (RM, group)
    instead, so an RM's offset between prompts does not matter.
    Guard: where a standard deviation is <= eps (constant scores, or a group of one) the z-score
    is 0, never inf/nan. Non-finite scores are left out of the means and deviations and stay NaN.
    Computed and returned in float64 (`combine_scores` uses it).
    """
    s = np.asarray(scores, np.float64)
    if s.ndim != 2:  # callers in laser_jax always pass [K, N]: a plain ValueError is a bug here
        raise ValueError(f"standardise: scores must be [K, N], got shape {s.shape}")
    if groups is None:
        inverse = np.zeros(s.shape[1], np.int64)
    else:
        g = np.asarray(groups)
        if g.shape != (s.shape[1],):
            raise ValueError(f"standardise: groups must be [N]={s.shape[1]}, got shape {g.shape}")
        _, inverse = np.unique(g, return_inverse=True)
    n_groups = int(inverse.max()) + 1 if inverse.size else 0
    out = np.full_like(s, np.nan)
    for k in range(s.shape[0]):
        ok = np.isfinite(s[k])
        g, v = inverse[ok], s[k][ok]
        count = np.bincount(g, minlength=n_groups).astype(np.float64)
        mean = np.bincount(g, v, n_groups) / np.maximum(count, 1)
        dev = v - mean[g]
        std = np.sqrt(np.bincount(g, dev * dev, n_groups) / np.maximum(count, 1))
        out[k, ok] = _z(dev, std[g], eps)
    return out


def standardise_per_query(scores: np.ndarray) -> np.ndarray:
    """Best-of-n's z-scores, float32, of scores [..., n] over the last axis (per RM and query:
    (s - mean) / std over the query's finite scores, computed in float64). A zero standard
    deviation gives 0; non-finite scores become -inf (never picked while a finite one exists)."""
    s = np.asarray(scores, np.float64)
    ok = np.isfinite(s)
    cnt = np.maximum(ok.sum(-1, keepdims=True), 1)
    mean = np.where(ok, s, 0.0).sum(-1, keepdims=True) / cnt
    var = np.where(ok, (s - mean) ** 2, 0.0).sum(-1, keepdims=True) / cnt
    return np.where(ok, _z(s - mean, np.sqrt(var), 0.0), -np.inf).astype(np.float32)


def weighted_sum(z, weights, xp=np):
    """z [B, K, n] standardised scores, weights [B, K] -> [B, n]: sum over the RMs with a
    positive weight of weight * z (the RMs with weight 0 are left out, so their scores may be
    NaN). ``xp``: numpy (training) or jax.numpy (the replay, jittable)."""
    used = weights > 0
    with np.errstate(invalid="ignore"):  # numpy: 0 * -inf of an unused RM is masked out anyway
        return xp.sum(xp.where(used[:, :, None], weights[:, :, None] * z, 0.0), 1)


def combine_scores(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Training: scores [K, B, n] (NaN where an RM did not score), weights [B, K] -> combined
    [B, n] float64. Each RM is standardised (`standardise`) over all the responses of the prompts
    it weights (rows with weight > 0), then `weighted_sum`; a non-finite score of a used RM makes
    the response's combined score NaN.

    With one arm per prompt the result keeps that RM's ranking exactly; standardisation only
    matters when several RMs are mixed.
    """
    used = weights > 0  # [B, K]
    z = np.full(scores.shape, np.nan)
    for arm in range(scores.shape[0]):
        rows = used[:, arm]
        if rows.any():
            part = scores[arm][rows]  # [rows, n]
            z[arm, rows] = standardise(part.reshape(1, -1))[0].reshape(part.shape)
    return weighted_sum(np.moveaxis(z, 0, 1), weights, np)


def majority_pairs(raw: np.ndarray, chosen: np.ndarray, rejected: np.ndarray, valid: np.ndarray):
    """Training's agreement ensemble (selector ``agreement``, pair votes): raw [K, B, n] per-RM
    scores and candidate pairs [B, P] -> (chosen, rejected, valid, votes). A candidate is kept
    only when a strict majority of all K RMs order its two responses the same way (more than
    K / 2 of them; an RM whose two scores tie or are not finite casts no vote); chosen becomes the
    majority's preferred response (the candidate is swapped when the majority prefers its
    rejected one). votes [B, P] = for - against."""
    k, b, _ = raw.shape
    rows = np.arange(b)[:, None]
    s_c, s_r = raw[:, rows, chosen], raw[:, rows, rejected]  # [K, B, P]
    with np.errstate(invalid="ignore"):
        pro = np.sum(s_c > s_r, axis=0)  # NaN compares False: no vote
        con = np.sum(s_c < s_r, axis=0)
    swap = con * 2 > k
    keep = valid & ((pro * 2 > k) | swap)
    return (np.where(swap, rejected, chosen), np.where(swap, chosen, rejected), keep, pro - con)


def first_choice_votes(z, used):
    """Best-of-n's votes (jnp, jittable): z [B, K, n] (`standardise_per_query`), used [B, K] ->
    [B, n] int: how many used RMs rank each response first (their top standardised score; a tie
    for the top gives each tied response the RM's vote; a -inf response gets none)."""
    top = jnp.max(jnp.where(used[:, :, None], z, -jnp.inf), -1, keepdims=True)
    return jnp.sum(used[:, :, None] & (z == top) & jnp.isfinite(z), axis=1)


def combine_answers(z, weights, majority: bool):
    """Best-of-n (jnp, jittable; ``majority`` static): z [B, K, n], weights [B, K] -> [B, n], the
    key whose argmax is each query's answer. `weighted_sum`; with ``majority`` (the agreement
    ensemble) the response most RMs rank first (`first_choice_votes`), ties by that sum."""
    combined = weighted_sum(z, weights, jnp)
    if majority:
        combined = first_choice_votes(z, weights > 0) * VOTE_WEIGHT + combined
    return combined


def _vote_share(votes, value, axis, xp):
    """Per RM, the mean of ``value`` over its ``votes`` along ``axis``; NaN where it has none."""
    n = xp.sum(votes, axis)
    return xp.where(n > 0, xp.sum(xp.where(votes, value, 0.0), axis) / xp.maximum(n, 1), xp.nan)


def pair_agreement(raw: np.ndarray, chosen: np.ndarray, rejected: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Training's RM agreement (read by ``online_ensemble``), [K] float32: per RM, the share of
    the trained pairs (valid [B, P]) it orders as trained (raw [K, B, n] per-RM scores; chosen
    above rejected 1, tie 1/2, below 0); non-finite scores cast no vote; NaN for an RM without a
    vote."""
    rows = np.arange(raw.shape[1])[:, None]
    s_c, s_r = raw[:, rows, chosen], raw[:, rows, rejected]  # [K, B, P]
    votes = np.asarray(valid, bool)[None] & np.isfinite(s_c) & np.isfinite(s_r)
    with np.errstate(invalid="ignore"):
        agree = np.where(s_c > s_r, 1.0, np.where(s_c == s_r, 0.5, 0.0))
    return _vote_share(votes, agree, (1, 2), np).astype(np.float32)


def first_choice_agreement(z, pick, valid):
    """Best-of-n's RM agreement (jnp, jittable), [K]: per RM, the share of the step's queries
    whose answer gets its top standardised score (z [B, K, n], pick [B], valid [B]); NaN for an
    RM without a finite score on them."""
    zpick = jnp.take_along_axis(z, pick[:, None, None], 2)[..., 0]  # [B, K]
    votes = valid[:, None] & jnp.isfinite(zpick)
    top = (zpick == jnp.max(z, -1)).astype(jnp.float32)
    return _vote_share(votes, top, 0, jnp)
