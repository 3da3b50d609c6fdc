"""Answer extraction and scoring for the reasoning tasks (GSM8K, StrategyQA, MMLU).

Canonical answer forms (what ``gold_answer`` returns, what the extractors return, what
``is_correct`` compares):

* ``gsm8k``: a number string without thousands separators or currency, integers without a
  decimal point and decimals without trailing zeros: ``"18"``, ``"-3"``, ``"2125"``, ``"0.5"``.
* ``strategyqa``: ``"yes"`` or ``"no"``.
* ``mmlu``: one letter ``"A"`` .. ``"D"``.

Extraction (``extract_answer``) reads the text after the LAST ``Final answer`` (any case, with or
without a colon, ``**`` markdown or "is") first, since the prompt asks for ``Final answer:...``;
when that is absent or holds no answer it falls back to task rules:

* GSM8K: in the final-answer text a ``\\boxed{}`` number, else the first number of its first
  line with one, or, when that line is a calculation (``9 * 2 = 18``, ``15 gallons * 8 pints =
  120 pints``: an operator before the last ``=``, and no ``,``/``;``/"since"/"because"/"as"...
  that would make it a justification, as in ``18, since 16 - 3 - 4 = 9``), the number after the
  last ``=``. Fallbacks over the whole text: the last ``#### N``, the last ``\\boxed{N}``, the last
  number. Numbers may carry thousands commas, ``$``/``€``/``£``, a minus sign, decimals and a
  trailing period.
* StrategyQA: the first yes/no/true/false word of the final-answer text, else the last such word
  in the whole text.
* MMLU: in the final-answer text a ``\\boxed{B}``, a leading letter (``B``, ``B.``, ``B)``,
  ``(B) foo``, ``B: foo``), a ``(B)`` anywhere, ``answer/option/choice is B``, or the text of one
  of the choices when ``choices`` are given. Fallbacks over the whole text: the last
  ``answer is B``-style phrase, the last ``\\boxed{B}``, or a text that is nothing but a letter.
  A bare ``A`` followed by a lower-case word (``A good reason``) is read as the article.

The per-task rules are plain functions (``extract_gsm8k`` ...); ``laser_jax.data.tasks.TASKS`` is
the registry that ties a task name to its loader, gold parser, extractor and scorer, and its
task-name functions (``extract_answer``, ``is_correct``, ``gold_answer``) dispatch through it.
"""

from __future__ import annotations

import decimal
import math
import re
import threading
from collections.abc import Sequence

from laser_jax.data.example import LETTERS, DataError

__all__ = [
    "canonical_number",
    "extract_gsm8k",
    "extract_mmlu",
    "extract_strategyqa",
    "final_answer_text",
    "gold_gsm8k",
    "gold_mmlu",
    "gold_strategyqa",
    "is_correct_choice",
    "is_correct_number",
    "is_correct_yes_no",
]

# --------------------------------------------------------------------------------------------
# Shared pieces


_FINAL_RE = re.compile(r"final\s*answer", re.IGNORECASE)
# Decorations between "Final answer" and the answer itself: "**", ":", "=", "is", "would be".
_FINAL_LEAD_RE = re.compile(
    r"^[\s*_:：=]*(?:(?:is|was|would\s+be|will\s+be)\b)?[\s*_:：=]*", re.IGNORECASE
)


def final_answer_text(text: str) -> str | None:
    """The text after the last "Final answer" marker (decorations stripped), or None."""
    last = None
    for last in _FINAL_RE.finditer(text):
        pass
    if last is None:
        return None
    tail = text[last.end():]
    return tail[_FINAL_LEAD_RE.match(tail).end():]


# --------------------------------------------------------------------------------------------
# Numbers (GSM8K)

# A number not glued to a word or a decimal point on its left ("x2", "v1.2" are not numbers; a
# minus right after a digit or letter is a subtraction, not a sign), with an optional currency
# sign, thousands commas in groups of three, decimals.
_NUM_RE = re.compile(
    r"(?<![\w.])(?P<sign>[-−])?[$€£]?\s?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?![\d])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
)
_STRICT_NUM_RE = re.compile(
    r"^(?P<sign>[-−+])?\s*[$€£]?\s*(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"\s*%?\.?$"
)
_HASH_RE = re.compile(r"^[ \t]*####[ \t]*(?P<value>.*?)[ \t]*$", re.MULTILINE)
_BOXED_RE = re.compile(r"\\boxed\s*\{(?P<inner>[^{}]*)\}")
_CALCULATION_MAX_CHARS = 300  # bounds the regex work on pathological lines
_CALCULATION_RE = re.compile(r"\d[^=]*?[-+*/×÷^][^=]*?\d")
_REASON_RE = re.compile(
    r",(?!\d{3})|;|\b(?:since|because|as|from|given|where|when|which|so|then|if|with)\b",
    re.IGNORECASE,
)


