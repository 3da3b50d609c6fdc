"""Our Flax decoders against transformers' PyTorch classes on random tiny configs (float32).

The same random weights are saved once as safetensors and loaded by both; logits must agree to
1e-4, without padding and with left padding (HF is given the positions of the real tokens).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf
from flax import nnx
import jax.numpy as jnp

from laser_jax.models import load_pretrained
from laser_jax.models.config import from_hf

TOL = 1e-4
BASE = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=64)

CASES = {
    "llama": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(tie_word_embeddings=False)),
    "llama_tied": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(tie_word_embeddings=True)),
    "llama3_rope": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(rope_parameters=dict(
        rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=16))),
    "mistral_sliding": (tf.MistralConfig, tf.MistralForCausalLM, dict(sliding_window=4)),
    "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, dict()),
    "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM, dict(head_dim=16)),
    "olmo": (tf.OlmoConfig, tf.OlmoForCausalLM, dict(clip_qkv=0.6, pad_token_id=1)),
    "llama_classifier": (tf.LlamaConfig, tf.LlamaForSequenceClassification, dict(num_labels=1, pad_token_id=0)),
}


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights far from init (norm scales != 1, biases != 0) so every parameter matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if "norm" in name else 0.15 * noise)


def _make(tmp_path_factory, case):
    cfg_cls, model_cls, extra = CASES[case]
    hf_cfg = cfg_cls(**{**BASE, **extra})
    torch.manual_seed(0)
    ref = model_cls(hf_cfg).eval()
    _randomise(ref, seed=1)
    path = tmp_path_factory.mktemp(case)
    ref.save_pretrained(path)
    return ref, path


def _ragged_batch(rng, lengths, vocab, pad=0):
    t = max(lengths)
    ids = np.full((len(lengths), t), pad, np.int64)
    mask = np.zeros((len(lengths), t), np.int64)
    for i, n in enumerate(lengths):
        ids[i, t - n:] = rng.integers(2, vocab, n)
        mask[i, t - n:] = 1
    return ids, mask


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(case, tmp_path_factory):
    ref, path = _make(tmp_path_factory, case)
    ours = load_pretrained(path)
    fwd = nnx.jit(lambda m, ids, mask: m(ids, mask))
    rng = np.random.default_rng(0)

    # no padding, a sequence longer than Mistral's window of 4
    ids = rng.integers(2, BASE["vocab_size"], (2, 12))
    with torch.no_grad():
        want = (ref(torch.tensor(ids)).logits).numpy()
    got = np.asarray(fwd(ours, jnp.asarray(ids, jnp.int32), jnp.ones(ids.shape, jnp.int32)))
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= TOL, np.abs(got - want).max()

    # left padding: HF gets the mask and the real tokens' positions
    ids, mask = _ragged_batch(rng, [12, 7, 3], BASE["vocab_size"], pad=ref.config.pad_token_id or 0)
    pos = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        want = ref(torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos)).logits.numpy()
    got = np.asarray(fwd(ours, jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)))
    if case.endswith("classifier"):
        assert np.abs(got - want).max() <= TOL
        return
    real = mask.astype(bool)
    assert np.abs(got - want)[real].max() <= TOL, np.abs(got - want)[real].max()

    # and a padded row equals the same row run alone
    alone = np.asarray(fwd(ours, jnp.asarray(ids[2:, -3:], jnp.int32), jnp.ones((1, 3), jnp.int32)))
    assert np.abs(alone[0] - got[2, -3:]).max() <= TOL


def test_classifier_reads_last_non_pad_token(tmp_path_factory):
    ref, path = _make(tmp_path_factory, "llama_classifier")
    ours = load_pretrained(path)
    ids = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])  # right padding, HF's pad-id rule
    with torch.no_grad():
        want = ref(torch.tensor(ids)).logits.numpy()
    got = np.asarray(ours(jnp.asarray(ids, jnp.int32)))
    assert got.shape == (2, 1)
    assert np.abs(got - want).max() <= TOL


def test_config_mapping_reads_families():
    cfg = from_hf({**BASE, "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu", "rms_norm_eps": 1e-6,
                   "use_sliding_window": True, "sliding_window": 8, "max_window_layers": 1})
    assert cfg.family == "qwen2" and cfg.qkv_bias and cfg.layer_windows().tolist() == [0, 8]
    cfg = from_hf({**BASE, "architectures": ["OlmoForCausalLM"], "clip_qkv": 8.0})
    assert cfg.norm == "layernorm_np" and cfg.clip_qkv == 8.0 and not cfg.tie_word_embeddings


def test_bfloat16_runs_close_to_float32(tmp_path_factory):
    _, path = _make(tmp_path_factory, "llama")
    ids = jnp.asarray(np.random.default_rng(1).integers(2, 97, (2, 10)), jnp.int32)
    f32 = np.asarray(load_pretrained(path)(ids))
    model16 = load_pretrained(path, dtype="bfloat16")
    assert nnx.state(model16, nnx.Param)["model"]["embed"]["embedding"].get_value().dtype == jnp.bfloat16
    b16 = np.asarray(model16(ids))
    assert b16.dtype == np.float32
    # bf16 has 8 mantissa bits: agreement to a few percent of the logit scale, not to 1e-4
    assert np.abs(b16 - f32).max() <= 0.05 * np.abs(f32).max()
    assert np.abs(b16 - f32).max() > 0  # it really ran in bfloat16


@pytest.mark.parametrize("case", ["llama", "mistral_sliding", "qwen3"])
def test_chunked_attention_matches_transformers(case, tmp_path_factory, monkeypatch):
    """The memory-efficient attention (online softmax over key chunks, queries in chunks) gives
    transformers' logits on a left-padded batch, with chunks of 4 (several per row, a ragged last
    one, a sliding window of 4 across chunk borders), and the dense form's to 1e-5."""
    from laser_jax.models import decoder as D

    monkeypatch.setattr(D, "ATTENTION_CHUNK", 4)
    ref, path = _make(tmp_path_factory, case)
    rng = np.random.default_rng(3)
    ids, mask = _ragged_batch(rng, [13, 7, 2], BASE["vocab_size"])
    pos = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        want = ref(torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos)).logits.numpy()
    ids_j, mask_j = jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)
    chunked = np.asarray(D.with_attention(load_pretrained(path), "chunked")(ids_j, mask_j))
    dense = np.asarray(D.with_attention(load_pretrained(path), "dense")(ids_j, mask_j))
    dpa = np.asarray(D.with_attention(load_pretrained(path), "dot_product")(ids_j, mask_j))
    real = mask.astype(bool)
    assert np.abs(chunked - want)[real].max() <= TOL
    assert np.abs(chunked - dense)[real].max() <= 1e-5
    assert np.abs(dpa - want)[real].max() <= TOL  # jax.nn.dot_product_attention (XLA on CPU)
    assert np.isfinite(chunked).all() and np.isfinite(dpa[real]).all()
    with pytest.raises(Exception, match="attention='flash'"):
        D.with_attention(load_pretrained(path), "flash")
