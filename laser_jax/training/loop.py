"""The iterative training setting: `train(config, workdir)` runs (or resumes) LASeR training.

    evaluate before -> for each iteration: reference := policy; for each batch: laser_step
    -> checkpoint every `training.checkpoint_every` steps, on SIGTERM / SIGINT and at the end
    -> evaluate after -> results.json, arms.png, rm_by_category.md, arms_by_category.png

An iteration is one pass over the training prompts (`runtime.iteration_batches`).
"""

from __future__ import annotations

import functools
import logging
import signal
from pathlib import Path

import jax
import numpy as np
from ml_collections import ConfigDict

from laser_jax import evaluate as evaluation
from laser_jax import outputs, plots
from laser_jax import sharding as shd
from laser_jax.bandit import grow_state, selector_arms
from laser_jax.checkpoint import Checkpointer
from laser_jax.config import ConfigError
from laser_jax.errors import CommandFailed
from laser_jax.models.cache import ModelCache
from laser_jax.training.identity import check_workdir_config, check_workdir_data
from laser_jax.training.runtime import (Runtime, batch_examples, build_runtime, copy_params, init_bandit,
                                        init_state)
from laser_jax.training.step import laser_step
from laser_jax.training.validation import validate

log = logging.getLogger("laser_jax")
TIMING_KEYS = ("time_context", "time_select", "time_sample", "time_score", "time_train", "time_bandit",
               "time_step")


class TrainingDiverged(CommandFailed, RuntimeError):
    """A step's loss or gradient norm was not finite: the run stops before anything is saved (the
    command lines: `error: ...`, exit 1)."""


def check_finite(record: dict, latest_checkpoint: int | None) -> None:
    bad = {k: record[k] for k in ("loss", "grad_norm") if k in record and not np.isfinite(record[k])}
    if bad:
        kept = f"step {latest_checkpoint}" if latest_checkpoint is not None else "none written yet"
        raise TrainingDiverged(
            f"step {record['step']}: {', '.join(f'{k}={v}' for k, v in bad.items())}; the run stopped before "
            f"saving anything of this step (latest checkpoint: {kept}). Lower training.learning_rate, keep "
            "training.max_grad_norm > 0, or check the reward models' scores, then start in a new --workdir")


class StopFlag:
    """SIGTERM / SIGINT ask the loop to checkpoint and stop after the current step; a second
    SIGINT interrupts at once (the last checkpoint stays intact: orbax writes atomically), except
    during a checkpoint save, which is finished first (an interrupted save left orbax's threads
    printing tracebacks)."""

    def __init__(self):
        self.signum = None
        self.saving = False
        self.forced = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame):
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            if self.saving:
                self.forced = True
                log.warning("second SIGINT: finishing the checkpoint being saved, then exiting")
                return
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s received: checkpointing after this step", signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def warn_empty_splits(rt: Runtime) -> None:
    """A test split with no examples gives no accuracy (null in results.json): said once, by name."""
    d = rt.config.data
    if not rt.test_examples:
        log.warning("the test split is empty (data.task=%r, data.path=%r, data.test_split=%r, "
                    "data.holdout_fraction=%s): no evaluation; accuracies are null in results.json",
                    d.task, d.path, d.get("test_split"), d.get("holdout_fraction"))


