"""A config-driven Flax NNX decoder for Llama, Mistral, Qwen2, Qwen3 and OLMo.

Layout (every parameter carries logical axis names in its `out_sharding` metadata):

    model.embed.embedding        [vocab, embed]
    model.layers.*               stacked over a leading "layers" axis and run with lax.scan
        input_norm.scale         [layers, embed]          (absent for OLMo's non-parametric norm)
        attn.q.kernel            [layers, embed, heads, head_dim]     (+ bias [layers, heads, head_dim])
        attn.k/v.kernel          [layers, embed, kv_heads, head_dim]  (+ bias)
        attn.o.kernel            [layers, heads, head_dim, embed]     (+ bias)
        attn.q_norm/k_norm.scale [layers, head_dim]       (Qwen3)
        post_norm.scale          [layers, embed]
        mlp.gate/up.kernel       [layers, embed, mlp];  mlp.down.kernel [layers, mlp, embed]
    model.final_norm.scale       [embed]
    lm_head.kernel               [embed, vocab]   (CausalLM, untied)  |  score.kernel [embed, labels]

Attention works on "slots": a batch is left-padded, slot j of a row holds token j, `kv_mask`
marks real tokens, a query at slot i sees keys at slots j <= i (and i - j < window for sliding
layers). RoPE positions default to the count of real tokens before a slot, so a left-padded row
gives the same logits as the same row unpadded. A KV cache (`init_cache`) is a dict of arrays
passed in and returned: the model itself stays pure.

Prompt-once mode (one mechanism for everything that continues a prompt several times: the
sampler's decode steps, the train step's chosen/rejected responses, RM scoring): `prefill` runs B
prompts once into a `Prefix` (keys/values [L,B,KV,S,D], kept once per prompt), and
`model.hidden(ids [B,N,R], mask, prefix=prefix)` runs N continuations of each prompt against it;
`attend_shared` is the attention of both, reading the prompt's keys once per prompt instead of
repeating them N times. `laser_jax.models.decode` is the one-token decode step built on it.
"""

from __future__ import annotations

import dataclasses

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from laser_jax.models.config import DecoderConfig

Cache = dict[str, jax.Array]
F32 = jnp.float32


def _param(rngs: nnx.Rngs | None, shape, names, dtype, init="normal", cls=nnx.Param):
    if init == "ones":
        value = jnp.ones(shape, dtype)
    elif init == "zeros":
        value = jnp.zeros(shape, dtype)
    else:
        value = (0.02 * jax.random.normal(rngs.params(), shape, F32)).astype(dtype)
    return cls(value, out_sharding=tuple(names), eager_sharding=False)


class Dense(nnx.Module):
    """x[..., *in] @ kernel[*in, *out] (+ bias[*out]); `in_names`/`out_names` are logical axes.

    With LoRA (see `laser_jax.models.lora`), adds (alpha/rank) * (x @ lora_a[*in, r]) @ lora_b[r, *out].
    """

    def __init__(self, in_shape, out_shape, in_names, out_names, *, bias: bool, dtype, rngs):
        self.n_in = len(in_shape)
        self.in_names, self.out_names = tuple(in_names), tuple(out_names)
        self.kernel = _param(rngs, (*in_shape, *out_shape), (*in_names, *out_names), dtype)
        self.bias = _param(rngs, tuple(out_shape), tuple(out_names), dtype, "zeros") if bias else None
        self.lora_a = nnx.data(None)
        self.lora_b = nnx.data(None)
        self.lora_scale = 0.0

    def __call__(self, x):
        y = jnp.tensordot(x, self.kernel[...].astype(x.dtype), axes=self.n_in)
        if self.bias is not None:
            y = y + self.bias[...].astype(y.dtype)
        if self.lora_a is not None:
            low = jnp.tensordot(x, self.lora_a[...].astype(x.dtype), axes=self.n_in)
            y = y + self.lora_scale * jnp.tensordot(low, self.lora_b[...].astype(x.dtype), axes=1)
        return y


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, eps: float, names, *, dtype, rngs):
        self.eps = eps
        self.scale = _param(rngs, (dim,), names, dtype, "ones")

    def __call__(self, x):
        xf = x.astype(F32)
        xf = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.eps)
        return self.scale[...].astype(x.dtype) * xf.astype(x.dtype)


