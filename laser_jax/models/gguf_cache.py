"""Dequantised GGUF weights kept on disk, so that a model is dequantised once, not at every start.

Dequantising SmolLM2-135M (Q4_1) or Gemma-3-270M (Q4_K_M) with the gguf package takes seconds on a
CPU, and every command line, test and benchmark that loads the model paid it again. The first load
of a GGUF file of at least `MIN_BYTES` writes its float32 tensors (exactly what `gguf_io.tensors`
yields: dequantised, q/k rows un-permuted, Gemma's norms offset) as .npy files under
``$LASER_JAX_CACHE/dequantised/<file stem>-<key>/`` (the same folder as the embedded models,
~/.cache/laser_jax by default); later loads memory-map them. The key hashes the file's resolved
path, size and modification time: a changed file gets a new folder, and writing it removes the old
folders of that path. A folder is written under a temporary name and renamed, so a killed load
leaves no half-written entry (its temporary folder goes at the next write). An unwritable cache only costs the speed (one warning).

float32 is stored as it was computed, so the weights loaded from the cache are bit-identical
(tests/models/test_loading.py). LASER_JAX_GGUF_CACHE=0 turns the cache off. Disk: 4 bytes per
parameter (SmolLM2-135M 0.54 GB, Gemma-3-270M 1.1 GB)."""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from laser_jax.models import gguf_io
from laser_jax.models.embedded import cache_dir

log = logging.getLogger("laser_jax")

MIN_BYTES = 32 << 20  # smaller files dequantise in well under a second: not worth the disk
FORMAT = 1  # bump when what gguf_io.tensors yields changes


def folder_for(path: Path) -> Path | None:
    """The cache folder of GGUF ``path``, or None when the cache is off or the file is small."""
    if os.environ.get("LASER_JAX_GGUF_CACHE", "1") == "0":
        return None
    path = Path(path).resolve()
    st = path.stat()
    if st.st_size < MIN_BYTES:
        return None
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{FORMAT}".encode()).hexdigest()[:16]
    return cache_dir() / "dequantised" / f"{path.stem}-{key}"


def tensors(path: Path, cfg, reader=None):
    """`gguf_io.tensors(path, cfg, reader)`, from the cache (written first if missing)."""
    folder = folder_for(path)
    if folder is not None and not (folder / "index.json").is_file():
        try:
            _write(folder, Path(path).resolve(), gguf_io.tensors(path, cfg, reader))
        except OSError as e:
            log.warning("%s: cannot keep its dequantised weights in %s (%s); dequantising at every load",
                        path, folder.parent, e)
            folder = None
    if folder is None:
        yield from gguf_io.tensors(path, cfg, reader)
        return
    for name, shape, file in json.loads((folder / "index.json").read_text())["tensors"]:
        yield name, tuple(shape), (lambda f=file: None if f is None else np.load(folder / f, mmap_mode="r"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write(folder: Path, source: Path, items) -> None:
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    for left in parent.glob(f".{glob.escape(folder.name)}.tmp-*"):  # a killed writer's half-written folder
        pid = left.name.rsplit("-", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    tmp = parent / f".{folder.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        index = []
        for i, (name, shape, load) in enumerate(items):
            arr = load()
            file = None if arr is None else f"{i:05d}.npy"
            if file is not None:
                np.save(tmp / file, np.ascontiguousarray(arr, np.float32))
            index.append([name, list(shape), file])
        (tmp / "index.json").write_text(json.dumps({"source": str(source), "tensors": index}))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same entry first
            if not (folder / "index.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    prefix = folder.name.rsplit("-", 1)[0] + "-"
    for old in parent.iterdir():  # this file's earlier versions
        if old == folder or not old.name.startswith(prefix):
            continue
        try:
            stale = json.loads((old / "index.json").read_text())["source"] == str(source)
        except (OSError, ValueError, KeyError):
            stale = False
        if stale:
            shutil.rmtree(old, ignore_errors=True)
