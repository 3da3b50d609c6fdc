"""A config-driven Flax NNX decoder for Llama, Mistral, Qwen2, Qwen3, OLMo, Gemma 2 and Gemma 3.

Layout (every parameter carries logical axis names in its `out_sharding` metadata):

    model.embed.embedding        [vocab, embed]
    model.layers.*               stacked over a leading "layers" axis and run with lax.scan
        input_norm.scale         [layers, embed]          (absent for OLMo's non-parametric norm)
        attn.q.kernel            [layers, embed, heads, head_dim]     (+ bias [layers, heads, head_dim])
        attn.k/v.kernel          [layers, embed, kv_heads, head_dim]  (+ bias)
        attn.o.kernel            [layers, heads, head_dim, embed]     (+ bias)
        attn.q_norm/k_norm.scale [layers, head_dim]       (Qwen3, Gemma 3)
        attn_out_norm.scale      [layers, embed]          (Gemma: on the attention output)
        post_norm.scale          [layers, embed]          (the MLP's input norm)
        mlp_out_norm.scale       [layers, embed]          (Gemma: on the MLP output)
        mlp.gate/up.kernel       [layers, embed, mlp];  mlp.down.kernel [layers, mlp, embed]
    model.final_norm.scale       [embed]
    lm_head.kernel               [embed, vocab]   (CausalLM, untied)  |  score.kernel [embed, labels]

Attention works on "slots": a batch is left-padded, slot j of a row holds token j, `kv_mask`
marks real tokens, a query at slot i sees keys at slots j <= i (and i - j < window for sliding
layers). RoPE positions default to the count of real tokens before a slot, so a left-padded row
gives the same logits as the same row unpadded. What differs per layer (window, RoPE frequencies:
Gemma's sliding and global layers) is data scanned with the layers (`LayerInfo`), not a branch.
A KV cache (`init_cache`) is a dict of arrays passed in and returned: the model itself stays pure.

Prompt-once mode (one mechanism for everything that continues a prompt several times: the
sampler's decode steps, the train step's chosen/rejected responses, RM scoring): `prefill` runs B
prompts once into a `Prefix` (keys/values [L,B,KV,S,D], kept once per prompt), and
`model.hidden(ids [B,N,R], mask, prefix=prefix)` runs N continuations of each prompt against it;
`attend_shared` is the attention of both, reading the prompt's keys once per prompt instead of
repeating them N times. `laser_jax.models.decode` is the one-token decode step built on it.
Where the continuations are known up front (log-probs of the train step's responses, RM scoring),
`Transformer.prompt_and_continuations` runs both in one layer scan, the same values in one pass.

This module composes; the parts live beside it: `laser_jax.models.attention` (RoPE, masks and the
attention kernels, no parameters) and `laser_jax.models.layers` (Dense, the norms, the MLP). A
family differs only by its `DecoderConfig` settings, read where each part is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.errors import ConfigError
from laser_jax.sharding import constrain_activation
from laser_jax.models.attention import (  # noqa: F401  (attention names kept importable from here)
    ATTENTION_CHUNK, DENSE_ATTENTION_MAX, attend, attend_chunked, attend_shared, is_chunked, rope, softcap)
from laser_jax.models.config import DecoderConfig
from laser_jax.models.layers import MLP, Dense, LayerNormNP, RMSNorm, make_norm  # noqa: F401

Cache = dict[str, jax.Array]
F32 = jnp.float32


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
            self.q_norm = make_norm(cfg, dtype, rngs, d, ("head_dim",))
            self.k_norm = make_norm(cfg, dtype, rngs, d, ("head_dim",))
        else:
            self.q_norm = self.k_norm = None

    def project(self, x, positions, inv_freq):
        q, k, v = self.q(x), self.k(x), self.v(x)
        if self.clip is not None:
            q, k, v = (jnp.clip(a, -self.clip, self.clip) for a in (q, k, v))
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return rope(q, positions, inv_freq), rope(k, positions, inv_freq), v



class Block(nnx.Module):
    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        self.input_norm = make_norm(cfg, dtype, rngs)
        self.attn = Attention(cfg, dtype=dtype, rngs=rngs)
        self.post_norm = make_norm(cfg, dtype, rngs)
        self.mlp = MLP(cfg, dtype=dtype, rngs=rngs)
        sandwich = cfg.sandwich_norm
        self.attn_out_norm = make_norm(cfg, dtype, rngs) if sandwich else None
        self.mlp_out_norm = make_norm(cfg, dtype, rngs) if sandwich else None

    def attn_out(self, y):
        """The attention's output projection `y` as added to the residual (Gemma: normed)."""
        return y if self.attn_out_norm is None else self.attn_out_norm(y)

    def mlp_out(self, y):
        """The MLP's output `y` as added to the residual (Gemma: normed)."""
        return y if self.mlp_out_norm is None else self.mlp_out_norm(y)


