"""Checkpoints of the whole training state, with orbax.

A checkpoint at step s holds `state` (the TrainState pytree: trainable params, reference,
optimizer state, bandit state, RNG key, counters) and `meta` (JSON: the data cursor and what a
resumed run must check, e.g. the config fingerprint). orbax writes each step into a temporary
directory and renames it when complete, so a crash mid-save leaves the previous checkpoint intact.
Restoring puts every array on the sharding of the abstract target it is given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

log = logging.getLogger("laser_jax")


class Checkpointer:
    def __init__(self, directory: Path, keep: int = 2):
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, meta: dict) -> None:
        if step in self.manager.all_steps():
            return
        self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                         meta=ocp.args.JsonSave(meta)), force=True)
        self.manager.wait_until_finished()
        log.info("checkpoint saved: %s/%d", self.directory, step)

    def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
        """(state, meta) of `step`; `abstract_state` gives structure, dtypes and shardings."""
        target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)),
                              abstract_state)
        out = self.manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                                  meta=ocp.args.JsonRestore()))
        return out["state"], dict(out["meta"])

    def close(self) -> None:
        self.manager.close()
