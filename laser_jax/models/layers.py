"""The decoder's shared parameterised layers: projections with logical axis names (and optional
LoRA), the norms, and the gated MLP. A model family picks among them by its `DecoderConfig`
settings (`norm`, biases); `laser_jax.models.decoder` composes them into blocks.
"""

from __future__ import annotations

from functools import partial

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
    """RMSNorm times `scale` (Llama: normalised x cast to x's dtype, then scaled), or with
    `unit_offset` times (1 + scale) in float32, cast after (Gemma; scale starts at 0)."""

    def __init__(self, dim: int, eps: float, names, *, dtype, rngs, unit_offset: bool = False):
        self.eps = eps
        self.unit_offset = unit_offset
        self.scale = _param(rngs, (dim,), names, dtype, "zeros" if unit_offset else "ones")

    def __call__(self, x):
        xf = x.astype(F32)
        xf = xf * jax.lax.rsqrt(jnp.mean(xf * xf, axis=-1, keepdims=True) + self.eps)
        if self.unit_offset:
            return (xf * (1.0 + self.scale[...].astype(F32))).astype(x.dtype)
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


def make_norm(cfg: DecoderConfig, dtype, rngs, dim: int | None = None, names=("norm",)):
    """The family's norm (`cfg.norm`) over `embed` (or `dim` named `names`: the q/k norms):
    RMSNorm, Gemma's (1 + w) RMSNorm, or OLMo's non-parametric LayerNorm."""
    if cfg.norm == "layernorm_np":
        return LayerNormNP(cfg.norm_eps)
    return RMSNorm(dim or cfg.hidden_size, cfg.norm_eps, names, dtype=dtype, rngs=rngs,
                   unit_offset=cfg.norm == "rms_1p")


# DecoderConfig.activation -> the gated MLP's activation on the gate
ACTIVATIONS = {"silu": jax.nn.silu, "gelu_tanh": partial(jax.nn.gelu, approximate=True),
               "gelu": partial(jax.nn.gelu, approximate=False)}


@partial(jax.custom_vjp, nondiff_argnums=(0,))
def gated(activation: str, gate, up):
    """act(gate) * up, the gated MLP's product (`activation` a key of ACTIVATIONS).

    Its gradient keeps only `gate` and `up` for the backward pass and recomputes the activation
    there. Autodiff of the plain expression also keeps the activation's intermediates (for SiLU
    four arrays the size of the MLP's hidden layer instead of two), whose writing and reading cost
    ~7 % of a SmolLM2 DPO step on CPU (BENCHMARKS.md, issue 25)."""
    return ACTIVATIONS[activation](gate) * up


def _gated_fwd(activation, gate, up):
    return gated(activation, gate, up), (gate, up)


def _gated_bwd(activation, residuals, dy):
    gate, up = residuals
    act, act_vjp = jax.vjp(ACTIVATIONS[activation], gate)
    (d_gate,) = act_vjp(dy * up)
    return d_gate, dy * act


gated.defvjp(_gated_fwd, _gated_bwd)


class MLP(nnx.Module):
    """down(act(gate(x)) * up(x)): SwiGLU, or GeGLU for Gemma (`cfg.activation`)."""

    def __init__(self, cfg: DecoderConfig, *, dtype, rngs):
        e, f = cfg.hidden_size, cfg.intermediate_size
        self.activation = cfg.activation
        self.gate = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.up = Dense((e,), (f,), ("embed",), ("mlp",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)
        self.down = Dense((f,), (e,), ("mlp",), ("embed",), bias=cfg.mlp_bias, dtype=dtype, rngs=rngs)

    def __call__(self, x):
        return self.down(gated(self.activation, self.gate(x), self.up(x)))
