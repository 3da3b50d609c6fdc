"""Where the best-of-n replay's time goes (laser_jax/best_of_n/run.py after collection), phase by
phase: the pool's statistics, then per bandit reward every method's replay (compile vs run),
stats.summarise and the noisy-RM analysis.

    python bench/bench_replay.py                        # synthetic tables, the front door's shapes
    python bench/bench_replay.py --workdir runs/bon     # a collected workdir's tables instead
                                                        #   (--config: its config, default configs/best_of_n.py)
    python bench/bench_replay.py --compare /tmp/base    # also the code checked out in /tmp/base
                                                        #   (e.g. `git worktree add /tmp/base 8f6a57c`)
    python bench/bench_replay.py --quick                # 10 orders, one reward: a smoke run
    python bench/bench_replay.py --methods front_door   # the front door's 19 methods, not DEFAULT_METHODS

Shapes (configs/best_of_n.py with the replay section's defaults): 192 queries (154 test, 38
calibration), n=8 samples, 4 RMs, contexts d=576 (SmolLM2-135M's hidden size; replay.context_dim
0 keeps them), 3 families, 100 orders, batch 4; methods: DEFAULT_METHODS plus fixed:<rm> for every
RM; rewards gold and nll; noise analysis on one RM (sigma 1). Synthetic values are seeded: metric
0/1, scores N(0, 1) with 5 % NaN, nll in [1, 2), contexts N(0, 1).

Per method: wall seconds from the end of the previous method's replay to the end of its own
(`replay._by_query` marks each end; best / oracle / random_response are built from the fixed
replays on the host, inside "host"), and the XLA compile seconds in that interval (jax.monitoring's
trace + lowering + backend compile durations); run = wall - compile. Since 2026-12-07 the replay
compiles the next method's program on a second thread while this one runs, so compile seconds
overlap the runs: they are counted where they end, and their sum can exceed the wall. With --compare the same
script runs in a subprocess on the other code (its own imports), then here; the two tables are
printed side by side with the totals (wall clock of the whole run.py sequence).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def synthetic_tables(rp, np, *, queries=192, calibration=38, n=8, rms=4, dim=576, families=3, seed=0):
    rng = np.random.default_rng(seed)
    cal = np.zeros(queries, bool)
    cal[rng.permutation(queries)[:calibration]] = True
    scores = rng.normal(size=(rms, queries, n))
    scores[rng.random(scores.shape) < 0.05] = np.nan
    return rp.Tables(metric=(rng.random((queries, n)) < 0.4).astype(np.float32), scores=scores,
                     nll=(1 + rng.random((queries, n))).astype(np.float32),
                     contexts=rng.normal(size=(queries, dim)).astype(np.float32),
                     family=rng.integers(0, families, queries), calibration=cal,
                     rm_names=tuple(f"rm_{k}" for k in range(rms)),
                     family_names=tuple(f"family_{f}" for f in range(families)))


def workdir_tables(workdir: Path, config: Path):
    """A collected workdir's tables, as run.py gets them (collect reuses every batch it holds)."""
    from laser_jax.best_of_n.collect import collect
    from laser_jax.best_of_n.run import validate
    from laser_jax.cli.launch import load_config_file
    from laser_jax.training.runtime import build_runtime

    rt, params = build_runtime(validate(load_config_file(str(config))), workdir.absolute(), None)
    return collect(rt, params, workdir.absolute())


class Clock:
    """Wall and compile seconds of named phases; `mark(name)` closes the running interval."""

    def __init__(self, jax):
        self.compile = 0.0
        self.rows: list[tuple[str, float, float]] = []
        self.t, self.c = time.perf_counter(), 0.0
        jax.monitoring.register_event_duration_secs_listener(self._on_event)

    def _on_event(self, event, duration, **kwargs):
        if event in COMPILE_EVENTS:
            self.compile += duration

    def start(self):
        self.t, self.c = time.perf_counter(), self.compile

    def mark(self, name: str):
        now = time.perf_counter()
        self.rows.append((name, now - self.t, self.compile - self.c))
        self.t, self.c = now, self.compile


