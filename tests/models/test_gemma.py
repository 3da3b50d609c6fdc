"""Gemma 2 and Gemma 3 (text) against transformers' PyTorch classes on tiny random configs (float32).

Four layers mixing sliding (window 4) and global attention on 12-token rows, GQA (4 heads, 2 KV
heads), query_pre_attn_scalar != head_dim, (1 + w) norms far from 0, soft-capping (Gemma 2's
attention and both families' final logits), Gemma 3's QK-norm and local / global RoPE bases (a
linearly scaled global one); tied and untied heads. The same random weights are saved once as
safetensors and loaded by both; logits must agree to 1e-4 at every real token, left padding
included, on every attention path (dense, chunked, dot_product, prompt-once continuations) and in
greedy decoding with the sampler's KV-cache decode step past the window.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as tf
from flax import nnx

from laser_jax import sampling
from laser_jax.models import decoder as D
from laser_jax.models import load_pretrained
from laser_jax.models.config import from_hf

TOL = 1e-4
V = 128
BASE = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, max_position_embeddings=64, sliding_window=4,
            query_pre_attn_scalar=24, pad_token_id=0, attn_implementation="eager")
_MIXED = ["sliding_attention", "sliding_attention", "full_attention", "sliding_attention"]
_ROPE3 = {"sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
          "full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}}
CASES = {  # Gemma 2's default layer_types alternate sliding / global
    "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM, dict(attn_logit_softcapping=2.0,
                                                           final_logit_softcapping=2.0)),
    "gemma2_untied": (tf.Gemma2Config, tf.Gemma2ForCausalLM, dict(
        tie_word_embeddings=False, layer_types=_MIXED, attn_logit_softcapping=2.0, final_logit_softcapping=3.0)),
    "gemma3": (tf.Gemma3TextConfig, tf.Gemma3ForCausalLM, dict(layer_types=_MIXED, rope_parameters=_ROPE3)),
    "gemma3_untied": (tf.Gemma3TextConfig, tf.Gemma3ForCausalLM, dict(
        tie_word_embeddings=False, layer_types=_MIXED, rope_parameters=_ROPE3, final_logit_softcapping=2.0)),
}
CLASSIFIERS = {
    "gemma2_classifier": (tf.Gemma2Config, tf.Gemma2ForSequenceClassification, dict(
        num_labels=1, attn_logit_softcapping=2.0, final_logit_softcapping=2.0)),
    "gemma3_classifier": (tf.Gemma3TextConfig, tf.Gemma3TextForSequenceClassification, dict(
        num_labels=2, layer_types=_MIXED, rope_parameters=_ROPE3)),
}


def _make(tmp_path_factory, case):
    cfg_cls, model_cls, extra = {**CASES, **CLASSIFIERS}[case]
    torch.manual_seed(0)
    ref = model_cls(cfg_cls(**{**BASE, **extra})).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # weights far from init: (1 + w) norms with w != 0, every parameter matters
        for name, p in ref.named_parameters():
            p.copy_((0.3 if "norm" in name else 0.15) * torch.randn(p.shape, generator=g))
    path = tmp_path_factory.mktemp(case)
    ref.save_pretrained(path)
    return ref, path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {case: _make(tmp_path_factory, case) for case in CASES}


def _ragged(rng, lengths):
    t = max(lengths)
    ids, mask = np.zeros((len(lengths), t), np.int64), np.zeros((len(lengths), t), np.int64)
    for i, n in enumerate(lengths):
        ids[i, t - n:] = rng.integers(2, V, n)
        mask[i, t - n:] = 1
    return ids, mask


def _hf_logits(ref, ids, mask):
    """transformers' logits for a left-padded batch (the real tokens' positions given)."""
    pos = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        return ref(torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos)).logits.numpy()


def test_config_mapping(models):
    g2 = load_pretrained(models["gemma2"][1]).cfg
    assert (g2.family, g2.norm, g2.activation, g2.sandwich_norm, g2.scale_embeddings) == (
        "gemma2", "rms_1p", "gelu_tanh", True, True)
    assert g2.layer_windows().tolist() == [4, 0, 4, 0] and g2.tie_word_embeddings
    assert (g2.attn_softcap, g2.final_softcap, g2.attention_scale()) == (2.0, 2.0, 24 ** -0.5)
    g3 = load_pretrained(models["gemma3_untied"][1]).cfg
    assert g3.qk_norm and g3.attn_softcap is None and not g3.tie_word_embeddings
    assert g3.layer_windows().tolist() == [4, 4, 0, 4]
    inv = g3.layer_inv_freq()
    assert np.allclose(inv[0], 100.0 ** -(np.arange(0, 16, 2) / 16))
    assert np.allclose(inv[2], 10000.0 ** -(np.arange(0, 16, 2) / 16) / 2.0)
    # an older Gemma 3 config.json: rope_theta, rope_local_base_freq, sliding_window_pattern
    old = from_hf({**{k: v for k, v in BASE.items() if k != "attn_implementation"}, "num_hidden_layers": 6,
                   "model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh", "rope_theta": 1e6,
                   "rope_local_base_freq": 1e4, "rope_scaling": {"rope_type": "linear", "factor": 8.0}})
    assert old.layer_windows().tolist() == [4, 4, 4, 4, 4, 0] and old.rope_local_theta == 1e4
    assert (old.rope_theta, old.rope_type, old.rope_factor) == (1e6, "linear", 8.0)


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(case, models):
    ref, path = models[case]
    ours = load_pretrained(path)
    fwd = nnx.jit(lambda m, ids, mask: m(ids, mask))
    rng = np.random.default_rng(0)
    ids = rng.integers(2, V, (2, 12))  # no padding, rows 3x the window
    with torch.no_grad():
        want = ref(torch.tensor(ids)).logits.numpy()
    got = np.asarray(fwd(ours, jnp.asarray(ids, jnp.int32), jnp.ones(ids.shape, jnp.int32)))
    assert np.abs(got - want).max() <= TOL, np.abs(got - want).max()

    ids, mask = _ragged(rng, [12, 7, 3])
    want = _hf_logits(ref, ids, mask)
    got = np.asarray(fwd(ours, jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)))
    real = mask.astype(bool)
    assert np.abs(got - want)[real].max() <= TOL, np.abs(got - want)[real].max()
    alone = np.asarray(fwd(ours, jnp.asarray(ids[2:, -3:], jnp.int32), jnp.ones((1, 3), jnp.int32)))
    assert np.abs(alone[0] - got[2, -3:]).max() <= TOL


@pytest.mark.parametrize("case", ["gemma2", "gemma3_untied"])
def test_attention_paths_match_transformers(case, models, monkeypatch):
    """chunked (chunks of 4, the window across chunk borders), dense and dot_product (Gemma 2's
    soft-cap makes it fall back) on a left-padded batch; and the prompt-once continuations."""
    monkeypatch.setattr(D, "ATTENTION_CHUNK", 4)
    ref, path = models[case]
    ids, mask = _ragged(np.random.default_rng(3), [13, 7, 2])
    want = _hf_logits(ref, ids, mask)
    real = mask.astype(bool)
    ids_j, mask_j = jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)
    for impl in ("chunked", "dense", "dot_product"):
        got = np.asarray(D.with_attention(load_pretrained(path), impl)(ids_j, mask_j))
        assert np.abs(got - want)[real].max() <= TOL, (impl, np.abs(got - want)[real].max())

    # prompt-once: 2 continuations of 5 tokens (one right-padded) after the left-padded prompts
    model = load_pretrained(path)
    rng = np.random.default_rng(4)
    cont = rng.integers(2, V, (3, 2, 5))
    cmask = np.ones((3, 2, 5), np.int64)
    cmask[:, 1, 3:] = 0
    _, prefix = D.prefill(model, ids_j, mask_j)
    h, _ = model.hidden(jnp.asarray(cont, jnp.int32), jnp.asarray(cmask, jnp.int32), prefix=prefix)
    got = np.asarray(model.logits(h))
    for j in range(2):
        full_ids = np.concatenate([ids, cont[:, j]], 1)
        full_mask = np.concatenate([mask, cmask[:, j]], 1)
        want = _hf_logits(ref, full_ids, full_mask)[:, -5:]
        ok = cmask[:, j].astype(bool)
        assert np.abs(got[:, j] - want)[ok].max() <= TOL, (j, np.abs(got[:, j] - want)[ok].max())


@pytest.mark.parametrize("case", ["gemma2_untied", "gemma3"])
def test_greedy_decode_matches_full_forwards(case, models):
    """The sampler's greedy decode (prefill + KV-cache decode steps, 2 rows per prompt) against
    transformers' argmax over the full left-padded rows, re-run for every token: 8 new tokens
    after prompts of 6 and 3, so rows outgrow the window of 4 twice over."""
    ref, path = models[case]
    model = load_pretrained(path)
    ids, mask = _ragged(np.random.default_rng(5), [6, 3])
    steps = 8
    cfg = sampling.SamplingConfig(max_new_tokens=steps, n=2, temperature=0.0, eos_ids=(), pad_id=0)
    out = sampling.sample(model, jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32), jax.random.key(0), cfg)
    tokens, logprobs = np.asarray(out.tokens), np.asarray(out.logprobs)
    assert tokens.shape == (2, 2, steps) and (tokens[:, 0] == tokens[:, 1]).all()

    seq, smask = ids.copy(), mask.copy()
    for s in range(steps):
        logits = torch.tensor(_hf_logits(ref, seq, smask)[:, -1])
        want_tok = logits.argmax(-1).numpy()
        want_lp = torch.log_softmax(logits, -1).numpy()[np.arange(2), want_tok]
        assert (tokens[:, 0, s] == want_tok).all(), (s, tokens[:, 0, s], want_tok)
        assert np.abs(logprobs[:, 0, s] - want_lp).max() <= TOL, (s, logprobs[:, 0, s], want_lp)
        seq = np.concatenate([seq, want_tok[:, None]], 1)
        smask = np.concatenate([smask, np.ones((2, 1), np.int64)], 1)


@pytest.mark.parametrize("case", list(CLASSIFIERS))
def test_classifier_matches_transformers(case, tmp_path_factory):
    """*ForSequenceClassification: the score head at each left-padded row's last token."""
    ref, path = _make(tmp_path_factory, case)
    ours = load_pretrained(path)
    assert isinstance(ours, D.SequenceClassifier)
    ids, mask = _ragged(np.random.default_rng(6), [12, 7, 3])
    want = _hf_logits(ref, ids, mask)
    got = np.asarray(ours(jnp.asarray(ids, jnp.int32), jnp.asarray(mask, jnp.int32)))
    assert got.shape == want.shape and np.abs(got - want).max() <= TOL, np.abs(got - want).max()
