"""Issue 21 §4: selector variants replayed on a collected best-of-n workdir's tables, each with its
95 % interval and its paired differences with `best` and `ensemble` (the pre-registered protocol:
docs/front_door_section4.md).

    python bench/selection_variants.py --workdir runs/bon [--config configs/best_of_n.py] [--json PATH]
    python bench/selection_variants.py --workdir runs/bon --orders 10 --resamples 200   # a smoke run

Nothing is sampled or scored: the tables are the workdir's collect folder (laser_jax/best_of_n/collect.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from laser_jax.bandit import hparams_from_args  # noqa: E402
from laser_jax.best_of_n import replay as rp  # noqa: E402
from laser_jax.best_of_n import stats  # noqa: E402
from laser_jax.best_of_n.collect import load_tables, queries  # noqa: E402
from laser_jax.best_of_n.run import validate  # noqa: E402
from laser_jax.cli.launch import load_config_file  # noqa: E402
from laser_jax.training.runtime import load_data  # noqa: E402

# (context label, context_dim, context_transform)
CONTEXTS = [("full", 0, "none"), ("svd4", 4, "none"), ("svd16", 16, "none"), ("centre", 0, "centre"),
            ("whiten", 0, "whiten"), ("whiten4", 4, "whiten")]
REWARDS = ("gold", "nll", "consensus")
METHODS = ("laser", "laser_per_query")
PRIOR = ("laser_prior", "thompson_prior")
PRIOR_CONTEXTS = ("full", "whiten")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--config", default=str(ROOT / "configs" / "best_of_n.py"))
    ap.add_argument("--orders", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--json", default="")
    a = ap.parse_args(argv)
    cfg = validate(load_config_file(a.config))
    train, test = load_data(cfg)  # the queries, no model: the tables are on disk
    rt = types.SimpleNamespace(train_examples=train, test_examples=test,
                               reward_names=[r["name"] for r in cfg.rewards])
    folder = Path(a.workdir) / "collect"
    base = load_tables(rt, folder, -(-len(queries(rt)) // cfg.training.batch_size))
    seed, batch = cfg.seed, cfg.replay.batch
    t0 = time.perf_counter()
    rows = []
    for reward in REWARDS:
        refs = rp.replay(base, ["best", "ensemble"], orders=a.orders, batch=batch, reward=reward, seed=seed)
        ref_name = max(refs, key=lambda m: stats.per_query(refs[m]).mean())
        for label, dim, transform in CONTEXTS:
            t = dataclasses.replace(base, contexts=rp.project_contexts(base.contexts, base.calibration, dim,
                                                                         transform))
            hp = {name: hparams_from_args(name, cfg.selector_args, cfg.bandit.normalise)
                  for name in ("laser", "thompson")}
            if reward == "gold":
                hp = {k: {x: v for x, v in h.items() if x != "normalise"} for k, h in hp.items()}
            methods = list(METHODS) + (list(PRIOR) if label in PRIOR_CONTEXTS else [])
            res = rp.replay(t, methods, orders=a.orders, batch=batch, reward=reward, seed=seed, hparams=hp)
            for m, r in res.items():
                pq = stats.per_query(r)
                row = {"method": m, "reward": reward, "context": label, "dim": int(t.contexts.shape[1]),
                       "mean": float(pq.mean()),
                       "ci95": list(stats.bootstrap_ci(pq, seed=seed, resamples=a.resamples)),
                       "arm_use": stats.arm_use(r, base.rm_names)}
                for ref in ("best", "ensemble"):
                    row["vs_" + ref] = stats.paired(r, refs[ref], seed=seed, resamples=a.resamples)
                row["works"] = row["vs_" + ref_name]["ci95"][1] >= 0
                row["against"] = ref_name
                rows.append(row)
                print(f"{m:16s} {reward:9s} {label:8s} d={row['dim']:3d}  {100 * row['mean']:5.1f} "
                      f"({100 * row['ci95'][0]:.1f}-{100 * row['ci95'][1]:.1f})  "
                      f"vs best {100 * row['vs_best']['mean_diff']:+5.1f} ({100 * row['vs_best']['ci95'][0]:+.1f}, "
                      f"{100 * row['vs_best']['ci95'][1]:+.1f})  vs ensemble {100 * row['vs_ensemble']['mean_diff']:+5.1f} "
                      f"({100 * row['vs_ensemble']['ci95'][0]:+.1f}, {100 * row['vs_ensemble']['ci95'][1]:+.1f})  "
                      f"{'works' if row['works'] else '-'}", flush=True)
        for ref, r in refs.items():
            pq = stats.per_query(r)
            print(f"{ref:16s} {reward:9s} (reference) {100 * pq.mean():5.1f} "
                  f"({100 * stats.bootstrap_ci(pq, seed=seed, resamples=a.resamples)[0]:.1f}-"
                  f"{100 * stats.bootstrap_ci(pq, seed=seed, resamples=a.resamples)[1]:.1f})", flush=True)
    for group, rewards in (("label-free", ("nll", "consensus")), ("gold", ("gold",))):
        ok = [r for r in rows if r["reward"] in rewards and r["works"]]
        win = max(ok, key=lambda r: r["mean"]) if ok else None
        print(f"winner ({group}): " + (f"{win['method']} reward={win['reward']} context={win['context']} "
                                       f"{100 * win['mean']:.1f}, vs {win['against']} "
                                       f"{100 * win['vs_' + win['against']]['mean_diff']:+.1f}" if win else "none works"))
    print(f"replays: {time.perf_counter() - t0:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps({"orders": a.orders, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
