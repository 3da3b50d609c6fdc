"""The text checks behind ``ifeval_like``'s instruction kinds (`laser_jax.data.ifeval.kinds`):
word, sentence and bullet counts, JSON, titles, end phrases and the reply language. Pure
functions of a response; the rules each kind applies are in the kinds module's docstring.
"""

from __future__ import annotations

import functools
import json
import re

from laser_jax.errors import DataError

RELATIONS = ("less than", "at least")
ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e"})

_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s|$)")
_LAST_TOKEN = re.compile(r"(\S+)$")
_BULLET = re.compile(r"^[ \t]*[*-][ \t]+\S.*$", flags=re.MULTILINE)
_TITLE = re.compile(r"<<[^\n]+>>")


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


def compare(count: int, relation: str, n: int) -> bool:
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


def is_json(text: str) -> bool:
    try:
        json.loads(_strip_json_fences(text))
    except ValueError:
        return False
    return True


def has_title(text: str) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in _TITLE.findall(text))


def ends_with(text: str, phrase: str) -> bool:
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


def language_is(text: str, language: str) -> bool:
    factory = _language_detector_factory()  # first: a DataError if langdetect is missing
    from langdetect.lang_detect_exception import LangDetectException

    detector = factory.create()
    detector.append(text)
    try:
        return detector.detect() == language
    except LangDetectException:
        return True  # IFEval: text langdetect cannot classify counts as followed

