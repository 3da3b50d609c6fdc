"""``ifeval_like``: generated prompts whose instructions a program checks, after IFEval (Zhou et al.
2023, "Instruction-Following Evaluation for Large Language Models"; google-research
``instruction_following_eval``). Nothing is downloaded and no model judges: each prompt is a short
writing task plus one to three verifiable instructions, and a response is scored by the checkers
below.

The package, by job (every name below is importable from ``laser_jax.data.ifeval`` as before):
  ``checks``    the text checks (word, sentence and bullet counts, JSON, title, end phrase, language);
  ``kinds``     the instruction kinds (``KINDS``, ``CONFLICTS``, ``GROUPS``) and ``Instruction``;
  ``scoring``   strict and loose following, ``score`` and ``accuracy``;
  ``generate``  ``make_prompts`` and the task's splits (``generate_split``).
"""

from __future__ import annotations

from laser_jax.data.ifeval.checks import (  # noqa: F401  (_language_detector_factory: its cache, for tests)
    ABBREVIATIONS, RELATIONS, _language_detector_factory, count_bullets, count_sentences, count_words)
from laser_jax.data.ifeval.generate import (END_PHRASES, SPLIT_SIZES, TEMPLATES, TOPICS, WORDS, generate_split,
                                            make_prompts)
from laser_jax.data.ifeval.kinds import (CONFLICTS, DEFAULT_KINDS, GROUPS, KINDS, LANGUAGES, TASK, Instruction, Kind,
                                         group_of, instructions_from_json, instructions_to_json)
from laser_jax.data.ifeval.scoring import accuracy, follows_loose, follows_strict, loose_variants, score

__all__ = [
    "ABBREVIATIONS",
    "CONFLICTS",
    "DEFAULT_KINDS",
    "END_PHRASES",
    "GROUPS",
    "Instruction",
    "KINDS",
    "Kind",
    "LANGUAGES",
    "RELATIONS",
    "TASK",
    "TEMPLATES",
    "TOPICS",
    "WORDS",
    "accuracy",
    "count_bullets",
    "count_sentences",
    "count_words",
    "follows_loose",
    "follows_strict",
    "generate_split",
    "group_of",
    "instructions_from_json",
    "instructions_to_json",
    "loose_variants",
    "make_prompts",
    "score",
    "SPLIT_SIZES",
]
