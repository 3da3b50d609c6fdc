"""A noisy reward model (the paper's noisy-RM analysis): the wrapped RM's scores plus Gaussian noise
N(0, sigma^2).

The noise of a pair is a pure function of (seed, prompt, response): a blake2b hash of the three
gives two uniforms and Box-Muller one standard normal. So there is no counter or hidden state:
the same pair always gets the same noise (the noisy RM is a fixed, corrupted function of the
text, like a real imperfect RM), different pairs get independent-looking noise, and a run is
reproducible across processes (unlike Python's salted `hash`). Change `seed` for a new draw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from laser_jax.rewards.base import RewardModel, check_inputs, with_tasks


def pair_normals(seed: int, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    """[N] float64 standard normals, one per (prompt, response), determined by (seed, prompt, response)."""
    out = np.empty(len(prompts), np.float64)
    for i, (p, r) in enumerate(zip(prompts, responses)):
        h = hashlib.blake2b(digest_size=16, key=str(int(seed)).encode())
        pb, rb = p.encode(), r.encode()
        h.update(len(pb).to_bytes(8, "little") + pb + rb)
        d = h.digest()
        u1 = ((int.from_bytes(d[:8], "little") >> 11) + 0.5) / 2.0 ** 53  # in (0, 1)
        u2 = (int.from_bytes(d[8:], "little") >> 11) / 2.0 ** 53
        out[i] = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return out


class NoisyRM:
    """`rm`'s scores + sigma * pair_normals(seed, prompts, responses)."""

    def __init__(self, rm: RewardModel, sigma: float, seed: int = 0, name: str | None = None):
        if not float(sigma) >= 0:
            raise ValueError(f"NoisyRM({rm.name!r}): sigma={sigma} must be >= 0")
        self.rm = rm
        self.sigma = float(sigma)
        self.seed = int(seed)
        self.name = name or f"{rm.name}+noise{self.sigma:g}"

    def __repr__(self):
        return f"NoisyRM({self.rm!r}, sigma={self.sigma}, seed={self.seed})"

    def perturb(self, scores: np.ndarray, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """`scores` [N] (the wrapped RM's) plus this RM's noise."""
        noise = self.sigma * pair_normals(self.seed, prompts, responses)
        return (np.asarray(scores, np.float64) + noise).astype(np.float32)

    def score(self, prompts: Sequence[str], responses: Sequence[str],
              golds: Sequence[str | None] | None = None, *, tasks: Sequence[str] | None = None) -> np.ndarray:
        check_inputs(prompts, responses, golds, f"reward model {self.name!r}", tasks=tasks)
        return self.perturb(self.rm.score(prompts, responses, golds, **with_tasks(tasks)), prompts, responses)
