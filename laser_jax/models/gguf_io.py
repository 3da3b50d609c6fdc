"""GGUF files (llama.cpp): config from the metadata, tensors dequantised with the `gguf` package.

Tensor names are translated to HF's (one table, `GGUF_TO_HF`, and the Gemma names in
`GEMMA_TO_HF`) so that the HF rule tables in `params.py` do the rest. llama.cpp stores Llama q/k
projection rows permuted for its RoPE layout; `_unpermute` undoes that, as HF's GGUF loader does.

Gemma 2 / 3: llama.cpp's converter writes every norm weight as 1 + w (its RMSNorm multiplies by
the stored weight, Gemma's by 1 + w), so `tensors` subtracts 1 again, as transformers' GGUF loader
does. What the metadata does not hold, llama.cpp fixes per architecture (src/llama-model.cpp,
LLM_ARCH_GEMMA2 / GEMMA3), and so does `_gemma_fields`: every 2nd (Gemma 2) or 6th (Gemma 3) layer
global, local RoPE base 10000 (Gemma 3), attention scale head_dim**-0.5 except for the 27B
models' (hidden / heads)**-0.5, Gemma 2's soft-caps 50 / 30 where the file gives none.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from laser_jax.models.config import FAMILY_SETTINGS, CheckpointError, DecoderConfig

# GGUF tensor name template -> HF template; {i} is the layer index.
GGUF_TO_HF = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
    "blk.{i}.attn_norm.weight": "model.layers.{i}.input_layernorm.weight",
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.attn_q.weight": "model.layers.{i}.self_attn.q_proj.weight",
    "blk.{i}.attn_k.weight": "model.layers.{i}.self_attn.k_proj.weight",
    "blk.{i}.attn_v.weight": "model.layers.{i}.self_attn.v_proj.weight",
    "blk.{i}.attn_output.weight": "model.layers.{i}.self_attn.o_proj.weight",
    "blk.{i}.attn_q.bias": "model.layers.{i}.self_attn.q_proj.bias",
    "blk.{i}.attn_k.bias": "model.layers.{i}.self_attn.k_proj.bias",
    "blk.{i}.attn_v.bias": "model.layers.{i}.self_attn.v_proj.bias",
    "blk.{i}.attn_q_norm.weight": "model.layers.{i}.self_attn.q_norm.weight",
    "blk.{i}.attn_k_norm.weight": "model.layers.{i}.self_attn.k_norm.weight",
    "blk.{i}.ffn_gate.weight": "model.layers.{i}.mlp.gate_proj.weight",
    "blk.{i}.ffn_up.weight": "model.layers.{i}.mlp.up_proj.weight",
    "blk.{i}.ffn_down.weight": "model.layers.{i}.mlp.down_proj.weight",
}
# Gemma's four norms per layer: llama.cpp's ffn_norm is HF's pre_feedforward_layernorm there
GEMMA_TO_HF = {
    **GGUF_TO_HF,
    "blk.{i}.ffn_norm.weight": "model.layers.{i}.pre_feedforward_layernorm.weight",
    "blk.{i}.post_attention_norm.weight": "model.layers.{i}.post_attention_layernorm.weight",
    "blk.{i}.post_ffw_norm.weight": "model.layers.{i}.post_feedforward_layernorm.weight",
}


def _compile(table):
    return [(re.compile(re.escape(g).replace(r"\{i\}", r"(\d+)")), h) for g, h in table.items()]


_PATTERNS = {"default": _compile(GGUF_TO_HF), "gemma": _compile(GEMMA_TO_HF)}
ARCHS = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3", "gemma2": "gemma2",
         "gemma3": "gemma3"}
GEMMA = ("gemma2", "gemma3")


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q",
            12: "<d"}
_STRING, _ARRAY = 8, 9


@dataclass
class GGUFTensor:
    name: str
    shape: tuple[int, ...]  # HF/torch order ([out, in])
    tensor_type: object  # gguf.GGMLQuantizationType
    data: np.ndarray  # raw bytes as gguf.quants.dequantize expects them


@dataclass
class GGUFFile:
    path: Path
    fields: dict
    tensors: list[GGUFTensor]


def _reader(path: Path) -> GGUFFile:
    """Parse a GGUF v2/v3 file: metadata (large string arrays are skipped quickly) and tensor
    descriptors over a memory map. Much faster than gguf.GGUFReader, which materialises every
    tokenizer string; damaged files give a CheckpointError."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: GGUF file not found")
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    buf = memoryview(mm)
    pos = 0

    def take(fmt):
        nonlocal pos
        value = struct.unpack_from(fmt, buf, pos)[0]
        pos += struct.calcsize(fmt)
        return value

    def string():
        nonlocal pos
        n = take("<Q")
        if pos + n > len(buf):
            raise ValueError("string runs past the end of the file")
        value = bytes(buf[pos:pos + n]).decode("utf-8", errors="replace")
        pos += n
        return value

    def value(vtype):
        nonlocal pos
        if vtype in _SCALARS:
            return take(_SCALARS[vtype])
        if vtype == _STRING:
            return string()
        if vtype == _ARRAY:
            etype, count = take("<I"), take("<Q")
            if etype in _SCALARS:
                size = struct.calcsize(_SCALARS[etype])
                arr = np.frombuffer(buf, dtype=np.dtype(_SCALARS[etype]), count=count, offset=pos)
                pos += size * count
                return arr
            if etype == _STRING:
                out = []
                for _ in range(count):
                    n = take("<Q")
                    out.append(bytes(buf[pos:pos + n]))
                    pos += n
                return out
            return [value(etype) for _ in range(count)]
        raise ValueError(f"unknown metadata value type {vtype}")

    try:
        if bytes(buf[:4]) != b"GGUF":
            raise ValueError("bad magic (not a GGUF file)")
        pos = 4
        version = take("<I")
        if version not in (2, 3):
            raise ValueError(f"GGUF version {version} (2 or 3 supported)")
        n_tensors, n_kv = take("<Q"), take("<Q")
        fields = {}
        for _ in range(n_kv):
            key = string()
            fields[key] = value(take("<I"))
        infos = []
        for _ in range(n_tensors):
            name = string()
            dims = [take("<Q") for _ in range(take("<I"))]
            infos.append((name, dims, take("<I"), take("<Q")))
    except (struct.error, ValueError, IndexError) as e:
        raise CheckpointError(f"{path}: not a readable GGUF file ({e})") from None
    align = int(fields.get("general.alignment", 32))
    data_start = pos + (-pos % align)
    tensors = []
    for name, dims, ttype, offset in infos:
        try:
            qtype = gguf.GGMLQuantizationType(ttype)
            block, type_size = gguf.GGML_QUANT_SIZES[qtype]
        except (ValueError, KeyError):
            raise CheckpointError(f"{path}: tensor {name} has unknown GGUF type id {ttype}") from None
        shape = tuple(int(d) for d in reversed(dims))
        row_bytes = shape[-1] // block * type_size
        nbytes = int(np.prod(shape[:-1], dtype=np.int64)) * row_bytes
        begin = data_start + offset
        if begin + nbytes > len(mm):
            raise CheckpointError(f"{path}: truncated: tensor {name} ends at byte {begin + nbytes} but the file "
                                  f"has {len(mm)}; download it again")
        data = mm[begin:begin + nbytes].reshape(*shape[:-1], row_bytes)
        tensors.append(GGUFTensor(name, shape, qtype, data))
    return GGUFFile(path, fields, tensors)


