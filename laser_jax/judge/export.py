"""A run's outputs in AlpacaEval's model-outputs format (``alpaca_eval --model_outputs FILE``).

The file is one JSON list with a record per prompt, in the run's prompt order:

    {"instruction": <the prompt as the user wrote it>, "output": <the run's response>,
     "generator": <the run's name>, "dataset": <the prompt's source>}

``dataset`` is written when the source is known: the ``dataset`` argument (one name for every
record, or one per record), else, for prompts given as ``Example``, the example's ``task``; plain
string prompts without a ``dataset`` argument get no ``dataset`` key. Either every record has
the key or none does (pandas would fill the gaps with NaN).

AlpacaEval reads the file with ``alpaca_eval.utils.load_or_convert_to_dataframe`` (the loader of
``alpaca_eval.main.evaluate``; ``pandas.read_json`` for a ``.json`` path, so the name must end in
``.json``), names the model from the ``generator`` column (``alpaca_eval.utils.get_generator_name``:
the one value when it is unique) and pairs each output with the reference's by ``instruction``
(a pandas merge), so a repeated instruction would pair with every copy: ``alpaca_eval_records``
refuses repeats. One loader behaviour to know: ``pandas.read_json`` infers column types, so when
EVERY output looks like a number ("42", "7") the column comes back as numbers (42, 7); one
non-numeric output keeps the column text.

The file is written atomically: to a temporary file in the same directory, flushed to disk,
then renamed over the target (``os.replace``), so a reader sees the old file or the new one,
never half of one; on any error the temporary file is removed and the old file is left as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from laser_jax.data.example import DataError, Example
from laser_jax.outputs import write_text_atomic

__all__ = ["KEYS", "alpaca_eval_records", "write_alpaca_eval"]

KEYS = ("instruction", "output", "generator", "dataset")


def _datasets(instructions: Sequence[Any], dataset: str | Sequence[str] | None) -> list | None:
    if isinstance(dataset, str):
        return [dataset] * len(instructions)
    if dataset is not None:
        dataset = list(dataset)
        if len(dataset) != len(instructions):
            raise DataError(f"alpaca_eval export: {len(dataset)} dataset names for "
                            f"{len(instructions)} prompts; give one name, or one per prompt")
        return dataset
    from_examples = [x.task if isinstance(x, Example) else None for x in instructions]
    if all(d is None for d in from_examples):
        return None
    if any(d is None for d in from_examples):
        raise DataError("alpaca_eval export: some prompts are Examples (their task names the "
                        "dataset) and some plain strings (no dataset); pass dataset= to name it "
                        "for all of them")
    return from_examples


def alpaca_eval_records(instructions: Sequence[str | Example], outputs: Sequence[str], *,
                        generator: str,
                        dataset: str | Sequence[str] | None = None) -> list[dict[str, str]]:
    """The records of the module docstring, one per (prompt, output), in order. A prompt is a
    string or an ``Example`` (its ``question``)."""
    if not (isinstance(generator, str) and generator.strip()):
        raise DataError(f"alpaca_eval export: generator must be the run's name (a non-blank "
                        f"string), got {generator!r}")
    instructions, outputs = list(instructions), list(outputs)
    if len(instructions) != len(outputs):
        raise DataError(f"alpaca_eval export: {len(instructions)} prompts but {len(outputs)} "
                        "outputs; give one output per prompt, in the same order")
    if not instructions:
        raise DataError("alpaca_eval export: no prompts; AlpacaEval needs at least one output")
    datasets = _datasets(instructions, dataset)
    records, seen = [], {}
    for n, (prompt, output) in enumerate(zip(instructions, outputs)):
        text = prompt.question if isinstance(prompt, Example) else prompt
        if not isinstance(text, str):
            raise DataError(f"alpaca_eval export: prompt {n} is a {type(text).__name__}, not a "
                            "string or an Example")
        if not isinstance(output, str):
            raise DataError(f"alpaca_eval export: output {n} is a {type(output).__name__}, not a "
                            "string; write an empty string for a missing output")
        if text in seen:
            raise DataError(f"alpaca_eval export: prompts {seen[text]} and {n} are the same "
                            f"instruction ({text[:80]!r}); AlpacaEval pairs outputs with the "
                            "reference by instruction, so keep one of them")
        seen[text] = n
        record = {"instruction": text, "output": output, "generator": generator}
        if datasets is not None:
            if not (isinstance(datasets[n], str) and datasets[n]):
                raise DataError(f"alpaca_eval export: dataset name {n} is {datasets[n]!r}; "
                                "give a non-empty string")
            record["dataset"] = datasets[n]
        records.append(record)
    return records


def write_alpaca_eval(path: str | os.PathLike, instructions: Sequence[str | Example],
                      outputs: Sequence[str], *, generator: str,
                      dataset: str | Sequence[str] | None = None) -> Path:
    """Writes ``alpaca_eval_records(...)`` to ``path`` (a ``.json`` name; parent directories are
    made) atomically, as UTF-8 JSON, and returns the path."""
    path = Path(path)
    if path.suffix != ".json":
        raise DataError(f"alpaca_eval export: {path} must end in .json: AlpacaEval picks its "
                        "reader by the file's suffix")
    records = alpaca_eval_records(instructions, outputs, generator=generator, dataset=dataset)
    return write_text_atomic(path, json.dumps(records, ensure_ascii=False, indent=2) + "\n")
