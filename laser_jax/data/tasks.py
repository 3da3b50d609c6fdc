"""The task registry: one ``TaskSpec`` per task (loaders, gold parser, answer extractor,
scorer, the answer-format sentence of its prompt), ``load_task``, ``split_examples``, and the
task-name functions ``extract_answer`` / ``is_correct`` / ``gold_answer`` that dispatch through it.

Local files are read in their ORIGINAL formats by ``laser_jax.data.sources`` (the formats are listed
there; see ``../shared/data/*/SOURCE.md``). When ``path`` is a file, that file is the split (``split`` is not used). Without a path the task
is read from the hub with ``datasets.load_dataset`` (``openai/gsm8k`` ``main``,
``ChilleD/StrategyQA``, ``cais/mmlu`` ``all``).

Example ids (``uid``) are stable and equal for a local copy and the hub where both list the same
rows in the same order: ``gsm8k-<split>-<index:05d>``, ``strategyqa-<qid>`` (``strategyqa-<split>-
<index:05d>`` without a qid), ``mmlu-<subject>-<split>-<index within the subject:04d>``.

``demo`` is generated, not read (``laser_jax.data.synthetic``): arithmetic word problems, yes/no
questions and 4-way multiple choice, made from the ``seed`` of ``load_task`` (split ``train``: 64
per family, ``test``: 32 per family, no question in both). It is a MIXED task: each example
carries the answer format it is written in as its own ``Example.task`` (``gsm8k``, ``strategyqa``,
``mmlu``), so prompts, extraction and scoring follow the example, not ``"demo"``.

``ifeval_like`` is generated too (``laser_jax.data.ifeval.generate_split``): writing prompts with
program-checkable instructions (IFEval's kinds), each prompt's instructions from one group
(``length``, ``format``, ``words``: the family). The prompt is the question itself (no reasoning
sentence), the "extracted answer" is the response itself, correct = every instruction followed
(IFEval's strict rule: prompt-level strict accuracy), score = the share of instructions followed
(strict); evaluation also records each prompt's per-instruction results and reports IFEval's four
accuracies (``details`` / ``summary``).

``wildchat`` (``laser_jax.data.wildchat``) has no gold answers (``has_gold=False``): first user turns
of WildChat from the hub or a local JSONL / JSON file of prompts; evaluation records the
responses with no accuracy, for a judge to compare two runs; asking for its correctness is a
DataError.

``TASKS`` is the registry: one ``TaskSpec`` per task names its loaders, gold parser, answer
extractor, scorer and the answer-format sentence of its prompt. A new task is one entry here.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from laser_jax.data import answers, ifeval, longbench, longdoc, metrics, sources, synthetic, wildchat
from laser_jax.data.example import LETTERS, DataError, Example
from laser_jax.data.sources import HubSource

__all__ = [
    "DataError",
    "Example",
    "HubSource",
    "TASKS",
    "TASK_NAMES",
    "TaskSpec",
    "check_config",
    "extract_answer",
    "get_task",
    "gold_answer",
    "gold_format",
    "is_correct",
    "load_task",
    "score_response",
    "row_task",
    "split_examples",
]


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """Everything task-specific, in one place."""

    name: str
    load_path: Callable[[Path, str], list[Example]]  # (file or folder, split) -> examples
    hub: HubSource | None  # None: not on the hub (a generated task)
    gold: Callable[[object], str]  # raw dataset field -> canonical gold
    extract: Callable[[str, tuple[str, ...]], str | None]  # (completion, choices) -> answer
    is_correct: Callable[[str | None, str], bool]  # (prediction, canonical gold) -> bool
    answer_format: str  # sentence the prompt adds to ask for this task's answer form ("" = none)
    # A generated task: (split, seed) -> examples; load_task calls it instead of reading files.
    generate: Callable[[str, int], list[Example]] | None = None
    # A mixed task: the answer-format tasks its examples carry in Example.task (see row_task).
    formats: tuple[str, ...] = ()
    # A graded task: (example, response text) -> score in [0, 1] (best-of-n's metric); None: the
    # score is is_correct(extract(...)) as 0 / 1.
    score: Callable[[Example, str], float] | None = None
    # The question is the whole prompt (a template already applied): no reasoning instruction.
    raw_prompt: bool = False
    # A task with its own hub reader (split -> examples) instead of a `HubSource` row mapping.
    hub_loader: Callable[[str], list[Example]] | None = None
    # False: the prompts have no gold answers (Example.answer None): evaluation records responses
    # only (accuracy None); extract / is_correct / score are not asked.
    has_gold: bool = True
    # Extra fields of one evaluation record: (example, response text) -> {key: JSON value}.
    details: Callable[[Example, str], dict] | None = None
    # Extra summary entries of an evaluation from its records (which hold the `details` fields).
    summary: Callable[[Sequence[Mapping]], dict] | None = None


# --------------------------------------------------------------------------------------------
# Demo: generated (laser_jax.data.synthetic), a mixed task


def gold_format(gold: object) -> str:
    """The answer format a canonical gold is written in: ``"strategyqa"`` for yes/no (true/false),
    ``"mmlu"`` for one letter A-D, ``"gsm8k"`` for a number; DataError otherwise."""
    text = gold.strip() if isinstance(gold, str) else ""
    if text.lower() in ("yes", "no", "true", "false"):
        return "strategyqa"
    if len(text) == 1 and text.upper() in LETTERS:
        return "mmlu"
    if answers.canonical_number(text) is not None:
        return "gsm8k"
    raise DataError(
        f"cannot tell the answer format of gold {gold!r}: a gold of a mixed task must be a "
        "number (gsm8k), yes/no (strategyqa) or a letter A-D (mmlu)"
    )


def row_task(task: str, gold: str | None) -> str:
    """The answer-format task one row is scored as: ``task`` itself, or, for a mixed task such
    as ``demo``, the format of the row's gold (``gold_format``)."""
    spec = get_task(task)
    if not spec.formats:
        return task
    if gold is None:
        raise DataError(
            f"task {task!r} mixes answer formats {list(spec.formats)}; a row without a gold "
            "needs its own task (pass each example's Example.task)"
        )
    return gold_format(gold)


