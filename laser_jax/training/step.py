"""One LASeR step on a batch of prompts, top to bottom:

    sample -> context -> select -> score -> pairs -> train step -> bandit update -> log record

The context (the policy's final hidden state at each prompt's last token) comes from the
sampler's prefill (`contexts`); the selector picks the RMs after sampling, which the samples do
not depend on (the select and sample keys are split from the step's key beforehand).

`sample_batch` and `score_samples` are also what the best-RM calibration runs (the same sampling
and scoring as training, without the update).
"""

from __future__ import annotations

import logging
import time

import jax
import jax.numpy as jnp
import numpy as np

from laser_jax import evaluate, sampling
from laser_jax import sharding as shd
from laser_jax.bandit import arm_counts, chosen_arms, combine
from laser_jax.batch import PromptBatch
from laser_jax.errors import ConfigError
from laser_jax.training import feedback, pairs
from laser_jax.training.runtime import Runtime, TrainState

log = logging.getLogger("laser_jax")


def encode(rt: Runtime, examples) -> PromptBatch:
    c = rt.config
    return PromptBatch.encode(rt.tokenizer, examples, max_tokens=c.sampling.max_prompt_tokens,
                              pad_id=rt.sample_cfg.pad_id, system_prompt=c.policy.system_prompt,
                              bucket=c.sampling.prompt_bucket)


def sample_batch(rt: Runtime, params, batch: PromptBatch, key) -> tuple[sampling.SampleOutput, list[list[str]]]:
    """n samples per prompt from the policy with `params`: (tokens etc. on the host, texts [B][n])."""
    ids, mask = shd.global_batch(batch.ids, rt.mesh), shd.global_batch(batch.mask, rt.mesh)  # each host: its rows
    out = shd.to_host(sampling.sample(rt.policy(params), ids, mask, key, rt.sample_cfg))
    return out, sampling.decode(rt.tokenizer, out, stop_strings=evaluate.STOP_STRINGS)


def contexts(rt: Runtime, params, batch: PromptBatch, out: sampling.SampleOutput) -> np.ndarray:
    """The bandit's contexts [B, d] float32 of a sampled batch, on the host: for bandit.context =
    "last_hidden" the sampler's own prompt hidden states (`SampleOutput.last_hidden`: the prompts are
    not run a second time), else the runtime's context function."""
    if rt.config.bandit.context == "last_hidden" and out.last_hidden is not None:
        return np.asarray(shd.to_host(out.last_hidden), np.float32)
    ids, mask = shd.global_batch(batch.ids, rt.mesh), shd.global_batch(batch.mask, rt.mesh)
    return np.asarray(shd.to_host(rt.fns.context(params, rt.frozen, ids, mask)), np.float32)


def score_samples(rt: Runtime, batch: PromptBatch, texts: list[list[str]], weights: np.ndarray) -> np.ndarray:
    """[K, B, n] scores (NaN where an RM was not used); each RM scores only the prompts it weights."""
    b, n = len(texts), len(texts[0])
    out = np.full((len(rt.reward_names), b, n), np.nan)
    used = weights > 0
    if used.all():  # every RM on every response: one vectorised call where RMs stack
        rows = batch.per_response(n)
        out[:] = np.asarray(rt.rewards.score_all(rows["prompts"], [t for row in texts for t in row], rows["golds"],
                                                 tasks=rows["tasks"])).reshape(len(rt.reward_names), b, n)
        return out
    for k, rm in enumerate(rt.rewards.rms):
        idx = np.flatnonzero(used[:, k])
        if len(idx) == 0:
            continue
        rows = batch.per_response(n, idx)
        responses = [t for i in idx for t in texts[i]]
        out[k, idx] = np.asarray(rm.score(rows["prompts"], responses, rows["golds"], tasks=rows["tasks"])).reshape(
            len(idx), n)
    return out


def count_nonfinite(rt: Runtime, raw: np.ndarray, weights: np.ndarray) -> list[int]:
    """Per RM, how many of the scores it was asked for are NaN / inf (those responses are left out
    of the pairs); the first time an RM gives one, a warning names it."""
    asked = (weights > 0).T[:, :, None] & np.ones(raw.shape, bool)  # [K, B, n]
    counts = (asked & ~np.isfinite(raw)).sum(axis=(1, 2))
    for name, count in zip(rt.reward_names, counts):
        if count and ("nonfinite", name) not in rt.warned:
            rt.warned.add(("nonfinite", name))
            log.warning("reward model %s gave %d non-finite scores in this batch; those responses are left out "
                        "of the pairs (counted per step in metrics.jsonl: nonfinite_scores)", name, count)
    return counts.tolist()


def step_reward(rt: Runtime, m: dict | None, valid, batch: PromptBatch, texts, chosen, rejected) -> np.ndarray:
    """The step's raw bandit reward (config bandit.reward; training/feedback.py)."""
    kind = rt.config.bandit.reward
    correct = None
    if kind == "gold_agreement":
        if any(ex.answer is None for ex in batch.examples):
            raise ConfigError(f"bandit.reward='gold_agreement' needs gold answers, and task {batch.tasks[0]!r} "
                              "has none here; use bandit.reward='loss' or 'dpo_loss'")
        correct = feedback.response_correct(batch.examples, texts)
    return feedback.bandit_reward(kind, m, valid, per_prompt=rt.selector.per_prompt,
                                  correct=correct, chosen=chosen, rejected=rejected)


