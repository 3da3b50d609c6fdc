"""Command line: device memory of a run, per device, for several meshes, from abstract shapes;
with --compile, every function of a LASeR step compiled by the TPU compiler for real TPU slices.

    python -m laser_jax.memory --config configs/gsm8k.py --meshes 1x8x1,1x16x1,1x32x1,2x16x2
    python -m laser_jax.memory --presets --meshes 1x1x1,1x8x1   # every preset architecture's weights
    python -m laser_jax.memory --config configs/gsm8k.py --compile v5e:4x4,v5p:2x2x1,v6e:2x4 --json out.json
    python -m laser_jax.memory --config configs/gsm8k.py --smallest v5e,v5p,v6e

What each analytic row counts: laser_jax/footprint.py; what --compile measures:
laser_jax/compile_report.py (needs libtpu: pip install 'laser_jax[tpu]'; no TPU). Exit codes: 0;
2 bad config, --meshes, --compile, --mesh, or libtpu missing; 1 a bug.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from laser_jax.cli.launch import load_config_file, run_command
from laser_jax.footprint import parse_mesh, presets_table, table


def compile_body(args) -> int:
    from laser_jax import compile_table as ct
    from laser_jax.compile_report import compile_run, search_mesh
    from laser_jax.config import from_config
    from laser_jax.xla_cost import INSTALL, have_libtpu, parse_topology

    topos = [t for t in (args.compile or "").split(",") if t]
    gens = [g for g in (args.smallest or "").split(",") if g]
    try:
        for t in topos:
            parse_topology(t)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        mesh = parse_mesh(args.mesh) if args.mesh else None
    except ValueError as e:
        print(f"error: --mesh {e}", file=sys.stderr)
        return 2
    bad = [g for g in gens if g not in ct.SLICES]
    if bad:
        print(f"error: --smallest {','.join(bad)}: generations are {sorted(ct.SLICES)}", file=sys.stderr)
        return 2
    if not have_libtpu():
        print(f"error: --compile / --smallest: {INSTALL}", file=sys.stderr)
        return 2
    config = load_config_file(args.config)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    reports = [compile_run(config, t, mesh, log=log) for t in topos]
    if reports:
        print(ct.table(reports))
        print(ct.comparison(config, reports))
    found = {}
    batch = from_config(config).training.batch_size if gens else 0
    for g in gens:
        done = {r["topology"]: r for r in reports if r["mesh"] == "x".join(map(str, search_mesh(r["chips"], batch)))}
        found[g], tried = ct.smallest(config, g, lambda t: done.get(t) or compile_run(
            config, t, search_mesh(math.prod(parse_topology(t)[1]), batch), log=log, skip_if_resident_exceeds=True),
            log=log)
        reports += [r for r in tried if r["topology"] not in {x["topology"] for x in reports}]
    if gens:
        print()
        print(ct.smallest_table(found))
        print()
        print(ct.comparison(config, [r for r in found.values() if r]))
    if args.json:
        ct.write_json(args.json, reports)
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laser_jax.memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a run config (its policy, RMs, KV cache, ... per device)")
    ap.add_argument("--presets", action="store_true",
                    help="list the preset architectures (models/presets.py) and their weights per device")
    ap.add_argument("--meshes", default="1x8x1,1x16x1,1x32x1,2x16x2,1x64x1",
                    help="comma-separated data x fsdp x tensor sizes")
    ap.add_argument("--compile", metavar="TOPOLOGY[,TOPOLOGY...]",
                    help="compile every function for these TPU slices (e.g. v5e:4x4,v5p:2x2x1,v6e:2x4)")
    ap.add_argument("--mesh", metavar="DxFxT", help="mesh for --compile (default 1 x chips x 1)")
    ap.add_argument("--json", metavar="PATH", help="write the --compile / --smallest reports here")
    ap.add_argument("--smallest", metavar="GEN[,GEN...]",
                    help="find the smallest slice of each generation (v4, v5e, v5p, v6e) that fits")
    args = ap.parse_args(argv)
    if not args.config and not args.presets:
        print("error: give --config FILE or --presets", file=sys.stderr)
        return 2
    if args.config and not Path(args.config).exists():
        print(f"error: --config {args.config}: no such file", file=sys.stderr)
        return 2
    if args.compile or args.smallest:
        if not args.config:
            print("error: --compile / --smallest need --config FILE", file=sys.stderr)
            return 2
        return run_command(lambda: compile_body(args))
    try:
        meshes = [parse_mesh(m) for m in args.meshes.split(",")]
    except ValueError as e:
        print(f"error: --meshes: {e}", file=sys.stderr)
        return 2

    def body() -> int:
        if args.presets:
            print(presets_table(meshes))
        if args.config:
            print(table(load_config_file(args.config), meshes))
        return 0

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
