"""Command line: device memory of a run, per device, for several meshes, from abstract shapes.

    python -m laser_jax.memory --config configs/gsm8k.py --meshes 1x8x1,1x16x1,1x32x1,2x16x2
    python -m laser_jax.memory --presets --meshes 1x1x1,1x8x1   # every preset architecture's weights

What each row counts: laser_jax/footprint.py. Exit codes: 0, 2 bad config or --meshes, 1 a bug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from laser_jax.cli.launch import load_config_file, run_command
from laser_jax.footprint import presets_table, table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laser_jax.memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="a run config (its policy, RMs, KV cache, ... per device)")
    ap.add_argument("--presets", action="store_true",
                    help="list the preset architectures (models/presets.py) and their weights per device")
    ap.add_argument("--meshes", default="1x8x1,1x16x1,1x32x1,2x16x2,1x64x1",
                    help="comma-separated data x fsdp x tensor sizes")
    args = ap.parse_args(argv)
    if not args.config and not args.presets:
        print("error: give --config FILE or --presets", file=sys.stderr)
        return 2
    if args.config and not Path(args.config).exists():
        print(f"error: --config {args.config}: no such file", file=sys.stderr)
        return 2
    try:
        meshes = [tuple(int(x) for x in m.split("x")) for m in args.meshes.split(",")]
        assert all(len(m) == 3 and min(m) >= 1 for m in meshes)
    except (ValueError, AssertionError):
        print(f"error: --meshes {args.meshes!r}: give sizes like 1x8x1,2x4x1 (data x fsdp x tensor)", file=sys.stderr)
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
