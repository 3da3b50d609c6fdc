"""Reward normalisation (bandit.normalise): the paper's 20/80 rule against the alternatives, side by
side on the same streams, for LinUCB (laser) and Hedge (online_ensemble).

    python bench/bench_normalise.py [--steps 1500] [--seeds 5] [--json bench/results/normalise.json]

1. Stationary routing (the issue's problem): three families of nearly parallel contexts (cosine
   ~0.8 between families, norm ~60; "hard": ~0.99), three arms, arm k right on family k. Per step
   one context; the right arm's raw reward is 1 + N(0, s^2), a wrong arm's 0 + N(0, s^2)
   ("gaussian"; s = 0.3, "hard": 1.0), or Bernoulli 0/1 with p = 0.8 / 0.2 ("bernoulli"). Printed: the share of right picks over the
   last half of the stream, mean over seeds.
2. Best-of-n routing (tests/best_of_n/test_replay.py's hand-made tables, three RMs each right on
   one family, 100 orders): test-query accuracy and the share routed to the right RM, with the
   gold reward (each answer's 0/1 correctness), one query per step (online_ensemble weights
   every RM: no single routed RM).

Rules (bandit/normalise.py): quantile (the paper's), none (the raw reward), window (Phi of the
reward standardised over the history).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "best_of_n"))

from laser_jax.bandit.normalise import RULES  # noqa: E402
from laser_jax.bandit import make_selector  # noqa: E402


def family_contexts(rng, steps: int, d: int = 16, spread: float = 0.45):
    fam = rng.integers(3, size=steps)
    common = rng.normal(size=d)
    base = 0.9 * common / np.linalg.norm(common) + spread * rng.normal(size=(3, d)) / np.sqrt(d)
    ctx = 60 * (base[fam] + 0.05 * rng.normal(size=(steps, d)) / np.sqrt(d))
    return fam, ctx.astype(np.float32)


@functools.partial(jax.jit, static_argnames=("selector", "kind", "sigma"))
def _stream(selector, fam, ctx, key, *, kind, sigma):
    state = selector.init(key, 3, ctx.shape[1])

    def step(state, xs):
        f, c, t = xs
        k_sel, k_rew = jax.random.split(jax.random.fold_in(key, t))
        weights, state = selector.select(state, c[None], k_sel, t)
        arm = jnp.argmax(weights[0])
        right = arm == f
        if kind == "gaussian":
            raw = right.astype(jnp.float32) + sigma * jax.random.normal(k_rew)
        else:
            raw = (jax.random.uniform(k_rew) < jnp.where(right, 0.8, 0.2)).astype(jnp.float32)
        agree = jax.nn.one_hot(arm, 3)  # online_ensemble: the picked arm agreed with the answer
        state, _ = selector.update(state, weights, c[None], raw, agree)
        return state, right

    _, right = jax.lax.scan(step, state, (fam, ctx, jnp.arange(fam.shape[0])))
    return right


PROBLEMS = {"easy": (0.45, 0.3), "hard": (0.1, 1.0)}  # (spread between families, reward noise sigma)


def stationary(steps: int, seeds: int) -> dict:
    out = {}
    for kind in ("easy/gaussian", "hard/gaussian", "easy/bernoulli", "hard/bernoulli"):
        spread, sigma = PROBLEMS[kind.split("/")[0]]
        for method in ("laser", "online_ensemble"):
            for rule in RULES:
                sel = make_selector(method, normalise=rule, history_size=1024)
                shares = []
                for s in range(seeds):
                    fam, ctx = family_contexts(np.random.default_rng(s), steps, spread=spread)
                    right = np.asarray(_stream(sel, jnp.asarray(fam), jnp.asarray(ctx), jax.random.key(s),
                                               kind=kind.split("/")[1], sigma=sigma))
                    shares.append(float(right[steps // 2:].mean()))
                out[f"{kind}/{method}/{rule}"] = float(np.mean(shares))
    return out


def best_of_n(orders: int) -> dict:
    from laser_jax.best_of_n import replay as rp
    from laser_jax.best_of_n import stats
    from test_replay import routing_tables

    tables = routing_tables()
    out = {}
    for rule in RULES:
        hp = {m: {"normalise": rule} for m in ("laser", "thompson", "online_ensemble")}
        res = rp.replay(tables, ["laser", "thompson", "online_ensemble"], orders=orders, seed=0, hparams=hp)
        for m, r in res.items():
            use = stats.arm_use_by_family(r, tables)
            right = np.mean([use[f].get(tables.rm_names[k], 0.0) for k, f in enumerate(tables.family_names)])
            out[f"{m}/{rule}"] = {"accuracy": float(r.metric.mean()),
                                  "right_rm": float(right) if (r.arm >= 0).any() else float("nan")}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--orders", type=int, default=100)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="smoke run: 200 steps, 1 seed, 5 orders")
    a = ap.parse_args(argv)
    if a.quick:
        a.steps, a.seeds, a.orders = 200, 1, 5
    st = stationary(a.steps, a.seeds)
    print(f"1. stationary routing, share of right picks over the last {a.steps // 2} of {a.steps} steps "
          f"(mean of {a.seeds} seeds)")
    print(f"{'problem/reward':<16} {'selector':<16} " + " ".join(f"{r:>9}" for r in RULES))
    for kind in ("easy/gaussian", "hard/gaussian", "easy/bernoulli", "hard/bernoulli"):
        for m in ("laser", "online_ensemble"):
            print(f"{kind:<16} {m:<16} " + " ".join(f"{st[f'{kind}/{m}/{r}']:>9.3f}" for r in RULES))
    bn = best_of_n(a.orders)
    print(f"\n2. best-of-n routing tables, gold reward, one query per step, {a.orders} orders: accuracy / share routed "
          "to the right RM")
    print(f"{'selector':<16} " + " ".join(f"{r:>15}" for r in RULES))
    for m in ("laser", "thompson", "online_ensemble"):
        print(f"{m:<16} " + " ".join(f"{bn[f'{m}/{r}']['accuracy']:>7.3f} / {bn[f'{m}/{r}']['right_rm']:.3f}"
                                     for r in RULES))
    if a.json:
        a.json.write_text(json.dumps({"stationary": st, "best_of_n": bn, "steps": a.steps, "seeds": a.seeds,
                                      "orders": a.orders}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
