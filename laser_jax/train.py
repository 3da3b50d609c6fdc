"""The LASeR training loop: one function, `train`, and one step, `laser_step`.

For each iteration (a pass over the training prompts), for each batch of B prompts:

    context -> select -> sample -> score -> pairs -> train step -> bandit update -> log -> checkpoint

Everything that changes lives in one explicit pytree, `TrainState` (trainable params, reference,
optimizer state, bandit state, RNG key, step). What does not change (models' graph definitions,
the frozen base weights under LoRA, reward models, tokenizer, data, compiled functions) lives in
`Runtime`. The data order is a function of (seed, iteration) and every step's randomness is
`fold_in(key, step)`, so a run stopped and resumed from a checkpoint continues exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct
from ml_collections import ConfigDict

from laser_jax import evaluate as evaluation
from laser_jax import outputs, pairs, prompting, sampling
from laser_jax import sharding as shd
from laser_jax.bandit.selectors import Selector, arm_counts, chosen_arms, make_selector
from laser_jax.checkpoint import Checkpointer
from laser_jax.config import ConfigError, selector_hparams, validate
from laser_jax.data.prompts import format_prompt
from laser_jax.data.tasks import DataError, Example, load_task, split_examples
from laser_jax.models import decoder as D
from laser_jax.models.lora import add_lora, frozen_filter, trainable_filter
from laser_jax.rewards import RMSet, build_reward_models
from laser_jax.rewards.build import cached_model, cached_tokenizer
from laser_jax.train_step import StepConfig, make_optimizer, train_step

log = logging.getLogger("laser_jax")
TIMING_KEYS = ("time_context", "time_select", "time_sample", "time_score", "time_train", "time_bandit",
               "time_step")


@struct.dataclass
class TrainState:
    step: jax.Array  # int32, steps done
    params: Any  # nnx.State: what the optimizer trains
    ref: Any  # nnx.State: the reference policy's trainable part (frozen each iteration)
    opt_state: Any
    bandit: Any  # selector state
    key: jax.Array  # uint32 [2]: base PRNG key; step s uses fold_in(key, s)


@dataclasses.dataclass
class Runtime:
    config: ConfigDict
    workdir: Path
    mesh: Any
    tokenizer: Any
    graphdef: Any
    frozen: Any  # nnx.State: the LoRA base weights (empty for full fine-tuning)
    selector: Selector
    select_fn: Any  # the selector's select / update, jitted with replicated shardings
    update_fn: Any
    rewards: list
    reward_set: RMSet  # the same RMs, same-architecture ones stacked for one vectorised call
    reward_names: list[str]
    train_examples: list[Example]
    test_examples: list[Example]
    sample_cfg: sampling.SamplingConfig
    eos_ids: tuple[int, ...]
    pad_id: int
    step_fn: Any
    context_fn: Any
    optimizer: Any
    opt_shardings: Any
    steps_per_iteration: int
    hidden_size: int

    def policy(self, params):
        return nnx.merge(self.graphdef, params, self.frozen)


# --------------------------------------------------------------------------------------------- setup


def load_data(c: ConfigDict) -> tuple[list[Example], list[Example]]:
    d = c.data
    if d.train_split == d.test_split:
        examples = load_task(d.task, d.path, d.train_split)
        parts = split_examples(examples, (1 - d.holdout_fraction, d.holdout_fraction), seed=d.split_seed,
                               names=("train", "test"))
        train, test = parts["train"], parts["test"]
    else:
        train = load_task(d.task, d.path, d.train_split)
        try:
            test = load_task(d.task, d.path, d.test_split)
        except DataError as e:
            log.warning("no %s split (%s); holding out %.0f%% of %s instead", d.test_split, e,
                        100 * d.holdout_fraction, d.train_split)
            parts = split_examples(train, (1 - d.holdout_fraction, d.holdout_fraction), seed=d.split_seed,
                                   names=("train", "test"))
            train, test = parts["train"], parts["test"]
    rng = np.random.default_rng(d.split_seed)
    if d.train_limit and d.train_limit < len(train):
        train = [train[i] for i in sorted(rng.choice(len(train), d.train_limit, replace=False))]
    if d.test_limit and d.test_limit < len(test):
        test = [test[i] for i in sorted(rng.choice(len(test), d.test_limit, replace=False))]
    if len(train) == 0:
        raise DataError(f"data.task={d.task}: the training split is empty")
    return train, test


def setup(c: ConfigDict, workdir: Path, loaded: dict | None = None) -> tuple[Runtime, Any]:
    """Load data, policy, tokenizer and reward models and build the compiled functions.

    `loaded` (a dict the caller keeps) caches loaded models and tokenizers across runs in one
    process (the comparison runner); the policy is merged into a fresh module from the cached
    weights, so adding LoRA to it leaves the cache (and an RM sharing the checkpoint) untouched.
    """
    validate(c)
    loaded = {} if loaded is None else loaded
    mesh = shd.make_mesh([c.mesh.data, c.mesh.fsdp, c.mesh.tensor])
    log.info("mesh %s over %d devices, %d processes (this is process %d)", dict(mesh.shape), mesh.size,
             jax.process_count(), jax.process_index())
    train_examples, test_examples = load_data(c)
    tokenizer = cached_tokenizer(c.policy.tokenizer or c.policy.path, loaded, "policy.tokenizer")
    model = nnx.merge(*nnx.split(cached_model(c.policy.path, c.policy.dtype, mesh, loaded, "policy.path",
                                              remat=c.policy.remat)))
    if not isinstance(model, D.CausalLM):
        raise ConfigError(f"policy.path={c.policy.path!r} is a sequence classifier; the policy needs an LM head")
    lora = c.policy.lora_rank > 0
    if lora:
        add_lora(model, c.policy.lora_rank, c.policy.lora_alpha, tuple(c.policy.lora_targets), seed=c.seed)
    graphdef, params, frozen = nnx.split(model, trainable_filter(lora), frozen_filter(lora))
    # every array on its sharding from the start, so compiled steps see the same input shardings always
    params, frozen = shd.place(params, mesh), shd.place(frozen, mesh)
    rewards = build_reward_models([dict(r) for r in c.rewards], mesh=mesh, dtype=c.policy.dtype,
                                  default_task=c.data.task, loaded=loaded)
    names = [r.name for r in rewards]
    selector = make_selector(c.selector, **selector_hparams(c))

    t = c.training
    steps_per_iteration = len(iteration_batches(train_examples, t.batch_size, c.seed, 0, c.data.batch_by_family))
    opt_args = dict(learning_rate=t.learning_rate, total_steps=t.iterations * steps_per_iteration,
                    warmup_steps=t.warmup_steps, schedule=t.schedule, weight_decay=t.weight_decay,
                    max_grad_norm=t.max_grad_norm)
    hp = StepConfig(beta=t.beta, alpha_nll=t.alpha_nll, loss_type=t.loss_type, label_smoothing=t.label_smoothing,
                    micro_batches=t.micro_batches)
    key = ("compiled", graphdef, mesh, tuple(sorted(opt_args.items())), hp)
    if key not in loaded:  # runs of one comparison share compiled functions (no re-tracing)
        loaded[key] = compiled_step(graphdef, mesh, params, frozen, make_optimizer(**opt_args), hp)
    optimizer, opt_sh, step_fn, context_fn = loaded[key]
    rep = shd.replicated(mesh)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    eos = prompting.eos_ids(tokenizer, model.cfg.eos_token_id)
    s = c.sampling
    sample_cfg = sampling.SamplingConfig(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                                         top_k=s.top_k, n=s.n, eos_ids=eos, pad_id=pad_id)
    key = ("selector", c.selector, tuple(sorted(selector.hparams.items())), mesh)
    if key not in loaded:
        loaded[key] = (jax.jit(selector.select, out_shardings=rep),
                       jax.jit(selector.update, out_shardings=rep, donate_argnums=(0,)))
    select_fn, update_fn = loaded[key]
    return Runtime(c, Path(workdir), mesh, tokenizer, graphdef, frozen, selector, select_fn, update_fn, rewards,
                   RMSet(rewards), names,
                   train_examples,
                   test_examples, sample_cfg, eos, pad_id, step_fn, context_fn, optimizer, opt_sh, steps_per_iteration,
                   model.cfg.hidden_size), params


def compiled_step(graphdef, mesh, params, frozen, optimizer, hp: StepConfig):
    """(optimizer, its state's shardings, the jitted train step, the jitted context function)."""
    params_sh, frozen_sh = shd.state_shardings(params, mesh), shd.state_shardings(frozen, mesh)
    rep = shd.replicated(mesh)
    # AdamW moments follow their parameters; scalars (the step count) are replicated
    opt_sh = jax.tree.map(lambda x: x.sharding if isinstance(x.sharding, jax.sharding.NamedSharding) else rep,
                          jax.jit(optimizer.init)(params))
    step_fn = jax.jit(functools.partial(train_step, graphdef, optimizer, hp),
                      in_shardings=(params_sh, frozen_sh, params_sh, opt_sh, None),
                      out_shardings=(params_sh, opt_sh, rep), donate_argnums=(0, 3))

    @functools.partial(jax.jit, out_shardings=rep)  # the bandit's input: the same on every host
    def context_fn(params, frozen, ids, mask):
        hidden, _ = nnx.merge(graphdef, params, frozen).hidden(ids, mask)
        return hidden[:, -1].astype(jnp.float32)  # left padding: the last slot is each prompt's last token

    return optimizer, opt_sh, step_fn, context_fn


def init_state(rt: Runtime, params) -> TrainState:
    key = jax.random.PRNGKey(rt.config.seed)
    bandit = rt.selector.init(jax.random.fold_in(key, 1 << 20), len(rt.rewards), rt.hidden_size)
    rep = shd.replicated(rt.mesh)
    return TrainState(step=shd.put(np.zeros((), np.int32), rep), params=params, ref=copy_params(params),
                      opt_state=jax.jit(rt.optimizer.init, out_shardings=rt.opt_shardings)(params),
                      bandit=shd.put(bandit, rep), key=shd.put(key, rep))


def copy_params(params):
    """A copy on the same shardings (the reference must not alias the donated params)."""
    return jax.tree.map(lambda x: jax.device_put(jnp.copy(x), x.sharding), params)


# --------------------------------------------------------------------------------------------- one step


def family(example: Example) -> str:
    """The task family of an example (generated demo tasks mix several), else its task."""
    return dict(example.meta).get("family", example.task) if example.meta else example.task


def iteration_batches(examples: list[Example], batch_size: int, seed: int, iteration: int,
                      by_family: bool) -> list[list[int]]:
    """The batches (example indices) of one iteration: a permutation seeded by (seed, iteration);
    a group's last batch wraps around within the group to fill B. With `by_family`, every batch
    holds one family (so the batch-mean context is that family's) and the families' batches are
    interleaved in a seeded order."""
    rng = np.random.default_rng([seed, iteration])
    groups: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        groups.setdefault(family(ex) if by_family else "", []).append(i)
    batches = []
    for name in sorted(groups):
        idx = np.asarray(groups[name])[rng.permutation(len(groups[name]))]
        for start in range(0, len(idx), batch_size):
            batches.append([int(idx[(start + j) % len(idx)]) for j in range(batch_size)])
    if by_family:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def batch_examples(rt: Runtime, iteration: int, index: int) -> list[Example]:
    """Batch `index` of `iteration` (see `iteration_batches`)."""
    c = rt.config
    batches = iteration_batches(rt.train_examples, c.training.batch_size, c.seed, iteration, c.data.batch_by_family)
    return [rt.train_examples[i] for i in batches[index]]


def score_samples(rt: Runtime, examples: list[Example], texts: list[list[str]], weights: np.ndarray) -> np.ndarray:
    """[K, B, n] scores (NaN where an RM was not used); each RM scores only the prompts it weights."""
    b, n = len(texts), len(texts[0])
    out = np.full((len(rt.rewards), b, n), np.nan)
    used = weights > 0
    if used.all():  # every RM on every response: one vectorised call where RMs stack
        rows = list(range(b))
        prompts = [format_prompt(examples[i]) for i in rows for _ in range(n)]
        responses = [t for i in rows for t in texts[i]]
        golds = [examples[i].answer for i in rows for _ in range(n)]
        tasks = [examples[i].task for i in rows for _ in range(n)]
        out[:] = np.asarray(rt.reward_set.score_all(prompts, responses, golds, tasks=tasks)).reshape(
            len(rt.rewards), b, n)
        return out
    for k, rm in enumerate(rt.rewards):
        rows = np.flatnonzero(used[:, k])
        if len(rows) == 0:
            continue
        prompts = [format_prompt(examples[i]) for i in rows for _ in range(n)]
        responses = [t for i in rows for t in texts[i]]
        golds = [examples[i].answer for i in rows for _ in range(n)]
        tasks = [examples[i].task for i in rows for _ in range(n)]
        out[k, rows] = np.asarray(rm.score(prompts, responses, golds, tasks=tasks)).reshape(len(rows), n)
    return out


def laser_step(rt: Runtime, state: TrainState, examples: list[Example]) -> tuple[TrainState, dict]:
    """One LASeR step on a batch of prompts; returns the new state and the step's log record."""
    t0 = time.perf_counter()
    times = {}
    key = jax.random.fold_in(state.key, state.step)
    k_select, k_sample = jax.random.split(key)
    c = rt.config
    ids, mask = prompting.encode(rt.tokenizer, examples, max_tokens=c.sampling.max_prompt_tokens, pad_id=rt.pad_id,
                                 system_prompt=c.policy.system_prompt)
    g_ids, g_mask = shd.global_batch(ids, rt.mesh), shd.global_batch(mask, rt.mesh)  # each host: its own rows

    # 1. context: the policy's final hidden state at each prompt's last token
    tic = time.perf_counter()
    contexts = rt.context_fn(state.params, rt.frozen, g_ids, g_mask) if rt.selector.needs_context \
        else jnp.zeros((len(examples), 0), jnp.float32)
    contexts = jax.block_until_ready(contexts)
    times["time_context"] = time.perf_counter() - tic

    # 2. select: the bandit's weights over reward models, per prompt
    tic = time.perf_counter()
    weights, bandit = rt.select_fn(state.bandit, contexts, k_select, state.step)
    weights = shd.to_host(weights)
    times["time_select"] = time.perf_counter() - tic

    # 3. sample n responses per prompt from the current policy
    tic = time.perf_counter()
    out = shd.to_host(sampling.sample(rt.policy(state.params), g_ids, g_mask, k_sample, rt.sample_cfg))
    texts = sampling.decode(rt.tokenizer, out, stop_strings=evaluation.STOP_STRINGS)
    times["time_sample"] = time.perf_counter() - tic

    # 4. score with the selected reward model(s) and combine
    tic = time.perf_counter()
    raw = score_samples(rt, examples, texts, weights)
    combined = pairs.combine_scores(raw, weights)
    times["time_score"] = time.perf_counter() - tic

    # 5. pairs -> DPO+NLL update against the iteration's reference policy
    tic = time.perf_counter()
    chosen, rejected, valid = pairs.build_pairs(combined, c.training.pairs_per_prompt)
    batch = pairs.pack(ids, mask, out.tokens, out.lengths, chosen, rejected, valid)
    batch = jax.tree.map(lambda x: shd.global_batch(x, rt.mesh), batch)  # [B, ...] rows over the batch axes
    n_pairs = int(valid.sum())
    params, opt_state = state.params, state.opt_state
    if n_pairs:
        params, opt_state, m = rt.step_fn(params, rt.frozen, state.ref, opt_state, batch)
        m = shd.to_host(m)
    else:  # every pair tied: nothing to learn from, no update
        m = None
    times["time_train"] = time.perf_counter() - tic

    # 6. bandit reward = -(training loss), normalised inside the selector's update; a batch whose
    #    chosen RM tied every pair taught nothing: reward -inf, which the bandit counts as r' = 0
    tic = time.perf_counter()
    reward = -float(m["loss"]) if m is not None else -np.inf
    if rt.selector.hparams.get("per_prompt", False):
        w = valid.astype(np.float64)  # [B, P]
        per_pair = np.asarray(m["pair_loss"]) if m is not None else np.zeros(w.shape)
        per_prompt = np.where(w.sum(1) > 0, -(per_pair * w).sum(1) / np.maximum(w.sum(1), 1), -np.inf)
        bandit, info = rt.update_fn(bandit, weights, contexts, jnp.asarray(per_prompt, jnp.float32))
    else:
        bandit, info = rt.update_fn(bandit, weights, contexts, jnp.asarray(reward, jnp.float32))
    info = shd.to_host(info)
    times["time_bandit"] = time.perf_counter() - tic

    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, bandit=bandit)
    arms = np.asarray(chosen_arms(jnp.asarray(weights)))
    families = sorted({family(ex) for ex in examples})
    record = {
        "step": int(state.step) + 1,
        "family": families[0] if len(families) == 1 else "mixed",
        "arm": int(np.bincount(arms, minlength=len(rt.rewards)).argmax()),
        "arm_counts": np.asarray(arm_counts(jnp.asarray(weights))).tolist(),
        "pairs": n_pairs,
        "mean_response_tokens": float(np.asarray(out.lengths).mean()),
        "raw_reward": float(np.asarray(info.get("raw_reward", np.nan)).mean()),
        "norm_reward": float(np.asarray(info.get("norm_reward", np.nan)).mean()),
    }
    if m is not None:
        record.update({k: float(v) for k, v in m.items() if k != "pair_loss"})
    record.update({k: round(v, 4) for k, v in times.items()})
    record["time_step"] = round(time.perf_counter() - t0, 4)
    return new_state, record


