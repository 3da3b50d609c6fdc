"""Command line: LASeR against the paper's baselines, same budget and seeds, one table.

    python -m laser_jax.compare --config configs/demo.py --workdir runs/demo [--methods laser,best,...]
                                [--seeds 3]

The methods and what is written: laser_jax/training/compare.py. Exit codes: 0 done, 2 bad
config / flags / data, 1 a bug (traceback in WORKDIR/error.log), 130 / 143 interrupted
(rerun the same command to resume).
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from laser_jax.cli.launch import (configure_logging, enable_compilation_cache, maybe_initialize_distributed,
                                  refuse_file_as_directory, run_app, run_command)
from laser_jax.training.compare import compare, known_methods

FLAGS = flags.FLAGS


def define_flags() -> None:
    config_flags.DEFINE_config_file("config", None, "a configs/*.py file", lock_config=False)
    flags.DEFINE_string("workdir", None, "output directory; one subdirectory per method")
    flags.DEFINE_string("methods", "laser,best,random,sequential,ensemble", "comma-separated methods")
    flags.DEFINE_integer("seeds", 1, "runs per method (seeds config.seed, +1, ...): the table shows means "
                         "with 95 % intervals over test questions and seeds, and a paired comparison with best")


def run(argv) -> int:
    del argv
    configure_logging()
    if FLAGS.config is None or not FLAGS.workdir:
        print("error: --config and --workdir are required", file=sys.stderr)
        return 2
    methods = [m.strip() for m in FLAGS.methods.split(",") if m.strip()]
    known = known_methods()
    bad = [m for m in methods if m not in known and not m.startswith("fixed:")]
    if bad or not methods:
        print(f"error: --methods {bad or methods} not among {sorted(known)} or fixed:<rm name>", file=sys.stderr)
        return 2
    names = [r.get("name") for r in FLAGS.config.rewards or []]
    unnamed = [m for m in methods if m.startswith("fixed:") and m.split(":", 1)[1] not in names]
    if unnamed:
        print(f"error: --methods {unnamed} name no reward model (the config's rewards: {names})", file=sys.stderr)
        return 2
    if FLAGS.seeds < 1:
        print(f"error: --seeds={FLAGS.seeds} must be >= 1", file=sys.stderr)
        return 2

    def body() -> int:
        refuse_file_as_directory("--workdir", FLAGS.workdir)
        maybe_initialize_distributed()
        enable_compilation_cache()
        code, _ = compare(FLAGS.config, Path(FLAGS.workdir), methods, seeds=FLAGS.seeds)
        if code:  # a training run stopped by SIGINT / SIGTERM after checkpointing
            print(f"interrupted; rerun the same command to resume ({FLAGS.workdir})", file=sys.stderr)
        return code

    # Ctrl-C outside a training loop (evaluation, calibration) or a second one
    return run_command(body, workdir=FLAGS.workdir,
                       interrupted=f"interrupted; rerun the same command to resume ({FLAGS.workdir})")


def main():
    run_app(define_flags, run)


if __name__ == "__main__":
    main()
