"""What one process loads or compiles once and shares across runs (the comparison runner trains
every method in one process): models, tokenizers, and compiled functions.

    cache = ModelCache()
    model = cache.model("smollm2-135m-instruct", "float32", mesh, where="policy.path")
    tok = cache.tokenizer(path, where="rewards[1].path")
    fn = cache.compiled(("train_step", graphdef, mesh, hp), lambda: jax.jit(...))

Users of a cached model must not mutate it: merge a fresh module from `nnx.split(model)` to adapt
it (LoRA). Tokenizers with the same contents (fast backend JSON, chat template, special tokens)
loaded from different paths become ONE object, which is what lets reward models fine-tuned from
one base stack into one vectorised call. `where` names the config field in errors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable
from typing import Any

from laser_jax.models.config import CheckpointError
from laser_jax.models.loading import load_pretrained, load_tokenizer


def _tokenizer_fingerprint(tok) -> str | None:
    """What decides a tokenizer's ids and format: its fast backend's full JSON, chat template and
    special tokens (None for a tokenizer without a fast backend: then only its path identifies it)."""
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return None
    parts = [type(tok).__name__, backend.to_str(), str(getattr(tok, "chat_template", None)),
             repr(sorted(tok.special_tokens_map.items(), key=str)), str(getattr(tok, "padding_side", None))]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class ModelCache:
    def __init__(self):
        self._models: dict[tuple, Any] = {}
        self._tokenizers: dict[str, Any] = {}
        self._by_content: dict[str, Any] = {}
        self._compiled: dict[Hashable, Any] = {}

    def model(self, path: str, dtype: str, mesh, where: str, remat: bool = False):
        """`load_pretrained(path)` once per (path, dtype, remat)."""
        key = (str(path), str(dtype), bool(remat))
        if key not in self._models:
            try:
                self._models[key] = load_pretrained(path, dtype=dtype, mesh=mesh, remat=remat)
            except CheckpointError as e:
                raise CheckpointError(f"{where}: {e}") from None
        return self._models[key]

    def tokenizer(self, path: str, where: str):
        """The tokenizer of `path`, loaded once per path; identical contents share one object."""
        key = str(path)
        if key not in self._tokenizers:
            try:
                tok = load_tokenizer(path)
            except CheckpointError as e:
                raise CheckpointError(f"{where}: {e}") from None
            fp = _tokenizer_fingerprint(tok)
            if fp is not None:
                tok = self._by_content.setdefault(fp, tok)
            self._tokenizers[key] = tok
        return self._tokenizers[key]

    def compiled(self, key: Hashable, build: Callable[[], Any]):
        """`build()` once per key (jitted functions: the runs of a comparison do not re-trace)."""
        if key not in self._compiled:
            self._compiled[key] = build()
        return self._compiled[key]
