"""The decoder's shared parameterised layers: projections with logical axis names (and optional
LoRA), the norms, and the gated MLP. A model family picks among them by its `DecoderConfig`
settings (`norm`, biases); `laser_jax.models.decoder` composes them into blocks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from laser_jax.models.config import DecoderConfig

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


def make_norm(cfg: DecoderConfig, dtype, rngs):
    """The family's norm over `embed`: RMSNorm, or OLMo's non-parametric LayerNorm."""
    if cfg.norm == "layernorm_np":
        return LayerNormNP(cfg.norm_eps)
    return RMSNorm(cfg.hidden_size, cfg.norm_eps, ("norm",), dtype=dtype, rngs=rngs)


class MLP(nnx.Module):
    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        e, f = cfg.hidden_size, cfg.intermediate_size
        self.gate = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.up = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.down = Dense((f,), (e,), ("mlp",), ("embed",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.down(jax.nn.silu(self.gate(x)) * self.up(x))
