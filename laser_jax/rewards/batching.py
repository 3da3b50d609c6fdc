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
    from laser_jax.sharding import global_batch

    return dataclasses.replace(mb, ids=global_batch(mb.ids, mesh), mask=global_batch(mb.mask, mesh),
                               response_mask=global_batch(mb.response_mask, mesh))