def _field(reader: GGUFFile, key, default=None):
    value = reader.fields.get(key)
    if value is None:
        return default
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def read_config(path: Path, reader=None) -> DecoderConfig:
    reader = reader or _reader(path)
    arch = _field(reader, "general.architecture")
    if arch not in ARCHS:
        raise CheckpointError(f"{path}: GGUF architecture {arch!r} is not supported (supported: {list(ARCHS)})")
    names = {t.name for t in reader.tensors}
    if "rope_freqs.weight" in names:
        raise CheckpointError(f"{path}: GGUF with per-frequency RoPE factors (rope_freqs, Llama-3.1 scaling) is "
                              "not supported; load the HF safetensors checkpoint instead")

    def need(key):
        value = _field(reader, f"{arch}.{key}")
        if value is None:
            raise CheckpointError(f"{path}: GGUF metadata lacks {arch}.{key}")
        return value

    hidden, heads = int(need("embedding_length")), int(need("attention.head_count"))
    kv = _field(reader, f"{arch}.attention.head_count_kv", heads)
    vocab = _field(reader, f"{arch}.vocab_size") or len(reader.fields.get("tokenizer.ggml.tokens", []))
    window = _field(reader, f"{arch}.attention.sliding_window")
    rope_type = _field(reader, f"{arch}.rope.scaling.type", "none")
    if rope_type not in ("none", None, "linear"):
        raise CheckpointError(f"{path}: GGUF rope scaling {rope_type!r} is not supported")
    cfg = dict(
        family=ARCHS[arch],
        vocab_size=int(vocab),
        hidden_size=hidden,
        intermediate_size=int(need("feed_forward_length")),
        num_layers=int(need("block_count")),
        num_heads=heads,
        num_kv_heads=int(kv),
        head_dim=int(_field(reader, f"{arch}.attention.key_length", hidden // heads)),
        rope_theta=float(_field(reader, f"{arch}.rope.freq_base", 10000.0)),
        max_position_embeddings=int(_field(reader, f"{arch}.context_length", 4096)),
        norm_eps=float(_field(reader, f"{arch}.attention.layer_norm_rms_epsilon", 1e-6)),
        tie_word_embeddings="output.weight" not in names,
        qkv_bias="blk.0.attn_q.bias" in names,
        qk_norm="blk.0.attn_q_norm.weight" in names,
        sliding_window=int(window) if window else None,
        bos_token_id=_field(reader, "tokenizer.ggml.bos_token_id"),
        eos_token_id=_field(reader, "tokenizer.ggml.eos_token_id"),
        pad_token_id=_field(reader, "tokenizer.ggml.padding_token_id"),
    )
    if rope_type == "linear":
        cfg.update(rope_type="linear", rope_factor=float(_field(reader, f"{arch}.rope.scaling.factor", 1.0)))
    if arch in GEMMA:
        cfg.update(_gemma_fields(reader, arch, cfg))
    return DecoderConfig(**cfg)


def _gemma_fields(reader: GGUFFile, arch: str, cfg: dict) -> dict:
    """Gemma 2 / 3 settings from the metadata, else llama.cpp's fixed values (module docstring)."""

    gemma2, n = arch == "gemma2", cfg["num_layers"]
    pattern = _field(reader, f"{arch}.attention.sliding_window_pattern", 2 if gemma2 else 6)
    if isinstance(pattern, list):  # newer llama.cpp: one bool per layer, true = sliding
        sliding = [bool(x) for x in pattern]
    else:
        sliding = [bool((i + 1) % int(pattern)) for i in range(n)]
    big = n == (46 if gemma2 else 62)  # the 27B models (llama.cpp's LLM_TYPE_27B)
    out = dict(FAMILY_SETTINGS[arch], activation="gelu_tanh",
               query_pre_attn_scalar=float(cfg["hidden_size"] // cfg["num_heads"] if big else cfg["head_dim"]),
               final_softcap=_field(reader, f"{arch}.final_logit_softcapping", 30.0 if gemma2 else None) or None)
    if gemma2:
        out["attn_softcap"] = _field(reader, f"{arch}.attn_logit_softcapping", 50.0) or None
    else:
        out["rope_local_theta"] = float(_field(reader, f"{arch}.rope.freq_base_swa", 10000.0))
    if cfg["sliding_window"]:
        out["layer_types"] = tuple("sliding_attention" if s else "full_attention" for s in sliding)
    return out


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's q/k row permutation (rows grouped per head in rotary pairs)."""
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def hf_name(name: str, family: str = "llama") -> str | None:
    for rx, template in _PATTERNS["gemma" if family in GEMMA else "default"]:
        m = rx.fullmatch(name)
        if m:
            return template.format(i=m.group(1)) if m.groups() else template
    return None


def check_types(path: Path, reader) -> None:
    """Fail early, naming every tensor whose quantisation the gguf package cannot dequantise."""
    import gguf
    import gguf.quants

    traits = getattr(gguf.quants, "_type_traits", None)
    if traits is None:
        return
    plain = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16}
    bad = [f"{t.name} ({t.tensor_type.name})" for t in reader.tensors
           if t.tensor_type not in traits and t.tensor_type not in plain]
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise CheckpointError(f"{path}: unsupported GGUF quantisation type for {shown}; supported types are "
                              f"F32, F16 and {', '.join(sorted(t.name for t in traits))}")


def tensors(path: Path, cfg: DecoderConfig, reader=None):
    """(HF name, shape, load) for each GGUF tensor; `load()` dequantises to float32 [out, in]."""
    import gguf.quants

    reader = reader or _reader(path)
    check_types(path, reader)
    permute = cfg.family in ("llama", "mistral")
    unit_offset = cfg.family in GEMMA  # stored as 1 + w (module docstring)
    for t in reader.tensors:
        name = hf_name(t.name, cfg.family)
        if name is None:
            yield f"gguf:{t.name}", t.shape, lambda: None
            continue
        shape = t.shape

        def load(t=t, name=name, shape=shape):
            try:
                arr = gguf.quants.dequantize(t.data, t.tensor_type)
            except NotImplementedError as e:
                raise CheckpointError(f"{path}: tensor {t.name}: cannot dequantise {t.tensor_type.name} ({e})") \
                    from None
            arr = np.asarray(arr, np.float32).reshape(shape)
            if permute and ".q_proj." in name:
                arr = _unpermute(arr, cfg.num_heads)
            elif permute and ".k_proj." in name:
                arr = _unpermute(arr, cfg.num_kv_heads)
            elif unit_offset and name.endswith("norm.weight"):
                arr = arr - np.float32(1.0)
            return arr

        yield name, shape, load


def load_tokenizer(path: Path, reader: GGUFFile | None = None):
    """The transformers tokenizer a GGUF file describes, built from its metadata.

    transformers' own GGUF tokenizer path (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`)
    imports PyTorch, which laser_jax does not need; this reads the same metadata with our parser and
    hands it to the same transformers builder (`convert_gguf_tokenizer`), so the result encodes,
    decodes and applies the chat template as transformers' does (tests/models/test_smollm2.py).
    """
    from transformers import PreTrainedTokenizerFast
    from transformers.integrations.gguf.gguf_tokenizer_mapping import GGUF_TOKENIZER_MAPPING, convert_gguf_tokenizer

    reader = reader or _reader(path)

    def plain(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, list):
            return [x.decode("utf-8", errors="replace") if isinstance(x, bytes) else x for x in v]
        return v

    meta = {k: plain(v) for k, v in reader.fields.items() if k.startswith("tokenizer.")}
    if "tokenizer.ggml.tokens" not in meta:
        raise CheckpointError(f"{path}: this GGUF file holds no tokenizer (no tokenizer.ggml.tokens)")
    groups = {group: {name: meta[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in meta}
              for group, renames in GGUF_TOKENIZER_MAPPING.items()}
    tokenizer_dict, config = groups["tokenizer"], groups["tokenizer_config"]
    if tokenizer_dict.get("tokenizer_type") == "llama":
        config.setdefault("add_bos_token", True)  # sentencepiece files: llama.cpp adds BOS unless told not to
    tokens = tokenizer_dict["tokens"]
    for name, key in (("bos_token", "bos_token_id"), ("eos_token", "eos_token_id"), ("unk_token", "unknown_token_id"),
                      ("pad_token", "padding_token_id")):
        token_id = meta.get(f"tokenizer.ggml.{key}")
        if token_id is not None:
            config[name] = tokens[int(token_id)]
    backend, extra = convert_gguf_tokenizer(str(reader.fields.get("general.architecture", "llama")), tokenizer_dict)
    return PreTrainedTokenizerFast(tokenizer_object=backend, **config, **extra)
