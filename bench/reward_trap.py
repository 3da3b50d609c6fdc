"""Which reward model does each bandit reward favour? The self-agreement trap, measured directly.

    python bench/reward_trap.py [--config configs/demo.py] [--batches 3] [--seeds 2]
                                [--json bench/results/reward_trap.json]

A LASeR bandit learns which RM to use from the reward each RM's step earns. Here every RM gets
the same batches: per task family and batch, the initial policy samples (as a training step
does), every RM ranks the samples, the pairs each RM's ranking gives are trained on for one step
from the same initial state (the update itself is thrown away), and each bandit reward of
training/feedback.py is computed for it: ``loss`` (the paper's, -(DPO+NLL)), ``dpo_loss``
(-(DPO term)) and ``gold_agreement`` (the share of trained pairs, among those that differ in
correctness, whose chosen response is the correct one; it reads the gold answers, so it is the
reference for which RM ranks right). Printed per family and RM: each reward's mean over batches
and seeds with a 95 % bootstrap interval, and which RM each reward would pick (the largest mean).
A reward falls into the trap when it picks an RM whose gold agreement is low (on the demo: SmolLM2
scoring its own samples, `smollm2_lik`). A step whose RM ties every pair trains nothing and
earns -inf (the worst reward): counted as "none" and left out of the means.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("loss", "dpo_loss", "gold_agreement")


def load_config(path: str):
    file, _, size = path.partition(":")
    spec = importlib.util.spec_from_file_location("trap_config", file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config(size) if size else mod.get_config()


def measure(config, batches: int, seeds: int, workdir: Path) -> dict:
    import jax

    from laser_jax.batch import family
    from laser_jax.models.cache import ModelCache
    from laser_jax.training import feedback, pairs
    from laser_jax.training.runtime import build_runtime, copy_params, init_state
    from laser_jax.training.step import encode, sample_batch, score_samples

    cache = ModelCache()
    rt, params = build_runtime(config, workdir, cache)
    state = init_state(rt, params)
    b, k = config.training.batch_size, len(rt.reward_names)
    by_family: dict[str, list] = {}
    for ex in rt.train_examples:
        by_family.setdefault(family(ex), []).append(ex)
    out = {f: {name: {kind: [] for kind in KINDS} for name in rt.reward_names} for f in sorted(by_family)}
    for seed in range(seeds):
        for fi, (f, exs) in enumerate(sorted(by_family.items())):
            for i in range(batches):
                chunk = [exs[(i * b + j) % len(exs)] for j in range(b)]
                batch = encode(rt, chunk)
                key = jax.random.PRNGKey(1000 * seed + 10 * fi + i)
                out_s, texts = sample_batch(rt, state.params, batch, key)
                raw = score_samples(rt, batch, texts, np.ones((b, k)))
                correct = feedback.response_correct(batch.examples, texts)
                for arm, name in enumerate(rt.reward_names):
                    chosen, rejected, valid = pairs.build_pairs(raw[arm], config.training.pairs_per_prompt,
                                                                config.training.pairing)
                    m = None
                    if valid.any():
                        packed = pairs.pack(batch.ids, batch.mask, out_s.tokens, out_s.lengths, chosen, rejected,
                                            valid)
                        opt = jax.tree.map(lambda x: x.copy(), state.opt_state)
                        _, _, m = rt.fns.step(copy_params(state.params), rt.frozen, state.ref, opt, packed)
                        m = jax.device_get(m)
                    for kind in KINDS:
                        r = float(feedback.bandit_reward(kind, m, valid, correct=correct, chosen=chosen,
                                                         rejected=rejected))
                        out[f][name][kind].append(r)
                print(f"seed {seed} {f} batch {i}: " + ", ".join(
                    f"{n} {out[f][n]['loss'][-1]:.3f}/{out[f][n]['gold_agreement'][-1]:.2f}"
                    for n in rt.reward_names), flush=True)
    return out


def summarise(raw: dict, resamples: int = 2000) -> dict:
    from laser_jax.best_of_n.stats import bootstrap_ci

    summary = {}
    for f, rms in raw.items():
        summary[f] = {"rms": {}, "pick": {}}
        for name, kinds in rms.items():
            row = {}
            for kind, vals in kinds.items():
                v = np.asarray(vals, np.float64)
                ok = v[np.isfinite(v)]
                row[kind] = {"mean": float(ok.mean()) if len(ok) else None,
                             "ci95": list(bootstrap_ci(ok, resamples=resamples)) if len(ok) > 1 else None,
                             "none": int((~np.isfinite(v)).sum()), "n": len(v)}
            summary[f]["rms"][name] = row
        for kind in KINDS:
            means = {n: r[kind]["mean"] for n, r in summary[f]["rms"].items() if r[kind]["mean"] is not None}
            summary[f]["pick"][kind] = max(means, key=means.get) if means else None
    return summary


def table(summary: dict) -> str:
    lines = []
    for f, part in summary.items():
        lines.append(f"\nfamily {f}: mean bandit reward per RM (95 % CI; 'none': steps that trained nothing)")
        lines.append("| RM | " + " | ".join(KINDS) + " |")
        lines.append("|---|" + "---|" * len(KINDS))
        for name, row in part["rms"].items():
            cells = []
            for kind in KINDS:
                c = row[kind]
                if c["mean"] is None:
                    cells.append(f"none ({c['none']}/{c['n']})")
                    continue
                ci = f" ({c['ci95'][0]:.3f}, {c['ci95'][1]:.3f})" if c["ci95"] else ""
                extra = f", none {c['none']}/{c['n']}" if c["none"] else ""
                cells.append(f"{c['mean']:.3f}{ci}{extra}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("| **picked** | " + " | ".join(str(part["pick"][k]) for k in KINDS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "demo.py"))
    ap.add_argument("--batches", type=int, default=3, help="batches per family and seed")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 batch, 1 seed")
    a = ap.parse_args(argv)
    if a.quick:
        a.batches, a.seeds = 1, 1
    config = load_config(a.config)
    config.logging.progress = False
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        raw = measure(config, a.batches, a.seeds, Path(tmp))
    summary = summarise(raw)
    print(table(summary))
    print(f"\n{a.batches} batches x {a.seeds} seeds per family, {time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.write_text(json.dumps({"config": a.config, "batches": a.batches, "seeds": a.seeds,
                                      "summary": summary, "raw": raw}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
