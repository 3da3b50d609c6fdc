"""Architectures of the paper's models, for planning without downloading them (memory tables,
abstract shapes, benchmarks), and of the Gemma 2 / 3 sizes. Numbers from each model's public
config.json (written here from those files' published values; `python -m laser_jax.memory
--presets` lists them all)."""

from __future__ import annotations

from laser_jax.errors import ConfigError
from laser_jax.models.config import DecoderConfig, from_hf

_MISTRAL_7B = dict(family="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_layers=32,
                   num_heads=32, num_kv_heads=8, head_dim=128, rope_theta=10000.0, norm_eps=1e-5,
                   sliding_window=4096, max_position_embeddings=32768)
_QWEN15_7B = dict(family="qwen2", vocab_size=151936, hidden_size=4096, intermediate_size=11008, num_layers=32,
                  num_heads=32, num_kv_heads=32, head_dim=128, rope_theta=1000000.0, qkv_bias=True,
                  max_position_embeddings=32768)
_OLMO_7B = dict(family="olmo", vocab_size=50304, hidden_size=4096, intermediate_size=11008, num_layers=32,
                num_heads=32, num_kv_heads=32, head_dim=128, norm="layernorm_np", norm_eps=1e-5,
                max_position_embeddings=2048)



def _gemma(arch: str, **hf) -> DecoderConfig:
    """A Gemma preset from the keys of its published config.json (text part), mapped by `from_hf`
    as a downloaded one would be; Gemma ties its embeddings and uses tanh GELU throughout."""
    return from_hf(dict(architectures=[arch], hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
                        tie_word_embeddings=True, pad_token_id=0, bos_token_id=2, eos_token_id=1, **hf))


# Gemma 3 (google/gemma-3-{270m,1b}-pt config.json; 4b/12b/27b: text_config of gemma-3-*-pt's):
# sliding window 512 / 1024 on 5 of every 6 layers, local RoPE base 10000, global 1e6 (linear x8
# from 4b up), query_pre_attn_scalar = head_dim except 27b's hidden / heads = 168, no soft-caps.
_GEMMA3 = dict(head_dim=256, query_pre_attn_scalar=256, rope_theta=1_000_000.0, rope_local_base_freq=10000.0,
               sliding_window_pattern=6, final_logit_softcapping=None, attn_logit_softcapping=None)
_GEMMA3_BIG = dict(_GEMMA3, vocab_size=262208, sliding_window=1024, max_position_embeddings=131072,
                   rope_scaling={"rope_type": "linear", "factor": 8.0})
# Gemma 2 (google/gemma-2-{9b,27b} config.json): every 2nd layer sliding (4096), soft-caps 50 / 30
_GEMMA2 = dict(vocab_size=256000, head_dim=256, query_pre_attn_scalar=256, rope_theta=10000.0, sliding_window=4096,
               attn_logit_softcapping=50.0, final_logit_softcapping=30.0, max_position_embeddings=8192)
GEMMA_PRESETS: dict[str, DecoderConfig] = {
    "gemma-3-270m": _gemma("Gemma3ForCausalLM", **dict(
        _GEMMA3, vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
        num_attention_heads=4, num_key_value_heads=1, sliding_window=512, max_position_embeddings=32768)),
    "gemma-3-1b": _gemma("Gemma3ForCausalLM", **dict(
        _GEMMA3, vocab_size=262144, hidden_size=1152, intermediate_size=6912, num_hidden_layers=26,
        num_attention_heads=4, num_key_value_heads=1, sliding_window=512, max_position_embeddings=32768)),
    "gemma-3-4b": _gemma("Gemma3ForCausalLM", **dict(
        _GEMMA3_BIG, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34, num_attention_heads=8,
        num_key_value_heads=4)),
    "gemma-3-12b": _gemma("Gemma3ForCausalLM", **dict(
        _GEMMA3_BIG, hidden_size=3840, intermediate_size=15360, num_hidden_layers=48, num_attention_heads=16,
        num_key_value_heads=8)),
    "gemma-3-27b": _gemma("Gemma3ForCausalLM", **dict(
        _GEMMA3_BIG, hidden_size=5376, intermediate_size=21504, num_hidden_layers=62, num_attention_heads=32,
        num_key_value_heads=16, head_dim=128, query_pre_attn_scalar=168)),
    "gemma-2-9b": _gemma("Gemma2ForCausalLM", **dict(
        _GEMMA2, hidden_size=3584, intermediate_size=14336, num_hidden_layers=42, num_attention_heads=16,
        num_key_value_heads=8)),
    "gemma-2-27b": _gemma("Gemma2ForCausalLM", **dict(
        _GEMMA2, hidden_size=4608, intermediate_size=36864, num_hidden_layers=46, num_attention_heads=32,
        num_key_value_heads=16, head_dim=128, query_pre_attn_scalar=144)),
}

PRESETS: dict[str, DecoderConfig] = {
    "meta-llama/Meta-Llama-3-8B-Instruct": DecoderConfig(
        family="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_layers=32, num_heads=32,
        num_kv_heads=8, head_dim=128, rope_theta=500000.0, norm_eps=1e-5, max_position_embeddings=8192),
    "HuggingFaceH4/zephyr-7b-alpha": DecoderConfig(**_MISTRAL_7B),
    "HuggingFaceH4/mistral-7b-sft-alpha": DecoderConfig(**_MISTRAL_7B),
    "openbmb/Eurus-7b-kto": DecoderConfig(**_MISTRAL_7B),
    "openbmb/Eurus-7b-sft": DecoderConfig(**_MISTRAL_7B),
    "Qwen/Qwen1.5-7B-Chat": DecoderConfig(**_QWEN15_7B),
    "Qwen/Qwen1.5-7B": DecoderConfig(**_QWEN15_7B),
    "allenai/OLMo-7B-Instruct-hf": DecoderConfig(**_OLMO_7B),
    "allenai/OLMo-7B-SFT-hf": DecoderConfig(**_OLMO_7B),
    "smollm2-135m-instruct": DecoderConfig(
        family="llama", vocab_size=49152, hidden_size=576, intermediate_size=1536, num_layers=30, num_heads=9,
        num_kv_heads=3, head_dim=64, rope_theta=100000.0, norm_eps=1e-5, tie_word_embeddings=True,
        max_position_embeddings=8192),
    # a 1B Llama-shaped model (Llama-3.2-1B's shape) for accelerator throughput checks
    "llama-1b": DecoderConfig(
        family="llama", vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_layers=16, num_heads=32,
        num_kv_heads=8, head_dim=64, rope_theta=500000.0, norm_eps=1e-5, tie_word_embeddings=True,
        max_position_embeddings=8192),
    **GEMMA_PRESETS,
}


def preset(name: str) -> DecoderConfig:
    if name not in PRESETS:
        raise ConfigError(f"no preset architecture for {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
