"""Encoded rows -> left-padded micro-batches of bucketed shapes, so the jitted scoring functions
compile for a handful of shapes instead of once per call.

- Rows are sorted by length (longest first, stable) and cut into micro-batches of `batch_size`
  rows; each micro-batch is padded to its own bucketed length (`bucket_length`: 32, 64, 96, 128,
  192, 256, 384, 512, 768, ...: powers of two and 1.5 x powers of two, all multiples of 32, so at
  most a third of a row is padding), and its row count is rounded up to a power of two capped at
  `batch_size` (`bucket_rows`) with dummy rows. A row's result depends only on its own tokens
  (the decoder gives a left-padded row the logits of the unpadded row), never on its neighbours.
- Dummy rows hold one real pad token (so no row is fully masked) and are dropped from the results
  through `MicroBatch.index`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from laser_jax.rewards.text import Encoded
from laser_jax.sharding import global_batch, put, rows_sharding

MIN_LENGTH = 32


def bucket_length(n: int, minimum: int = MIN_LENGTH) -> int:
    """The smallest bucket >= n: `minimum`, then powers of two and 1.5 x powers of two that are
    multiples of 32 (32, 64, 96, 128, 192, 256, 384, ...)."""
    if n <= minimum:
        return minimum
    p = 1 << (int(n) - 1).bit_length()
    three_quarters = 3 * p // 4
    return three_quarters if three_quarters >= n and three_quarters % 32 == 0 else p


def bucket_rows(n: int, batch_size: int) -> int:
    """Rows of a micro-batch holding n real rows: the next power of two, at most batch_size."""
    return min(int(batch_size), 1 << (max(int(n), 1) - 1).bit_length())


@dataclasses.dataclass(frozen=True)
class MicroBatch:
    index: np.ndarray  # [r] int: which input rows rows 0..r-1 of the arrays are (the rest are dummies)
    ids: np.ndarray  # [b, T] int32, left-padded
    mask: np.ndarray  # [b, T] int32, 1 = real token
    response_mask: np.ndarray  # [b, T] bool, 1 = a response token (a target whose log-prob counts)


def micro_batches(rows: Sequence[Encoded], batch_size: int, pad_id: int, *,
                  min_length: int = MIN_LENGTH) -> list[MicroBatch]:
    """Bucketed, left-padded micro-batches covering all `rows` (see the module doc)."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    order = sorted(range(len(rows)), key=lambda i: -len(rows[i].ids))
    out = []
    for start in range(0, len(order), batch_size):
        index = np.asarray(order[start:start + batch_size], np.int64)
        t = bucket_length(max(len(rows[i].ids) for i in index), min_length)
        b = bucket_rows(len(index), batch_size)
        ids = np.full((b, t), pad_id, np.int32)
        mask = np.zeros((b, t), np.int32)
        resp = np.zeros((b, t), bool)
        mask[len(index):, -1] = 1  # dummy rows: one real (pad) token
        for r, i in enumerate(index):
            row = rows[i]
            n = len(row.ids)
            ids[r, t - n:] = row.ids
            mask[r, t - n:] = 1
            resp[r, t - n + row.n_prompt:] = True
        out.append(MicroBatch(index, ids, mask, resp))
    return out


def placed(mb: MicroBatch, mesh) -> MicroBatch:
    """The micro-batch's arrays as global arrays split over `mesh`'s batch axes (each process
    uploads only its devices' rows); unchanged when `mesh` is None."""
    if mesh is None:
        return mb

    return dataclasses.replace(mb, ids=global_batch(mb.ids, mesh), mask=global_batch(mb.mask, mesh),
                               response_mask=global_batch(mb.response_mask, mesh))


# ---------------------------------------------------------------------------- prompt-once batches


@dataclasses.dataclass(frozen=True)
class SharedBatch:
    """Rows that share a prompt part, the prompt once and its responses beside it (the prompt-once
    mode of `models.logprobs.response_logprobs`).

    index [g, N] int: which input row each response slot is (-1: an empty slot);
    prompt_ids / prompt_mask [b, S] left-padded prompt parts (b >= g: dummy groups hold one real
    pad token); ids / mask [b, N, R] right-padded response parts (mask 1 = a response token whose
    log-prob counts; empty slots are all 0)."""

    index: np.ndarray
    prompt_ids: np.ndarray
    prompt_mask: np.ndarray
    ids: np.ndarray
    mask: np.ndarray


def prompt_groups(rows: Sequence[Encoded]) -> tuple[list[list[int]], list[int]]:
    """(groups of row indices whose prompt parts are identical, in first-seen order; rows that
    cannot share: an empty prompt part or an empty response part)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    alone = []
    for i, row in enumerate(rows):
        if row.n_prompt == 0 or row.n_prompt >= len(row.ids):
            alone.append(i)
        else:
            groups.setdefault(row.ids[:row.n_prompt], []).append(i)
    return list(groups.values()), alone


def shared_batches(rows: Sequence[Encoded], groups: Sequence[Sequence[int]], batch_size: int,
                   pad_id: int) -> list[SharedBatch]:
    """Prompt-once batches over `groups` (see `prompt_groups`): about `batch_size` responses per
    batch (at least one group), shapes bucketed as `micro_batches` buckets them."""
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    order = sorted(range(len(groups)), key=lambda g: -rows[groups[g][0]].n_prompt)
    out, start = [], 0
    while start < len(order):
        n_max = max(len(groups[g]) for g in order[start:start + max(1, batch_size)])
        per = max(1, batch_size // n_max)
        chunk = [groups[g] for g in order[start:start + per]]
        start += per
        n = bucket_rows(max(len(c) for c in chunk), 1 << 30)
        s = bucket_length(max(rows[c[0]].n_prompt for c in chunk))
        r = bucket_length(max(len(rows[i].ids) - rows[i].n_prompt for c in chunk for i in c))
        b = bucket_rows(len(chunk), max(per, 1))
        index = np.full((len(chunk), n), -1, np.int64)
        p_ids = np.full((b, s), pad_id, np.int32)
        p_mask = np.zeros((b, s), np.int32)
        p_mask[len(chunk):, -1] = 1  # dummy groups: one real (pad) token
        ids = np.full((b, n, r), pad_id, np.int32)
        mask = np.zeros((b, n, r), np.int32)
        for gi, members in enumerate(chunk):
            head = rows[members[0]].ids[:rows[members[0]].n_prompt]
            p_ids[gi, s - len(head):] = head
            p_mask[gi, s - len(head):] = 1
            for j, i in enumerate(members):
                tail = rows[i].ids[rows[i].n_prompt:]
                index[gi, j] = i
                ids[gi, j, :len(tail)] = tail
                mask[gi, j, :len(tail)] = 1
        out.append(SharedBatch(index, p_ids, p_mask, ids, mask))
    return out


def placed_shared(sb: SharedBatch, mesh) -> SharedBatch:
    """`placed` for a prompt-once batch: groups split over the batch axes; the responses too, along
    the groups or, when there are too few groups to divide, along the responses
    (`sharding.rows_sharding`)."""
    if mesh is None:
        return sb

    resp = rows_sharding(sb.ids.shape, mesh)  # groups, or (too few groups) responses, over the batch axes
    return dataclasses.replace(sb, prompt_ids=global_batch(sb.prompt_ids, mesh),
                               prompt_mask=global_batch(sb.prompt_mask, mesh),
                               ids=put(sb.ids, resp), mask=put(sb.mask, resp))
