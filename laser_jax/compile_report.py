"""Every jitted function of one LASeR step, compiled by the TPU compiler for a TPU slice that is not
here, with the run's real shapes and shardings; XLA's memory and cost of each (`xla_cost.measure`).

    reports = [compile_run(config, "v5e:4x4", mesh=(1, 16, 1))]      # needs libtpu, no TPU

The run is built abstractly: every model with `nnx.eval_shape` from its architecture (the paper's
models from `models/presets.py`, no download), every array a `jax.ShapeDtypeStruct` carrying the
`NamedSharding` the run would give it (`sharding.state_shardings`, `global_batch`'s batch split).
Functions, each lowered with the same jit settings the run uses:
- context: the bandit's context (`training.runtime.compile_step`'s context function);
- select / update: the selector's (its state for K reward models and the policy's hidden size);
- sample_prefill / sample_decode_step: the sampler (`sampling.start_jit`, `decode_step_jit`):
  B prompts of sampling.max_prompt_tokens, the KV cache of B x n sequences;
- score:<rm>: each neural reward model's kernel on one micro-batch of the shapes the run gives it
  (prompt-once `lm_shared_sums` for likelihood / implicit DPO, `classifier_logits`); an implicit
  DPO RM runs it for its policy and its reference (same architecture: one compile);
- train_step: `training.update.train_step` (LoRA or full fine-tuning, as the config says).
Memory per function: `peak_bytes` = the run's resident state per chip (every model's weights, the
reference, optimizer and bandit states: they stay on the device the whole run) + the function's
inputs that are not resident + its outputs not written over donated inputs + XLA's temporaries.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from laser_jax import sampling
from laser_jax import sharding as shd
from laser_jax.bandit import hparams_from_args, make_selector
from laser_jax.config import from_config
from laser_jax.footprint import architecture
from laser_jax.models import decoder as D
from laser_jax.models.lora import add_lora, frozen_filter, trainable_filter
from laser_jax.rewards.batching import bucket_length, bucket_rows
from laser_jax.rewards.neural import DEFAULT_BATCH, classifier_logits, lm_shared_sums
from laser_jax.rewards.spec import DEFAULT_CHUNK
from laser_jax.training.runtime import compile_step
from laser_jax.training.update import PairBatch, StepConfig, make_optimizer, micro_batch_count
from laser_jax.xla_cost import measure, parse_topology, tpu_topology


def abstract(tree, shardings):
    """ShapeDtypeStructs of `tree` (an nnx.State or arrays) carrying `shardings` (a matching tree)."""
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


def abstract_state(state, mesh):
    """An abstract nnx.State with the shardings its logical names give on `mesh`."""
    return jax.tree.map(lambda s, var: jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                                                       var),
                        shd.state_shardings(state, mesh), state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def batch_arg(shape, dtype, mesh):
    """A batch-major input as `sharding.global_batch` places it."""
    return jax.ShapeDtypeStruct(shape, dtype, sharding=NamedSharding(mesh, shd.data_spec(len(shape), mesh=mesh,
                                                                                        shape=shape)))


def replicated_arg(shape, dtype, mesh):
    return jax.ShapeDtypeStruct(shape, dtype, sharding=shd.replicated(mesh))


def chip_bytes(tree) -> int:
    """Bytes per chip of the abstract arrays in `tree` (the largest shard of each)."""
    total = 0
    for x in jax.tree.leaves(tree):
        shape = x.sharding.shard_shape(x.shape) if getattr(x, "sharding", None) is not None else x.shape
        total += math.prod(shape) * np.dtype(x.dtype).itemsize
    return total


def policy_parts(c, mesh):
    """(graphdef, params, frozen) of the policy, abstract and placed, as `build_runtime` splits it."""
    cfg = architecture(c.policy.path)
    lora = c.policy.lora_rank > 0

    def build():
        m = D.with_attention(D.build(cfg, dtype=D.to_dtype(c.policy.dtype), rngs=nnx.Rngs(0),
                                     remat=c.policy.remat), c.policy.attention)
        if lora:
            add_lora(m, c.policy.lora_rank, c.policy.lora_alpha, tuple(c.policy.lora_targets), seed=c.seed)
        return m

    graphdef, params, frozen = nnx.split(nnx.eval_shape(build), trainable_filter(lora), frozen_filter(lora))
    return graphdef, abstract_state(params, mesh), abstract_state(frozen, mesh), cfg


def rm_model(path: str, dtype, mesh):
    """(graphdef, abstract placed state, config) of one reward model's network."""
    cfg = architecture(path)
    graphdef, state = nnx.split(nnx.eval_shape(lambda: D.build(cfg, dtype=D.to_dtype(dtype), rngs=nnx.Rngs(0))))
    return graphdef, abstract_state(state, mesh), cfg


