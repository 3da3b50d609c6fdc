"""The reasoning prompt of LASeR's seed code, per task.

``format_prompt`` gives plain text, three parts joined by single newlines::

    Your task is to answer the question below. Give step-by-step reasoning before you answer, and
    when you're ready to answer, please use the format `Final answer:...`.[ <answer format>]
    Question: <question>
    Solution: <- ends with one space after the colon, as in the seed prompt

(the instruction is one line). ``<answer format>`` is the task's ``TaskSpec.answer_format``: none
for GSM8K (the seed prompt exactly), "Your final answer should be yes or no." for StrategyQA,
"Your final answer should be the letter (A, B, C or D) of the correct choice." for MMLU. For a
task with choices the question is followed by one line per choice, ``A. <text>`` ... ``D. <text>``.
Question and choice texts are stripped of surrounding whitespace (MMLU keeps the source's stray
spaces in the data; they would only add odd tokens to the prompt).

``chat_messages`` wraps the same text (without the trailing space) as one user turn, for the
caller to pass to the policy tokenizer's ``apply_chat_template``.
"""

from __future__ import annotations

from laser_jax.data.example import LETTERS, DataError, Example
from laser_jax.data.tasks import get_task

__all__ = ["REASONING_INSTRUCTION", "chat_messages", "format_prompt", "question_text"]

REASONING_INSTRUCTION = (
    "Your task is to answer the question below. Give step-by-step reasoning before you answer, "
    "and when you're ready to answer, please use the format `Final answer:...`."
)


def question_text(example: Example) -> str:
    """The question, followed by its lettered choices when it has any."""
    if len(example.choices) > len(LETTERS):
        raise DataError(
            f"example {example.uid}: {len(example.choices)} choices, at most {len(LETTERS)} "
            "can be lettered A-D"
        )
    lines = [example.question.strip()]
    lines += [f"{letter}. {choice.strip()}" for letter, choice in zip(LETTERS, example.choices)]
    return "\n".join(lines)


def format_prompt(example: Example) -> str:
    """The plain-text reasoning prompt for ``example`` (ends with ``"Solution: "``); a task whose
    question is the whole prompt (``TaskSpec.raw_prompt``: LongBench's templates) gives it as is."""
    spec = get_task(example.task)
    if spec.raw_prompt:
        return example.question
    answer_format = spec.answer_format
    instruction = REASONING_INSTRUCTION + (f" {answer_format}" if answer_format else "")
    return "\n".join([instruction, f"Question: {question_text(example)}", "Solution: "])


def chat_messages(example: Example, system: str | None = None) -> list[dict[str, str]]:
    """``format_prompt`` as chat turns: an optional system turn, then one user turn."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": format_prompt(example).rstrip()})
    return messages