def _gold_demo(raw: object) -> str:
    if isinstance(raw, bool):
        return answers.gold_strategyqa(raw)
    if isinstance(raw, (int, float)) or (isinstance(raw, str) and "####" in raw):
        return answers.gold_gsm8k(raw)
    return get_task(gold_format(raw)).gold(raw)


def _extract_demo(text: str, choices: tuple[str, ...]) -> str | None:
    if choices:  # only the multiple-choice format has choices
        return answers.extract_mmlu(text, choices)
    raise DataError(
        "task 'demo' mixes answer formats (gsm8k, strategyqa, mmlu); extract an example's "
        "answer with its own task: extract_answer(example.task, ...)"
    )


def _is_correct_demo(prediction: str | None, gold: str) -> bool:
    return get_task(gold_format(gold)).is_correct(prediction, gold)


def _load_demo_path(path: Path, split: str) -> list[Example]:
    raise DataError(
        f"{path}: a generated task (demo, longdoc, ifeval_like) is made from a seed and reads no "
        "files; leave config.data.path unset"
    )


def _generate_demo(split: str, seed: int) -> list[Example]:
    return synthetic.load_demo(split, seed)


# --------------------------------------------------------------------------------------------
# LongBench (laser_jax.data.longbench): graded by LongBench's metrics


def _whole_text(text: str, choices: tuple[str, ...]) -> str:
    """LongBench scores the response text itself: no answer extraction."""
    return text.strip()


def _is_correct_longbench(prediction: str | None, gold: str) -> bool:
    """For the training setting's accuracy only: token F1 with the first gold answer >= 0.5."""
    return prediction is not None and metrics.qa_f1_score(prediction, gold) >= 0.5


