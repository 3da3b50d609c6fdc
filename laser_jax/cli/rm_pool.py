"""Command line: `python -m laser_jax.rm_pool --config configs/rm_pool.py --out DIR [--config.x.y=value ...]`.

Builds a pool of specialist reward models (`laser_jax.training.specialists`): trains each
specialist's LoRA adapter (DIR/<name>/, resumable), writes it as DIR/<name>.safetensors and the
pool's reward-model entries, adapters' sha256, config and command as DIR/pool.json. A rerun reuses
finished specialists. Exit codes: 0 done (or stopped by training.stop_after), 2 bad config / data
/ model, 1 a diverged run or a bug (traceback in DIR/error.log), 130 / 143 interrupted (rerun to resume).
"""

from __future__ import annotations

import shlex
import sys

from absl import flags
from ml_collections import config_flags

from laser_jax.cli.launch import (configure_logging, enable_compilation_cache, refuse_file_as_directory, run_app,
                                  run_command)
from laser_jax.training.specialists import POOL_FILE, build_pool

FLAGS = flags.FLAGS


def define_flags() -> None:
    config_flags.DEFINE_config_file("config", None, "a pool config, e.g. configs/rm_pool.py", lock_config=True)
    flags.DEFINE_string("out", None, "output directory (specialists' workdirs, adapters, pool.json)")


def run(argv) -> int:
    configure_logging()
    if FLAGS.config is None:
        print("error: --config is required, e.g. --config configs/rm_pool.py", file=sys.stderr)
        return 2
    if not FLAGS.out:
        print("error: --out is required (adapters and pool.json go there; rerun to resume)", file=sys.stderr)
        return 2
    out = FLAGS.out
    del argv  # absl keeps only what it did not parse; the command as typed is sys.argv
    command = "python -m laser_jax.rm_pool " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def body() -> int:
        refuse_file_as_directory("--out", out)
        enable_compilation_cache()
        record = build_pool(FLAGS.config, out, command=command)
        if record["status"] != "complete":
            where = f"specialist {record['specialist']} at step {record['steps']}/{record['total_steps']}"
            if record["status"] == "stopped":
                print(f"stopped: {where} (training.stop_after); rerun the same command to continue")
                return 0
            print(f"interrupted: {where}, checkpointed; rerun the same command to resume", file=sys.stderr)
            return 128 + int(record["signal"])
        for row in record["specialists"]:
            print(f"{row['name']}: {'reused' if row['reused'] else 'trained'} ({row['steps']} steps on "
                  f"{','.join(row['families'])}) -> {row['adapter']} ({row['bytes'] / 1e6:.2f} MB, sha256 "
                  f"{row['sha256']})")
        print(f"pool: {out}/{POOL_FILE} ({len(record['rewards'])} reward models)")
        return 0

    return run_command(body, workdir=out, interrupted=f"interrupted; rerun the same command to resume in {out}",
                       io_hint="choose a writable --out")


def main():
    run_app(define_flags, run)


if __name__ == "__main__":
    main()
