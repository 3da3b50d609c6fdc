"""The real SmolLM2-135M-Instruct GGUF (fetched from PyPI, see laser_jax/models/embedded.py):
our logits and greedy text against transformers loading the same GGUF in PyTorch."""

from __future__ import annotations

import time

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from laser_jax.models.loading import convert
from laser_jax.models import load_pretrained, load_tokenizer
from laser_jax.models.embedded import smollm2_gguf
from laser_jax.sampling import greedy

pytestmark = pytest.mark.slow
PROMPTS = ["What is 12*7?", "Name the capital of France and one thing it is famous for.",
           "Is a tomato a fruit? Answer yes or no, then explain briefly."]


@pytest.fixture(scope="module")
def smol():
    path = smollm2_gguf()
    t0 = time.perf_counter()
    ours = load_pretrained(path)
    load_s = time.perf_counter() - t0
    tok = load_tokenizer(path)
    from transformers import AutoModelForCausalLM

    ref = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    print(f"\nSmolLM2 GGUF load (laser_jax): {load_s:.2f} s")
    return path, ours, tok, ref


def _chat_ids(tok, text):
    return tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                   return_dict=True)["input_ids"]


def _left_pad(rows, pad):
    t = max(map(len, rows))
    ids = np.full((len(rows), t), pad, np.int32)
    mask = np.zeros((len(rows), t), np.int32)
    for i, r in enumerate(rows):
        ids[i, t - len(r):] = r
        mask[i, t - len(r):] = 1
    return ids, mask


def test_logits_match_pytorch(smol):
    _, ours, tok, ref = smol
    rows = [_chat_ids(tok, p) for p in PROMPTS]
    ids, mask = _left_pad(rows, tok.pad_token_id)
    got = np.asarray(nnx.jit(lambda m, i, k: m(i, k))(ours, jnp.asarray(ids), jnp.asarray(mask)))
    worst = 0.0
    for i, r in enumerate(rows):
        with torch.no_grad():
            want = ref(torch.tensor([r])).logits[0].numpy()
        mine = got[i, -len(r):]
        worst = max(worst, float(np.abs(mine - want).max()))
        np.testing.assert_array_equal(mine.argmax(-1), want.argmax(-1))
    print(f"max |logit diff| vs PyTorch over {sum(map(len, rows))} positions: {worst:.2e}")
    assert worst <= 1e-3


def test_greedy_text_matches_pytorch(smol):
    _, ours, tok, ref = smol
    ids = _chat_ids(tok, PROMPTS[0])
    with torch.no_grad():
        out = ref.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                           max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
    want = tok.decode(out[0, len(ids):], skip_special_tokens=True)
    res = greedy(ours, jnp.asarray([ids], jnp.int32), jnp.ones((1, len(ids)), jnp.int32), max_new_tokens=40,
                 eos_ids=(tok.eos_token_id,), pad_id=tok.pad_token_id)
    n = int(res.lengths[0, 0])
    got = tok.decode(np.asarray(res.tokens[0, 0, :n]), skip_special_tokens=True)
    print(f"greedy: {got!r}")
    assert got == want and len(got) > 0


def test_flax_checkpoint_round_trip(smol, tmp_path):
    path, ours, tok, _ = smol
    dst = convert(path, tmp_path / "smollm2")
    t0 = time.perf_counter()
    again = load_pretrained(dst)
    print(f"SmolLM2 Flax checkpoint load: {time.perf_counter() - t0:.2f} s")
    ids = jnp.asarray([_chat_ids(tok, PROMPTS[1])], jnp.int32)
    fwd = nnx.jit(lambda m, i: m(i))
    np.testing.assert_array_equal(np.asarray(fwd(ours, ids)), np.asarray(fwd(again, ids)))
    assert load_tokenizer(dst)(PROMPTS[1])["input_ids"] == tok(PROMPTS[1])["input_ids"]


def test_tokenizer_without_torch_matches_transformers(smol):
    """Ours reads the GGUF's tokenizer metadata itself (transformers' GGUF path imports PyTorch,
    which a plain install lacks); it must encode, decode and template exactly like transformers'."""
    from transformers import AutoTokenizer

    path, _, tok, _ = smol
    ref = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    texts = PROMPTS + ["  two leading spaces\nand\n\nnewlines", "Ünïcödé — 数学 🙂", "<|im_start|>user\nhi<|im_end|>", ""]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids == ref(text)["input_ids"], text
        assert tok.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)
    for text in PROMPTS:
        assert _chat_ids(tok, text) == _chat_ids(ref, text)
    for attr in ("bos_token_id", "eos_token_id", "unk_token_id", "vocab_size"):
        assert getattr(tok, attr) == getattr(ref, attr), attr