class Job:
    """One function to compile: the jitted callable, its abstract arguments, the resident part of
    those arguments (bytes per chip) and the scan trip count its cost is multiplied by."""

    def __init__(self, fn, args, kwargs=None, resident: int = 0, scan_trips: int = 1, note: str = ""):
        self.fn, self.args, self.kwargs = fn, args, kwargs or {}
        self.resident, self.scan_trips, self.note = resident, scan_trips, note

    def compile(self):
        return self.fn.lower(*self.args, **self.kwargs).compile()


def policy_jobs(c, mesh) -> tuple[dict, dict[str, int]]:
    """The policy's functions (context, sampler, train step) and the resident bytes they hold."""
    graphdef, params, frozen, cfg = policy_parts(c, mesh)
    t, s = c.training, c.sampling
    b, tp, n, m = t.batch_size, s.max_prompt_tokens, s.n, s.max_new_tokens
    hp = StepConfig(beta=t.beta, alpha_nll=t.alpha_nll, loss_type=t.loss_type, label_smoothing=t.label_smoothing,
                    micro_batches=t.micro_batches)
    optimizer = make_optimizer(learning_rate=t.learning_rate, total_steps=max(t.iterations, 1),
                               warmup_steps=t.warmup_steps, schedule=t.schedule, weight_decay=t.weight_decay,
                               max_grad_norm=t.max_grad_norm)
    _, opt_sh, step_fn, context_fn = compile_step(graphdef, mesh, params, frozen, optimizer, hp, c.bandit.context)
    opt_state = abstract(jax.eval_shape(optimizer.init, params), opt_sh)
    resident = {"policy weights": chip_bytes((params, frozen)), "reference": chip_bytes(params),
                "optimizer state": chip_bytes(opt_state)}
    ids, mask = batch_arg((b, tp), jnp.int32, mesh), batch_arg((b, tp), jnp.int32, mesh)
    jobs = {"context": Job(context_fn, (params, frozen, ids, mask), resident=chip_bytes((params, frozen)),
                           scan_trips=cfg.num_layers)}

    # the sampler: the merged policy, as `sampling.sample` splits it
    sg, sstate = nnx.split(nnx.merge(graphdef, params, frozen))
    st = sampling.static_config(sampling.SamplingConfig(max_new_tokens=m, temperature=s.temperature, top_p=s.top_p,
                                                        top_k=s.top_k, n=n, eos_ids=(0,), pad_id=0))
    key = replicated_arg((2,), jnp.uint32, mesh)
    scal = (replicated_arg((), jnp.float32, mesh), replicated_arg((), jnp.float32, mesh),
            replicated_arg((), jnp.int32, mesh))
    w = chip_bytes(sstate)
    start = Job(sampling.start_jit, (sg, sstate, ids, mask, key, *scal), {"st": st, "mesh": mesh}, resident=w,
                scan_trips=cfg.num_layers)
    jobs["sample_prefill"] = start
    carry_shapes = jax.eval_shape(lambda *a: sampling.start_jit(*a, st=st, mesh=mesh), sg, sstate, ids, mask, key, *scal)
    def carry_shardings(compiled):  # the prefill's own, or (refused) its batch-major split
        if compiled is not None:
            return compiled.output_shardings
        return jax.tree.map(lambda x: NamedSharding(mesh, shd.data_spec(x.ndim, mesh=mesh, shape=x.shape)
                                                    if x.ndim else jax.sharding.PartitionSpec()),
                            carry_shapes)

    jobs["sample_decode_step"] = ("after", "sample_prefill", lambda compiled: Job(
        sampling.decode_step_jit, (sg, sstate, abstract(carry_shapes, carry_shardings(compiled)), key, *scal),
        {"st": st, "mesh": mesh}, resident=w, note="x max_new_tokens per sampling call"))

    # the train step on B prompts x P pairs of max_new_tokens responses
    micro = micro_batch_count(b, hp.micro_batches, shd.batch_shards(mesh))  # as the step runs them
    p = t.pairs_per_prompt
    batch = PairBatch(batch_arg((b, tp), jnp.int32, mesh), batch_arg((b, tp), jnp.int32, mesh),
                      batch_arg((b, 2, p, m), jnp.int32, mesh), batch_arg((b, 2, p, m), jnp.int32, mesh),
                      batch_arg((b, p), jnp.float32, mesh))
    jobs["train_step"] = Job(step_fn, (params, frozen, params, opt_state, batch),
                             resident=sum(resident.values()), scan_trips=cfg.num_layers * micro,
                             note=f"cost x layers x micro-batches run ({micro} of micro_batches={hp.micro_batches})")
    return jobs, resident


