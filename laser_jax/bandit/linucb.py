"""LinUCB (disjoint linear models, Li et al. 2010) as a pure state pytree, exact in float32.

Arm k keeps A_k = lambda*I + sum c c^T and b_k = sum r' c over the contexts c it was updated
with (the authors' code inverts every A_k on every pick: O(K d^3)).

    score_k(c) = c . theta_k + alpha * sqrt(c^T A_k^-1 c),   theta_k = A_k^-1 b_k

Raw rewards are normalised against the reward history (normalise.py) before they enter b_k.

Numerics: the square-root information form, two tiers (base factor + pending rows), and why;
the kernels and their measured accuracy are in qr.py.

Two states, the same scores and decisions up to float32 rounding; every function below takes
either (static dispatch on the type):

  `LinUCBState` (``init``): dense, the factors live in the context space: R_k [K, d, d].
      Select is K triangular solves over d^2/2 floats whatever the number of pulls: ~14 ms a
      step at d=1024, ~270 ms at d=4096 (K=4, 2-core CPU).
  `LowRankLinUCBState` (``init_lowrank``): the same factors in the coordinates of an orthonormal
      basis Q_k of the span of arm k's contexts (rows of ``q`` [K, m, d], grown one row per pull
      that brings a new direction; m = ``max_pulls`` rows at most, default d). With a = Q_k c and
      c_perp = c - Q_k^T a (classical Gram-Schmidt, applied twice so a and c_perp are accurate
      to rounding), A_k = Q_k^T A_s Q_k + lambda (I - Q_k^T Q_k) gives

          c . theta_k = w . z_k,   c^T A_k^-1 c = |w|^2 + |c_perp|^2 / lambda,   w = R_s^-T a

      where R_s [m, m] is the square-root factor of A_s (rows past the basis size are
      sqrt(lambda) e_i and their coordinates are 0, so they change nothing). Nothing is
      subtracted from |c|^2, so the width has no cancellation either. Work per step is
      O(n d + n^2) while the basis holds n directions: the basis and the factor are read in
      power-of-two row buckets (``rows``, a static argument: `rows_hint` gives the smallest
      bucket that serves the state, on the host), so early in a run a step touches a few
      [16..64, d] blocks. ``rows=None`` reads everything (exact, slower: what a caller that
      cannot read the state on the host, e.g. inside a scan, gets). An arm whose basis is full
      (n = m < d) learns in the span of its first m directions: contexts' remaining components
      are dropped (the price of ``max_pulls`` < d; the default m = d is exact always).
      Memory: [K, m, d] + 2 [K, m, m] + [K, refresh, m].

All functions are jittable; ``alpha`` is traced, ``rows`` static. The jitted entry points are
plain function objects (``select_jit``, ``update_jit``, ``update_many_jit``, ``update_donated``);
``update_donated`` donates the state so it is updated in place (do not reuse the state you passed
in). Matmuls use ``Precision.HIGHEST`` so TF32/bf16 accelerator defaults cannot erode the state.
A context with a NaN / inf entry never enters the state (the update is skipped and counted in
``info["skipped_nonfinite"]``); as a select input it reads as the zero context.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from laser_jax.bandit import normalise as norm
from laser_jax.bandit import qr
from laser_jax.errors import is_int

# Logical axis names of the state's arrays (see laser_jax/sharding.py); all replicated today.
R_AXES = ("arms", "context", "context")  # R_k (dense: context x context; low-rank: basis coords)
B_AXES = ("arms", "context")
Q_AXES = ("arms", None, "context")  # low-rank basis rows

MIN_ROWS = 16  # smallest row bucket of the low-rank state (see row_buckets)
DEFAULT_REFRESH = 32  # pulls per arm between block refreshes of the base factor

_HI = qr.HI
_solve_rt = qr.solve_rt  # tests/bandit/test_linucb.py checks it by this name


@struct.dataclass
class _Factors:
    """What both states hold per arm (module docstring): r [K, m, m] upper triangular with
    A_k = R_k^T R_k over m coordinates (dense: the context space, m = d), z [K, m] = R_k^-T b_k;
    r_base / z_base the same as of the arm's last refresh; pend [K, P, m] and pend_y [K, P] the
    rows pulled since (npend [K] of them); counts [K] int32 updates per arm; raw-reward history.
    ``refresh`` (= P, static): pulls between refreshes."""

    r: jax.Array
    z: jax.Array
    r_base: jax.Array
    z_base: jax.Array
    pend: jax.Array
    pend_y: jax.Array
    npend: jax.Array
    counts: jax.Array
    history: norm.RewardHistory
    refresh: int = struct.field(pytree_node=False)

    @property
    def num_arms(self) -> int:
        return self.z.shape[0]

    @property
    def dtype(self):
        return self.z.dtype


@struct.dataclass
class LinUCBState(_Factors):
    """Dense square-root form: the factors live in the context space (m = d)."""

    @property
    def dim(self) -> int:
        return self.z.shape[1]

    @property
    def b(self) -> jax.Array:
        """b_k = R_k^T z_k [K, d] (derived; for checks and reports)."""
        return jnp.einsum("kij,ki->kj", self.r, self.z, precision=_HI)


@struct.dataclass
class LowRankLinUCBState(_Factors):
    """The square-root form in basis coordinates (module docstring): the factors over m
    coordinates, q [K, m, d] orthonormal basis rows (nb[k] used, the rest zero), lam (float32
    scalar). ``max_pulls`` (= m, static) basis rows per arm."""

    q: jax.Array
    nb: jax.Array
    lam: jax.Array
    max_pulls: int = struct.field(pytree_node=False)

    @property
    def dim(self) -> int:
        return self.q.shape[2]

    @property
    def b(self) -> jax.Array:
        """b_k = Q_k^T R_k^T z_k [K, d] (derived)."""
        coords = jnp.einsum("kij,ki->kj", self.r, self.z, precision=_HI)
        return jnp.einsum("kmd,km->kd", self.q, coords, precision=_HI)


def _positive_int(name: str, value) -> int:
    if not is_int(value, 1):
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def _check_init(num_arms, dim, lam, history_size, refresh):
    num_arms = _positive_int("num_arms", num_arms)
    dim = _positive_int("dim", dim)
    history_size = _positive_int("history_size", history_size)
    refresh = _positive_int("refresh (pulls between block refreshes)", refresh)
    if not float(lam) > 0.0:
        raise ValueError(f"lam (ridge regulariser, A_k = lam*I initially) must be > 0, "
                         f"got {lam!r}.")
    return num_arms, dim, history_size, refresh


def _factor_arrays(num_arms, m, lam, refresh, dtype):
    """Fresh factors over m coordinates: R = sqrt(lam) I, z = 0, nothing pending."""
    # Built in numpy and transferred once: no per-shape compilation of eager ops.
    eye = np.broadcast_to(np.eye(m, dtype=np.float32) * np.sqrt(np.float32(lam)),
                          (num_arms, m, m))
    zeros = np.zeros((num_arms, m), np.float32)
    return dict(r=jnp.asarray(eye, dtype), z=jnp.asarray(zeros, dtype),
                r_base=jnp.asarray(eye, dtype), z_base=jnp.asarray(zeros, dtype),
                pend=jnp.asarray(np.zeros((num_arms, refresh, m), np.float32), dtype),
                pend_y=jnp.asarray(np.zeros((num_arms, refresh), np.float32), dtype),
                npend=jnp.asarray(np.zeros((num_arms,), np.int32)),
                counts=jnp.asarray(np.zeros((num_arms,), np.int32)))


def init(num_arms: int, dim: int, lam: float = 1.0, history_size: int = 1024,
         dtype=jnp.float32, normalise: str = "quantile",
         refresh: int = DEFAULT_REFRESH) -> LinUCBState:
    """Fresh dense state: A_k = lam*I (R_k = sqrt(lam) I), b_k = 0 (z_k = 0), empty reward history
    with normalisation rule ``normalise`` (normalise.py: "quantile", the paper's, or "none")."""
    num_arms, dim, history_size, refresh = _check_init(num_arms, dim, lam, history_size, refresh)
    return LinUCBState(**_factor_arrays(num_arms, dim, lam, refresh, dtype),
                       history=norm.init_history(history_size, dtype=jnp.float32, rule=normalise),
                       refresh=refresh)


def default_max_pulls(dim: int) -> int:
    """Basis rows of a low-rank arm by default: d (exact whatever the number of pulls)."""
    return int(dim)


def init_lowrank(num_arms: int, dim: int, lam: float = 1.0, history_size: int = 1024,
                 max_pulls: int | None = None, dtype=jnp.float32, normalise: str = "quantile",
                 refresh: int = DEFAULT_REFRESH) -> LowRankLinUCBState:
    """Fresh low-rank state (module docstring): empty bases, A_k = lam*I, b_k = 0.

    ``max_pulls`` in [1, dim] (default dim): basis rows per arm, the directions an arm represents
    exactly (memory [K, m, d] + 2 [K, m, m]).
    """
    num_arms, dim, history_size, refresh = _check_init(num_arms, dim, lam, history_size, refresh)
    if max_pulls is None:
        max_pulls = default_max_pulls(dim)
    if not is_int(max_pulls, 1, dim):
        raise ValueError(f"max_pulls (basis rows per arm of the low-rank state) must be an int in "
                         f"[1, dim={dim}], got {max_pulls!r}; use init() for a dense state.")
    m = int(max_pulls)
    return LowRankLinUCBState(
        q=jnp.asarray(np.zeros((num_arms, m, dim), np.float32), dtype),
        nb=jnp.asarray(np.zeros((num_arms,), np.int32)),
        **_factor_arrays(num_arms, m, lam, refresh, dtype),
        lam=jnp.asarray(lam, dtype),
        history=norm.init_history(history_size, dtype=jnp.float32, rule=normalise),
        refresh=refresh, max_pulls=m,
    )


# ----------------------------------------------------------------------------- row buckets


def row_buckets(max_pulls: int) -> tuple[int, ...]:
    """Static row counts a low-rank state is read with: MIN_ROWS, 2*MIN_ROWS, ... < max_pulls,
    then max_pulls."""
    out, m = [], MIN_ROWS
    while m < max_pulls:
        out.append(m)
        m *= 2
    return tuple(out) + (int(max_pulls),)


def bucket_for(max_pulls: int, need: int) -> int:
    """The smallest bucket >= need (max_pulls when need exceeds every bucket)."""
    return next((b for b in row_buckets(max_pulls) if b >= need), int(max_pulls))


def rows_hint(state, new: int = 0) -> int | None:
    """The ``rows`` to call select (new=0) or update / update_many with B contexts (new=B) with:
    the smallest bucket above every arm's basis size plus ``new``, read on the host (a device
    sync). None for a dense state, or when ``state`` is traced (then everything is read)."""
    if not isinstance(state, LowRankLinUCBState) or isinstance(state.nb, jax.core.Tracer):
        return None
    nb = state.nb
    # replicated on every device: one local copy serves (also on a multi-host mesh)
    nb = nb.addressable_data(0) if isinstance(nb, jax.Array) else nb
    need = int(np.max(np.asarray(nb))) + int(new)
    return bucket_for(state.max_pulls, max(need, 1))


def _rows(state, rows) -> int:
    if isinstance(state, LowRankLinUCBState):
        if rows is None:
            return state.max_pulls
        if not is_int(rows, 1, state.max_pulls):
            raise ValueError(f"rows must be None or an int in [1, {state.max_pulls}] (see "
                             f"rows_hint), got {rows!r}.")
        return int(rows)
    return state.dim


# ----------------------------------------------------------------------------- reading


def _check_context(state, c: jax.Array, name: str = "c") -> None:
    if c.ndim not in (1, 2) or c.shape[-1] != state.dim:
        raise ValueError(f"{name} must have shape [d] or [B, d] with d={state.dim} (the bandit's "
                         f"context dimension), got {c.shape}.")


def _whiten(state, c: jax.Array, rows: int | None):
    """For contexts c [d] or [B, d]: (w [K, m, B] = R_k^-T a (a the coordinates; 0 from row n on),
    perp [B, K, d] the part of c outside each basis, or None for a dense state). Non-finite
    contexts read as zero."""
    c = jnp.asarray(c, state.dtype)
    _check_context(state, c)
    n = _rows(state, rows)
    cb = jnp.atleast_2d(c)  # [B, d]
    cb = jnp.where(jnp.all(jnp.isfinite(cb), axis=-1, keepdims=True), cb, 0.0)
    k = state.num_arms
    perp = None
    if isinstance(state, LowRankLinUCBState):
        # One Gram-Schmidt pass (half the reads of the update's two): its c_perp is off by
        # ~eps |c| in absolute terms, which moves |c_perp|^2 by ~2 eps |c| |c_perp|: nothing
        # next to the width. The update's second pass is for the basis' orthogonality.
        # Per arm (its first n basis rows, one contiguous block) below the full size; all arms in
        # one batched product at full size, where no slice is needed (XLA's CPU slices copy).
        # Measured at d = 4096, K = 4: n = 2048 of 4096 rows 51 vs 73 ms, full 27 vs 99 ms.
        if n < state.max_pulls:
            a, perp = [], []
            for arm in range(k):
                q = state.q[arm, :n]  # [n, d]
                a_k = jnp.einsum("md,bd->bm", q, cb, precision=_HI)  # [B, n]
                a.append(a_k)
                perp.append(cb - jnp.einsum("md,bm->bd", q, a_k, precision=_HI))  # [B, d]
            a, perp = jnp.stack(a, axis=1), jnp.stack(perp, axis=1)  # [B, K, n], [B, K, d]
        else:
            a = jnp.einsum("...md,...d->...m", state.q[None], cb[:, None, :], precision=_HI)
            perp = cb[:, None, :] - jnp.einsum("...md,...m->...d", state.q[None], a,
                                               precision=_HI)
        a = jnp.pad(a, ((0, 0), (0, 0), (0, state.max_pulls - n)))  # [B, K, m]
    else:
        a = jnp.broadcast_to(cb[:, None, :], (cb.shape[0], k, n))
    return qr.solve_rt(state.r, jnp.transpose(a, (1, 2, 0)), n), perp


def mean_and_width(state, c: jax.Array, rows: int | None = None):
    """(c . theta_k, sqrt(c^T A_k^-1 c)) per arm: [K] each for c [d], [B, K] for [B, d].
    A context with a NaN / inf entry is unusable: it is read as the zero context (every arm
    scores 0, so the pick is arm 0), never as NaN scores. ``rows``: see `rows_hint`."""
    w, perp = _whiten(state, c, rows)  # w [K, m, B]
    mean = jnp.einsum("kib,ki->bk", w, state.z, precision=_HI)
    var = jnp.einsum("kib,kib->bk", w, w, precision=_HI)
    if perp is not None:
        var = var + jnp.sum(perp * perp, axis=-1) / state.lam
    width = jnp.sqrt(var)
    return (mean[0], width[0]) if jnp.ndim(c) == 1 else (mean, width)


def sample_scores(state, c: jax.Array, key: jax.Array, scale, rows: int | None = None):
    """Linear Thompson sampling: per arm one draw theta_k ~ N(A_k^-1 b_k, scale^2 A_k^-1), and
    the scores c . theta_k: [K] for c [d], [B, K] for c [B, d] (the B contexts share the draw).

    Drawn exactly through the square-root factor, in float32: theta_k = R_k^-1 (z_k + scale xi),
    xi ~ N(0, I), so c . theta_k = w . z_k + scale w . xi with w = R_k^-T c, the vector a pick
    computes anyway. Low-rank: in the basis coordinates the same, plus the part of c outside the
    basis, where A_k = lam I: + scale c_perp . xi' / sqrt(lam), xi' ~ N(0, I_d). The draw does not
    depend on ``rows`` (xi has the state's full size)."""
    w, perp = _whiten(state, c, rows)  # [K, m, B]
    k_in, k_out = jax.random.split(key)
    xi = jax.random.normal(k_in, state.z.shape, state.dtype)  # [K, m]
    scale = jnp.asarray(scale, state.dtype)
    out = jnp.einsum("kib,ki->bk", w, state.z + scale * xi, precision=_HI)
    if perp is not None:
        xi_out = jax.random.normal(k_out, (state.num_arms, state.dim), state.dtype)
        out = out + scale * jnp.einsum("bkd,kd->bk", perp, xi_out, precision=_HI) / jnp.sqrt(
            state.lam)
    return out[0] if jnp.ndim(c) == 1 else out


def scores(state, c: jax.Array, alpha, rows: int | None = None) -> jax.Array:
    """UCB score per arm: [K] for c [d], [B, K] for c [B, d]."""
    mean, width = mean_and_width(state, c, rows)
    return mean + jnp.asarray(alpha, mean.dtype) * width


def select(state, c: jax.Array, alpha, rows: int | None = None):
    """(arm, scores): argmax UCB arm, int32 scalar for c [d] or [B] for c [B, d].

    Ties go to the lowest arm index (the first pick, with b = 0 and A = lam*I, is arm 0).
    """
    s = scores(state, c, alpha, rows)
    return jnp.argmax(s, axis=-1).astype(jnp.int32), s


def inverse(state) -> jax.Array:
    """A_k^-1 [K, d, d] of either state, to float32 rounding: O(K d^3). For checks, not for the
    loop. Dense: R^-1 R^-T; low-rank: Q^T (R_s^-1 R_s^-T - I/lam) Q + I/lam."""
    m = state.r.shape[-1]
    eye = jnp.broadcast_to(jnp.eye(m, dtype=state.r.dtype), state.r.shape)
    r_inv = jax.lax.linalg.triangular_solve(state.r, eye, left_side=True, lower=False)
    a_s_inv = jnp.einsum("kij,klj->kil", r_inv, r_inv, precision=_HI)
    if isinstance(state, LinUCBState):
        return a_s_inv
    inner = a_s_inv - eye / state.lam
    return (jnp.einsum("kmi,kmn,knj->kij", state.q, inner, state.q, precision=_HI)
            + jnp.eye(state.dim, dtype=state.r.dtype) / state.lam)


# ----------------------------------------------------------------------------- updating


def update(state, arm, c: jax.Array, raw_reward, rows: int | None = None):
    """Pushes ``raw_reward`` into the history, normalises it to r', then updates arm ``arm`` only:
    A_arm += c c^T, b_arm += r' c (in factored form, see the module docstring); counts[arm] += 1.

    ``arm`` must lie in [0, K) (not checked under jit). ``c`` is one context [d]. raw_reward
    -inf counts as r' = 0 (a pull that taught nothing); NaN / +inf change nothing and give
    norm_reward NaN (see normalise.py). A context with a NaN / inf entry changes nothing either
    (info["skipped_nonfinite"] = 1). ``rows`` (low-rank): at least the arm's basis size + 1
    (`rows_hint(state, 1)`); None reads everything.
    Returns (new_state, info) with info = {"raw_reward", "norm_reward"} (float32 scalars) and
    "skipped_nonfinite" (int32).
    """
    c = jnp.asarray(c, state.dtype)
    if c.shape != (state.dim,):
        raise ValueError(f"update takes one context of shape [{state.dim}], got {c.shape}; "
                         "for a batch of per-prompt contexts use update_many.")
    arm = jnp.asarray(arm, jnp.int32)
    if arm.shape != ():
        raise ValueError(f"update takes one arm (scalar), got shape {arm.shape}; "
                         "use update_many for per-prompt arms.")
    raw = jnp.asarray(raw_reward, jnp.float32)
    if raw.shape != ():
        raise ValueError(f"raw_reward must be a scalar, got shape {raw.shape}; "
                         "use update_many for per-prompt rewards.")
    n = _rows(state, rows)
    history, r = norm.push_and_normalise(state.history, raw)
    finite_c = jnp.all(jnp.isfinite(c))  # a NaN / inf context never enters A or b
    ok = jnp.isfinite(r) & finite_c
    c = jnp.where(finite_c, c, 0.0)
    a, basis = (qr.coordinates(state, arm, c, ok, n) if isinstance(state, LowRankLinUCBState)
                else (c, {}))
    new_state = state.replace(
        **qr.fold_in(state, arm, a, r, ok, n), **basis,
        counts=state.counts.at[arm].add(ok.astype(jnp.int32)),
        history=history,
    )
    return new_state, {"raw_reward": raw, "norm_reward": r,
                       "skipped_nonfinite": (~finite_c).astype(jnp.int32)}


def update_many(state, arms: jax.Array, contexts: jax.Array, raw_rewards: jax.Array,
                rows: int | None = None):
    """``update`` applied in order for i = 0..B-1 (lax.scan); info values are [B].
    ``rows`` (low-rank): `rows_hint(state, B)` or None."""
    arms = jnp.asarray(arms, jnp.int32)
    contexts = jnp.asarray(contexts, state.dtype)
    raw_rewards = jnp.asarray(raw_rewards, jnp.float32)
    if contexts.ndim != 2 or contexts.shape[1] != state.dim:
        raise ValueError(f"contexts must be [B, {state.dim}], got {contexts.shape}.")
    b = contexts.shape[0]
    if arms.shape != (b,) or raw_rewards.shape != (b,):
        raise ValueError(f"arms and raw_rewards must both be [B={b}] to match contexts "
                         f"{contexts.shape}; got arms {arms.shape}, "
                         f"raw_rewards {raw_rewards.shape}.")

    def step(s, xs):
        return update(s, *xs, rows=rows)

    return jax.lax.scan(step, state, (arms, contexts, raw_rewards))


# Jitted entry points (immutable function objects, not state); ``rows`` is static.
select_jit = jax.jit(select, static_argnames="rows")
sample_scores_jit = jax.jit(sample_scores, static_argnames="rows")
update_jit = jax.jit(update, static_argnames="rows")
update_many_jit = jax.jit(update_many, static_argnames="rows")
update_donated = jax.jit(update, donate_argnums=0, static_argnames="rows")
