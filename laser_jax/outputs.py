"""What a run leaves in its workdir: metrics.jsonl, TensorBoard events, results.json, reward-model
use per prompt category (rm_by_category.md, arms_by_category.png: `plots.plot_rm_use`); valid JSON
only (`json_text`: non-finite numbers as null), and the readers of what was written (`read_json`,
`read_jsonl`: a damaged file named, a torn last line dropped).

Only process 0 writes. Every file is written atomically (temp file + rename) except the
append-only metrics log, which a resumed run first trims back to its checkpoint's step.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from laser_jax.errors import ConfigError, DataError
from laser_jax.plots import plot_rm_use

log = logging.getLogger("laser_jax")


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Writes ``text`` (UTF-8) to ``path`` atomically: a temporary file in the same directory,
    flushed to disk, renamed over the target, so a reader sees the old file or the new one, never
    half of one; on any error the temporary file is removed and the old file is left as it was.
    Parent directories are made."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes the file private (0600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float (NaN, +-inf; Python or numpy) as None and numpy values
    as Python ones, so that it writes as valid JSON (which has no NaN / Infinity)."""
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(v) for v in data]
    if isinstance(data, np.ndarray):
        return json_safe(data.tolist())
    if isinstance(data, (np.floating, np.integer, np.bool_)):
        data = data.item()
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def json_text(data: Any, **kw) -> str:
    """Valid JSON of ``data`` (`json_safe`: non-finite numbers as null; other objects as str)."""
    return json.dumps(json_safe(data), allow_nan=False, default=str, **kw)


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json_text(data, indent=2) + "\n")


def read_json(path: Path, *, hint: str = "restore it, or choose another --workdir") -> Any:
    """A JSON file laser_jax wrote; a damaged one is a DataError naming it and what to do (``hint``)."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path} is damaged ({e}); {hint}") from None


def read_jsonl(path: Path, *, hint: str = "restore it, or choose another --workdir") -> list[dict]:
    """The records of a JSONL file laser_jax appended to. A last line that does not parse (torn by
    a crash during the append) is dropped with a warning; a damaged line before it is a DataError
    naming the file and line (``hint``: what to do)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is damaged ({e}); {hint}") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    records = []
    for i, (n, line) in enumerate(numbered):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i == len(numbered) - 1:
                log.warning("%s:%d: the last line is incomplete (a crash while it was written); dropped it",
                            path, n)
                break
            raise DataError(f"{path}:{n} is damaged ({e}); {hint}") from None
    return records


def saved_record(path: Path, now: Any, *, write: bool = True, hint: str = "") -> Any:
    """A workdir's identity record (config.json, data.json, collect_config.json): on the first run
    writes ``now`` there (when ``write``: process 0) and returns None; later returns what was
    saved. A damaged file is a ConfigError naming it (``hint``: what it records), kept as it is."""
    path = Path(path)
    if not path.exists():
        if write:
            write_json(path, now)
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is damaged ({e}){hint}; restore it, or choose another --workdir") from None


def summary_writer_class():
    """tensorboardX.SummaryWriter, imported without PyTorch. tensorboardX's writer module imports
    torch whenever it is installed (~1.4 s), only to accept torch tensors besides numpy arrays;
    laser_jax logs floats. While it is imported, ``sys.modules["torch"] = None`` makes ``import
    torch`` raise ImportError, which tensorboardX handles; torch stays importable afterwards. Left
    alone when something has already imported torch."""
    block = "torch" not in sys.modules
    if block:
        sys.modules["torch"] = None
    try:
        from tensorboardX import SummaryWriter
    finally:
        if block:
            del sys.modules["torch"]
    return SummaryWriter