def family_arm_counts(families, weights) -> dict[str, list[int]]:
    """{family: [K] prompts of the batch of that family each RM scored (weight > 0)}."""
    used = np.asarray(weights) > 0
    out: dict[str, np.ndarray] = {}
    for fam, row in zip(families, used):
        out[fam] = out.get(fam, 0) + row.astype(np.int64)
    return {fam: out[fam].tolist() for fam in sorted(out)}


def laser_step(rt: Runtime, state: TrainState, examples) -> tuple[TrainState, dict]:
    """One LASeR step on a batch of prompts; returns the new state and the step's log record."""
    t0 = time.perf_counter()
    times = {}
    key = jax.random.fold_in(state.key, state.step)
    k_select, k_sample = jax.random.split(key)
    c, fns = rt.config, rt.fns
    batch = encode(rt, examples)

    # 1. sample n responses per prompt from the current policy
    tic = time.perf_counter()
    out, texts = sample_batch(rt, state.params, batch, k_sample)
    times["time_sample"] = time.perf_counter() - tic

    # 2. context: the policy's final hidden state at each prompt's last token (the sampler's prefill
    # computed it; the sampled responses do not depend on which RM will score them)
    tic = time.perf_counter()
    if rt.selector.needs_context:
        ctx = contexts(rt, state.params, batch, out)  # on the host, as the weights below
    else:
        ctx = np.zeros((len(batch), 0), np.float32)
    times["time_context"] = time.perf_counter() - tic

    # 3. select: the bandit's weights over reward models, per prompt
    tic = time.perf_counter()
    weights, bandit = fns.select(state.bandit, ctx, k_select, state.step)
    weights = shd.to_host(weights)
    times["time_select"] = time.perf_counter() - tic

    # 4. score with the selected reward model(s) and combine
    tic = time.perf_counter()
    raw = score_samples(rt, batch, texts, weights)
    nonfinite = count_nonfinite(rt, raw, weights)
    combined = combine.combine_scores(raw, weights)
    times["time_score"] = time.perf_counter() - tic

    # 5. pairs -> DPO+NLL update against the iteration's reference policy
    tic = time.perf_counter()
    chosen, rejected, valid = pairs.build_pairs(combined, c.training.pairs_per_prompt,
                                                c.training.pairing)
    if rt.selector.majority:  # the agreement ensemble: majority-ordered pairs only
        chosen, rejected, valid, _ = combine.majority_pairs(raw, chosen, rejected, valid)
    packed = pairs.pack(batch.ids, batch.mask, out.tokens, out.lengths, chosen, rejected, valid)
    packed = jax.tree.map(lambda x: shd.global_batch(x, rt.mesh), packed)  # [B, ...] rows over the batch axes
    n_pairs = int(valid.sum())
    params, opt_state = state.params, state.opt_state
    if n_pairs:
        params, opt_state, m = fns.step(params, rt.frozen, state.ref, opt_state, packed)
        m = shd.to_host(m)
    else:  # every pair tied: nothing to learn from, no update
        m = None
    times["time_train"] = time.perf_counter() - tic

    # 6. bandit reward (bandit.reward, training/feedback.py; the paper's: -(training loss)), normalised
    #    inside the selector's update; a batch whose chosen RM tied every pair taught nothing: reward
    #    -inf, which the bandit counts as r' = 0
    tic = time.perf_counter()
    reward = step_reward(rt, m, valid, batch, texts, chosen, rejected)
    agreement = combine.pair_agreement(raw, chosen, rejected, valid) if rt.selector.needs_agreement else None
    bandit, info = fns.update(bandit, weights, ctx, jnp.asarray(reward, jnp.float32), agreement)
    info = shd.to_host(info)
    skipped = int(np.sum(info.get("skipped_nonfinite", 0)))
    if skipped and "nonfinite_context" not in rt.warned:
        rt.warned.add("nonfinite_context")
        log.warning("step %d: the policy's context is not finite (NaN / inf hidden state); the bandit skipped "
                    "its update (counted per step in metrics.jsonl: skipped_contexts)", int(state.step) + 1)
    times["time_bandit"] = time.perf_counter() - tic

    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state, bandit=bandit)
    arms = np.asarray(chosen_arms(jnp.asarray(weights)))
    families = sorted(set(batch.families))
    record = {
        "step": int(state.step) + 1,
        "family": families[0] if len(families) == 1 else "mixed",
        "arm": int(np.bincount(arms, minlength=len(rt.reward_names)).argmax()),
        "arm_counts": np.asarray(arm_counts(jnp.asarray(weights))).tolist(),
        "arm_counts_by_family": family_arm_counts(batch.families, weights),
        "pairs": n_pairs,
        "nonfinite_scores": nonfinite,
        "skipped_contexts": skipped,
        "mean_response_tokens": float(np.asarray(out.lengths).mean()),
        "raw_reward": float(np.asarray(info.get("raw_reward", np.nan)).mean()),
        "norm_reward": float(np.asarray(info.get("norm_reward", np.nan)).mean()),
    }
    if m is not None:
        record.update({k: float(v) for k, v in m.items() if k not in ("pair_loss", "pair_dpo")})
    record.update({k: round(v, 4) for k, v in times.items()})
    record["time_step"] = round(time.perf_counter() - t0, 4)
    return new_state, record
