"""Generated long documents with facts hidden in filler text: an offline long-context QA task in
LongBench's format (the best-of-n long-context demo; `data.task=longdoc`).

Each example is one document of ``words`` filler words (sentences drawn from small word lists)
into which one fact is inserted at a random position, plus two distractor facts of the same kind
about other keys; the question asks for the fact. Three families (the fact's kind):

    code    "The access code of the red vault is 4821."      What is the access code of the red vault?
    city    "Mira Holt moved to Lisbon in 1987."              Which city did Mira Holt move to?
    colour  "The boat named Swift Otter is painted green."    What colour is the boat named Swift Otter?

The prompt is LongBench's multifieldqa_en template ("Read the following text and answer
briefly. ..."); the score is LongBench's qa_f1_score against the answer (examples carry
task "longbench", dataset "multifieldqa_en", so `data.tasks.score_response` grades them).
"""

from __future__ import annotations

import numpy as np

from laser_jax.data.example import DataError, Example
from laser_jax.data.longbench import TEMPLATES

SIZES = {"train": 64, "test": 64}  # examples per split (families interleaved)
WORDS = 700  # filler words per document (~900 SmolLM2 tokens with the template)
FAMILIES = ("code", "city", "colour")

_ADJ = ("quiet", "old", "busy", "narrow", "bright", "small", "distant", "wooden", "grey", "long")
_NOUN = ("market", "bridge", "garden", "station", "library", "harbour", "road", "tower", "village", "river")
_VERB = ("stood", "waited", "opened", "closed", "changed", "stayed", "grew", "rested", "shone", "turned")
_TIME = ("in the morning", "after the rain", "every spring", "at dusk", "for many years", "on Sundays")
_KEYS = ("red", "blue", "north", "east", "silver", "copper", "upper", "lower", "inner", "outer")
_FIRST = ("Mira", "Tomas", "Ines", "Oskar", "Lena", "Paulo", "Ada", "Viktor", "Noor", "Felix")
_LAST = ("Holt", "Berg", "Costa", "Lind", "Moreau", "Quinn", "Sato", "Varga", "Weiss", "Young")
_CITIES = ("Lisbon", "Oslo", "Krakow", "Nairobi", "Quito", "Hanoi", "Dublin", "Porto", "Tallinn", "Lyon")
_BOAT = ("Swift Otter", "Grey Heron", "Calm Tide", "Red Kite", "Night Owl", "Blue Finch", "Iron Gull")
_COLOURS = ("green", "yellow", "white", "orange", "purple", "black", "brown")


def _filler(rng: np.random.Generator, words: int) -> list[str]:
    out, n = [], 0
    while n < words:
        s = (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} near the "
             f"{rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_TIME)}.")
        out.append(s)
        n += len(s.split())
    return out


def _facts(family: str, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """Three (fact sentence, question, answer) of one kind about distinct keys; the first is asked."""
    if family == "code":
        keys = rng.choice(_KEYS, 3, replace=False)
        return [(f"The access code of the {k} vault is {c}.", f"What is the access code of the {k} vault?", str(c))
                for k, c in zip(keys, rng.integers(1000, 9999, 3))]
    if family == "city":
        first, last = rng.choice(_FIRST, 3, replace=False), rng.choice(_LAST, 3, replace=False)
        names = [f"{f} {ln}" for f, ln in zip(first, last)]
        cities = rng.choice(_CITIES, 3, replace=False)
        return [(f"{n} moved to {c} in {y}.", f"Which city did {n} move to?", str(c))
                for n, c, y in zip(names, cities, rng.integers(1950, 2020, 3))]
    boats = rng.choice(_BOAT, 3, replace=False)
    colours = rng.choice(_COLOURS, 3, replace=False)
    return [(f"The boat named {b} is painted {c}.", f"What colour is the boat named {b}?", str(c))
            for b, c in zip(boats, colours)]


def generate(split: str, seed: int = 0, words: int = WORDS) -> list[Example]:
    """``SIZES[split]`` examples, families interleaved, reproducible from (seed, split)."""
    if split not in SIZES:
        raise DataError(f"longdoc tasks have splits {list(SIZES)}, not {split!r} (config.data.train_split / "
                        "test_split)")
    rng = np.random.default_rng([seed, list(SIZES).index(split)])
    out = []
    for i in range(SIZES[split]):
        family = FAMILIES[i % len(FAMILIES)]
        sentences = _filler(rng, words)
        facts = _facts(family, rng)
        for fact, _, _ in facts:  # the asked fact and two distractors, anywhere in the document
            sentences.insert(int(rng.integers(0, len(sentences) + 1)), fact)
        _, question, answer = facts[0]
        context = " ".join(sentences)
        prompt = TEMPLATES["multifieldqa_en"].format(context=context, input=question)
        meta = {"family": family, "dataset": "multifieldqa_en", "answers": (answer,), "all_classes": (),
                "length": len(context.split()), "truncate": "middle"}
        out.append(Example(uid=f"longdoc/{split}/{i}", task="longbench", question=prompt, answer=answer, meta=meta))
    return out