# what LongBench-format tasks share: the template is the prompt, the text itself is scored
_LONGBENCH_FORMAT = dict(hub=None, gold=str, extract=_whole_text, is_correct=_is_correct_longbench,
                         answer_format="", score=longbench.score, raw_prompt=True)


# --------------------------------------------------------------------------------------------
# Instruction following: ifeval_like (generated, checked by programs), wildchat (no gold)


def _response_itself(text: str, choices: tuple[str, ...]) -> str:
    """The response as it is: IFEval checks the whole text (its strict rule strips nothing)."""
    return text


def _is_correct_ifeval(prediction: str | None, gold: str) -> bool:
    """Every instruction of the gold list followed by the response (IFEval's strict rule)."""
    return prediction is not None and all(ifeval.score(gold, prediction)["strict"])


def _score_ifeval(example: Example, text: str) -> float:
    """The share of the prompt's instructions the response follows (strict)."""
    strict = ifeval.score(example, text)["strict"]
    return sum(strict) / len(strict)


def _details_ifeval(example: Example, text: str) -> dict:
    return {"instructions": ifeval.score(example, text)}


def _summary_ifeval(records: Sequence[Mapping]) -> dict:
    return {"ifeval": ifeval.accuracy([r["instructions"] for r in records])}


def _no_gold(*args) -> None:
    raise DataError(
        "task 'wildchat' has no gold answers: nothing to extract, check or score; compare two runs' "
        "responses with a judge (python -m laser_jax.judge), or use bandit.reward='loss' / 'dpo_loss'"
    )


# --------------------------------------------------------------------------------------------
# Registry

TASKS: Mapping[str, TaskSpec] = types.MappingProxyType({
    "gsm8k": TaskSpec(
        name="gsm8k",
        load_path=sources.load_gsm8k,
        hub=HubSource("openai/gsm8k", "main", sources.gsm8k_hub_row),
        gold=answers.gold_gsm8k,
        extract=answers.extract_gsm8k,
        is_correct=answers.is_correct_number,
        answer_format="",
    ),
    "strategyqa": TaskSpec(
        name="strategyqa",
        load_path=sources.load_strategyqa,
        hub=HubSource("ChilleD/StrategyQA", None, sources.strategyqa_hub_row),
        gold=answers.gold_strategyqa,
        extract=answers.extract_strategyqa,
        is_correct=answers.is_correct_yes_no,
        answer_format="Your final answer should be yes or no.",
    ),
    "mmlu": TaskSpec(
        name="mmlu",
        load_path=sources.load_mmlu,
        hub=HubSource("cais/mmlu", "all", sources.mmlu_hub_row,
                      types.MappingProxyType({"val": "validation"}), group_field="subject"),
        gold=answers.gold_mmlu,
        extract=answers.extract_mmlu,
        is_correct=answers.is_correct_choice,
        answer_format=(
            "Your final answer should be the letter (A, B, C or D) of the correct choice."
        ),
    ),
    "demo": TaskSpec(
        name="demo",
        load_path=_load_demo_path,
        hub=None,
        gold=_gold_demo,
        extract=_extract_demo,
        is_correct=_is_correct_demo,
        answer_format="",  # never used: demo examples carry their own format task
        generate=_generate_demo,
        formats=("gsm8k", "strategyqa", "mmlu"),
    ),
    "longbench": TaskSpec(
        name="longbench",
        load_path=longbench.load_path,
        hub_loader=longbench.load_hub,  # the repository's data.zip, no dataset script
        **_LONGBENCH_FORMAT,
    ),
    "longdoc": TaskSpec(  # generated long documents in LongBench's format (laser_jax.data.longdoc)
        name="longdoc",
        load_path=_load_demo_path,
        generate=longdoc.generate,
        formats=("longbench",),
        **_LONGBENCH_FORMAT,
    ),
    "ifeval_like": TaskSpec(
        name="ifeval_like",
        load_path=_load_demo_path,
        hub=None,
        gold=str,
        extract=_response_itself,
        is_correct=_is_correct_ifeval,
        answer_format="",
        generate=ifeval.generate_split,
        score=_score_ifeval,
        raw_prompt=True,
        details=_details_ifeval,
        summary=_summary_ifeval,
    ),
    "wildchat": TaskSpec(
        name="wildchat",
        load_path=wildchat.load_path,
        hub=None,
        hub_loader=wildchat.load_hub,
        gold=_no_gold,
        extract=_no_gold,
        is_correct=_no_gold,
        answer_format="",
        score=_no_gold,
        raw_prompt=True,
        has_gold=False,
    ),
})
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def check_config(d) -> list[str]:
    """The run config's `data` section: every problem, each naming its field."""
    problems = []
    if d.task not in TASK_NAMES:
        problems.append(f"data.task={d.task!r} is not one of {list(TASK_NAMES)}")
    if d.path and d.task in TASKS and TASKS[d.task].generate is not None:
        problems.append(f"data.path={d.path!r}: task {d.task!r} is generated from the seed and reads no "
                        "files; leave data.path unset")
    elif d.path and not Path(d.path).expanduser().exists():
        problems.append(f"data.path={d.path!r}: no such file or directory")
    for field in ("train_limit", "test_limit"):
        if not (isinstance(d[field], int) and d[field] >= 0):
            problems.append(f"data.{field}={d[field]!r} must be an integer >= 0 (0 = all)")
    if not (isinstance(d.holdout_fraction, (int, float)) and 0 < d.holdout_fraction < 1):
        problems.append(f"data.holdout_fraction={d.holdout_fraction!r} must be in (0, 1)")
    return problems


