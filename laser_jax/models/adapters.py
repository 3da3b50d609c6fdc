"""LoRA adapters as files: one .safetensors per adapter, checked against its base model at load.

    sha = save_adapter(model_with_lora, "math.safetensors", base="smollm2-135m-instruct")
    policy = load_adapter(base_model, "math.safetensors", sha256=sha)   # a new module; base untouched

The file (written atomically, `safetensors_io.write`):
- tensors "<module path>.lora_a" [*lead, *in, r] and "<module path>.lora_b" [*lead, r, *out], the
  module path being the `Dense`'s path in the model joined by "." (e.g. "model.layers.attn.q";
  *lead is the "layers" axis of a layer-stacked kernel), in the model's dtype;
- metadata (`__metadata__`, strings): format "laser_jax.lora_adapter", version "1", rank, scale (the
  multiplier of B @ A, alpha / rank), alpha, targets (JSON list of the projections' names), dtype,
  base (the base's path as the writer named it: informational), base_config_sha256 (of the base's
  `DecoderConfig`) and base_weights_sha256 (`base_identity`: a fingerprint of the base's weights).

`read_adapter` checks the file's sha256 when one is given (CheckpointError naming the file, the
expected and the actual hash) and the format; `apply_adapter` checks that the adapter fits the base
(same config hash, same weight fingerprint, every module present with the adapter's shapes), else a
CheckpointError naming the file and what differs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path

import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import nnx

from laser_jax.errors import CheckpointError
from laser_jax.models import safetensors_io
from laser_jax.models.layers import Dense
from laser_jax.models.lora import attach, lora_shapes
from laser_jax.sharding import to_host

FORMAT, VERSION = "laser_jax.lora_adapter", "1"
SHA256 = re.compile(r"[0-9a-f]{64}")
_SAMPLE = 1024  # elements per weight read into the base fingerprint


@dataclasses.dataclass(frozen=True)
class Adapter:
    """An adapter read from `path`: module path -> (lora_a, lora_b) numpy arrays, and its metadata."""

    path: str
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]
    rank: int
    scale: float
    targets: tuple[str, ...]
    base: str
    base_config_sha256: str
    base_weights_sha256: str
    sha256: str


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dense_modules(model) -> dict[str, Dense]:
    """Every projection of `model` by its dotted module path ("model.layers.attn.q")."""
    return {".".join(map(str, p)): m for p, m in nnx.iter_graph(model) if isinstance(m, Dense)}


def _lora_modules(model):
    """(dotted path, Dense) of every projection of `model` that carries an adapter."""
    return [(name, m) for name, m in dense_modules(model).items() if m.lora_a is not None]


# DecoderConfig's fields when adapters first recorded their base (before the Gemma families):
# these always enter the identity; a field added since enters only where it differs from its default,
# so adding a field to DecoderConfig leaves every adapter written before it valid.
_IDENTITY_FIELDS = (
    "vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
    "head_dim", "family", "head", "num_labels", "rope_theta", "rope_type", "rope_factor",
    "rope_low_freq_factor", "rope_high_freq_factor", "rope_original_max_position",
    "max_position_embeddings", "norm", "norm_eps", "qkv_bias", "o_bias", "mlp_bias", "qk_norm", "clip_qkv",
    "sliding_window", "layer_types", "tie_word_embeddings", "pad_token_id", "bos_token_id", "eos_token_id",
    "attention")


def config_identity(cfg) -> str:
    """The JSON of a DecoderConfig that an adapter's base_config_sha256 hashes: every field of
    `_IDENTITY_FIELDS`, and each later field whose value differs from its default."""
    out = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in _IDENTITY_FIELDS or value != f.default:
            out[f.name] = value
    return json.dumps(out, sort_keys=True, default=str)


def base_identity(model) -> tuple[str, str]:
    """(sha256 of the model's DecoderConfig, sha256 of a sample of its base weights: the first
    `_SAMPLE` values of each non-LoRA parameter, rounded to bfloat16 so that a float32 and a
    bfloat16 load of one checkpoint agree)."""
    cfg = config_identity(model.cfg)
    h = hashlib.sha256()
    state = nnx.state(model, nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam)))
    for path, x in sorted(nnx.to_flat_state(state), key=lambda kv: str(kv[0])):
        x = x.get_value() if hasattr(x, "get_value") else x
        sample = np.asarray(to_host(x.reshape(-1)[:_SAMPLE])).astype(np.float32).astype(ml_dtypes.bfloat16)
        h.update(f"{path}:{tuple(x.shape)}".encode())
        h.update(sample.tobytes())
    return hashlib.sha256(cfg.encode()).hexdigest(), h.hexdigest()


def save_adapter(model, path, *, base: str = "") -> str:
    """Write the adapters of `model` (a decoder after `add_lora` / training) to `path`; returns the
    file's sha256 (what an RM entry's `adapter_sha256` holds). `base` names the base model."""
    modules = _lora_modules(model)
    if not modules:
        raise ValueError("save_adapter: the model carries no LoRA adapter (add_lora first)")
    scales = {m.lora_scale for _, m in modules}
    ranks = {m.lora_a.shape[-1] for _, m in modules}
    if len(scales) != 1 or len(ranks) != 1:
        raise ValueError(f"save_adapter: one rank and scale per adapter file, got ranks {ranks}, scales {scales}")
    arrays = {}
    for name, m in modules:
        arrays[f"{name}.lora_a"] = np.asarray(to_host(m.lora_a.get_value()))
        arrays[f"{name}.lora_b"] = np.asarray(to_host(m.lora_b.get_value()))
    (scale,), (rank,) = scales, ranks
    cfg_sha, weights_sha = base_identity(model)
    meta = {"format": FORMAT, "version": VERSION, "rank": str(rank), "scale": repr(float(scale)),
            "alpha": repr(float(scale) * rank), "targets": json.dumps(sorted({n.rsplit(".", 1)[-1] for n, _ in modules})),
            "dtype": str(next(iter(arrays.values())).dtype), "base": str(base),
            "base_config_sha256": cfg_sha, "base_weights_sha256": weights_sha}
    safetensors_io.write(Path(path), arrays, meta)
    return file_sha256(path)


def read_adapter(path, sha256: str | None = None, where: str = "adapter") -> Adapter:
    """The adapter in `path`. `sha256` (64 hex digits): the file's expected hash, checked before
    anything is read. `where` names the config field in errors (e.g. "rewards[2].adapter")."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{where}={str(path)!r}: no such adapter file (write one with "
                              "laser_jax.models.adapters.save_adapter)")
    actual = file_sha256(path)
    if sha256 is not None and actual != str(sha256).lower():
        raise CheckpointError(f"{where}={str(path)!r}: sha256 mismatch: expected {sha256}, the file has {actual}; "
                              "the file changed since its hash was recorded: restore the right file or update "
                              "the entry's adapter_sha256")
    # validates offsets and sizes (CheckpointError naming the file)
    header, _, meta = safetensors_io.read_header(path, with_metadata=True)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}={str(path)!r} is not a laser_jax LoRA adapter (metadata format="
                              f"{meta.get('format')!r}, expected {FORMAT!r}); write it with save_adapter")
    tensors = {name: load() for name, _, load in safetensors_io.tensors(path)}
    arrays = {}
    for name in sorted(n[:-len(".lora_a")] for n in header if n.endswith(".lora_a")):
        if f"{name}.lora_b" not in tensors:
            raise CheckpointError(f"{where}={str(path)!r}: tensor {name}.lora_a has no {name}.lora_b")
        arrays[name] = (np.array(tensors[f"{name}.lora_a"]), np.array(tensors[f"{name}.lora_b"]))
    try:
        rank, scale, targets = int(meta["rank"]), float(meta["scale"]), tuple(json.loads(meta["targets"]))
        base_cfg, base_w = meta["base_config_sha256"], meta["base_weights_sha256"]
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{where}={str(path)!r}: malformed adapter metadata ({e!r}); write it again with "
                              "save_adapter") from None
    return Adapter(str(path), arrays, rank, scale, targets, meta.get("base", ""), base_cfg, base_w, actual)