class MetricsLog:
    """metrics.jsonl: one JSON object per training step, and the TensorBoard scalars."""

    def __init__(self, workdir: Path, *, resume_step: int, tensorboard: bool, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(workdir) / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        if self.path.exists():  # drop steps a killed run logged after its last checkpoint (and a torn line)
            keep = [r for r in self._records() if r.get("step", 0) <= resume_step]
            write_text_atomic(self.path, "".join(json_text(r) + "\n" for r in keep))
        if tensorboard:
            SummaryWriter = summary_writer_class()
            self.writer = SummaryWriter(str(Path(workdir) / "tensorboard"), purge_step=resume_step + 1)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json_text(record) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and k != "step":
                    self.writer.add_scalar(k, v, record["step"])

    def read(self) -> list[dict]:
        return self._records() if self.path.exists() else []

    def _records(self) -> list[dict]:
        return read_jsonl(self.path, hint="remove that line (or the file, to lose the run's metrics) and rerun")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def arm_count_matrix(records: list[dict], num_arms: int) -> np.ndarray:
    """[steps, num_arms] prompts per RM per step from metrics records; a step from before reward
    models were appended (shorter ``arm_counts``) counts 0 for them."""
    out = np.zeros((len(records), num_arms), np.int64)
    for i, r in enumerate(records):
        row = np.asarray(r["arm_counts"], np.int64)[:num_arms]
        out[i, :len(row)] = row
    return out


# ------------------------------------------------------------------ reward-model use per category


def rm_use_by_category(records: list[dict], arm_names: list[str]) -> dict:
    """Which reward model ranked which prompt category, from a run's metrics records:
    ``{"categories": [...], "prompts": {category: {rm: n}}, "steps": {category: {rm: n}}}``.
    ``prompts``: the batch prompts of the category each RM scored (a step's
    ``arm_counts_by_family``; a record written before that field existed counts its
    ``arm_counts`` under its ``family``, "mixed" for a batch of several); a prompt a batch repeats
    to fill it counts each time. ``steps``: the steps in which the RM scored some prompt of the
    category; ``category_steps``: the steps with some prompt of the category. An ensemble's RMs
    all count. RMs appended mid-run count 0 before they joined."""
    k = len(arm_names)
    prompts: dict[str, np.ndarray] = {}
    steps: dict[str, np.ndarray] = {}
    seen: dict[str, int] = {}
    for r in records:
        by_family = r.get("arm_counts_by_family") or {r.get("family", "all"): r["arm_counts"]}
        for fam, counts in by_family.items():
            row = np.zeros(k, np.int64)
            given = np.asarray(counts, np.int64)[:k]
            row[:len(given)] = given
            prompts[fam] = prompts.get(fam, 0) + row
            steps[fam] = steps.get(fam, 0) + (row > 0)
            seen[fam] = seen.get(fam, 0) + 1
    cats = sorted(prompts)

    def as_dict(table: dict) -> dict:
        return {c: {name: int(n) for name, n in zip(arm_names, table[c])} for c in cats}

    return {"categories": cats, "prompts": as_dict(prompts), "steps": as_dict(steps),
            "category_steps": {c: seen[c] for c in cats}}


def rm_use_table(use: dict, arm_names: list[str], title: str = "") -> str:
    """Markdown of ``rm_use_by_category``: per category, the prompts each RM ranked (and their
    share of the category's prompts), then the steps."""
    def table(key: str, shares: bool) -> list[str]:
        lines = ["| category | " + " | ".join(arm_names) + f" | {key} |",
                 "|---|" + "---:|" * (len(arm_names) + 1)]
        for cat in use["categories"]:
            row = use[key][cat]
            total = sum(row.values()) if shares else use["category_steps"][cat]
            cells = [f"{row[n]} ({100 * row[n] / total:.0f} %)" if shares and total else str(row[n])
                     for n in arm_names]
            lines.append(f"| {cat} | " + " | ".join(cells) + f" | {total} |")
        return lines

    out = [f"# {title}", ""] if title else []
    out += ["Prompts ranked by each reward model, per category (share of the category's prompts):", ""]
    out += table("prompts", True)
    out += ["", "Steps in which each reward model ranked some prompt of the category (last column: the "
            "steps with prompts of the category):", ""]
    out += table("steps", False)
    return "\n".join(out) + "\n"


def write_rm_use(records: list[dict], arm_names: list[str], workdir: Path, *, title: str = "",
                 plot: bool = True) -> dict:
    """``rm_use_by_category`` of a run's metrics records, written to ``workdir`` as
    ``rm_by_category.md`` and (``plot``) ``arms_by_category.png``; returns it."""
    use = rm_use_by_category(records, arm_names)
    write_text_atomic(Path(workdir) / "rm_by_category.md", rm_use_table(use, arm_names, title))
    if plot and use["categories"]:
        plot_rm_use(use, arm_names, Path(workdir) / "arms_by_category.png", title)
    return use
