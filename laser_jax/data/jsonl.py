"""``jsonl``: your own prompts, one JSON object per line of a local file (``data.path``), scored
against your own answers by the metric ``data.metric`` names.

A line: ``{"prompt": str (required), "answer": str | number (optional), "family": str (optional),
"id": str | int (optional), ...}``; any other keys are kept and handed to a ``python:`` metric.
Either every line has an ``answer`` or none has (mixed presence is a DataError naming the line).
The file is the split (``data.train_split == data.test_split`` holds out ``data.holdout_fraction``).

Examples: ``uid`` "jsonl-<id>", else "jsonl-<file stem>-<index:06d>" (index = the line's position
among the file's non-blank lines); ``meta``: ``family`` (the line's, else "jsonl": the family
``data.families`` and best-of-n's per-family tables read), ``source`` (file:line) and ``fields``
(the line's keys other than prompt and answer, as JSON). ``Example.task`` names the metric:
"jsonl:<metric>" (the registry builds that task's spec from the metric: `laser_jax.data.registry`),
so every part of a run that scores an example by its task scores it with the metric.

Metrics (``METRICS``; the "extracted answer" of a response is the first non-blank line after its
last ``Final answer`` marker, else the whole response, stripped):
  exact_match  1 if normalise(extracted) == normalise(gold); normalise = LongBench's / SQuAD's
               ``normalize_answer`` (lower case, no punctuation, no articles, single spaces).
  numeric      1 if the number the response gives (GSM8K's extraction: ``answers.extract_gsm8k``)
               equals the gold number (|difference| <= 1e-6); the gold is a number, a number
               string or a text ending in ``#### N``.
  choice       1 if the letter A-D the response chooses (MMLU's extraction: ``answers.extract_mmlu``)
               is the gold letter (A-D, or an index 0-3); the options are part of your prompt.
  qa_f1        LongBench's token F1 of the extracted answer against the gold, in [0, 1].
  rouge        LongBench's Rouge-L F of the extracted answer against the gold, in [0, 1].
  python:REF   your function ``fn(response: str, answer: str | None, example_meta: dict) -> float``
               in [0, 1], REF = ``package.module:fn`` or ``path/to/file.py:fn`` (loaded as the
               ``python`` reward models' functions are). It gets the whole response; example_meta
               is the line's other keys (``fields``) where the caller has the example (best-of-n's
               metric, ``score_response``), and {} where only the answer is at hand (the training
               setting's evaluation accuracy, the exact-match verifier RM, bandit.reward=
               'gold_agreement').
A graded metric's score (qa_f1, rouge, python) is best-of-n's metric as it is; where a run needs
correct / wrong (evaluation accuracy, gold agreement, the verifier RM), correct = score >= 0.5
(``CORRECT_AT``, the rule the LongBench tasks use here).

Prompts: a file with answers is asked in the reasoning prompt of the reasoning tasks (which asks
for ``Final answer:...``; ``choice`` adds "Your final answer should be the letter of the correct
choice."); a file without answers is a prompt set like ``wildchat``: its prompts are given as they
are, the examples have no gold (task "jsonl:no_gold", ``has_gold`` False) and asking for their
correctness is a DataError. Exception: with a ``python:`` metric a file without answers keeps its
metric (the function gets answer=None).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from laser_jax.data import answers, metrics
from laser_jax.data.example import DataError, Example
from laser_jax.data.sources import jsonl_records
from laser_jax.errors import ConfigError

TASK = "jsonl"
FAMILY = "jsonl"  # the family of a line without one
NO_GOLD = "no_gold"  # the metric part of the task of a file without answers
CORRECT_AT = 0.5  # a graded metric's score at or above this counts as correct
PYTHON = "python:"
_FIX = ('a jsonl task file holds one JSON object per line: {"prompt": "...", "answer": "..." (optional, '
        'a string or a number; on every line or on none), "family": "..." (optional), "id": "..." (optional)}')


@dataclasses.dataclass(frozen=True)
class Metric:
    """How one metric reads a gold, extracts an answer and scores it (see the module docstring)."""

    name: str
    gold: Callable[[object], str]  # the line's answer -> canonical gold (DataError when unfit)
    extract: Callable[[str, tuple[str, ...]], str | None]
    is_correct: Callable[[str | None, str], bool]
    score: Callable[[Example, str], float] | None = None  # graded: (example, response) -> [0, 1]
    answer_format: str = ""
    label: str = "accuracy"  # what best-of-n's tables call the metric


def extracted(text: str, choices: tuple[str, ...] = ()) -> str | None:
    """The first non-blank line after the last "Final answer" marker, else the whole response;
    stripped; None when that is empty."""
    tail = answers.final_answer_text(text)
    lines = [line.strip() for line in (tail or "").splitlines() if line.strip()]
    out = lines[0] if lines else text.strip()
    return out or None


def _gold_text(raw: object) -> str:
    if isinstance(raw, bool) or not isinstance(raw, (str, numbers.Real)):
        raise DataError(f"'answer' must be a string or a number, got {raw!r:.80}")
    if not isinstance(raw, str):
        return answers.gold_gsm8k(raw)  # a number as its canonical string: 3, 0.5
    if not raw.strip():
        raise DataError("'answer' is blank; give the gold answer, or leave the key out on every line")
    return raw.strip()


def _gold_number(raw: object) -> str:
    try:
        return answers.gold_gsm8k(raw)
    except DataError as err:
        raise DataError(f"{err} (data.metric='numeric' needs a number as each line's answer)") from None


def _gold_letter(raw: object) -> str:
    try:
        return answers.gold_mmlu(raw)
    except DataError as err:
        raise DataError(f"{err} (data.metric='choice' needs a letter A-D as each line's answer)") from None


def _exact(prediction: str | None, gold: str) -> bool:
    return prediction is not None and metrics.normalize_answer(prediction) == metrics.normalize_answer(gold)


def _graded(fn: Callable[[str, str], float]) -> tuple[Callable, Callable]:
    """(score, is_correct) of a LongBench metric applied to the extracted answer."""

    def score(example: Example, text: str) -> float:
        pred = extracted(text)
        return 0.0 if pred is None else float(fn(pred, example.answer))

    def is_correct(prediction: str | None, gold: str) -> bool:
        return prediction is not None and float(fn(prediction, gold)) >= CORRECT_AT

    return score, is_correct


_F1 = _graded(metrics.qa_f1_score)
_ROUGE = _graded(metrics.rouge_score)
METRICS: Mapping[str, Metric] = {
    "exact_match": Metric("exact_match", _gold_text, extracted, _exact),
    "numeric": Metric("numeric", _gold_number, answers.extract_gsm8k, answers.is_correct_number),
    "choice": Metric("choice", _gold_letter, answers.extract_mmlu, answers.is_correct_choice,
                     answer_format="Your final answer should be the letter of the correct choice."),
    "qa_f1": Metric("qa_f1", _gold_text, extracted, _F1[1], score=_F1[0], label="token F1"),
    "rouge": Metric("rouge", _gold_text, extracted, _ROUGE[1], score=_ROUGE[0], label="Rouge-L F"),
}
METRIC_NAMES = (*METRICS, "python:<module or file.py>:<function>")


def example_meta(example: Example) -> dict[str, Any]:
    """The line's keys other than prompt and answer (id, family, your own)."""
    fields = example.meta_dict().get("fields")
    return json.loads(fields) if fields else {}


