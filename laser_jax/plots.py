"""Every figure laser_jax draws (matplotlib, Agg backend, PNG written atomically: temp file + rename):

- a training run: `plot_arms` (arms.png: the RM chosen per step, cumulative use) and `plot_rm_use`
  (arms_by_category.png: each category's prompts split by the RM that ranked them);
- a comparison (`laser_jax.compare`, training/compare.py): `plot_accuracy` (accuracy.png), `plot_seed_intervals`
  (accuracy_seeds.png), `plot_arms_by_family` (arms_by_family.png);
- a judgement (`laser_jax.judge`): `plot_by_category` (winrate_by_category.png);
- best-of-n (`laser_jax.best_of_n`): `plot_method_intervals` (methods_<reward>.png),
  `plot_arm_share_by_family` (arms_by_family_<reward>.png) and `plot_pool` (pool.png).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    """matplotlib.pyplot on the Agg backend. Imported when a figure is drawn, not with this module:
    choosing a backend at import would change it for a notebook that imports laser_jax."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike, **kw) -> Path:
    """Writes ``fig`` to ``path`` atomically (a reader never sees half a PNG) and closes it."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, **kw)
    _pyplot().close(fig)
    os.replace(tmp, path)
    return path


def plot_arms(steps: list[int], counts: np.ndarray, arm_names: list[str], path: Path, title: str = "") -> None:
    """PNG: the arm(s) chosen at each step (top) and cumulative choices per arm (bottom); ``counts``
    [steps, arms] prompts per RM per step (`outputs.arm_count_matrix`)."""
    plt = _pyplot()
    counts = np.asarray(counts, float)
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
    _save(fig, path)


def plot_rm_use(use: dict, arm_names: list[str], path: Path, title: str = "") -> None:
    """PNG: per category, one horizontal bar split into the shares of its prompts each RM ranked
    (the paper's figure of RM use per WildChat category), labelled with the prompt counts;
    ``use``: `outputs.rm_use_by_category`."""
    plt = _pyplot()
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
    _save(fig, path, bbox_inches="tight")


def plot_accuracy(rows: list[dict], families: list[str], path: Path) -> None:
    """PNG: accuracy after training per method (``rows[i]["accuracy"]``) and task family."""
    plt = _pyplot()
    cols = families + ["avg"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        ax.bar(np.arange(len(cols)) + i * width, [100 * r["accuracy"].get(c, np.nan) for c in cols], width,
               label=r["label"])
    ax.set_xticks(np.arange(len(cols)) + 0.4 - width / 2, cols)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("accuracy after training, per task family")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    _save(fig, path)


def plot_seed_intervals(rows: list[dict], path: Path) -> None:
    """PNG: mean accuracy over seeds per method with its 95 % interval, and each seed's accuracy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.6 + 0.5 * len(rows)))
    for i, r in enumerate(rows):
        st = r["seeds"]
        ax.errorbar(100 * st["mean"], i, xerr=[[100 * (st["mean"] - st["ci95"][0])], [100 * (st["ci95"][1] - st["mean"])]],
                    fmt="o", color="C0", capsize=4)
        ax.scatter([100 * v for v in st["per_seed"]], [i] * len(st["per_seed"]), color="C1", s=12, zorder=3)
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
    ax.set_xlabel("test accuracy (%): mean over seeds, 95 % interval (blue); each seed (orange)")
    fig.tight_layout()
    _save(fig, path)


def plot_arms_by_family(records: list[dict], names: list[str], path: Path) -> None:
    """PNG: LASeR's reward model at each step (a run's metrics records), one panel per task family."""
    plt = _pyplot()
    fams = sorted({r.get("family", "all") for r in records})
    fig, axes = plt.subplots(len(fams), 1, figsize=(8, 1.6 + 1.4 * len(fams)), sharex=True, squeeze=False)
    for ax, f in zip(axes[:, 0], fams):
        rs = [r for r in records if r.get("family", "all") == f]
        ax.scatter([r["step"] for r in rs], [r["arm"] for r in rs], s=25)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.set_ylim(-0.5, len(names) - 0.5)
        ax.set_title(f"family: {f}", fontsize=9)
    axes[-1, 0].set_xlabel("training step")
    fig.suptitle("LASeR: reward model chosen at each step, per task family")
    fig.tight_layout()
    _save(fig, path)


def plot_by_category(rates: dict[str, Any], path: str | os.PathLike, *, a: str, b: str) -> Path:
    """PNG: run A's win rate per category and over all prompts, with the 95 % intervals
    (``rates``: `judge.winrate.win_rate`)."""
    plt = _pyplot()
    by = rates.get("by_category", {})
    names = list(by) + ["all"]
    rows = [by[c] for c in by] + [rates]
    values = np.array([r["win_rate"] for r in rows])
    lo = np.array([r["ci95"][0] for r in rows])
    hi = np.array([r["ci95"][1] for r in rows])
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(names), 4))
    colors = ["tab:blue"] * len(by) + ["tab:gray"]
    ax.bar(range(len(names)), values, color=colors,
           yerr=np.stack([np.maximum(values - lo, 0), np.maximum(hi - values, 0)]), capsize=4)
    ax.axhline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), [f"{c}\n(n={r['prompts']})" for c, r in zip(names, rows)], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"win rate of {a}")
    ax.set_title(f"{a} vs {b} (95 % bootstrap intervals)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_method_intervals(rows: list[dict], path: Path, *, xlabel: str, title: str) -> None:
    """One row per method: its mean (%) with its 95 % interval; reference rows (label
    "reference") in grey."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        lo, hi = r["ci95"]
        ax.errorbar(100 * r["mean"], i, xerr=[[100 * (r["mean"] - lo)], [100 * (hi - r["mean"])]],
                    fmt="o", color="gray" if r["label"] == "reference" else "C0", capsize=3)
    ax.set_yticks(range(len(rows)), [r["method"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    fig.tight_layout()
    _save(fig, path)


def plot_arm_share_by_family(use: dict[str, dict[str, float]], rm_names: list[str], path: Path, *,
                             title: str) -> None:
    """Stacked bars: per family, the share of its queries each RM ranked (``use[family][rm]``)."""
    plt = _pyplot()
    fams = list(use)
    fig, ax = plt.subplots(figsize=(7, 1 + 0.5 * len(fams)))
    left = np.zeros(len(fams))
    for name in rm_names:
        share = np.array([use[f].get(name, 0.0) for f in fams])
        ax.barh(fams, share, left=left, label=name)
        left += share
    ax.set_xlabel("share of the family's test queries (over all replay orders)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    _save(fig, path)


def plot_pool(pool: dict, path: Path) -> None:
    """pool.png (``pool``: `best_of_n.pool.pool_stats`): left, the RM x RM agreement over all test
    queries (the share of metric-differing pairs two RMs order alike) as a heat map; right, each
    RM's ranking accuracy per family with its 95 % interval, chance (0.5) dashed."""
    plt = _pyplot()
    rms, fams = pool["reward_models"], pool["families"]
    agree = np.array([[np.nan if v is None else v for v in row] for row in pool["all"]["agreement"]], float)
    fig, (left, right) = plt.subplots(1, 2, figsize=(6 + 0.8 * len(fams) + 0.5 * len(rms), 1.8 + 0.5 * len(rms)),
                                      gridspec_kw={"width_ratios": [1, 1.3]})
    im = left.imshow(100 * agree, vmin=0, vmax=100, cmap="viridis")
    for (a, b), v in np.ndenumerate(agree):
        if np.isfinite(v):
            left.text(b, a, f"{100 * v:.0f}", ha="center", va="center", fontsize=8,
                      color="black" if v > 0.6 else "white")
    left.set_xticks(range(len(rms)), rms, rotation=45, ha="right", fontsize=8)
    left.set_yticks(range(len(rms)), rms, fontsize=8)
    left.set_title("pairs two RMs order alike (%)", fontsize=9)
    fig.colorbar(im, ax=left, fraction=0.046)
    width = 0.8 / max(len(rms), 1)
    for k, rm in enumerate(rms):
        rows = [pool["by_family"][f]["ranking_accuracy"][rm] for f in fams]
        mean = np.array([np.nan if r["mean"] is None else r["mean"] for r in rows], float)
        lo = np.array([np.nan if r["ci95"][0] is None else r["ci95"][0] for r in rows], float)
        hi = np.array([np.nan if r["ci95"][1] is None else r["ci95"][1] for r in rows], float)
        right.bar(np.arange(len(fams)) + k * width, mean, width, label=rm,
                  yerr=np.stack([np.maximum(mean - lo, 0), np.maximum(hi - mean, 0)]), capsize=3)
    right.axhline(0.5, color="black", lw=0.8, ls="--")
    right.set_xticks(np.arange(len(fams)) + 0.4 - width / 2, fams, fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("ranking accuracy (95% CI over queries)")
    right.set_title("pairs ordered like the task metric, per family", fontsize=9)
    right.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="RM", title_fontsize=7)
    fig.tight_layout()
    _save(fig, path, bbox_inches="tight")
