"""The paper's efficiency claim: LASeR (one RM scores a batch) against the score ensemble, the
agreement ensemble and the online (Hedge) ensemble (every RM scores every response), a training
step each, side by side.

    python bench/bench_selector_step.py                  # SmolLM2-135M policy (LoRA), 4 RMs
    python bench/bench_selector_step.py --steps 6 --json bench/results/selector_step.json

Setting: configs/smollm2.py (SmolLM2-135M-Instruct with LoRA on generated sums, 4 prompts x 4
samples of up to 48 tokens per step) with four same-size neural reward models: SmolLM2's
likelihood of the response under four names (the same weights; each RM still runs its own
forward, as four separately trained RMs of that size would). Every method trains the same
steps in one process (models and compiled functions shared); the first step of each method
compiles and is left out. Printed: median seconds per step (whole step and its scoring phase)
per method and the ratios to LASeR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METHODS = ("laser", "ensemble", "agreement", "online_ensemble")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def config(steps: int):
    import importlib.util

    spec = importlib.util.spec_from_file_location("smollm2_config", ROOT / "configs" / "smollm2.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    c.rewards = [dict(name=f"lm_{i}", kind="likelihood", path="smollm2-135m-instruct") for i in range(4)]
    c.data.train_limit = c.training.batch_size * (steps + 1)  # one compile step, then `steps`
    c.eval.before = c.eval.after = False
    c.logging.progress = c.logging.plot = c.logging.tensorboard = False
    c.training.checkpoint_every = 1000
    return c


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps per method (after one compile step)")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--quick", action="store_true", help="smoke run: one timed step per method")
    a = p.parse_args()
    if a.quick:
        a.steps = 1
    from laser_jax.models.cache import ModelCache
    from laser_jax.training import train

    print(f"machine: {os.cpu_count()} CPUs; uptime: {uptime()}", flush=True)
    cache = ModelCache()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for m in METHODS:
            c = config(a.steps)
            c.selector = m
            t0 = time.perf_counter()
            res = train(c, Path(tmp) / m, cache=cache)
            wall = time.perf_counter() - t0
            assert res["status"] == "complete", res
            recs = [json.loads(line) for line in (Path(tmp) / m / "metrics.jsonl").read_text().splitlines()]
            timed = recs[1:]
            out[m] = {"step_s": float(np.median([r["time_step"] for r in timed])),
                      "score_s": float(np.median([r["time_score"] for r in timed])),
                      "train_s": float(np.median([r["time_train"] for r in timed])),
                      "sample_s": float(np.median([r["time_sample"] for r in timed])),
                      "pairs": [r["pairs"] for r in timed], "steps": len(timed), "wall_s": wall}
            print(f"  {m}: {out[m]}", flush=True)
    base = out["laser"]
    print(f"\nseconds per training step (median over {a.steps} steps after compilation), 4 same-size RMs:")
    print(f"  {'method':16s} {'step':>8s} {'scoring':>8s} {'sampling':>8s} {'train':>8s}   step / laser's")
    for m in METHODS:
        r = out[m]
        print(f"  {m:16s} {r['step_s']:8.2f} {r['score_s']:8.2f} {r['sample_s']:8.2f} {r['train_s']:8.2f}"
              f"   {r['step_s'] / base['step_s']:.2f}x (scoring {r['score_s'] / base['score_s']:.2f}x)")
    print(f"uptime after: {uptime()}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"benchmark": "selector_step", "command": " ".join([sys.executable] + sys.argv),
                                      "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                      "methods": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
