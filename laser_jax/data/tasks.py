"""Reasoning tasks: examples, loaders (local files or the Hugging Face hub), splits, registry.

Local files are read in their ORIGINAL formats (see ``../shared/data/*/SOURCE.md``):

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

When ``path`` is a file, that file is the split (``split`` is not used). Without a path the task
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

``TASKS`` is the registry: one ``TaskSpec`` per task names its loaders, gold parser, answer
extractor, scorer and the answer-format sentence of its prompt. A new task is one entry here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import re
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from laser_jax.data import answers
from laser_jax.data.answers import DataError

__all__ = [
    "DataError",
    "Example",
    "HubSource",
    "TASKS",
    "TASK_NAMES",
    "TaskSpec",
    "get_task",
    "gold_format",
    "load_task",
    "row_task",
    "split_examples",
]


@dataclasses.dataclass(frozen=True)
class Example:
    """One question with its canonical gold answer (see ``laser_jax.data.answers``).

    ``choices`` holds the options of a multiple-choice task (MMLU: A..D, in order).
    ``meta`` is a tuple of ``(key, value)`` pairs, so an Example stays hashable; a dict is
    accepted and stored sorted. ``meta_dict()`` gives it back as a dict.
    """

    uid: str
    task: str
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    meta: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self):
        if not isinstance(self.choices, tuple):
            object.__setattr__(self, "choices", tuple(self.choices))
        if isinstance(self.meta, Mapping):
            object.__setattr__(self, "meta", tuple(sorted(self.meta.items())))
        elif not isinstance(self.meta, tuple):
            object.__setattr__(self, "meta", tuple(self.meta))

    def meta_dict(self) -> dict[str, Any]:
        return dict(self.meta)


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


def _load_gsm8k(path: Path, split: str) -> list[Example]:
    if path.is_dir():
        path = _split_file(
            path, (f"{split}.jsonl",), "gsm8k", split,
            "pass the .jsonl file itself or a folder holding train.jsonl / test.jsonl",
        )
    examples = []
    for line_no, line in enumerate(_read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{line_no}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(
                f"{where}: not valid JSON ({err.msg} at column {err.colno}); {_GSM8K_FIX}"
            ) from None
        examples.append(
            _gsm8k_example(record, len(examples), path.stem, where, {"source": where})
        )
    return examples


def _gsm8k_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
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


def _load_strategyqa(path: Path, split: str) -> list[Example]:
    if path.is_dir():
        path = _split_file(
            path, _STRATEGYQA_FILES.get(split, (f"{split}.json",)), "strategyqa", split,
            "StrategyQA's test answers are not public: point config.data.path at "
            "strategyqa_train.json and split it with split_examples, or pass split "
            "'train' / 'dev' / 'all' for a folder holding train.json / dev.json / "
            "strategyqa_train.json",
        )
    try:
        records = json.loads(_read_text(path))
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


def _strategyqa_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
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
    reader = csv.reader(io.StringIO(_read_text(path), newline=""))
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


def _load_mmlu(path: Path, split: str) -> list[Example]:
    files = _mmlu_csv_files(path, split) if path.is_dir() else [path]
    return [example for file in files for example in _load_mmlu_csv(file)]


def _mmlu_hub_row(row: Mapping[str, Any], index: int, split: str) -> Example:
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


# --------------------------------------------------------------------------------------------
# Demo: generated (laser_jax.data.synthetic), a mixed task


def gold_format(gold: object) -> str:
    """The answer format a canonical gold is written in: ``"strategyqa"`` for yes/no (true/false),
    ``"mmlu"`` for one letter A-D, ``"gsm8k"`` for a number; DataError otherwise."""
    text = gold.strip() if isinstance(gold, str) else ""
    if text.lower() in ("yes", "no", "true", "false"):
        return "strategyqa"
    if len(text) == 1 and text.upper() in answers.LETTERS:
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
        f"{path}: task 'demo' is generated from a seed and reads no files; leave "
        "config.data.path unset"
    )


def _generate_demo(split: str, seed: int) -> list[Example]:
    from laser_jax.data import synthetic  # imports this module (Example)

    return synthetic.load_demo(split, seed)


# --------------------------------------------------------------------------------------------
# Registry

TASKS: Mapping[str, TaskSpec] = types.MappingProxyType({
    "gsm8k": TaskSpec(
        name="gsm8k",
        load_path=_load_gsm8k,
        hub=HubSource("openai/gsm8k", "main", _gsm8k_hub_row),
        gold=answers.gold_gsm8k,
        extract=answers.extract_gsm8k,
        is_correct=answers.is_correct_number,
        answer_format="",
    ),
    "strategyqa": TaskSpec(
        name="strategyqa",
        load_path=_load_strategyqa,
        hub=HubSource("ChilleD/StrategyQA", None, _strategyqa_hub_row),
        gold=answers.gold_strategyqa,
        extract=answers.extract_strategyqa,
        is_correct=answers.is_correct_yes_no,
        answer_format="Your final answer should be yes or no.",
    ),
    "mmlu": TaskSpec(
        name="mmlu",
        load_path=_load_mmlu,
        hub=HubSource("cais/mmlu", "all", _mmlu_hub_row,
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
})
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def get_task(task: str) -> TaskSpec:
    """The registry entry of ``task``; DataError naming the valid tasks if there is none."""
    spec = TASKS.get(task) if isinstance(task, str) else None
    if spec is None:
        raise DataError(
            f"unknown task {task!r}; valid tasks: {', '.join(TASK_NAMES)} (config.data.task)"
        )
    return spec


# --------------------------------------------------------------------------------------------
# Loading


def _read_text(path: Path) -> str:
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


def _load_hub(spec: TaskSpec, split: str) -> list[Example]:
    hub = spec.hub
    hub_split = hub.split_aliases.get(split, split)
    label = hub.path + (f" ({hub.name})" if hub.name else "")
    try:
        import datasets  # slow to import; only the hub path needs it

        rows = datasets.load_dataset(hub.path, hub.name, split=hub_split)
    except Exception as err:  # noqa: BLE001 - network, auth, cache and split errors alike
        raise DataError(
            f"could not load {spec.name} split {hub_split!r} from the Hugging Face hub "
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


def _check_unique(examples: Sequence[Example], origin: str) -> None:
    seen: dict[str, int] = {}
    for index, example in enumerate(examples):
        if example.uid in seen:
            raise DataError(
                f"{origin}: examples {seen[example.uid]} and {index} share the id "
                f"{example.uid!r} (duplicate qid?); ids must be unique for splits"
            )
        seen[example.uid] = index


def _subsample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """``limit`` examples chosen by a seeded permutation of the sorted uids, in input order."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].uid)
    chosen = {order[i] for i in np.random.default_rng(seed).permutation(len(order))[:limit]}
    return [example for i, example in enumerate(examples) if i in chosen]


