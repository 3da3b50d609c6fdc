"""Several RMs of one architecture scored in ONE vmapped call (the score ensemble's fast path).

RMs fine-tuned from one base (same DecoderConfig, dtypes and tokenizer) differ only in their
weights. `StackedRMs` stacks the K weight sets along a new leading "rm" axis
(`jax.tree.map(jnp.stack, ...)`) and runs the model under `jax.vmap` over that axis, on the same
token batch: one tokenisation, one compiled program, K x the arithmetic per launch.

The stack is a SNAPSHOT of the weights taken at construction (a copy: K more weight sets in device
memory while the individual models live). Build it once and reuse it (`RMSet`), not per call.

`score_with(rms, ...)` / `RMSet(rms)` group any list of RMs automatically: neural RMs with equal
`stack_key()` (same class, architecture and dtypes, the same tokenizer object, the same format and
batch settings) form one stack; adapter RMs on one base (`multi_lora.AdapterDPORM`) form one
`MultiLoRARMs` (the base run once, its weights not copied); anything else (verifiers, lone RMs)
is called on its own.
`NoisyRM` wrappers are looked through: their inner RM is grouped and the noise added afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.rewards.base import RewardModel, check_inputs, with_tasks
from laser_jax.rewards.batching import micro_batches, placed
from laser_jax.rewards.classifier import ClassifierRM, strip_trailing_pad
from laser_jax.rewards.lm import ImplicitDPORM, LikelihoodRM
from laser_jax.rewards.multi_lora import AdapterDPORM, MultiLoRARMs
from laser_jax.rewards.neural import (DEFAULT_BATCH, DEFAULT_CHUNK, NeuralRM, check_vocab, classifier_logits,
                                      default_max_length, logprob_sums, signature)
from laser_jax.rewards.noise import NoisyRM
from laser_jax.rewards.text import PairEncoder
from laser_jax.sharding import mesh_of, replicated_for, to_host

KINDS = ("likelihood", "implicit_dpo", "classifier")


def stack_models(models: Sequence[Any], what: str = "models") -> tuple[Any, Any]:
    """(graphdef, state with a leading K axis) of same-architecture models; ValueError otherwise."""
    sigs = [signature(m) for m in models]
    for i, s in enumerate(sigs[1:], 1):
        if s != sigs[0]:
            raise ValueError(f"StackedRMs: {what}[{i}] differs from {what}[0] in architecture, parameter shapes "
                             "or dtypes; only RMs of one DecoderConfig and dtype can be stacked")
    states = [nnx.split(m)[1] for m in models]
    return sigs[0][0], jax.tree.map(lambda *xs: jnp.stack(xs), *states)


class StackedRMs:
    """K RMs of one kind and architecture, sharing `tokenizer`; `score_all` -> [K, N].

    kind: "likelihood" | "implicit_dpo" | "classifier". refs / betas (implicit_dpo): the K
    reference models (the same object K times = computed once) and betas; labels (classifier):
    the label read per RM (default 0). The other options are those of the single RMs."""

    def __init__(self, models: Sequence[Any], tokenizer: Any, kind: str, names: Sequence[str], *,
                 refs: Sequence[Any] | None = None, betas: Sequence[float] | None = None,
                 labels: Sequence[int] | None = None, batch_size: int = DEFAULT_BATCH, max_length: int | None = None,
                 chat_template: bool | None = None, system: str | None = None, chunk: int | None = DEFAULT_CHUNK,
                 share_prompt: bool = True):
        k = len(models)
        if kind not in KINDS:
            raise ValueError(f"StackedRMs: kind={kind!r} is not one of {KINDS}")
        if k == 0 or len(names) != k:
            raise ValueError(f"StackedRMs: need K >= 1 models and K names, got {k} models and {len(names)} names")
        self.kind, self.names, self.tokenizer = kind, list(names), tokenizer
        self.batch_size, self.chunk, self.share_prompt = int(batch_size), chunk, bool(share_prompt)
        self.graphdef, self.state = stack_models(models)
        self.ref_graphdef = self.ref_state = None
        self.shared_ref = False
        if kind == "implicit_dpo":
            if refs is None or betas is None or len(refs) != k or len(betas) != k:
                raise ValueError("StackedRMs(kind='implicit_dpo') needs K refs and K betas")
            self.betas = np.asarray(betas, np.float64)
            self.shared_ref = all(r is refs[0] for r in refs)
            if self.shared_ref:
                self.ref_graphdef, self.ref_state = nnx.split(refs[0])
            else:
                self.ref_graphdef, self.ref_state = stack_models(refs, "refs")
        if kind == "classifier":
            self.labels = np.asarray(labels if labels is not None else [0] * k, np.int64)
            if len(self.labels) != k:
                raise ValueError(f"StackedRMs: {len(self.labels)} labels for {k} classifiers")
        self.pad_token_id = models[0].cfg.pad_token_id
        extra = list(refs) if refs is not None else []
        self.vocab = min(m.cfg.vocab_size for m in list(models) + extra)
        if max_length is None:
            max_length = default_max_length(*models, *extra)
        self.encoder = PairEncoder(tokenizer, chat_template=chat_template, system=system, max_length=max_length)

    @classmethod
    def from_rms(cls, rms: Sequence[NeuralRM]) -> "StackedRMs":
        """The stack of RMs that share one `stack_key()` (see `score_with`)."""
        first = rms[0]
        if any(rm.stack_key() != first.stack_key() for rm in rms[1:]):
            raise ValueError(f"StackedRMs.from_rms: {[rm.name for rm in rms]} cannot be stacked (different class, "
                             "architecture, dtype, tokenizer object or format settings)")
        enc = first.encoder
        common = dict(batch_size=first.batch_size, max_length=enc.max_length, chat_template=enc.chat,
                      system=enc.system)
        names = [rm.name for rm in rms]
        if isinstance(first, LikelihoodRM):
            return cls([rm.model for rm in rms], first.tokenizer, "likelihood", names, chunk=first.chunk,
                       share_prompt=first.share_prompt, **common)
        if isinstance(first, ImplicitDPORM):
            return cls([rm.policy_model for rm in rms], first.tokenizer, "implicit_dpo", names,
                       refs=[rm.ref_model for rm in rms], betas=[rm.beta for rm in rms], chunk=first.chunk,
                       share_prompt=first.share_prompt, **common)
        if isinstance(first, ClassifierRM):
            return cls([rm.model for rm in rms], first.tokenizer, "classifier", names,
                       labels=[rm.label for rm in rms], **common)
        raise TypeError(f"StackedRMs.from_rms: cannot stack {type(first).__name__}")

    def __len__(self):
        return len(self.names)

    def score_all(self, prompts: Sequence[str], responses: Sequence[str],
                  golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """[K, N] float32: row k = what RM k's own `score` gives (`tasks` is checked and ignored)."""
        check_inputs(prompts, responses, golds, f"StackedRMs{self.names}", tasks=tasks)
        rows = self.encoder.encode_all(prompts, responses, joint=self.kind == "classifier")
        if self.kind == "classifier":
            rows = strip_trailing_pad(rows, self.pad_token_id)
        check_vocab(rows, self.vocab, f"StackedRMs{self.names}")
        if self.kind != "classifier":
            return self._score_lm(rows)
        out = np.zeros((len(self), len(rows)), np.float32)
        mesh = mesh_of(self.state)
        for mb in micro_batches(rows, self.batch_size, self.encoder.pad_id):
            p = placed(mb, mesh)
            logits = to_host(classifier_logits(self.graphdef, self.state, p.ids, p.mask, stacked=True,
                                               out_sharding=replicated_for(self.state)))
            out[:, mb.index] = logits[np.arange(len(self)), :, self.labels][:, :len(mb.index)]
        return out

    def _score_lm(self, rows) -> np.ndarray:
        common = dict(batch_size=self.batch_size, pad_id=self.encoder.pad_id, chunk=self.chunk,
                      share_prompt=self.share_prompt)
        s, n = logprob_sums(self.graphdef, self.state, rows, stacked=True, **common)
        if self.kind == "likelihood":
            return (s / np.maximum(n, 1.0)).astype(np.float32)
        ref, _ = logprob_sums(self.ref_graphdef, self.ref_state, rows, stacked=not self.shared_ref, **common)
        return (self.betas[:, None] * (s.astype(np.float64) - ref.astype(np.float64))).astype(np.float32)


