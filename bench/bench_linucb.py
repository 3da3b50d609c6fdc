"""LinUCB select+update at LASeR's size (d=4096, K=4): the seed code's numpy vs laser_jax.

    python bench/bench_linucb.py                 # d=4096, K=4, 50 steps
    python bench/bench_linucb.py --seed-steps 3 --steps 100

The default run takes about a minute on an idle 2-core CPU, most of it the seed code's 2 steps
(~9 s each idle, up to ~40 s each when other work loads the machine; --seed-steps 1 halves it).

Three implementations run the same stream (contexts, and a raw reward that depends only on the
step and the arm picked, normalised by LASeR's 20/80 rule in each):
  seed      the authors' approach in numpy float64: on every pick, for each arm, A_k^-1 =
            np.linalg.inv(A_k) (O(d^3)), theta_k = A_k^-1 b_k, the UCB; update A_k += c c^T,
            b_k += r' c. About 9 s per step at d=4096 on a 2-core CPU, so only the first
            --seed-steps steps are timed.
  dense     laser_jax.bandit.linucb LinUCBState: two-tier square-root form A = R^T R
            (forward-substitution picks, Givens updates, a block Householder refresh every
            32 pulls of an arm), jitted, donated.
  low-rank  laser_jax.bandit.linucb LowRankLinUCBState (the laser selector's default at
            d > 1024): the same factors in the coordinates of an orthonormal basis of each
            arm's contexts, read in power-of-two row buckets chosen on the host (rows_hint).
A step is select (the arm index is read back to the host, as the training loop does) + update,
timed after compilation (every row bucket the run needs is compiled beforehand). Decisions are
compared over the steps every implementation ran. A last table times the low-rank state at larger
basis sizes (synthetic states: timing only): a plain step, and the step that refreshes an arm's
base factor (one in 32 per arm).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from laser_jax.bandit import linucb
from laser_jax.bandit import normalise as nm


def uptime() -> str:
    """The machine's load, as `uptime` prints it."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def normalise(history: list[float], r: float) -> float:
    """LASeR's 20/80 quantile rule, guarded (as laser_jax.bandit.normalise)."""
    q20, q80 = np.percentile(np.asarray(history, np.float64), [20, 80])
    if q80 - q20 <= nm.DEFAULT_EPS:
        return 0.5
    return float(np.clip((r - q20) / (q80 - q20), 0.0, 1.0))


class SeedLinUCB:
    """The seed code's LinUCB: A_k kept explicitly and inverted on every pick (numpy float64)."""

    def __init__(self, k, d, lam, history_size):
        self.a = np.stack([lam * np.eye(d) for _ in range(k)])
        self.b = np.zeros((k, d))
        self.history, self.h = [], history_size

    def select(self, c, alpha):
        scores = []
        for a, b in zip(self.a, self.b):
            a_inv = np.linalg.inv(a)
            theta = a_inv @ b
            scores.append(c @ theta + alpha * np.sqrt(max(c @ a_inv @ c, 0.0)))
        scores = np.array(scores)
        return int(np.argmax(scores)), scores

    def update(self, arm, c, raw):
        raw = float(np.float32(raw))
        self.history = (self.history + [raw])[-self.h:]
        self.a[arm] += np.outer(c, c)
        self.b[arm] += normalise(self.history, raw) * c


