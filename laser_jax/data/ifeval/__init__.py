"""``ifeval_like``: generated prompts whose instructions a program checks, after IFEval (Zhou et al.
2023, "Instruction-Following Evaluation for Large Language Models"; google-research
``instruction_following_eval``). Nothing is downloaded and no model judges: each prompt is a short
writing task plus one to three verifiable instructions, and a response is scored by the checkers
below.

Instructions. An ``Instruction`` is an id (IFEval's name for the kind) and its keyword arguments;
``KINDS`` maps each id to its kwargs, the sentence appended to the prompt and its checker
``check(response) -> bool``. Words are ``re.findall(r"\\w+", text)`` (IFEval's tokenizer);
``relation`` is ``"less than"`` (count < N) or ``"at least"`` (count >= N), as in IFEval.

  length_constraints:number_words      {num_words, relation}   number of words vs N.
  length_constraints:number_sentences  {num_sentences, relation} number of sentences vs N, where a
      sentence ends at a run of ``.``, ``!`` or ``?`` (closing quotes or brackets may follow) that
      is followed by whitespace or the end of the text, except a single ``.`` right after one of
      ``ABBREVIATIONS`` ("Dr. Smith" stays one sentence); the text after the last end is a
      sentence too; a piece counts only if it holds a word character. "3.5" does not end a
      sentence (no space follows); a line without an end mark runs on into the next line.
      (IFEval counts with NLTK's punkt model, which needs a download; this rule needs none.)
  keywords:existence                   {keywords}   each keyword occurs, case-insensitive, as a
      substring (IFEval's rule: "cat" is found in "Cats").
  keywords:forbidden_words             {forbidden_words}   none occurs as a whole word
      (``\\b`` on both sides), case-insensitive ("cat" is not found in "Cats").
  detectable_format:number_bullet_lists {num_bullets}   exactly N markdown bullets: lines that,
      after optional indentation, start with "* " or "- " (the marker, then a space or tab, then
      text). IFEval counts every line starting with "-" and every "*x" line (so "---" and
      "*italic*" lines too); this stricter rule counts only real bullets.
  detectable_format:json_format        {}   the whole response, stripped, with one leading
      "```json", "```Json", "```JSON" or "```" and one trailing "```" removed, then stripped
      again, parses with ``json.loads`` (any JSON value), as in IFEval.
  change_case:english_lowercase        {}   ``response.islower()``: at least one cased letter
      and no upper-case letter. IFEval also asks langdetect for English; that part is left out,
      so the kind needs no extra package.
  change_case:english_capital          {}   ``response.isupper()``: at least one cased letter
      and no lower-case letter (same note).
  startend:end_checker                 {end_phrase}   the response, stripped of whitespace then
      of double quotes, ends with the phrase, both lower-cased (IFEval's rule).
  punctuation:no_comma                 {}   no "," in the response.
  detectable_format:title              {}   some ``<<title>>`` on one line with a non-blank title.
  language:response_language           {language}   optional: ``langdetect`` (the package IFEval
      uses; not an install requirement of laser_jax) detects the ISO 639-1 code ``language``, with
      its random seed fixed at 0 so the answer is the same on every call; text it cannot
      classify counts as followed, as in IFEval. Checking this kind without langdetect installed
      is a DataError saying how to install it; ``make_prompts`` draws it only when asked.

Strict and loose (IFEval's ``evaluation_lib``). Strict: an instruction is followed when the
response is not blank (``response.strip() != ""``) and its checker passes on the response. Loose:
followed when the checker passes on any non-blank one of ``loose_variants(response)``, the eight
texts: the response; the response with every "*" removed; with its first line removed; with its
last line removed; with both removed; and each of the last three with every "*" removed (lines
are split on "\\n"; a removed-line text is re-joined with "\\n" and stripped). So loose forgives a
chatty first line ("Sure, here it is:") or a closing remark, and markdown emphasis.

Metrics (``accuracy``) over scored prompts, each ``score(...)`` of one response:
  prompt-level accuracy       = share of prompts whose instructions are all followed;
  instruction-level accuracy  = followed instructions / all instructions, pooled over prompts
                                (a prompt with three instructions weighs three times one with one);
each strict and loose.

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
import functools
import json
import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from laser_jax.data.example import DataError, Example

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

TASK = "ifeval_like"
RELATIONS = ("less than", "at least")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e"})
LANGUAGES: Mapping[str, str] = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
                                "it": "Italian", "pt": "Portuguese", "nl": "Dutch"}
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

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_LAST_TOKEN = re.compile(r"(\S+)$")
_BULLET = re.compile(r"^[ \t]*[*-][ \t]+\S.*$", flags=re.MULTILINE)
_TITLE = re.compile(r"<<[^\n]+>>")


# ---------------------------------------------------------------------------------------- counts

def count_words(text: str) -> int:
    """Number of ``\\w+`` runs in ``text``."""
    return len(_WORD.findall(text))


def count_sentences(text: str) -> int:
    """Number of sentences in ``text`` by the rule of the module docstring."""
    count, start = 0, 0
    for end in _SENTENCE_END.finditer(text):
        mark = end.group().rstrip("\"'”’)]")
        if mark == ".":
            last = _LAST_TOKEN.search(text[start:end.start()])
            if last and last.group(1).lower() in ABBREVIATIONS:
                continue
        if _WORD.search(text[start:end.end()]):
            count += 1
        start = end.end()
    return count + bool(_WORD.search(text[start:]))


def count_bullets(text: str) -> int:
    """Number of markdown bullet lines ("* text" or "- text", indentation allowed)."""
    return len(_BULLET.findall(text))


def _compare(count: int, relation: str, n: int) -> bool:
    return count < n if relation == "less than" else count >= n


def _strip_json_fences(text: str) -> str:
    text = text.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):
        if text.startswith(fence):
            text = text[len(fence):]
            break
    if text.endswith("```"):
        text = text[:-3]
    return text.strip()


def _is_json(text: str) -> bool:
    try:
        json.loads(_strip_json_fences(text))
    except ValueError:
        return False
    return True


def _has_title(text: str) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in _TITLE.findall(text))


def _ends_with(text: str, phrase: str) -> bool:
    return text.strip().strip('"').lower().endswith(phrase.strip().lower())


@functools.lru_cache(maxsize=1)
def _language_detector_factory():
    try:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    except ImportError:
        raise DataError("the instruction language:response_language needs the langdetect package, "
                        "which is not installed; run `pip install langdetect`, or leave the kind "
                        "out (make_prompts draws it only when kinds names it)") from None
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.set_seed(0)
    return factory


def _language_is(text: str, language: str) -> bool:
    factory = _language_detector_factory()  # first: a DataError if langdetect is missing
    from langdetect.lang_detect_exception import LangDetectException

    detector = factory.create()
    detector.append(text)
    try:
        return detector.detect() == language
    except LangDetectException:
        return True  # IFEval: text langdetect cannot classify counts as followed


# ----------------------------------------------------------------------------------------- kinds

@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of instruction: its IFEval id, the names of its kwargs, the sentence it adds to a
    prompt (``describe(kwargs)``) and its checker (``check(response, kwargs)``)."""

    id: str
    params: tuple[str, ...]
    describe: Callable[[Mapping[str, Any]], str]
    check: Callable[[str, Mapping[str, Any]], bool]


