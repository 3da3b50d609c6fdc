"""Tasks, prompts and answer checking for LASeR's reasoning benchmarks (GSM8K, StrategyQA, MMLU)
and the generated demo tasks, LongBench, and instruction following. Modules, bottom up:
``example`` (Example, DataError), ``answers`` (extraction and scoring rules per answer format),
``synthetic`` (the generated demo tasks), ``ifeval`` (IFEval-style checkable instructions: the
generated ``ifeval_like`` task), ``wildchat`` (WildChat prompts, no gold), ``sources`` (reading
files and hub rows), ``tasks`` (the registry, loading, splits, answers by task name), ``prompts``
(the reasoning prompt)."""

from laser_jax.data.answers import canonical_number, final_answer_text
from laser_jax.data.example import DataError, Example
from laser_jax.data.prompts import (
    REASONING_INSTRUCTION,
    chat_messages,
    format_prompt,
    question_text,
)
from laser_jax.data.sources import HubSource
from laser_jax.data.tasks import (
    TASK_NAMES,
    TASKS,
    TaskSpec,
    check_config,
    extract_answer,
    get_task,
    gold_answer,
    is_correct,
    load_task,
    split_examples,
)

__all__ = [
    "DataError",
    "Example",
    "HubSource",
    "REASONING_INSTRUCTION",
    "TASKS",
    "TASK_NAMES",
    "TaskSpec",
    "canonical_number",
    "check_config",
    "chat_messages",
    "extract_answer",
    "final_answer_text",
    "format_prompt",
    "get_task",
    "gold_answer",
    "is_correct",
    "load_task",
    "question_text",
    "split_examples",
]
