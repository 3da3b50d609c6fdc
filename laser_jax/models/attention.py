"""Attention kernels over "slots", with no parameters: RoPE, the causal / sliding-window mask and
the four ways to compute grouped-query attention (`DecoderConfig.attention`).

Every kernel takes the scale on q.k (`DecoderConfig.attention_scale()`: head_dim**-0.5, or Gemma's
query_pre_attn_scalar**-0.5) and an optional soft-cap (Gemma 2: scores -> cap * tanh(scores / cap),
before the mask); the window is a traced per-layer value (0 = full causal), so scanned layers mix
sliding and global attention.

A batch is left-padded: slot j of a row holds token j, `kv_mask` marks real tokens, a query at
slot i sees keys at slots j <= i (and i - j < window for sliding layers; window 0 = full causal).

- `attend`: q [B,T,H,D] against k, v [B,S,KV,D]; "dense" materialises [B,H,T,S] float32 scores,
  "chunked" (`attend_chunked`, an online softmax as in flash attention) never more than
  [B,H,chunk,chunk], "dot_product" is jax.nn.dot_product_attention, "auto" picks by size.
- `attend_shared`: prompt-once mode, N continuations of B prompts against the prompt's keys kept
  once per prompt and the continuation's own keys.

The modules that project, normalise and compose these live in `laser_jax.models.decoder`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

F32 = jnp.float32


def softcap(x, cap: float | None):
    """cap * tanh(x / cap) (Gemma's soft-capping of attention scores and logits); x if cap is None."""
    return x if cap is None else cap * jnp.tanh(x / cap)


def rope(x, positions, inv_freq):
    """Rotary embedding (HF's rotate-half layout). x [B,T,N,D], positions [B,T]."""
    freqs = positions.astype(F32)[..., None] * inv_freq[None, None, :]
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    cos, sin = jnp.cos(emb)[:, :, None, :].astype(x.dtype), jnp.sin(emb)[:, :, None, :].astype(x.dtype)
    half = x.shape[-1] // 2
    rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


# "auto" attention: dense [T, S] scores up to this many query-key pairs, chunked above
DENSE_ATTENTION_MAX = 2048 * 2048
ATTENTION_CHUNK = 512


def _allowed(q_slots, kv_slots, kv_mask, window):
    """[B,T,S] bool: causal (and windowed) order and real keys."""
    rel = q_slots[:, None] - kv_slots[None, :]
    allowed = (rel >= 0) & ((window <= 0) | (rel < window))
    return allowed[None] & kv_mask[:, None, :]


def is_chunked(impl: str, queries: int, keys: int) -> bool:
    """Whether `attend` computes ``queries`` x ``keys`` attention in chunks for ``impl``."""
    return impl == "chunked" or (impl == "auto" and queries * keys > DENSE_ATTENTION_MAX)


def attend(q, k, v, q_slots, kv_mask, window, impl: str = "auto", chunk: int | None = None, *,
           scale: float | None = None, cap: float | None = None):
    """Grouped-query attention over slots. q [B,T,H,D]; k, v [B,S,KV,D]; q_slots [T] (int);
    kv_mask [B,S] bool; window: int scalar, 0 = full causal; scale (default D**-0.5) and soft-cap
    `cap` on the scores. `impl` (DecoderConfig.attention): "dense" materialises [B,H,T,S] float32
    scores; "chunked" (`attend_chunked`) never holds more than [B,H,chunk,chunk]; "dot_product"
    calls jax.nn.dot_product_attention (XLA picks cuDNN's flash attention on a GPU where it applies;
    on CPU it is dense; it has no soft-cap, so with one it is "auto" instead); "auto" picks dense
    up to DENSE_ATTENTION_MAX pairs per head, chunked above."""
    b, t, h, d = q.shape
    s = k.shape[1]
    scale = d ** -0.5 if scale is None else scale
    if impl == "dot_product" and cap is not None:
        impl = "auto"
    if is_chunked(impl, t, s):
        return attend_chunked(q, k, v, q_slots, kv_mask, window, chunk or ATTENTION_CHUNK, scale=scale, cap=cap)
    if impl == "dot_product":  # jax.nn.dot_product_attention: cuDNN flash attention on GPU
        allowed = _allowed(q_slots, jnp.arange(s), kv_mask, window)[:, None]  # [B,1,T,S]
        return jax.nn.dot_product_attention(q, k, v, mask=allowed, scale=scale).astype(v.dtype)
    kvh = k.shape[2]
    q = q.reshape(b, t, kvh, h // kvh, d)
    scores = softcap(jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=F32) * scale, cap)
    allowed = _allowed(q_slots, jnp.arange(s), kv_mask, window)
    scores = jnp.where(allowed[:, None, None], scores, jnp.finfo(F32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
    return out.reshape(b, t, h, d)


def attend_chunked(q, k, v, q_slots, kv_mask, window, chunk: int = ATTENTION_CHUNK, *,
                   scale: float | None = None, cap: float | None = None):
    """`attend` without the [T, S] scores: queries in chunks (lax.map), and per query chunk an
    online softmax over key chunks (lax.scan: running max, normaliser and weighted sum, as in
    flash attention), so at most [B,H,chunk,chunk] scores live at once. The same numbers as the
    dense form up to float32 summation order, masked keys included (a row with no allowed key
    averages all keys, as the dense softmax over finfo.min scores does)."""
    b, t, h, d = q.shape
    s, kvh = k.shape[1], k.shape[2]
    g = h // kvh
    cq, ck = min(chunk, t), min(chunk, s)
    nq, nk = -(-t // cq), -(-s // ck)
    lo = jnp.finfo(F32).min
    q = jnp.pad(q, ((0, 0), (0, nq * cq - t), (0, 0), (0, 0))).reshape(b, nq, cq, kvh, g, d)
    q_slots = jnp.pad(q_slots, (0, nq * cq - t), constant_values=-1).reshape(nq, cq)
    pad_k = ((0, 0), (0, nk * ck - s), (0, 0), (0, 0))
    ks = jnp.moveaxis(jnp.pad(k, pad_k).reshape(b, nk, ck, kvh, d), 1, 0)
    vs = jnp.moveaxis(jnp.pad(v, pad_k).reshape(b, nk, ck, kvh, d), 1, 0)
    masks = jnp.moveaxis(jnp.pad(kv_mask, ((0, 0), (0, nk * ck - s))).reshape(b, nk, ck), 1, 0)
    kv_slots = jnp.arange(nk * ck).reshape(nk, ck)
    scale = d ** -0.5 if scale is None else scale

    def one_query_chunk(args):
        qc, qs = args  # [B,cq,KV,G,D], [cq]

        def step(carry, xs):
            m, l, acc = carry
            kc, vc, mc, kslots = xs
            sc = softcap(jnp.einsum("bqkgd,bskd->bkgqs", qc, kc, preferred_element_type=F32) * scale, cap)
            allowed = _allowed(qs, kslots, mc, window) & (kslots < s)[None, None, :]
            sc = jnp.where(allowed[:, None, None], sc, lo)
            m_new = jnp.maximum(m, sc.max(-1))
            p = jnp.exp(sc - m_new[..., None])
            corr = jnp.exp(m - m_new)
            l = l * corr + p.sum(-1)
            acc = acc * corr[..., None] + jnp.einsum("bkgqs,bskd->bkgqd", p.astype(vc.dtype), vc,
                                                     preferred_element_type=F32)
            return (m_new, l, acc), None

        init = (jnp.full((b, kvh, g, cq), lo, F32), jnp.zeros((b, kvh, g, cq), F32),
                jnp.zeros((b, kvh, g, cq, d), F32))
        (m, l, acc), _ = jax.lax.scan(step, init, (ks, vs, masks, kv_slots))
        out = acc / l[..., None]  # l >= 1: the row's largest score contributes exp(0)
        return jnp.moveaxis(out, 3, 1).reshape(b, cq, h, d).astype(v.dtype)

    out = jax.lax.map(one_query_chunk, (jnp.moveaxis(q, 1, 0), q_slots))  # [nq,B,cq,H,D]
    return jnp.moveaxis(out, 0, 1).reshape(b, nq * cq, h, d)[:, :t]


def attend_shared(q, prefix_kv, prefix_valid, own_kv, own_valid, *, scale: float | None = None,
                  cap: float | None = None):
    """Attention of N continuations of B prompts: T queries each, over the prompt's keys (kept once
    per prompt, not repeated per continuation) and the continuation's own keys.

    q [B,N,T,H,D]; prefix_kv: k, v [B,KV,S,D]; own_kv: k, v [B,N,KV,U,D]; prefix_valid and
    own_valid: bool, 4-D, broadcastable to [B,N,T,S] and [B,N,T,U] (which keys each query may
    see: real tokens, causal order, sliding window); `scale` (default D**-0.5) and soft-cap `cap` as
    in `attend`. Softmax over the S + U keys in that order.
    Returns [B,N,T,H,D]. (Scores and outputs keep the query axis T next to the keys, so that one
    query per row, the decode step, runs as fast as a layout without T.)"""
    b, n, t, heads, dim = q.shape
    (kp, vp), (ko, vo) = prefix_kv, own_kv
    kvh, s = kp.shape[1], kp.shape[2]
    q = q.reshape(b, n, t, kvh, heads // kvh, dim)
    scale = dim ** -0.5 if scale is None else scale
    lo = jnp.finfo(F32).min
    s_p = jnp.einsum("bntkgd,bksd->bnkgts", q, kp.astype(q.dtype), preferred_element_type=F32) * scale
    s_o = jnp.einsum("bntkgd,bnkud->bnkgtu", q, ko.astype(q.dtype), preferred_element_type=F32) * scale
    s_p, s_o = softcap(s_p, cap), softcap(s_o, cap)
    s_p = jnp.where(prefix_valid[:, :, None, None], s_p, lo)
    s_o = jnp.where(own_valid[:, :, None, None], s_o, lo)
    probs = jax.nn.softmax(jnp.concatenate([s_p, s_o], axis=-1), axis=-1).astype(q.dtype)
    out = (jnp.einsum("bnkgts,bksd->bnkgtd", probs[..., :s], vp.astype(q.dtype))
           + jnp.einsum("bnkgtu,bnkud->bnkgtd", probs[..., s:], vo.astype(q.dtype)))
    return jnp.moveaxis(out, 4, 2).reshape(b, n, t, heads, dim)