def _quoted(noun: str, words: Sequence[str]) -> str:
    return f"the {noun}{'s' if len(words) > 1 else ''} " + " and ".join(f'"{w}"' for w in words)


KINDS: Mapping[str, Kind] = {k.id: k for k in (
    Kind("length_constraints:number_words", ("num_words", "relation"),
         lambda a: f"Answer with {a['relation']} {a['num_words']} words.",
         lambda r, a: _compare(count_words(r), a["relation"], a["num_words"])),
    Kind("length_constraints:number_sentences", ("num_sentences", "relation"),
         lambda a: f"Your response should contain {a['relation']} {a['num_sentences']} sentences.",
         lambda r, a: _compare(count_sentences(r), a["relation"], a["num_sentences"])),
    Kind("keywords:existence", ("keywords",),
         lambda a: f"Include {_quoted('keyword', a['keywords'])} in the response.",
         lambda r, a: all(re.search(re.escape(w), r, flags=re.IGNORECASE) for w in a["keywords"])),
    Kind("keywords:forbidden_words", ("forbidden_words",),
         lambda a: f"Do not use {_quoted('word', a['forbidden_words'])} in the response.",
         lambda r, a: not any(re.search(rf"\b{re.escape(w)}\b", r, flags=re.IGNORECASE)
                              for w in a["forbidden_words"])),
    Kind("detectable_format:number_bullet_lists", ("num_bullets",),
         lambda a: (f"Your answer must contain exactly {a['num_bullets']} bullet points, each on "
                    "its own line and starting with \"* \" or \"- \"."),
         lambda r, a: count_bullets(r) == a["num_bullets"]),
    Kind("detectable_format:json_format", (),
         lambda a: "Your entire output must be valid JSON; you may wrap it in ``` marks.",
         lambda r, a: _is_json(r)),
    Kind("change_case:english_lowercase", (),
         lambda a: "Your entire response must be in lowercase letters; no capital letters are "
                   "allowed.",
         lambda r, a: r.islower()),
    Kind("change_case:english_capital", (),
         lambda a: "Your entire response must be in capital letters.",
         lambda r, a: r.isupper()),
    Kind("startend:end_checker", ("end_phrase",),
         lambda a: (f"Finish your response with this exact phrase: {a['end_phrase']} No other "
                    "words should follow it."),
         lambda r, a: _ends_with(r, a["end_phrase"])),
    Kind("punctuation:no_comma", (),
         lambda a: "Do not use any commas in your response.",
         lambda r, a: "," not in r),
    Kind("detectable_format:title", (),
         lambda a: "Your answer must contain a title in double angle brackets, such as "
                   "<<a day at sea>>.",
         lambda r, a: _has_title(r)),
    Kind("language:response_language", ("language",),
         lambda a: (f"Your entire response must be in {LANGUAGES[a['language']]}; no other "
                    "language is allowed."),
         lambda r, a: _language_is(r, a["language"])),
)}

