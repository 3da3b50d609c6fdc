"""Read and write .safetensors files with numpy, validating every header field.

Reading is lazy (np.memmap): a tensor is materialised only when its loader asks for it. A
truncated or corrupt file gives a CheckpointError naming the file and the tensor.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Callable, Iterator

import ml_dtypes
import numpy as np

from laser_jax.models.config import CheckpointError

DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}
_CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


def read_header(path: Path, *, with_metadata: bool = False):
    """(header dict without __metadata__, byte offset of the data section), plus the
    __metadata__ dict ({} when absent) as a third item with `with_metadata`."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, no header)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or 8 + n > size:
            raise CheckpointError(f"{path}: corrupt safetensors header (claims {n} header bytes, file has {size})")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: corrupt safetensors header ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    data_start = 8 + n
    data_size = size - data_start
    for name, info in header.items():
        try:
            dtype = DTYPES[info["dtype"]]
            shape = tuple(int(s) for s in info["shape"])
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{path}: tensor {name!r} has a malformed or unsupported header entry {info}") \
                from None
        want = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if end - begin != want or begin < 0:
            raise CheckpointError(f"{path}: tensor {name!r} has {end - begin} bytes for shape {shape} "
                                  f"{info['dtype']} ({want} expected): corrupt file")
        if end > data_size:
            raise CheckpointError(f"{path}: truncated: tensor {name!r} ends at byte {data_start + end} "
                                  f"but the file has {size}; download or convert it again")
    return (header, data_start, metadata) if with_metadata else (header, data_start)


def tensors(path: Path) -> Iterator[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]:
    """(name, shape, load) for each tensor of one file; `load()` returns a numpy array."""
    path = Path(path)
    header, start = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        dtype = DTYPES[info["dtype"]]
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])

        def load(begin=begin, end=end, dtype=dtype, shape=shape):
            return np.frombuffer(mm[start + begin:start + end], dtype=dtype).reshape(shape)

        yield name, shape, load


def write(path: Path, arrays: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """Write arrays to `path` atomically (temp file + rename)."""
    path = Path(path)
    header, offset, blobs = {}, 0, []
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        code = _CODES.get(arr.dtype)
        if code is None:
            raise CheckpointError(f"{path}: cannot write tensor {name!r} of dtype {arr.dtype}")
        nbytes = arr.nbytes
        header[name] = {"dtype": code, "shape": list(arr.shape), "data_offsets": [offset, offset + nbytes]}
        blobs.append(arr)
        offset += nbytes
    if metadata:
        header["__metadata__"] = metadata
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for arr in blobs:
            f.write(arr.tobytes())
    os.replace(tmp, path)
