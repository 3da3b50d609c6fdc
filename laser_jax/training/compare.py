"""LASeR against the paper's baselines, same budget and seeds, one table (the training setting's
comparison; its command line is `python -m laser_jax.compare`, laser_jax/cli/compare.py).

Each method is one `train` run in WORKDIR/<method> (resumable: rerunning skips finished methods
and resumes an interrupted one). Methods:

  laser       LinUCB picks one RM per batch (the paper)
  best        the single best RM, fixed: the RM whose ranking of the initial policy's samples
              agrees best with answer correctness on a calibration set of training prompts
              (pairwise ranking accuracy, ties count 1/2); the paper used its best RM overall
  random      a uniformly random RM per batch
  sequential  cycle through the RMs
  ensemble    every RM scores every sample; per-RM standardised scores averaged
  agreement   every RM scores; only the pairs a strict majority of the RMs order alike train
  online_ensemble  every RM scores, weighted by Hedge weights learned from the bandit reward
  exp3, thompson, laser_per_query (alias laser_per_prompt), fixed:<rm name>   also available
  (bandit/methods.py: the table of methods compare and best-of-n share)

Writes WORKDIR/results.json (every number below), WORKDIR/table.md, WORKDIR/accuracy.png
(accuracy per method and task family) and WORKDIR/arms_by_family.png (LASeR's RM choices per
family over training).
"""

from __future__ import annotations

import copy
import json
import logging
import time
from pathlib import Path

import jax
import numpy as np

from laser_jax.bandit import methods as method_table
from laser_jax import stats
from laser_jax.batch import family
from laser_jax.errors import ConfigError, DataError
from laser_jax.data.tasks import TASKS
from laser_jax.models.cache import ModelCache
from laser_jax.outputs import read_json, read_jsonl, write_json
from laser_jax.plots import plot_accuracy, plot_arms_by_family, plot_seed_intervals
from laser_jax.training.loop import train
from laser_jax.training.feedback import response_correct
from laser_jax.training.runtime import build_runtime, init_state
from laser_jax.training.step import encode, sample_batch, score_samples
from laser_jax.training.validation import validate

LABELS = {"before": "SFT (before training)", "best": "Best RM", "random": "Random RM", "sequential": "Sequential",
          "ensemble": "RM score ensemble", "laser": "LASeR", "exp3": "Exp3", "laser_per_query": "LASeR (per prompt)",
          "agreement": "RM agreement ensemble", "thompson": "Thompson sampling",
          "online_ensemble": "Online ensemble (Hedge)"}
log = logging.getLogger("laser_jax")


def known_methods() -> set[str]:
    """What --methods takes besides fixed:<rm name>: ``best`` and the method table's selector-backed
    methods (with their aliases); the best-of-n-only methods that start from a prior are not here."""
    table = {m for m, v in method_table.METHODS.items() if not v.prior}
    return {"best"} | table | {a for a, m in method_table.ALIASES.items() if m in table}


def method_config(base, method: str, best_arm: int | None, names: list[str]):
    c = copy.deepcopy(base)
    c.unlock()
    if method == "best":
        c.selector, c.selector_args.arm = "fixed", int(best_arm)
    elif method.startswith("fixed:"):
        name = method.split(":", 1)[1]
        if name not in names:
            raise ConfigError(f"--methods: {method!r} names no reward model (have {names})")
        c.selector, c.selector_args.arm = "fixed", names.index(name)
    elif method_table.is_method(method) and not method_table.METHODS[method_table.canonical(method)].prior:
        m = method_table.METHODS[method_table.canonical(method)]  # bandit/methods.py: selector + overrides
        c.selector = m.selector
        for k, v in m.hparams.items():
            c.selector_args[k] = v
    else:
        c.selector = method
    return c


# ------------------------------------------------------------------------------------ best RM


def pairwise_ranking_accuracy(scores: np.ndarray, correct: np.ndarray) -> float:
    """Over pairs of samples of the same prompt with different correctness: the share the RM
    ranks the correct one higher (ties 1/2). scores, correct [prompts, n]."""
    hits, total = 0.0, 0
    for s, ok in zip(scores, correct):
        for i in np.flatnonzero(ok):
            for j in np.flatnonzero(~ok):
                hits += 1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0
                total += 1
    return hits / total if total else float("nan")


