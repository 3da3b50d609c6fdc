"""Two runs' outputs on the same prompts, matched by uid: what a pairwise judge compares.

Each run's workdir holds an evaluation file (``eval_after.jsonl`` by default; see
``laser_jax.evaluate``) with one JSON record per prompt; this module reads ``uid``, ``prompt``
(the plain prompt text the policy was asked), ``response`` and ``family`` (the prompt's category;
"all" when a record has none) and, when present, ``gold``.

Refused, with the file named: a missing directory or file, a line that is not a JSON object, a
record without ``uid`` / ``response`` / ``prompt`` (files written before evaluation recorded the
prompt: evaluate the run again), a uid repeated in one file, runs whose uid sets differ, and a
uid whose prompt text differs between the runs (they were not asked the same thing).

The pairs come in run A's file order; ``limit`` keeps the first ``limit`` of them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from laser_jax.data.example import DataError
from laser_jax.errors import is_int

__all__ = ["Paired", "match_runs", "read_eval", "run_file"]

DEFAULT_CATEGORY = "all"


@dataclasses.dataclass(frozen=True)
class Paired:
    """Parallel tuples, one entry per prompt (run A's order)."""

    uids: tuple[str, ...]
    prompts: tuple[str, ...]
    categories: tuple[str, ...]
    a: tuple[str, ...]  # run A's responses
    b: tuple[str, ...]  # run B's responses
    golds: tuple[Any, ...]  # run A's "gold" (None where absent)

    def __len__(self) -> int:
        return len(self.uids)


def run_file(workdir: str | Path, eval_file: str, flag: str) -> Path:
    """``workdir / eval_file``, or a DataError naming ``flag`` when the directory or file is missing."""
    workdir = Path(workdir)
    if not workdir.is_dir():
        what = "is a file, not a directory" if workdir.exists() else "does not exist"
        raise DataError(f"{flag} {workdir}: {what}; give a run's workdir (the --workdir of its "
                        "training command)")
    path = workdir / eval_file
    if not path.is_file():
        found = sorted(p.name for p in workdir.glob("eval_*.jsonl"))
        hint = (f"this workdir has {', '.join(found)}; choose one with --eval_file" if found else
                "this workdir has no eval_*.jsonl file: the run has not been evaluated (eval.after)")
        raise DataError(f"{flag}: {path} does not exist; {hint}")
    return path


def read_eval(path: str | Path) -> list[dict[str, Any]]:
    """The records of one evaluation file (checked as the module docstring says)."""
    path = Path(path)
    records, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}:{n}: not valid JSON ({e.msg}); the file is damaged, "
                                "evaluate the run again") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{n}: a record must be a JSON object, got "
                                f"{type(record).__name__}")
            for key in ("uid", "response"):
                if key not in record:
                    raise DataError(f"{path}:{n}: the record has no {key!r}; is this an evaluation "
                                    "file (eval_after.jsonl)?")
            if "prompt" not in record:
                raise DataError(f"{path}:{n}: the record has no 'prompt' (the prompt text a judge "
                                "shows); the file was written before evaluations recorded it: "
                                "evaluate the run again")
            for key in ("prompt", "response"):
                if not isinstance(record[key], str):
                    raise DataError(f"{path}:{n}: {key!r} is a {type(record[key]).__name__}, not "
                                    "a string")
            uid = str(record["uid"])
            if uid in seen:
                raise DataError(f"{path}:{n}: uid {uid!r} repeats line {seen[uid]}; each prompt "
                                "must appear once")
            seen[uid] = n
            records.append(record)
    if not records:
        raise DataError(f"{path}: no records; the evaluation file is empty")
    return records


def _examples(uids, k: int = 3) -> str:
    uids = sorted(uids)
    return ", ".join(repr(u) for u in uids[:k]) + (f" and {len(uids) - k} more" if len(uids) > k else "")


def match_runs(a_path: str | Path, b_path: str | Path, *, limit: int | None = None) -> Paired:
    """Both runs' records paired by uid (refusals in the module docstring)."""
    a, b = read_eval(a_path), read_eval(b_path)
    by_uid = {str(r["uid"]): r for r in b}
    a_uids = [str(r["uid"]) for r in a]
    only_a, only_b = set(a_uids) - set(by_uid), set(by_uid) - set(a_uids)
    if only_a or only_b:
        parts = [f"{len(only_a)} only in {a_path} ({_examples(only_a)})" if only_a else "",
                 f"{len(only_b)} only in {b_path} ({_examples(only_b)})" if only_b else ""]
        raise DataError(f"the runs were evaluated on different prompts: {'; '.join(p for p in parts if p)}; "
                        "judge runs evaluated on the same prompts (same data and eval settings)")
    for ra in a:
        rb = by_uid[str(ra["uid"])]
        if ra["prompt"] != rb["prompt"]:
            raise DataError(f"uid {ra['uid']!r} has different prompts in {a_path} "
                            f"({ra['prompt'][:60]!r}...) and {b_path} ({rb['prompt'][:60]!r}...); "
                            "the runs were not asked the same thing (another prompt format or "
                            "system prompt?): judge runs with the same data settings")
    if limit is not None:
        if not is_int(limit, 1):
            raise DataError(f"--limit={limit!r} must be a whole number > 0 (or 0 for all prompts)")
        a = a[:limit]
    rows = [(str(r["uid"]), r["prompt"], str(r.get("family") or DEFAULT_CATEGORY), r["response"],
             by_uid[str(r["uid"])]["response"], r.get("gold")) for r in a]
    return Paired(*(tuple(col) for col in zip(*rows)))
