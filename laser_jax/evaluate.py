"""Accuracy of a policy on task examples: greedy decoding, answer extraction, exact scoring.

One record per example: uid, family, prompt (the plain prompt text the policy was asked, before
its chat template: what a judge shows), gold, prediction, correct, response, plus the task's
``TaskSpec.details`` fields (ifeval_like: ``instructions``, each instruction's strict and loose
result). A task without gold answers (``TaskSpec.has_gold`` False: wildchat) records the responses
with gold, prediction and correct None, and its summary's accuracy, correct and answered are None
(nothing is compared). The summary adds the task's ``TaskSpec.summary`` entries (ifeval_like:
``ifeval``, IFEval's prompt- and instruction-level strict and loose accuracy)."""

from __future__ import annotations

from typing import Sequence

from laser_jax import sampling
from laser_jax.batch import BUCKET, PromptBatch, family
from laser_jax.data.example import Example
from laser_jax.data.tasks import extract_answer, get_task, is_correct

STOP_STRINGS = ("\nQuestion:",)
SUMMARY_KEYS = ("accuracy", "correct", "total", "answered")  # every summary's; a task may add more


def evaluate(model, tokenizer, examples: Sequence[Example], *, batch_size: int, max_new_tokens: int,
             max_prompt_tokens: int, eos_ids: Sequence[int], pad_id: int, system_prompt: str | None = None,
             progress=None, prompt_bucket: int = BUCKET) -> tuple[dict, list[dict]]:
    """({"accuracy", "correct", "total", "answered"}, one record per example); prompts padded as
    PromptBatch.encode's ``bucket`` (the config's sampling.prompt_bucket)."""
    records = []
    for start in range(0, len(examples), batch_size):
        chunk = list(examples[start:start + batch_size])
        real = len(chunk)
        chunk += [chunk[-1]] * (batch_size - real)  # a fixed batch shape: compile once
        batch = PromptBatch.encode(tokenizer, chunk, max_tokens=max_prompt_tokens, pad_id=pad_id,
                                   system_prompt=system_prompt, bucket=int(prompt_bucket))
        out = sampling.greedy(model, batch.ids, batch.mask, max_new_tokens, eos_ids=eos_ids, pad_id=pad_id)
        texts = sampling.decode(tokenizer, out, stop_strings=STOP_STRINGS)
        for ex, prompt, row in zip(chunk[:real], batch.texts[:real], texts[:real]):
            spec = get_task(ex.task)
            if spec.has_gold:
                pred = extract_answer(ex.task, row[0], ex.choices)
                correct = bool(pred is not None and is_correct(ex.task, pred, ex.answer))
            else:
                pred = correct = None
            record = {"uid": ex.uid, "family": family(ex), "prompt": prompt, "gold": ex.answer,
                      "prediction": pred, "correct": correct, "response": row[0]}
            if spec.details is not None:
                record.update(spec.details(ex, row[0]))
            records.append(record)
        if progress is not None:
            progress(real)
    return summarise(examples, records), records


def summarise(examples: Sequence[Example], records: list[dict]) -> dict:
    """{"accuracy", "correct", "total", "answered"} over the records (None for the records of
    tasks without gold), plus each task's ``TaskSpec.summary`` over its records."""
    graded = [r for r in records if r["correct"] is not None]
    if records and not graded:  # no gold answers: nothing to count
        summary = {"accuracy": None, "correct": None, "total": len(records), "answered": None}
    else:
        correct = sum(r["correct"] for r in graded)
        summary = {"accuracy": correct / len(graded) if graded else float("nan"), "correct": correct,
                   "total": len(records), "answered": sum(r["prediction"] is not None for r in graded)}
    by_task: dict[str, list[dict]] = {}
    for ex, r in zip(examples, records):
        by_task.setdefault(ex.task, []).append(r)
    for task, recs in by_task.items():
        if get_task(task).summary is not None:
            summary.update(get_task(task).summary(recs))
    return summary

