"""LoRA adapters on the decoder's projections, as `nnx.LoRAParam` variables.

`add_lora(model, rank, alpha, targets, seed)` gives each targeted `Dense` (q, k, v, o, gate, up,
down) a pair lora_a [*in, r] (Gaussian, std 1/sqrt(fan_in)) and lora_b [r, *out] (zeros), so the
adapted model starts equal to the base. Stacked layers get the leading "layers" axis too; the
logical names are the kernel's plus "lora" for the rank axis.

Train only the adapters with `trainable_filter(lora=True)`; the frozen base is everything else.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.errors import ConfigError
from laser_jax.models.layers import Dense

TARGETS = ("q", "k", "v", "o", "gate", "up", "down")


def add_lora(model, rank: int, alpha: float, targets=TARGETS, seed: int = 0):
    """Attach adapters in place; returns the number of adapted projections. ConfigError for a
    target that is no projection (policy.lora_targets, which the config check leaves to this)."""
    if rank <= 0:  # callers add adapters only for policy.lora_rank > 0 (checked at the entry)
        raise ValueError(f"lora rank must be positive, got {rank}")
    bad = sorted(set(targets) - set(TARGETS))
    if bad:
        raise ConfigError(f"policy.lora_targets: {bad} are not projections of the decoder; choose from "
                          f"{list(TARGETS)}")
    rng = np.random.default_rng(seed)  # host RNG: no compile per adapter shape (jax.random.normal took ~1 s each)
    count = 0
    for path, module in nnx.iter_graph(model):
        if not isinstance(module, Dense) or not path or path[-1] not in targets:
            continue
        a_shape, b_shape = lora_shapes(module, rank)
        fan_in = int(np.prod(module.kernel.shape[len(a_shape) - 1 - module.n_in:len(a_shape) - 1]))
        dtype = module.kernel.get_value().dtype
        a = rng.standard_normal(a_shape, dtype=np.float32) / math.sqrt(fan_in)
        attach(module, jnp.asarray(a, dtype), jnp.zeros(b_shape, dtype), float(alpha) / rank)
        count += 1
    return count


def lora_shapes(module: Dense, rank: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lora_a shape, lora_b shape) of a rank-`rank` adapter on `module` (a leading "layers" axis
    when its kernel is stacked over layers)."""
    kernel = module.kernel
    n_lead = len(kernel.shape) - module.n_in - len(module.out_names)
    lead, rest = kernel.shape[:n_lead], kernel.shape[n_lead:]
    return (*lead, *rest[:module.n_in], rank), (*lead, rank, *rest[module.n_in:])


def attach(module: Dense, a, b, scale: float, stack_names: tuple[str, ...] = ()) -> None:
    """Give `module` the adapter (a [*in, r], b [r, *out], each with the kernel's leading "layers"
    axis when stacked) with its logical axis names: the kernel's, plus "lora" for the rank axis.
    `stack_names`: names of extra leading axes of a and b (several adapters: ("rm",))."""
    stacked = len(module.kernel.shape) > module.n_in + len(module.out_names)
    lead = (*stack_names, *(("layers",) if stacked else ()))
    module.lora_a = nnx.LoRAParam(a, out_sharding=(*lead, *module.in_names, "lora"), eager_sharding=False)
    module.lora_b = nnx.LoRAParam(b, out_sharding=(*lead, "lora", *module.out_names), eager_sharding=False)
    module.lora_scale = float(scale)


def trainable_filter(lora: bool):
    """What the optimizer updates: the adapters with LoRA, every parameter without."""
    return nnx.LoRAParam if lora else nnx.Param


def frozen_filter(lora: bool):
    return nnx.All(nnx.Param, nnx.Not(nnx.LoRAParam)) if lora else nnx.Not(nnx.Param)
