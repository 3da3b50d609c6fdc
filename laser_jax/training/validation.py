"""The training setting's config check: `validate(c)` is the typed config of the training setting
(`laser_jax.config.load(c, "training")`): every section checked by its owner, one ConfigError
listing every problem, each naming its field, before any model loads."""

from __future__ import annotations

from laser_jax.config import RunConfig, load


def validate(c) -> RunConfig:
    """The typed config of a training run; ConfigError listing every problem (nothing is loaded)."""
    return load(c, "training")