DEFAULT_KINDS = tuple(k for k in KINDS if k != "language:response_language")
GROUPS: Mapping[str, tuple[str, ...]] = {
    "length": ("length_constraints:number_words", "length_constraints:number_sentences"),
    "format": ("detectable_format:number_bullet_lists", "detectable_format:json_format",
               "detectable_format:title", "change_case:english_lowercase",
               "change_case:english_capital", "punctuation:no_comma"),
    "words": ("keywords:existence", "keywords:forbidden_words", "startend:end_checker"),
}
SPLIT_SIZES: Mapping[str, int] = {"train": 64, "test": 32}  # prompts per group


def group_of(kind: str) -> str | None:
    """The ``GROUPS`` name of an instruction kind (None: in no group, e.g. the language kind)."""
    return next((g for g, kinds in GROUPS.items() if kind in kinds), None)


def _conflicts() -> Mapping[str, frozenset[str]]:
    table = {k: {k} for k in KINDS}
    table["detectable_format:json_format"] |= set(KINDS) - {"keywords:existence",
                                                           "keywords:forbidden_words"}
    table["change_case:english_lowercase"].add("change_case:english_capital")
    table["language:response_language"] |= {"keywords:existence", "keywords:forbidden_words",
                                             "startend:end_checker", "change_case:english_capital",
                                             "change_case:english_lowercase"}
    for k, others in list(table.items()):
        for o in others:
            table[o].add(k)
    return {k: frozenset(v) for k, v in table.items()}