def _evaluate(rt: Runtime, params, label: str, progress: bool) -> dict:
    from tqdm import tqdm

    c = rt.config
    with tqdm(total=len(rt.test_examples), desc=f"eval {label}", disable=not progress, leave=False) as bar:
        summary, records = evaluation.evaluate(
            rt.policy(params), rt.tokenizer, rt.test_examples, batch_size=c.eval.batch_size,
            max_new_tokens=c.eval.max_new_tokens, max_prompt_tokens=c.sampling.max_prompt_tokens,
            eos_ids=rt.sample_cfg.eos_ids, pad_id=rt.sample_cfg.pad_id, system_prompt=c.policy.system_prompt,
            progress=bar.update, prompt_bucket=c.sampling.prompt_bucket)
    if jax.process_index() == 0:
        outputs.write_text_atomic(rt.workdir / f"eval_{label}.jsonl",
                                  "".join(outputs.json_text(r) + "\n" for r in records))
        outputs.write_json(rt.workdir / f"eval_{label}.json", summary)
    if summary["accuracy"] is None:  # a task without gold answers (wildchat): responses only
        log.info("evaluation %s training: %d responses recorded (no gold answers: judge them)", label,
                 summary["total"])
    else:
        log.info("accuracy %s training: %.4f (%d/%d)", label, summary["accuracy"], summary["correct"],
                 summary["total"])
    for key, value in summary.items():
        if key not in evaluation.SUMMARY_KEYS:
            log.info("%s %s training: %s", key, label, value)
    return summary


def train(c: ConfigDict, workdir, cache: ModelCache | None = None) -> dict:
    """Run (or resume) LASeR training in `workdir`; returns the results dict (also results.json).
    `cache`: loaded models and compiled functions shared with other runs in this process.
    Raises TrainingDiverged (nothing of the failing step saved) when a loss turns non-finite."""
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    main_process = jax.process_index() == 0
    cfg = validate(c)  # the typed config everything below reads
    check_workdir_config(c, workdir)
    rt, params = build_runtime(cfg, workdir, cache)
    check_workdir_data(rt, workdir)
    state = init_state(rt, params)
    t = c.training
    ckpt = Checkpointer(workdir / "checkpoints", keep=t.keep_checkpoints)
    if (restored := ckpt.restore_latest(state, functools.partial(_restore_target, rt, state))) is not None:
        state, _, last = restored
        state = _with_all_arms(rt, state)
        log.info("resumed from %s at step %d", ckpt.directory, last)
    metrics = outputs.MetricsLog(workdir, resume_step=int(state.step), tensorboard=c.logging.tensorboard,
                                 enabled=main_process)
    warn_empty_splits(rt)
    before_path = workdir / "eval_before.json"
    before = outputs.read_json(before_path, hint="delete it (the initial policy is evaluated again) and rerun") \
        if before_path.exists() else (_evaluate(rt, state.params, "before", c.logging.progress) if c.eval.before
                                      else None)

    total = t.iterations * rt.steps_per_iteration
    try:
        state, status, stop_signal = _loop(rt, state, ckpt, metrics, total, main_process)
    finally:  # also when a step fails: orbax and the metrics files are closed cleanly
        ckpt.close()
        metrics.close()
    results = {"status": status, "signal": stop_signal, "task": c.data.task, "selector": c.selector,
               "policy": c.policy.path, "rewards": rt.reward_names, "steps": int(state.step), "total_steps": total,
               "train_examples": len(rt.train_examples), "test_examples": len(rt.test_examples)}
    if status != "complete":
        log.warning("stopped at step %d of %d; rerun the same command to resume", int(state.step), total)
        return results

    after = _evaluate(rt, state.params, "after", c.logging.progress) if c.eval.after else None
    records = metrics.read() if main_process else []
    results.update(summarise(c, rt.reward_names, records, before, after))
    if main_process:
        results["rm_by_category"] = outputs.write_rm_use(
            records, rt.reward_names, workdir, plot=c.logging.plot,
            title=f"{c.selector} on {c.data.task}: reward model per prompt category")
        outputs.write_json(workdir / "results.json", results)
        if c.logging.plot:
            counts = outputs.arm_count_matrix(records, len(rt.reward_names))
            plots.plot_arms([r["step"] for r in records], counts, rt.reward_names, workdir / "arms.png",
                            title=f"{c.selector} on {c.data.task}: reward model per step")
    return results


