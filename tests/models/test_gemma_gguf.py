"""Gemma 2 / 3 GGUF files as llama.cpp writes them (norm weights stored as 1 + w, the layer
pattern, local RoPE base and attention scale left to the reader), written here from tiny random
transformers models and read back by laser_jax: config and logits against the PyTorch model."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch
import transformers as tf

from laser_jax.models import load_pretrained

V, LAYERS, HEAD_DIM = 128, 6, 16
BASE = dict(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=LAYERS, num_attention_heads=4,
            num_key_value_heads=2, head_dim=HEAD_DIM, max_position_embeddings=64, sliding_window=4,
            query_pre_attn_scalar=HEAD_DIM, pad_token_id=0, attn_implementation="eager")
CASES = {
    "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM, dict(attn_logit_softcapping=2.0, final_logit_softcapping=3.0,
                                                           rope_parameters={"rope_type": "default",
                                                                            "rope_theta": 10000.0})),
    "gemma3": (tf.Gemma3TextConfig, tf.Gemma3ForCausalLM, dict(rope_parameters={
        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0}})),
}
NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
PER_LAYER = {"input_layernorm": "attn_norm", "post_attention_layernorm": "post_attention_norm",
             "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}


def _write(path, arch, ref):
    c = ref.config
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(LAYERS)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_freq_base(10000.0 if arch == "gemma2" else 1_000_000.0)
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_sliding_window(c.sliding_window)
    w.add_vocab_size(V)
    if arch == "gemma2":
        w.add_attn_logit_softcapping(2.0)
        w.add_final_logit_softcapping(3.0)
    for key, value in ref.state_dict().items():
        arr = value.numpy().astype(np.float32)
        if key.endswith("norm.weight"):
            arr = arr + 1.0  # llama.cpp's converter: Gemma norms multiply by the stored weight
        if key in NAMES:
            name = NAMES[key]
        elif key == "lm_head.weight":
            continue  # tied
        else:
            i, rest = key.split(".", 3)[2], key.split(".", 3)[3]
            name = f"blk.{i}.{PER_LAYER[rest.rsplit('.', 1)[0]]}.weight"
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("arch", list(CASES))
def test_gguf_gemma_matches_transformers(arch, tmp_path):
    cfg_cls, model_cls, extra = CASES[arch]
    torch.manual_seed(0)
    ref = model_cls(cfg_cls(**{**BASE, **extra})).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # (1 + w) norms with w != 0: a missed "- 1" shows
        for name, p in ref.named_parameters():
            p.copy_((0.3 if "norm" in name else 0.15) * torch.randn(p.shape, generator=g))
    path = tmp_path / f"{arch}.gguf"
    _write(path, arch, ref)
    ours = load_pretrained(path)
    cfg = ours.cfg
    assert list(cfg.layer_types) == list(ref.config.layer_types)
    assert cfg.layer_windows().tolist() == ([4, 0] * 3 if arch == "gemma2" else [4] * 5 + [0])
    assert cfg.attention_scale() == HEAD_DIM ** -0.5 and cfg.tie_word_embeddings
    if arch == "gemma2":
        assert (cfg.attn_softcap, cfg.final_softcap) == (2.0, 3.0)
    else:
        assert (cfg.rope_local_theta, cfg.rope_theta, cfg.final_softcap, cfg.qk_norm) == (10000.0, 1e6, None, True)
    rng = np.random.default_rng(0)
    ids = np.zeros((2, 10), np.int64)
    mask = np.zeros((2, 10), np.int64)
    for i, n in enumerate((10, 6)):  # left padding, rows longer than the window
        ids[i, 10 - n:], mask[i, 10 - n:] = rng.integers(2, V, n), 1
    pos = np.maximum(np.cumsum(mask, 1) - 1, 0)
    with torch.no_grad():
        want = ref(torch.tensor(ids), attention_mask=torch.tensor(mask), position_ids=torch.tensor(pos)).logits.numpy()
    got = np.asarray(ours(ids.astype(np.int32), mask.astype(np.int32)))
    assert np.abs(got - want)[mask.astype(bool)].max() <= 1e-4
