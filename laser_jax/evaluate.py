"""Accuracy of a policy on task examples: greedy decoding, answer extraction, exact scoring."""

from __future__ import annotations

from typing import Sequence

from laser_jax import sampling
from laser_jax.batch import PromptBatch, family
from laser_jax.data.example import Example
from laser_jax.data.tasks import extract_answer, is_correct

STOP_STRINGS = ("\nQuestion:",)


def evaluate(model, tokenizer, examples: Sequence[Example], *, batch_size: int, max_new_tokens: int,
             max_prompt_tokens: int, eos_ids: Sequence[int], pad_id: int, system_prompt: str | None = None,
             progress=None) -> tuple[dict, list[dict]]:
    """({"accuracy", "correct", "total", "answered"}, one record per example)."""
    records = []
    for start in range(0, len(examples), batch_size):
        chunk = list(examples[start:start + batch_size])
        real = len(chunk)
        chunk += [chunk[-1]] * (batch_size - real)  # a fixed batch shape: compile once
        batch = PromptBatch.encode(tokenizer, chunk, max_tokens=max_prompt_tokens, pad_id=pad_id,
                                   system_prompt=system_prompt)
        out = sampling.greedy(model, batch.ids, batch.mask, max_new_tokens, eos_ids=eos_ids, pad_id=pad_id)
        texts = sampling.decode(tokenizer, out, stop_strings=STOP_STRINGS)
        for ex, row in zip(chunk[:real], texts[:real]):
            pred = extract_answer(ex.task, row[0], ex.choices)
            records.append({"uid": ex.uid, "family": family(ex), "gold": ex.answer,
                            "prediction": pred,
                            "correct": bool(pred is not None and is_correct(ex.task, pred, ex.answer)),
                            "response": row[0]})
        if progress is not None:
            progress(real)
    correct = sum(r["correct"] for r in records)
    total = len(records)
    summary = {"accuracy": correct / total if total else float("nan"), "correct": correct, "total": total,
               "answered": sum(r["prediction"] is not None for r in records)}
    return summary, records

