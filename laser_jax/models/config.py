"""One config for every decoder family laser_jax runs (Llama, Mistral, Qwen2, Qwen3, OLMo, Gemma 2,
Gemma 3 text).

`DecoderConfig` is architecture only (no training settings). It is read from an HF config.json
(`from_hf`), from GGUF metadata (see `gguf_io.py`) or from the JSON that a laser_jax Flax checkpoint
stores (`from_dict`), and it round-trips through `to_dict`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from laser_jax.errors import CheckpointError


# HF `architectures` / `model_type` values we can build, -> (family, head kind).
ARCHITECTURES = {
    "LlamaForCausalLM": ("llama", "lm"),
    "LlamaForSequenceClassification": ("llama", "classifier"),
    "MistralForCausalLM": ("mistral", "lm"),
    "MistralForSequenceClassification": ("mistral", "classifier"),
    "Qwen2ForCausalLM": ("qwen2", "lm"),
    "Qwen2ForSequenceClassification": ("qwen2", "classifier"),
    "Qwen3ForCausalLM": ("qwen3", "lm"),
    "Qwen3ForSequenceClassification": ("qwen3", "classifier"),
    "OlmoForCausalLM": ("olmo", "lm"),
    "OlmoForSequenceClassification": ("olmo", "classifier"),
    "Gemma2ForCausalLM": ("gemma2", "lm"),
    "Gemma2ForSequenceClassification": ("gemma2", "classifier"),
    "Gemma3ForCausalLM": ("gemma3", "lm"),
    "Gemma3TextForSequenceClassification": ("gemma3", "classifier"),
}
FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "olmo", "gemma2", "gemma3")
# a config.json without `architectures`: its model_type's causal LM
MODEL_TYPES = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
               "qwen3": "Qwen3ForCausalLM", "olmo": "OlmoForCausalLM", "gemma2": "Gemma2ForCausalLM",
               "gemma3_text": "Gemma3ForCausalLM"}
# What a family fixes whatever its config.json says (from_hf reads the rest). Gemma: RMSNorm
# scaled by (1 + w), four norms per layer (`sandwich_norm`), embeddings times sqrt(hidden_size);
# Gemma 3 adds (1 + w) RMSNorm on each head's q and k.
FAMILY_SETTINGS: dict[str, dict[str, Any]] = {
    "qwen2": dict(qkv_bias=True, o_bias=False),
    "qwen3": dict(qk_norm=True),
    "olmo": dict(norm="layernorm_np", norm_eps=1e-5),
    "gemma2": dict(norm="rms_1p", sandwich_norm=True, scale_embeddings=True),
    "gemma3": dict(norm="rms_1p", sandwich_norm=True, scale_embeddings=True, qk_norm=True),
}
# HF hidden_act / hidden_activation -> DecoderConfig.activation
ACTIVATIONS = {"silu": "silu", "swish": "silu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_tanh": "gelu_tanh",
               "gelu": "gelu"}
ROPE_TYPES = ("default", "linear", "llama3")


ATTENTION = ("auto", "dense", "chunked", "dot_product")


def check_attention(value, field: str) -> list[str]:
    """A config's attention choice (DecoderConfig.attention), as a problem naming ``field``."""
    return [] if value in ATTENTION else [f"{field}={value!r} is not one of {ATTENTION}"]


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    family: str = "llama"
    head: str = "lm"  # "lm" (causal LM) or "classifier" (scalar/label head at the last non-pad token)
    num_labels: int = 1
    rope_theta: float = 10000.0
    rope_type: str = "default"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_position: int = 8192
    max_position_embeddings: int = 4096
    # "rms" (RMSNorm times w), "rms_1p" (Gemma: times 1 + w, in float32) or "layernorm_np" (OLMo:
    # non-parametric LayerNorm); q/k norms (`qk_norm`) take the same kind
    norm: str = "rms"
    norm_eps: float = 1e-6
    qkv_bias: bool = False  # Qwen2
    o_bias: bool = False
    mlp_bias: bool = False
    qk_norm: bool = False  # Qwen3: RMSNorm on each head's q and k
    clip_qkv: float | None = None  # OLMo
    sliding_window: int | None = None  # Mistral / Qwen sliding layers
    layer_types: tuple[str, ...] | None = None  # per layer "full_attention" / "sliding_attention"
    tie_word_embeddings: bool = False
    activation: str = "silu"  # the gated MLP's: "silu" (SwiGLU), "gelu_tanh" (GeGLU, Gemma), "gelu" (exact)
    sandwich_norm: bool = False  # Gemma: norms on the attention and MLP outputs too (4 per layer)
    scale_embeddings: bool = False  # Gemma: embeddings times sqrt(hidden_size), in their dtype
    query_pre_attn_scalar: float | None = None  # attention scale query_pre_attn_scalar**-0.5 (else head_dim's)
    attn_softcap: float | None = None  # Gemma 2: scores -> cap * tanh(scores / cap) before the mask
    final_softcap: float | None = None  # Gemma 2/3: the same on the LM logits
    rope_local_theta: float | None = None  # Gemma 3: default RoPE with this base on sliding layers
    pad_token_id: int | None = None
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    # how `attention.attend` computes attention (not a property of the checkpoint): "auto" (dense
    # [T, S] scores up to DENSE_ATTENTION_MAX query-key pairs per head, chunked above), "dense",
    # "chunked" (online softmax over key chunks, query chunks mapped: memory O(chunk^2)), or
    # "dot_product" (jax.nn.dot_product_attention: cuDNN flash attention on GPU)
    attention: str = "auto"

    def __post_init__(self):
        problems = []
        if self.attention not in ATTENTION:
            problems.append(f"attention={self.attention!r} (use one of {', '.join(ATTENTION)})")
        if self.family not in FAMILIES:
            problems.append(f"family={self.family!r} (supported: {', '.join(FAMILIES)})")
        if self.head not in ("lm", "classifier"):
            problems.append(f"head={self.head!r} (use 'lm' or 'classifier')")
        if self.rope_type not in ROPE_TYPES:
            problems.append(f"rope_type={self.rope_type!r} (supported: {', '.join(ROPE_TYPES)})")
        if self.norm not in ("rms", "rms_1p", "layernorm_np"):
            problems.append(f"norm={self.norm!r} (use 'rms', 'rms_1p' or 'layernorm_np')")
        if self.activation not in ("silu", "gelu_tanh", "gelu"):
            problems.append(f"activation={self.activation!r} (use 'silu', 'gelu_tanh' or 'gelu')")
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_layers", "num_heads",
                     "num_kv_heads", "head_dim", "num_labels"):
            if int(getattr(self, name)) <= 0:
                problems.append(f"{name}={getattr(self, name)} (must be positive)")
        if self.num_kv_heads > 0 and self.num_heads % self.num_kv_heads:
            problems.append(f"num_heads={self.num_heads} is not a multiple of num_kv_heads={self.num_kv_heads}")
        for name in ("attn_softcap", "final_softcap", "query_pre_attn_scalar", "rope_local_theta"):
            if getattr(self, name) is not None and not float(getattr(self, name)) > 0:
                problems.append(f"{name}={getattr(self, name)} (must be positive, or None)")
        if self.layer_types is not None and len(self.layer_types) != self.num_layers:
            problems.append(f"layer_types has {len(self.layer_types)} entries for {self.num_layers} layers")
        if problems:
            raise CheckpointError("invalid decoder config: " + "; ".join(problems))

    # ---- derived -------------------------------------------------------------------------------
    def layer_windows(self) -> np.ndarray:
        """Per-layer attention window (0 = full causal attention), int32 [num_layers]."""
        if not self.sliding_window:
            return np.zeros((self.num_layers,), np.int32)
        return np.where(self.sliding_layers(), self.sliding_window, 0).astype(np.int32)

    def sliding_layers(self) -> np.ndarray:
        """bool [num_layers]: the layers `layer_types` marks sliding (all of them when it is None)."""
        types = self.layer_types or ("sliding_attention",) * self.num_layers
        return np.array([t == "sliding_attention" for t in types], bool)

    def attention_scale(self) -> float:
        """The factor on q.k: query_pre_attn_scalar**-0.5 where the config has one, else head_dim**-0.5."""
        return float(self.query_pre_attn_scalar or self.head_dim) ** -0.5

    def layer_inv_freq(self) -> np.ndarray:
        """Per-layer RoPE inverse frequencies [num_layers, head_dim // 2] (float64): `inv_freq()`,
        and default RoPE with base rope_local_theta on sliding layers where that is set (Gemma 3)."""
        glob = np.broadcast_to(self.inv_freq(), (self.num_layers, self.head_dim // 2))
        if self.rope_local_theta is None:
            return np.array(glob)
        local = 1.0 / (self.rope_local_theta ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim))
        return np.where(self.sliding_layers()[:, None], local[None], glob)

    def inv_freq(self) -> np.ndarray:
        """RoPE inverse frequencies [head_dim // 2] (float64), with the configured scaling."""
        inv = 1.0 / (self.rope_theta ** (np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim))
        if self.rope_type == "linear":
            return inv / self.rope_factor
        if self.rope_type == "llama3":
            old = self.rope_original_max_position
            low_wavelen = old / self.rope_low_freq_factor
            high_wavelen = old / self.rope_high_freq_factor
            wavelen = 2 * math.pi / inv
            scaled = np.where(wavelen > low_wavelen, inv / self.rope_factor, inv)
            smooth = (old / wavelen - self.rope_low_freq_factor) / (
                self.rope_high_freq_factor - self.rope_low_freq_factor)
            smoothed = (1 - smooth) * scaled / self.rope_factor + smooth * scaled
            medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
            return np.where(medium, smoothed, scaled)
        return inv

    def num_params(self) -> int:
        d, f, h, kv, hd = self.hidden_size, self.intermediate_size, self.num_heads, self.num_kv_heads, self.head_dim
        attn = d * (h + 2 * kv) * hd + h * hd * d
        layer = attn + 3 * d * f
        emb = self.vocab_size * d
        head = 0 if self.head == "lm" and self.tie_word_embeddings else (
            self.num_labels * d if self.head == "classifier" else emb)
        return self.num_layers * layer + emb + head

    # ---- (de)serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        if out["layer_types"] is not None:
            out["layer_types"] = list(out["layer_types"])
        if isinstance(out["eos_token_id"], tuple):
            out["eos_token_id"] = list(out["eos_token_id"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> "DecoderConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise CheckpointError(f"{source}: unknown decoder config keys {unknown}")
        data = dict(data)
        if data.get("layer_types") is not None:
            data["layer_types"] = tuple(data["layer_types"])
        if isinstance(data.get("eos_token_id"), list):
            data["eos_token_id"] = tuple(data["eos_token_id"])
        try:
            return cls(**data)
        except TypeError as e:
            raise CheckpointError(f"{source}: {e}") from None

    def replace(self, **changes) -> "DecoderConfig":
        return dataclasses.replace(self, **changes)


def _rope_fields(hf: dict[str, Any], source: str) -> dict[str, Any]:
    # transformers 5 writes `rope_parameters`; older configs write rope_theta + rope_scaling.
    params = dict(hf.get("rope_parameters") or {})
    scaling = hf.get("rope_scaling") or {}
    params = {**scaling, **params}
    theta = params.get("rope_theta", hf.get("rope_theta", 10000.0))
    rope_type = params.get("rope_type", params.get("type", "default")) or "default"
    if rope_type not in ROPE_TYPES:
        raise CheckpointError(
            f"{source}: rope scaling type {rope_type!r} is not supported (supported: {', '.join(ROPE_TYPES)}); "
            "use a checkpoint with default, linear or llama3 RoPE")
    out = {"rope_theta": float(theta), "rope_type": rope_type}
    if rope_type in ("linear", "llama3"):
        out["rope_factor"] = float(params.get("factor", 1.0))
    if rope_type == "llama3":
        out["rope_low_freq_factor"] = float(params.get("low_freq_factor", 1.0))
        out["rope_high_freq_factor"] = float(params.get("high_freq_factor", 4.0))
        out["rope_original_max_position"] = int(
            params.get("original_max_position_embeddings", hf.get("max_position_embeddings", 8192)))
    return out


def _gemma_fields(hf: dict[str, Any], family: str, num_layers: int, source: str) -> dict[str, Any]:
    """Gemma 2 / 3: attention scale, soft-caps, sliding layers and (Gemma 3) local/global RoPE.
    A key absent from config.json takes transformers' default (an explicit null turns it off)."""
    if hf.get("use_bidirectional_attention"):
        raise CheckpointError(f"{source}: use_bidirectional_attention (an embedding model) is not supported")
    gemma2 = family == "gemma2"
    out: dict[str, Any] = dict(query_pre_attn_scalar=float(hf.get("query_pre_attn_scalar") or 256),
                               final_softcap=hf.get("final_logit_softcapping", 30.0 if gemma2 else None))
    if gemma2:  # Gemma 3's attention ignores attn_logit_softcapping (transformers' does too)
        out["attn_softcap"] = hf.get("attn_logit_softcapping", 50.0)
    pattern = 2 if gemma2 else int(hf.get("sliding_window_pattern") or 6)
    types = hf.get("layer_types") or ["sliding_attention" if (i + 1) % pattern else "full_attention"
                                      for i in range(num_layers)]
    window = hf.get("sliding_window", 4096)
    out.update(sliding_window=int(window) if window else None, layer_types=tuple(types))
    if family == "gemma3":
        params = hf.get("rope_parameters") or {}
        if "full_attention" in params or "sliding_attention" in params:  # transformers 5: per layer type
            glob, local = params.get("full_attention") or {}, params.get("sliding_attention") or {}
        else:  # older config.json: rope_theta (+ rope_scaling) global, rope_local_base_freq local
            glob = {**(hf.get("rope_scaling") or {}), **params}
            local = {"rope_theta": hf.get("rope_local_base_freq", 10000.0)}
        glob = {"rope_theta": hf.get("rope_theta", 1_000_000.0), **glob}
        if local.get("rope_type", local.get("type", "default")) != "default":
            raise CheckpointError(f"{source}: sliding layers' rope type {local.get('rope_type')!r} is not supported "
                                  "(only default RoPE there)")
        out.update(_rope_fields({"rope_parameters": glob}, source),
                   rope_local_theta=float(local.get("rope_theta", 10000.0)))
    return out


def from_hf(hf: dict[str, Any], source: str = "config.json") -> DecoderConfig:
    """Build a DecoderConfig from an HF config.json dict; `source` names the file in errors."""
    archs = hf.get("architectures") or []
    arch = next((a for a in archs if a in ARCHITECTURES), None)
    if arch is None:
        model_type = hf.get("model_type")
        if model_type in MODEL_TYPES and not archs:
            arch = MODEL_TYPES[model_type]
        else:
            raise CheckpointError(
                f"{source}: architecture {archs or model_type!r} is not supported; supported: "
                f"{', '.join(ARCHITECTURES)}")
    family, head = ARCHITECTURES[arch]
    try:
        heads = int(hf["num_attention_heads"])
        hidden = int(hf["hidden_size"])
        cfg = dict(
            family=family,
            head=head,
            vocab_size=int(hf["vocab_size"]),
            hidden_size=hidden,
            intermediate_size=int(hf["intermediate_size"]),
            num_layers=int(hf["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(hf.get("num_key_value_heads") or heads),
            head_dim=int(hf.get("head_dim") or hidden // heads),
            max_position_embeddings=int(hf.get("max_position_embeddings", 4096)),
            tie_word_embeddings=bool(hf.get("tie_word_embeddings", family not in ("mistral", "olmo"))),
            pad_token_id=hf.get("pad_token_id"),
            bos_token_id=hf.get("bos_token_id"),
            eos_token_id=tuple(hf["eos_token_id"]) if isinstance(hf.get("eos_token_id"), list)
            else hf.get("eos_token_id"),
        )
    except KeyError as e:
        raise CheckpointError(f"{source}: missing key {e.args[0]!r} for {arch}") from None
    # Gemma names it hidden_activation (its config.json may also carry a stale hidden_act)
    act = hf.get("hidden_activation") or hf.get("hidden_act") or "silu"
    if act not in ACTIVATIONS:
        raise CheckpointError(f"{source}: hidden activation {act!r} is not supported (supported: "
                              f"{', '.join(ACTIVATIONS)})")
    cfg["activation"] = ACTIVATIONS[act]
    if family != "gemma3":
        cfg.update(_rope_fields(hf, source))
    if head == "classifier":
        # transformers' default is 2 labels, and it leaves id2label out of config.json then
        cfg["num_labels"] = int(hf.get("num_labels") or len(hf.get("id2label") or {}) or 2)
    cfg["norm_eps"] = float(hf.get("rms_norm_eps", 1e-6))
    bias = bool(hf.get("attention_bias", False))
    cfg.update(qkv_bias=bias, o_bias=bias)
    if family in ("llama", "mistral", "qwen3"):
        cfg["mlp_bias"] = bool(hf.get("mlp_bias", False))
    if family == "olmo":
        cfg["clip_qkv"] = hf.get("clip_qkv")
    if family == "mistral":
        cfg["sliding_window"] = hf.get("sliding_window")
    if family in ("qwen2", "qwen3"):
        window = hf.get("sliding_window") if hf.get("use_sliding_window") else None
        if window:
            types = hf.get("layer_types") or [
                "sliding_attention" if i >= int(hf.get("max_window_layers", 0)) else "full_attention"
                for i in range(cfg["num_layers"])]
            cfg.update(sliding_window=int(window), layer_types=tuple(types))
    if family in ("gemma2", "gemma3"):
        cfg.update(_gemma_fields(hf, family, cfg["num_layers"], source))
    cfg.update(FAMILY_SETTINGS.get(family, {}))
    return DecoderConfig(**cfg)


def read_hf_config(path: Path) -> DecoderConfig:
    """Read an HF config.json file into a DecoderConfig, with errors naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: config.json not found; an HF model directory needs one") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return from_hf(data, source=str(path))
