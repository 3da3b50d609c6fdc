"""Tasks, prompts and answer checking for LASeR's reasoning benchmarks (GSM8K, StrategyQA, MMLU)."""

from laser_jax.data.answers import (
    DataError,
    canonical_number,
    extract_answer,
    final_answer_text,
    gold_answer,
    is_correct,
)
from laser_jax.data.prompts import (
    REASONING_INSTRUCTION,
    chat_messages,
    format_prompt,
    question_text,
)
from laser_jax.data.tasks import (
    TASK_NAMES,
    TASKS,
    Example,
    HubSource,
    TaskSpec,
    get_task,
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
