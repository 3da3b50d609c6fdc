"""Checkpoints of the whole training state, with orbax.

A checkpoint at step s holds `state` (the TrainState pytree: trainable params, reference,
optimizer state, bandit state, RNG key, counters) and `meta` (JSON: the data cursor and what a
resumed run must check, e.g. the config fingerprint). orbax writes each step into a temporary
directory and renames it when complete, so a crash mid-save leaves the previous checkpoint intact.
Restoring puts every array on the sharding of the abstract target it is given.

`restore_latest` restores the newest INTACT checkpoint: a step directory that does not restore
(a truncated or missing array file, missing metadata) is renamed to `<step>.corrupt` beside the
others (kept for inspection, never deleted; orbax no longer counts it) with a warning naming it,
and the step before it is tried. With no intact checkpoint left it raises CheckpointError naming
the directory.

Each checkpoint's meta carries ``state_layout`` (`STATE_LAYOUT`): the version of the state's
structure. A checkpoint of another layout is not damaged, only unreadable by this version:
`restore_latest` refuses it with a CheckpointError naming it and leaves it where it is
(checkpoints without the field are layout 1: LinUCB held A^-1 before its square-root form).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from laser_jax.errors import CheckpointError, ConfigError, is_int

log = logging.getLogger("laser_jax")

# Version of the TrainState structure in a checkpoint; raise it when a field is added, renamed or
# changes meaning. 1: LinUCB as a_inv, b. 2: LinUCB dense state as r, z (square-root form).
# 3: LinUCB two-tier (r, z, r_base, z_base, pend, pend_y, npend; low-rank: basis q, nb).
STATE_LAYOUT = 3


@contextlib.contextmanager
def _abandoned_reads_collected(step: int):
    """A restore that fails part-way leaves orbax's other read coroutines / futures unfinished;
    when they are collected Python prints "Exception ignored in: <coroutine ...> Traceback ..."
    blocks that look like a crash although the fallback worked. While restoring (and one garbage
    collection after), such unraisable exceptions are collected and logged as one debug line."""
    ignored: list[str] = []
    previous = sys.unraisablehook

    def collect(unraisable):
        ignored.append(f"{type(unraisable.exc_value).__name__}: {unraisable.exc_value}"[:200])

    sys.unraisablehook = collect
    try:
        yield
    finally:
        gc.collect()
        sys.unraisablehook = previous
        if ignored:
            log.debug("checkpoint %d: %d abandoned read(s) ended with %s", step, len(ignored), "; ".join(ignored))


class Checkpointer:
    def __init__(self, directory: Path, keep: int = 2):
        if not is_int(keep, 1):
            raise ConfigError(f"training.keep_checkpoints={keep!r} must be an integer >= 1 (orbax would delete "
                             "every checkpoint)")
        self.directory = Path(directory).absolute()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, step: int, state: Any, meta: dict) -> None:
        if step in self.manager.all_steps():
            return
        meta = {**meta, "state_layout": STATE_LAYOUT}
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

    def restore_latest(self, abstract_state: Any, target_for=None) -> tuple[Any, dict, int] | None:
        """(state, meta, step) of the newest checkpoint that restores, None when there is none;
        corrupt newer ones are set aside (see the module doc). ``target_for(meta)``, if given,
        gives the abstract state for a checkpoint from its meta (e.g. its number of reward
        models), instead of ``abstract_state``."""
        steps = sorted(self.manager.all_steps(), reverse=True)
        for step in steps:
            meta = self._check_layout(step)
            # outside the try: a target that cannot be built is a config error, not a damaged file
            target = abstract_state if target_for is None or meta is None else target_for(meta)
            try:
                with _abandoned_reads_collected(step):
                    state, meta = self.restore(step, target)
                return state, meta, step
            except Exception as e:  # noqa: BLE001 - orbax raises many types for damaged files
                bad = self.directory / str(step)
                aside = bad.with_name(f"{step}.corrupt")
                n = 1
                while aside.exists():
                    aside, n = bad.with_name(f"{step}.corrupt-{n}"), n + 1
                bad.rename(aside)
                self.manager.reload()
                log.warning("checkpoint %s does not restore (%s: %s); kept aside as %s, trying the one before",
                            bad, type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "", aside.name)
        if steps:
            raise CheckpointError(f"{self.directory}: no checkpoint restores (steps {steps} are damaged and were "
                                  "kept aside as <step>.corrupt); start in a new --workdir or restore a backup")
        return None

    def _check_layout(self, step: int) -> dict | None:
        """`step`'s meta; CheckpointError if it names another state layout; a meta that does not
        read is left to the restore (damaged: set aside) and gives None."""
        try:
            meta = dict(self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])
            layout = meta.get("state_layout", 1)
        except Exception:  # noqa: BLE001 - damaged: restore() reports it
            return None
        if layout != STATE_LAYOUT:
            raise CheckpointError(
                f"{self.directory / str(step)}: checkpoint of state layout {layout}, this laser_jax reads "
                f"layout {STATE_LAYOUT} (see laser_jax/checkpoint.py STATE_LAYOUT); it was left as it is. "
                "Resume it with the laser_jax version that wrote it, or start in a new --workdir")
        return meta

    def close(self) -> None:
        self.manager.close()