# --------------------------------------------------------------------------------------------- the loop

# fields a resumed run may change; any other difference means a different experiment
RESUMABLE_CHANGES = ("logging.", "eval.", "training.stop_after", "training.checkpoint_every",
                     "training.keep_checkpoints")


class StopFlag:
    """SIGTERM / SIGINT ask the loop to checkpoint and stop after the current step; a second
    SIGINT interrupts at once (the last checkpoint stays intact: orbax writes atomically)."""

    def __init__(self):
        self.signum = None
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
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s received: checkpointing after this step", signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _flatten(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_workdir_config(c: ConfigDict, workdir: Path) -> None:
    """First run: save config.json. Resumed run: the experiment's fields must be unchanged."""
    path = workdir / "config.json"
    now = json.loads(c.to_json_best_effort())
    if not path.exists():
        if jax.process_index() == 0:  # the others compare, never write (the write is atomic)
            outputs.write_json(path, now)
        return
    before = json.loads(path.read_text())
    flat_now, flat_before = _flatten(now), _flatten(before)
    diff = sorted(k for k in set(flat_now) | set(flat_before)
                  if flat_now.get(k) != flat_before.get(k) and not k.startswith(RESUMABLE_CHANGES))
    if diff:
        shown = "; ".join(f"{k}: {flat_before.get(k)!r} -> {flat_now.get(k)!r}" for k in diff[:6])
        raise ConfigError(f"{workdir} holds a run with a different config ({shown}); resume with the same config "
                          "or choose another --workdir")


