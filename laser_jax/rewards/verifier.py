"""Program reward models: a Python function of (prompt, response, gold), no model.

`exact_match(task)` scores 1.0 when the answer extracted from the response
(`laser_jax.data.answers.extract_answer`) is correct for the gold (`is_correct`), else 0.0.
For multiple-choice prompts the lettered choice lines of the prompt ("A. text" ... as written by
`laser_jax.data.prompts.question_text`) are passed to the extractor, so a response that names the
choice's text instead of its letter is read too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

from laser_jax.data import answers
from laser_jax.data.tasks import get_task
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
    """score_i = fn(prompt_i, response_i, gold_i) as float32. `needs_gold`: refuse golds=None /
    a None gold (a verifier without a gold would silently score 0)."""

    kind = "verifier"

    def __init__(self, fn: Callable[[str, str, str | None], float], name: str, *, needs_gold: bool = True):
        self.fn = fn
        self.name = name
        self.needs_gold = needs_gold

    def __repr__(self):
        return f"VerifierRM(name={self.name!r})"

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None) -> np.ndarray:
        golds = check_inputs(prompts, responses, golds, f"verifier {self.name!r}")
        if self.needs_gold and any(g is None for g in golds):
            missing = [i for i, g in enumerate(golds) if g is None]
            raise ValueError(f"verifier {self.name!r} needs a gold answer for every response; none for rows "
                             f"{missing[:10]}{' ...' if len(missing) > 10 else ''}")
        return np.asarray([float(self.fn(p, r, g)) for p, r, g in zip(prompts, responses, golds)], np.float32)


def exact_match(task: str, name: str | None = None) -> VerifierRM:
    """1.0 if the response's extracted answer is correct for `task` (gsm8k, strategyqa, mmlu), else 0.0."""
    get_task(task)  # unknown task -> DataError naming the valid ones

    def fn(prompt: str, response: str, gold: str | None) -> float:
        pred = answers.extract_answer(task, response, prompt_choices(prompt))
        return 1.0 if answers.is_correct(task, pred, gold) else 0.0

    return VerifierRM(fn, name or f"exact_match:{task}")
