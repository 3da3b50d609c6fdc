"""The reward-model interface (score normalisation: laser_jax.bandit.combine).

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

