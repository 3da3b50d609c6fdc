"""Generated ``ifeval_like`` prompts and the task's train / test splits.

Generated prompts (``make_prompts(seed, count)``): prompt ``i`` is one of ``TEMPLATES`` filled with
one of ``TOPICS``, then the descriptions of one to three instructions (count uniform on {1, 2, 3})
drawn one after another, uniformly among the kinds in ``kinds`` that do not conflict with one
already drawn. ``CONFLICTS`` (symmetric; each kind also conflicts with itself, so a kind appears
at most once) follows IFEval's table: JSON goes only with the two keyword kinds; lowercase and
all-capitals exclude each other; a reply language other than English excludes the keyword kinds,
the end phrase and the two case kinds. Required and forbidden words are drawn from ``WORDS``
without overlap; no word of ``WORDS`` occurs in ``TEMPLATES`` or ``TOPICS``, so a forbidden word
never occurs in the prompt's own task sentence. Arguments:
words "less than" N with N in 80..300, "at least" N in 50..250 (steps of 10); sentences "less
than" N in 3..12, "at least" N in 2..10; one or two keywords or forbidden words; 2..5 bullets; an
end phrase from ``END_PHRASES``; a language from ``LANGUAGES`` other than English. The same seed
gives the same prompts in every process (``random.Random`` seeded with a string).

Each prompt is an ``Example`` (``laser_jax.data.example``): ``uid`` "ifeval_like-<seed>-<i:04d>",
``task`` "ifeval_like", ``question`` the full prompt, ``answer`` the instruction list as JSON,
``[{"id": ..., "kwargs": {...}}, ...]`` in the order of the prompt's descriptions (keys sorted;
the same form ``instructions_from_json`` reads and IFEval's ``instruction_id_list`` / ``kwargs``
hold), ``meta`` ``template`` (index into ``TEMPLATES``) and ``topic``.

Groups (the training task ``data.task=ifeval_like``). ``GROUPS`` sorts the default kinds into three
groups of what a checker looks at:
  length  number_words, number_sentences                       (counts)
  format  number_bullet_lists, json_format, title, english_lowercase, english_capital, no_comma
  words   keywords:existence, keywords:forbidden_words, startend:end_checker   (which words occur)
``make_prompts(..., groups=("length", "format", "words"))`` draws prompt ``i``'s instructions from
the kinds of ONE group, ``groups[i % len(groups)]`` (the same one-to-three draw, so a "length"
prompt has at most two instructions and a JSON prompt of the "format" group only that one), and
adds ``meta["family"]`` = the group: the task family that batches, logs and the reward models of
``laser_jax.rewards.programs`` (one verifier per group) go by. ``generate_split(split, seed)`` is
the task's generator: ``SPLIT_SIZES`` prompts per group (train 64, test 32), drawn from one grouped
pool of the seed with every repeated prompt text dropped, train first, so the splits of a seed
share no prompt; uids "ifeval_like-<group>-<split>-<i:03d>".
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

from laser_jax.data.example import Example
from laser_jax.data.ifeval.checks import RELATIONS
from laser_jax.data.ifeval.kinds import (CONFLICTS, DEFAULT_KINDS, GROUPS, KINDS, LANGUAGES, TASK, Instruction,
                                         instructions_to_json)
from laser_jax.errors import DataError, is_int

END_PHRASES = ("Is there anything else I can help with?", "Any other questions?",
               "That is all for today.", "Thank you for reading.")

TEMPLATES = (
    "Write a short note about {topic}.",
    "Write a blog post about {topic}.",
    "Explain {topic} to a ten-year-old.",
    "Write a letter to a friend about {topic}.",
    "Give advice to someone who wants to learn about {topic}.",
    "Write a short story that involves {topic}.",
)
TOPICS = ("the water cycle", "honeybees", "the history of tea", "learning to ride a bicycle",
          "city gardens", "the moon", "volcanoes", "recycling plastic", "the first day of school",
          "a rainy afternoon", "public libraries", "solar power", "the Olympic Games", "chess",
          "baking bread", "deep sea fish", "night trains", "friendship", "winter sports",
          "coral reefs", "street markets", "the printing press", "owls", "mountain hiking")
WORDS = ("window", "journey", "silver", "harbor", "lantern", "garden", "puzzle", "thunder",
         "compass", "orchard", "velvet", "meadow", "ladder", "pepper", "whistle", "canyon",
         "blanket", "island", "marble", "feather", "kettle", "rocket", "violin", "anchor")
SPLIT_SIZES: Mapping[str, int] = {"train": 64, "test": 32}  # prompts per group


def _draw_kwargs(kind: str, rng: random.Random, taken: set[str]) -> dict[str, Any]:
    if kind in ("length_constraints:number_words", "length_constraints:number_sentences"):
        relation = rng.choice(RELATIONS)
        if kind == "length_constraints:number_words":
            low, high = (80, 300) if relation == "less than" else (50, 250)
            return {"num_words": rng.randrange(low, high + 1, 10), "relation": relation}
        low, high = (3, 12) if relation == "less than" else (2, 10)
        return {"num_sentences": rng.randint(low, high), "relation": relation}
    if kind in ("keywords:existence", "keywords:forbidden_words"):
        free = [w for w in WORDS if w not in taken]
        words = sorted(rng.sample(free, rng.randint(1, 2)))
        taken.update(words)
        return {"keywords" if kind == "keywords:existence" else "forbidden_words": words}
    if kind == "detectable_format:number_bullet_lists":
        return {"num_bullets": rng.randint(2, 5)}
    if kind == "startend:end_checker":
        return {"end_phrase": rng.choice(END_PHRASES)}
    if kind == "language:response_language":
        return {"language": rng.choice(sorted(set(LANGUAGES) - {"en"}))}
    return {}


def make_prompts(seed: int, count: int, *, kinds: Sequence[str] = DEFAULT_KINDS,
                 groups: Sequence[str] | None = None) -> list[Example]:
    """``count`` generated prompts (see the module docstring), the same for the same seed.
    ``groups``: names of ``GROUPS``; prompt ``i`` then draws only from the kinds of
    ``groups[i % len(groups)]`` (within ``kinds``) and carries it as ``meta["family"]``."""
    if not is_int(count, 0):
        raise DataError(f"make_prompts: count must be a whole number >= 0, got {count!r}")
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise DataError(f"make_prompts: kinds must name at least one of {sorted(KINDS)}; "
                        f"unknown: {unknown}")
    if groups is not None:
        bad = [g for g in groups if g not in GROUPS or not set(GROUPS[g]) & set(kinds)]
        if bad or not groups or isinstance(groups, str):
            raise DataError(f"make_prompts: groups must be a non-empty list of {sorted(GROUPS)} "
                            f"each holding some of the kinds asked for; bad: {bad or groups!r}")
    rng = random.Random(f"{TASK}-{seed}")
    examples = []
    for i in range(count):
        group = None if groups is None else groups[i % len(groups)]
        pool = kinds if group is None else [k for k in kinds if k in GROUPS[group]]
        template = rng.randrange(len(TEMPLATES))
        topic = rng.choice(TOPICS)
        task_text = TEMPLATES[template].format(topic=topic)
        chosen: list[Instruction] = []
        taken: set[str] = set()
        for _ in range(rng.randint(1, 3)):
            allowed = [k for k in pool if not any(k in CONFLICTS[c.id] for c in chosen)]
            if not allowed:
                break
            kind = rng.choice(allowed)
            chosen.append(Instruction(kind, _draw_kwargs(kind, rng, taken)))
        question = " ".join([task_text] + [c.description for c in chosen])
        meta = {"template": template, "topic": topic} | ({} if group is None else {"family": group})
        examples.append(Example(uid=f"{TASK}-{seed}-{i:04d}", task=TASK, question=question,
                                answer=instructions_to_json(chosen), meta=meta))
    return examples


def generate_split(split: str, seed: int) -> list[Example]:
    """The ``ifeval_like`` task's ``split`` ("train" or "test") of ``seed``: ``SPLIT_SIZES[split]``
    prompts per group of ``GROUPS``, no prompt text twice in or across the seed's splits (module
    docstring)."""
    if split not in SPLIT_SIZES:
        raise DataError(f"task {TASK!r} has the generated splits {list(SPLIT_SIZES)}, not {split!r} "
                        "(config.data.train_split / test_split)")
    groups = tuple(GROUPS)
    need = {s: n for s, n in SPLIT_SIZES.items()}
    pool = make_prompts(seed, 4 * len(groups) * sum(need.values()), groups=groups)
    seen: set[str] = set()
    taken: dict[tuple[str, str], list[Example]] = {}
    for ex in pool:
        if ex.question in seen:
            continue
        seen.add(ex.question)
        group = ex.meta_dict()["family"]
        for s in SPLIT_SIZES:  # train fills first, then test: the splits never share a prompt
            if len(taken.setdefault((s, group), [])) < need[s]:
                taken[(s, group)].append(ex)
                break
    out = []
    for group in groups:
        got = taken.get((split, group), [])
        if len(got) < need[split]:  # not reached with the templates, topics and words above
            raise DataError(f"{TASK}: only {len(got)} distinct {group!r} prompts for split {split!r}")
        out += [dataclasses.replace(ex, uid=f"{TASK}-{group}-{split}-{i:03d}") for i, ex in enumerate(got)]
    return out