def _decimal_to_str(value: decimal.Decimal) -> str:
    if value == value.to_integral_value():
        return format(value.to_integral_value(), "f")
    return format(value.normalize(), "f")


def _match_to_str(match: re.Match) -> str:
    num = match["num"].replace(",", "")
    value = decimal.Decimal(num)
    if match["sign"] and value != 0:
        value = -value
    return _decimal_to_str(value)


def canonical_number(text: str) -> str | None:
    """``text`` as a canonical number string if the whole of it is one number, else None.

    Accepts thousands commas, a currency sign, a leading sign, a trailing ``%`` or period:
    ``"$1,234.50"`` -> ``"1234.5"``, ``"18.00"`` -> ``"18"``, ``"-3."`` -> ``"-3"``.
    """
    match = _STRICT_NUM_RE.match(text.strip().replace("−", "-"))
    if match is None:
        return None
    num = match["num"].replace(",", "")
    value = decimal.Decimal(num)
    if match["sign"] == "-" and value != 0:
        value = -value
    return _decimal_to_str(value)


def _first_number_of_answer(segment: str) -> str | None:
    boxed = _BOXED_RE.search(segment)
    if boxed:
        found = _NUM_RE.search(boxed["inner"])
        if found:
            return _match_to_str(found)
    for line in segment.splitlines():
        first = _NUM_RE.search(line)
        if first is None:
            continue
        # "9 * 2 = 18", "15 gallons * 8 pints/gallon = 120 pints": the line is a calculation;
        # its result follows the last "=". Not so for "18, since 16 - 3 - 4 = 9".
        if "=" in line[first.end():]:
            before, after = line.rsplit("=", 1)
            before = before[-_CALCULATION_MAX_CHARS:]
            result = _NUM_RE.search(after)
            if result and _CALCULATION_RE.search(before) and not _REASON_RE.search(before):
                return _match_to_str(result)
        return _match_to_str(first)
    return None


def extract_gsm8k(text: str, choices: Sequence[str] = ()) -> str | None:
    """The numeric answer of a GSM8K completion, canonical (``"1234.5"``), or None."""
    del choices
    tail = final_answer_text(text)
    if tail is not None:
        found = _first_number_of_answer(tail)
        if found is not None:
            return found
    hashes = _HASH_RE.findall(text)
    for value in reversed(hashes):
        found = _NUM_RE.search(value)
        if found:
            return _match_to_str(found)
    for boxed in reversed(_BOXED_RE.findall(text)):
        found = _NUM_RE.search(boxed)
        if found:
            return _match_to_str(found)
    last = None
    for last in _NUM_RE.finditer(text):
        pass
    return None if last is None else _match_to_str(last)


def gold_gsm8k(raw: object) -> str:
    """Canonical GSM8K gold from a solution ending in ``#### N``, a number string or a number."""
    if isinstance(raw, bool):
        raise DataError(
            f"GSM8K gold answer must be a number or text ending in '#### N', got {raw!r}"
        )
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return _decimal_to_str(decimal.Decimal(repr(raw)))
    if not isinstance(raw, str):
        raise DataError(
            f"GSM8K gold answer must be a string ending in '#### N', got {type(raw).__name__}"
        )
    hashes = _HASH_RE.findall(raw)
    if not hashes:
        plain = canonical_number(raw)
        if plain is not None:
            return plain
        preview = raw.strip().splitlines()[-1][:80] if raw.strip() else ""
        raise DataError(
            "GSM8K gold answer has no final line '#### N' (last line: "
            f"{preview!r}); each 'answer' must end with a line like '#### 18'"
        )
    value = canonical_number(hashes[-1])
    if value is None:
        raise DataError(
            f"GSM8K gold answer line '#### {hashes[-1]}' does not hold a number; expected "
            "'#### 18', '#### -3' or '#### 2,125'"
        )
    return value


