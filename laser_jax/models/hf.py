"""Hugging Face model directories: config.json + one or several .safetensors files."""

from __future__ import annotations

import json
from pathlib import Path

from laser_jax.models import safetensors_io
from laser_jax.models.config import CheckpointError, DecoderConfig, read_hf_config

INDEX = "model.safetensors.index.json"


def is_hf_dir(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").exists()


def weight_files(path: Path) -> list[Path]:
    """The safetensors files of an HF directory (sharded via the index file, or single)."""
    index = path / INDEX
    if index.exists():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{index}: not a valid safetensors index ({e!r})") from None
        files = sorted({path / f for f in weight_map.values()})
        absent = [str(f) for f in files if not f.exists()]
        if absent:
            raise CheckpointError(f"{index}: lists shard files that do not exist: {absent}")
        return files
    files = sorted(path.glob("*.safetensors"))
    if not files:
        bins = sorted(p.name for p in path.glob("*.bin"))
        hint = f" (found {bins}: convert PyTorch .bin weights to safetensors first)" if bins else ""
        raise CheckpointError(f"{path}: no .safetensors weights{hint}")
    return files


def read_config(path: Path) -> DecoderConfig:
    return read_hf_config(path / "config.json")


def tensors(path: Path):
    """(name, shape, load) for every tensor of every weight file."""
    for f in weight_files(path):
        yield from safetensors_io.tensors(f)
