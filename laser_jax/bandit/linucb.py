"""LinUCB (disjoint linear models, Li et al. 2010) as a pure state pytree.

Arm k keeps A_k = lambda*I + sum c c^T and b_k = sum r' c over the contexts c it was updated
with (the authors' code inverts every A_k on every pick: O(K d^3)).

    score_k(c) = c . theta_k + alpha * sqrt(c^T A_k^-1 c),   theta_k = A_k^-1 b_k

Raw rewards are normalised to [0, 1] against the reward history (see normalise.py) before they
enter b_k.

Dense state (`LinUCBState`, ``init``): square-root information form, as in QR-based recursive
least squares. Arm k holds an upper-triangular R_k with A_k = R_k^T R_k and z_k = R_k^-T b_k.
A pick solves w_k = R_k^-T c (one triangular solve, backward stable) and reads
c . theta_k = w_k . z_k and c^T A_k^-1 c = |w_k|^2; an update rotates the row [c^T, r'] into
[R_k, z_k] by d Givens rotations (`_givens_update`, O(d^2)). Why: a stored float32 A^-1 (this
module's earlier form) loses c . theta and the width to cancellation, error ~ eps * pulls *
|c|^2, and LLM contexts are large (|c| ~ 10-300) and nearly parallel within a task: on such a
stream it picked 12 wrong arms in 1,000 steps against a float64 LinUCB, with 13% error in the
UCB values. The square-root form squares no condition number: the same arms as float64 at every
one of 5,000 steps, UCB within 1.4e-4 of the largest (tests/bandit/test_linucb.py), in float32
only (TPUs have no float64).

All functions are jittable; ``alpha`` is traced. The jitted entry points are plain function
objects (``select_jit``, ``update_jit``, ``update_many_jit``, ``update_donated``);
``update_donated`` donates the state so it is updated in place (do not reuse the state you
passed in).
Matmuls use ``Precision.HIGHEST`` so TF32/bf16 accelerator defaults cannot erode the state over
thousands of updates.

The low-rank state below still holds A^-1 in factored form: it is exact at the pull counts where
it is the default (d > 1024, early in a run) only up to the stored-inverse error above; making it
square-root too is open work (the reliability issue).

Two states, same scores and decisions up to float32 rounding; every function below takes either
state (static dispatch on its type; the jitted entry points serve both):

  `LinUCBState` (``init``): dense R_k [K, d, d] (above). Select is K triangular solves over
      d^2/2 floats each, whatever the number of pulls: ~270 ms a step at d=4096, K=4 on a 2-core
      CPU, ~14 ms at d=1024 (its default range).
  `LowRankLinUCBState` (``init_lowrank``): factored, for an arm that has seen n < d contexts.
      Sherman-Morrison subtracts u u^T per update, u = A^-1 c / sqrt(1 + c^T A^-1 c), so

          A_k^-1 = I/lam - sum_j u_j u_j^T = I/lam - U_k^T U_k,   U_k = [u_1; ...; u_n] [n, d]

      and A_k^-1 c = c/lam - U_k^T (U_k c): O(n d) per arm per select, and O(n d) per update
      (compute u from that product, append it as row n). This is the Woodbury form
      A^-1 = (1/lam)(I - X^T (lam I + X X^T)^-1 X) of A = lam I + X^T X (X the n pulled contexts)
      with G^-1 = (lam I + X X^T)^-1 kept as a triangular factor L (G^-1 = L L^T,
      U = L^T X / sqrt(lam), so U^T U = X^T G^-1 X / lam). Storing U instead of X and G^-1
      needs no n x n matrix and no O(n^2) bordering update, and its u_j are the dense update's
      vectors (summed in another order), so it rounds about as the dense state does (tests:
      A^-1 within 3x of the dense state's float32 error after ~200 pulls per arm).
      Shapes are static under jit, so "O(n d)" needs the row count to be static too: the rows are
      read in power-of-two buckets (``row_buckets``; lax.switch picks, per arm, the smallest
      bucket >= n); unused rows are zero, so a bucket's extra rows add nothing.

Overflow (the rule: exact, simple, jittable): each arm's slot ``mat[k]`` is a [d, d] buffer.
While the arm has n <= ``max_pulls`` (<= d) pulls, rows 0..n-1 hold U_k and the rest are zero.
On pull max_pulls + 1 the arm converts, in place and exactly, to its dense inverse
A_k^-1 = I/lam - U_k^T U_k (one O(max_pulls d^2) product, a one-off) and from then on that arm
is updated by dense Sherman-Morrison (the stored-inverse form `LinUCBState` had before). The
conversion changes no decision (it is exact in exact arithmetic), needs no host-side check, no
recompilation and no second buffer. The price is memory:
[K, d, d], the same as the dense state. Nothing smaller can stay exact: beyond n pulls in
distinct directions A_k^-1 - I/lam has rank n, so a [K, max_pulls, d] buffer cannot represent it
once n > max_pulls (forgetting old pulls, or refusing updates, would be a different bandit).
Default ``max_pulls = d // 2``: two passes over n <= d/2 rows read no more than one pass over a
dense [d, d] slot, so a low-rank arm is never slower than a dense one. An arm is dense iff
``counts[k] > max_pulls``.

Measured (bench/bench_linucb.py, d=4096, K=4, select + update, 2-core CPU shared with other
work, load 3-6): low-rank 2-5 ms while arms hold ~16 pulls, ~17 ms at 256, ~70 ms at 1024, ~95 ms
at 2000 (just below max_pulls = 2048); the one-off conversion of an arm at 2048 pulls, 1.5 s
(the stored-inverse dense state then: 120-170 ms per step).

Use the jitted entry points with a low-rank state: called eagerly, its lax.switch branches are
retraced and recompiled on every call (seconds). The laser selector calls them for you.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from laser_jax.bandit import normalise as norm

# Logical axis names of the state's arrays (see laser_jax/sharding.py); all replicated today.
R_AXES = ("arms", "context", "context")  # dense R_k; z_k has B_AXES
B_AXES = ("arms", "context")
MAT_AXES = ("arms", None, "context")  # low-rank slot: rows are pulls (U_k) or context (A_k^-1)

# Smallest row bucket of the low-rank state (see row_buckets).
MIN_ROWS = 16

_HI = jax.lax.Precision.HIGHEST


@struct.dataclass
class LinUCBState:
    """Square-root information form (module docstring, "Dense state"): r [K,d,d] upper
    triangular with A_k = R_k^T R_k; z [K,d] = R_k^-T b_k; counts [K] int32 updates per arm;
    raw-reward history."""

    r: jax.Array
    z: jax.Array
    counts: jax.Array
    history: norm.RewardHistory

    @property
    def num_arms(self) -> int:
        return self.z.shape[0]

    @property
    def dim(self) -> int:
        return self.z.shape[1]

    @property
    def dtype(self):
        return self.z.dtype

    @property
    def b(self) -> jax.Array:
        """b_k = R_k^T z_k [K, d] (derived; for checks and reports)."""
        return jnp.einsum("kij,ki->kj", self.r, self.z, precision=_HI)


@struct.dataclass
class LowRankLinUCBState:
    """Factored A_k^-1 (module docstring): one [d, d] slot per arm in ``mat`` [K, d, d].

    counts[k] <= max_pulls: rows 0..counts[k]-1 of mat[k] are U_k (A_k^-1 = I/lam - U_k^T U_k),
    the other rows are zero. counts[k] > max_pulls: mat[k] is A_k^-1 itself (dense).
    b [K, d], counts [K] int32 (updates per arm), lam float32 scalar, raw-reward history;
    max_pulls is static (it fixes the compiled row buckets).
    """

    mat: jax.Array
    b: jax.Array
    counts: jax.Array
    lam: jax.Array
    history: norm.RewardHistory
    max_pulls: int = struct.field(pytree_node=False)

    @property
    def dtype(self):
        return self.b.dtype

    @property
    def num_arms(self) -> int:
        return self.b.shape[0]

    @property
    def dim(self) -> int:
        return self.b.shape[1]


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)


def _check_init(num_arms, dim, lam, history_size):
    num_arms = _positive_int("num_arms", num_arms)
    dim = _positive_int("dim", dim)
    history_size = _positive_int("history_size", history_size)
    if not float(lam) > 0.0:
        raise ValueError(f"lam (ridge regulariser, A_k = lam*I initially) must be > 0, "
                         f"got {lam!r}.")
    return num_arms, dim, history_size


def init(num_arms: int, dim: int, lam: float = 1.0, history_size: int = 1024,
         dtype=jnp.float32, normalise: str = "quantile") -> LinUCBState:
    """Fresh state: A_k = lam*I (R_k = sqrt(lam) I), b_k = 0 (z_k = 0), empty reward history
    with normalisation rule ``normalise`` (normalise.py: "quantile", the paper's, or "none")."""
    num_arms, dim, history_size = _check_init(num_arms, dim, lam, history_size)
    # Built in numpy and transferred once: no per-shape compilation of eager ops.
    eye = np.eye(dim, dtype=np.float32) * np.sqrt(np.float32(lam))
    return LinUCBState(
        r=jnp.asarray(np.broadcast_to(eye, (num_arms, dim, dim)), dtype),
        z=jnp.asarray(np.zeros((num_arms, dim), np.float32), dtype),
        counts=jnp.asarray(np.zeros((num_arms,), np.int32)),
        history=norm.init_history(history_size, dtype=jnp.float32, rule=normalise),
    )


def default_max_pulls(dim: int) -> int:
    """d // 2 (at least 1): the pull count up to which a low-rank arm is no slower than dense."""
    return max(1, int(dim) // 2)


def init_lowrank(num_arms: int, dim: int, lam: float = 1.0, history_size: int = 1024,
                 max_pulls: int | None = None, dtype=jnp.float32,
                 normalise: str = "quantile") -> LowRankLinUCBState:
    """Fresh low-rank state (module docstring): U_k empty, b_k = 0, empty reward history.

    ``max_pulls`` in [1, dim] (default ``default_max_pulls(dim)`` = dim // 2): pulls an arm keeps
    in factored form before it converts, exactly, to a dense A_k^-1 in its own slot. Memory is
    [K, d, d] either way.
    """
    num_arms, dim, history_size = _check_init(num_arms, dim, lam, history_size)
    if max_pulls is None:
        max_pulls = default_max_pulls(dim)
    if (isinstance(max_pulls, bool) or not isinstance(max_pulls, (int, np.integer))
            or not 1 <= max_pulls <= dim):
        raise ValueError(f"max_pulls (pulls an arm keeps in low-rank form before it turns dense) "
                         f"must be an int in [1, dim={dim}], got {max_pulls!r}; use init() for a "
                         f"dense state.")
    return LowRankLinUCBState(
        mat=jnp.zeros((num_arms, dim, dim), dtype),
        b=jnp.zeros((num_arms, dim), dtype),
        counts=jnp.zeros((num_arms,), jnp.int32),
        lam=jnp.asarray(lam, dtype),
        history=norm.init_history(history_size, dtype=jnp.float32, rule=normalise),
        max_pulls=int(max_pulls),
    )


@functools.cache
def row_buckets(max_pulls: int) -> tuple[int, ...]:
    """Static row counts a low-rank arm is read with: MIN_ROWS, 2*MIN_ROWS, ... < max_pulls,
    then max_pulls. An arm with n rows is read with the smallest bucket >= n (< 2n + MIN_ROWS)."""
    out, m = [], MIN_ROWS
    while m < max_pulls:
        out.append(m)
        m *= 2
    return tuple(out) + (int(max_pulls),)


def _bucket_index(max_pulls: int, n: jax.Array) -> jax.Array:
    """Index of the smallest bucket >= n, for 0 <= n <= max_pulls."""
    buckets = jnp.asarray(row_buckets(max_pulls), jnp.int32)
    return jnp.sum(n > buckets).astype(jnp.int32)


def _factored_solve(u_rows: jax.Array, lam: jax.Array, c: jax.Array) -> jax.Array:
    """(I/lam - U^T U) c for U [m, d], c [..., d] -> [..., d]: two passes over U."""
    y = jnp.einsum("md,...d->...m", u_rows, c, precision=_HI)
    return c / lam - jnp.einsum("md,...m->...d", u_rows, y, precision=_HI)


def _dense_solve(a_inv: jax.Array, c: jax.Array) -> jax.Array:
    return jnp.einsum("ij,...j->...i", a_inv, c, precision=_HI)


def _lowrank_solve_arm(state: LowRankLinUCBState, arm, c: jax.Array) -> jax.Array:
    """A_arm^-1 c, c [..., d] -> [..., d], for one arm (int or traced): lax.switch reads the
    smallest row bucket >= n_arm of its slot, or the whole slot once the arm is dense."""
    d, r = state.dim, state.max_pulls
    buckets = row_buckets(r)
    n = state.counts[arm]

    def factored(m, mat):
        rows = jax.lax.dynamic_slice(mat, (arm, 0, 0), (1, m, d))[0]
        return _factored_solve(rows, state.lam, c)

    def dense(mat):
        return _dense_solve(mat[arm], c)

    index = jnp.where(n > r, len(buckets), _bucket_index(r, jnp.minimum(n, r)))
    branches = [functools.partial(factored, m) for m in buckets] + [dense]
    return jax.lax.switch(index, branches, state.mat)


def solve(state: LowRankLinUCBState, c: jax.Array) -> jax.Array:
    """A_k^-1 c for every arm of a low-rank state: [K, d] for c [d], [B, K, d] for c [B, d].
    (The dense state never forms A^-1 c: its scores come from `_dense_whiten`.)"""
    return jnp.stack([_lowrank_solve_arm(state, k, c) for k in range(state.num_arms)], axis=-2)


def inverse(state) -> jax.Array:
    """A_k^-1 [K, d, d] of either state, exact to float32 rounding: O(K d^3) (dense:
    R^-1 R^-T; low-rank: I/lam - U_k^T U_k or its dense slot). For checks, not for the loop."""
    if isinstance(state, LinUCBState):
        eye = jnp.broadcast_to(jnp.eye(state.dim, dtype=state.r.dtype), state.r.shape)
        r_inv = jax.lax.linalg.triangular_solve(state.r, eye, left_side=True, lower=False)
        return jnp.einsum("kij,klj->kil", r_inv, r_inv, precision=_HI)
    d = state.dim
    eye = jnp.eye(d, dtype=state.mat.dtype) / state.lam
    rows = state.mat[:, : state.max_pulls]
    factored = eye - jnp.einsum("kmi,kmj->kij", rows, rows, precision=_HI)
    dense = (state.counts > state.max_pulls)[:, None, None]
    return jnp.where(dense, state.mat, factored)


def _dense_whiten(state: LinUCBState, c: jax.Array) -> jax.Array:
    """w_k = R_k^-T c per arm, [K, d, B] for c [d] (B = 1) or [B, d]: one triangular solve,
    backward stable, no A^-1 formed. c^T A_k^-1 c = |w_k|^2 and c . theta_k = w_k . z_k."""
    cols = jnp.atleast_2d(c).T  # [d, B]
    cols = jnp.broadcast_to(cols, (state.num_arms,) + cols.shape)
    return jax.lax.linalg.triangular_solve(state.r, cols, left_side=True, lower=False,
                                           transpose_a=True)


def _check_context(state, c: jax.Array, name: str = "c") -> None:
    if c.ndim not in (1, 2) or c.shape[-1] != state.dim:
        raise ValueError(f"{name} must have shape [d] or [B, d] with d={state.dim} (the bandit's "
                         f"context dimension), got {c.shape}.")


def mean_and_width(state, c: jax.Array):
    """(c . theta_k, sqrt(max(c^T A_k^-1 c, 0))) per arm: [K] each for c [d], [B, K] for [B, d].
    A context with a NaN / inf entry is unusable: it is read as the zero context (every arm
    scores 0, so the pick is arm 0), never as NaN scores."""
    c = jnp.asarray(c, state.dtype)
    _check_context(state, c)
    c = jnp.where(jnp.all(jnp.isfinite(c), axis=-1, keepdims=True), c, 0.0)
    if isinstance(state, LinUCBState):
        w = _dense_whiten(state, c)  # [K, d, B]
        mean = jnp.einsum("kib,ki->bk", w, state.z, precision=_HI)
        width = jnp.sqrt(jnp.einsum("kib,kib->bk", w, w, precision=_HI))
        return (mean[0], width[0]) if c.ndim == 1 else (mean, width)
    u = solve(state, c)  # A_k^-1 c
    mean = jnp.einsum("...ki,ki->...k", u, state.b, precision=_HI)
    var = jnp.einsum("...ki,...i->...k", u, c, precision=_HI)
    return mean, jnp.sqrt(jnp.maximum(var, 0.0))


def scores(state, c: jax.Array, alpha) -> jax.Array:
    """UCB score per arm: [K] for c [d], [B, K] for c [B, d]."""
    mean, width = mean_and_width(state, c)
    return mean + jnp.asarray(alpha, mean.dtype) * width


def select(state, c: jax.Array, alpha):
    """(arm, scores): argmax UCB arm, int32 scalar for c [d] or [B] for c [B, d].

    Ties go to the lowest arm index (the first pick, with b = 0 and A = lam*I, is arm 0).
    """
    s = scores(state, c, alpha)
    return jnp.argmax(s, axis=-1).astype(jnp.int32), s


def downdate_from(a_inv_c: jax.Array, c: jax.Array) -> jax.Array:
    """u = A^-1 c / sqrt(1 + c^T A^-1 c) from p = A^-1 c (c^T A^-1 c clamped at 0, as in the
    scores, so the root is always real)."""
    return a_inv_c / jnp.sqrt(1.0 + jnp.maximum(jnp.dot(c, a_inv_c, precision=_HI), 0.0))


def _lowrank_update_mat(state: LowRankLinUCBState, arm: jax.Array, c: jax.Array,
                        ok: jax.Array) -> jax.Array:
    """New ``mat`` after the Sherman-Morrison update of arm ``arm`` (traced) with c, if ``ok``.

    u = A^-1 c / sqrt(1 + c^T A^-1 c) as in the dense update. n = counts[arm] < max_pulls: u
    becomes row n. n == max_pulls: the slot becomes the dense I/lam - U^T U - u u^T. n >
    max_pulls: dense update, slot -= u u^T.
    Written so that XLA updates ``mat`` in place (under donation or in a scan): the lax.switch
    only reads and returns the [d] vector A^-1 c, and the [K, d, d] buffer is written by one
    row update and two 2-way conds with an identity branch (a switch whose branches each return
    an updated [K, d, d] buffer made XLA copy it: 250-380 ms per update at d=4096, not 1 ms).
    """
    d, r = state.dim, state.max_pulls
    n = state.counts[arm]
    u = jnp.where(ok, downdate_from(_lowrank_solve_arm(state, arm, c), c), 0.0)
    row = jnp.minimum(n, d - 1)
    old_row = jax.lax.dynamic_slice(state.mat, (arm, row, 0), (1, 1, d))
    mat = jax.lax.dynamic_update_slice(
        state.mat, jnp.where(ok & (n < r), u[None, None, :], old_row), (arm, row, 0))

    def convert(mat):
        rows = jax.lax.dynamic_slice(mat, (arm, 0, 0), (1, r, d))[0]
        a_inv = (jnp.eye(d, dtype=mat.dtype) / state.lam
                 - jnp.matmul(rows.T, rows, precision=_HI))
        return jax.lax.dynamic_update_slice(mat, (a_inv - jnp.outer(u, u))[None], (arm, 0, 0))

    def dense(mat):
        return mat.at[arm].add(-jnp.outer(u, u))

    def keep(mat):
        return mat

    mat = jax.lax.cond(ok & (n == r), convert, keep, mat)
    return jax.lax.cond(ok & (n > r), dense, keep, mat)


def _givens_update(r: jax.Array, z: jax.Array, arm: jax.Array, c: jax.Array, reward: jax.Array):
    """QR update of arm ``arm``: [R z; c^T reward] -> [R' z'] with R'^T R' = R^T R + c c^T and
    R'^T z' = R^T z + reward c, by d Givens rotations (row i of R against the running row x,
    zeroing x_i; R_ii > 0 stays positive). Each rotation is orthogonal, so rounding never grows
    with the pull count or |c|^2 as an explicit A or A^-1 does. O(d^2), d sequential steps;
    a scan over the arm's rows (each row is rotated once, against the running row)."""
    d = r.shape[-1]

    def rotate(carry, xs):  # row i of R meets the running row only at step i: a scan over rows
        x, y = carry
        row, zi, i = xs
        a, xb = row[i], x[i]
        rho = jnp.hypot(a, xb)
        cs, sn = a / rho, xb / rho
        new_row = cs * row + sn * x
        x = (cs * x - sn * row).at[i].set(0.0)
        return (x, cs * y - sn * zi), (new_row, cs * zi + sn * y)

    _, (ra, za) = jax.lax.scan(rotate, (c, reward), (r[arm], z[arm], jnp.arange(d)))
    return r.at[arm].set(ra), z.at[arm].set(za)


def update(state, arm, c: jax.Array, raw_reward):
    """Pushes ``raw_reward`` into the history, normalises it to r', then updates arm ``arm`` only.

    [R_arm z_arm] <- Givens QR update with [c^T r'] (A_arm += c c^T, b_arm += r' c);
    counts[arm] += 1.
    (Low-rank state: the same update, as one appended row or dense, see `_lowrank_update_mat`.)
    ``arm`` must lie in [0, K) (not checked under jit). ``c`` is one context [d]. raw_reward
    -inf counts as r' = 0 (a pull that taught nothing); NaN / +inf change nothing and give
    norm_reward NaN (see normalise.py). A context with a NaN / inf entry changes nothing either
    (A, b and counts stay; info["skipped_nonfinite"] = 1).
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
    history, r = norm.push_and_normalise(state.history, raw)
    finite_c = jnp.all(jnp.isfinite(c))  # a NaN / inf context never enters A or b
    ok = jnp.isfinite(r) & finite_c
    if isinstance(state, LowRankLinUCBState):
        arrays = {"mat": _lowrank_update_mat(state, arm, c, ok),
                  "b": state.b.at[arm].add(jnp.where(ok, r.astype(c.dtype) * c, 0.0))}
    else:
        new_r, new_z = jax.lax.cond(ok, _givens_update, lambda rr, zz, *_: (rr, zz),
                                    state.r, state.z, arm, c, r.astype(c.dtype))
        arrays = {"r": new_r, "z": new_z}
    new_state = state.replace(
        **arrays,
        counts=state.counts.at[arm].add(ok.astype(jnp.int32)),
        history=history,
    )
    return new_state, {"raw_reward": raw, "norm_reward": r,
                       "skipped_nonfinite": (~finite_c).astype(jnp.int32)}


def update_many(state, arms: jax.Array, contexts: jax.Array, raw_rewards: jax.Array):
    """``update`` applied in order for i = 0..B-1 (lax.scan); info values are [B]."""
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
        return update(s, *xs)

    return jax.lax.scan(step, state, (arms, contexts, raw_rewards))


# Jitted entry points (immutable function objects, not state).
select_jit = jax.jit(select)
update_jit = jax.jit(update)
update_many_jit = jax.jit(update_many)
update_donated = jax.jit(update, donate_argnums=0)
