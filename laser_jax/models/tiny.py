"""Tiny random models with a character-level tokenizer, written as ordinary HF directories.

For smoke runs and tests that need a whole pipeline offline in seconds (no hub, no torch):

    python -m laser_jax.tiny DIR [--kind lm|classifier] [--seed 0]     (laser_jax/cli/tiny.py)

writes DIR/config.json, DIR/model.safetensors (random weights) and the tokenizer files; DIR then
loads like any HF model directory (`load_pretrained`, `load_tokenizer`, a config's policy.path).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from laser_jax.models import decoder as D
from laser_jax.models import params, safetensors_io
from laser_jax.models.config import DecoderConfig

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
CHARS = [chr(c) for c in range(32, 127)] + ["\n"]
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
VOCAB = 128


def tokenizer(merges=(), chat: bool = True, max_vocab: int | None = VOCAB):
    """A character-level BPE tokenizer (plus `merges`), BOS via its post-processor, pad id 0,
    EOS "</s>" (id 3), end of turn "<|end|>", and a Zephyr-like chat template."""
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, processors

    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    if max_vocab is not None and len(vocab) > max_vocab:
        raise ValueError(f"tiny tokenizer: {len(vocab)} tokens exceed the vocabulary of {max_vocab}")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merges), unk_token="<unk>"))
    tok.add_special_tokens(SPECIALS)
    tok.decoder = decoders.Fuse()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", 2)])
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                      unk_token="<unk>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def config(kind: str = "lm", **overrides) -> DecoderConfig:
    base = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                head_dim=8, max_position_embeddings=1024, head="classifier" if kind == "classifier" else "lm",
                pad_token_id=0, bos_token_id=2, eos_token_id=3, norm_eps=1e-6)
    return DecoderConfig(**{**base, **overrides})


def hf_config_dict(cfg: DecoderConfig) -> dict:
    arch = "LlamaForSequenceClassification" if cfg.head == "classifier" else "LlamaForCausalLM"
    return {"architectures": [arch], "model_type": "llama", "vocab_size": cfg.vocab_size,
            "hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_layers, "num_attention_heads": cfg.num_heads,
            "num_key_value_heads": cfg.num_kv_heads, "head_dim": cfg.head_dim, "hidden_act": "silu",
            "max_position_embeddings": cfg.max_position_embeddings, "rms_norm_eps": cfg.norm_eps,
            "rope_theta": cfg.rope_theta, "tie_word_embeddings": cfg.tie_word_embeddings,
            "pad_token_id": cfg.pad_token_id, "bos_token_id": cfg.bos_token_id, "eos_token_id": cfg.eos_token_id,
            "num_labels": cfg.num_labels}


def write(path, *, kind: str = "lm", seed: int = 0, scale: float = 0.15, tok=None, **overrides) -> Path:
    """A random tiny Llama (weights ~ N(0, scale^2), norm scales ~ 1) as an HF directory."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    cfg = config(kind, **overrides)
    model = D.build(cfg, rngs=nnx.Rngs(seed))
    state = nnx.state(model, nnx.Param)
    keys = iter(jax.random.split(jax.random.key(seed + 1), len(jax.tree.leaves(state))))

    def randomise(x):
        noise = jax.random.normal(next(keys), x.shape)
        return (1.0 + 0.2 * noise) if x.ndim <= 2 and np.all(np.asarray(x) == 1) else scale * noise

    nnx.update(model, jax.tree.map(randomise, state))
    safetensors_io.write(path / "model.safetensors", params.export_hf(model, cfg), metadata={"format": "pt"})
    (path / "config.json").write_text(json.dumps(hf_config_dict(cfg), indent=2))
    (tok or tokenizer()).save_pretrained(str(path))
    return path


def write_arithmetic(path, n: int = 24, seed: int = 0) -> Path:
    """A GSM8K-format .jsonl of one-step sums ("What is 3 + 4?" ... "#### 7") for smoke runs."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for _ in range(n):
        a, b = (int(x) for x in rng.integers(1, 20, 2))
        lines.append(json.dumps({"question": f"What is {a} + {b}?", "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # unique: concurrent writers (test workers)
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def _write_atomically(path: Path, **kw) -> None:
    """`write` into a private directory, then rename it into place: processes making the same
    asset at once (parallel test workers) never see, or leave, a half-written one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}-"))
    write(tmp, **kw)
    try:
        os.rename(tmp, path)
    except OSError:  # another process got there first (same content)
        shutil.rmtree(tmp, ignore_errors=True)
        if not (path / "config.json").exists():
            raise


def smoke_assets(root) -> dict[str, Path]:
    """Tiny policy, two tiny neural RMs and an arithmetic task under `root` (made once, reused)."""
    root = Path(root)
    assets = {"policy": root / "policy", "rm_classifier": root / "rm_classifier", "rm_lm": root / "rm_lm",
              "data": root / "arithmetic.jsonl"}
    for name, kind, seed in (("policy", "lm", 0), ("rm_classifier", "classifier", 1), ("rm_lm", "lm", 2)):
        if not (assets[name] / "config.json").exists():
            _write_atomically(assets[name], kind=kind, seed=seed)
    if not assets["data"].exists():
        write_arithmetic(assets["data"])
    return assets