def make_stream(steps, k, d, seed):
    """Contexts near a 6-dim subspace (|c| ~ 2.5), so pulls inform one another and LinUCB
    switches arms; raw reward(t, arm) = c_t . theta_arm + noise_t."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(6, d)) / np.sqrt(d)
    thetas = rng.normal(size=(k, 6)) @ basis * np.sqrt(d) / 2
    contexts = (rng.normal(size=(steps, 6)) @ basis
                + 0.2 * rng.normal(size=(steps, d)) / np.sqrt(d)).astype(np.float32)
    noise = 0.05 * rng.normal(size=steps)

    def reward(t, arm):
        return np.float32(contexts[t].astype(np.float64) @ thetas[arm] + noise[t])

    return contexts, reward


def run_seed(steps, contexts, reward, k, lam, alpha, history):
    bandit = SeedLinUCB(k, contexts.shape[1], lam, history)
    arms, scores, times = [], [], []
    for t in range(steps):
        c = contexts[t].astype(np.float64)
        tic = time.perf_counter()
        arm, s = bandit.select(c, alpha)
        bandit.update(arm, c, reward(t, arm))
        times.append(time.perf_counter() - tic)
        arms.append(arm)
        scores.append(s)
        print(f"  seed step {t}: {times[-1]:.2f} s", flush=True)
    return np.array(arms), np.array(scores), np.array(times)


def run_jax(init_fn, steps, contexts, reward, alpha):
    """Select (arm read back) + donated update per step; compiled beforehand on a spare state."""
    alpha = jnp.float32(alpha)
    spare = init_fn()
    buckets = (None,) if linucb.rows_hint(spare) is None else tuple(
        b for b in linucb.row_buckets(spare.max_pulls) if b <= linucb.bucket_for(spare.max_pulls, steps + 1))
    for rows in buckets:  # compile every row bucket the run will use
        arm, _ = linucb.select_jit(spare, contexts[0], alpha, rows=rows)
        spare, _ = linucb.update_donated(spare, arm, contexts[0], np.float32(0.0), rows=rows)
        jax.block_until_ready(spare)
    del spare
    state = jax.block_until_ready(init_fn())
    arms, scores, times = [], [], []
    for t in range(steps):
        tic = time.perf_counter()
        arm, s = linucb.select_jit(state, contexts[t], alpha, rows=linucb.rows_hint(state))
        arm = int(arm)
        state, _ = linucb.update_donated(state, jnp.int32(arm), contexts[t], reward(t, arm),
                                         rows=linucb.rows_hint(state, 1))
        jax.block_until_ready(state)
        times.append(time.perf_counter() - tic)
        arms.append(arm)
        scores.append(np.asarray(s))
    return np.array(arms), np.array(scores), np.array(times), state


def time_lowrank_at(k, d, lam, history, pulls, alpha, reps=5):
    """ms per select+update of a low-rank state whose arms hold ``pulls`` basis directions each
    (synthetic orthonormal rows: the values do not change the work done), plain and refreshing."""
    rng = np.random.default_rng(0)
    base = linucb.init_lowrank(k, d, lam=lam, history_size=history)
    c = jnp.asarray(rng.normal(size=d) / np.sqrt(d), jnp.float32)
    out = {}
    for n in pulls:
        q = np.linalg.qr(rng.normal(size=(d, n)).astype(np.float32))[0].T  # [n, d] orthonormal
        rows = linucb.bucket_for(base.max_pulls, n + 1)

        def fresh(npend):
            state = jax.tree.map(jnp.copy, base)  # its own buffers: the updates donate them
            return state.replace(q=state.q.at[:, :n].set(q), nb=jnp.full((k,), n, jnp.int32),
                                 counts=jnp.full((k,), n, jnp.int32),
                                 npend=jnp.full((k,), npend, jnp.int32))

        for label, npend in (("plain", 0), ("refresh", base.refresh - 1)):
            times = []
            for i in range(reps + 1):
                state = jax.block_until_ready(fresh(npend))
                tic = time.perf_counter()
                arm, _ = linucb.select_jit(state, c, alpha, rows=rows)
                arm = int(arm)
                state, _ = linucb.update_donated(state, jnp.int32(arm), c, np.float32(i), rows=rows)
                jax.block_until_ready(state)
                times.append(time.perf_counter() - tic)
            out[f"{n}_{label}"] = 1e3 * np.median(times[1:])
    return out, base.refresh


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=4096)
    p.add_argument("--arms", type=int, default=4)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--seed-steps", type=int, default=2, help="steps of the seed numpy code")
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--lam", type=float, default=1.0)
    p.add_argument("--history", type=int, default=1024)
    p.add_argument("--pulls", type=str, default="16,256,1024,2000,3000",
                   help="basis sizes per arm for the low-rank scaling table ('' to skip)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    p.add_argument("--quick", action="store_true", help="d=512, 10 steps, 1 seed step, no scaling table")
    a = p.parse_args()
    if a.quick:
        a.dim, a.steps, a.seed_steps, a.pulls = 512, 10, 1, ""
    k, d = a.arms, a.dim
    print(f"machine: {os.cpu_count()} CPUs; jax {jax.__version__} on {jax.devices()[0]}; "
          f"uptime: {uptime()}")
    print(f"LinUCB d={d}, K={k}, alpha={a.alpha}, lam={a.lam}; {a.steps} steps "
          f"(seed numpy: first {a.seed_steps})", flush=True)
    contexts, reward = make_stream(a.steps, k, d, seed=1)

    seed_arms, seed_scores, seed_t = run_seed(a.seed_steps, contexts, reward, k, a.lam, a.alpha,
                                              a.history)
    dense_arms, dense_scores, dense_t, _ = run_jax(
        lambda: linucb.init(k, d, lam=a.lam, history_size=a.history), a.steps, contexts, reward,
        a.alpha)
    low_arms, low_scores, low_t, low = run_jax(
        lambda: linucb.init_lowrank(k, d, lam=a.lam, history_size=a.history), a.steps, contexts,
        reward, a.alpha)

    runs = [("seed numpy", seed_t)] if a.seed_steps else []
    runs += [("laser_jax dense", dense_t), ("laser_jax low-rank", low_t)]
    ms = {name: 1e3 * np.median(t) for name, t in runs}
    print(f"\nms per step (select + update), median over the steps run "
          f"({a.seed_steps} seed, {a.steps} others):")
    for name, v in ms.items():
        ratio = f"   seed/this {ms['seed numpy'] / v:9.1f}x" if "seed numpy" in ms else ""
        print(f"  {name:20s} {v:10.2f} ms{ratio}")
    print(f"  dense / low-rank: {ms['laser_jax dense'] / ms['laser_jax low-rank']:.1f}x; "
          f"low-rank mean {1e3 * low_t.mean():.2f} ms, max {1e3 * low_t.max():.2f} ms")
    n = a.seed_steps
    same_seed = (np.array_equal(seed_arms, dense_arms[:n])
                 and np.array_equal(seed_arms, low_arms[:n]))
    same_jax = np.array_equal(dense_arms, low_arms)
    print(f"same decisions: seed = dense = low-rank over the first {n} steps: {same_seed}; "
          f"dense = low-rank over all {a.steps} steps: {same_jax}")
    if n:
        print(f"  max |score - seed score| over those steps: dense "
              f"{np.abs(dense_scores[:n] - seed_scores).max():.2e}, low-rank "
              f"{np.abs(low_scores[:n] - seed_scores).max():.2e}")
    print(f"  max |low-rank - dense score|: {np.abs(low_scores - dense_scores).max():.2e}; "
          f"pulls per arm {np.bincount(low_arms, minlength=k).tolist()}; arms "
          f"{''.join(map(str, low_arms.tolist()))}")

    pulls = [int(x) for x in a.pulls.split(",") if x]
    if pulls:
        table, refresh = time_lowrank_at(k, d, a.lam, a.history, pulls, jnp.float32(a.alpha))
        print(f"\nlow-rank ms per step with every arm's basis at n directions (synthetic states; "
              f"'refresh': the step, one in {refresh} per arm, that refreshes the base factor):")
        for n_pulls in pulls:
            print(f"  n = {n_pulls:5d}: {table[f'{n_pulls}_plain']:8.2f} ms   refresh "
                  f"{table[f'{n_pulls}_refresh']:8.2f} ms")
    print(f"\nuptime after: {uptime()}")
    if a.json:
        figures = {"benchmark": "linucb", "command": " ".join([sys.executable] + sys.argv), "dim": d, "arms": k,
                   "steps": a.steps, "seed_steps": a.seed_steps, "ms_per_step": ms,
                   "lowrank_ms_mean": 1e3 * float(low_t.mean()), "lowrank_ms_max": 1e3 * float(low_t.max()),
                   "same_decisions_seed": bool(same_seed), "same_decisions_dense_lowrank": bool(same_jax),
                   "lowrank_ms_at_pulls": table if pulls else {},
                   "target_met": bool(ms["laser_jax low-rank"] <= 5.0 and same_seed and same_jax)}
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(figures, indent=1, default=float) + "\n")
    if not (same_seed and same_jax):
        raise SystemExit("decisions differ")


if __name__ == "__main__":
    main()