def _python_metric(metric: str) -> Metric:
    """The metric of a ``python:REF`` name: ConfigError naming data.metric if REF does not import."""
    from laser_jax.rewards.python_fn import load_function  # the python RMs' loader (rewards imports data)

    ref = metric[len(PYTHON):]
    fn = load_function(ref, f"data.metric={metric!r}: the function")

    def call(response: str, answer: str | None, meta: dict, where: str) -> float:
        try:
            value = fn(response, answer, meta)
        except Exception as e:  # noqa: BLE001 - the user's function: reported as theirs
            raise ConfigError(f"data.metric={metric!r} raised {type(e).__name__}: {e} ({where})") from e
        if (isinstance(value, (bool, str)) or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value)) or not 0.0 <= float(value) <= 1.0):
            raise ConfigError(f"data.metric={metric!r} returned {value!r:.80} ({where}); return a number in "
                              "[0, 1]")
        return float(value)

    def score(example: Example, text: str) -> float:
        return call(text, example.answer, example_meta(example), f"example {example.uid}")

    def is_correct(prediction: str | None, gold: str | None) -> bool:
        return prediction is not None and call(prediction, gold, {}, "a response") >= CORRECT_AT

    return Metric(metric, _gold_text, lambda text, choices=(): text, is_correct, score=score,
                  label=f"python metric {ref.rpartition(':')[2]}")


