"""The policy update of one LASeR step: DPO (+ NLL of the chosen responses) with optax.

A batch holds B prompts (left-padded) and, per prompt, P chosen and P rejected responses
(right-padded). The prompt is run once and its keys/values are shared by its 2P responses, which
then run against that cache: the prompt's tokens are not recomputed for every response (with
B=4, P=2, 160-token prompts and 48-token responses this is 2.4x fewer tokens than running each
prompt+response row separately). Pairs are padded to a fixed count with weight 0, so the step
compiles once per prompt-length bucket.

The state is explicit: `params` (what the optimizer trains: the LoRA adapters, or every weight),
`frozen` (the base weights under LoRA, empty otherwise), `ref` (the trainable part of the
reference policy, frozen at the start of each iteration; with LoRA the reference shares `frozen`
and needs no second full model) and `opt_state`. Reference log-probs are computed outside the
gradient, one micro-batch at a time. Micro-batches (`micro_batches` > 1, splitting the prompts)
accumulate gradients in a lax.scan, never fewer prompts per micro-batch than the mesh's batch
shards (`micro_batch_count`); the LM head runs `chunk` positions at a time, each chunk's logits
recomputed in the backward pass (`logprobs._head_logprobs`); the loss is a sum over pairs divided
by the number of real pairs in the whole batch, so the result does not depend on how the batch is
split.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from laser_jax.training import losses
from laser_jax.models import logprobs
from laser_jax.errors import is_number


@dataclasses.dataclass(frozen=True)
class StepConfig:
    beta: float = 0.1
    alpha_nll: float = 1.0
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    micro_batches: int = 1
    # rows the batch axes split each micro-batch's prompts over (the mesh's batch shards; set by
    # runtime.compile_step): fewer micro-batches are run when micro_batches would leave a
    # micro-batch fewer prompts than that (they would be replicated on every chip, not split)
    batch_shards: int = 1
    chunk: int | None = 128  # LM-head positions at a time for the log-probs (bounds the [rows, chunk, V] logits)


def micro_batch_count(prompts: int, micro_batches: int, batch_shards: int = 1) -> int:
    """The micro-batches a step of `prompts` runs: the largest divisor of `prompts` that is at
    most `micro_batches` and leaves every micro-batch at least min(batch_shards, prompts) prompts;
    `micro_batches` itself when it does not divide `prompts` (`_split_micro` refuses it by name)."""
    if prompts % max(micro_batches, 1):
        return micro_batches
    need = min(max(batch_shards, 1), prompts)
    return max(d for d in range(1, max(micro_batches, 1) + 1) if prompts % d == 0 and prompts // d >= need)


class PairBatch(NamedTuple):
    prompt_ids: jax.Array  # [B, Tp] int32, left-padded
    prompt_mask: jax.Array  # [B, Tp] (1 = real token)
    ids: jax.Array  # [B, 2, P, R] int32 responses: [:, 0] chosen, [:, 1] rejected, right-padded
    mask: jax.Array  # [B, 2, P, R] (1 = real response token: its log-prob counts)
    weights: jax.Array  # [B, P] float32 (1 = real pair, 0 = padding)


SCHEDULES = {  # (peak learning rate, decay steps) -> schedule after the warm-up
    "constant": lambda lr, steps: optax.constant_schedule(lr),
    "cosine": lambda lr, steps: optax.cosine_decay_schedule(lr, steps),
    "linear": lambda lr, steps: optax.linear_schedule(lr, 0.0, steps),
}


def _finite(v, ok) -> bool:
    return is_number(v) and ok(v)


def check_config(t) -> list[str]:
    """The optimizer and loss fields of the run config's `training` section (a NaN max_grad_norm
    would turn clipping off silently, a NaN learning rate poison the weights: both refused)."""
    problems = []
    for field, ok, need in (("learning_rate", lambda v: v > 0, "a finite number > 0"),
                            ("weight_decay", lambda v: v >= 0, "a finite number >= 0"),
                            ("max_grad_norm", lambda v: v >= 0, "a finite number >= 0 (0 = no clipping)"),
                            ("warmup_steps", lambda v: v >= 0 and v == int(v), "an integer >= 0")):
        if not _finite(t[field], ok):
            problems.append(f"training.{field}={t[field]!r} must be {need}")
    if t.schedule not in SCHEDULES:
        problems.append(f"training.schedule={t.schedule!r} is not one of {list(SCHEDULES)}")
    if not (isinstance(t.micro_batches, int) and t.micro_batches >= 1 and t.batch_size % t.micro_batches == 0):
        problems.append(f"training.micro_batches={t.micro_batches} must divide training.batch_size={t.batch_size} "
                        "(micro-batches split the prompts)")
    return problems + losses.check_config(t)


def make_optimizer(*, learning_rate: float, total_steps: int, warmup_steps: int = 0, schedule: str = "constant",
                   weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                   max_grad_norm: float = 1.0) -> optax.GradientTransformation:
    """AdamW with warm-up then constant / cosine / linear decay, after global-norm clipping."""
    total_steps = max(int(total_steps), 1)
    warmup_steps = min(int(warmup_steps), total_steps)
    if schedule not in SCHEDULES:
        raise ValueError(f"training.schedule={schedule!r} is not one of {list(SCHEDULES)}")
    decay = SCHEDULES[schedule](learning_rate, max(total_steps - warmup_steps, 1))
    lr = optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup_steps), decay], [warmup_steps]) \
        if warmup_steps else decay
    parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm and max_grad_norm > 0 else []
    parts.append(optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay))
    return optax.chain(*parts)


def _pair_logps(model, batch: PairBatch, chunk: int | None = None):
    """Chosen and rejected summed log-probs [B*P] and chosen token counts [B*P]."""
    b, _, p, r = batch.ids.shape
    total, count = logprobs.response_logprobs(model, batch.prompt_ids, batch.prompt_mask,
                                              batch.ids.reshape(b, 2 * p, r), batch.mask.reshape(b, 2 * p, r),
                                              chunk=chunk)
    return total[:, :p].reshape(-1), total[:, p:].reshape(-1), count[:, :p].reshape(-1)


def _split_micro(batch: PairBatch, m: int) -> PairBatch:
    """Split the prompts (and their pairs) into m micro-batches, leading axis m; micro-batch j holds
    prompts j, m + j, 2m + j, ... so that each keeps the batch axes' split of the rows (a mesh
    splits the prompts in contiguous blocks)."""
    b = batch.prompt_ids.shape[0]
    if b % m:
        raise ValueError(f"training.micro_batches={m} does not divide the batch of {b} prompts")
    return jax.tree.map(lambda x: x.reshape(b // m, m, *x.shape[1:]).swapaxes(0, 1), batch)


def _join_micro(x, m: int):
    """[m, B/m * P] per-pair values of `_split_micro`'s micro-batches -> [B, P] in prompt order."""
    return x.reshape(m, -1, *x.shape[2:]).swapaxes(0, 1).reshape(-1, *x.shape[2:])


