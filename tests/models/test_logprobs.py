"""sequence_logprobs / token_logprobs against PyTorch on the same logits and on a tiny HF Llama."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from laser_jax.models.logprobs import logprobs_from_logits, sequence_logprobs, target_mask


def test_logprobs_from_logits_matches_torch():
    rng = np.random.default_rng(0)
    logits = (5 * rng.standard_normal((2, 7, 50))).astype(np.float32)
    targets = rng.integers(0, 50, (2, 7))
    want = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), -1).gather(
        -1, torch.tensor(targets)[..., None])[..., 0].numpy()
    got = np.asarray(logprobs_from_logits(jnp.asarray(logits), jnp.asarray(targets)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5)
    # bfloat16 logits are upcast before the log-softmax
    got16 = np.asarray(logprobs_from_logits(jnp.asarray(logits, jnp.bfloat16), jnp.asarray(targets)))
    assert got16.dtype == np.float32 and np.abs(got16 - want).max() < 0.1


def test_target_mask_skips_first_real_token():
    mask = jnp.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    resp = jnp.ones((2, 5), bool)
    assert np.asarray(target_mask(mask, resp)).astype(int).tolist() == [[0, 0, 0, 1, 1], [0, 1, 1, 1, 1]]


def test_sequence_logprobs_matches_transformers(lm_dirs, jax_lms, helpers):
    """Left-padded batch, response spans of different lengths: sums equal the HF model's own
    log-softmax at the target tokens (each row run alone, unpadded)."""
    ref, model = lm_dirs[0][1], jax_lms[0]
    rng = np.random.default_rng(1)
    rows = [(rng.integers(7, 100, 12), 5), (rng.integers(7, 100, 7), 3), (rng.integers(7, 100, 4), 1)]
    t = 16
    ids = np.zeros((3, t), np.int32)
    mask = np.zeros((3, t), np.int32)
    resp = np.zeros((3, t), bool)
    for i, (row, n_prompt) in enumerate(rows):
        ids[i, t - len(row):] = row
        mask[i, t - len(row):] = 1
        resp[i, t - len(row) + n_prompt:] = True
    want = [helpers.torch_response_logprobs(ref, row, n_prompt) for row, n_prompt in rows]

    fn = nnx.jit(lambda m, a, b, c, chunk=None: sequence_logprobs(m, a, b, c, chunk=chunk), static_argnames="chunk")
    s, n = fn(model, jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(resp))
    assert np.asarray(n).tolist() == [len(w) for w in want]
    np.testing.assert_allclose(np.asarray(s), [w.sum() for w in want], atol=1e-4, rtol=1e-5)


class _Bigram:
    """A stand-in CausalLM (embedding -> LM head) that compiles in milliseconds."""

    def __init__(self, emb, head):
        self.emb, self.head = emb, head

    def hidden(self, ids, mask):
        return self.emb[ids], None

    def logits(self, h):
        return h @ self.head


def test_chunked_logprobs_and_gradients_equal_unchunked():
    rng = np.random.default_rng(2)
    emb = jnp.asarray(rng.standard_normal((40, 8)), jnp.float32)
    head = jnp.asarray(rng.standard_normal((8, 40)), jnp.float32)
    ids = jnp.asarray(rng.integers(0, 40, (3, 11)), jnp.int32)
    mask = jnp.asarray(np.arange(11)[None, :] >= np.array([[0], [4], [9]]), jnp.int32)
    resp = jnp.asarray(np.arange(11)[None, :] >= np.array([[3], [6], [9]]))

    def loss(params, chunk):
        s, n = sequence_logprobs(_Bigram(*params), ids, mask, resp, chunk=chunk)
        return jnp.sum(s / jnp.maximum(n, 1)), (s, n)

    vg = jax.jit(jax.value_and_grad(loss, has_aux=True), static_argnums=1)
    (_, (s0, n0)), g0 = vg((emb, head), None)
    (_, (s1, _)), g1 = vg((emb, head), 3)
    assert np.asarray(n0).tolist() == [8, 5, 1]
    # by hand: log_softmax(emb[ids[t-1]] @ head)[ids[t]] summed over the counted targets
    lp = jax.nn.log_softmax(emb[ids[:, :-1]] @ head, axis=-1)
    lp = np.take_along_axis(np.asarray(lp), np.asarray(ids[:, 1:])[..., None], -1)[..., 0]
    w = np.asarray(resp[:, 1:] & (mask[:, 1:] > 0) & (mask[:, :-1] > 0))
    np.testing.assert_allclose(np.asarray(s0), (lp * w).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(s1), np.asarray(s0), rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(g0), jax.tree.leaves(g1)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(g0[1]).max()) > 0