def reward_jobs(c, mesh) -> tuple[dict, dict[str, int]]:
    """One scoring job per neural reward model, on one micro-batch of the shapes the run gives it."""
    s = c.sampling
    rep = shd.replicated(mesh)
    jobs, resident = {}, {}
    for rm in c.rewards:
        kind = rm["kind"]
        if kind not in ("classifier", "likelihood", "implicit_dpo"):
            continue  # programs, served and judge RMs hold no device memory here
        name = rm.get("name") or rm["path"]
        graphdef, state, cfg = rm_model(rm["path"], rm.get("dtype") or c.policy.dtype, mesh)
        resident[f"rm {name}"] = chip_bytes(state)
        if kind == "implicit_dpo" and rm.get("ref_path"):
            resident[f"rm {name} (reference)"] = chip_bytes(rm_model(rm["ref_path"], rm.get("dtype")
                                                                      or c.policy.dtype, mesh)[1])
        bs = int(rm.get("batch_size") or DEFAULT_BATCH)
        if kind == "classifier":
            rows, length = bucket_rows(min(bs, c.training.batch_size * s.n), bs), bucket_length(
                s.max_prompt_tokens + s.max_new_tokens)
            ids = batch_arg((rows, length), jnp.int32, mesh)
            jobs[f"score:{name}"] = Job(classifier_logits, (graphdef, state, ids, ids),
                                        {"out_sharding": rep}, resident=chip_bytes(state), scan_trips=cfg.num_layers)
            continue
        per = max(1, bs // s.n)  # prompt-once batches (rewards/batching.shared_batches)
        b, nn = bucket_rows(per, per), bucket_rows(s.n, 1 << 30)
        sp, r = bucket_length(s.max_prompt_tokens), bucket_length(s.max_new_tokens)
        resp = jax.ShapeDtypeStruct((b, nn, r), jnp.int32, sharding=shd.rows_sharding((b, nn, r), mesh))
        args = (graphdef, state, batch_arg((b, sp), jnp.int32, mesh), batch_arg((b, sp), jnp.int32, mesh), resp, resp)
        chunk = rm.get("chunk", DEFAULT_CHUNK)
        note = "run twice (policy and reference)" if kind == "implicit_dpo" else ""
        jobs[f"score:{name}"] = Job(lm_shared_sums, args, {"chunk": chunk, "out_sharding": rep},
                                    resident=chip_bytes(state), scan_trips=cfg.num_layers, note=note)
    return jobs, resident


def selector_jobs(c, mesh, hidden: int, num_arms: int) -> tuple[dict, dict[str, int]]:
    """The selector's select and update on its state for `num_arms` RMs and contexts of `hidden`."""
    selector = make_selector(c.selector, **hparams_from_args(c.selector, c.selector_args, c.bandit.normalise))
    rep = shd.replicated(mesh)
    state = jax.eval_shape(lambda: selector.init(jax.random.key(0), num_arms, hidden))
    state = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=rep), state)
    b = c.training.batch_size
    ctx = replicated_arg((b, hidden), jnp.float32, mesh)
    key = jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=rep)
    step = replicated_arg((), jnp.int32, mesh)
    weights = replicated_arg((b, num_arms), jnp.float32, mesh)
    reward = replicated_arg((b,) if selector.per_prompt else (), jnp.float32, mesh)
    select = jax.jit(selector.select, out_shardings=rep)
    update = jax.jit(selector.update, out_shardings=rep, donate_argnums=(0,))
    w = chip_bytes(state)
    return ({"select": Job(select, (state, ctx, key, step), resident=w),
             "update": Job(update, (state, weights, ctx, reward), resident=w)}, {"bandit state": w})


_REFUSED = re.compile(r"required for HLO temporaries \(([0-9.]+)([KMGT])\)")
_USED = re.compile(r"Used ([0-9.]+)([KMGT]) of [0-9.]+[KMGT] hbm")


