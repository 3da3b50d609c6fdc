"""Checkpoints: the newest intact one is restored, damaged ones are kept aside, never deleted."""

from __future__ import annotations

import gc

import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax import checkpoint
from laser_jax.checkpoint import Checkpointer
from laser_jax.models.config import CheckpointError


def write_three(directory):
    ckpt = Checkpointer(directory, keep=3)
    for step in (1, 2, 3):
        ckpt.save(step, {"w": jnp.full((4, 3), float(step)), "n": jnp.asarray(step)}, {"step": step})
    ckpt.close()
    return {"w": jnp.zeros((4, 3)), "n": jnp.asarray(0)}


def _files(step_dir):
    return [p for p in step_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize("damage", ["truncate_every_file", "delete_array_files", "delete_metadata"])
def test_damaged_latest_falls_back_to_the_previous_step(tmp_path, damage, caplog):
    target = write_three(tmp_path / "ckpt")
    latest = tmp_path / "ckpt" / "3"
    if damage == "truncate_every_file":
        for f in _files(latest / "state"):
            f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
    elif damage == "delete_array_files":
        for f in _files(latest / "state"):
            if "ocdbt" in str(f) or "d/" in str(f.relative_to(latest)) or f.suffix == "":
                f.unlink()
    else:
        for f in _files(latest):
            if "metadata" in f.name.lower():
                f.unlink()
    ckpt = Checkpointer(tmp_path / "ckpt", keep=3)
    state, meta, step = ckpt.restore_latest(target)
    ckpt.close()
    assert step == 2 and meta == {"step": 2, "state_layout": checkpoint.STATE_LAYOUT}
    np.testing.assert_array_equal(np.asarray(state["w"]), np.full((4, 3), 2.0))
    assert (tmp_path / "ckpt" / "3.corrupt").is_dir() and not latest.exists()
    assert "3.corrupt" in caplog.text


def test_no_intact_checkpoint_is_a_clear_error(tmp_path):
    target = write_three(tmp_path / "ckpt")
    for step in (1, 2, 3):
        for f in _files(tmp_path / "ckpt" / str(step) / "state"):
            f.write_bytes(b"")
    ckpt = Checkpointer(tmp_path / "ckpt", keep=3)
    with pytest.raises(CheckpointError, match=r"ckpt: no checkpoint restores"):
        ckpt.restore_latest(target)
    ckpt.close()
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["1.corrupt", "2.corrupt", "3.corrupt"]


def test_keep_zero_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"training.keep_checkpoints=0 must be an integer >= 1"):
        Checkpointer(tmp_path / "ckpt", keep=0)


def test_convert_overwrite_replaces_only_a_laser_jax_checkpoint(tmp_path):
    from laser_jax.models.loading import convert
    from laser_jax.models.tiny import smoke_assets

    policy = smoke_assets(tmp_path / "tiny")["policy"]
    dst = tmp_path / "ckpt"
    convert(policy, dst)
    (dst / "stale.txt").write_text("old")
    convert(policy, dst, overwrite=True)  # a laser_jax checkpoint: replaced whole
    assert not (dst / "stale.txt").exists() and (dst / "laser_jax_model.json").exists()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep")
    with pytest.raises(CheckpointError, match="not a laser_jax checkpoint"):
        convert(policy, notes, overwrite=True)
    assert (notes / "mine.txt").read_text() == "keep"


def test_checkpoint_of_another_state_layout_is_refused_and_left_in_place(tmp_path):
    """A checkpoint written before STATE_LAYOUT existed (layout 1: LinUCB as A^-1) is not damaged:
    a clear error naming it, and nothing is renamed or deleted."""
    import orbax.checkpoint as ocp

    ckpt = Checkpointer(tmp_path / "ckpt")
    ckpt.manager.save(5, args=ocp.args.Composite(state=ocp.args.StandardSave({"w": jnp.ones(3)}),
                                                 meta=ocp.args.JsonSave({"step": 5})), force=True)
    ckpt.manager.wait_until_finished()
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "ckpt").rglob("*"))
    with pytest.raises(CheckpointError, match=r"ckpt/5: checkpoint of state layout 1, this laser_jax reads layout 3"):
        ckpt.restore_latest({"w": jnp.zeros(3)})
    ckpt.close()
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "ckpt").rglob("*")) == before


def test_a_target_that_cannot_be_built_is_an_error_not_a_damaged_checkpoint(tmp_path):
    """restore_latest's target_for (the restore target from a checkpoint's meta, e.g. its number
    of reward models) raising a ConfigError: the error reaches the caller and the checkpoint is
    not set aside as corrupt."""
    from laser_jax.config import ConfigError

    ckpt = Checkpointer(tmp_path / "ckpt")
    ckpt.save(3, {"w": jnp.ones(3)}, {"step": 3, "num_arms": 5})

    def target_for(meta):
        raise ConfigError(f"checkpoint holds {meta['num_arms']} reward models, the config names 3")

    with pytest.raises(ConfigError, match="holds 5 reward models"):
        ckpt.restore_latest({"w": jnp.zeros(3)}, target_for)
    ckpt.close()
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["3"]


@pytest.mark.parametrize("damage", ["truncate_every_file", "empty_every_file"])
def test_damaged_fallback_prints_no_traceback(tmp_path, damage, capfd):
    """Orbax's abandoned reads of a damaged checkpoint end in exceptions Python would print as
    "Exception ignored ... Traceback" when they are collected: collected, not printed."""
    target = write_three(tmp_path / "ckpt")
    for f in _files(tmp_path / "ckpt" / "3"):
        f.write_bytes(b"" if damage == "empty_every_file" else f.read_bytes()[: len(f.read_bytes()) // 3])
    ckpt = Checkpointer(tmp_path / "ckpt", keep=3)
    assert ckpt.restore_latest(target)[2] == 2
    ckpt.close()
    gc.collect()
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err, err[-3000:]


def test_an_exception_left_unraisable_by_a_restore_is_collected(capfd):
    """What the guard does, shown with a coroutine abandoned inside it (as orbax leaves them)."""
    class Pending:
        def __await__(self):
            yield

    async def read():
        try:
            await Pending()
        finally:
            raise OSError("read of a damaged file")

    with checkpoint._abandoned_reads_collected(3):
        coro = read()
        coro.send(None)
        del coro
    assert "Exception ignored" not in capfd.readouterr().err
