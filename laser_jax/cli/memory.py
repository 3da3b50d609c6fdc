"""Command line: device memory of a run, per device, for several meshes, from abstract shapes.

    python -m laser_jax.memory --config configs/gsm8k.py --meshes 1x8x1,1x16x1,1x32x1,2x16x2

What each row counts: laser_jax/footprint.py. Exit codes: 0, 2 bad config or --meshes, 1 a bug.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from laser_jax.cli.launch import load_config_file, run_command
from laser_jax.footprint import table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laser_jax.memory", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--meshes", default="1x8x1,1x16x1,1x32x1,2x16x2,1x64x1",
                    help="comma-separated data x fsdp x tensor sizes")
    args = ap.parse_args(argv)
    if not Path(args.config).exists():
        print(f"error: --config {args.config}: no such file", file=sys.stderr)
        return 2
    try:
        meshes = [tuple(int(x) for x in m.split("x")) for m in args.meshes.split(",")]
        assert all(len(m) == 3 and min(m) >= 1 for m in meshes)
    except (ValueError, AssertionError):
        print(f"error: --meshes {args.meshes!r}: give sizes like 1x8x1,2x4x1 (data x fsdp x tensor)", file=sys.stderr)
        return 2

    def body() -> int:
        print(table(load_config_file(args.config), meshes))
        return 0

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