def get_task(task: str) -> TaskSpec:
    """The registry entry of ``task``; DataError naming the valid tasks if there is none."""
    spec = TASKS.get(task) if isinstance(task, str) else None
    if spec is None:
        raise DataError(
            f"unknown task {task!r}; valid tasks: {', '.join(TASK_NAMES)} (config.data.task)"
        )
    return spec


# --------------------------------------------------------------------------------------------
# Loading


def _check_unique(examples: Sequence[Example], origin: str) -> None:
    seen: dict[str, int] = {}
    for index, example in enumerate(examples):
        if example.uid in seen:
            raise DataError(
                f"{origin}: examples {seen[example.uid]} and {index} share the id "
                f"{example.uid!r} (duplicate qid?); ids must be unique for splits"
            )
        seen[example.uid] = index


def _subsample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """``limit`` examples chosen by a seeded permutation of the sorted uids, in input order."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].uid)
    chosen = {order[i] for i in np.random.default_rng(seed).permutation(len(order))[:limit]}
    return [example for i, example in enumerate(examples) if i in chosen]


def load_task(task: str, path: str | Path | None = None, split: str = "test", *, seed: int = 0,
              limit: int | None = None) -> list[Example]:
    """Examples of ``task`` from ``path`` (a file or folder, see the module doc) or the hub, or,
    for a generated task (``demo``), made from ``seed`` (no path).

    ``limit``: keep at most this many, chosen at random with ``seed`` (same seed, same subset),
    in file order.
    """
    spec = get_task(task)
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise DataError(
            f"limit must be a non-negative integer or None, got {limit!r} (config.data.limit)"
        )
    if spec.generate is not None:
        if path is not None:
            raise DataError(
                f"{path}: task {task!r} is generated from the seed and reads no files; leave "
                "config.data.path unset"
            )
        examples = spec.generate(split, seed)
        origin = f"generated task {task!r} split {split!r}"
    elif path is None and spec.hub_loader is not None:
        examples = spec.hub_loader(split)
        origin = f"hub ({task}) split {split!r}"
    elif path is None:
        examples = sources.load_hub(spec.hub, spec.name, split)
        origin = f"hub {spec.hub.path} split {split!r}"
    else:
        path = Path(path).expanduser()
        if not path.exists():
            raise DataError(
                f"{path}: no such file or folder (config.data.path for task {task!r}); "
                f"give a local {task} file or folder in its original format, or no path to "
                f"read the Hugging Face hub"
            )
        examples = spec.load_path(path, split)
        origin = str(path)
    if not examples:
        raise DataError(f"{origin}: holds no {task} examples; check config.data.path / split")
    _check_unique(examples, origin)
    if limit is not None and limit < len(examples):
        examples = _subsample(examples, limit, seed)
    return examples


# --------------------------------------------------------------------------------------------
# Splits


def _counts(sizes: Sequence[float | int | None], total: int) -> list[int]:
    if all(isinstance(s, int) and not isinstance(s, bool) or s is None for s in sizes):
        fixed = sum(s for s in sizes if s is not None)
        rest = [i for i, s in enumerate(sizes) if s is None]
        if any(s is not None and s < 0 for s in sizes) or len(rest) > 1 or fixed > total or (
            not rest and fixed != total
        ):
            raise DataError(
                f"split counts {list(sizes)} must be non-negative and sum to the {total} examples "
                f"(or leave one as None for the rest)"
            )
        return [total - fixed if s is None else s for s in sizes]
    fractions = [float(s) for s in sizes]
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(f"split fractions {list(sizes)} must be non-negative and sum to 1")
    bounds = [0] + [round(total * x) for x in np.cumsum(fractions)[:-1]] + [total]
    return [bounds[i + 1] - bounds[i] for i in range(len(fractions))]


SplitSizes = Sequence[float | int | None] | Mapping[str, float | int | None]


def split_examples(
    examples: Sequence[Example],
    sizes: SplitSizes = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    names: Sequence[str] = ("train", "dev", "test"),
) -> dict[str, list[Example]]:
    """Disjoint, covering, seeded splits of ``examples``.

    ``sizes``: fractions summing to 1, or counts summing to ``len(examples)`` (one count may be
    None: the rest), or a mapping ``{name: size}``. A sequence is named by ``names`` (its first
    ``len(sizes)`` names). The examples are ordered by uid, permuted with
    ``np.random.default_rng(seed)`` and cut in that order, so the result depends only on the set
    of examples and the seed, not on their input order; each split keeps the permuted order.
    """
    if isinstance(sizes, Mapping):
        names, sizes = tuple(sizes), tuple(sizes.values())
    if len(sizes) > len(names) or len(set(names[: len(sizes)])) != len(sizes):
        raise DataError(f"split sizes {list(sizes)} need as many distinct names, got {list(names)}")
    by_uid = {example.uid: example for example in examples}
    if len(by_uid) != len(examples):
        _check_unique(examples, "split_examples")
    counts = _counts(list(sizes), len(examples))
    uids = sorted(by_uid)
    order = [uids[i] for i in np.random.default_rng(seed).permutation(len(uids))]
    result, start = {}, 0
    for name, count in zip(names, counts):
        result[name] = [by_uid[uid] for uid in order[start:start + count]]
        start += count
    return result


# --------------------------------------------------------------------------------------------
# Answers by task name


def extract_answer(task: str, text: str, choices: Sequence[str] = ()) -> str | None:
    """The canonical answer a completion gives for ``task``, or None when it gives none."""
    return get_task(task).extract(text, tuple(choices))


def score_response(example: Example, text: str) -> float:
    """The task metric of one response in [0, 1]: a graded task's score (LongBench), else 1.0 if
    the extracted answer is correct."""
    spec = get_task(example.task)
    if spec.score is not None:
        return float(spec.score(example, text))
    pred = extract_answer(example.task, text, example.choices)
    return float(pred is not None and is_correct(example.task, pred, example.answer))


def is_correct(task: str, prediction: str | None, gold: str) -> bool:
    """Whether ``prediction`` (usually ``extract_answer``'s output) matches ``gold``."""
    return get_task(task).is_correct(prediction, gold)


def gold_answer(task: str, raw: object) -> str:
    """The canonical gold answer for ``task`` from a raw dataset field."""
    return get_task(task).gold(raw)
