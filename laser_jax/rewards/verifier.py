"""Program reward models: a Python function of (prompt, response, gold[, task]), no model.

`exact_match(task)` scores 1.0 when the answer extracted from the response
(`laser_jax.data.tasks.extract_answer`) is correct for the gold (`is_correct`), else 0.0.
Each row is scored as its own task when the caller passes per-row `tasks` (a run mixing task
families), else as the configured `task`; a mixed task such as "demo" is resolved row by row from
the gold's form (`laser_jax.data.tasks.row_task`: a number, yes/no or a letter). More programs
(the demo's reward models) are in `laser_jax.rewards.programs`.
For multiple-choice prompts the lettered choice lines of the prompt ("A. text" ... as written by
`laser_jax.data.prompts.question_text`) are passed to the extractor, so a response that names the
choice's text instead of its letter is read too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from laser_jax.data.tasks import extract_answer, get_task, is_correct, row_task
from laser_jax.errors import DataError
from laser_jax.rewards.base import check_inputs

_CHOICE_LINE = re.compile(r"^([A-D])\. (.*)$", re.MULTILINE)


def prompt_choices(prompt: str) -> tuple[str, ...]:
    """The texts of the choice lines "A. ..", "B. .." .. of a prompt, when A, B, ... appear in order
    as the last such lines; () otherwise."""
    found = _CHOICE_LINE.findall(prompt)
    letters = "".join(letter for letter, _ in found)
    for n in (4, 3, 2):
        if letters.endswith("ABCD"[:n]):
            return tuple(text.strip() for _, text in found[-n:])
    return ()


class VerifierRM:
    """score_i = fn(prompt_i, response_i, gold_i) as float32, or, with `task` set,
    fn(prompt_i, response_i, gold_i, task_i), task_i the row's answer-format task: `tasks[i]` when
    `score` gets per-row tasks, else `task`; a mixed task ("demo") becomes the format of the row's
    gold (a row without a gold keeps the name). Without `task`, `tasks` is ignored.
    `needs_gold`: refuse golds=None / a None gold (a verifier without a gold would silently score 0)."""

    kind = "verifier"

    def __init__(self, fn: Callable[..., float], name: str, *, needs_gold: bool = True, task: str | None = None):
        if task is not None:
            get_task(task)  # unknown task -> DataError naming the valid ones
        self.fn = fn
        self.name = name
        self.needs_gold = needs_gold
        self.task = task

    def __repr__(self):
        return f"VerifierRM(name={self.name!r})"

    def row_tasks(self, golds: Sequence[str | None], tasks: Sequence[str] | None = None) -> list[str]:
        """The answer-format task of each row (see the class doc)."""
        named = list(tasks) if tasks is not None else [self.task] * len(golds)
        return [t if g is None else row_task(t, g) for t, g in zip(named, golds)]

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        golds = check_inputs(prompts, responses, golds, f"verifier {self.name!r}", tasks=tasks)
        if self.needs_gold and any(g is None for g in golds):
            missing = [i for i, g in enumerate(golds) if g is None]
            raise DataError(f"verifier {self.name!r} needs a gold answer for every response; none for rows "
                            f"{missing[:10]}{' ...' if len(missing) > 10 else ''}: give the data its answers "
                            "(e.g. an `answer` key per line of a jsonl task) or remove this reward model")
        if self.task is None:
            return np.asarray([float(self.fn(p, r, g)) for p, r, g in zip(prompts, responses, golds)], np.float32)
        rows = self.row_tasks(golds, tasks)
        return np.asarray([float(self.fn(p, r, g, t)) for p, r, g, t in zip(prompts, responses, golds, rows)],
                          np.float32)


def match(prompt: str, response: str, gold: str | None, task: str) -> float:
    """1.0 if the answer extracted from `response` is correct for `gold` in `task`'s format, else 0.0."""
    pred = extract_answer(task, response, prompt_choices(prompt))
    return 1.0 if is_correct(task, pred, gold) else 0.0


def exact_match(task: str, name: str | None = None) -> VerifierRM:
    """1.0 if the response's extracted answer is correct (format: the row's task, else `task`: gsm8k,
    strategyqa, mmlu, or demo resolved per row), else 0.0."""
    return VerifierRM(match, name or f"exact_match:{task}", task=task)