CONFLICTS: Mapping[str, frozenset[str]] = _conflicts()


# ---------------------------------------------------------------------------------- instructions

def _valid_kwargs(kind: Kind, kwargs: Mapping[str, Any], where: str) -> None:
    if set(kwargs) != set(kind.params):
        raise DataError(f"{where}: {kind.id} takes the kwargs {sorted(kind.params)}, got "
                        f"{sorted(kwargs)}; give exactly those")
    for name in ("num_words", "num_sentences", "num_bullets"):
        if name in kwargs:
            n = kwargs[name]
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise DataError(f"{where}: {kind.id} {name} must be a whole number >= 0, "
                                f"got {n!r}")
    if "relation" in kwargs and kwargs["relation"] not in RELATIONS:
        raise DataError(f"{where}: {kind.id} relation must be one of {RELATIONS}, "
                        f"got {kwargs['relation']!r}")
    for name in ("keywords", "forbidden_words"):
        if name in kwargs:
            words = kwargs[name]
            if (isinstance(words, str) or not words
                    or not all(isinstance(w, str) and w.strip() for w in words)):
                raise DataError(f"{where}: {kind.id} {name} must be a non-empty list of "
                                f"non-blank strings, got {words!r}")
    if "end_phrase" in kwargs and not (isinstance(kwargs["end_phrase"], str)
                                       and kwargs["end_phrase"].strip()):
        raise DataError(f"{where}: {kind.id} end_phrase must be a non-blank string, "
                        f"got {kwargs['end_phrase']!r}")
    if "language" in kwargs and kwargs["language"] not in LANGUAGES:
        raise DataError(f"{where}: {kind.id} language must be one of {sorted(LANGUAGES)}, "
                        f"got {kwargs['language']!r}")


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One instruction: a ``KINDS`` id and its kwargs. ``kwargs`` is stored as sorted
    ``(name, value)`` pairs with lists as tuples, so an Instruction stays hashable; a dict is
    accepted. Construction checks the id and the kwargs (DataError naming the problem)."""

    id: str
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if self.id not in KINDS:
            raise DataError(f"unknown instruction id {self.id!r}; known ids: {sorted(KINDS)}")
        pairs = self.kwargs.items() if isinstance(self.kwargs, Mapping) else self.kwargs
        pairs = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in pairs))
        object.__setattr__(self, "kwargs", pairs)
        _valid_kwargs(KINDS[self.id], dict(pairs), f"instruction {self.id}")

    def kwargs_dict(self) -> dict[str, Any]:
        """The kwargs as a dict, tuples as lists (JSON's form)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.kwargs}

    @property
    def description(self) -> str:
        """The sentence this instruction adds to a prompt."""
        return KINDS[self.id].describe(dict(self.kwargs))

    def check(self, response: str) -> bool:
        """The kind's checker on ``response`` as it is (no blank-response rule: see
        ``follows_strict``)."""
        return bool(KINDS[self.id].check(response, dict(self.kwargs)))


def instructions_to_json(instructions: Iterable[Instruction]) -> str:
    """``[{"id": ..., "kwargs": {...}}, ...]`` with sorted keys: an Example's ``answer``."""
    return json.dumps([{"id": i.id, "kwargs": i.kwargs_dict()} for i in instructions],
                      sort_keys=True)


def instructions_from_json(text: str, *,
                           where: str = "instruction list") -> tuple[Instruction, ...]:
    """The instructions of ``instructions_to_json``'s form (at least one)."""
    try:
        items = json.loads(text)
    except (TypeError, ValueError) as e:
        raise DataError(f"{where}: not JSON ({e}); expected "
                        '[{"id": ..., "kwargs": {...}}, ...]') from None
    return _instructions(items, where)


def _instructions(items: Any, where: str) -> tuple[Instruction, ...]:
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence) or not items:
        raise DataError(f"{where}: expected a non-empty list of instructions "
                        f'([{{"id": ..., "kwargs": {{...}}}}, ...]), got {items!r:.200}')
    out = []
    for n, item in enumerate(items):
        if isinstance(item, Instruction):
            out.append(item)
        elif isinstance(item, Mapping) and set(item) <= {"id", "kwargs"} and "id" in item:
            try:
                out.append(Instruction(item["id"], item.get("kwargs") or {}))
            except DataError as e:
                raise DataError(f"{where}, item {n}: {e}") from None
        else:
            raise DataError(f"{where}, item {n}: expected an Instruction or "
                            f'{{"id": ..., "kwargs": {{...}}}}, got {item!r:.200}')
    return tuple(out)


