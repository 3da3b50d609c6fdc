"""Command line: `python -m laser_jax.best_of_n --config configs/best_of_n.py --workdir DIR
[--methods laser,best,...] [--config.x.y=value ...]` (see laser_jax/best_of_n/run.py).

Exit codes: 0 done, 2 bad config / data / model / workdir, 1 a bug in laser_jax (its traceback in
WORKDIR/error.log), 130 interrupted (rerun the same command:
the batches already sampled and scored are reused)."""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from laser_jax.best_of_n.run import run as run_setting
from laser_jax.best_of_n.run import table
from laser_jax.cli.launch import configure_logging, enable_compilation_cache, refuse_file_as_directory, run_app, run_command

FLAGS = flags.FLAGS


def define_flags() -> None:
    config_flags.DEFINE_config_file("config", None, "a configs/*.py file with a replay section",
                                    lock_config=True)
    flags.DEFINE_string("workdir", None, "output directory (collected samples, results.json)")
    flags.DEFINE_string("methods", "", "comma-separated methods (default: the config's "
                        "replay.methods)")


def run(argv) -> int:
    del argv
    configure_logging()
    if FLAGS.config is None or not FLAGS.workdir:
        print("error: --config and --workdir are required, e.g. --config configs/best_of_n.py "
              "--workdir runs/bon", file=sys.stderr)
        return 2
    methods = [m.strip() for m in FLAGS.methods.split(",") if m.strip()] or None

    def body() -> int:
        refuse_file_as_directory("--workdir", FLAGS.workdir)
        enable_compilation_cache()
        results = run_setting(FLAGS.config, Path(FLAGS.workdir), methods)
        for reward, part in results["by_reward"].items():
            print(f"\nbandit reward: {reward}  ({results['queries']} test queries, "
                  f"{results['samples_per_query']} samples each, {results['orders']} orders)")
            print(table(part["methods"]))
        print(f"\nresults: {Path(FLAGS.workdir) / 'results.json'}")
        return 0

    return run_command(body, workdir=FLAGS.workdir,
                       interrupted=f"interrupted; rerun the same command to resume ({FLAGS.workdir})")


def main():
    run_app(define_flags, run)


if __name__ == "__main__":
    main()