def calibrate_best_rm(config, workdir: Path, per_family: int = 4, cache=None) -> dict:
    """Sample from the initial policy on a few training prompts per family (as a training step
    samples them), score with every RM, and rank the RMs by pairwise ranking accuracy against
    answer correctness."""
    rt, params = build_runtime(config, workdir, cache)
    state = init_state(rt, params)
    chosen, seen = [], {}
    for ex in rt.train_examples:
        f = family(ex)
        if seen.get(f, 0) < per_family:
            seen[f] = seen.get(f, 0) + 1
            chosen.append(ex)
    b, k = config.training.batch_size, len(rt.reward_names)
    scores, correct = [], []
    for start in range(0, len(chosen), b):
        examples = chosen[start:start + b]
        examples += [examples[-1]] * (b - len(examples))
        batch = encode(rt, examples)
        _, texts = sample_batch(rt, state.params, batch, jax.random.PRNGKey(config.seed + 7))
        scores.append(score_samples(rt, batch, texts, np.ones((b, k))))
        correct.append(response_correct(examples, texts))
    scores, correct = np.concatenate(scores, axis=1), np.concatenate(correct, axis=0)
    acc = {name: pairwise_ranking_accuracy(scores[i], correct) for i, name in enumerate(rt.reward_names)}
    finite = {k: v for k, v in acc.items() if np.isfinite(v)}
    best = max(finite, key=finite.get) if finite else rt.reward_names[0]
    return {"ranking_accuracy": acc, "best": best, "best_arm": rt.reward_names.index(best),
            "calibration_prompts": len(chosen), "samples_correct": float(correct.mean())}


# ------------------------------------------------------------------------------------ report