class LayerNormNP(nnx.Module):
    """OLMo's LayerNorm without weight or bias."""

    def __init__(self, eps: float):
        self.eps = eps

    def __call__(self, x):
        xf = x.astype(F32)
        mean = jnp.mean(xf, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(xf - mean), axis=-1, keepdims=True)
        return ((xf - mean) * jax.lax.rsqrt(var + self.eps)).astype(x.dtype)


def _norm(cfg: DecoderConfig, dtype, rngs):
    if cfg.norm == "layernorm_np":
        return LayerNormNP(cfg.norm_eps)
    return RMSNorm(cfg.hidden_size, cfg.norm_eps, ("norm",), dtype=dtype, rngs=rngs)


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


def attend(q, k, v, q_slots, kv_mask, window, impl: str = "auto", chunk: int | None = None):
    """Grouped-query attention over slots. q [B,T,H,D]; k, v [B,S,KV,D]; q_slots [T] (int);
    kv_mask [B,S] bool; window: int scalar, 0 = full causal. `impl` (DecoderConfig.attention):
    "dense" materialises [B,H,T,S] float32 scores; "chunked" (`attend_chunked`) never holds more
    than [B,H,chunk,chunk]; "dot_product" calls jax.nn.dot_product_attention (XLA picks cuDNN's
    flash attention on a GPU where it applies; on CPU it is dense); "auto" picks dense up to
    DENSE_ATTENTION_MAX pairs per head, chunked above."""
    b, t, h, d = q.shape
    s = k.shape[1]
    if is_chunked(impl, t, s):
        return attend_chunked(q, k, v, q_slots, kv_mask, window, chunk or ATTENTION_CHUNK)
    if impl == "dot_product":  # jax.nn.dot_product_attention: cuDNN flash attention on GPU
        allowed = _allowed(q_slots, jnp.arange(s), kv_mask, window)[:, None]  # [B,1,T,S]
        return jax.nn.dot_product_attention(q, k, v, mask=allowed).astype(v.dtype)
    kvh = k.shape[2]
    q = q.reshape(b, t, kvh, h // kvh, d)
    scores = jnp.einsum("btkgd,bskd->bkgts", q, k, preferred_element_type=F32) * (d ** -0.5)
    allowed = _allowed(q_slots, jnp.arange(s), kv_mask, window)
    scores = jnp.where(allowed[:, None, None], scores, jnp.finfo(F32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    out = jnp.einsum("bkgts,bskd->btkgd", probs, v)
    return out.reshape(b, t, h, d)


def attend_chunked(q, k, v, q_slots, kv_mask, window, chunk: int = ATTENTION_CHUNK):
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
    scale = d ** -0.5

    def one_query_chunk(args):
        qc, qs = args  # [B,cq,KV,G,D], [cq]

        def step(carry, xs):
            m, l, acc = carry
            kc, vc, mc, kslots = xs
            sc = jnp.einsum("bqkgd,bskd->bkgqs", qc, kc, preferred_element_type=F32) * scale
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


def attend_shared(q, prefix_kv, prefix_valid, own_kv, own_valid):
    """Attention of N continuations of B prompts: T queries each, over the prompt's keys (kept once
    per prompt, not repeated per continuation) and the continuation's own keys.

    q [B,N,T,H,D]; prefix_kv: k, v [B,KV,S,D]; own_kv: k, v [B,N,KV,U,D]; prefix_valid and
    own_valid: bool, 4-D, broadcastable to [B,N,T,S] and [B,N,T,U] (which keys each query may
    see: real tokens, causal order, sliding window). Softmax over the S + U keys in that order.
    Returns [B,N,T,H,D]. (Scores and outputs keep the query axis T next to the keys, so that one
    query per row, the decode step, runs as fast as a layout without T.)"""
    b, n, t, heads, dim = q.shape
    (kp, vp), (ko, vo) = prefix_kv, own_kv
    kvh, s = kp.shape[1], kp.shape[2]
    q = q.reshape(b, n, t, kvh, heads // kvh, dim)
    scale = dim ** -0.5
    lo = jnp.finfo(F32).min
    s_p = jnp.einsum("bntkgd,bksd->bnkgts", q, kp.astype(q.dtype), preferred_element_type=F32) * scale
    s_o = jnp.einsum("bntkgd,bnkud->bnkgtu", q, ko.astype(q.dtype), preferred_element_type=F32) * scale
    s_p = jnp.where(prefix_valid[:, :, None, None], s_p, lo)
    s_o = jnp.where(own_valid[:, :, None, None], s_o, lo)
    probs = jax.nn.softmax(jnp.concatenate([s_p, s_o], axis=-1), axis=-1).astype(q.dtype)
    out = (jnp.einsum("bnkgts,bksd->bnkgtd", probs[..., :s], vp.astype(q.dtype))
           + jnp.einsum("bnkgtu,bnkud->bnkgtd", probs[..., s:], vo.astype(q.dtype)))
    return jnp.moveaxis(out, 4, 2).reshape(b, n, t, heads, dim)


class Attention(nnx.Module):
    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        e, h, kv, d = cfg.hidden_size, cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
        self.clip = cfg.clip_qkv
        self.q = Dense((e,), (h, d), ("embed",), ("heads", "head_dim"), bias=cfg.qkv_bias, dtype=dtype, rngs=rngs)
        self.k = Dense((e,), (kv, d), ("embed",), ("kv_heads", "head_dim"), bias=cfg.qkv_bias, dtype=dtype,
                       rngs=rngs)
        self.v = Dense((e,), (kv, d), ("embed",), ("kv_heads", "head_dim"), bias=cfg.qkv_bias, dtype=dtype,
                       rngs=rngs)
        self.o = Dense((h, d), (e,), ("heads", "head_dim"), ("embed",), bias=cfg.o_bias, dtype=dtype, rngs=rngs)
        if cfg.qk_norm:
            self.q_norm = RMSNorm(d, cfg.norm_eps, ("head_dim",), dtype=dtype, rngs=rngs)
            self.k_norm = RMSNorm(d, cfg.norm_eps, ("head_dim",), dtype=dtype, rngs=rngs)
        else:
            self.q_norm = self.k_norm = None

    def project(self, x, positions, inv_freq):
        q, k, v = self.q(x), self.k(x), self.v(x)
        if self.clip is not None:
            q, k, v = (jnp.clip(a, -self.clip, self.clip) for a in (q, k, v))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return rope(q, positions, inv_freq), rope(k, positions, inv_freq), v


class MLP(nnx.Module):
    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        e, f = cfg.hidden_size, cfg.intermediate_size
        self.gate = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.up = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.down = Dense((f,), (e,), ("mlp",), ("embed",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.down(jax.nn.silu(self.gate(x)) * self.up(x))


class Block(nnx.Module):
    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        self.input_norm = _norm(cfg, dtype, rngs)
        self.attn = Attention(cfg, dtype=dtype, rngs=rngs)
        self.post_norm = _norm(cfg, dtype, rngs)
        self.mlp = MLP(cfg, dtype=dtype, rngs=rngs)


def _block_step(block: Block, x, attention):
    """One decoder layer on x [..., E]; `attention(attn_module, normed x)` -> (heads output, aux)."""
    h, aux = attention(block.attn, block.input_norm(x))
    x = x + block.attn.o(h)
    x = x + block.mlp(block.post_norm(x))
    return x, aux


class Prefix(NamedTuple):
    """B prompts run once (`prefill`): their keys/values per layer and which slots are real."""

    k: jax.Array  # [L,B,KV,S,D]
    v: jax.Array  # [L,B,KV,S,D]
    mask: jax.Array  # [B,S] bool


class Transformer(nnx.Module):
    """Embedding, the stacked decoder layers and the final norm (HF's `model.`)."""

    def __init__(self, cfg: DecoderConfig, *, dtype=F32, rngs: nnx.Rngs, remat: bool = False):
        self.cfg = cfg
        self.dtype = dtype
        self.remat = remat
        self.embed = nnx.Embed(cfg.vocab_size, cfg.hidden_size, dtype=dtype, param_dtype=dtype, rngs=rngs,
                               embedding_init=nnx.with_metadata(nnx.initializers.normal(0.02),
                                                                out_sharding=("vocab", "embed"),
                                                                eager_sharding=False))

        @nnx.split_rngs(splits=cfg.num_layers)
        @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
        def make_layers(rngs):
            return Block(cfg, dtype=dtype, rngs=rngs)

        self.layers = make_layers(rngs)
        self.final_norm = _norm(cfg, dtype, rngs)

    def _scan_layers(self, x, carry, xs, attention):
        """x through the stacked layers with lax.scan: `attention(attn, h, carry, layer, window, xs_i)`
        -> (heads output, carry); `xs` (per-layer arrays, leading axis L) are sliced by the scan."""
        graphdef, params = nnx.split(self.layers)

        def body(c, per_layer):
            x, carry = c
            layer_params, layer, window, xs_i = per_layer
            block = nnx.merge(graphdef, layer_params)
            return _block_step(block, x, lambda attn, h: attention(attn, h, carry, layer, window, xs_i)), None

        if self.remat:
            body = jax.checkpoint(body, policy=jax.checkpoint_policies.nothing_saveable)
        layers = jnp.arange(self.cfg.num_layers, dtype=jnp.int32)
        windows = jnp.asarray(self.cfg.layer_windows())
        (x, carry), _ = jax.lax.scan(body, (x, carry), (params, layers, windows, xs))
        return self.final_norm(x), carry

    def __call__(self, input_ids, attention_mask=None, *, positions=None, cache: Cache | None = None,
                 prefix: Prefix | None = None):
        """Hidden states after the final norm, [B,T,E] (and the updated cache when one is given).
        With `prefix`: input_ids [B,N,R] are N continuations of each prefilled prompt (see
        `continuations`); returns ([B,N,R,E], None)."""
        if prefix is not None:
            return self.continuations(input_ids, attention_mask, prefix), None
        cfg = self.cfg
        b, t = input_ids.shape
        mask = jnp.ones((b, t), bool) if attention_mask is None else attention_mask.astype(bool)
        if cache is None:
            start = jnp.zeros((), jnp.int32)
            kv_mask, cache_kv = mask, None
        else:
            start = cache["index"]
            kv_mask = jax.lax.dynamic_update_slice(cache["mask"], mask, (jnp.zeros((), jnp.int32), start))
            cache_kv = (cache["k"], cache["v"])
        if positions is None:
            count = jnp.cumsum(kv_mask.astype(jnp.int32), axis=1) - 1
            positions = jnp.maximum(jax.lax.dynamic_slice_in_dim(count, start, t, axis=1), 0)
        q_slots = start + jnp.arange(t)
        inv_freq = jnp.asarray(cfg.inv_freq(), F32)

        def attention(attn, h, cache_kv, layer, window, _):
            """With `cache_kv` = (k_all, v_all) [L,B,S,KV,D], the new keys and values go into this
            layer's slots [start, start+T) in place and attention reads all S slots."""
            q, k, v = attn.project(h, positions, inv_freq)
            if cache_kv is not None:
                k_all, v_all = cache_kv
                zero = jnp.zeros((), jnp.int32)
                at = (layer, zero, start, zero, zero)
                k_all = jax.lax.dynamic_update_slice(k_all, k[None].astype(k_all.dtype), at)
                v_all = jax.lax.dynamic_update_slice(v_all, v[None].astype(v_all.dtype), at)
                k = jax.lax.dynamic_index_in_dim(k_all, layer, 0, keepdims=False).astype(q.dtype)
                v = jax.lax.dynamic_index_in_dim(v_all, layer, 0, keepdims=False).astype(q.dtype)
                cache_kv = (k_all, v_all)
            return attend(q, k, v, q_slots, kv_mask, window, cfg.attention), cache_kv

        x = self.embed(input_ids).astype(self.dtype)
        x, cache_kv = self._scan_layers(x, cache_kv, None, attention)
        if cache is None:
            return x, None
        return x, {"k": cache_kv[0], "v": cache_kv[1], "mask": kv_mask, "index": start + t}

    def continuations(self, input_ids, attention_mask, prefix: Prefix):
        """N continuations of each of B prefilled prompts, against the prompt's keys kept once.

        input_ids, attention_mask [B,N,R] (right-padded: mask 1 = real token); token r of
        continuation j of prompt b follows the prompt's S slots at slot S + r, and its RoPE position
        counts the real tokens before it, as if the row were prompt + continuation. -> [B,N,R,E]."""
        cfg = self.cfg
        b, n, r = input_ids.shape
        mask = jnp.ones((b, n, r), bool) if attention_mask is None else attention_mask.astype(bool)
        s = prefix.mask.shape[1]
        own_count = jnp.cumsum(mask.astype(jnp.int32), axis=2) - 1
        before = jnp.sum(prefix.mask, axis=1, dtype=jnp.int32)[:, None, None]
        positions = jnp.maximum(before + own_count, 0).reshape(b * n, r)
        inv_freq = jnp.asarray(cfg.inv_freq(), F32)
        rel_p = (s + jnp.arange(r))[:, None] - jnp.arange(s)[None, :]  # [R,S] query slot - key slot
        rel_o = jnp.arange(r)[:, None] - jnp.arange(r)[None, :]  # [R,R]
        kvh, dim, heads = cfg.num_kv_heads, cfg.head_dim, cfg.num_heads

        def attention(attn, h, carry, layer, window, kv):
            q, k, v = attn.project(h, positions, inv_freq)  # [B*N,R,...]
            own = tuple(jnp.swapaxes(a.reshape(b, n, r, kvh, dim), 2, 3) for a in (k, v))  # [B,N,KV,R,D]
            in_window = lambda rel: (window <= 0) | (rel < window)
            valid_p = prefix.mask[:, None, None, :] & in_window(rel_p)[None, None]
            valid_o = mask[:, :, None, :] & ((rel_o >= 0) & in_window(rel_o))[None, None]
            out = attend_shared(q.reshape(b, n, r, heads, dim), kv, valid_p, own, valid_o)
            return out.reshape(b * n, r, heads, dim), carry

        x = self.embed(input_ids.reshape(b * n, r)).astype(self.dtype)
        x, _ = self._scan_layers(x, None, (prefix.k, prefix.v), attention)
        return x.reshape(b, n, r, -1)


class CausalLM(nnx.Module):
    """`model(input_ids, attention_mask)` -> logits [B,T,vocab] (float32)."""

    def __init__(self, cfg: DecoderConfig, *, dtype=F32, rngs: nnx.Rngs | None = None, remat: bool = False):
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        self.cfg = cfg
        self.model = Transformer(cfg, dtype=dtype, rngs=rngs, remat=remat)
        if cfg.tie_word_embeddings:
            self.lm_head = None
        else:
            self.lm_head = Dense((cfg.hidden_size,), (cfg.vocab_size,), ("embed",), ("vocab",), bias=False,
                                 dtype=dtype, rngs=rngs)

    def hidden(self, input_ids, attention_mask=None, *, positions=None, cache: Cache | None = None,
               prefix: Prefix | None = None):
        return self.model(input_ids, attention_mask, positions=positions, cache=cache, prefix=prefix)

    def logits(self, hidden):
        """hidden [..., E] -> float32 logits [..., V]."""
        if self.lm_head is None:
            emb = self.model.embed.embedding[...]
            out = jnp.einsum("...e,ve->...v", hidden, emb.astype(hidden.dtype), preferred_element_type=F32)
        else:
            out = jnp.einsum("...e,ev->...v", hidden, self.lm_head.kernel[...].astype(hidden.dtype),
                             preferred_element_type=F32)
        return out.astype(F32)

    def __call__(self, input_ids, attention_mask=None, *, positions=None, cache: Cache | None = None):
        h, new_cache = self.hidden(input_ids, attention_mask, positions=positions, cache=cache)
        logits = self.logits(h)
        return logits if cache is None else (logits, new_cache)


def last_token_index(input_ids, attention_mask=None, pad_token_id=None):
    """Index of each row's last real token: from the mask, else HF's rule (last non-pad id)."""
    t = input_ids.shape[1]
    if attention_mask is not None:
        real = attention_mask.astype(bool)
    elif pad_token_id is not None:
        real = input_ids != pad_token_id
    else:
        return jnp.full((input_ids.shape[0],), t - 1, jnp.int32)
    return jnp.argmax(jnp.arange(t)[None, :] * real, axis=-1).astype(jnp.int32)


class SequenceClassifier(nnx.Module):
    """HF *ForSequenceClassification: the decoder plus `score` [embed, labels] read at the last
    non-pad token. `model(input_ids, attention_mask)` -> [B, num_labels] (float32)."""

    def __init__(self, cfg: DecoderConfig, *, dtype=F32, rngs: nnx.Rngs | None = None, remat: bool = False):
        rngs = rngs if rngs is not None else nnx.Rngs(0)
        self.cfg = cfg
        self.model = Transformer(cfg, dtype=dtype, rngs=rngs, remat=remat)
        self.score = Dense((cfg.hidden_size,), (cfg.num_labels,), ("embed",), ("labels",), bias=False, dtype=dtype,
                           rngs=rngs)

    def __call__(self, input_ids, attention_mask=None, *, positions=None):
        h, _ = self.model(input_ids, attention_mask, positions=positions)
        idx = last_token_index(input_ids, attention_mask, self.cfg.pad_token_id)
        pooled = jnp.take_along_axis(h, idx[:, None, None], axis=1)[:, 0]
        return self.score(pooled).astype(F32)


def build(cfg: DecoderConfig, *, dtype=F32, rngs: nnx.Rngs | None = None, remat: bool = False):
    """The module for `cfg.head`: CausalLM or SequenceClassifier (random init from `rngs`)."""
    cls = CausalLM if cfg.head == "lm" else SequenceClassifier
    return cls(cfg, dtype=dtype, rngs=rngs, remat=remat)


def abstract(cfg: DecoderConfig, *, dtype=F32, remat: bool = False):
    """The model with ShapeDtypeStruct leaves (no memory, no random init)."""
    return nnx.eval_shape(lambda: build(cfg, dtype=dtype, rngs=nnx.Rngs(0), remat=remat))


def init_cache(cfg: DecoderConfig, batch: int, length: int, dtype=F32) -> Cache:
    """An empty KV cache of `length` slots."""
    shape = (cfg.num_layers, batch, length, cfg.num_kv_heads, cfg.head_dim)
    return {"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype),
            "mask": jnp.zeros((batch, length), bool), "index": jnp.zeros((), jnp.int32)}


def with_attention(model, impl: str):
    """The model computing attention by ``impl`` (DecoderConfig.attention: "auto", "dense",
    "chunked"); the weights are unchanged. Returns the same module, its config replaced."""
    cfg = dataclasses.replace(model.cfg, attention=impl)  # validates impl
    model.cfg = cfg
    model.model.cfg = cfg
    return model


def prefill(model: "CausalLM", ids, mask) -> tuple[jax.Array, Prefix]:
    """Run B left-padded prompts [B,S] once: (hidden [B,S,E], their `Prefix`). Left padding puts
    each prompt's last token in slot S-1, so hidden[:, -1] predicts every continuation's first token."""
    b, s = ids.shape
    hidden, cache = model.hidden(ids, mask, cache=init_cache(model.cfg, b, s, model.model.dtype))
    return hidden, Prefix(jnp.swapaxes(cache["k"], 2, 3), jnp.swapaxes(cache["v"], 2, 3), cache["mask"])


def to_dtype(name) -> Any:
    """'float32' / 'bfloat16' / a numpy or jnp dtype -> jnp dtype, with a clear error."""
    if not isinstance(name, str):
        return jnp.dtype(name)
    table = {"float32": F32, "fp32": F32, "bfloat16": jnp.bfloat16, "bf16": jnp.bfloat16,
             "float16": jnp.float16, "fp16": jnp.float16}
    if name not in table:
        raise ValueError(f"dtype {name!r} is not supported; use one of {sorted(table)}")
    return table[name]