def measure(a) -> dict:
    """The run.py sequence on the tables, timed; returns {"rows": [(phase, wall, compile)], "total"}."""
    sys.path.insert(0, str(a.code))
    import jax
    import numpy as np
    from ml_collections import ConfigDict

    from laser_jax.bandit import hparams_from_args
    from laser_jax.best_of_n import pool, run
    from laser_jax.best_of_n import replay as rp
    from laser_jax.best_of_n import stats
    from laser_jax.config import DEFAULT_METHODS, base_config, replay_config

    tables = workdir_tables(a.workdir, a.config) if a.workdir else synthetic_tables(rp, np)
    c = base_config()
    r = replay_config()
    r.orders = a.orders
    r.noise_rm = tables.rm_names[min(1, len(tables.rm_names) - 1)]
    methods = list(DEFAULT_METHODS) + [f"fixed:{k}" for k in tables.rm_names]
    if a.methods == "front_door":  # configs/best_of_n.py's full list, fixed:<rm> for these tables' RMs
        from laser_jax.cli.launch import load_config_file

        front_door = load_config_file(str(ROOT / "configs" / "best_of_n.py"))
        methods = [m for m in front_door.replay.methods if not m.startswith("fixed:")]
        methods += [f"fixed:{k}" for k in tables.rm_names]
    rewards = a.rewards.split(",")
    contexts = rp.project_contexts(tables.contexts, tables.calibration, r.context_dim)
    tables = dataclasses.replace(tables, contexts=contexts)
    hparams = {name: hparams_from_args(name, c.selector_args, c.bandit.normalise)
               for name in ("laser", "thompson", "exp3", "online_ensemble")}
    clock = Clock(jax)
    by_query = rp._by_query
    prefix = [""]

    def marked(method, *args):
        out = by_query(method, *args)
        clock.mark(f"{prefix[0]} {method}")
        return out

    rp._by_query = marked
    t0 = time.perf_counter()
    clock.start()
    pool.pool_stats(tables, seed=0, resamples=r.resamples)
    clock.mark("pool_stats")
    for reward in rewards:
        hp = {k: {x: v for x, v in h.items() if not (reward == "gold" and x == "normalise")}
              for k, h in hparams.items()}
        prefix[0] = f"{reward}: replay"
        res = rp.replay(tables, methods, orders=r.orders, batch=r.batch, reward=reward, seed=0, hparams=hp)
        clock.mark(f"{reward}: replay host (best, oracle, random_response)")
        stats.summarise(res, tables, metric_name="accuracy", seed=0, resamples=r.resamples)
        clock.mark(f"{reward}: summarise")
        prefix[0] = f"{reward}: noise replay"
        run.noise_analysis(tables, res, ConfigDict(r.to_dict()), reward, 0, hp)
        clock.mark(f"{reward}: noise analysis (rest)")
    return {"rows": clock.rows, "total": time.perf_counter() - t0}


def print_table(results: dict[str, dict]) -> None:
    names = list(results)
    phases = list(dict.fromkeys(p for res in results.values() for p, _, _ in res["rows"]))
    head = "".join(f" | {n[:22]:>22s} wall (compile)" for n in names)
    print(f"{'phase':58s}{head}")
    for p in phases:
        cells = ""
        for n in names:
            got = [(w, c) for q, w, c in results[n]["rows"] if q == p]
            w, cc = (sum(x for x, _ in got), sum(y for _, y in got)) if got else (float("nan"),) * 2
            cells += f" | {w:22.2f} s {f'({cc:.2f})':>9s}"
        print(f"{p[:58]:58s}{cells}")
    for n in names:
        rows = results[n]["rows"]
        comp = sum(c for _, _, c in rows)
        print(f"total {n}: {results[n]['total']:.1f} s wall, {comp:.1f} s of it compiling, "
              f"replays (incl. noise) {sum(w for p, w, _ in rows if 'replay' in p):.1f} s")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", type=Path, default=None, help="a collected best-of-n workdir (its tables)")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "best_of_n.py",
                   help="the workdir's config (with --workdir)")
    p.add_argument("--orders", type=int, default=100)
    p.add_argument("--rewards", default="gold,nll")
    p.add_argument("--methods", choices=("default", "front_door"), default="default",
                   help="the replay section's DEFAULT_METHODS, or configs/best_of_n.py's full list (19 methods)")
    p.add_argument("--quick", action="store_true", help="10 orders, gold only")
    p.add_argument("--compare", type=Path, default=None, help="another checkout, measured first")
    p.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    p.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)  # a --compare child
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    if a.quick:
        a.orders, a.rewards = 10, "gold"
    if a.emit:
        print("RESULT " + json.dumps(measure(a)), flush=True)
        return
    sys.path.insert(0, str(ROOT))
    from bench.common import print_machine, report

    info = print_machine()
    results = {}
    if a.compare:
        cmd = [sys.executable, __file__, "--emit", "--code", str(a.compare.resolve()), "--orders", str(a.orders),
               "--rewards", a.rewards, "--methods", a.methods] + (["--workdir", str(a.workdir.resolve()), "--config", str(a.config.resolve())] if a.workdir else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=a.compare)
        line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
        results[f"base {a.compare.name}"] = json.loads(line[7:])
    results["this checkout"] = measure(a)
    print(f"# {a.orders} orders, rewards {a.rewards}, methods {a.methods}, " + (f"workdir {a.workdir}" if a.workdir else "synthetic tables"))
    print_table(results)
    report("replay", {"orders": a.orders, "rewards": a.rewards, "results": results}, info, a.json)


if __name__ == "__main__":
    main()