def _evaluate(rt: Runtime, params, label: str, progress: bool) -> dict:
    from tqdm import tqdm

    c = rt.config
    with tqdm(total=len(rt.test_examples), desc=f"eval {label}", disable=not progress, leave=False) as bar:
        summary, records = evaluation.evaluate(
            rt.policy(params), rt.tokenizer, rt.test_examples, batch_size=c.eval.batch_size,
            max_new_tokens=c.eval.max_new_tokens, max_prompt_tokens=c.sampling.max_prompt_tokens,
            eos_ids=rt.eos_ids, pad_id=rt.pad_id, system_prompt=c.policy.system_prompt, progress=bar.update)
    if jax.process_index() == 0:
        with open(rt.workdir / f"eval_{label}.jsonl", "w") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
        outputs.write_json(rt.workdir / f"eval_{label}.json", summary)
    log.info("accuracy %s training: %.4f (%d/%d)", label, summary["accuracy"], summary["correct"], summary["total"])
    return summary


def train(c: ConfigDict, workdir, loaded: dict | None = None) -> dict:
    """Run (or resume) LASeR training in `workdir`; returns the results dict (also results.json).
    `loaded`: see `setup`."""
    from tqdm import tqdm

    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    main_process = jax.process_index() == 0
    validate(c)
    check_workdir_config(c, workdir)
    rt, params = setup(c, workdir, loaded)
    state = init_state(rt, params)
    t = c.training
    ckpt = Checkpointer(workdir / "checkpoints", keep=t.keep_checkpoints)
    if (last := ckpt.latest_step()) is not None:
        state, _ = ckpt.restore(last, state)
        log.info("resumed from %s at step %d", ckpt.directory, last)
    metrics = outputs.MetricsLog(workdir, resume_step=int(state.step), tensorboard=c.logging.tensorboard,
                                 enabled=main_process)
    before = json.loads((workdir / "eval_before.json").read_text()) if (workdir / "eval_before.json").exists() \
        else (_evaluate(rt, state.params, "before", c.logging.progress) if c.eval.before else None)

    total = t.iterations * rt.steps_per_iteration
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
            ran += 1
            bar.update(1)
            bar.set_postfix(loss=record.get("loss"), rm=rt.reward_names[record["arm"]], pairs=record["pairs"])
            step = int(state.step)
            halt = stop.signum is not None or (t.stop_after and ran >= t.stop_after)
            if halt or step % t.checkpoint_every == 0 or step == total:
                ckpt.save(step, state, {"step": step, "iteration": iteration, "batch": index})
            if halt:
                status = "interrupted" if stop.signum is not None else "stopped"
                break
    ckpt.close()
    metrics.close()
    results = {"status": status, "signal": stop.signum, "task": c.data.task, "selector": c.selector,
               "policy": c.policy.path, "rewards": rt.reward_names, "steps": int(state.step), "total_steps": total,
               "train_examples": len(rt.train_examples), "test_examples": len(rt.test_examples)}
    if status != "complete":
        log.warning("stopped at step %d of %d; rerun the same command to resume", int(state.step), total)
        return results

    after = _evaluate(rt, state.params, "after", c.logging.progress) if c.eval.after else None
    records = metrics.read() if main_process else []
    counts = np.sum([r["arm_counts"] for r in records], axis=0) if records else np.zeros(len(rt.rewards))
    results.update({
        "accuracy": {c.data.task: {c.selector: {"before": before and before["accuracy"],
                                                 "after": after and after["accuracy"]}}},
        "accuracy_before": before and before["accuracy"],
        "accuracy_after": after and after["accuracy"],
        "arm_counts": dict(zip(rt.reward_names, map(int, counts))),
        "steps_per_arm": dict(zip(rt.reward_names, map(int, np.sum([np.asarray(r["arm_counts"]) > 0 for r in records],
                                                                        axis=0) if records else counts))),
        "time_s": {k: round(float(sum(r.get(k, 0.0) for r in records)), 3) for k in TIMING_KEYS},
    })
    if main_process:
        outputs.write_json(workdir / "results.json", results)
        if c.logging.plot:
            outputs.plot_arms(records, rt.reward_names, workdir / "arms.png",
                              title=f"{c.selector} on {c.data.task}: reward model per step")
    return results
