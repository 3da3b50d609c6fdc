"""What a run leaves in its workdir: metrics.jsonl, TensorBoard events, results.json, arm plot,
reward-model use per prompt category (rm_by_category.md, arms_by_category.png).

Only process 0 writes. Every file is written atomically (temp file + rename) except the
append-only metrics log, which a resumed run first trims back to its checkpoint's step.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


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


def write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_plain) + "\n")


def saved_record(path: Path, now: Any, *, write: bool = True, hint: str = "") -> Any:
    """A workdir's identity record (config.json, data.json, collect_config.json): on the first run
    writes ``now`` there (when ``write``: process 0) and returns None; later returns what was
    saved. A damaged file is a ConfigError naming it (``hint``: what it records), kept as it is."""
    from laser_jax.config import ConfigError

    path = Path(path)
    if not path.exists():
        if write:
            write_json(path, now)
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is damaged ({e}){hint}; restore it, or choose another --workdir") from None


def _plain(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class MetricsLog:
    """metrics.jsonl: one JSON object per training step, and the TensorBoard scalars."""

    def __init__(self, workdir: Path, *, resume_step: int, tensorboard: bool, enabled: bool = True):
        self.enabled = enabled
        self.path = Path(workdir) / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        if self.path.exists():  # drop steps a killed run logged after its last checkpoint
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and json.loads(line)["step"] <= resume_step]
            tmp = self.path.with_name("metrics.jsonl.tmp")
            tmp.write_text("".join(line + "\n" for line in keep))
            os.replace(tmp, self.path)
        if tensorboard:
            from tensorboardX import SummaryWriter

            self.writer = SummaryWriter(str(Path(workdir) / "tensorboard"), purge_step=resume_step + 1)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        clean = {k: _finite(v) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps(clean, default=_plain) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and k != "step":
                    self.writer.add_scalar(k, v, record["step"])

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

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


def plot_arms(records: list[dict], arm_names: list[str], path: Path, title: str = "") -> None:
    """PNG: the arm(s) chosen at each step (top) and cumulative choices per arm (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in records]
    counts = arm_count_matrix(records, len(arm_names)).astype(float)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for k, name in enumerate(arm_names):
        used = [s for s, c in zip(steps, counts) if c[k] > 0]
        top.scatter(used, [k] * len(used), s=12, label=name)
        bottom.plot(steps, np.cumsum(counts[:, k] > 0) if len(counts) else [], label=name)
    top.set_yticks(range(len(arm_names)), arm_names)
    top.set_ylabel("reward model")
    top.set_title(title or "reward model chosen per step")
    bottom.set_xlabel("training step")
    bottom.set_ylabel("steps using the RM (cumulative)")
    bottom.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    tmp = Path(path).with_name(Path(path).stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


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


def plot_rm_use(use: dict, arm_names: list[str], path: Path, title: str = "") -> None:
    """PNG: per category, one horizontal bar split into the shares of its prompts each RM ranked
    (the paper's figure of RM use per WildChat category), labelled with the prompt counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = use["categories"]
    counts = np.array([[use["prompts"][c][n] for n in arm_names] for c in cats], float).reshape(len(cats),
                                                                                              len(arm_names))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.5 * max(len(cats), 1)))
    left = np.zeros(len(cats))
    colours = plt.get_cmap("tab10")
    for k, name in enumerate(arm_names):
        ax.barh(range(len(cats)), shares[:, k], left=left, color=colours(k % 10), label=name)
        for i, (s, n) in enumerate(zip(shares[:, k], counts[:, k])):
            if s >= 0.08:
                ax.text(left[i] + s / 2, i, f"{int(n)}", ha="center", va="center", fontsize=8)
        left += shares[:, k]
    ax.set_yticks(range(len(cats)), [f"{c} ({int(t)})" for c, t in zip(cats, totals[:, 0])])
    ax.invert_yaxis()  # categories top to bottom in the table's order
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the category's prompts ranked by the reward model")
    ax.set_title(title or "reward model used per prompt category")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="reward model",
              title_fontsize=8)
    fig.tight_layout()
    tmp = Path(path).with_name(Path(path).stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)


def write_rm_use(records: list[dict], arm_names: list[str], workdir: Path, *, title: str = "",
                 plot: bool = True) -> dict:
    """``rm_use_by_category`` of a run's metrics records, written to ``workdir`` as
    ``rm_by_category.md`` and (``plot``) ``arms_by_category.png``; returns it."""
    use = rm_use_by_category(records, arm_names)
    write_text_atomic(Path(workdir) / "rm_by_category.md", rm_use_table(use, arm_names, title))
    if plot and use["categories"]:
        plot_rm_use(use, arm_names, Path(workdir) / "arms_by_category.png", title)
    return use
