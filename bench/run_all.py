"""Run every benchmark, one process each, one after the other, and print a summary table.

    python bench/run_all.py                      # full sizes (~30-40 min on 2 loaded cores)
    python bench/run_all.py --quick              # smoke run of every script
    python bench/run_all.py --only sampling dpo  # a subset
    python bench/run_all.py --out bench/results  # where the JSON figures go (default: a temp dir)

Each benchmark prints laser_jax's figure and its peer's, measured in the same process, and the
ratio; this script collects their `--json` files.
Extra arguments after `--` go to every script (e.g. `-- --repeat 5`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

BENCHES = {  # name -> (script, extra args of the full run)
    "machine": ("common.py", []),
    "sampling": ("bench_sampling.py", []),
    "dpo": ("bench_dpo_step.py", ["--breakdown"]),
    "rm_stack": ("bench_rm_stack.py", []),
    "linucb": ("bench_linucb.py", []),
    "rm_prefix": ("bench_rm_prefix.py", []),
    "selector_step": ("bench_selector_step.py", []),
    "normalise": ("bench_normalise.py", []),
}


def summary(name: str, r: dict) -> str:
    if name == "machine":
        g = r["gflops"]
        return f"float32 matmul peak {g['peak']:.0f} GFLOP/s (jnp {g['jnp']:.0f}, np {g['np']:.0f})"
    if name == "sampling":
        s = f"laser_jax {r['ours_tokens_per_s']:.1f} tok/s (compile {r['ours_compile_s']:.0f} s)"
        if "ratio" in r:
            s += f" vs HF generate {r['hf_tokens_per_s']:.1f} tok/s: {r['ratio']:.2f}x (target 4x: " \
                 f"{'met' if r['target_met'] else 'NOT met'})"
        return s
    if name == "dpo":
        s = f"laser_jax {r['ours_s']:.2f} s/step, {r['ours_gflops']:.1f} GFLOP/s = " \
            f"{100 * r['ours_frac_peak']:.0f}% of peak"
        if "ratio" in r:
            s += f" vs PyTorch {r['peer_s']:.2f} s/step: {r['ratio']:.2f}x (target 1.5x: " \
                 f"{'met' if r['target_met'] else 'NOT met'})"
        return s
    if name == "rm_stack":
        return f"RMSet {r['stacked_s']:.2f} s vs loop {r['loop_s']:.2f} s: {r['ratio']:.2f}x " \
               f"(max |diff| {r['max_abs_diff']:.1e})"
    if name == "linucb":
        ms = r["ms_per_step"]
        s = f"low-rank {ms['laser_jax low-rank']:.2f} ms/step, dense {ms['laser_jax dense']:.1f} ms"
        if "seed numpy" in ms:
            s += f" vs seed numpy {ms['seed numpy'] / 1e3:.1f} s/step"
        return s + f" (target <= 5 ms, same decisions: {'met' if r['target_met'] else 'NOT met'})"
    if name == "selector_step":
        m = r["methods"]
        return ", ".join(f"{k} {v['step_s']:.1f} s/step" for k, v in m.items()) + \
            f" (ensemble / laser {m['ensemble']['step_s'] / m['laser']['step_s']:.2f}x)"
    if name == "normalise":
        b = r["best_of_n"]
        return "best-of-n laser accuracy " + ", ".join(f"{rule} {b[f'laser/{rule}']['accuracy']:.3f}"
                                                       for rule in ("quantile", "none", "window"))
    keys = [k for k in r if k.endswith(("_s", "ratio"))]
    return ", ".join(f"{k} {r[k]:.4g}" for k in keys if isinstance(r[k], (int, float)))


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description="run all laser_jax benchmarks")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--only", nargs="*", choices=list(BENCHES), default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="laser_jax_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(BENCHES)
    results, failed = {}, []
    print(f"# results -> {out}; load average {common.load()}", flush=True)
    for name in names:
        script, full_args = BENCHES[name]
        path = HERE / script
        if not path.exists():
            print(f"# {name}: {script} not present, skipped", flush=True)
            continue
        cmd = [sys.executable, str(path), "--json", str(out / f"{name}.json")]
        cmd += (["--quick"] if args.quick and name != "machine" else full_args) + extra
        print(f"\n## {name}: {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd)
        print(f"## {name}: exit {rc} after {time.perf_counter() - t0:.0f} s; load average {common.load()}", flush=True)
        if rc != 0 or not (out / f"{name}.json").exists():
            failed.append(name)
            continue
        results[name] = json.loads((out / f"{name}.json").read_text())
    print("\n# summary")
    for name, r in results.items():
        print(f"{name:9s} {summary(name, r)}")
    if failed:
        print(f"# failed: {failed}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