def get_metric(metric: str) -> Metric:
    """The metric ``data.metric`` names; ConfigError naming data.metric and the valid names."""
    if isinstance(metric, str) and metric.startswith(PYTHON):
        return _python_metric(metric)
    if not isinstance(metric, str) or metric not in METRICS:
        raise ConfigError(f"data.metric={metric!r} is not one of {list(METRIC_NAMES)}")
    return METRICS[metric]


def check_metric(metric: object) -> list[str]:
    """[] if ``data.metric`` names a metric (a python: function that imports), else the problem."""
    try:
        get_metric(metric)
    except ConfigError as e:
        return [str(e)]
    return []


def _row(record: object, where: str) -> tuple[str, object, str | None, str | None, dict]:
    """(prompt, answer or the key's absence as ..., family, id, other fields) of one line."""
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}; {_FIX}")
    if "prompt" not in record:
        raise DataError(f"{where}: no 'prompt' key (has {sorted(record)}); {_FIX}")
    prompt = record["prompt"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise DataError(f"{where}: 'prompt' must be a non-blank string, got {prompt!r:.80}; {_FIX}")
    family = record.get("family")
    if family is not None and not (isinstance(family, str) and family.strip()):
        raise DataError(f"{where}: 'family' must be a non-blank string when given, got {family!r:.80}")
    uid = record.get("id")
    if uid is not None and (isinstance(uid, bool) or not isinstance(uid, (str, int)) or str(uid).strip() == ""):
        raise DataError(f"{where}: 'id' must be a non-blank string or an integer when given, got {uid!r:.80}")
    fields = {k: v for k, v in record.items() if k not in ("prompt", "answer")}
    return prompt, record.get("answer", ...), family and family.strip(), None if uid is None else str(uid), fields


def load(path: Path, metric: str) -> list[Example]:
    """The examples of a JSONL file scored by ``metric`` (module docstring)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: a folder; give data.path as one .jsonl file ({_FIX})")
    spec = get_metric(metric)
    rows = [(_row(record, where), where) for record, where in jsonl_records(path, _FIX)]
    with_answer = [where for (_, answer, *_), where in rows if answer is not ...]
    if with_answer and len(with_answer) != len(rows):
        first_without = next(where for (_, answer, *_), where in rows if answer is ...)
        raise DataError(f"{first_without}: no 'answer' key, while {len(with_answer)} other lines (first: "
                        f"{with_answer[0]}) have one; give every line an answer, or none (a prompt set "
                        "without gold answers)")
    graded = bool(with_answer) or metric.startswith(PYTHON)
    task = f"{TASK}:{metric}" if graded else f"{TASK}:{NO_GOLD}"
    examples = []
    for index, ((prompt, answer, family, uid, fields), where) in enumerate(rows):
        try:
            gold = None if answer is ... else spec.gold(answer)
        except DataError as err:
            raise DataError(f"{where}: {err}") from None
        meta = {"family": family or FAMILY, "source": where}
        if fields:
            meta["fields"] = json.dumps(fields, sort_keys=True)
        examples.append(Example(uid=f"{TASK}-{uid}" if uid is not None else f"{TASK}-{path.stem}-{index:06d}",
                                task=task, question=prompt, answer=gold, meta=meta))
    return examples


def load_hub(split: str) -> list[Example]:
    raise DataError(f"task 'jsonl' reads a local file: set config.data.path to your .jsonl file ({_FIX})")
