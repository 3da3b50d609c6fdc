"""The reliability issue's LinUCB exactness check, shared by tests/bandit/test_linucb.py and run
standalone by its slow tests (a subprocess at XLA's default optimisation level):

    python tests/linucb_exactness.py dense|lowrank D STEPS ARMS [REFRESH] [+ KIND D ...]
        -> one JSON line per run
"""

import json
import sys

import numpy as np

from laser_jax.bandit import linucb


def near_parallel_stream(steps, d, families=3, norm=300.0, spread=0.01, seed=0):
    """Contexts as an LLM's batch-mean hidden states look: three families whose directions share
    most of a common one (cosine ~0.8 between families), each context its family's direction
    plus noise of relative size ``spread`` (cosine ~0.99995 within a family at 0.01), scaled to a
    norm in [norm/2, norm]."""
    rng = np.random.default_rng(seed)
    common = rng.normal(size=d)
    base = 0.9 * common / np.linalg.norm(common) + 0.45 * unit_rows(rng.normal(size=(families, d)))
    base = unit_rows(base)
    fam = rng.integers(families, size=steps)
    c = base[fam] + spread * rng.normal(size=(steps, d)) / np.sqrt(d)
    c *= (norm * rng.uniform(0.5, 1.0, size=steps) / np.linalg.norm(c, axis=1))[:, None]
    return c.astype(np.float32), fam, rng


def unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class Float64Reference:
    """LinUCB in float64 written out, b_k explicit. A_k^-1 c by Sherman-Morrison on a float64
    A_k^-1 (its error, ~1e-16 * pulls * |c|^2, is ~1e-9 here: far below the float32 error
    under test), or, with ``woodbury`` (for d = 4096), from the pulled contexts X_k:
    A_k^-1 c = (c - X_k^T (lam I + X_k X_k^T)^-1 X_k c) / lam with the Gram matrix kept."""

    def __init__(self, k, d, woodbury=False, lam=1.0):
        self.woodbury, self.lam, self.b = woodbury, lam, np.zeros((k, d))
        self.x = [np.zeros((0, d)) for _ in range(k)]
        self.g = [np.zeros((0, 0)) for _ in range(k)]
        self.a_inv = None if woodbury else np.stack([np.eye(d) / lam] * k)

    def solve(self, arm, c):
        if not self.woodbury:
            return self.a_inv[arm] @ c
        x = self.x[arm]
        if not len(x):
            return c / self.lam
        return (c - x.T @ np.linalg.solve(self.g[arm], x @ c)) / self.lam

    def scores(self, c, alpha):
        p = np.stack([self.solve(arm, c) for arm in range(len(self.b))])
        return np.einsum("kd,kd->k", p, self.b) + alpha * np.sqrt(p @ c)

    def update(self, arm, c, r):
        self.b[arm] += r * c
        if self.woodbury:
            x, g = self.x[arm], self.g[arm]
            col = x @ c
            self.g[arm] = np.block([[g, col[:, None]], [col[None, :], self.lam + c @ c]])
            self.x[arm] = np.vstack([x, c])
        else:
            p = self.a_inv[arm] @ c
            self.a_inv[arm] -= np.outer(p, p) / (1.0 + c @ p)


def run(state, steps, alpha=1.0, woodbury=False, tie=1e-5):
    """The reliability issue's stream (|c| up to 300, near-parallel families) through ``state``
    beside `Float64Reference`, both taking the state's normalised rewards. Returns (worst UCB
    error relative to the step's largest |UCB|, steps where the arms differ although the float64
    gap between the two picks exceeds ``tie`` relative, steps within ``tie``)."""
    k, d = state.num_arms, state.dim
    contexts, fam, rng = near_parallel_stream(steps, d)
    right = np.array([2, 0, 3]) % k  # the arm that pays for each family
    ref = Float64Reference(k, d, woodbury)
    worst, wrong, ties = 0.0, [], 0
    for t in range(steps):
        c64 = contexts[t].astype(np.float64)
        expect = ref.scores(c64, alpha)
        arm, ours = linucb.select_jit(state, contexts[t], alpha, rows=linucb.rows_hint(state))
        top = np.abs(expect).max()
        worst = max(worst, np.abs(np.asarray(ours) - expect).max() / top)
        ref_arm = int(np.argmax(expect))
        if int(arm) != ref_arm:
            if expect[ref_arm] - expect[int(arm)] > tie * top:
                wrong.append(t)
            else:
                ties += 1
        raw = float(ref_arm == right[fam[t]]) + 0.3 * rng.normal()
        state, info = linucb.update_donated(state, ref_arm, contexts[t], raw,
                                            rows=linucb.rows_hint(state, 1))
        ref.update(ref_arm, c64, float(info["norm_reward"]))
    assert (np.asarray(state.counts) > 10).all()  # every arm is learned
    return worst, wrong, ties


def main(argv):
    """KIND D STEPS ARMS [REFRESH] (pulls between the base factor's refreshes, default 32), or
    several such groups separated by '+': one JSON line each."""
    groups = " ".join(argv).split("+")
    for group in groups:
        kind, d, steps, arms, *rest = group.split()
        d, steps, arms = int(d), int(steps), int(arms)
        refresh = int(rest[0]) if rest else linucb.DEFAULT_REFRESH
        init = linucb.init if kind == "dense" else linucb.init_lowrank
        worst, wrong, ties = run(init(arms, d, history_size=128, refresh=refresh), steps,
                                 woodbury=d > 1024)
        print(json.dumps({"kind": kind, "d": d, "steps": steps, "arms": arms, "refresh": refresh,
                          "worst": worst, "wrong": wrong, "ties": int(ties)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
