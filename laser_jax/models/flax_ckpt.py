"""laser_jax's own model checkpoint: a directory written by `python -m laser_jax.convert`.

    DST/laser_jax_model.json   {"format": "laser_jax.flax", "version": 1, "decoder": {...}, "dtype": ...}
    DST/params/                orbax (StandardCheckpointer) of the model's nnx.State as a pure dict
    DST/tokenizer/             the tokenizer (save_pretrained), when the source had one

The directory is assembled under a temporary name and renamed into place, so a crash never
leaves a half-written checkpoint under DST. Restoring reads every array straight onto its target
sharding.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from laser_jax import sharding as shd
from laser_jax.models import decoder as D
from laser_jax.models.config import CheckpointError, DecoderConfig

MARKER = "laser_jax_model.json"
FORMAT = "laser_jax.flax"
VERSION = 1


def is_flax_ckpt(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MARKER).exists()


def read_meta(path: Path) -> dict:
    f = Path(path) / MARKER
    try:
        meta = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{f}: unreadable ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise CheckpointError(f"{f}: not a {FORMAT} v{VERSION} checkpoint (format={meta.get('format')!r}, "
                              f"version={meta.get('version')!r})")
    return meta


def read_config(path: Path) -> DecoderConfig:
    return DecoderConfig.from_dict(read_meta(path)["decoder"], source=str(Path(path) / MARKER))


def save(model, dst: Path, *, tokenizer=None, source: str = "", overwrite: bool = False) -> Path:
    """Write `model` (CausalLM / SequenceClassifier) as a laser_jax Flax checkpoint at `dst`."""
    dst = Path(dst).absolute()
    if dst.exists() and not overwrite:
        raise CheckpointError(f"{dst}: already exists; choose another destination or pass overwrite=True")
    if dst.exists() and not is_flax_ckpt(dst):  # overwrite replaces only what this module wrote
        raise CheckpointError(f"{dst}: exists and is not a laser_jax checkpoint (no {MARKER}); overwrite replaces "
                              "only a laser_jax checkpoint: choose another destination")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        state = nnx.to_pure_dict(nnx.state(model))
        with ocp.StandardCheckpointer() as ckptr:
            ckptr.save(tmp / "params", state)
            ckptr.wait_until_finished()
        if tokenizer is not None:
            tokenizer.save_pretrained(str(tmp / "tokenizer"))
        leaves = jax.tree.leaves(state)
        meta = {"format": FORMAT, "version": VERSION, "decoder": model.cfg.to_dict(),
                "dtype": str(leaves[0].dtype) if leaves else "float32", "source": source}
        (tmp / MARKER).write_text(json.dumps(meta, indent=2))
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def _flat(tree, prefix=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flat(v, prefix + (str(k),))
    else:
        yield "/".join(prefix), tree


def load(path: Path, *, dtype=np.float32, mesh=None, rules=shd.DEFAULT_RULES, remat: bool = False):
    """Restore a laser_jax Flax checkpoint; arrays land on the shardings the logical rules give."""
    path = Path(path)
    cfg = read_config(path)
    abstract = D.abstract(cfg, dtype=dtype, remat=remat)
    graphdef, abs_state = nnx.split(abstract)
    mesh = mesh or shd.single_device_mesh()
    shardings = shd.state_shardings(abs_state, mesh, rules)
    target = jax.tree.map(lambda v, s: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s),
                          nnx.to_pure_dict(abs_state), nnx.to_pure_dict(shardings))
    params_dir = path / "params"
    with ocp.StandardCheckpointer() as ckptr:
        try:
            meta = ckptr.metadata(params_dir)
        except Exception as e:
            raise CheckpointError(f"{params_dir}: not a readable orbax checkpoint ({type(e).__name__}: {e})") \
                from None
        saved = dict(_flat(_tree_of(meta)))
        wanted = dict(_flat(target))
        problems = [f"missing tensor: {k}" for k in wanted if k not in saved]
        problems += [f"unexpected tensor: {k}" for k in saved if k not in wanted]
        problems += [f"wrong shape: {k}: {tuple(saved[k].shape)}, expected {tuple(wanted[k].shape)}"
                     for k in wanted if k in saved and tuple(saved[k].shape) != tuple(wanted[k].shape)]
        if problems:
            raise CheckpointError(f"{path}: the checkpoint does not fit its config ({len(problems)} problems):\n  "
                                  + "\n  ".join(problems))
        try:
            restored = ckptr.restore(params_dir, target)
        except Exception as e:
            raise CheckpointError(f"{params_dir}: restore failed ({type(e).__name__}: {e})") from None
    nnx.replace_by_pure_dict(abs_state, restored)
    return nnx.merge(graphdef, abs_state)


def _tree_of(meta):
    """The tree of array metadata inside orbax's StepMetadata (its layout moved between versions)."""
    for attr in ("item_metadata", "tree"):
        inner = getattr(meta, attr, None)
        if inner is not None:
            meta = inner
    if hasattr(meta, "tree"):
        meta = meta.tree
    return dict(meta) if not isinstance(meta, dict) else meta
