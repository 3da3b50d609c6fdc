"""Command line: a tiny random model with a character-level tokenizer, as an HF directory.

    python -m laser_jax.tiny DIR [--kind lm|classifier] [--seed 0]

What it writes: laser_jax/models/tiny.py. Exit codes: 0, 2 DIR is a file or cannot be written.
"""

from __future__ import annotations

import argparse

from laser_jax.cli.launch import refuse_file_as_directory, run_command
from laser_jax.models.tiny import write


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laser_jax.tiny", description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--kind", default="lm", choices=["lm", "classifier"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    def body() -> int:
        refuse_file_as_directory("DIR", args.dir)
        print(write(args.dir, kind=args.kind, seed=args.seed))
        return 0

    return run_command(body, workdir=args.dir, io_hint="choose a writable DIR")


if __name__ == "__main__":
    raise SystemExit(main())