def test_tokenizer_loads_without_torch(tmp_path):
    """The README's first command installs no PyTorch: load the tokenizer in a process where
    importing torch fails."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['torch'] = None\n"
            "from laser_jax.models import load_tokenizer\n"
            f"tok = load_tokenizer({str(smollm2_gguf())!r})\n"
            "print(tok('What is 12*7?')['input_ids'])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    ref = load_tokenizer(smollm2_gguf())("What is 12*7?")["input_ids"]
    assert run.stdout.strip().splitlines()[-1] == str(ref)


def test_tokenizer_is_built_once_then_read_from_the_cache(tmp_path, monkeypatch, caplog):
    """models/gguf_cache.py: the first load builds the tokenizer from the GGUF's metadata and saves
    it; later loads read the saved one, which encodes, templates and decodes as the built one; a
    damaged entry is built again (with a warning)."""
    from laser_jax.models import gguf_cache, gguf_io
    from laser_jax.models.cache import _tokenizer_fingerprint

    path = smollm2_gguf()
    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path))
    built = gguf_io.load_tokenizer(path)
    first = load_tokenizer(path)  # builds and writes the entry
    folder = gguf_cache.folder_for(path, "tokenizers")
    assert folder.parent == tmp_path / "tokenizers" and (folder / "tokenizer.json").is_file()
    assert (folder / "source.txt").read_text() == str(path.resolve())

    def no_building(*args, **kwargs):
        raise AssertionError("built from the GGUF although the cache holds the tokenizer")

    with monkeypatch.context() as m:
        m.setattr(gguf_io, "load_tokenizer", no_building)
        cached = load_tokenizer(path)
    assert type(cached) is type(built)
    texts = PROMPTS + ["  two leading spaces\nand\n\nnewlines", "Ünïcödé — 数学 🙂", "<|im_start|>user\nhi<|im_end|>", ""]
    built.pad_token = built.pad_token or built.eos_token  # as load_tokenizer sets it
    for tok in (first, cached):
        assert _tokenizer_fingerprint(tok) == _tokenizer_fingerprint(built)
        for text in texts:
            ids = tok(text)["input_ids"]
            assert ids == built(text)["input_ids"], text
            assert tok.decode(ids) == built.decode(ids)
        assert [_chat_ids(tok, t) for t in PROMPTS] == [_chat_ids(built, t) for t in PROMPTS]
        for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "vocab_size"):
            assert getattr(tok, attr) == getattr(built, attr), attr

    (folder / "tokenizer.json").write_text("{")  # damaged
    with caplog.at_level("WARNING", logger="laser_jax"):
        again = load_tokenizer(path)
    assert "does not load" in caplog.text and "building it again" in caplog.text
    assert _tokenizer_fingerprint(again) == _tokenizer_fingerprint(built)
    assert (folder / "tokenizer.json").read_text() != "{"  # written again


def smollm2_samples(ours, tok) -> np.ndarray:
    """Tokens sampled at a fixed key (n=3, temperature 0.8, top-p 0.95) for the three prompts."""
    import jax

    from laser_jax.sampling import SamplingConfig, sample

    ids, mask = _left_pad([_chat_ids(tok, p) for p in PROMPTS], tok.pad_token_id or 0)
    out = sample(ours, ids, mask, jax.random.key(11),
                 SamplingConfig(max_new_tokens=16, temperature=0.8, top_p=0.95, n=3, eos_ids=(tok.eos_token_id,)))
    return np.asarray(out.tokens)


def test_sampled_tokens_match_golden(smol):
    """The sampler's tokens at a fixed seed are pinned (tests/golden/smollm2_samples.npz, written by
    the code before the decoder/sampler restructuring): a refactoring must not change them."""
    from pathlib import Path

    _, ours, tok, _ = smol
    with np.load(Path(__file__).parents[1] / "golden" / "smollm2_samples.npz") as z:
        np.testing.assert_array_equal(smollm2_samples(ours, tok), z["tokens"])