def _spec(example_or_spec: Example | str | Sequence) -> tuple[Instruction, ...]:
    if isinstance(example_or_spec, Example):
        if example_or_spec.task != TASK:
            raise DataError(f"example {example_or_spec.uid} is a {example_or_spec.task!r} example, "
                            f"not {TASK!r}: only {TASK} examples carry instructions to check")
        return instructions_from_json(example_or_spec.answer,
                                      where=f"example {example_or_spec.uid} answer")
    if isinstance(example_or_spec, str):
        return instructions_from_json(example_or_spec)
    return _instructions(example_or_spec, "instruction list")


# ------------------------------------------------------------------------------ strict and loose

def loose_variants(response: str) -> tuple[str, ...]:
    """IFEval's eight texts for loose checking, in its order: the response, without "*", without
    its first line, without its last line, without both, and those three without "*"."""
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return (response, response.replace("*", ""), first, last, both,
            first.replace("*", ""), last.replace("*", ""), both.replace("*", ""))


def follows_strict(instruction: Instruction, response: str) -> bool:
    """The response is not blank and the checker passes on it."""
    return bool(response.strip()) and instruction.check(response)


def follows_loose(instruction: Instruction, response: str) -> bool:
    """The checker passes on some non-blank text of ``loose_variants(response)``."""
    return any(v.strip() and instruction.check(v) for v in loose_variants(response))


def score(example_or_spec: Example | str | Sequence, response: str) -> dict[str, list]:
    """Per instruction of the prompt, in order: ``{"ids": [...], "strict": [bool, ...],
    "loose": [bool, ...]}``. ``example_or_spec``: an ``ifeval_like`` Example, its ``answer`` JSON,
    or a list of Instructions or ``{"id", "kwargs"}`` dicts."""
    if not isinstance(response, str):
        raise DataError(f"the response must be a string, got {type(response).__name__}")
    instructions = _spec(example_or_spec)
    return {"ids": [i.id for i in instructions],
            "strict": [follows_strict(i, response) for i in instructions],
            "loose": [follows_loose(i, response) for i in instructions]}


def accuracy(scores: Sequence[Mapping[str, Sequence[bool]]]) -> dict[str, float | int]:
    """Prompt- and instruction-level accuracy, strict and loose, over ``score`` results (one per
    prompt), with the numbers of prompts and instructions."""
    if not scores:
        raise DataError("accuracy needs at least one scored prompt; got none")
    out: dict[str, float | int] = {"prompts": len(scores)}
    for mode in ("strict", "loose"):
        followed = [list(s[mode]) for s in scores]
        for n, f in enumerate(followed):
            if not f:
                raise DataError(f"scored prompt {n} has no instructions under {mode!r}; each "
                                "prompt needs at least one (score() gives them)")
        out[f"prompt_{mode}"] = sum(all(f) for f in followed) / len(followed)
        out[f"instruction_{mode}"] = sum(map(sum, followed)) / sum(map(len, followed))
    out["instructions"] = sum(len(s["strict"]) for s in scores)
    return out


# ------------------------------------------------------------------------------------ generation

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
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
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
