"""The task registry's front door: every name that was here stays importable from here.

By job: ``laser_jax.data.registry`` (``TaskSpec``, ``TASKS``, ``get_task``: what each task is and
how its answers are read), ``laser_jax.data.loading`` (``load_task``), ``laser_jax.data.splits``
(``split_examples``). This module checks the run config's ``data`` section and holds the
task-name functions ``extract_answer`` / ``is_correct`` / ``gold_answer`` / ``score_response``
that dispatch through the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from laser_jax.data import jsonl, synthetic
from laser_jax.data.example import DataError, Example
from laser_jax.data.loading import load_task
from laser_jax.data.registry import TASK_NAMES, TASKS, TaskSpec, get_task, gold_format, row_task
from laser_jax.data.sources import HubSource
from laser_jax.data.splits import SplitSizes, split_examples  # noqa: F401  (SplitSizes: kept importable)
from laser_jax.errors import is_int, is_number

__all__ = [
    "DataError",
    "Example",
    "HubSource",
    "TASKS",
    "TASK_NAMES",
    "TaskSpec",
    "check_config",
    "configured_task",
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
        if not is_int(d[field], 0):
            problems.append(f"data.{field}={d[field]!r} must be an integer >= 0 (0 = all)")
    if not is_number(d.holdout_fraction, 0, 1, low_open=True, high_open=True, dtype=float):
        problems.append(f"data.holdout_fraction={d.holdout_fraction!r} must be in (0, 1)")
    return problems + _check_families(d) + _check_metric(d)


def _check_metric(d) -> list[str]:
    """data.metric: a metric of task jsonl's registry for a task that reads it (a variant task),
    else left at its default."""
    from laser_jax.config.sections import DataSection  # the default's one home (config imports data)

    metric = d.get("metric", DataSection.metric)
    spec = TASKS.get(d.task)
    if spec is not None and spec.variant is not None:
        if not d.path:
            return [f"data.path is unset: task {d.task!r} reads a local file; set data.path"]
        return jsonl.check_metric(metric)
    if metric != DataSection.metric:
        return [f"data.metric={metric!r}: only data.task='jsonl' reads data.metric (data.task={d.task!r}); "
                "leave it unset"]
    return []


def configured_task(d) -> str:
    """The task a run's `data` section loads: data.task, or "<task>:<data.metric>" for a task with
    variants (jsonl), whose examples carry their own "jsonl:..." task."""
    from laser_jax.config.sections import DataSection

    spec = get_task(d.task)
    return f"{d.task}:{d.get('metric', DataSection.metric)}" if spec.variant is not None else d.task


def _check_families(d) -> list[str]:
    families = d.families
    if isinstance(families, str) or not all(isinstance(f, str) and f for f in families):
        return [f"data.families={families!r} must be a tuple of family names (() = all)"]
    if len(set(families)) != len(families):
        return [f"data.families={tuple(families)!r} names a family twice"]
    if d.task == "demo" and (unknown := [f for f in families if f not in synthetic.FAMILIES]):
        return [f"data.families: {unknown} are not demo families {list(synthetic.FAMILIES)}"]
    return []


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
