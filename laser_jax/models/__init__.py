"""Flax NNX decoders (Llama, Mistral, Qwen2, Qwen3, OLMo) and their loaders."""

from laser_jax.models.config import CheckpointError, DecoderConfig
from laser_jax.models.decoder import CausalLM, SequenceClassifier, build, init_cache
from laser_jax.models.loading import load_config, load_pretrained, load_tokenizer

__all__ = ["CheckpointError", "DecoderConfig", "CausalLM", "SequenceClassifier", "build", "init_cache",
           "load_config", "load_pretrained", "load_tokenizer"]
