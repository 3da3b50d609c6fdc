"""Raw-reward history and LASeR's 20/80 quantile normalisation.

The bandit reward of one step is r = -(training loss). Raw losses drift as the policy trains,
so LASeR rescales each raw reward against the recent history of raw rewards:

    q20, q80 = 20th and 80th percentiles of the history (the current reward included)
    r' = clip((r - q20) / (q80 - q20), 0, 1)

i.e. 0 at or below q20, 1 at or above q80, linear in between. Percentiles use linear
interpolation between order statistics, numpy's default (``method="linear"``).

Guard: when q80 - q20 <= ``eps`` (the very first reward, or a history whose 20/80 band is
flat) the ratio is undefined and r' = 0.5, the midpoint of [0, 1]: such a reward says nothing
about which arm is better. (The authors' code divides by zero here.)

The history is a ring buffer of capacity H (static): it holds the last min(count, H) raw
rewards. Push first, then normalise: ``push_and_normalise`` does both.

A raw reward of -inf means "this arm gave nothing to learn from" (the training loop passes it
when the chosen RM tied every pair): it is not pushed, it normalises to 0 (the worst reward),
and the bandits count the pull. Other non-finite raw rewards (NaN, +inf: a diverged loss) are
not pushed and normalise to NaN; the bandits skip their update on them (a jitted step cannot
raise), so one bad batch cannot poison the history or the arm statistics. Check
``jnp.isfinite(info["norm_reward"])`` to notice it.

Rule ``"none"`` (``init_history(..., rule="none")``; the selectors' ``normalise`` argument): r' = r
unchanged, for a raw reward that already lies in [0, 1] and means the same at every step, such as
a task metric against gold answers in best-of-n. The 20/80 rule is wrong there: with 0/1 rewards
the history's 20th and 80th percentiles coincide as soon as 80% of them agree, and every reward
then becomes 0.5 (no signal at all). The history is still kept (and -inf still gives 0).

Rule ``"window"`` (ours): a fixed-window standardisation mapped into [0, 1],
r' = Phi((r - mean) / std) over the held history (the last H raw rewards, the current one
included; Phi the standard normal CDF), 0.5 when std <= eps. Like the 20/80 rule it follows a
drifting loss scale; unlike it, it never collapses on a few distinct values (0/1 rewards at an
80 % hit rate: 1 -> 0.69, 0 -> 0.02) and it keeps the order of rewards outside the 20/80 band
instead of clipping them to 0 or 1.

``rule_as_data(tree)`` moves every history's rule from the tree's structure into its data (an int32
index into RULES, ``RuleAsData``): states that differ only in their rules then share one compiled
program, which picks the rule with a lax.switch (the best-of-n replay compiles one program per
selector for all its rewards). Checkpoints keep the plain form, so their tree never changes.

Which rule to use is measured in bench/bench_normalise.py (a stationary routing problem and the
best-of-n tables) and in docs/self_agreement.md's training comparison.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.scipy.special import erf
import numpy as np
from flax import struct
from laser_jax.errors import is_int

# Quantile band below which normalisation falls back to 0.5 (see module docstring).
DEFAULT_EPS = 1e-12
LOW_Q = 0.2
HIGH_Q = 0.8


@struct.dataclass
class RewardHistory:
    """Ring buffer of raw rewards.

    values: [H] float32, slot ``i % H`` holds the i-th pushed reward (unused slots are 0).
    count: int32 scalar, number of rewards pushed so far (may exceed H).
    """

    values: jax.Array
    count: jax.Array
    rule: str = struct.field(pytree_node=False, default="quantile")  # or "none" (module docstring)

    @property
    def capacity(self) -> int:
        return self.values.shape[0]


RULES = ("quantile", "none", "window")


@struct.dataclass
class RuleAsData(RewardHistory):
    """A RewardHistory whose rule is ``rule_id`` [] int32, an index into RULES, a leaf of the tree
    (``rule_as_data``); ``rule`` is the constant "data"."""

    rule_id: jax.Array = None


def rule_as_data(tree):
    """``tree`` with every RewardHistory in it turned into a RuleAsData of the same rule: trees
    that differ only in their histories' rules then have one structure (module docstring)."""
    def convert(x):
        if isinstance(x, RewardHistory) and not isinstance(x, RuleAsData):
            return RuleAsData(values=x.values, count=x.count, rule="data",
                              rule_id=jnp.asarray(RULES.index(x.rule), jnp.int32))
        return x

    return jax.tree.map(convert, tree, is_leaf=lambda x: isinstance(x, RewardHistory))


def init_history(capacity: int = 1024, dtype=jnp.float32, rule: str = "quantile") -> RewardHistory:
    """An empty history that keeps the last ``capacity`` raw rewards; ``rule`` in RULES."""
    if rule not in RULES:
        raise ValueError(f"reward normalisation rule must be one of {RULES}, got {rule!r}.")
    if not is_int(capacity, 1):
        raise ValueError(f"history capacity must be a positive int, got {capacity!r}; "
                         "pass e.g. history_size=1024.")
    return RewardHistory(values=jnp.asarray(np.zeros((int(capacity),), np.float32), dtype),
                         count=jnp.asarray(np.zeros((), np.int32)), rule=rule)


