"""What every neural reward model shares: re-tokenising, bucketed micro-batches and the two jitted
kernels (summed response log-probs of a CausalLM; label logits of a SequenceClassifier).

The kernels are `jax.jit` functions of (graphdef, state, arrays) with the graphdef static and the
weights passed as an argument (closing over the weights would make XLA constant-fold them and
compile for tens of seconds). They compile once per (architecture, micro-batch shape); with
`stacked=True` the state carries a leading "rm" axis and the model runs under `jax.vmap` over it:
K same-architecture RMs score the same tokens in one call (see `stacked.py`). `shared` (the LM
kernels): a state merged, unstacked, into every one of them: the base weights under K stacked LoRA
adapters (`multi_lora.py`), held once in memory and broadcast across the vmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, ClassVar

import jax
import numpy as np
from flax import nnx

from laser_jax.errors import ConfigError
from laser_jax.rewards.base import check_inputs
from laser_jax.rewards.batching import (MicroBatch, micro_batches, placed, placed_shared, prompt_groups,
                                       shared_batches)
from laser_jax.models.logprobs import response_logprobs, sequence_logprobs
from laser_jax.rewards.text import Encoded, PairEncoder
from laser_jax.sharding import constrain, mesh_of, replicated_for, to_host

DEFAULT_BATCH = 8
DEFAULT_CHUNK = 256  # LM-head positions at a time (bounds the [B, chunk, V] logits)


def check_vocab(rows: Sequence[Encoded], vocab: int, who: str) -> None:
    """ConfigError when the rows hold an id the model has no embedding for: the reward model's
    tokenizer (its entry's `tokenizer`, default its `path`) does not belong to its model."""
    top = max((max(r.ids) for r in rows if r.ids), default=-1)
    if top >= vocab:
        raise ConfigError(f"{who}: its tokenizer produced id {top} but the model's vocabulary has {vocab} entries; "
                          "the tokenizer does not belong to this model: give the reward model's entry the "
                          "tokenizer of its model (rewards[].tokenizer; unset = the model's own)")


def _merge(graphdef, state, shared):
    return nnx.merge(graphdef, state) if shared is None else nnx.merge(graphdef, state, shared)


@partial(jax.jit, static_argnames=("graphdef", "stacked", "chunk", "out_sharding"))
def lm_logprob_sums(graphdef, state, ids, mask, response_mask, *, stacked: bool = False, chunk: int | None = None,
                    out_sharding=None, shared=None):
    """(sum of response-token log-probs [B], response tokens [B]); [K, B] each when stacked.
    `out_sharding`: `sharding.replicated_for(state)` on a mesh (scores go back to every host)."""
    def one(s):
        return sequence_logprobs(_merge(graphdef, s, shared), ids, mask, response_mask, chunk=chunk)

    return constrain(jax.vmap(one)(state) if stacked else one(state), out_sharding)


@partial(jax.jit, static_argnames=("graphdef", "stacked", "chunk", "out_sharding"))
def lm_shared_sums(graphdef, state, prompt_ids, prompt_mask, ids, mask, *, stacked: bool = False,
                   chunk: int | None = None, out_sharding=None, shared=None):
    """`lm_logprob_sums` in prompt-once mode (`batching.SharedBatch`): each prompt runs once and
    its N responses attend to its keys. ([b, N], [b, N]); [K, b, N] each when stacked."""

    def one(s):
        return response_logprobs(_merge(graphdef, s, shared), prompt_ids, prompt_mask, ids, mask, chunk=chunk)

    return constrain(jax.vmap(one)(state) if stacked else one(state), out_sharding)


@partial(jax.jit, static_argnames=("graphdef", "stacked", "out_sharding"))
def classifier_logits(graphdef, state, ids, mask, *, stacked: bool = False, out_sharding=None):
    """Label logits at each row's last real token [B, L]; [K, B, L] when stacked."""
    def one(s):
        return nnx.merge(graphdef, s)(ids, mask)

    return constrain(jax.vmap(one)(state) if stacked else one(state), out_sharding)


def logprob_sums(graphdef, state, rows: Sequence[Encoded], *, batch_size: int, pad_id: int, chunk: int | None,
                 stacked: bool = False, share_prompt: bool = True, shared=None) -> tuple[np.ndarray, np.ndarray]:
    """(summed response log-probs, response tokens) of every row under the model(s) in `state`
    (each merged with `shared` when given), [N] each ([K, N] when stacked), as numpy.

    share_prompt: rows with the same prompt part (the n samples of one prompt) run that prompt once
    and score their responses against its keys (`lm_shared_sums`; ~n x less work for long prompts);
    rows with an empty prompt or response part, and every row when False, run whole
    (`lm_logprob_sums`). Both give the same numbers (tests/rewards: 1e-4)."""
    out_sh = replicated_for((state, shared))
    mesh = mesh_of((state, shared))
    lead = (jax.tree.leaves(state)[0].shape[0],) if stacked else ()
    sums, counts = np.zeros(lead + (len(rows),), np.float32), np.zeros(lead + (len(rows),), np.float32)
    groups, alone = prompt_groups(rows) if share_prompt else ([], list(range(len(rows))))
    for sb in shared_batches(rows, groups, batch_size, pad_id):
        g = sb.index.shape[0]
        p = placed_shared(sb, mesh)
        s, n = lm_shared_sums(graphdef, state, p.prompt_ids, p.prompt_mask, p.ids, p.mask, stacked=stacked,
                              chunk=chunk, out_sharding=out_sh, shared=shared)
        valid = sb.index >= 0
        sums[..., sb.index[valid]] = to_host(s)[..., :g, :][..., valid]
        counts[..., sb.index[valid]] = to_host(n)[..., :g, :][..., valid]
    if alone:
        sub = [rows[i] for i in alone]
        for mb in micro_batches(sub, batch_size, pad_id):
            p = placed(mb, mesh)
            s, n = lm_logprob_sums(graphdef, state, p.ids, p.mask, p.response_mask, stacked=stacked, chunk=chunk,
                                   out_sharding=out_sh, shared=shared)
            at = np.asarray(alone)[mb.index]
            sums[..., at] = to_host(s)[..., :len(mb.index)]
            counts[..., at] = to_host(n)[..., :len(mb.index)]
    return sums, counts


def signature(model) -> tuple:
    """(graphdef, leaf shapes and dtypes): equal signatures <=> the params can be stacked."""
    graphdef, state = nnx.split(model)
    leaves = tuple((tuple(x.shape), str(x.dtype)) for x in jax.tree.leaves(state))
    return graphdef, leaves


def default_max_length(*models) -> int | None:
    lengths = [m.cfg.max_position_embeddings for m in models if getattr(m, "cfg", None) is not None]
    return min(lengths) if lengths else None


class NeuralRM:
    """Base of the model-backed RMs: `score` = encode -> micro-batches -> `_score_batch` per batch.

    Subclasses set `kind`, `joint` (tokenise the full text in one piece: classifiers) and
    implement `_score_batch(mb) -> np.ndarray [b]` and `models()` (the modules they run)."""

    kind: ClassVar[str] = ""
    joint: ClassVar[bool] = False

    def __init__(self, tokenizer: Any, name: str, *, batch_size: int = DEFAULT_BATCH, max_length: int | None = None,
                 chat_template: bool | None = None, system: str | None = None):
        if int(batch_size) < 1:  # build.py checks an entry's batch_size: a caller's bug
            raise ValueError(f"reward model {name!r}: batch_size={batch_size} must be >= 1")
        self.name = name
        self.tokenizer = tokenizer
        self.batch_size = int(batch_size)
        if max_length is None:
            max_length = default_max_length(*self.models())
        self.encoder = PairEncoder(tokenizer, chat_template=chat_template, system=system, max_length=max_length)

    def models(self) -> list:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"

    def encode(self, prompts: Sequence[str], responses: Sequence[str]) -> list[Encoded]:
        """The token rows this RM scores (its own tokenizer and format), with their response spans."""
        rows = self.encoder.encode_all(prompts, responses, joint=self.joint)
        check_vocab(rows, min(m.cfg.vocab_size for m in self.models()), f"reward model {self.name!r}")
        return rows

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """`tasks` (per-row task names) is checked and ignored: a model scores the text alone."""
        check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        return self.score_rows(self.encode(prompts, responses))

    def score_rows(self, rows: Sequence[Encoded]) -> np.ndarray:
        out = np.zeros(len(rows), np.float32)
        mesh = mesh_of([nnx.state(m) for m in self.models()])
        for mb in micro_batches(rows, self.batch_size, self.encoder.pad_id):
            out[mb.index] = to_host(self._score_batch(placed(mb, mesh)))[:len(mb.index)]
        return out

    def _score_batch(self, mb: MicroBatch) -> np.ndarray:
        raise NotImplementedError

    def stack_key(self) -> tuple:
        """RMs with equal keys can be stacked and scored in one vmapped call (`stacked.py`):
        same class, same architecture and dtypes, the same tokenizer object and format settings."""
        return (type(self), tuple(signature(m) for m in self.models()), self.encoder.settings(), self.batch_size,
                self.joint)
