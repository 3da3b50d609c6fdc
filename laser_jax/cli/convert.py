"""Command line: convert an HF safetensors directory, a .gguf file or a hub id into a laser_jax Flax checkpoint.

    python -m laser_jax.convert SRC DST [--dtype float32|bfloat16] [--overwrite]

DST then loads with `laser_jax.models.load_pretrained(DST)` (and its tokenizer with
`load_tokenizer(DST)`); it is written atomically.
"""

from __future__ import annotations

import argparse
import sys
import time

from laser_jax.cli.launch import run_command
from laser_jax.models.loading import convert


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m laser_jax.convert", description=__doc__.split("\n\n")[0])
    ap.add_argument("src", help="HF model directory, .gguf file, hub id, 'smollm2-135m-instruct' or 'gemma-3-270m'")
    ap.add_argument("dst", help="output directory (must not exist unless --overwrite)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--no-tokenizer", action="store_true", help="do not copy the tokenizer")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    def body() -> int:
        out = convert(args.src, args.dst, dtype=args.dtype, overwrite=args.overwrite,
                      with_tokenizer=not args.no_tokenizer)
        print(f"wrote {out} in {time.perf_counter() - t0:.1f} s")
        return 0

    return run_command(body, io_hint="choose a writable destination")


if __name__ == "__main__":
    sys.exit(main())
