"""Reward models read off causal LMs.

- `LikelihoodRM`: the mean token log-prob of the response under the RM's LM (the seed code's rule):
      score = (1/|y|) sum_t log pi_rm(y_t | x, y_<t)
- `ImplicitDPORM`: the implicit reward of a DPO-trained chat model against its reference model
  (RewardBench's rule):
      score = beta * (sum_t log pi_rm(y_t | x, y_<t) - sum_t log pi_ref(y_t | x, y_<t))
  Both models read the same ids, so they must share the tokenizer.

The response span is the RM's own re-tokenisation of the response (see `text.py`): in chat mode it
includes the template's end-of-turn tokens, in plain mode a final EOS.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import nnx

from laser_jax.models import CausalLM
from laser_jax.sharding import replicated_for, to_host
from laser_jax.rewards.batching import MicroBatch
from laser_jax.rewards.neural import DEFAULT_BATCH, DEFAULT_CHUNK, NeuralRM, lm_logprob_sums


def _require_lm(model, who: str, role: str) -> None:
    if not isinstance(model, CausalLM):
        raise TypeError(f"{who}: the {role} must be a CausalLM (a *ForCausalLM checkpoint), got "
                        f"{type(model).__name__}")


def response_logprobs(model, mb: MicroBatch, chunk: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(sum of response log-probs, response tokens) of a micro-batch under `model`, as numpy."""
    graphdef, state = nnx.split(model)
    s, n = lm_logprob_sums(graphdef, state, mb.ids, mb.mask, mb.response_mask, chunk=chunk,
                           out_sharding=replicated_for(state))
    return to_host(s), to_host(n)


class _LogprobRM(NeuralRM):
    def __init__(self, tokenizer: Any, name: str, *, chunk: int | None = DEFAULT_CHUNK, **kw):
        self.chunk = chunk
        super().__init__(tokenizer, name, **kw)

    def stack_key(self) -> tuple:
        return super().stack_key() + (self.chunk,)


class LikelihoodRM(_LogprobRM):
    """score = mean log-prob of the response tokens under `model` (0 for an empty span)."""

    kind = "likelihood"

    def __init__(self, model: CausalLM, tokenizer: Any, name: str, *, batch_size: int = DEFAULT_BATCH,
                 max_length: int | None = None, chat_template: bool | None = None, system: str | None = None,
                 chunk: int | None = DEFAULT_CHUNK):
        _require_lm(model, f"LikelihoodRM {name!r}", "model")
        self.model = model
        super().__init__(tokenizer, name, batch_size=batch_size, max_length=max_length, chat_template=chat_template,
                         system=system, chunk=chunk)

    def models(self):
        return [self.model]

    def _score_batch(self, mb: MicroBatch) -> np.ndarray:
        s, n = response_logprobs(self.model, mb, self.chunk)
        return s / np.maximum(n, 1.0)


class ImplicitDPORM(_LogprobRM):
    """score = beta * (sum log pi_policy(y|x) - sum log pi_ref(y|x)) over the response tokens."""

    kind = "implicit_dpo"

    def __init__(self, policy_model: CausalLM, ref_model: CausalLM, tokenizer: Any, beta: float, name: str, *,
                 batch_size: int = DEFAULT_BATCH, max_length: int | None = None, chat_template: bool | None = None,
                 system: str | None = None, chunk: int | None = DEFAULT_CHUNK):
        _require_lm(policy_model, f"ImplicitDPORM {name!r}", "policy model")
        _require_lm(ref_model, f"ImplicitDPORM {name!r}", "reference model")
        if not float(beta) > 0:
            raise ValueError(f"ImplicitDPORM {name!r}: beta={beta} must be > 0")
        self.policy_model = policy_model
        self.ref_model = ref_model
        self.beta = float(beta)
        super().__init__(tokenizer, name, batch_size=batch_size, max_length=max_length, chat_template=chat_template,
                         system=system, chunk=chunk)

    def models(self):
        return [self.policy_model, self.ref_model]

    def _score_batch(self, mb: MicroBatch) -> np.ndarray:
        policy, _ = response_logprobs(self.policy_model, mb, self.chunk)
        ref = policy if self.ref_model is self.policy_model else response_logprobs(self.ref_model, mb, self.chunk)[0]
        return (self.beta * (policy.astype(np.float64) - ref)).astype(np.float32)
