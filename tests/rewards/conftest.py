"""Offline fixtures for the reward-model tests: tiny tokenizers (no hub) and tiny HF Llama
checkpoints (random weights, saved with transformers and loaded with laser_jax), plus PyTorch
reference scoring that shares nothing with laser_jax but the token ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers as tf

from laser_jax.models import tiny

# tokenizer B: a few merges, so the same text tokenises differently from A (char-level)
MERGES_B = [("t", "h"), ("th", "e"), (" ", "t"), ("e", "r"), ("a", "n"), ("i", "s"), (" ", "a"), ("o", "n"),
            ("1", "8"), ("e", " ")]
VOCAB = tiny.VOCAB
BASE = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0, bos_token_id=2, eos_token_id=3)


def make_tokenizer(merges=(), chat: bool = True, max_vocab: int | None = VOCAB) -> tf.PreTrainedTokenizerFast:
    return tiny.tokenizer(merges, chat=chat, max_vocab=max_vocab)


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights far from init (norm scales != 1) so every parameter matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.2 * noise if "norm" in name else 0.15 * noise)


def save_tiny(path, kind: str, seed: int, tokenizer=None, **extra):
    """A tiny Llama (kind 'lm' or 'classifier') saved to `path` (with `tokenizer`); returns the torch model."""
    cfg = tf.LlamaConfig(**{**BASE, **extra})
    torch.manual_seed(seed)
    cls = tf.LlamaForCausalLM if kind == "lm" else tf.LlamaForSequenceClassification
    model = cls(cfg).eval()
    randomise(model, seed)
    model.save_pretrained(path)
    if tokenizer is not None:
        tokenizer.save_pretrained(path)
    return model


@pytest.fixture(scope="session")
def tok_a():
    return make_tokenizer()


@pytest.fixture(scope="session")
def tok_b():
    return make_tokenizer(MERGES_B)


@pytest.fixture(scope="session")
def tok_plain():
    return make_tokenizer(chat=False)


@pytest.fixture(scope="session")
def lm_dirs(tmp_path_factory, tok_a):
    """Three tiny causal LMs (one architecture, different weights) saved with tokenizer A."""
    out = []
    for seed in (1, 2, 3):
        path = tmp_path_factory.mktemp(f"lm{seed}")
        out.append((path, save_tiny(path, "lm", seed, tok_a)))
    return out


@pytest.fixture(scope="session")
def classifier_dirs(tmp_path_factory, tok_a):
    """Two tiny Llama sequence classifiers (3 labels) saved with tokenizer A. (Not 2: transformers 5
    omits id2label for its default of 2 labels, and laser_jax.models reads a missing id2label as 1.)"""
    out = []
    for seed in (11, 12):
        path = tmp_path_factory.mktemp(f"cls{seed}")
        out.append((path, save_tiny(path, "classifier", seed, tok_a, num_labels=3)))
    return out


@pytest.fixture(scope="session")
def jax_lms(lm_dirs):
    from laser_jax.models import load_pretrained

    return [load_pretrained(p) for p, _ in lm_dirs]


@pytest.fixture(scope="session")
def jax_classifiers(classifier_dirs):
    from laser_jax.models import load_pretrained

    return [load_pretrained(p) for p, _ in classifier_dirs]


# ---- PyTorch references (one unpadded row at a time) -------------------------------------------

def torch_response_logprobs(model: torch.nn.Module, ids, n_prompt: int) -> np.ndarray:
    """log p(ids[t] | ids[<t]) for t = n_prompt .. len-1, from the torch model's own logits."""
    with torch.no_grad():
        logits = model(torch.tensor([list(ids)])).logits[0].double().numpy()
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    t = np.arange(max(n_prompt, 1), len(ids))
    return logp[t - 1, np.asarray(ids)[t]]


def torch_classifier_logits(model: torch.nn.Module, ids) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([list(ids)])).logits[0].double().numpy()


PROMPTS = ["What is 9 * 2?", "Is the sky blue?", "Name a prime.", "Q: 3+4?"]
RESPONSES = ["9 * 2 = 18. Final answer: 18", "Yes, it is.", "7", "The answer is 7, since 3 + 4 = 7 and that is it."]


@pytest.fixture(scope="session")
def helpers():
    """The module-level helpers of this conftest (tests run with --import-mode=importlib, so they
    cannot import conftest directly)."""
    import types

    return types.SimpleNamespace(make_tokenizer=make_tokenizer, save_tiny=save_tiny, MERGES_B=MERGES_B,
                                 torch_response_logprobs=torch_response_logprobs,
                                 torch_classifier_logits=torch_classifier_logits,
                                 PROMPTS=PROMPTS, RESPONSES=RESPONSES)
