"""`load_pretrained`, `load_config` and `load_tokenizer`: one entry for every model source.

A `path` may be
- an HF model directory (config.json + *.safetensors, single or sharded with an index file),
- a .gguf file (llama.cpp; dequantised),
- a laser_jax Flax checkpoint directory (written by `python -m laser_jax.convert`),
- the aliases "smollm2-135m-instruct" and "gemma-3-270m" (the embedded real models, see `embedded.py`),
- a Hugging Face hub id such as "meta-llama/Meta-Llama-3-8B-Instruct" (downloaded with
  huggingface_hub into its cache; needs network access to the hub).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from laser_jax import sharding as shd
from laser_jax.models import decoder as D
from laser_jax.models import embedded, flax_ckpt, gguf_cache, gguf_io, hf, params
from laser_jax.models.config import CheckpointError, DecoderConfig

log = logging.getLogger("laser_jax")
HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer*", "*.model", "*.txt", "*.tiktoken"]


def _looks_like_hub_id(s: str) -> bool:
    parts = s.split("/")
    return len(parts) == 2 and all(parts) and not s.startswith((".", "/", "~")) and not s.endswith(".gguf")


def check_model_path(value, field: str) -> list[str]:
    """Config validation of a model path without loading it: [] when it is an existing local path,
    the embedded alias or a hub id (org/name), else the problem naming `field`."""
    if not value:
        return [f"{field} is empty: give an HF directory, a .gguf file, a laser_jax checkpoint, a hub id "
                "or an embedded alias ('smollm2-135m-instruct', 'gemma-3-270m')"]
    s = str(value)
    if Path(s).expanduser().exists() or s.lower() in embedded.ALIASES or _looks_like_hub_id(s):
        return []
    return [f"{field}={s!r}: no such file or directory"]


def resolve(path) -> Path:
    """A local path for `path` (alias, hub id or local file/dir); a clear error if there is none."""
    local = Path(str(path)).expanduser()
    if local.exists():
        return local
    alias = embedded.resolve_alias(str(path))
    if alias is not None:
        return alias
    if _looks_like_hub_id(str(path)):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(str(path), allow_patterns=HUB_PATTERNS))
        except Exception as e:
            raise CheckpointError(
                f"{path}: not a local path, and downloading it from the Hugging Face hub failed "
                f"({type(e).__name__}: {str(e)[:300]}); check the id and network access (HF_TOKEN for gated "
                "models), or give a local directory / .gguf file") from None
    raise CheckpointError(f"{path}: no such file or directory (expected an HF model directory, a .gguf file, a "
                          "laser_jax checkpoint, a hub id org/name, or 'smollm2-135m-instruct' / 'gemma-3-270m')")


def _kind(path: Path) -> str:
    if path.is_file() and path.suffix == ".gguf":
        return "gguf"
    if flax_ckpt.is_flax_ckpt(path):
        return "flax"
    if path.is_dir() and (path / "config.json").exists():
        return "hf"
    if path.is_file():
        raise CheckpointError(f"{path}: unsupported model file (expected a .gguf file or a directory)")
    raise CheckpointError(f"{path}: neither an HF model directory (no config.json) nor a laser_jax checkpoint "
                          f"(no {flax_ckpt.MARKER})")


def load_config(path) -> DecoderConfig:
    path = resolve(path)
    kind = _kind(path)
    if kind == "gguf":
        return gguf_io.read_config(path)
    if kind == "flax":
        return flax_ckpt.read_config(path)
    return hf.read_config(path)


def load_pretrained(path, *, dtype="float32", mesh=None, rules=shd.DEFAULT_RULES, remat: bool = False):
    """A CausalLM (or SequenceClassifier, for *ForSequenceClassification checkpoints) with the
    weights of `path`; `model(input_ids [B,T] int32, attention_mask=None)` -> logits.

    The model is built abstractly and every weight is placed directly on the sharding its logical
    axes get on `mesh` (default: one device).
    """
    path = resolve(path)
    kind = _kind(path)
    jdtype = D.to_dtype(dtype)
    if kind == "flax":
        return flax_ckpt.load(path, dtype=jdtype, mesh=mesh, rules=rules, remat=remat)
    if kind == "gguf":
        reader = gguf_io._reader(path)
        cfg = gguf_io.read_config(path, reader)
        source = gguf_cache.tensors(path, cfg, reader)  # dequantised once, then memory-mapped
    else:
        cfg = hf.read_config(path)
        source = hf.tensors(path)
    abstract = D.abstract(cfg, dtype=jdtype, remat=remat)
    return params.load_into(cfg, abstract, source, str(path), mesh=mesh, rules=rules)


# tokenizer_config.json's class names for transformers' generic fast tokenizer (one class in
# transformers 5: PreTrainedTokenizerFast is TokenizersBackend)
GENERIC_TOKENIZERS = ("TokenizersBackend", "PreTrainedTokenizerFast")


def load_tokenizer(path):
    """The transformers tokenizer belonging to a model path (GGUF, HF dir, Flax checkpoint, hub id)."""
    path = resolve(path)
    try:
        if path.is_file() and path.suffix == ".gguf":
            tok = gguf_cache.tokenizer(path)  # built once (ours: transformers' GGUF path needs PyTorch)
        elif flax_ckpt.is_flax_ckpt(path):
            if not (path / "tokenizer").is_dir():
                raise CheckpointError(f"{path}: this checkpoint holds no tokenizer/ folder; convert it again "
                                      "from a source with a tokenizer, or load the tokenizer from the source")
            tok = _from_pretrained(path / "tokenizer")
        else:
            tok = _from_pretrained(path)
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"{path}: cannot load a tokenizer ({type(e).__name__}: {str(e)[:300]})") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def _from_pretrained(path: Path):
    """AutoTokenizer.from_pretrained(path), or, when the folder's tokenizer_config.json names the
    generic fast tokenizer, that class's own from_pretrained: the class AutoTokenizer would pick,
    without importing transformers' model configuration modules, which import PyTorch whenever it
    is installed (~1.4 s of every command line's start-up)."""
    import transformers

    config = Path(path) / "tokenizer_config.json"
    try:
        name = json.loads(config.read_text()).get("tokenizer_class") if config.is_file() else None
    except (OSError, ValueError, AttributeError):
        name = None  # AutoTokenizer reports what is wrong with the folder
    if name in GENERIC_TOKENIZERS:
        return transformers.PreTrainedTokenizerFast.from_pretrained(str(path))
    return transformers.AutoTokenizer.from_pretrained(str(path))


def convert(src, dst, *, dtype: str = "float32", overwrite: bool = False, with_tokenizer: bool = True) -> Path:
    """Writes `src` (an HF safetensors directory, a .gguf file or a hub id) as a laser_jax Flax
    checkpoint at `dst`, atomically, with its tokenizer unless told not to (a source without one
    warns and goes on). `python -m laser_jax.convert` is its command line."""
    path = resolve(src)
    model = load_pretrained(path, dtype=dtype)
    tokenizer = None
    if with_tokenizer:
        try:
            tokenizer = load_tokenizer(path)
        except CheckpointError as e:
            print(f"warning: no tokenizer saved: {e}", file=sys.stderr)
    return flax_ckpt.save(model, dst, tokenizer=tokenizer, source=str(src), overwrite=overwrite)