def push(hist: RewardHistory, r) -> RewardHistory:
    """Appends raw reward ``r`` (scalar), overwriting the oldest once full; ignores non-finite r."""
    r = jnp.asarray(r, hist.values.dtype)
    if r.shape != ():
        raise ValueError(f"push expects a scalar reward, got shape {r.shape}; "
                         "push per-prompt rewards one at a time (e.g. with lax.scan).")
    ok = jnp.isfinite(r)
    slot = hist.count % hist.capacity
    values = hist.values.at[slot].set(jnp.where(ok, r, hist.values[slot]))
    return hist.replace(values=values, count=hist.count + ok.astype(jnp.int32))


def num_valid(hist: RewardHistory) -> jax.Array:
    """Number of rewards currently held: min(count, H), int32."""
    return jnp.minimum(hist.count, hist.capacity).astype(jnp.int32)


def quantiles(hist: RewardHistory, qs=(LOW_Q, HIGH_Q)) -> jax.Array:
    """Percentiles ``qs`` (fractions in [0, 1]) of the held rewards, numpy "linear" rule.

    Returns [len(qs)]; NaN where the history is empty. Jittable: the number of held entries is
    traced; unused slots sort to the end as +inf and are never indexed.
    """
    h = hist.capacity
    n = num_valid(hist)
    valid = jnp.arange(h) < n
    xs = jnp.sort(jnp.where(valid, hist.values, jnp.inf))
    qs = jnp.asarray(qs, jnp.float32)
    pos = qs * (jnp.maximum(n, 1) - 1).astype(jnp.float32)
    lo = jnp.floor(pos).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, jnp.maximum(n, 1) - 1)
    frac = (pos - lo).astype(xs.dtype)
    x_lo, x_hi = xs[lo], xs[hi]
    # Equal neighbours (incl. hi == lo) give x_lo exactly, never inf - inf.
    out = jnp.where(x_hi == x_lo, x_lo, x_lo + frac * (x_hi - x_lo))
    return jnp.where(n > 0, out, jnp.nan)


def normalise(hist: RewardHistory, r, eps: float = DEFAULT_EPS) -> jax.Array:
    """r' = clip((r - q20) / (q80 - q20), 0, 1) against ``hist``; 0.5 if q80 - q20 <= eps.

    ``hist`` should already contain ``r`` (push first). An empty history also gives 0.5;
    r = -inf gives 0; NaN or +inf gives NaN. Rule "none": r itself (-inf: 0; NaN / +inf: NaN).
    """
    if isinstance(hist, RuleAsData):  # the rule is data: one branch per rule, picked at run time
        r = jnp.asarray(r, hist.values.dtype)
        plain = [RewardHistory(hist.values, hist.count, rule=rule) for rule in RULES]
        return jax.lax.switch(hist.rule_id, [functools.partial(normalise, h, eps=eps) for h in plain], r)
    if hist.rule == "none":
        r = jnp.asarray(r, hist.values.dtype)
        return jnp.where(r == -jnp.inf, jnp.asarray(0.0, r.dtype), jnp.where(jnp.isfinite(r), r, jnp.nan))
    if hist.rule == "window":
        return _window(hist, r, eps)
    q = quantiles(hist)
    q20, q80 = q[0], q[1]
    r = jnp.asarray(r, hist.values.dtype)
    band = q80 - q20
    ok = band > eps  # False for NaN (empty history) too.
    safe_band = jnp.where(ok, band, 1.0)
    scaled = jnp.clip((r - q20) / safe_band, 0.0, 1.0)
    out = jnp.where(ok, scaled, jnp.asarray(0.5, hist.values.dtype))
    return jnp.where(jnp.isfinite(r), out, jnp.where(r == -jnp.inf, jnp.asarray(0.0, out.dtype), jnp.nan))


def _window(hist: RewardHistory, r, eps: float) -> jax.Array:
    """Rule "window": Phi((r - mean) / std) over the held rewards (module docstring)."""
    r = jnp.asarray(r, hist.values.dtype)
    n = num_valid(hist)
    held = jnp.arange(hist.capacity) < n
    cnt = jnp.maximum(n, 1).astype(jnp.float32)
    mean = jnp.sum(jnp.where(held, hist.values, 0.0)) / cnt
    std = jnp.sqrt(jnp.sum(jnp.where(held, (hist.values - mean) ** 2, 0.0)) / cnt)
    ok = std > eps
    z = (r - mean) / jnp.where(ok, std, 1.0)
    out = jnp.where(ok, 0.5 * (1.0 + erf(z / jnp.sqrt(2.0))), 0.5)
    return jnp.where(jnp.isfinite(r), out, jnp.where(r == -jnp.inf, jnp.asarray(0.0, out.dtype), jnp.nan))


def push_and_normalise(hist: RewardHistory, r, eps: float = DEFAULT_EPS):
    """Pushes raw ``r`` then normalises it: returns (new_hist, r')."""
    hist = push(hist, r)
    return hist, normalise(hist, r, eps)
