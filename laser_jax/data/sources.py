"""Reading the reasoning tasks' data: local files in their ORIGINAL formats, and hub rows.

* ``gsm8k``: a ``.jsonl`` file of ``{"question", "answer"}`` whose answer ends with ``#### N``, or a
  folder holding ``<split>.jsonl`` (``train.jsonl``, ``test.jsonl``).
* ``strategyqa``: a ``.json`` list of ``{"qid", "question", "answer": bool, ...}``
  (``strategyqa_train.json``, ``train.json``, ``dev.json``), or a folder holding ``<split>.json``
  (``split="dev"`` and ``"validation"`` read ``dev.json``; ``split="all"`` reads
  ``strategyqa_train.json``, the full labelled set). StrategyQA's test answers are not public:
  split ``strategyqa_train.json`` with ``split_examples``.
* ``mmlu``: a headerless CSV ``question,A,B,C,D,letter``, a folder of ``<subject>_<split>.csv``
  files, or the release root holding ``test/`` and ``dev/`` (``val/``) folders. Fields are read
  as strings (``"None"``, ``"NA"`` stay text); subjects come from the file names.

``load_<task>(path, split)`` reads a file or folder; ``<task>_hub_row(row, index, split)`` turns
one Hugging Face dataset row into an Example; ``load_hub(source, task, split)`` reads a split
from the hub. Example ids are stable and equal for a local copy and the hub where both list the
same rows in the same order (see ``laser_jax.data.tasks``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from laser_jax.data import answers
from laser_jax.data.example import DataError, Example


@dataclasses.dataclass(frozen=True)
class HubSource:
    """Where a task lives on the Hugging Face hub and how one row becomes an Example."""

    path: str
    name: str | None
    row_to_example: Callable[[Mapping[str, Any], int, str], Example]  # (row, index, split)
    split_aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Rows are counted (the ``index`` passed to row_to_example) within groups of equal values
    # of this field (MMLU: "subject", as the local per-subject files count); None: overall.
    group_field: str | None = None


# --------------------------------------------------------------------------------------------
# Helpers


def _require(record: object, keys: Sequence[str], where: str, fix: str) -> Mapping[str, Any]:
    if not isinstance(record, Mapping):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}; {fix}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise DataError(
            f"{where}: missing key(s) {missing} (has {sorted(record)}); {fix}"
        )
    return record


def _text(value: object, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: '{key}' must be a string, got {type(value).__name__}")
    return value


def _gold(parse: Callable[[object], str], raw: object, where: str) -> str:
    try:
        return parse(raw)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None


def _split_file(folder: Path, candidates: Sequence[str], task: str, split: str, fix: str) -> Path:
    """The first of ``candidates`` present in ``folder``, else a DataError listing the folder."""
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    present = sorted(p.name for p in folder.iterdir())[:20]
    raise DataError(
        f"{folder}: no {' or '.join(candidates)} for {task} split {split!r} (folder has "
        f"{present}); {fix}"
    )


# --------------------------------------------------------------------------------------------
# GSM8K

_GSM8K_FIX = (
    "a GSM8K file is JSON Lines, one {\"question\": ..., \"answer\": \"... #### N\"} object per "
    "line (openai/grade-school-math's train.jsonl / test.jsonl)"
)


def _gsm8k_example(record: Mapping[str, Any], index: int, split: str, where: str,
                   extra: Mapping[str, Any] = types.MappingProxyType({})) -> Example:
    record = _require(record, ("question", "answer"), where, _GSM8K_FIX)
    solution = _text(record["answer"], where, "answer")
    return Example(
        uid=f"gsm8k-{split}-{index:05d}",
        task="gsm8k",
        question=_text(record["question"], where, "question"),
        answer=_gold(answers.gold_gsm8k, solution, where),
        meta={"solution": solution, **extra},
    )


def load_gsm8k(path: Path, split: str) -> list[Example]:
    if path.is_dir():
        path = _split_file(
            path, (f"{split}.jsonl",), "gsm8k", split,
            "pass the .jsonl file itself or a folder holding train.jsonl / test.jsonl",
        )
    examples = []
    for record, where in jsonl_records(path, _GSM8K_FIX):
        examples.append(
            _gsm8k_example(record, len(examples), path.stem, where, {"source": where})
        )
    return examples


def gsm8k_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
    where = f"hub openai/gsm8k (main) split {split!r} row {index}"
    return _gsm8k_example(row, index, split, where)


# --------------------------------------------------------------------------------------------
# StrategyQA

_STRATEGYQA_FIX = (
    "a StrategyQA file is one JSON list of {\"qid\", \"question\", \"answer\": true|false} "
    "objects (strategyqa_train.json, or eladsegal/strategyqa's train.json / dev.json)"
)
_STRATEGYQA_FILES = types.MappingProxyType({
    "train": ("train.json",),
    "dev": ("dev.json",),
    "validation": ("dev.json",),
    "test": ("test.json",),
    "all": ("strategyqa_train.json",),
})


def _strategyqa_example(record: object, index: int, split: str, where: str,
                        source: str | None) -> Example:
    if isinstance(record, Mapping) and "question" in record and "answer" not in record:
        raise DataError(
            f"{where}: has no 'answer' (unlabelled; StrategyQA's official test answers are not "
            "public). Use the labelled strategyqa_train.json and split it with split_examples "
            "(or train.json / dev.json)"
        )
    record = _require(record, ("question", "answer"), where, _STRATEGYQA_FIX)
    qid = record.get("qid")
    meta: dict[str, Any] = {}
    if source:
        meta["source"] = source
    for key in ("qid", "term"):
        if isinstance(record.get(key), str):
            meta[key] = record[key]
    if isinstance(record.get("facts"), list):
        meta["facts"] = "\n".join(str(fact) for fact in record["facts"])
    return Example(
        uid=(f"strategyqa-{qid}" if qid and isinstance(qid, str)
             else f"strategyqa-{split}-{index:05d}"),
        task="strategyqa",
        question=_text(record["question"], where, "question"),
        answer=_gold(answers.gold_strategyqa, record["answer"], where),
        meta=meta,
    )


def load_strategyqa(path: Path, split: str) -> list[Example]:
    if path.is_dir():
        path = _split_file(
            path, _STRATEGYQA_FILES.get(split, (f"{split}.json",)), "strategyqa", split,
            "StrategyQA's test answers are not public: point config.data.path at "
            "strategyqa_train.json and split it with split_examples, or pass split "
            "'train' / 'dev' / 'all' for a folder holding train.json / dev.json / "
            "strategyqa_train.json",
        )
    try:
        records = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}); "
            f"{_STRATEGYQA_FIX}"
        ) from None
    if not isinstance(records, list):
        raise DataError(
            f"{path}: expected a JSON list, got {type(records).__name__}; {_STRATEGYQA_FIX}"
        )
    examples = []
    for index, record in enumerate(records):
        qid = record.get("qid") if isinstance(record, Mapping) else None
        where = f"{path}: record {index}" + (f" (qid {qid})" if qid else "")
        examples.append(
            _strategyqa_example(record, index, path.stem, where, f"{path}[{index}]")
        )
    return examples


def strategyqa_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
    where = f"hub ChilleD/StrategyQA split {split!r} row {index}"
    return _strategyqa_example(row, index, split, where, None)


# --------------------------------------------------------------------------------------------
# MMLU

_MMLU_FIX = (
    "an MMLU file is a headerless CSV with 6 fields per row, question,A,B,C,D,answer-letter "
    "(hendrycks/test data/<split>/<subject>_<split>.csv)"
)
_MMLU_SPLIT_DIRS = types.MappingProxyType({"validation": "val"})
_MMLU_NAME_RE = re.compile(r"^(?P<subject>.+)_(?P<split>dev|val|validation|test|train)$")


def _mmlu_csv_files(folder: Path, split: str) -> list[Path]:
    split_dir = _MMLU_SPLIT_DIRS.get(split, split)
    if (folder / split_dir).is_dir():
        folder = folder / split_dir
    files = sorted(folder.glob(f"*_{split_dir}.csv"))
    if not files:
        present = sorted(p.name for p in folder.iterdir())[:20]
        raise DataError(
            f"{folder}: no '<subject>_{split_dir}.csv' files for MMLU split {split!r} (folder "
            f"has {present}); pass a CSV file, a folder of <subject>_{split_dir}.csv files, or "
            f"the MMLU root holding {split_dir}/"
        )
    return files


def _load_mmlu_csv(path: Path) -> list[Example]:
    named = _MMLU_NAME_RE.match(path.stem)
    subject, split = (named["subject"], named["split"]) if named else (path.stem, "file")
    examples = []
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    row_no = 0
    try:
        for row in reader:
            if not row:
                continue
            row_no += 1
            where = f"{path}: row {row_no} (ends on line {reader.line_num})"
            if row_no == 1 and row[-1].strip().lower() == "answer":
                continue  # a header row (pandas exports write one); the original has none
            if len(row) != 6:
                raise DataError(f"{where}: has {len(row)} fields, expected 6; {_MMLU_FIX}")
            examples.append(Example(
                uid=f"mmlu-{subject}-{split}-{len(examples):04d}",
                task="mmlu",
                question=row[0],
                answer=_gold(answers.gold_mmlu, row[5], where),
                choices=tuple(row[1:5]),
                meta={"subject": subject, "source": where},
            ))
    except csv.Error as err:
        raise DataError(f"{path}: line {reader.line_num}: bad CSV ({err}); {_MMLU_FIX}") from None
    return examples


def load_mmlu(path: Path, split: str) -> list[Example]:
    files = _mmlu_csv_files(path, split) if path.is_dir() else [path]
    return [example for file in files for example in _load_mmlu_csv(file)]


def mmlu_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
    subject = str(row.get("subject") or "all")
    where = f"hub cais/mmlu (all) split {split!r} subject {subject!r} row {index}"
    record = _require(row, ("question", "choices", "answer"), where,
                      "expected the cais/mmlu layout question/subject/choices/answer")
    choices = record["choices"]
    if not isinstance(choices, Sequence) or isinstance(choices, str) or len(choices) != 4:
        raise DataError(f"{where}: 'choices' must be a list of 4 strings, got {choices!r}")
    return Example(
        uid=f"mmlu-{subject}-{split}-{index:04d}",
        task="mmlu",
        question=_text(record["question"], where, "question"),
        answer=_gold(answers.gold_mmlu, record["answer"], where),
        choices=tuple(str(choice) for choice in choices),
        meta={"subject": subject},
    )


def read_text(path: Path) -> str:
    """The file's text (UTF-8, a leading byte-order mark dropped, line ends kept)."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror}); check config.data.path") from None
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not UTF-8 text ({err.reason}); save the file as UTF-8"
        ) from None