def _as_decimal(text: str) -> decimal.Decimal | None:
    value = canonical_number(text)
    return None if value is None else decimal.Decimal(value)


# Plain-number comparison tolerance (absolute): "18.0000001" is 18, "18.01" is not.
_NUMBER_ABS_TOL = decimal.Decimal("1e-6")
# math_verify gets at most this many characters: it is a fallback for LaTeX-ish short answers.
_MATH_VERIFY_MAX_CHARS = 100


def _math_verify_equal(prediction: str, gold: str) -> bool:
    """math_verify's equivalence of two short answers; False on any failure.

    math_verify's timeouts use SIGALRM, which only works on the main thread: there we keep a
    5 s limit; on other threads timeouts are off and powers (the one way a short GSM8K-style
    answer makes sympy run for long) are refused instead.
    """
    if len(prediction) > _MATH_VERIFY_MAX_CHARS or len(gold) > _MATH_VERIFY_MAX_CHARS:
        return False
    on_main = threading.current_thread() is threading.main_thread()
    if not on_main and ("^" in prediction or "**" in prediction):
        return False
    timeout = 5 if on_main else None
    try:
        import math_verify  # heavy (sympy); only needed for non-numeric predictions

        gold_parsed = math_verify.parse(f"${gold}$", parsing_timeout=timeout)
        pred_parsed = math_verify.parse(prediction, parsing_timeout=timeout)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(math_verify.verify(gold_parsed, pred_parsed, timeout_seconds=timeout))
    except Exception:  # noqa: BLE001 - any parser/verifier failure means "not shown equal"
        return False


def is_correct_number(prediction: str | None, gold: str) -> bool:
    """Numeric equality (|pred - gold| <= 1e-6); math_verify when ``prediction`` is not a plain
    number (``"\\frac{36}{2}"``)."""
    if prediction is None:
        return False
    gold_value = _as_decimal(gold)
    if gold_value is None:
        raise DataError(f"GSM8K gold {gold!r} is not a number; canonicalise it with gold_answer")
    pred_value = _as_decimal(prediction)
    if pred_value is not None:
        return abs(pred_value - gold_value) <= _NUMBER_ABS_TOL
    return _math_verify_equal(prediction.strip(), _decimal_to_str(gold_value))


# --------------------------------------------------------------------------------------------
# Yes / no (StrategyQA)

_YES_NO_RE = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_YES_NO = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def extract_strategyqa(text: str, choices: Sequence[str] = ()) -> str | None:
    """``"yes"``/``"no"`` from a StrategyQA completion, or None."""
    del choices
    tail = final_answer_text(text)
    if tail is not None:
        first = _YES_NO_RE.search(tail)
        if first:
            return _YES_NO[first.group(1).lower()]
    last = None
    for last in _YES_NO_RE.finditer(text):
        pass
    return None if last is None else _YES_NO[last.group(1).lower()]


def gold_strategyqa(raw: object) -> str:
    """Canonical StrategyQA gold from a JSON boolean (true = yes) or a yes/no/true/false string."""
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, str) and raw.strip().lower() in _YES_NO:
        return _YES_NO[raw.strip().lower()]
    raise DataError(
        f"StrategyQA gold answer must be a JSON boolean (true/false) or 'yes'/'no', got {raw!r}"
    )


def is_correct_yes_no(prediction: str | None, gold: str) -> bool:
    if prediction is None:
        return False
    pred = _YES_NO.get(prediction.strip().lower())
    return pred is not None and pred == gold_strategyqa(gold)


# --------------------------------------------------------------------------------------------
# Letters (MMLU)