def _block_step(block: Block, x, attention):
    """One decoder layer on x [..., E]; `attention(attn_module, normed x)` -> (heads output, aux)."""
    h, aux = attention(block.attn, block.input_norm(x))
    x = x + block.attn_out(block.attn.o(h))
    x = x + block.mlp_out(block.mlp(block.post_norm(x)))
    return x, aux


class LayerInfo(NamedTuple):
    """What differs per layer beside its weights, scanned with them: index, attention window
    (0 = full causal) and RoPE inverse frequencies [head_dim // 2]."""

    index: jax.Array
    window: jax.Array
    inv_freq: jax.Array


def layer_infos(cfg: DecoderConfig) -> LayerInfo:
    """Every layer's `LayerInfo`, stacked [L, ...]."""
    return LayerInfo(jnp.arange(cfg.num_layers, dtype=jnp.int32), jnp.asarray(cfg.layer_windows()),
                     jnp.asarray(cfg.layer_inv_freq(), F32))


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
        self.final_norm = make_norm(cfg, dtype, rngs)

    def embed_tokens(self, input_ids):
        """Token embeddings in the model's dtype (Gemma: times sqrt(hidden_size) rounded to the
        embedding's dtype first, as transformers does)."""
        x = self.embed(input_ids)
        if self.cfg.scale_embeddings:
            x = x * jnp.asarray(np.float32(self.cfg.hidden_size ** 0.5), x.dtype)
        return x.astype(self.dtype)

    def _scan_layers(self, x, carry, xs, attention, emit: bool = False):
        """x through the stacked layers with lax.scan: `attention(attn, h, carry, info, xs_i)` ->
        (heads output, carry), `info` the layer's `LayerInfo`; `xs` (per-layer arrays, leading
        axis L) are sliced by the scan. With `emit`, attention returns (heads output, (carry, y))
        and the per-layer y come back stacked: (x, carry, ys)."""
        def step(block, x, carry, info, xs_i):
            x, aux = _block_step(block, x, lambda attn, h: attention(attn, h, carry, info, xs_i))
            carry, y = aux if emit else (aux, None)
            return x, carry, y

        x, carry, ys = self._scan_blocks(x, carry, xs, step)
        return (x, carry, ys) if emit else (x, carry)

    def _scan_blocks(self, x, carry, xs, step):
        """The layer scan itself: `step(block, x, carry, info, xs_i)` -> (x, carry, y) per layer, x
        one array [rows, T, E] or a tuple of them (each split over the batch axes) -> (final-normed
        x, carry, stacked y)."""
        graphdef, params = nnx.split(self.layers)
        names = ("batch", "length", "embed")  # the rows split over the batch axes (sharding.activation_sharding)
        constrain = lambda x: jax.tree.map(lambda a: constrain_activation(a, names), x)

        def body(c, per_layer):
            x, carry = c
            layer_params, info, xs_i = per_layer
            x, carry, y = step(nnx.merge(graphdef, layer_params), constrain(x), carry, info, xs_i)
            return (constrain(x), carry), y

        # what a gradient keeps of each layer (no effect without one): remat=True nothing, the layer
        # is recomputed in the backward pass (least memory); False the matmul outputs, the elementwise
        # work between them (norms, RoPE, softmax, activations) recomputed, which needs less memory
        # than keeping every intermediate and measured faster on CPU (BENCHMARKS.md, issue 25)
        policy = jax.checkpoint_policies.nothing_saveable if self.remat else jax.checkpoint_policies.checkpoint_dots
        body = jax.checkpoint(body, policy=policy)
        (x, carry), ys = jax.lax.scan(body, (constrain(x), carry), (params, layer_infos(self.cfg), xs))
        return jax.tree.map(self.final_norm, x), carry, ys

    def __call__(self, input_ids, attention_mask=None, *, positions=None, cache: Cache | None = None,
                 prefix: Prefix | None = None, emit_kv: bool = False):
        """Hidden states after the final norm, [B,T,E] (and the updated cache when one is given).
        With `prefix`: input_ids [B,N,R] are N continuations of each prefilled prompt (see
        `continuations`); returns ([B,N,R,E], None). With `emit_kv` (no cache): ([B,T,E], (k, v))
        with every layer's keys and values [L,B,T,KV,D] in the model's dtype, as a fresh cache of
        T slots would hold them (`prefill`), returned by the layer scan rather than written into a
        cache it carries (under a gradient the scan would keep that whole carry once per layer)."""
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
        scale, cap = cfg.attention_scale(), cfg.attn_softcap

        def attention(attn, h, cache_kv, info, _):
            """With `cache_kv` = (k_all, v_all) [L,B,S,KV,D], the new keys and values go into this
            layer's slots [start, start+T) in place and attention reads all S slots."""
            q, k, v = attn.project(h, positions, info.inv_freq)
            layer = info.index
            if emit_kv:
                out, kv = self._fresh_attention(q, k, v, q_slots, kv_mask, info)
                return out, (None, kv)
            if cache_kv is not None:
                k_all, v_all = cache_kv
                zero = jnp.zeros((), jnp.int32)
                at = (layer, zero, start, zero, zero)
                k_all = jax.lax.dynamic_update_slice(k_all, k[None].astype(k_all.dtype), at)
                v_all = jax.lax.dynamic_update_slice(v_all, v[None].astype(v_all.dtype), at)
                k = jax.lax.dynamic_index_in_dim(k_all, layer, 0, keepdims=False).astype(q.dtype)
                v = jax.lax.dynamic_index_in_dim(v_all, layer, 0, keepdims=False).astype(q.dtype)
                cache_kv = (k_all, v_all)
            # ATTENTION_CHUNK read here, at trace time: setting decoder.ATTENTION_CHUNK changes the chunk
            out = attend(q, k, v, q_slots, kv_mask, info.window, cfg.attention, ATTENTION_CHUNK, scale=scale, cap=cap)
            return out, cache_kv

        x = self.embed_tokens(input_ids)
        if emit_kv:
            x, _, kv = self._scan_layers(x, None, None, attention, emit=True)
            return x, kv
        x, cache_kv = self._scan_layers(x, cache_kv, None, attention)
        if cache is None:
            return x, None
        return x, {"k": cache_kv[0], "v": cache_kv[1], "mask": kv_mask, "index": start + t}

    def _fresh_attention(self, q, k, v, q_slots, kv_mask, info):
        """Attention of a fresh run (no cache) whose keys/values are rounded to the model's dtype,
        as a cache of that dtype would hold them and attention would read them back -> (heads
        output, (k, v) in the model's dtype)."""
        cfg = self.cfg
        k, v = k.astype(self.dtype), v.astype(self.dtype)
        out = attend(q, k.astype(q.dtype), v.astype(q.dtype), q_slots, kv_mask, info.window, cfg.attention,
                     ATTENTION_CHUNK, scale=cfg.attention_scale(), cap=cfg.attn_softcap)
        return out, (k, v)

    def continuations(self, input_ids, attention_mask, prefix: Prefix):
        """N continuations of each of B prefilled prompts, against the prompt's keys kept once.

        input_ids, attention_mask [B,N,R] (right-padded: mask 1 = real token); token r of
        continuation j of prompt b follows the prompt's S slots at slot S + r, and its RoPE position
        counts the real tokens before it, as if the row were prompt + continuation. -> [B,N,R,E]."""
        b, n, r = input_ids.shape
        positions, attention = self._continuation_attention(prefix.mask, attention_mask, (b, n, r))
        x = self.embed_tokens(input_ids.reshape(b * n, r))
        x, _ = self._scan_layers(x, None, (prefix.k, prefix.v),
                                 lambda attn, h, carry, info, kv: (attention(attn, h, info, kv), carry))
        return x.reshape(b, n, r, -1)

    def _continuation_attention(self, prefix_mask, attention_mask, shape):
        """For N continuations [B,N,R] of B prompts whose real slots are `prefix_mask` [B,S]: their
        RoPE positions [B*N,R] and `attention(attn, h, info, kv)` -> heads output [B*N,R,H,D], kv one
        layer's prompt keys/values [B,KV,S,D] (see `continuations`)."""
        cfg = self.cfg
        b, n, r = shape
        mask = jnp.ones(shape, bool) if attention_mask is None else attention_mask.astype(bool)
        s = prefix_mask.shape[1]
        own_count = jnp.cumsum(mask.astype(jnp.int32), axis=2) - 1
        before = jnp.sum(prefix_mask, axis=1, dtype=jnp.int32)[:, None, None]
        positions = jnp.maximum(before + own_count, 0).reshape(b * n, r)
        scale, cap = cfg.attention_scale(), cfg.attn_softcap
        rel_p = (s + jnp.arange(r))[:, None] - jnp.arange(s)[None, :]  # [R,S] query slot - key slot
        rel_o = jnp.arange(r)[:, None] - jnp.arange(r)[None, :]  # [R,R]
        kvh, dim, heads = cfg.num_kv_heads, cfg.head_dim, cfg.num_heads

        def attention(attn, h, info, kv):
            q, k, v = attn.project(h, positions, info.inv_freq)  # [B*N,R,...]
            own = tuple(jnp.swapaxes(a.reshape(b, n, r, kvh, dim), 2, 3) for a in (k, v))  # [B,N,KV,R,D]
            in_window = lambda rel: (info.window <= 0) | (rel < info.window)
            valid_p = prefix_mask[:, None, None, :] & in_window(rel_p)[None, None]
            valid_o = mask[:, :, None, :] & ((rel_o >= 0) & in_window(rel_o))[None, None]
            out = attend_shared(q.reshape(b, n, r, heads, dim), kv, valid_p, own, valid_o, scale=scale, cap=cap)
            return out.reshape(b * n, r, heads, dim)

        return positions, attention

    def prompt_and_continuations(self, prompt_ids, prompt_mask, input_ids, attention_mask):
        """`prefill` then `continuations` in ONE layer scan: each layer runs the B left-padded
        prompts [B,S], then their N continuations [B,N,R] against that layer's prompt keys/values
        (rounded to the model's dtype as a `Prefix` holds them), so the values are those of the two
        passes. One pass over the stacked weights instead of two, and under a gradient one backward
        scan with one stacked weight gradient (two passes give two, summed afterwards).
        -> (prompt hidden [B,S,E], continuations' hidden [B,N,R,E])."""
        b, n, r = input_ids.shape
        pmask = prompt_mask.astype(bool)
        p_positions = jnp.maximum(jnp.cumsum(pmask.astype(jnp.int32), axis=1) - 1, 0)
        q_slots = jnp.arange(pmask.shape[1])
        _, continuation = self._continuation_attention(pmask, attention_mask, (b, n, r))

        def step(block, x, carry, info, _):
            def prompt_attention(attn, h):
                q, k, v = attn.project(h, p_positions, info.inv_freq)
                return self._fresh_attention(q, k, v, q_slots, pmask, info)

            xp, (k, v) = _block_step(block, x[0], prompt_attention)
            kv = (jnp.swapaxes(k, 1, 2), jnp.swapaxes(v, 1, 2))  # [B,KV,S,D], as `prefill` keeps them
            xr, _ = _block_step(block, x[1], lambda attn, h: (continuation(attn, h, info, kv), None))
            return (xp, xr), carry, None

        x = (self.embed_tokens(prompt_ids), self.embed_tokens(input_ids.reshape(b * n, r)))
        (xp, xr), _, _ = self._scan_blocks(x, None, None, step)
        return xp, xr.reshape(b, n, r, -1)


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
        """hidden [..., E] -> float32 logits [..., V] (Gemma: soft-capped, cfg.final_softcap)."""
        if self.lm_head is None:
            emb = self.model.embed.embedding[...]
            out = jnp.einsum("...e,ve->...v", hidden, emb.astype(hidden.dtype), preferred_element_type=F32)
        else:
            out = jnp.einsum("...e,ev->...v", hidden, self.lm_head.kernel[...].astype(hidden.dtype),
                             preferred_element_type=F32)
        return softcap(out.astype(F32), self.cfg.final_softcap)

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
    hidden, (k, v) = model.model(ids, mask, emit_kv=True)  # as a fresh cache of S slots would hold them
    return hidden, Prefix(jnp.swapaxes(k, 2, 3), jnp.swapaxes(v, 2, 3), mask.astype(bool))


def to_dtype(name) -> Any:
    """'float32' / 'bfloat16' / a numpy or jnp dtype -> jnp dtype; ConfigError for another name
    (a config's policy.dtype or a reward model's dtype)."""
    if not isinstance(name, str):
        return jnp.dtype(name)
    table = {"float32": F32, "fp32": F32, "bfloat16": jnp.bfloat16, "bf16": jnp.bfloat16,
             "float16": jnp.float16, "fp16": jnp.float16}
    if name not in table:
        raise ConfigError(f"dtype {name!r} is not supported; use one of {sorted(table)}")
    return table[name]

