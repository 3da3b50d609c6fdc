"""Seeded, disjoint, covering splits of a list of examples (``split_examples``), and the check
that their ids are unique."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from laser_jax.data.example import DataError, Example
from laser_jax.errors import is_int, is_number


def check_unique(examples: Sequence[Example], origin: str) -> None:
    seen: dict[str, int] = {}
    for index, example in enumerate(examples):
        if example.uid in seen:
            raise DataError(
                f"{origin}: examples {seen[example.uid]} and {index} share the id "
                f"{example.uid!r} (duplicate qid?); ids must be unique for splits"
            )
        seen[example.uid] = index


def _counts(sizes: Sequence[float | int | None], total: int) -> list[int]:
    if not all(s is None or is_number(s, dtype=float) for s in sizes):  # a bool is neither a count nor a fraction
        raise DataError(f"split sizes {list(sizes)} must be numbers (fractions or counts) or None, not "
                        f"{[s for s in sizes if not (s is None or is_number(s, dtype=float))]}")
    if all(is_int(s) or s is None for s in sizes):
        fixed = sum(s for s in sizes if s is not None)
        rest = [i for i, s in enumerate(sizes) if s is None]
        if any(s is not None and s < 0 for s in sizes) or len(rest) > 1 or fixed > total or (
            not rest and fixed != total
        ):
            raise DataError(
                f"split counts {list(sizes)} must be non-negative and sum to the {total} examples "
                f"(or leave one as None for the rest)"
            )
        return [total - fixed if s is None else s for s in sizes]
    fractions = [float(s) for s in sizes]
    if any(f < 0 for f in fractions) or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise DataError(f"split fractions {list(sizes)} must be non-negative and sum to 1")
    bounds = [0] + [round(total * x) for x in np.cumsum(fractions)[:-1]] + [total]
    return [bounds[i + 1] - bounds[i] for i in range(len(fractions))]


SplitSizes = Sequence[float | int | None] | Mapping[str, float | int | None]


def split_examples(
    examples: Sequence[Example],
    sizes: SplitSizes = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    names: Sequence[str] = ("train", "dev", "test"),
) -> dict[str, list[Example]]:
    """Disjoint, covering, seeded splits of ``examples``.

    ``sizes``: fractions summing to 1, or counts summing to ``len(examples)`` (one count may be
    None: the rest), or a mapping ``{name: size}``. A sequence is named by ``names`` (its first
    ``len(sizes)`` names). The examples are ordered by uid, permuted with
    ``np.random.default_rng(seed)`` and cut in that order, so the result depends only on the set
    of examples and the seed, not on their input order; each split keeps the permuted order.
    """
    if isinstance(sizes, Mapping):
        names, sizes = tuple(sizes), tuple(sizes.values())
    if len(sizes) > len(names) or len(set(names[: len(sizes)])) != len(sizes):
        raise DataError(f"split sizes {list(sizes)} need as many distinct names, got {list(names)}")
    by_uid = {example.uid: example for example in examples}
    if len(by_uid) != len(examples):
        check_unique(examples, "split_examples")
    counts = _counts(list(sizes), len(examples))
    uids = sorted(by_uid)
    order = [uids[i] for i in np.random.default_rng(seed).permutation(len(uids))]
    result, start = {}, 0
    for name, count in zip(names, counts):
        result[name] = [by_uid[uid] for uid in order[start:start + count]]
        start += count
    return result

