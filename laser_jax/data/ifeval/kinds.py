"""``ifeval_like``'s instructions: the kinds a program checks, their conflicts and groups, and
``Instruction`` (a kind and its kwargs) with its JSON form.

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

"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from laser_jax.data.ifeval.checks import (RELATIONS, compare, count_bullets, count_sentences, count_words,
                                          ends_with, has_title, is_json, language_is)
from laser_jax.errors import DataError, is_int

TASK = "ifeval_like"
LANGUAGES: Mapping[str, str] = {"en": "English", "fr": "French", "de": "German", "es": "Spanish",
                                "it": "Italian", "pt": "Portuguese", "nl": "Dutch"}


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
         lambda r, a: compare(count_words(r), a["relation"], a["num_words"])),
    Kind("length_constraints:number_sentences", ("num_sentences", "relation"),
         lambda a: f"Your response should contain {a['relation']} {a['num_sentences']} sentences.",
         lambda r, a: compare(count_sentences(r), a["relation"], a["num_sentences"])),
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
         lambda r, a: is_json(r)),
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
         lambda r, a: ends_with(r, a["end_phrase"])),
    Kind("punctuation:no_comma", (),
         lambda a: "Do not use any commas in your response.",
         lambda r, a: "," not in r),
    Kind("detectable_format:title", (),
         lambda a: "Your answer must contain a title in double angle brackets, such as "
                   "<<a day at sea>>.",
         lambda r, a: has_title(r)),
    Kind("language:response_language", ("language",),
         lambda a: (f"Your entire response must be in {LANGUAGES[a['language']]}; no other "
                    "language is allowed."),
         lambda r, a: language_is(r, a["language"])),
)}

DEFAULT_KINDS = tuple(k for k in KINDS if k != "language:response_language")
GROUPS: Mapping[str, tuple[str, ...]] = {
    "length": ("length_constraints:number_words", "length_constraints:number_sentences"),
    "format": ("detectable_format:number_bullet_lists", "detectable_format:json_format",
               "detectable_format:title", "change_case:english_lowercase",
               "change_case:english_capital", "punctuation:no_comma"),
    "words": ("keywords:existence", "keywords:forbidden_words", "startend:end_checker"),
}


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


def _valid_kwargs(kind: Kind, kwargs: Mapping[str, Any], where: str) -> None:
    if set(kwargs) != set(kind.params):
        raise DataError(f"{where}: {kind.id} takes the kwargs {sorted(kind.params)}, got "
                        f"{sorted(kwargs)}; give exactly those")
    for name in ("num_words", "num_sentences", "num_bullets"):
        if name in kwargs:
            n = kwargs[name]
            if not is_int(n, 0):
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
        pairs = tuple(sorted((k, tuple(v) if isinstance(v, list) else int(v) if is_int(v) else v)  # numpy ints: JSON's
                             for k, v in pairs))
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

