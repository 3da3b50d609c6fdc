"""Device memory of a run, per device, for several meshes, from abstract shapes (nothing loaded).

    python -m laser_jax.memory --config configs/gsm8k.py --meshes 1x8x1,1x16x1,1x32x1,2x16x2

(laser_jax/cli/memory.py; `table` below is what it prints.)

Each model is built with `nnx.eval_shape` from its architecture (offline presets of the paper's
models, `models/presets.py`, or the checkpoint's config when it is on disk); every parameter's
bytes are divided by the number of shards its logical axes get on the mesh (the same rules the
run uses). Rows: the policy (frozen base, LoRA adapters + AdamW moments, or the full model + AdamW
and a full reference), the reference's trainable part, the reward models (policy + reference for
implicit DPO), the sampler's KV cache for B*n sequences, the attention scores of one layer of the
prefill of B prompts of sampling.max_prompt_tokens (float32; `policy.attention`: dense holds
[B, heads, T, T], chunked [B, heads, chunk, chunk]; auto = dense up to
decoder.DENSE_ATTENTION_MAX pairs), and the train step's float32 logits for one micro-batch.
Other activations (small with remat) are not counted.
"""

from __future__ import annotations

import math

import numpy as np
from flax import nnx

from laser_jax.config import from_config
from laser_jax import sharding as shd
from laser_jax.models import decoder as D
from laser_jax.models.config import DecoderConfig
from laser_jax.models.loading import load_config
from laser_jax.models.lora import add_lora
from laser_jax.models.presets import PRESETS

GiB = 1024 ** 3


def parse_mesh(text: str) -> tuple[int, int, int]:
    """"DxFxT" (data x fsdp x tensor sizes, each >= 1) -> (D, F, T); ValueError otherwise."""
    try:
        mesh = tuple(int(x) for x in text.split("x"))
    except ValueError:
        mesh = ()
    if len(mesh) != 3 or min(mesh) < 1:
        raise ValueError(f"{text!r}: give sizes like 1x8x1 (data x fsdp x tensor)")
    return mesh


def architecture(path: str) -> DecoderConfig:
    if path in PRESETS:
        return PRESETS[path]
    return load_config(path)


def sharded_bytes(cfg: DecoderConfig, dtype, sizes: dict[str, int], rules=shd.DEFAULT_RULES, lora_rank: int = 0):
    """(frozen bytes, LoRA bytes) per device for one model."""

    def build():
        m = D.build(cfg, dtype=dtype, rngs=nnx.Rngs(0))
        if lora_rank:
            add_lora(m, lora_rank, 2.0 * lora_rank)
        return m

    abstract = nnx.eval_shape(build)
    frozen = lora = 0.0
    for _, v in nnx.to_flat_state(nnx.state(abstract)):
        names = v.get_metadata().get("out_sharding") or (None,) * len(v.shape)
        spec = shd.logical_to_spec(names, rules, sizes, v.shape)
        b = math.prod(v.shape) * np.dtype(v.dtype).itemsize / shd.shard_fraction(spec, sizes)
        if isinstance(v, nnx.LoRAParam):
            lora += b
        else:
            frozen += b
    return frozen, lora


def plan(c, mesh: tuple[int, int, int], rules=shd.DEFAULT_RULES) -> dict[str, float]:
    """Bytes per device for run config `c` (a ConfigDict or a RunConfig) on a (data, fsdp, tensor) mesh."""
    c = from_config(c)
    sizes = dict(zip(shd.MESH_AXES, mesh))
    dtype = D.to_dtype(c.policy.dtype)
    pol = architecture(c.policy.path)
    rank = int(c.policy.lora_rank)
    frozen, lora = sharded_bytes(pol, dtype, sizes, rules, rank)
    out = {}
    if rank:
        out["policy (frozen base)"] = frozen
        out["LoRA + AdamW + reference LoRA"] = lora * 4  # params, mu, nu, reference copy
    else:
        out["policy + AdamW"] = frozen * 3
        out["reference (full copy)"] = frozen
    rm_bytes = 0.0
    for rm in c.rewards:
        if rm["kind"] in ("verifier", "python", "http"):  # programs and served RMs: no device memory here
            continue
        rm_bytes += sharded_bytes(architecture(rm["path"]), dtype, sizes, rules)[0]
        if rm["kind"] == "implicit_dpo" and rm.get("ref_path"):  # an adapter's reference is its base
            rm_bytes += sharded_bytes(architecture(rm["ref_path"]), dtype, sizes, rules)[0]
    out["reward models"] = rm_bytes
    batch_shards = sizes["data"] * sizes["fsdp"]
    kv_shards = sizes["tensor"] if pol.num_kv_heads % sizes["tensor"] == 0 else 1
    seqs = c.training.batch_size * c.sampling.n
    slots = c.sampling.max_prompt_tokens + c.sampling.max_new_tokens
    kv = 2 * pol.num_layers * seqs * slots * pol.num_kv_heads * pol.head_dim * np.dtype(dtype).itemsize
    out["sampling KV cache"] = kv / (min(batch_shards, seqs) * kv_shards)
    out["attention scores (prefill, one layer)"] = attention_bytes(
        pol, c.training.batch_size, c.sampling.max_prompt_tokens, c.policy.attention,
        batch_shards, sizes["tensor"] if pol.num_heads % sizes["tensor"] == 0 else 1)
    rows = 2 * c.training.pairs_per_prompt * c.training.batch_size // c.training.micro_batches
    vocab_shards = sizes["tensor"] if pol.vocab_size % sizes["tensor"] == 0 else 1
    out["train logits (f32, one micro-batch)"] = rows * c.sampling.max_new_tokens * pol.vocab_size * 4 / (
        min(batch_shards, rows) * vocab_shards)
    out["total"] = sum(out.values())
    return out


def attention_bytes(cfg: DecoderConfig, batch: int, tokens: int, impl: str, batch_shards: int = 1,
                    head_shards: int = 1) -> float:
    """Float32 attention scores alive at once in one layer of a prefill of `batch` prompts of
    `tokens` tokens (models/decoder.attend): [B, heads, T, T] dense, [B, heads, c, c] chunked."""
    side = min(D.ATTENTION_CHUNK, tokens) if D.is_chunked(impl, tokens, tokens) else tokens
    return batch * cfg.num_heads * side * side * 4 / (min(batch_shards, batch) * head_shards)


def table(c, meshes: list[tuple[int, int, int]]) -> str:
    plans = [plan(c, m) for m in meshes]
    head = ["GiB per device"] + [f"{m[0]}x{m[1]}x{m[2]} ({math.prod(m)} dev)" for m in meshes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in plans[0]:
        lines.append("| " + " | ".join([key] + [f"{p[key] / GiB:.1f}" for p in plans]) + " |")
    return "\n".join(lines)


def presets_table(meshes: list[tuple[int, int, int]], dtype: str = "bfloat16") -> str:
    """Every preset architecture (models/presets.py): family, parameters and its weights' GiB per
    device in `dtype` on each mesh (what `python -m laser_jax.memory --presets` prints)."""
    jdtype = D.to_dtype(dtype)
    head = ["preset", "family", "params (B)"] + [f"{dtype} GiB/dev {m[0]}x{m[1]}x{m[2]}" for m in meshes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, cfg in PRESETS.items():
        cells = [f"{sharded_bytes(cfg, jdtype, dict(zip(shd.MESH_AXES, m)))[0] / GiB:.2f}" for m in meshes]
        lines.append("| " + " | ".join([name, cfg.family, f"{cfg.num_params() / 1e9:.2f}"] + cells) + " |")
    return "\n".join(lines)
