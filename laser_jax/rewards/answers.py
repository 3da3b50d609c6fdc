"""Reading an LM's one-token answer from its logits: what the pairwise LM judge
(`laser_jax.judge.judges.LMJudge`, answers "A" / "B") and the pointwise judge reward model
(`laser_jax.rewards.judge.JudgeRM`, answers "Yes" / "No") share.

- `has_chat_template(tokenizer)`: whether the judge is shown its chat template.
- `first_token(tokenizer, text)`: the first token id of `text` tokenised without special tokens.
- `answer_pair(tokenizer, first, second)`: the ids read for two answer words, trying the bare and
  the space-prefixed forms (bare first for a chat template, whose answer starts on a fresh line
  after the assistant header; space-prefixed first for plain text); None when no form differs.
- `read_answer_logits(model, rows, answer_ids)`: whole rows, left-padded, the logits of the two
  answer tokens at the position after each row and the logsumexp over the vocabulary there.
- `shared_answer_logits`: the same numbers in prompt-once mode (`rewards.batching.SharedBatch`):
  the rows' shared prefix is prefilled once and each row's tail attends to its keys.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from laser_jax.batch import left_pad
from laser_jax.models import decoder as D
from laser_jax.sharding import constrain, global_batch, mesh_of, to_host

log = logging.getLogger("laser_jax")


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def first_token(tokenizer: Any, text: str) -> int | None:
    """The first token id of `text` (no special tokens), None for a text without tokens."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    return int(ids[0]) if ids else None


def answer_pair(tokenizer: Any, first: str, second: str) -> tuple[int, int, str] | None:
    """(id read for `first`, id read for `second`, the form used: `first` or " " + `first`): the
    first form, bare then spaced for a chat-template tokenizer and spaced then bare otherwise,
    whose two first tokens differ; None when neither does. An answer that tokenises to several
    tokens is read from its first (a warning says so)."""
    forms = ("", " ") if has_chat_template(tokenizer) else (" ", "")
    for space in forms:
        x, y = space + first, space + second
        a, b = first_token(tokenizer, x), first_token(tokenizer, y)
        if a is not None and b is not None and a != b:
            pieces = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in (x, y)]
            if max(pieces) > 1:
                log.warning("judge: %r / %r tokenise to %s tokens; reading the first token of each", x, y, pieces)
            return a, b, x
    return None


@partial(jax.jit, static_argnames=("graphdef",))
def answer_logits(graphdef, state, ids, mask, answer_ids):
    """(logits of the answer tokens at the next position [B, 2], logsumexp of all logits [B])."""
    model = nnx.merge(graphdef, state)
    hidden, _ = model.hidden(ids, mask)
    logits = model.logits(hidden[:, -1])  # left padding: every row's last token is at T-1
    return logits[:, answer_ids], jax.nn.logsumexp(logits, axis=-1)


def read_answer_logits(model, rows: Sequence[Sequence[int]], answer_ids: tuple[int, int], *,
                       batch_size: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(logits of the two answer tokens at the position after each row [N, 2], logsumexp over the
    vocabulary there [N]), float64. Rows run longest first in left-padded batches of
    ``batch_size`` (the last one filled up with copies of its last row, so few shapes compile)."""
    graphdef, state = nnx.split(model)
    mesh = mesh_of(state)
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i]))
    pair, lse = np.zeros((len(rows), 2)), np.zeros(len(rows))
    target = np.asarray(answer_ids, np.int32)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = [rows[i] for i in idx] + [rows[idx[-1]]] * (batch_size - len(idx))
        ids, mask = left_pad(batch, pad_id, max_tokens=max(map(len, batch)) + 64)
        if mesh is not None:
            ids, mask = global_batch(ids, mesh), global_batch(mask, mesh)
        two, total = to_host(answer_logits(graphdef, state, ids, mask, target))
        pair[idx], lse[idx] = np.asarray(two, np.float64)[:len(idx)], np.asarray(total, np.float64)[:len(idx)]
    return pair, lse


@partial(jax.jit, static_argnames=("graphdef", "out_sharding"))
def shared_answer_logits(graphdef, state, prompt_ids, prompt_mask, ids, mask, answer_ids, *, out_sharding=None):
    """`answer_logits` of N rows per shared prefix, the prefix run once: prompt_ids / prompt_mask
    [B, S] left-padded prefixes, ids / mask [B, N, R] right-padded tails (each row = its prefix +
    its tail). Read at each tail's last real token: ([B, N, 2], [B, N]); empty slots hold garbage."""
    model = nnx.merge(graphdef, state)
    _, prefix = D.prefill(model, prompt_ids, prompt_mask)
    h, _ = model.hidden(ids, mask, prefix=prefix)  # [B, N, R, E]
    last = jnp.maximum(jnp.sum(mask, axis=-1) - 1, 0)  # [B, N]
    h_last = jnp.take_along_axis(h, last[:, :, None, None], axis=2)[:, :, 0]  # [B, N, E]
    logits = model.logits(h_last)
    return constrain((logits[..., answer_ids], jax.nn.logsumexp(logits, axis=-1)), out_sharding)
