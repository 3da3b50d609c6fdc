"""Pairwise judging of two runs' outputs:

    python -m laser_jax.judge --a runs/laser --b runs/ensemble --judge lm:smollm2-135m-instruct \\
        --out runs/judge_laser_vs_ensemble [--eval_file eval_after.jsonl] [--b_eval_file F] [--limit N]
        [--resamples 2000] [--seed 0] [--tie_margin 0] [--batch_size 8]
        [--max_prompt_tokens 1024] [--max_response_tokens 1024] [--a_name ...] [--b_name ...]

The two runs' evaluation records (``--eval_file`` in each workdir; run B's ``--b_eval_file`` when
given, so one run after training can be judged against itself before: ``--a R --b R
--b_eval_file eval_before.jsonl``) are matched by uid
(``laser_jax.judge.pairs``); the judge (``laser_jax.judge.judges``: ``lm:<model>``, a reward model
``classifier:<path>`` / ``likelihood:<path>`` / ``verifier:<task>`` / a JSON reward-model entry, or
``python:<module>:<function>``) compares A's and B's response to each prompt in both orders, and
run A's win rate follows ``laser_jax.judge.winrate`` (ties and disagreements count 1/2).

Writes to --out: judge.json (win rate with its 95 % bootstrap interval, counts, position-bias
share ``prefers_first``, the same per category = the records' "family", the judge, the settings,
the time), judgements.jsonl (per prompt, ``laser_jax.judge.report``), winrate_by_category.png,
and each run's outputs in AlpacaEval's format: a.json and b.json (generator = the run's name,
dataset = the category; skipped with a warning when two prompts have the same text).

Run names default to the workdirs' names (their last two parts when those are equal; for one
workdir, "<name>:<eval file stem>").
Flags may also be written with dashes (--tie-margin, --eval-file, ...).
Exit codes: 0 done, 2 bad input (a message naming the flag or file), 1 a bug in laser_jax (its
traceback in OUT/error.log), 130 interrupted.
"""

from __future__ import annotations

import datetime
import logging
import sys
import time
from pathlib import Path

from absl import flags

from laser_jax.errors import DataError
from laser_jax.judge import report
from laser_jax.judge.export import write_alpaca_eval
from laser_jax.judge.judges import build_judge, judge_pairs, parse_judge
from laser_jax.judge.pairs import match_runs, run_file
from laser_jax.judge.winrate import outcomes, win_rate
from laser_jax.cli.launch import configure_logging, refuse_file_as_directory, run_app, run_command
from laser_jax.outputs import json_text, write_json, write_text_atomic
from laser_jax.plots import plot_by_category

FLAGS = flags.FLAGS
MULTI_WORD = ("eval_file", "b_eval_file", "tie_margin", "batch_size", "max_prompt_tokens", "max_response_tokens",
              "a_name", "b_name")


def define_flags() -> None:
    flags.DEFINE_string("a", None, "run A's workdir (the run whose win rate is reported)")
    flags.DEFINE_string("b", None, "run B's workdir (the baseline)")
    flags.DEFINE_string("a_name", None, "run A's name (default: its workdir's name)")
    flags.DEFINE_string("b_name", None, "run B's name (default: its workdir's name)")
    flags.DEFINE_string("eval_file", "eval_after.jsonl", "the evaluation file in each workdir")
    flags.DEFINE_string("b_eval_file", None, "run B's evaluation file (default: --eval_file); with --a = --b, "
                        "e.g. eval_before.jsonl judges a run against itself before training")
    flags.DEFINE_string("judge", None, "lm:<model> | classifier:<path> | likelihood:<path> | verifier:<task> | "
                        "a JSON reward-model entry | python:<module>:<function>")
    flags.DEFINE_string("out", None, "output directory")
    flags.DEFINE_integer("resamples", 2000, "bootstrap resamples of the prompts")
    flags.DEFINE_integer("seed", 0, "bootstrap seed")
    flags.DEFINE_integer("limit", 0, "judge only the first N prompts (run A's order); 0 = all")
    flags.DEFINE_float("tie_margin", 0.0, "a verdict whose log-odds |l_first - l_second| is <= this is a tie")
    flags.DEFINE_integer("batch_size", 8, "judge inputs per batch")
    flags.DEFINE_integer("max_prompt_tokens", 1024, "lm judge: keep the prompt's first N judge tokens")
    flags.DEFINE_integer("max_response_tokens", 1024, "lm judge: keep each response's first N judge tokens")
    flags.DEFINE_string("dtype", "float32", "model judge: weights' dtype (float32 or bfloat16)")
    for name in MULTI_WORD:
        flags.DEFINE_alias(name.replace("_", "-"), name)


def _names(a: Path, b: Path, a_file: str, b_file: str) -> tuple[str, str]:
    a, b = a.resolve(), b.resolve()
    if a == b and a_file == b_file:
        raise DataError(f"--a and --b are the same directory ({a}) with the same evaluation file ({a_file}); "
                        "give two runs, or --b_eval_file (e.g. eval_before.jsonl)")
    if a == b:
        names = [FLAGS.a_name or f"{a.name}:{Path(a_file).stem}", FLAGS.b_name or f"{b.name}:{Path(b_file).stem}"]
    else:
        names = [FLAGS.a_name or a.name, FLAGS.b_name or b.name]
    if names[0] == names[1] and not (FLAGS.a_name or FLAGS.b_name):
        names = ["/".join(a.parts[-2:]), "/".join(b.parts[-2:])]
    if names[0] == names[1]:
        raise DataError(f"both runs are named {names[0]!r}; name them apart with --a_name / --b_name")
    return names[0], names[1]


