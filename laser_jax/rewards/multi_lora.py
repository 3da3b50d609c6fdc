"""Implicit-DPO reward models that are LoRA adapters on one base, scored together (multi-LoRA).

An adapter RM (an `implicit_dpo` entry with `adapter:`) is SmolLM2 (or any base) plus a LoRA
adapter trained with DPO, its reference the base itself:

    score = beta * (sum_t log pi_{base+adapter}(y_t | x, y_<t) - sum_t log pi_base(y_t | x, y_<t))

`AdapterDPORM` scores one such RM alone: two passes (adapted, base). K of them on the same base
object, tokenizer and settings (equal `stack_key`, which `RMSet` groups) become one
`MultiLoRARMs`: the K adapters' A/B are stacked along a leading "rm" axis behind one all-zero
adapter (= the base itself) and the adapted forward runs under `jax.vmap` over the K + 1 adapter
sets with the base weights shared, unstacked (`neural.logprob_sums(..., shared=base)`): one
compiled call per micro-batch computes log pi_base once and the K adapted log-probs, i.e. 1 + K
passes instead of 2K, with the base weights held once (the plain `StackedRMs` would stack K
merged copies). Adapters of different ranks or targets stack too: each is zero-padded to the
largest rank, a missing projection gets a zero adapter, and each B carries its own scale
(B * alpha / r, the module scale then 1), so every adapter computes what it does alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.models.adapters import Adapter, apply_adapter, check_fits, dense_modules
from laser_jax.models.lora import attach, lora_shapes
from laser_jax.rewards.base import check_inputs
from laser_jax.rewards.lm import ImplicitDPORM
from laser_jax.rewards.neural import DEFAULT_BATCH, DEFAULT_CHUNK, check_vocab, default_max_length, logprob_sums
from laser_jax.rewards.text import PairEncoder
from laser_jax.sharding import mesh_of, replicated


class AdapterDPORM(ImplicitDPORM):
    """ImplicitDPORM with policy = `base` + `adapter` (a new module sharing the base's arrays) and
    reference = `base`. `where` names the config field in errors (default: the RM's name)."""

    def __init__(self, base: Any, adapter: Adapter, tokenizer: Any, beta: float, name: str, *,
                 where: str | None = None, **kw):
        self.base, self.adapter = base, adapter
        policy = apply_adapter(base, adapter, where or f"reward model {name!r}: adapter")
        super().__init__(policy, base, tokenizer, beta, name, **kw)

    def stack_key(self) -> tuple:
        """Adapter RMs on the same base object with the same tokenisation and batching settings
        score together (`MultiLoRARMs`), whatever their ranks or targets."""
        return (AdapterDPORM, id(self.base), self.encoder.settings(), self.batch_size, self.chunk, self.share_prompt)


def stack_adapters(base: Any, adapters: Sequence[Adapter], where: str = "adapters") -> tuple[Any, Any, Any]:
    """(graphdef, LoRA state with a leading axis of K + 1 adapter sets, base state): set 0 is all
    zeros (the base itself), set k the adapter k - 1, padded to the largest rank and to the union
    of the adapters' projections, its scale folded into B (the graph's scale is 1)."""
    for i, a in enumerate(adapters):
        check_fits(base, a, f"{where}[{i}]")
    template = nnx.merge(*nnx.split(base))
    modules = dense_modules(template)
    names = sorted(set().union(*(a.arrays for a in adapters)))
    rank = max(a.rank for a in adapters)
    for name in names:
        a_shape, b_shape = lora_shapes(modules[name], rank)
        a, b = np.zeros((len(adapters) + 1, *a_shape), np.float32), np.zeros((len(adapters) + 1, *b_shape), np.float32)
        r_axis = 1 + len(a_shape) - 1 - modules[name].n_in  # B's rank axis: after "rm" and any "layers" axis
        for k, adapter in enumerate(adapters, 1):
            if name in adapter.arrays:
                aa, bb = adapter.arrays[name]
                a[k, ..., :adapter.rank] = aa
                b[(k,) + (slice(None),) * (r_axis - 1) + (slice(0, adapter.rank),)] = bb * adapter.scale
        dtype = modules[name].kernel.get_value().dtype
        attach(modules[name], jnp.asarray(a, dtype), jnp.asarray(b, dtype), 1.0, stack_names=("rm",))
    graphdef, lora, base_state = nnx.split(template, nnx.LoRAParam, ...)
    mesh = mesh_of(base_state)
    if mesh is not None:
        lora = jax.device_put(lora, replicated(mesh))
    return graphdef, lora, base_state


class MultiLoRARMs:
    """K adapter RMs on one base: `score_all` -> [K, N], row k = what RM k's own `score` gives,
    computed as 1 + K passes in one vmapped call per micro-batch (see the module doc)."""

    def __init__(self, base: Any, adapters: Sequence[Adapter], tokenizer: Any, betas: Sequence[float],
                 names: Sequence[str], *, batch_size: int = DEFAULT_BATCH, max_length: int | None = None,
                 chat_template: bool | None = None, system: str | None = None, chunk: int | None = DEFAULT_CHUNK,
                 share_prompt: bool = True):
        k = len(adapters)
        if k == 0 or len(names) != k or len(betas) != k:
            raise ValueError(f"MultiLoRARMs: need K >= 1 adapters with K names and K betas, got {k}, {len(names)}, "
                             f"{len(betas)}")
        self.names, self.tokenizer = list(names), tokenizer
        self.betas = np.asarray(betas, np.float64)
        self.batch_size, self.chunk, self.share_prompt = int(batch_size), chunk, bool(share_prompt)
        self.graphdef, self.lora, self.base_state = stack_adapters(base, adapters, f"MultiLoRARMs{self.names}")
        self.vocab = base.cfg.vocab_size
        max_length = default_max_length(base) if max_length is None else max_length
        self.encoder = PairEncoder(tokenizer, chat_template=chat_template, system=system, max_length=max_length)

    @classmethod
    def from_rms(cls, rms: Sequence[AdapterDPORM]) -> "MultiLoRARMs":
        """The multi-LoRA scorer of adapter RMs sharing one `stack_key()` (see `RMSet`)."""
        first = rms[0]
        if any(not isinstance(rm, AdapterDPORM) or rm.stack_key() != first.stack_key() for rm in rms):
            raise ValueError(f"MultiLoRARMs.from_rms: {[rm.name for rm in rms]} are not adapter RMs on one base "
                             "with one tokenizer and equal settings")
        enc = first.encoder
        return cls(first.base, [rm.adapter for rm in rms], first.tokenizer, [rm.beta for rm in rms],
                   [rm.name for rm in rms], batch_size=first.batch_size, max_length=enc.max_length,
                   chat_template=enc.chat, system=enc.system, chunk=first.chunk, share_prompt=first.share_prompt)

    def __len__(self):
        return len(self.names)

    def score_all(self, prompts: Sequence[str], responses: Sequence[str],
                  golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """[K, N] float32 (`golds` / `tasks` are checked and ignored)."""
        check_inputs(prompts, responses, golds, f"MultiLoRARMs{self.names}", tasks=tasks)
        rows = self.encoder.encode_all(prompts, responses, joint=False)
        check_vocab(rows, self.vocab, f"MultiLoRARMs{self.names}")
        s, _ = logprob_sums(self.graphdef, self.lora, rows, batch_size=self.batch_size, pad_id=self.encoder.pad_id,
                            chunk=self.chunk, stacked=True, share_prompt=self.share_prompt, shared=self.base_state)
        s = s.astype(np.float64)
        return (self.betas[:, None] * (s[1:] - s[:1])).astype(np.float32)
