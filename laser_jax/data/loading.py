"""``load_task``: a task's examples from a local file or folder, the hub, or its generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from laser_jax.data import sources
from laser_jax.data.example import DataError, Example
from laser_jax.data.registry import get_task
from laser_jax.data.splits import check_unique
from laser_jax.errors import is_int


def _subsample(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """``limit`` examples chosen by a seeded permutation of the sorted uids, in input order."""
    order = sorted(range(len(examples)), key=lambda i: examples[i].uid)
    chosen = {order[i] for i in np.random.default_rng(seed).permutation(len(order))[:limit]}
    return [example for i, example in enumerate(examples) if i in chosen]


def load_task(task: str, path: str | Path | None = None, split: str = "test", *, seed: int = 0,
              limit: int | None = None) -> list[Example]:
    """Examples of ``task`` from ``path`` (a file or folder, see the module doc) or the hub, or,
    for a generated task (``demo``), made from ``seed`` (no path).

    ``limit``: keep at most this many, chosen at random with ``seed`` (same seed, same subset),
    in file order.
    """
    spec = get_task(task)
    if limit is not None and not is_int(limit, 0):
        raise DataError(
            f"limit must be a non-negative integer or None, got {limit!r} (config.data.limit)"
        )
    if spec.generate is not None:
        if path is not None:
            raise DataError(
                f"{path}: task {task!r} is generated from the seed and reads no files; leave "
                "config.data.path unset"
            )
        examples = spec.generate(split, seed)
        origin = f"generated task {task!r} split {split!r}"
    elif path is None and spec.hub_loader is not None:
        examples = spec.hub_loader(split)
        origin = f"hub ({task}) split {split!r}"
    elif path is None:
        examples = sources.load_hub(spec.hub, spec.name, split)
        origin = f"hub {spec.hub.path} split {split!r}"
    else:
        path = Path(path).expanduser()
        if not path.exists():
            raise DataError(
                f"{path}: no such file or folder (config.data.path for task {task!r}); "
                f"give a local {task} file or folder in its original format, or no path to "
                f"read the Hugging Face hub"
            )
        examples = spec.load_path(path, split)
        origin = str(path)
    if not examples:
        raise DataError(f"{origin}: holds no {task} examples; check config.data.path / split")
    check_unique(examples, origin)
    if limit is not None and limit < len(examples):
        examples = _subsample(examples, limit, seed)
    return examples