def check_fits(base_model, adapter: Adapter, where: str = "adapter") -> dict[str, Dense]:
    """The base's modules by dotted path, after checking the adapter was made for this base;
    CheckpointError naming the file and every difference."""
    cfg_sha, weights_sha = base_identity(base_model)
    head = f"{where}={adapter.path!r}"
    if adapter.base_config_sha256 != cfg_sha:
        raise CheckpointError(f"{head} was made for another base architecture (config sha256 "
                              f"{adapter.base_config_sha256[:12]}..., this base {cfg_sha[:12]}...; its base was "
                              f"{adapter.base!r}): score it with the base it was trained on")
    if adapter.base_weights_sha256 != weights_sha:
        raise CheckpointError(f"{head} was made for a base with other weights (its base was {adapter.base!r}; "
                              "weight fingerprints differ): score it with the base it was trained on")
    modules = dense_modules(base_model)
    problems = []
    for name, (a, b) in adapter.arrays.items():
        if name not in modules:
            problems.append(f"{name}: no such projection in the base")
            continue
        want = lora_shapes(modules[name], adapter.rank)
        if (a.shape, b.shape) != want:
            problems.append(f"{name}: shapes {a.shape}, {b.shape}; the base needs {want[0]}, {want[1]}")
    if problems:
        raise CheckpointError(f"{head} does not fit the base model: " + "; ".join(problems))
    return modules


def apply_adapter(base_model, adapter: Adapter, where: str = "adapter"):
    """A new module = `base_model` (its arrays shared, the module itself untouched) + the adapter."""
    check_fits(base_model, adapter, where)
    model = nnx.merge(*nnx.split(base_model))
    modules = dense_modules(model)
    for name, (a, b) in adapter.arrays.items():
        dtype = modules[name].kernel.get_value().dtype
        attach(modules[name], jnp.asarray(a, dtype), jnp.asarray(b, dtype), adapter.scale)
    return model


def load_adapter(base_model, path, sha256: str | None = None, where: str = "adapter"):
    """`apply_adapter(base_model, read_adapter(path, sha256))`: the adapted model."""
    return apply_adapter(base_model, read_adapter(path, sha256, where), where)