def judge_runs(out: Path) -> dict:
    """Everything the command does; returns judge.json's contents."""
    log = logging.getLogger("laser_jax")
    started = time.time()
    if FLAGS.resamples < 1:
        raise DataError(f"--resamples={FLAGS.resamples} must be >= 1")
    if FLAGS.limit < 0:
        raise DataError(f"--limit={FLAGS.limit} must be >= 0 (0 = all prompts)")
    if not FLAGS.tie_margin >= 0:
        raise DataError(f"--tie_margin={FLAGS.tie_margin} must be a number >= 0")
    parse_judge(FLAGS.judge)  # a bad spec fails before anything is read or loaded
    b_eval = FLAGS.b_eval_file or FLAGS.eval_file
    a_file, b_file = run_file(FLAGS.a, FLAGS.eval_file, "--a"), run_file(FLAGS.b, b_eval, "--b")
    a_name, b_name = _names(Path(FLAGS.a), Path(FLAGS.b), FLAGS.eval_file, b_eval)
    paired = match_runs(a_file, b_file, limit=FLAGS.limit or None)
    log.info("judging %d prompts: %s (A) vs %s (B) with %s", len(paired), a_name, b_name, FLAGS.judge)
    judge = build_judge(FLAGS.judge, dtype=FLAGS.dtype, batch_size=FLAGS.batch_size,
                        max_prompt_tokens=FLAGS.max_prompt_tokens, max_response_tokens=FLAGS.max_response_tokens)
    golds = paired.golds if any(g is not None for g in paired.golds) else None
    ab, ba = judge_pairs(judge, paired.prompts, paired.a, paired.b, golds=golds, tie_margin=FLAGS.tie_margin)
    ab_labels, ba_labels = ab.label.tolist(), ba.label.tolist()
    rates = win_rate(ab_labels, ba_labels, categories=paired.categories, resamples=FLAGS.resamples,
                     seed=FLAGS.seed)
    records = report.judgement_records(paired, ab, ba, outcomes(ab_labels, ba_labels), mirrored=judge.symmetric)

    out.mkdir(parents=True, exist_ok=True)
    exported = {}
    try:
        for key, name, responses in (("a", a_name, paired.a), ("b", b_name, paired.b)):
            exported[key] = str(write_alpaca_eval(out / f"{key}.json", paired.prompts, responses, generator=name,
                                                  dataset=list(paired.categories)))
    except DataError as e:
        log.warning("AlpacaEval export skipped: %s", e)
        exported = {"skipped": str(e)}
    runs = {"a": {"name": a_name, "workdir": str(Path(FLAGS.a).resolve()), "eval_file": str(a_file)},
            "b": {"name": b_name, "workdir": str(Path(FLAGS.b).resolve()), "eval_file": str(b_file)}}
    settings = {"resamples": FLAGS.resamples, "seed": FLAGS.seed, "tie_margin": FLAGS.tie_margin,
                "limit": FLAGS.limit or None, "alpaca_eval": exported,
                "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "seconds": round(time.time() - started, 3)}
    result = report.summary(rates, judge=judge.describe(), ab=ab, ba=ba, runs=runs, settings=settings,
                            symmetric=judge.symmetric)
    write_text_atomic(out / "judgements.jsonl", "".join(json_text(r, ensure_ascii=False) + "\n" for r in records))
    plot_by_category(rates, out / "winrate_by_category.png", a=a_name, b=b_name)
    write_json(out / "judge.json", result)
    return result


def run(argv) -> int:
    if len(argv) > 1:
        print(f"error: unexpected arguments {argv[1:]}; every input is a flag (--a, --b, --judge, --out)",
              file=sys.stderr)
        return 2
    configure_logging()
    missing = [f"--{name}" for name in ("a", "b", "judge", "out") if not getattr(FLAGS, name)]
    if missing:
        print(f"error: {', '.join(missing)} required, e.g. --a runs/laser --b runs/ensemble "
              "--judge lm:smollm2-135m-instruct --out runs/judge", file=sys.stderr)
        return 2
    out = Path(FLAGS.out)

    def body() -> int:
        refuse_file_as_directory("--out", out)
        for flag in ("a", "b"):
            refuse_dir_as_file(f"--{flag}", getattr(FLAGS, flag))
        result = judge_runs(out)
        lo, hi = result["ci95"]
        print(f"{result['a']['name']} vs {result['b']['name']}: win rate {result['win_rate']:.3f} "
              f"[{lo:.3f}, {hi:.3f}] over {result['prompts']} prompts ({result['wins']} wins, {result['losses']} "
              f"losses, {result['halves']} halves)")
        for cat, r in result.get("by_category", {}).items():
            print(f"  {cat}: {r['win_rate']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] ({r['prompts']} prompts)")
        print(f"results: {out / 'judge.json'}")
        return 0

    return run_command(body, workdir=out, interrupted="interrupted; rerun the same command (judging starts over)",
                       io_hint="check the path (--a, --b, --out)")


def refuse_dir_as_file(flag: str, path: str) -> None:
    """--a / --b name a run's workdir: a file there is refused by name."""
    if Path(path).exists() and not Path(path).is_dir():
        raise DataError(f"{flag}={path} is a file; give the run's workdir (the directory holding its "
                        f"{FLAGS.eval_file})")


def main():
    run_app(define_flags, run)


if __name__ == "__main__":
    main()
