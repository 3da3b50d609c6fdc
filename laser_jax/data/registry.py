"""The task registry: one ``TaskSpec`` per task (loaders, gold parser, answer extractor,
scorer, the answer-format sentence of its prompt) and ``get_task``. ``load_task``
(`laser_jax.data.loading`), ``split_examples`` (`laser_jax.data.splits`) and the task-name
functions ``extract_answer`` / ``is_correct`` / ``gold_answer`` (`laser_jax.data.tasks`) go through it.

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

``jsonl`` (``laser_jax.data.jsonl``) reads your own JSONL file (``data.path``) and scores it with
``data.metric``: its examples carry the task ``jsonl:<metric>`` (``jsonl:no_gold`` for a file without
answers), a variant ``get_task`` builds from the metric (``TaskSpec.variant``).

``TASKS`` is the registry: one ``TaskSpec`` per task names its loaders, gold parser, answer
extractor, scorer and the answer-format sentence of its prompt. A new task is one entry here.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from laser_jax.data import answers, ifeval, jsonl, longbench, longdoc, metrics, sources, synthetic, wildchat
from laser_jax.data.example import LETTERS, DataError, Example
from laser_jax.data.sources import HubSource


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
    # What best-of-n's tables call the metric (score_response).
    metric_name: str = "accuracy"
    # A task with a parameter: (parameter) -> the spec of "<name>:<parameter>" (jsonl: data.metric);
    # get_task resolves such names, and the task's examples carry them as their Example.task.
    variant: Callable[[str], TaskSpec] | None = None


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
                         answer_format="", score=longbench.score, raw_prompt=True,
                         metric_name="LongBench metric")


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


def _no_gold_of(task: str) -> Callable[..., None]:
    def no_gold(*args) -> None:
        raise DataError(
            f"task {task!r} has no gold answers: nothing to extract, check or score; compare two runs' "
            "responses with a judge (python -m laser_jax.judge), or use bandit.reward='loss' / 'dpo_loss'"
        )
    return no_gold


_no_gold = _no_gold_of("wildchat")


# --------------------------------------------------------------------------------------------
# jsonl (laser_jax.data.jsonl): your own prompts and answers, scored by data.metric


def _default_metric() -> str:
    from laser_jax.config.sections import DataSection  # the default's one home (config imports data)

    return DataSection.metric


def _load_jsonl(path: Path, split: str) -> list[Example]:
    """Plain task "jsonl": the file scored by data.metric's default."""
    return jsonl.load(path, _default_metric())


def _jsonl_unresolved(*args) -> None:
    raise DataError(
        "task 'jsonl' scores each example with data.metric: ask the example's own task "
        "(Example.task, 'jsonl:<metric>'), or load the file as task 'jsonl:<metric>'"
    )


@functools.lru_cache(maxsize=None)
def _jsonl_spec(metric: str) -> TaskSpec:
    """The spec of task "jsonl:<metric>" (``jsonl:no_gold``: a file without answers)."""
    name = f"{jsonl.TASK}:{metric}"
    if metric == jsonl.NO_GOLD:
        no_gold = _no_gold_of(name)
        return TaskSpec(name=name, load_path=_load_jsonl, hub=None, hub_loader=jsonl.load_hub, gold=no_gold,
                        extract=no_gold, is_correct=no_gold, answer_format="", score=no_gold, raw_prompt=True,
                        has_gold=False)
    m = jsonl.get_metric(metric)
    return TaskSpec(name=name, load_path=lambda path, split: jsonl.load(path, metric), hub=None,
                    hub_loader=jsonl.load_hub, gold=m.gold, extract=m.extract, is_correct=m.is_correct,
                    answer_format=m.answer_format, score=m.score, metric_name=m.label)


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
        metric_name="share of instructions followed",
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
    "jsonl": TaskSpec(  # the config's task; its examples are "jsonl:<data.metric>" (variant)
        name="jsonl",
        load_path=_load_jsonl,
        hub=None,
        hub_loader=jsonl.load_hub,
        gold=_jsonl_unresolved,
        extract=_jsonl_unresolved,
        is_correct=_jsonl_unresolved,
        answer_format="",
        score=_jsonl_unresolved,
        variant=_jsonl_spec,
    ),
})
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(task: str) -> TaskSpec:
    """The registry entry of ``task`` ("<task>:<parameter>": its variant, e.g. "jsonl:numeric");
    DataError naming the valid tasks if there is none."""
    spec = TASKS.get(task) if isinstance(task, str) else None
    if spec is None and isinstance(task, str) and ":" in task:
        base, _, parameter = task.partition(":")
        if base in TASKS and TASKS[base].variant is not None:
            return TASKS[base].variant(parameter)
    if spec is None:
        raise DataError(
            f"unknown task {task!r}; valid tasks: {', '.join(TASK_NAMES)} (config.data.task)"
        )
    return spec