def load_task(task: str, path: str | Path | None = None, split: str = "test", *, seed: int = 0,
              limit: int | None = None) -> list[Example]:
    """Examples of ``task`` from ``path`` (a file or folder, see the module doc) or the hub, or,
    for a generated task (``demo``), made from ``seed`` (no path).

    ``limit``: keep at most this many, chosen at random with ``seed`` (same seed, same subset),
    in file order.
    """
    spec = get_task(task)
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise DataError(
            f"limit must be a non-negative integer or None, got {limit!r} (config.data.limit)"
        )
    if spec.generate is not None:
        if path is not None:
            raise DataError(
                f"{path}: task {task!r} is generated from the seed and reads no files; leave "
                "config.data.path unset"
            )
        examples = spec.generate(split, seed)
        origin = f"generated task {task!r} split {split!r}"
    elif path is None:
        examples = _load_hub(spec, split)
        origin = f"hub {spec.hub.path} split {split!r}"
    else:
        path = Path(path).expanduser()
        if not path.exists():
            raise DataError(
                f"{path}: no such file or folder (config.data.path for task {task!r}); "
                f"give a local {task} file or folder in its original format, or no path to "
                f"read the Hugging Face hub"
            )
        examples = spec.load_path(path, split)
        origin = str(path)
    if not examples:
        raise DataError(f"{origin}: holds no {task} examples; check config.data.path / split")
    _check_unique(examples, origin)
    if limit is not None and limit < len(examples):
        examples = _subsample(examples, limit, seed)
    return examples


# --------------------------------------------------------------------------------------------
# Splits


def _counts(sizes: Sequence[float | int | None], total: int) -> list[int]:
    if all(isinstance(s, int) and not isinstance(s, bool) or s is None for s in sizes):
        fixed = sum(s for s in sizes if s is not None)
        rest = [i for i, s in enumerate(sizes) if s is None]
        if any(s is not None and s < 0 for s in sizes) or len(rest) > 1 or fixed > total or (
            not rest and fixed != total
        ):
            raise DataError(
                f"split counts {list(sizes)} must be non-negative and sum to the {total} examples "
                f"(or leave one as None for the rest)"
            )
        return [total - fixed if s is None else s for s in sizes]
    fractions = [float(s) for s in sizes]
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(f"split fractions {list(sizes)} must be non-negative and sum to 1")
    bounds = [0] + [round(total * x) for x in np.cumsum(fractions)[:-1]] + [total]
    return [bounds[i + 1] - bounds[i] for i in range(len(fractions))]


SplitSizes = Sequence[float | int | None] | Mapping[str, float | int | None]


def split_examples(
    examples: Sequence[Example],
    sizes: SplitSizes = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    names: Sequence[str] = ("train", "dev", "test"),
) -> dict[str, list[Example]]:
    """Disjoint, covering, seeded splits of ``examples``.

    ``sizes``: fractions summing to 1, or counts summing to ``len(examples)`` (one count may be
    None: the rest), or a mapping ``{name: size}``. A sequence is named by ``names`` (its first
    ``len(sizes)`` names). The examples are ordered by uid, permuted with
    ``np.random.default_rng(seed)`` and cut in that order, so the result depends only on the set
    of examples and the seed, not on their input order; each split keeps the permuted order.
    """
    if isinstance(sizes, Mapping):
        names, sizes = tuple(sizes), tuple(sizes.values())
    if len(sizes) > len(names) or len(set(names[: len(sizes)])) != len(sizes):
        raise DataError(f"split sizes {list(sizes)} need as many distinct names, got {list(names)}")
    by_uid = {example.uid: example for example in examples}
    if len(by_uid) != len(examples):
        _check_unique(examples, "split_examples")
    counts = _counts(list(sizes), len(examples))
    uids = sorted(by_uid)
    order = [uids[i] for i in np.random.default_rng(seed).permutation(len(uids))]
    result, start = {}, 0
    for name, count in zip(names, counts):
        result[name] = [by_uid[uid] for uid in order[start:start + count]]
        start += count
    return result