def jsonl_records(path: Path, fix: str) -> list[tuple[Any, str]]:
    """The JSON value of each non-blank line of a JSONL file, with its "<path>:<line>"; a line that
    is not JSON is a DataError naming it, ending with ``fix`` (what the file should hold)."""
    records = []
    for line_no, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append((json.loads(line), f"{path}:{line_no}"))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{line_no}: not valid JSON ({err.msg} at column {err.colno}); {fix}") from None
    return records


def load_hub(hub: HubSource, task: str, split: str) -> list[Example]:
    """The rows of ``split`` from the hub, as Examples (DataError naming config.data.path offline)."""
    hub_split = hub.split_aliases.get(split, split)
    label = hub.path + (f" ({hub.name})" if hub.name else "")
    try:
        import datasets  # slow to import; only the hub path needs it

        rows = datasets.load_dataset(hub.path, hub.name, split=hub_split)
    except Exception as err:  # noqa: BLE001 - network, auth, cache and split errors alike
        raise DataError(
            f"could not load {task} split {hub_split!r} from the Hugging Face hub "
            f"({label}): {type(err).__name__}: {err}. Without network access set "
            f"config.data.path to a local copy in the original format (see "
            f"laser_jax.data.tasks: e.g. gsm8k test.jsonl, strategyqa_train.json, the MMLU "
            f"data/ folder)"
        ) from err
    examples = []
    counts: dict[object, int] = {}
    for row in rows:
        group = row.get(hub.group_field) if hub.group_field else None
        index = counts[group] = counts.get(group, -1) + 1
        examples.append(hub.row_to_example(row, index, hub_split))
    return examples
