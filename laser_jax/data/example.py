"""The base types of ``laser_jax.data``: ``Example`` (one question with its canonical gold),
``DataError`` (the package's one error type: the message says what, where and what to do) and the
choice letters. Every other data module builds on this one; it imports nothing of the package
but `laser_jax.errors`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from laser_jax.errors import DataError

LETTERS = ("A", "B", "C", "D")
__all__ = ["DataError", "Example", "LETTERS"]


@dataclasses.dataclass(frozen=True)
class Example:
    """One question with its canonical gold answer (see ``laser_jax.data.answers``); ``answer``
    is None for a task without gold answers (``TaskSpec.has_gold`` False: wildchat).

    ``choices`` holds the options of a multiple-choice task (MMLU: A..D, in order).
    ``meta`` is a tuple of ``(key, value)`` pairs, so an Example stays hashable; a dict is
    accepted and stored sorted. ``meta_dict()`` gives it back as a dict.
    """

    uid: str
    task: str
    question: str
    answer: str | None
    choices: tuple[str, ...] = ()
    meta: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))
        if isinstance(self.meta, Mapping):
            object.__setattr__(self, "meta", tuple(sorted(self.meta.items())))
        elif not isinstance(self.meta, tuple):
            object.__setattr__(self, "meta", tuple(self.meta))

    def meta_dict(self) -> dict[str, Any]:
        return dict(self.meta)
