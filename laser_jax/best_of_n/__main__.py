"""Command line: `python -m laser_jax.best_of_n --config configs/best_of_n.py --workdir DIR
[--methods laser,best,...] [--config.x.y=value ...]` (see laser_jax/best_of_n/run.py).

Exit codes: 0 done, 2 bad config / data / model / workdir, 130 interrupted (rerun the same command:
the batches already sampled and scored are reused)."""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

FLAGS = flags.FLAGS


def define_flags() -> None:
    config_flags.DEFINE_config_file("config", None, "a configs/*.py file with a replay section",
                                    lock_config=True)
    flags.DEFINE_string("workdir", None, "output directory (collected samples, results.json)")
    flags.DEFINE_string("methods", "", "comma-separated methods (default: the config's "
                        "replay.methods)")


def run(argv) -> int:
    del argv
    from laser_jax.launch import configure_logging, input_errors

    configure_logging()
    if FLAGS.config is None or not FLAGS.workdir:
        print("error: --config and --workdir are required, e.g. --config configs/best_of_n.py "
              "--workdir runs/bon", file=sys.stderr)
        return 2
    from laser_jax.best_of_n.run import run as run_setting
    from laser_jax.best_of_n.run import table
    from laser_jax.launch import enable_compilation_cache

    enable_compilation_cache()
    methods = [m.strip() for m in FLAGS.methods.split(",") if m.strip()] or None
    try:
        results = run_setting(FLAGS.config, Path(FLAGS.workdir), methods)
    except input_errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: cannot write {e.filename or FLAGS.workdir}: {e.strerror or e}; choose a "
              "writable --workdir", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; rerun the same command to resume ({FLAGS.workdir})", file=sys.stderr)
        return 130
    for reward, part in results["by_reward"].items():
        print(f"\nbandit reward: {reward}  ({results['queries']} test queries, "
              f"{results['samples_per_query']} samples each, {results['orders']} orders)")
        print(table(part["methods"]))
    print(f"\nresults: {Path(FLAGS.workdir) / 'results.json'}")
    return 0


def main():
    from laser_jax.launch import run_app

    run_app(define_flags, run)


if __name__ == "__main__":
    main()
