"""The decoder's one-token decode mode: N continuations of B prefilled prompts, one token per row
per step (the sampler's inner loop).

    hidden, prefix = decoder.prefill(model, ids, mask)          # the prompts, once
    weights = decode_weights(model)                             # once per sampling call
    state = init_state(prefix, n, slots)
    logits, state = step(model, weights, tok, alive, state)     # tok [B*n]: row b*n + j = sample j of b

Attention is `attention.attend_shared`, the same prompt-once attention the train step's
continuations use: the prompt's keys/values stay once per prompt ([B,KV,S,D] per layer) and the
generated tokens get their own [B,n,KV,slots,D] cache. Norms, q/k norms and RoPE are the model's
own modules and functions; the projections are the model's Dense kernels, copied once per call in
the layout that is fast for one token per row (the tests compare against the full model).

Why not the model's scanned `__call__` with a cache: on CPU the difference is 2x.
- Its layer scan copies every layer's weights out of the [L, ...] stack on every step
  (dynamic-slice; as costly as the matmuls). Here they are copied out once per call, outside the
  decode loop (while sampling, the layer weights exist twice).
- With few rows a matmul streams its weight matrix from memory. XLA's CPU dot streams a weight
  stored [out, in] and applied as W @ x^T about 1.5x faster than x @ W[in, out], so the one-time
  copy also transposes the kernels, and `_linear` keeps XLA from folding the activation
  transposes back into the dot. The LM head of tied embeddings is already [V, E].
- The scan carries the whole [L,B,S,KV,D] cache and re-reads it transposed. Here each layer has
  its own cache arrays, written in place.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.models import decoder as D
from laser_jax.models.attention import attend_shared, rope, softcap
from laser_jax.models.layers import ACTIVATIONS, Dense

F32 = jnp.float32


def _transposed(dense: Dense):
    """A Dense layer's kernel as [out, in] (flattened) and its bias flattened (or None)."""
    kernel = dense.kernel[...]
    fan_in = int(np.prod(kernel.shape[:dense.n_in]))
    bias = None if dense.bias is None else dense.bias[...].reshape(-1)
    return kernel.reshape(fan_in, -1).T, bias


def _linear(wb, x, out_dtype=None):
    """x [R, in] @ W for W given as ([out, in], bias): computed as (W^T x^T)^T; the barriers keep
    the transposes of the small activations materialised (see the module doc)."""
    w_t, bias = wb
    xt = jax.lax.optimization_barrier(x.T.astype(w_t.dtype))
    y = jax.lax.optimization_barrier(jnp.dot(w_t, xt, preferred_element_type=out_dtype)).T
    return y if bias is None else y + bias.astype(y.dtype)


def decode_weights(model: D.CausalLM):
    """Per layer: (Block module for its norms, dict of transposed projections); and the LM head
    as [V, E]. The layer weights are copied once (see the module doc)."""
    graphdef, params = nnx.split(model.model.layers)
    layers = []
    for i in range(model.cfg.num_layers):
        blk = nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], params))
        proj = {name: _transposed(dense) for name, dense in (
            ("q", blk.attn.q), ("k", blk.attn.k), ("v", blk.attn.v), ("o", blk.attn.o),
            ("gate", blk.mlp.gate), ("up", blk.mlp.up), ("down", blk.mlp.down))}
        layers.append((blk, proj))
    if model.lm_head is None:
        head = (model.model.embed.embedding[...], None)
    else:
        head = _transposed(model.lm_head)
    return layers, head


def init_state(prefix: D.Prefix, n: int, slots: int):
    """The decode state after a prefill: the prompt's keys/values per layer ([B,KV,S,D], shared by
    a prompt's n rows) and mask [B,S]; an empty cache of `slots` generated tokens per row
    (L arrays [B,n,KV,slots,D]) and its mask [B*n,slots]; index = the next generated slot."""
    layers, b, kv_heads, _, dim = prefix.k.shape
    gen = jnp.zeros((b, n, kv_heads, slots, dim), prefix.k.dtype)
    return {"prompt_k": tuple(prefix.k), "prompt_v": tuple(prefix.v), "prompt_mask": prefix.mask.astype(bool),
            "gen_k": (gen,) * layers, "gen_v": (gen,) * layers,
            "gen_mask": jnp.zeros((b * n, slots), bool), "index": jnp.zeros((), jnp.int32)}