def _restore_target(rt: Runtime, state, meta: dict):
    """The abstract state of a checkpoint with ``meta["num_arms"]`` reward models (fewer than now
    when RMs were appended since): the bandit built for that many arms."""
    k = int(meta.get("num_arms", len(rt.reward_names)))
    if k == len(rt.reward_names):
        return state
    if k > len(rt.reward_names):
        raise ConfigError(f"{rt.workdir / 'checkpoints'}: the latest checkpoint holds a bandit over {k} reward "
                          f"models, the config's rewards name {len(rt.reward_names)}: reward models can be "
                          "appended to a run, not removed; restore the rewards list or choose another --workdir")
    return state.replace(bandit=init_bandit(rt, k))


def _with_all_arms(rt: Runtime, state):
    """A restored state whose bandit has fewer arms than the config's RMs, grown (fresh arms)."""
    if selector_arms(state.bandit) == len(rt.reward_names):
        return state
    bandit = grow_state(state.bandit, init_bandit(rt))
    return state.replace(bandit=shd.put(bandit, shd.replicated(rt.mesh)))


def _loop(rt: Runtime, state, ckpt: Checkpointer, metrics, total: int, main_process: bool):
    """The steps from `state` to `total`, or to a signal / training.stop_after: (state, status, signal)."""
    from tqdm import tqdm

    c, t = rt.config, rt.config.training
    status, ran = "complete", 0
    with StopFlag() as stop, tqdm(total=total, initial=int(state.step), desc=f"LASeR[{c.selector}]",
                                  disable=not (c.logging.progress and main_process)) as bar:
        while int(state.step) < total:
            iteration, index = divmod(int(state.step), rt.steps_per_iteration)
            if index == 0:  # a new iteration: the reference becomes the current policy
                state = state.replace(ref=copy_params(state.params))
            state, record = laser_step(rt, state, batch_examples(rt, iteration, index))
            record["iteration"] = iteration
            metrics.write(record)
            check_finite(record, ckpt.latest_step())
            ran += 1
            bar.update(1)
            bar.set_postfix(loss=record.get("loss"), rm=rt.reward_names[record["arm"]], pairs=record["pairs"])
            step = int(state.step)
            halt = stop.signum is not None or (t.stop_after and ran >= t.stop_after)
            if halt or step % t.checkpoint_every == 0 or step == total:
                stop.saving = True
                try:
                    ckpt.save(step, state, {"step": step, "iteration": iteration, "batch": index,
                                            "num_arms": len(rt.reward_names)})
                finally:
                    stop.saving = False
                if stop.forced:
                    raise KeyboardInterrupt
            if halt:
                status = "interrupted" if stop.signum is not None else "stopped"
                break
    return state, status, stop.signum


def summarise(c: ConfigDict, names: list[str], records: list[dict], before: dict | None, after: dict | None) -> dict:
    """The results of a finished run: accuracy before / after (None for a task without gold
    answers), RM use, seconds per phase, and a task's own evaluation metrics before / after
    (ifeval_like: "ifeval", IFEval's prompt- and instruction-level strict and loose accuracy)."""
    per_step = outputs.arm_count_matrix(records, len(names))  # [steps, K]; RMs appended mid-run: 0 before
    counts, steps_per_arm = per_step.sum(axis=0), (per_step > 0).sum(axis=0)
    # a task's own metrics (ifeval_like: "ifeval", IFEval's four accuracies), before and after
    extra = {key: {"before": before and before.get(key), "after": after and after.get(key)}
             for key in dict.fromkeys([*(before or {}), *(after or {})]) if key not in evaluation.SUMMARY_KEYS}
    return {
        "accuracy": {c.data.task: {c.selector: {"before": before and before["accuracy"],
                                                 "after": after and after["accuracy"]}}},
        "accuracy_before": before and before["accuracy"],
        "accuracy_after": after and after["accuracy"],
        "arm_counts": dict(zip(names, map(int, counts))),
        "steps_per_arm": dict(zip(names, map(int, steps_per_arm))),
        "time_s": {k: round(float(sum(r.get(k, 0.0) for r in records)), 3) for k in TIMING_KEYS},
        **extra,
    }
