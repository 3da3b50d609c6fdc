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
parameter (SmolLM2-135M 0.54 GB, Gemma-3-270M 1.1 GB).

The tokenizer a GGUF file describes is kept the same way (`tokenizer`): built from the file's
metadata once (`gguf_io.load_tokenizer`, 2.4 s for SmolLM2's, 9 s for Gemma's 262k vocabulary),
saved with transformers' `save_pretrained` under ``$LASER_JAX_CACHE/tokenizers/<file stem>-<key>/``
(the key also holds transformers' version, whose converter built it), and read back with
`PreTrainedTokenizerFast.from_pretrained` (0.3 s and 4.3 s): the same backend, chat template and
special tokens (tests/models/test_smollm2.py compares them). A damaged entry is rebuilt."""

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
TOKENIZER_FORMAT = 1  # bump when what gguf_io.load_tokenizer builds changes


def folder_for(path: Path, kind: str = "dequantised") -> Path | None:
    """The cache folder of GGUF ``path`` (``kind``: "dequantised" weights or "tokenizers"), or
    None when the cache is off or the file is small."""
    if os.environ.get("LASER_JAX_GGUF_CACHE", "1") == "0":
        return None
    path = Path(path).resolve()
    st = path.stat()
    if st.st_size < MIN_BYTES:
        return None
    version = FORMAT if kind == "dequantised" else f"tokenizer-{TOKENIZER_FORMAT}-{_transformers_version()}"
    key = hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{version}".encode()).hexdigest()[:16]
    return cache_dir() / kind / f"{path.stem}-{key}"


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


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


def tokenizer(path: Path, reader=None):
    """`gguf_io.load_tokenizer(path, reader)`, from the cache (written first if missing)."""
    folder = folder_for(path, "tokenizers")
    if folder is not None and (folder / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        try:
            return PreTrainedTokenizerFast.from_pretrained(str(folder))
        except Exception as e:  # noqa: BLE001 - a damaged entry is rebuilt from the file
            log.warning("%s: its cached tokenizer in %s does not load (%s: %s); building it again",
                        path, folder, type(e).__name__, str(e)[:200])
            shutil.rmtree(folder, ignore_errors=True)
    tok = gguf_io.load_tokenizer(path, reader)
    if folder is not None:
        try:
            _write_folder(folder, Path(path).resolve(), lambda tmp: tok.save_pretrained(str(tmp)))
        except Exception as e:  # noqa: BLE001 - a cache that cannot be written only costs the speed
            log.warning("%s: cannot keep its tokenizer in %s (%s); building it at every load",
                        path, folder.parent, e)
    return tok


def _source_of(folder: Path) -> str | None:
    """The GGUF file an entry was made from (entries written before source.txt: index.json's)."""
    try:
        return (folder / "source.txt").read_text()
    except OSError:
        pass
    try:
        return json.loads((folder / "index.json").read_text())["source"]
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _write(folder: Path, source: Path, items) -> None:
    def fill(tmp: Path) -> None:
        index = []
        for i, (name, shape, load) in enumerate(items):
            arr = load()
            file = None if arr is None else f"{i:05d}.npy"
            if file is not None:
                np.save(tmp / file, np.ascontiguousarray(arr, np.float32))
            index.append([name, list(shape), file])
        (tmp / "index.json").write_text(json.dumps({"source": str(source), "tensors": index}))

    _write_folder(folder, source, fill)


def _write_folder(folder: Path, source: Path, fill) -> None:
    """``fill(tmp)`` writes the entry into a temporary folder, renamed to ``folder`` when complete;
    then the same file's earlier entries (other keys) of this kind go."""
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
        fill(tmp)
        (tmp / "source.txt").write_text(str(source))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same entry first
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    prefix = folder.name.rsplit("-", 1)[0] + "-"
    for old in parent.iterdir():  # this file's earlier versions
        if old == folder or not old.name.startswith(prefix):
            continue
        stale = _source_of(old) == str(source)
        if stale:
            shutil.rmtree(old, ignore_errors=True)