def train_step(graphdef, optimizer: optax.GradientTransformation, hp: StepConfig,
               params, frozen, ref, opt_state, batch: PairBatch):
    """One optimizer update on a batch of pairs -> (params, opt_state, metrics).

    Jit it with graphdef, optimizer and hp bound (functools.partial) and donate params and
    opt_state. metrics["pair_loss"] is each pair's loss [B, P] (before the update), metrics["pair_dpo"] its
    DPO term alone (the bandit rewards of training/feedback.py read them).
    """
    ref_model = nnx.merge(graphdef, ref, frozen)
    n_pairs = jnp.maximum(jnp.sum(batch.weights), 1.0)
    b = batch.prompt_ids.shape[0]
    m = micro_batch_count(b, hp.micro_batches, hp.batch_shards)
    micro = _split_micro(batch, m)

    kw = dict(beta=hp.beta, alpha_nll=hp.alpha_nll, loss_type=hp.loss_type, label_smoothing=hp.label_smoothing)

    def loss_fn(p, mb: PairBatch, rc, rr):
        model = nnx.merge(graphdef, p, frozen)
        c, r, n_tok = _pair_logps(model, mb, hp.chunk)
        lp = losses.PairLogps(c, r, rc, rr, n_tok)
        sums = losses.preference_loss_sums(lp, mb.weights.reshape(-1), **kw)
        dpo = losses.dpo_terms(lp, beta=hp.beta, loss_type=hp.loss_type, label_smoothing=hp.label_smoothing)[0]
        return sums["loss"] / n_pairs, (sums, (dpo + hp.alpha_nll * losses.nll_terms(lp), dpo))

    grad_fn = jax.grad(loss_fn, has_aux=True)

    def accumulate(carry, mb):
        grads, sums = carry
        # the reference's log-probs of this micro-batch only (outside the gradient)
        rc, rr, _ = jax.lax.stop_gradient(_pair_logps(ref_model, mb, hp.chunk))
        g, (s, per_pair) = grad_fn(params, mb, rc, rr)
        return (jax.tree.map(jnp.add, grads, g), jax.tree.map(jnp.add, sums, s)), per_pair

    zero_grads = jax.tree.map(jnp.zeros_like, params)
    # the scan carry's zero loss sums: their structure from the loss on placeholder log-probs (tracing
    # the model's gradient a second time for it cost ~40 % of this function's trace)
    pairs = micro.weights[0].size
    zero = jnp.zeros((pairs,), jnp.float32)
    zero_sums = jax.tree.map(lambda _: jnp.zeros((), jnp.float32), jax.eval_shape(
        lambda: losses.preference_loss_sums(losses.PairLogps(zero, zero, zero, zero, zero), zero, **kw)))
    (grads, sums), (per_pair, per_dpo) = jax.lax.scan(accumulate, (zero_grads, zero_sums), micro)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = losses.finalise(sums)
    metrics["grad_norm"] = optax.global_norm(grads)
    metrics["pair_loss"] = _join_micro(per_pair, m).reshape(batch.weights.shape)
    metrics["pair_dpo"] = _join_micro(per_dpo, m).reshape(batch.weights.shape)
    return params, opt_state, metrics