_BOXED_LETTER_RE = re.compile(r"\\boxed\s*\{\s*(?:\\text\s*\{)?\s*\(?([A-D])\)?\s*\}?\s*\}")
# A leading letter: "B", "B.", "B)", "(B) foo", "B: foo", "b)", "option B".
_LEAD_LETTER_RE = re.compile(
    r"^[\s*_`'\"\[{]*(?:(?i:option|choice|letter)\s+)?"
    r"(?:\((?P<p>[A-Da-d])\)|(?P<u>[A-D])(?![\w'])|(?P<l>[a-d])(?=[).:]|\s*$))"
)
_PAREN_LETTER_RE = re.compile(r"\(([A-D])\)")
_VERB = r"(?:\s*(?i:is|would\s+be|should\s+be|will\s+be|:))?[\s:*]*"
# "answer is B", "option (C)", "choice: D" (inside the final-answer text).
_TAIL_PHRASE_RE = re.compile(r"\b(?i:answer|option|choice)" + _VERB + r"\(?([A-D])\b(?![-'])")
# "the answer is B", "correct answer: (C)" (anywhere; "option B" alone is too common there).
_TEXT_PHRASE_RE = re.compile(r"\b(?i:answer)" + _VERB + r"\(?([A-D])\b(?![-'])")
_BARE_LETTER_RE = re.compile(r"^[\s*_`'\"\[{(]*([A-Da-d])[\s*_`'\"\]}).:]*$")


def _is_article(text: str, match: re.Match, group: int = 1) -> bool:
    """A capital "A" followed by a lower-case word ("A good reason") is the article."""
    return match.group(group) == "A" and re.match(r" +[a-z]", text[match.end(group):]) is not None


def _phrase_letters(pattern: re.Pattern, text: str) -> list[str]:
    return [m.group(1) for m in pattern.finditer(text) if not _is_article(text, m)]


def _lead_letter(segment: str) -> str | None:
    match = _LEAD_LETTER_RE.match(segment)
    if match is None:
        return None
    if match["u"] and _is_article(segment, match, "u"):
        return None
    return (match["p"] or match["u"] or match["l"]).upper()


def _normalise_choice(text: str) -> str:
    text = " ".join(text.lower().split())
    return text.strip(" *_`'\".,;:!")


def _letter_from_choice_text(segment: str, choices: Sequence[str]) -> str | None:
    """The letter of the one choice whose text the first line of ``segment`` gives."""
    lines = [line for line in segment.splitlines() if line.strip()]
    if not choices or not lines:
        return None
    said = _normalise_choice(lines[0])
    normalised = [_normalise_choice(choice) for choice in choices[: len(LETTERS)]]
    exact = [i for i, choice in enumerate(normalised) if choice and choice == said]
    if len(exact) == 1:
        return LETTERS[exact[0]]
    found = [
        i for i, choice in enumerate(normalised)
        if choice and re.search(rf"(?<!\w){re.escape(choice)}(?!\w)", said)
    ]
    # Drop choices that are part of another found choice ("wrong" inside "not wrong").
    found = [
        i for i in found
        if not any(normalised[i] != normalised[j] and normalised[i] in normalised[j] for j in found)
    ]
    return LETTERS[found[0]] if len(found) == 1 else None


def extract_mmlu(text: str, choices: Sequence[str] = ()) -> str | None:
    """The letter ``"A"``..``"D"`` a completion chose, or None."""
    tail = final_answer_text(text)
    if tail is not None:
        boxed = _BOXED_LETTER_RE.search(tail)
        if boxed:
            return boxed.group(1)
        letter = _lead_letter(tail)
        if letter:
            return letter
        paren = _PAREN_LETTER_RE.search(tail)
        if paren:
            return paren.group(1)
        phrases = _phrase_letters(_TAIL_PHRASE_RE, tail)
        if phrases:
            return phrases[0]
        letter = _letter_from_choice_text(tail, choices)
        if letter:
            return letter
    phrases = _phrase_letters(_TEXT_PHRASE_RE, text)
    if phrases:
        return phrases[-1]
    boxed_all = _BOXED_LETTER_RE.findall(text)
    if boxed_all:
        return boxed_all[-1]
    bare = _BARE_LETTER_RE.match(text)
    return bare.group(1).upper() if bare else None


def gold_mmlu(raw: object) -> str:
    """Canonical MMLU gold from a letter ``"A"``..``"D"`` or an index 0..3 (the hub's layout)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < len(LETTERS):
        return LETTERS[raw]
    if isinstance(raw, str):
        value = raw.strip()
        if value.upper() in LETTERS:
            return value.upper()
        if value in ("0", "1", "2", "3"):
            return LETTERS[int(value)]
    raise DataError(f"MMLU gold answer must be a letter A-D or an index 0-3, got {raw!r}")


def is_correct_choice(prediction: str | None, gold: str) -> bool:
    if prediction is None:
        return False
    return prediction.strip().upper() == gold_mmlu(gold)
