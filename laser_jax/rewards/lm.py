"""Reward models read off causal LMs.

- `LikelihoodRM`: the mean token log-prob of the response under the RM's LM (the seed code's rule):
      score = (1/|y|) sum_t log pi_rm(y_t | x, y_<t)
- `ImplicitDPORM`: the implicit reward of a DPO-trained chat model against its reference model
  (RewardBench's rule):
      score = beta * (sum_t log pi_rm(y_t | x, y_<t) - sum_t log pi_ref(y_t | x, y_<t))
  Both models read the same ids, so they must share the tokenizer.

The response span is the RM's own re-tokenisation of the response (see `text.py`): in chat mode it
includes the template's end-of-turn tokens, in plain mode a final EOS. The n responses of one prompt
are scored against that prompt run once (``share_prompt``, default on; `neural.logprob_sums`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from flax import nnx

from laser_jax.models import CausalLM
from laser_jax.rewards.neural import DEFAULT_BATCH, DEFAULT_CHUNK, NeuralRM, logprob_sums
from laser_jax.rewards.text import Encoded


def _require_lm(model, who: str, role: str) -> None:
    if not isinstance(model, CausalLM):
        raise TypeError(f"{who}: the {role} must be a CausalLM (a *ForCausalLM checkpoint), got "
                        f"{type(model).__name__}")


class _LogprobRM(NeuralRM):
    """share_prompt (default True): the n responses of one prompt are scored against the prompt
    run once (`neural.logprob_sums`); False runs every (prompt, response) row whole."""

    def __init__(self, tokenizer: Any, name: str, *, chunk: int | None = DEFAULT_CHUNK, share_prompt: bool = True,
                 **kw):
        self.chunk = chunk
        self.share_prompt = bool(share_prompt)
        super().__init__(tokenizer, name, **kw)

    def stack_key(self) -> tuple:
        return super().stack_key() + (self.chunk, self.share_prompt)

    def sums(self, model, rows: Sequence[Encoded]) -> tuple[np.ndarray, np.ndarray]:
        """(summed response log-probs, response tokens) of `rows` under `model`."""
        graphdef, state = nnx.split(model)
        return logprob_sums(graphdef, state, rows, batch_size=self.batch_size, pad_id=self.encoder.pad_id,
                            chunk=self.chunk, share_prompt=self.share_prompt)


class LikelihoodRM(_LogprobRM):
    """score = mean log-prob of the response tokens under `model` (0 for an empty span)."""

    kind = "likelihood"

    def __init__(self, model: CausalLM, tokenizer: Any, name: str, *, batch_size: int = DEFAULT_BATCH,
                 max_length: int | None = None, chat_template: bool | None = None, system: str | None = None,
                 chunk: int | None = DEFAULT_CHUNK, share_prompt: bool = True):
        _require_lm(model, f"LikelihoodRM {name!r}", "model")
        self.model = model
        super().__init__(tokenizer, name, batch_size=batch_size, max_length=max_length, chat_template=chat_template,
                         system=system, chunk=chunk, share_prompt=share_prompt)

    def models(self):
        return [self.model]

    def score_rows(self, rows: Sequence[Encoded]) -> np.ndarray:
        s, n = self.sums(self.model, rows)
        return (s / np.maximum(n, 1.0)).astype(np.float32)


class ImplicitDPORM(_LogprobRM):
    """score = beta * (sum log pi_policy(y|x) - sum log pi_ref(y|x)) over the response tokens."""

    kind = "implicit_dpo"

    def __init__(self, policy_model: CausalLM, ref_model: CausalLM, tokenizer: Any, beta: float, name: str, *,
                 batch_size: int = DEFAULT_BATCH, max_length: int | None = None, chat_template: bool | None = None,
                 system: str | None = None, chunk: int | None = DEFAULT_CHUNK, share_prompt: bool = True):
        _require_lm(policy_model, f"ImplicitDPORM {name!r}", "policy model")
        _require_lm(ref_model, f"ImplicitDPORM {name!r}", "reference model")
        if not float(beta) > 0:
            raise ValueError(f"ImplicitDPORM {name!r}: beta={beta} must be > 0")
        self.policy_model = policy_model
        self.ref_model = ref_model
        self.beta = float(beta)
        super().__init__(tokenizer, name, batch_size=batch_size, max_length=max_length, chat_template=chat_template,
                         system=system, chunk=chunk, share_prompt=share_prompt)

    def models(self):
        return [self.policy_model, self.ref_model]

    def score_rows(self, rows: Sequence[Encoded]) -> np.ndarray:
        policy, _ = self.sums(self.policy_model, rows)
        ref = policy if self.ref_model is self.policy_model else self.sums(self.ref_model, rows)[0]
        return (self.beta * (policy.astype(np.float64) - ref)).astype(np.float32)
