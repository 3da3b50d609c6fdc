"""Architectures of the paper's models, for planning without downloading them (memory tables,
abstract shapes, benchmarks). Numbers from each model's public config.json."""

from __future__ import annotations

from laser_jax.errors import ConfigError
from laser_jax.models.config import DecoderConfig

_MISTRAL_7B = dict(family="mistral", vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_layers=32,
                   num_heads=32, num_kv_heads=8, head_dim=128, rope_theta=10000.0, norm_eps=1e-5,
                   sliding_window=4096, max_position_embeddings=32768)
_QWEN15_7B = dict(family="qwen2", vocab_size=151936, hidden_size=4096, intermediate_size=11008, num_layers=32,
                  num_heads=32, num_kv_heads=32, head_dim=128, rope_theta=1000000.0, qkv_bias=True,
                  max_position_embeddings=32768)
_OLMO_7B = dict(family="olmo", vocab_size=50304, hidden_size=4096, intermediate_size=11008, num_layers=32,
                num_heads=32, num_kv_heads=32, head_dim=128, norm="layernorm_np", norm_eps=1e-5,
                max_position_embeddings=2048)

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
}


def preset(name: str) -> DecoderConfig:
    if name not in PRESETS:
        raise ConfigError(f"no preset architecture for {name!r}; known: {sorted(PRESETS)}")
    return PRESETS[name]