def _unwrap(rm: RewardModel) -> tuple[RewardModel, list[NoisyRM]]:
    wrappers = []
    while isinstance(rm, NoisyRM):
        wrappers.append(rm)
        rm = rm.rm
    return rm, wrappers


class RMSet:
    """A fixed list of RMs with their stacks built once; `score_all` -> [K, N] in the list's order."""

    def __init__(self, rms: Sequence[RewardModel], *, stack: bool = True):
        self.rms = list(rms)
        self.names = [rm.name for rm in self.rms]
        bases = [_unwrap(rm) for rm in self.rms]
        groups: dict[Any, list[int]] = {}
        self.plan: list[tuple[list[int], Any]] = []  # (positions in rms, StackedRMs, MultiLoRARMs or one RM)
        for i, (base, _) in enumerate(bases):
            if stack and isinstance(base, NeuralRM):
                groups.setdefault(base.stack_key(), []).append(i)
            else:
                self.plan.append(([i], base))
        for members in groups.values():
            group = [bases[i][0] for i in members]
            if len(members) == 1:
                self.plan.append((members, group[0]))
            elif isinstance(group[0], AdapterDPORM):  # adapters on one base: 1 + K passes, base weights once
                self.plan.append((members, MultiLoRARMs.from_rms(group)))
            else:
                self.plan.append((members, StackedRMs.from_rms(group)))
        self._wrappers = [w for _, w in bases]

    def score_all(self, prompts: Sequence[str], responses: Sequence[str],
                  golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        """[K, N]; `tasks` (per-row task names, see `RewardModel`) goes to every RM."""
        check_inputs(prompts, responses, golds, f"RMSet{self.names}", tasks=tasks)
        out = np.zeros((len(self.rms), len(prompts)), np.float32)
        for members, scorer in self.plan:
            if isinstance(scorer, (StackedRMs, MultiLoRARMs)):
                out[members] = scorer.score_all(prompts, responses, golds, tasks=tasks)
            else:
                out[members[0]] = scorer.score(prompts, responses, golds, **with_tasks(tasks))
        for i, wrappers in enumerate(self._wrappers):
            for w in reversed(wrappers):  # innermost noise first, as nested `score` calls would add it
                out[i] = w.perturb(out[i], prompts, responses)
        return out


def score_with(rms: Sequence[RewardModel], prompts: Sequence[str], responses: Sequence[str],
               golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
    """[K, N] scores of every RM on every pair, stackable RMs in one vmapped call each. Builds the
    stacks on every call (a weight copy); keep an `RMSet` to score repeatedly."""
    return RMSet(rms).score_all(prompts, responses, golds, tasks=tasks)
