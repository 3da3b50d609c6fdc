"""The reward-model interface and score normalisation.

A reward model is anything with a `name` and

    score(prompts: list[str], responses: list[str], golds: list[str | None] | None,
          *, tasks: list[str] | None = None) -> np.ndarray [N] float32

one score per (prompt, response) pair, higher = better. Text in, scores out: neural RMs re-tokenise
the text with their own tokenizer (see `laser_jax.rewards.text`); verifiers read `golds`.
`tasks` names each row's answer format ("gsm8k", "strategyqa", "mmlu": the example's
`Example.task`), for runs that mix task families in one batch; verifiers score each row as its own
task, neural RMs ignore it. None: every row is the RM's configured task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class RewardModel(Protocol):
    name: str

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """[N] float32 scores, one per (prompt, response) pair."""
        ...


def check_inputs(prompts: Sequence[str], responses: Sequence[str], golds: Sequence[str | None] | None,
                 who: str = "reward model", *, tasks: Sequence[str] | None = None) -> list[str | None]:
    """Validate the parallel lists (prompts, responses, golds and, when given, the per-row task
    names); returns golds as a list (all None when not given)."""
    if isinstance(prompts, str) or isinstance(responses, str):
        raise TypeError(f"{who}: prompts and responses must be lists of strings, not a single string")
    n = len(prompts)
    if len(responses) != n:
        raise ValueError(f"{who}: {n} prompts but {len(responses)} responses (one prompt per response)")
    if tasks is not None:
        if isinstance(tasks, str):
            raise TypeError(f"{who}: tasks must be a list of task names (one per response), not a single string")
        if len(tasks) != n:
            raise ValueError(f"{who}: {n} prompts but {len(tasks)} tasks (one task per response, or tasks=None)")
        bad = [i for i, t in enumerate(tasks) if not isinstance(t, str)]
        if bad:
            raise TypeError(f"{who}: tasks must be strings; row {bad[0]} is {tasks[bad[0]]!r}")
    if golds is None:
        return [None] * n
    if len(golds) != n:
        raise ValueError(f"{who}: {n} prompts but {len(golds)} golds (one gold per response, or golds=None)")
    return list(golds)


def with_tasks(tasks: Sequence[str] | None) -> dict:
    """`score` keyword arguments forwarding `tasks` to a wrapped RM: {} when None, so RMs written
    before `tasks` existed (score(prompts, responses, golds)) still work unmixed."""
    return {} if tasks is None else {"tasks": tasks}


def standardise(scores: np.ndarray, groups: Sequence | np.ndarray | None = None, eps: float = 1e-6) -> np.ndarray:
    """Per-RM z-scores of `scores` [K, N] (row k = RM k's scores of the same N responses).

    groups=None: each RM's scores are standardised over all N responses: (s - mean_k) / std_k.
    groups [N] (e.g. the prompt index of each response): standardised within each (RM, group)
    instead, so an RM's offset between prompts does not matter.
    Guard: where a standard deviation is <= eps (constant scores, or a group of one) the z-score
    is 0, never inf/nan. Non-finite scores are left out of the means and deviations and stay NaN. Computed and returned in float64. The training step's score combination
    (`training.pairs.combine_scores`, e.g. the RM score ensemble's average over RMs) uses it.
    """
    s = np.asarray(scores, np.float64)
    if s.ndim != 2:
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
        sd = std[g]
        out[k, ok] = np.where(sd > eps, dev / np.where(sd > eps, sd, 1.0), 0.0)
    return out