def step(model: D.CausalLM, weights, tok, alive, state):
    """Feed tok [R] (R = B*n; alive [R] bool: a real token, else ignored by every later query)
    as generated token number state['index']. weights: `decode_weights(model)`; state: see
    `init_state`. Returns (logits [R,V] float32, state)."""
    cfg, tr = model.cfg, model.model
    layers, head = weights
    rows = tok.shape[0]
    heads, kv_heads, dim = cfg.num_heads, cfg.num_kv_heads, cfg.head_dim
    slot = state["index"]
    prompt_mask, gen_mask = state["prompt_mask"], state["gen_mask"]
    b, t = prompt_mask.shape
    n = rows // b
    # RoPE position = real tokens before this one (prompt + generated so far), as in the model
    positions = (jnp.repeat(jnp.sum(prompt_mask, axis=1, dtype=jnp.int32), n)
                 + jnp.sum(gen_mask, axis=1, dtype=jnp.int32))[:, None]
    rel_p = t + slot - jnp.arange(t)  # distance back to each prompt slot
    rel_g = slot - jnp.arange(gen_mask.shape[1])
    inv_freqs = jnp.asarray(cfg.layer_inv_freq(), F32)  # [L, D/2]: Gemma 3's local / global bases
    scale, cap, act = cfg.attention_scale(), cfg.attn_softcap, ACTIVATIONS[cfg.activation]
    zero = jnp.zeros((), jnp.int32)
    at = (zero, zero, zero, slot, zero)
    x = tr.embed_tokens(tok)  # [R,E]
    new_k, new_v = [], []
    for i, ((blk, w), window) in enumerate(zip(layers, cfg.layer_windows().tolist())):
        inv_freq = inv_freqs[i]
        h = blk.input_norm(x)
        q = _linear(w["q"], h).reshape(rows, 1, heads, dim)
        k = _linear(w["k"], h).reshape(rows, 1, kv_heads, dim)
        v = _linear(w["v"], h).reshape(rows, kv_heads, dim)
        if blk.attn.clip is not None:
            q, k, v = (jnp.clip(a, -blk.attn.clip, blk.attn.clip) for a in (q, k, v))
        if blk.attn.q_norm is not None:
            q, k = blk.attn.q_norm(q), blk.attn.k_norm(k)
        q, k = rope(q, positions, inv_freq), rope(k, positions, inv_freq)[:, 0]
        # write first, then attend over the written cache: XLA then updates it in place (reading
        # the old cache while writing the new one, or reshaping it, makes XLA copy it every step).
        kg, vg = state["gen_k"][i], state["gen_v"][i]
        kg = jax.lax.dynamic_update_slice(kg, k.reshape(b, n, kv_heads, 1, dim).astype(kg.dtype), at)
        vg = jax.lax.dynamic_update_slice(vg, v.reshape(b, n, kv_heads, 1, dim).astype(vg.dtype), at)
        valid_p, valid_g = prompt_mask, gen_mask | (rel_g == 0)  # + itself
        if window > 0:
            valid_p, valid_g = valid_p & (rel_p < window), valid_g & (rel_g < window)
        attn = attend_shared(q.reshape(b, n, 1, heads, dim), (state["prompt_k"][i], state["prompt_v"][i]),
                               valid_p[:, None, None, :], (kg, vg), valid_g.reshape(b, n, 1, -1),
                               scale=scale, cap=cap)
        x = x + blk.attn_out(_linear(w["o"], attn.reshape(rows, heads * dim)))
        h = blk.post_norm(x)
        x = x + blk.mlp_out(_linear(w["down"], act(_linear(w["gate"], h)) * _linear(w["up"], h)))
        new_k.append(kg)
        new_v.append(vg)
    logits = softcap(_linear(head, tr.final_norm(x), out_dtype=F32).astype(F32), cfg.final_softcap)
    state = {**state, "gen_k": tuple(new_k), "gen_v": tuple(new_v),
             "gen_mask": jax.lax.dynamic_update_slice(gen_mask, alive[:, None], (zero, slot)), "index": slot + 1}
    return logits, state
