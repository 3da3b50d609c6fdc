"""Command line: `python -m laser_jax.main --config configs/mmlu.py --workdir DIR [--config.x.y=value ...]`.

Runs (or, on a workdir that holds a checkpoint, resumes) LASeR training with evaluation before
and after. Exit codes: 0 done (or stopped by training.stop_after), 2 bad config / data / model,
1 the training diverged (a non-finite loss; nothing of that step saved) or a bug in laser_jax (its
traceback in WORKDIR/error.log), 130 / 143 interrupted by SIGINT / SIGTERM after checkpointing (rerun the same command to resume).
"""

from __future__ import annotations

import sys

from absl import flags
from ml_collections import config_flags

from laser_jax.data.tasks import TASKS
from laser_jax.cli.launch import (configure_logging, enable_compilation_cache, maybe_initialize_distributed,
                              refuse_file_as_directory, run_app, run_command)
from laser_jax.training import train

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Flags are defined when the command runs, not at import, so modules can import each other."""
    config_flags.DEFINE_config_file("config", None, "a configs/*.py file", lock_config=True)
    flags.DEFINE_string("workdir", None, "output directory (checkpoints, metrics.jsonl, results.json)")


def format_results(results: dict) -> str:
    acc_b, acc_a = results.get("accuracy_before"), results.get("accuracy_after")
    fmt = lambda v: "-" if v is None else f"{100 * v:.2f}"
    lines = [f"task {results['task']}  selector {results['selector']}  steps {results['steps']}"]
    task = TASKS.get(results["task"])
    if task is not None and not task.has_gold:
        lines.append(f"no gold answers: {results['test_examples']} test responses in eval_after.jsonl (with "
                     "eval_before.jsonl; compare two runs with a judge: python -m laser_jax.judge)")
    else:
        lines.append(f"accuracy before {fmt(acc_b)} %  after {fmt(acc_a)} %  "
                     f"(test examples: {results['test_examples']})")
    ife = results.get("ifeval") or {}
    if ife.get("after") or ife.get("before"):
        lines.append("IFEval accuracy (before -> after, %): " + ", ".join(
            f"{k.replace('_', ' ')} {fmt((ife.get('before') or {}).get(k))} -> {fmt((ife.get('after') or {}).get(k))}"
            for k in ("prompt_strict", "instruction_strict", "prompt_loose", "instruction_loose")))
    if results.get("arm_counts"):
        lines.append("prompts scored per reward model: " +
                     ", ".join(f"{k} {v}" for k, v in results["arm_counts"].items()))
    if results.get("rm_by_category", {}).get("categories"):
        lines.append("reward model per prompt category: rm_by_category.md, arms_by_category.png")
    if results.get("time_s"):
        t = results["time_s"]
        lines.append("seconds: " + ", ".join(f"{k[5:]} {v:.1f}" for k, v in t.items()))
    return "\n".join(lines)


def run(argv) -> int:
    del argv
    configure_logging()
    if FLAGS.config is None:
        print("error: --config is required, e.g. --config configs/gsm8k.py", file=sys.stderr)
        return 2
    if not FLAGS.workdir:
        print("error: --workdir is required (checkpoints and results go there; rerun to resume)", file=sys.stderr)
        return 2
    workdir = FLAGS.workdir

    def body() -> int:
        refuse_file_as_directory("--workdir", workdir)
        maybe_initialize_distributed()
        enable_compilation_cache()
        results = train(FLAGS.config, workdir)
        if results["status"] == "interrupted":
            print(f"interrupted at step {results['steps']}/{results['total_steps']}; checkpoint saved in "
                  f"{workdir}; rerun the same command to resume", file=sys.stderr)
            return 128 + int(results["signal"])
        if results["status"] == "stopped":
            print(f"stopped at step {results['steps']}/{results['total_steps']} (training.stop_after); rerun "
                  "the same command to continue")
            return 0
        print(format_results(results))
        return 0

    # a second Ctrl-C, or one before the training loop: the last checkpoint stands
    return run_command(body, workdir=workdir,
                       interrupted=f"interrupted; rerun the same command to resume from the last checkpoint in "
                                   f"{workdir}",
                       io_hint="choose a writable --workdir (a run stopped by a full disk resumes from its last "
                               "checkpoint)")


def main():
    run_app(define_flags, run)


if __name__ == "__main__":
    main()
