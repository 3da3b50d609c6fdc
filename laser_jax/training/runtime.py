"""What a training run is made of, built once: `Runtime` (what does not change: data, models,
reward models, compiled functions) and `TrainState` (everything that changes, one pytree that is
checkpointed).

    rt, params = build_runtime(config, workdir, cache)
    state = init_state(rt, params)

Everything that changes lives in `TrainState` (trainable params, reference, optimizer state,
bandit state, RNG key, step). The data order is a function of (seed, iteration) (`iteration_batches`)
and every step's randomness is `fold_in(key, step)`, so a run stopped and resumed from a checkpoint
continues exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct
from ml_collections import ConfigDict

from laser_jax import sampling
from laser_jax import sharding as shd
from laser_jax.bandit import Selector, hparams_from_args, make_selector
from laser_jax.batch import eos_ids, family
from laser_jax.config import BanditSection, RunConfig, from_config
from laser_jax.errors import ConfigError
from laser_jax.data.example import DataError, Example
from laser_jax.data.tasks import configured_task, load_task, split_examples
from laser_jax.models import decoder as D
from laser_jax.models.cache import ModelCache
from laser_jax.models.lora import add_lora, frozen_filter, trainable_filter
from laser_jax.rewards import RMSet, build_reward_models
from laser_jax.training.update import StepConfig, make_optimizer, train_step

log = logging.getLogger("laser_jax")


@struct.dataclass
class TrainState:
    step: jax.Array  # int32, steps done
    params: Any  # nnx.State: what the optimizer trains
    ref: Any  # nnx.State: the reference policy's trainable part (frozen each iteration)
    opt_state: Any
    bandit: Any  # selector state
    key: jax.Array  # uint32 [2]: base PRNG key; step s uses fold_in(key, s)


@dataclasses.dataclass(frozen=True)
class Compiled:
    """The jitted functions of a run (shared by the runs of a comparison through `ModelCache`)."""

    optimizer: Any
    opt_shardings: Any  # the optimizer state's shardings
    step: Any  # train_step(params, frozen, ref, opt_state, batch) -> (params, opt_state, metrics)
    context: Any  # (params, frozen, ids, mask) -> [B, d] float32 contexts
    select: Any  # the selector's select / update, jitted with replicated outputs
    update: Any


@dataclasses.dataclass(frozen=True)
class Runtime:
    config: RunConfig
    workdir: Path
    mesh: Any
    tokenizer: Any
    graphdef: Any
    frozen: Any  # nnx.State: the LoRA base weights (empty for full fine-tuning)
    hidden_size: int
    selector: Selector
    rewards: RMSet  # the RMs in config order, same-architecture ones stacked for one vectorised call
    train_examples: list[Example]
    test_examples: list[Example]
    sample_cfg: sampling.SamplingConfig
    steps_per_iteration: int
    fns: Compiled
    warned: set = dataclasses.field(default_factory=set)  # warnings given once per run (e.g. per RM)

    @property
    def reward_names(self) -> list[str]:
        return self.rewards.names

    def policy(self, params):
        return nnx.merge(self.graphdef, params, self.frozen)


def of_families(examples: list[Example], families, split: str) -> list[Example]:
    """The examples of `families` (data.families; () = all); DataError when none is left."""
    if not families:
        return examples
    kept = [ex for ex in examples if family(ex) in families]
    if not kept:
        raise DataError(f"data.families={tuple(families)!r}: split {split!r} holds none of them (its families: "
                        f"{sorted({family(ex) for ex in examples})})")
    return kept


def load_data(c: RunConfig) -> tuple[list[Example], list[Example]]:
    d = c.data
    task = configured_task(d)  # jsonl: "jsonl:<data.metric>"
    load = lambda split: of_families(load_task(task, d.path, split), d.families, split)  # noqa: E731
    if d.train_split == d.test_split:
        examples = load(d.train_split)
        parts = split_examples(examples, (1 - d.holdout_fraction, d.holdout_fraction), seed=d.split_seed,
                               names=("train", "test"))
        train, test = parts["train"], parts["test"]
    else:
        train = load(d.train_split)
        try:
            test = load(d.test_split)
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


CONTEXTS = BanditSection.CONTEXTS


def compile_step(graphdef, mesh, params, frozen, optimizer, hp: StepConfig,
                 context: str = "last_hidden") -> tuple:
    """(optimizer, its state's shardings, the jitted train step, the jitted context function)."""
    params_sh, frozen_sh = shd.state_shardings(params, mesh), shd.state_shardings(frozen, mesh)
    # micro-batches never smaller than the batch axes' split (update.micro_batch_count)
    hp = dataclasses.replace(hp, batch_shards=shd.batch_shards(mesh))
    rep = shd.replicated(mesh)
    # AdamW moments follow their parameters; scalars (the step count) are replicated. Read from the
    # compiled init, so `params` may be abstract (ShapeDtypeStructs with shardings: compile_report)
    opt_sh = jax.tree.map(lambda s: s if isinstance(s, jax.sharding.NamedSharding) else rep,
                          jax.jit(optimizer.init).lower(params).compile().output_shardings)
    step = functools.partial(train_step, graphdef, optimizer, hp)

    def step_on_mesh(params, frozen, ref, opt_state, batch):
        with shd.activation_sharding(mesh):  # activations split over the batch axes, not over "embed"
            return step(params, frozen, ref, opt_state, batch)

    step_on_mesh.__name__ = "train_step"  # the compiled module's name, as before

    step_fn = jax.jit(step_on_mesh,
                      in_shardings=(params_sh, frozen_sh, params_sh, opt_sh, None),
                      out_shardings=(params_sh, opt_sh, rep), donate_argnums=(0, 3))

    @functools.partial(jax.jit, out_shardings=rep)  # the bandit's input: the same on every host
    def context_fn(params, frozen, ids, mask):
        """bandit.context: "last_hidden" (the final hidden state at each prompt's last token) or
        "mean_embedding" (the authors' code: the mean of the input embeddings over the prompt's
        tokens; the selector then averages over the batch as it does any context)."""
        model = nnx.merge(graphdef, params, frozen)
        if context == "mean_embedding":
            emb = model.model.embed(ids).astype(jnp.float32)  # [B, T, d]
            m = mask.astype(jnp.float32)[..., None]
            return jnp.sum(emb * m, axis=1) / jnp.maximum(jnp.sum(m, axis=1), 1.0)
        hidden, _ = model.hidden(ids, mask)
        return hidden[:, -1].astype(jnp.float32)  # left padding: the last slot is each prompt's last token

    return optimizer, opt_sh, step_fn, context_fn


def compile_selector(selector: Selector, mesh) -> tuple:
    """The selector's select / update, jitted with replicated outputs (the same on every host)."""
    return selector.jitted(out_shardings=shd.replicated(mesh))


def build_runtime(c: RunConfig | ConfigDict, workdir: Path, cache: ModelCache | None = None) -> tuple[Runtime, Any]:
    """Load data, policy (+ LoRA), tokenizer and reward models and compile the step's functions;
    returns the runtime and the initial trainable params. `cache` shares loaded models,
    tokenizers and compiled functions across runs in one process (the comparison runner); the
    policy is merged into a fresh module from the cached weights, so adding LoRA to it leaves the
    cache (and an RM sharing the checkpoint) untouched."""
    c = from_config(c)  # a RunConfig as it is; a ConfigDict (tests, notebooks) typed here
    cache = ModelCache() if cache is None else cache
    mesh = shd.make_mesh(c.mesh.shape)
    log.info("mesh %s over %d devices, %d processes (this is process %d)", dict(mesh.shape), mesh.size,
             jax.process_count(), jax.process_index())
    train_examples, test_examples = load_data(c)
    tokenizer = cache.tokenizer(c.policy.tokenizer or c.policy.path,
                                "policy.tokenizer" if c.policy.tokenizer else "policy.path")
    model = nnx.merge(*nnx.split(cache.model(c.policy.path, c.policy.dtype, mesh, "policy.path",
                                             remat=c.policy.remat)))
    if not isinstance(model, D.CausalLM):
        raise ConfigError(f"policy.path={c.policy.path!r} is a sequence classifier; the policy needs an LM head")
    model = D.with_attention(model, c.policy.attention)
    lora = c.policy.lora_rank > 0
    if lora:
        add_lora(model, c.policy.lora_rank, c.policy.lora_alpha, tuple(c.policy.lora_targets), seed=c.seed)
    graphdef, params, frozen = nnx.split(model, trainable_filter(lora), frozen_filter(lora))
    # every array on its sharding from the start, so compiled steps see the same input shardings always
    params, frozen = shd.place(params, mesh), shd.place(frozen, mesh)
    rewards = build_reward_models([dict(r) for r in c.rewards], mesh=mesh, dtype=c.policy.dtype,
                                  default_task=c.data.task, cache=cache)
    selector = make_selector(c.selector, **hparams_from_args(c.selector, c.selector_args, c.bandit.normalise))

    t = c.training
    steps_per_iteration = len(iteration_batches(train_examples, t.batch_size, c.seed, 0, c.data.batch_by_family))
    opt_args = dict(learning_rate=t.learning_rate, total_steps=t.iterations * steps_per_iteration,
                    warmup_steps=t.warmup_steps, schedule=t.schedule, weight_decay=t.weight_decay,
                    max_grad_norm=t.max_grad_norm)
    hp = StepConfig(beta=t.beta, alpha_nll=t.alpha_nll, loss_type=t.loss_type, label_smoothing=t.label_smoothing,
                    micro_batches=t.micro_batches)
    # the runs of a comparison share compiled functions (no re-tracing): the step per optimizer and
    # loss settings, the selector's functions per selector
    context = c.bandit.context
    step = cache.compiled(("train_step", graphdef, mesh, tuple(sorted(opt_args.items())), hp, context),
                          lambda: compile_step(graphdef, mesh, params, frozen, make_optimizer(**opt_args), hp,
                                               context))
    select = cache.compiled(("selector", c.selector, tuple(sorted(selector.hparams.items())), mesh),
                            lambda: compile_selector(selector, mesh))
    fns = Compiled(*step, *select)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    s = c.sampling
    sample_cfg = sampling.SamplingConfig(max_new_tokens=s.max_new_tokens, temperature=s.temperature, top_p=s.top_p,
                                         top_k=s.top_k, n=s.n, eos_ids=eos_ids(tokenizer, model.cfg.eos_token_id),
                                         pad_id=pad_id)
    rt = Runtime(config=c, workdir=Path(workdir), mesh=mesh, tokenizer=tokenizer, graphdef=graphdef, frozen=frozen,
                 hidden_size=model.cfg.hidden_size, selector=selector, rewards=RMSet(rewards),
                 train_examples=train_examples, test_examples=test_examples, sample_cfg=sample_cfg,
                 steps_per_iteration=steps_per_iteration, fns=fns)
    return rt, params


def init_bandit(rt: Runtime, num_arms: int | None = None):
    """The selector's initial state for ``num_arms`` reward models (default: the config's), replicated;
    seeded from config.seed alone, so a restore target or a grown state matches a fresh run's."""
    key = jax.random.fold_in(jax.random.PRNGKey(rt.config.seed), 1 << 20)
    k = len(rt.reward_names) if num_arms is None else num_arms
    return shd.put(rt.selector.init(key, k, rt.hidden_size), shd.replicated(rt.mesh))


def init_state(rt: Runtime, params) -> TrainState:
    key = jax.random.PRNGKey(rt.config.seed)
    rep = shd.replicated(rt.mesh)
    return TrainState(step=shd.put(np.zeros((), np.int32), rep), params=params, ref=copy_params(params),
                      opt_state=jax.jit(rt.fns.optimizer.init, out_shardings=rt.fns.opt_shardings)(params),
                      bandit=init_bandit(rt), key=shd.put(key, rep))


def copy_params(params):
    """A copy on the same shardings (the reference must not alias the donated params)."""
    return jax.tree.map(lambda x: jax.device_put(jnp.copy(x), x.sharding), params)