def family_accuracy(path: Path) -> dict[str, float]:
    records = read_jsonl(path)
    fams: dict[str, list[bool]] = {}
    for r in records:
        fams.setdefault(r.get("family", "all"), []).append(r["correct"])
    out = {f: float(np.mean(v)) for f, v in sorted(fams.items())}
    out["avg"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


def table(rows: list[dict], families: list[str]) -> str:
    head = ["method"] + families + ["avg", "train s", "RM use (steps)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        acc = r["accuracy"]
        cells = [r["label"]] + [f"{100 * acc.get(f, float('nan')):.1f}" for f in families] + \
            [f"{100 * acc['avg']:.1f}", f"{r['train_s']:.0f}" if r.get("train_s") is not None else "-",
             ", ".join(f"{k} {v}" for k, v in (r.get("steps_per_arm") or {}).items()) or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ run


def question_matrix(paths: list[Path]) -> tuple[list[str], np.ndarray]:
    """(uids, correct [S, Q]): each seed's eval_after.jsonl aligned by question uid (the test
    split does not depend on the seed: data.split_seed)."""
    per_seed = []
    for path in paths:
        records = read_jsonl(path)
        per_seed.append({r["uid"]: float(r["correct"]) for r in records})
    uids = sorted(per_seed[0])
    if any(sorted(d) != uids for d in per_seed):
        raise DataError(f"the seeds' evaluations cover different questions: {[str(p) for p in paths]}; rerun the "
                        "methods in a new --workdir")
    return uids, np.array([[d[u] for u in uids] for d in per_seed])


def seed_statistics(correct: np.ndarray, reference: np.ndarray | None, *, resamples: int = 2000,
                    seed: int = 0) -> dict:
    """Mean accuracy over seeds and test questions, with a percentile-bootstrap 95 % interval over
    questions of the per-question means over seeds (laser_jax/stats.py, the same rule as the
    best-of-n replay's orders); per seed; and, against ``reference`` [S, Q] (best), the paired
    difference with its interval and the share of resamples above 0."""
    q = correct.mean(axis=0)
    out = {"mean": float(q.mean()), "ci95": list(stats.bootstrap_ci(q, resamples=resamples, seed=seed)),
           "per_seed": correct.mean(axis=1).tolist()}
    if reference is not None:
        mean, ci, above = stats.difference_interval(q - reference.mean(axis=0), resamples=resamples, seed=seed)
        out["vs_best"] = {"mean_diff": mean, "ci95": ci, "p_above": above}
    return out


def seed_table(rows: list[dict]) -> str:
    head = ["method", "accuracy (95 % CI)", "per seed", "vs best (95 % CI)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        st = r["seeds"]
        vs = st.get("vs_best")
        cells = [r["label"], f"{100 * st['mean']:.1f} ({100 * st['ci95'][0]:.1f}-{100 * st['ci95'][1]:.1f})",
                 ", ".join(f"{100 * v:.1f}" for v in st["per_seed"]),
                 f"{100 * vs['mean_diff']:+.1f} ({100 * vs['ci95'][0]:+.1f} to {100 * vs['ci95'][1]:+.1f})"
                 if vs and r["method"] != "best" else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_dir(workdir: Path, method: str, k: int, seeds: int) -> Path:
    """WORKDIR/<method> for one seed (as before --seeds), WORKDIR/<method>/seed<k> for several."""
    return workdir / method if seeds == 1 else workdir / method / f"seed{k}"


def compare(base, workdir: Path, methods: list[str], seeds: int = 1) -> tuple[int, dict]:
    if base.data.task in TASKS and not TASKS[base.data.task].has_gold:
        raise ConfigError(f"data.task={base.data.task!r} has no gold answers, and the comparison reports "
                          "accuracy; train each method with python -m laser_jax.main and compare their answers "
                          "with python -m laser_jax.judge")
    validate(base)
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    names = [r.get("name") for r in base.rewards]
    cache = ModelCache()  # models, tokenizers and compiled functions shared by the methods' runs
    best = None
    if "best" in methods:
        best_path = workdir / "best_rm.json"
        if not best_path.exists():
            t0 = time.perf_counter()
            best = calibrate_best_rm(base, workdir / "calibration", cache=cache)
            best["seconds"] = round(time.perf_counter() - t0, 1)
            write_json(best_path, best)
        best = read_json(best_path)
        log.info("best single RM by ranking accuracy: %s %s", best["best"], best["ranking_accuracy"])
    rows, per_method = [], {}
    for k in range(seeds):
        for i, m in enumerate(methods):
            c = method_config(base, m, best and best["best_arm"], names)
            c.seed = int(base.seed) + k
            c.eval.before = i == 0 and k == 0  # the initial policy is the same for every run: evaluate it once
            rdir = run_dir(workdir, m, k, seeds)
            res_path = rdir / "results.json"
            done = res_path.exists() and read_json(res_path).get("status") == "complete"
            if not done:
                t0 = time.perf_counter()
                res = train(c, rdir, cache=cache)
                if res["status"] != "complete":
                    code = 128 + int(res["signal"] or 0) if res["status"] == "interrupted" else 0
                    return code, {"stopped_in": str(rdir)}
                res["wall_s"] = round(time.perf_counter() - t0, 1)
                write_json(res_path, res)
            per_method.setdefault(m, []).append(read_json(res_path))
    before = next(run_dir(workdir, m, 0, seeds) / "eval_before.jsonl" for m in methods
                  if (run_dir(workdir, m, 0, seeds) / "eval_before.jsonl").exists())
    rows.append({"label": LABELS["before"], "method": "before", "accuracy": family_accuracy(before)})
    matrices = {m: question_matrix([run_dir(workdir, m, k, seeds) / "eval_after.jsonl" for k in range(seeds)])[1]
                for m in methods}
    for m in methods:
        res = per_method[m][0]
        label = LABELS.get(method_table.canonical(m), m) + (f" ({best['best']})" if m == "best" else "")
        rows.append({"label": label, "method": m,
                     "accuracy": family_accuracy(run_dir(workdir, m, 0, seeds) / "eval_after.jsonl"),
                     "train_s": res.get("time_s", {}).get("time_step"), "wall_s": res.get("wall_s"),
                     "steps_per_arm": res.get("steps_per_arm"), "arm_counts": res.get("arm_counts"),
                     "seeds": seed_statistics(matrices[m], matrices.get("best"))})
    families = [k for k in rows[0]["accuracy"] if k != "avg"]
    text = table(rows, families)
    if seeds > 1:  # the per-family table is seed 0's; this one is over every seed
        text += f"\n\nOver {seeds} seeds (per-question accuracy averaged over seeds; bootstrap over questions):\n\n"
        text += seed_table(rows[1:])
    summary = {"methods": methods, "seeds": seeds, "rows": rows, "best_rm": best, "families": families,
               "config": json.loads(base.to_json_best_effort())}
    write_json(workdir / "results.json", summary)
    (workdir / "table.md").write_text(text + "\n")
    plot_accuracy(rows, families, workdir / "accuracy.png")
    if seeds > 1:
        plot_seed_intervals(rows[1:], workdir / "accuracy_seeds.png")
    if "laser" in methods:
        plot_arms_by_family(read_jsonl(run_dir(workdir, "laser", 0, seeds) / "metrics.jsonl"), names,
                            workdir / "arms_by_family.png")
    print(text)
    return 0, summary