def refused(error: Exception, resident_total: int) -> dict:
    """The figures of a function XLA refused to compile because its temporaries exceed the chip's
    HBM: the temporaries from XLA's message, the rest unknown (None); other errors are raised."""
    m = _REFUSED.search(str(error)) or _USED.search(str(error))
    if "RESOURCE_EXHAUSTED" not in str(error) or not m:
        raise error
    # "HLO temporaries (X)": the temporaries; "Used X of Y hbm": everything (counted as temporaries: an upper bound)
    temp = int(float(m.group(1)) * 1024 ** "KMGT".index(m.group(2)) * 1024)
    return {"argument_bytes": None, "output_bytes": None, "alias_bytes": None, "temp_bytes": temp,
            "peak_bytes": resident_total + temp, "flops": None, "bytes_accessed": None, "collective_bytes": None,
            "collectives": {}, "scan_trips": None, "roofline_s": None, "bound": None,
            "refused": str(error).strip().splitlines()[0][:300]}


def default_mesh(chips: int) -> tuple[int, int, int]:
    return (1, chips, 1)


def search_mesh(chips: int, prompts: int) -> tuple[int, int, int]:
    """The mesh `--smallest` compiles a slice with: 1 x chips x 1 (fsdp over every chip), or, when
    the chips outnumber a batch's `prompts`, 1 x f x chips/f with f the largest divisor of both
    (more batch shards than prompts would hold whole copies of the sampler's cache and the step's
    activations: the rest goes to "tensor")."""
    if chips <= prompts:
        return (1, chips, 1)
    f = math.gcd(chips, prompts)
    return (1, f, chips // f)


def compile_run(c, topology: str, mesh_shape: tuple[int, int, int] | None = None, log=None,
                skip_if_resident_exceeds: bool = False) -> dict:
    """The report of one topology (see the module doc; JSON-ready). With `skip_if_resident_exceeds`
    (the smallest-slice search), a slice whose resident state per chip alone exceeds its HBM is
    reported as not fitting without compiling anything (`functions` empty)."""
    c = from_config(c)
    chip, _ = parse_topology(topology)
    topo = tpu_topology(topology)
    devices = list(topo.devices)
    mesh_shape = tuple(mesh_shape or default_mesh(len(devices)))
    if math.prod(mesh_shape) != len(devices):
        raise ValueError(f"--mesh {'x'.join(map(str, mesh_shape))} has {math.prod(mesh_shape)} chips but "
                         f"{topology} has {len(devices)}")
    mesh = shd.make_mesh(mesh_shape, devices=devices)
    jobs, resident = policy_jobs(c, mesh)
    rjobs, rres = reward_jobs(c, mesh)
    hidden = architecture(c.policy.path).hidden_size
    sjobs, sres = selector_jobs(c, mesh, hidden, len(c.rewards))
    jobs = {**jobs, **sjobs, **rjobs}
    jobs = {k: jobs[k] for k in ("context", "select", "update", "sample_prefill", "sample_decode_step",
                                 *rjobs, "train_step")}
    resident = {**resident, **rres, **sres}
    resident_total = sum(resident.values())
    base = {"topology": topology, "chip": chip.name, "chips": len(devices), "hbm_bytes": chip.hbm_bytes,
            "mesh": "x".join(map(str, mesh_shape)), "resident_bytes": resident_total, "resident": resident}
    if resident_total > chip.hbm_bytes and skip_if_resident_exceeds:  # no function can fit: nothing to compile
        if log:
            log(f"{topology}: the resident state alone ({resident_total / 1024 ** 3:.2f} GiB/chip) exceeds HBM")
        return {**base, "peak_bytes": resident_total, "peak_function": "(resident state)", "fits": False,
                "functions": {}}
    functions, compiled_by_name = {}, {}
    for name, job in jobs.items():
        if isinstance(job, tuple):  # built from another function's compiled output shardings
            job = job[2](compiled_by_name.get(job[1]))
        if log:
            log(f"{topology}: compiling {name}")
        try:
            compiled = job.compile()
        except Exception as e:  # noqa: BLE001 - XLA refuses what does not fit; anything else is raised
            f = refused(e, resident_total)
        else:
            compiled_by_name[name] = compiled
            f = measure(compiled, chip, job.scan_trips)
            transient_in = max(f["argument_bytes"] - job.resident, 0)
            f["peak_bytes"] = resident_total + transient_in + max(f["output_bytes"] - f["alias_bytes"], 0) \
                + f["temp_bytes"]
        f["note"] = job.note
        functions[name] = f
    peak = max(f["peak_bytes"] for f in functions.values())
    return {**base, "peak_bytes": peak, "peak_function": max(functions, key=lambda k: functions[k]["peak_bytes"]),
            "fits": bool(peak <= chip.hbm_bytes), "functions": functions}
