"""Generated tasks for the demo: three families, each in an existing answer format.

Nothing is downloaded: every example is made from a seed, and the same seed gives the same
examples in every process (``random.Random`` seeded with a string). Each family reuses the answer
format (``Example.task``) of one reasoning benchmark, so the existing prompts, answer extraction
and scoring (``laser_jax.data.answers``) apply to each example as they are:

* ``arithmetic`` (``task="gsm8k"``, gold a number): short word problems, "Mia has 7 pencils and
  buys 5 more. How many pencils does she have now?". Three in four take one step (+, -, or x of
  numbers up to 6), one in four two steps (+ then -, or x then +); numbers stay below 50.
* ``yesno`` (``task="strategyqa"``, gold ``"yes"``/``"no"``, exactly balanced): checkable by
  construction: number comparisons ("Is 23 larger than 31?"), parity ("Is 14 an even
  number?") and category membership from the word lists below ("Is a carrot a vegetable?").
* ``choice`` (``task="mmlu"``, four ``choices``, gold a letter, letters exactly balanced):
  "Which of these is a fruit?" (one member, three from other categories) and arithmetic
  ("What is 17 + 25?") whose distractors are near misses (off by 1, 2 or 10, or the result of
  another operation).

Each family's kinds take turns. ``Example.meta`` holds ``family`` and ``kind``; ids are
``demo-<family>-<split>-<i:03d>``. A question never appears twice, in one split or across
``train`` and ``test``: train is made first, then test skips whatever train holds (key: the
question text; for "Which of these is a fruit?" the question with its set of choices).

``load_task("demo", split=..., seed=...)`` (``laser_jax.data.tasks``) returns ``load_demo``:
one split, the three families interleaved (train: 64 per family, test: 32 per family).

Every question ends with a short cue of its family (``CUES``: "Keep it short: at most two
sentences.", "Answer yes or no in one short sentence.", "Start your reply with the letter.").
Difficulty was sized for SmolLM2-135M-Instruct as the policy under the reasoning prompt with 48
new tokens, where the budget binds: without the cues it reasons at length and is cut off before it
answers (greedy accuracy 3 / 28 / 6 % on arithmetic / yesno / choice for an earlier version with
harder arithmetic and no cues). As generated here, on the 32 test examples per family of seed 0:
arithmetic 9 %, yesno 53 % (it mostly answers "No"), choice 12.5 % (it often copies the options
and stops). With 96 new tokens arithmetic reaches 22 %.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping

from laser_jax.data.example import LETTERS, DataError, Example
from laser_jax.errors import is_int

__all__ = [
    "CATEGORIES",
    "CUES",
    "FAMILIES",
    "FAMILY_TASKS",
    "SPLIT_SIZES",
    "generate",
    "load_demo",
]

FAMILIES: tuple[str, ...] = ("arithmetic", "yesno", "choice")
FAMILY_TASKS: Mapping[str, str] = {"arithmetic": "gsm8k", "yesno": "strategyqa", "choice": "mmlu"}
SPLIT_SIZES: Mapping[str, int] = {"train": 64, "test": 32}  # examples per family

# Unambiguous members only (no tomato, no orange: a fruit and a colour).
CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "fruit": ("apple", "banana", "grape", "pear", "peach", "cherry", "mango", "lemon", "strawberry",
              "pineapple", "plum", "watermelon", "kiwi", "apricot"),
    "vegetable": ("carrot", "potato", "onion", "cabbage", "broccoli", "lettuce", "spinach",
                  "celery", "cauliflower", "radish", "turnip", "leek", "beet", "parsnip"),
    "animal": ("dog", "cat", "horse", "cow", "lion", "tiger", "elephant", "rabbit", "sheep", "goat",
               "bear", "monkey", "fox", "zebra", "giraffe"),
    "color": ("red", "blue", "green", "yellow", "purple", "pink", "brown", "black", "white",
              "gray"),
    "vehicle": ("car", "bus", "truck", "bicycle", "train", "airplane", "boat", "motorcycle",
                "tractor", "scooter", "helicopter", "van", "taxi"),
    "musical instrument": ("piano", "guitar", "violin", "drum", "flute", "trumpet", "harp", "cello",
                           "clarinet", "saxophone", "banjo", "trombone"),
}
_NO_ARTICLE = {"color"}  # "Is red a color?", not "Is a red a color?"

_NAMES = (("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Noah", "he"), ("Emma", "she"),
          ("Liam", "he"), ("Zoe", "she"), ("Omar", "he"), ("Lily", "she"), ("Sam", "he"),
          ("Nina", "she"), ("Ben", "he"))
_ITEMS = ("pencils", "apples", "stickers", "marbles", "cookies", "books", "shells", "cards",
          "stamps", "balloons", "coins", "eggs")
_CONTAINERS = (("box", "boxes"), ("bag", "bags"), ("pack", "packs"), ("jar", "jars"))

# A cue ending each question, sized for a small policy with a short budget (48 new tokens): without
# it SmolLM2-135M-Instruct reasons at length and is cut off before it answers.
CUES: Mapping[str, str] = {
    "arithmetic": "Keep it short: at most two sentences.",
    "yesno": "Answer yes or no in one short sentence.",
    "choice": "Start your reply with the letter.",
}

Generated = tuple[str, tuple[str, ...], str, str, str]  # question, choices, gold, kind, dedupe key


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _member(category: str, item: str) -> str:
    return item if category in _NO_ARTICLE else _a(item)


# --------------------------------------------------------------------------------------------
# arithmetic (gsm8k format)


def _arithmetic(rng: random.Random, slot: int) -> Generated:
    name, he = rng.choice(_NAMES)
    items = rng.choice(_ITEMS)
    box, boxes = rng.choice(_CONTAINERS)
    # one step three times in four (+, -, x), then two steps (+ then -, or x then +)
    if slot % 4 < 3:
        kind = ("add", "sub", "mul")[slot % 4]
    else:
        kind = ("add_sub", "mul_add")[slot // 4 % 2]
    if kind == "add":
        a, b = rng.randint(2, 20), rng.randint(2, 9)
        q = f"{name} has {a} {items} and buys {b} more. How many {items} does {he} have now?"
        gold = a + b
    elif kind == "sub":
        a = rng.randint(6, 20)
        b = rng.randint(2, min(9, a - 1))
        q = (f"{name} has {a} {items} and gives {b} of them to a friend. How many {items} does "
             f"{he} have left?")
        gold = a - b
    elif kind == "mul":
        a, b = rng.randint(2, 6), rng.randint(2, 6)
        q = (f"{name} buys {a} {boxes} of {items}. Each {box} holds {b} {items}. How many {items} "
             f"does {he} buy?")
        gold = a * b
    elif kind == "add_sub":
        a, b = rng.randint(3, 15), rng.randint(2, 9)
        c = rng.randint(1, min(9, a + b - 1))
        q = (f"{name} has {a} {items}. {he.capitalize()} buys {b} more and then gives {c} away. "
             f"How many {items} does {he} have now?")
        gold = a + b - c
    else:
        a, b, c = rng.randint(2, 5), rng.randint(2, 5), rng.randint(1, 9)
        q = (f"{name} has {a} {boxes} with {b} {items} in each {box}, and {c} more {items} "
             f"outside the {boxes}. How many {items} does {he} have in total?")
        gold = a * b + c
    return q, (), str(gold), kind, q


# --------------------------------------------------------------------------------------------
# yes / no (strategyqa format)


def _yesno(rng: random.Random, slot: int, yes: bool) -> Generated:
    kind = ("compare", "parity", "member")[slot % 3]
    if kind == "compare":
        a, b = rng.sample(range(10, 100), 2)
        larger = rng.random() < 0.5
        if (a > b) != (larger == yes):  # order the pair so the answer is `yes`
            a, b = b, a
        q = f"Is {a} {'larger' if larger else 'smaller'} than {b}?"
    elif kind == "parity":
        even = rng.random() < 0.5
        n = 2 * rng.randint(1, 99) + (0 if even == yes else 1)
        q = f"Is {n} an {'even' if even else 'odd'} number?"
    else:
        category = rng.choice(sorted(CATEGORIES))
        source = category if yes else rng.choice(sorted(set(CATEGORIES) - {category}))
        item = rng.choice(CATEGORIES[source])
        q = f"Is {_member(source, item)} {_a(category)}?"
    return q, (), "yes" if yes else "no", kind, q


# --------------------------------------------------------------------------------------------
# multiple choice (mmlu format)


def _near_misses(rng: random.Random, gold: int, other: int) -> list[int]:
    pool = {gold - 1, gold + 1, gold - 2, gold + 2, gold - 10, gold + 10, other}
    pool = sorted(v for v in pool if v >= 0 and v != gold)
    return rng.sample(pool, 3)


def _choice(rng: random.Random, slot: int, letter: str) -> Generated:
    kind = ("category", "arithmetic")[slot % 2]
    if kind == "category":
        category = rng.choice(sorted(CATEGORIES))
        right = rng.choice(CATEGORIES[category])
        others = rng.sample(sorted(set(CATEGORIES) - {category}), 3)
        wrong = [rng.choice(CATEGORIES[c]) for c in others]
        q = f"Which of these is {_a(category)}?"
        options = [right.capitalize()] + [w.capitalize() for w in wrong]
        key = q + " | " + " | ".join(sorted(options))
    else:
        op = rng.choice("+-x")
        if op == "+":
            a, b = rng.randint(11, 60), rng.randint(11, 40)
            right_value, other = a + b, a - b
        elif op == "-":
            a = rng.randint(30, 90)
            b = rng.randint(11, a - 5)
            right_value, other = a - b, a + b
        else:
            a, b = rng.randint(3, 9), rng.randint(3, 9)
            right_value, other = a * b, a + b
        q = f"What is {a} {'×' if op == 'x' else op} {b}?"
        options = [str(right_value)] + [str(v) for v in _near_misses(rng, right_value, other)]
        key = q
    right_text, wrong_texts = options[0], options[1:]
    rng.shuffle(wrong_texts)
    pos = LETTERS.index(letter)
    choices = tuple(wrong_texts[:pos] + [right_text] + wrong_texts[pos:])
    return q, choices, letter, kind, key


# --------------------------------------------------------------------------------------------
# Splits


def _balanced(values: tuple, n: int, rng: random.Random) -> list:
    """n values, each of ``values`` equally often (the first n % len(values) once more),
    shuffled."""
    out = [values[i % len(values)] for i in range(n)]
    rng.shuffle(out)
    return out


_MAX_TRIES = 1000


def _family(family: str, seed: int, sizes: Mapping[str, int]) -> dict[str, list[Example]]:
    rng = random.Random(f"laser_jax.demo/{seed}/{family}")
    make: Callable[[int, object], Generated]
    if family == "arithmetic":
        targets: tuple = (None,)
        make = lambda slot, _: _arithmetic(rng, slot)  # noqa: E731
    elif family == "yesno":
        targets = (True, False)
        make = lambda slot, yes: _yesno(rng, slot, yes)  # noqa: E731
    else:
        targets = tuple(LETTERS)
        make = lambda slot, letter: _choice(rng, slot, letter)  # noqa: E731
    seen: set[str] = set()
    out: dict[str, list[Example]] = {}
    for split, n in sizes.items():
        examples = []
        for i, target in enumerate(_balanced(targets, n, rng)):
            for _ in range(_MAX_TRIES):
                question, choices, gold, kind, key = make(i, target)
                if key.lower() not in seen:
                    break
            else:
                raise DataError(f"demo family {family!r}: no new question after {_MAX_TRIES} tries "
                                f"(split {split!r}, example {i}); ask for fewer examples")
            seen.add(key.lower())
            examples.append(Example(
                uid=f"demo-{family}-{split}-{i:03d}",
                task=FAMILY_TASKS[family],
                question=f"{question} {CUES[family]}",
                answer=gold,
                choices=choices,
                meta={"family": family, "kind": kind},
            ))
        out[split] = examples
    return out


def generate(seed: int = 0, sizes: Mapping[str, int] = SPLIT_SIZES) -> dict[str, list[Example]]:
    """Every split (``sizes``: examples per family, made in this order, no question in two
    splits), the families interleaved: {split: [arithmetic 0, yesno 0, choice 0, arithmetic 1,
    ...]}."""
    if not is_int(seed):
        raise DataError(f"demo tasks: seed must be an integer, got {seed!r}")
    per_family = {family: _family(family, seed, sizes) for family in FAMILIES}
    out = {}
    for split, n in sizes.items():
        out[split] = [per_family[f][split][i] for i in range(n) for f in FAMILIES]
    return out


def load_demo(split: str, seed: int = 0) -> list[Example]:
    """One split of the demo tasks (``SPLIT_SIZES[split]`` per family), made from ``seed``."""
    if split not in SPLIT_SIZES:
        raise DataError(f"demo tasks have splits {list(SPLIT_SIZES)}, not {split!r} "
                        "(config.data.train_split / test_split)")
    return generate(seed)[split]
