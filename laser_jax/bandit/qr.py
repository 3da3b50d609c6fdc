"""The square-root (QR) kernels of LinUCB (linucb.py): triangular solve, Givens and Householder
updates of a factor [R z], Gram-Schmidt against a basis, the two-tier fold-in of one pull and a
low-rank arm's basis coordinates (`coordinates`).

All work on plain arrays or on a state's factor buffers (linucb._Factors: r, z, r_base, z_base,
pend, pend_y, npend, refresh); linucb.py holds the states and select / update.

Numerics (why this module looks the way it does). LLM contexts are large (a final hidden state has
|c| ~ 10-300) and nearly parallel within a task family. A stored float32 A^-1 (linucb.py's first
form) loses c . theta and the width to cancellation, error ~ eps * pulls * |c|^2: on such a stream
it picked 12 wrong arms in 1,000 steps against a float64 LinUCB, with 13% error in the UCB values.
TPUs have no float64, so the fix is algorithmic:

  Square-root information form (QR recursive least squares). Arm k holds an upper-triangular R_k
  with A_k = R_k^T R_k and z_k = R_k^-T b_k. A pick solves w_k = R_k^-T c (one triangular solve,
  backward stable) and reads c . theta_k = w_k . z_k, c^T A_k^-1 c = |w_k|^2; no condition
  number is squared.
  Two tiers. Folding one row [c^T, r'] into [R_k, z_k] by d Givens rotations (`givens`) rounds
  every row of R_k once per pull, and those roundings add up. So each arm also keeps a *base*
  factor [R_k, z_k] as of its last refresh and the rows pulled since (``pend``, at most
  ``refresh``): every ``refresh`` pulls the base absorbs the whole block at once by a structured
  Householder QR of [R_base; X_pending] (`householder`, each base row rounded once per block)
  and the current factor restarts from it. Decisions use the current factor (base + at most
  refresh-1 Givens pulls).
  The pick's triangular solve is a forward substitution written here (`solve_rt`): XLA's CPU
  triangular_solve was 6x less accurate on these factors.
  Measured (tests/linucb_exactness.py: 5,000 steps, |c| <= 300, near-parallel families, worst
  UCB error relative to the step's largest |UCB|, against float64): one tier with XLA's solve
  1.4e-4 at d = 64; with `solve_rt`, dense d = 64 / 576: refresh=1 8.9e-5 / 1.2e-4,
  refresh=32 (default) 3.7e-5 / 5.9e-5, refresh=128 8.2e-5 / 1.1e-4; low-rank 1.7e-5 / 5.6e-5
  (refresh 32; an earlier version of its select measured 2.4-2.6e-5 / 7.7-7.8e-5 at refresh 1, 32
  and 128 alike). The same arm as float64 at every step in all of them.
"""

from __future__ import annotations

import functools

import jax
import jax.custom_batching
import jax.numpy as jnp

HI = jax.lax.Precision.HIGHEST
NEW_DIRECTION = 1e-5  # |c_perp| / |c| above which a context adds a basis direction (low-rank)
WHEN_CHUNK = 8  # rows `when` runs its function on at a time under a vmap (see _chunk_step)


def gram_schmidt(q: jax.Array, c: jax.Array):
    """(a, c_perp) with a = Q c and c_perp = c - Q^T a, classical Gram-Schmidt applied twice
    ("twice is enough": c_perp orthogonal to Q's rows to rounding). q [..., m, d], c [..., d]."""
    a1 = jnp.einsum("...md,...d->...m", q, c, precision=HI)
    c1 = c - jnp.einsum("...md,...m->...d", q, a1, precision=HI)
    a2 = jnp.einsum("...md,...d->...m", q, c1, precision=HI)
    return a1 + a2, c1 - jnp.einsum("...md,...m->...d", q, a2, precision=HI)


def solve_rt(r: jax.Array, a: jax.Array, n: int | None = None) -> jax.Array:
    """w = R^-T a for upper-triangular r [K, m, m] and a [K, m, B]: column-oriented forward
    substitution (step i: w_i = res_i / R_ii, res -= w_i R[i, :]), as LAPACK's strsv does it,
    over the first n rows (static; entries of a from n on must be 0, and so are w's).
    Why not lax.linalg.triangular_solve: on CPU it was 6x less accurate (1.4e-5 vs 2.3e-6
    relative on a factor with condition number 1.4e3, against float64), and slower at d = 4096.
    Rows are read whole from the full buffer: no [n, n] block is sliced (a strided copy).
    The loop runs on [K, B, m] (the row index minor, as in r): with [K, m, B] the TPU compiler
    gave the carry and then a copy of r the arm axis K as the minor (lane) dimension, padded from
    K to 128: an 8 GiB copy of a 0.25 GiB r at K = 4, d = 4096. Same operations, same results."""
    n = r.shape[-1] if n is None else n
    k, m = r.shape[0], r.shape[-1]
    flat = r.reshape(k * m, m)  # rows of every arm, one after the other (a bitcast: no copy)
    starts = jnp.arange(k) * m

    def body(i, carry):
        res, w = carry  # [K, B, m]
        row = jnp.take(flat, starts + i, axis=0)  # R[:, i, :] [K, m]: K rows gathered
        diag = jax.lax.dynamic_index_in_dim(row, i, axis=1, keepdims=True)  # [K, 1]
        wi = jax.lax.dynamic_index_in_dim(res, i, axis=2, keepdims=False) / diag  # [K, B]
        res = res - row[:, None, :] * wi[:, :, None]
        w = jax.lax.dynamic_update_index_in_dim(w, wi, i, axis=2)
        return res, w

    at = jnp.swapaxes(a, 1, 2)
    _, w = jax.lax.fori_loop(0, n, body, (at, jnp.zeros_like(at)))
    return jnp.swapaxes(w, 1, 2)


def givens(r: jax.Array, z: jax.Array, x: jax.Array, y: jax.Array):
    """[R z; x^T y] -> [R' z'] with R'^T R' = R^T R + x x^T and R'^T z' = R^T z + y x, by one
    Givens rotation per row (row i of R against the running row, zeroing its entry i; R_ii > 0
    stays positive). Orthogonal: no condition number is squared. r: the first n rows [n, m]
    (m >= n; x is 0 from n on), O(n m)."""
    n = r.shape[0]

    def rotate(carry, xs):  # row i of R meets the running row only at step i: a scan over rows
        x, y = carry
        row, zi, i = xs
        a, xb = row[i], x[i]
        rho = jnp.hypot(a, xb)
        cs, sn = a / rho, xb / rho
        new_row = cs * row + sn * x
        x = (cs * x - sn * row).at[i].set(0.0)
        return (x, cs * y - sn * zi), (new_row, cs * zi + sn * y)

    _, (r2, z2) = jax.lax.scan(rotate, (x, y), (r, z, jnp.arange(n)))
    return r2, z2


def householder(r: jax.Array, z: jax.Array, xs: jax.Array, ys: jax.Array):
    """[R z; X Y] -> [R' z'] with R'^T R' = R^T R + X^T X, R'^T z' = R^T z + X^T Y, for a block
    of P rows X [P, n] at once: one Householder reflection per row of R maps (R_ii, X[:, i]) to
    (|.|, 0). Each row of R is rounded once per block (the Givens form rounds it once per row of
    X): what keeps the two-tier state exact over thousands of pulls. r: the first n rows [n, m]
    (X is 0 from column n on), O(P n m)."""
    n = r.shape[0]

    def reflect(carry, inp):
        xm, yv = carry
        row, zi, i = inp
        alpha, col = row[i], xm[:, i]
        sigma = jnp.dot(col, col, precision=HI)
        s = jnp.sqrt(alpha * alpha + sigma)
        v0 = -sigma / (alpha + s)  # alpha - s without cancellation (alpha > 0)
        vv = v0 * v0 + sigma
        tau = jnp.where(vv > 0, 2.0 / jnp.where(vv > 0, vv, 1.0), 0.0)
        proj = tau * (v0 * row + jnp.dot(col, xm, precision=HI))  # [n]
        new_row = (row - v0 * proj).at[i].set(s)
        xm = (xm - jnp.outer(col, proj)).at[:, i].set(0.0)
        pz = tau * (v0 * zi + jnp.dot(col, yv, precision=HI))
        return (xm, yv - col * pz), (new_row, zi - v0 * pz)

    _, (r2, z2) = jax.lax.scan(reflect, (xs, ys), (r, z, jnp.arange(n)))
    return r2, z2


def block(buf: jax.Array, arm, n: int) -> jax.Array:
    """buf[arm, :n] with a static n: the first n rows, whole (contiguous in memory)."""
    if buf.ndim == 3:
        return jax.lax.dynamic_slice(buf, (arm, 0, 0), (1, n, buf.shape[2]))[0]
    return jax.lax.dynamic_slice(buf, (arm, 0), (1, n))[0]


def put(buf: jax.Array, arm, blk: jax.Array) -> jax.Array:
    start = (arm,) + (0,) * (buf.ndim - 1)
    return jax.lax.dynamic_update_slice(buf, blk[None], start)


def _refresh(bufs, n: int):
    """The base factor absorbs arm ``arm``'s pending block (`householder`); the current factor
    restarts from it. bufs = (r, z, r_base, z_base, arm, pend rows [P, m], pend_y [P])."""
    r, z, rb, zb, arm, xs, ys = bufs
    rb_new, zb_new = householder(block(rb, arm, n), block(zb, arm, n), xs, ys)
    return (put(r, arm, rb_new), put(z, arm, zb_new), put(rb, arm, rb_new), put(zb, arm, zb_new),
            arm, xs, ys)


def when(pred, fn, operand):
    """``fn(operand)`` where ``pred``, else ``operand`` (lax.cond). Under vmap with a batched
    ``pred`` lax.cond runs ``fn`` on every row and selects; here ``fn`` runs only on the rows that
    need it, so a rare branch (the block refresh, one pull in ``refresh`` per arm) costs nothing on
    the steps no row takes it and little on the others: the rows that need it are gathered
    WHEN_CHUNK at a time (`_chunk_step`; the same values: measured bit-identical on a best-of-n
    replay of 100 orders)."""
    @jax.custom_batching.custom_vmap
    def run(pred, operand):
        return jax.lax.cond(pred, fn, lambda ops: ops, operand)

    @run.def_vmap
    def _batched(axis_size, in_batched, pred, operand):
        pred_b, ops_b = in_batched
        grow = lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x))  # noqa: E731
        pred = grow(pred, pred_b)
        operand = jax.tree.map(grow, operand, ops_b)

        out, _ = jax.lax.while_loop(lambda carry: jnp.any(carry[1]), _chunk_step(fn, axis_size), (operand, pred))
        return out, jax.tree.map(lambda _: True, out)

    return run(pred, operand)


def _chunk_step(fn, size: int):
    """One round of `when` under a vmap of ``size`` rows: ``fn`` on (up to) min(WHEN_CHUNK, size)
    of the rows still to do, gathered, written back in place; the rest wait for the next round.
    Rows that need ``fn`` are few at a time (a replay's 100 orders: a block refresh is due in ~3 of
    them per pull), so rounds of a few rows replace ``fn`` on every row."""
    chunk = min(WHEN_CHUNK, size)

    def step(carry):
        ops, todo = carry
        idx = jnp.nonzero(todo, size=chunk, fill_value=0)[0]
        dst = jnp.where(jnp.arange(chunk) < jnp.sum(todo), idx, size)  # size: a dropped write
        new = jax.vmap(fn)(jax.tree.map(lambda a: jnp.take(a, idx, axis=0), ops))
        ops = jax.tree.map(lambda a, b: a.at[dst].set(b, mode="drop"), ops, new)
        return ops, todo.at[dst].set(False, mode="drop")

    return step


def fold_in(state, arm, a: jax.Array, y: jax.Array, ok: jax.Array, n: int) -> dict:
    """Arm ``arm``'s factors after the pull with coordinates a [n] and reward y (if ``ok``):
    a Givens update of the current factor, the row appended to the pending block, and, when the
    block is full, the base factor's Householder refresh (which the current factor restarts
    from). Every write is a static-size block update of the donated buffers (in place)."""
    # A skipped pull rotates in the zero row: every rotation is then exactly the identity
    # (cs = 1, sn = 0), so no select between old and new blocks is needed.
    m, p = state.r.shape[-1], state.refresh
    a_full = jnp.zeros((m,), a.dtype).at[:n].set(jnp.where(ok, a, 0.0))
    y = jnp.where(ok, y, 0.0).astype(a.dtype)
    r_new, z_new = givens(block(state.r, arm, n), block(state.z, arm, n), a_full, y)
    r, z = put(state.r, arm, r_new), put(state.z, arm, z_new)
    i = jnp.minimum(state.npend[arm], p - 1)
    old_row = jax.lax.dynamic_slice(state.pend, (arm, i, 0), (1, 1, m))[0, 0]
    pend = jax.lax.dynamic_update_slice(state.pend, jnp.where(ok, a_full, old_row)[None, None],
                                        (arm, i, 0))
    pend_y = state.pend_y.at[arm, i].set(jnp.where(ok, y, state.pend_y[arm, i]))
    npend = state.npend.at[arm].add(ok.astype(jnp.int32))
    full = npend[arm] >= p

    r, z, r_base, z_base = when(full, functools.partial(_refresh, n=n),
                                (r, z, state.r_base, state.z_base, arm, pend[arm], pend_y[arm]))[:4]
    return dict(r=r, z=z, r_base=r_base, z_base=z_base, pend=pend, pend_y=pend_y,
                npend=jnp.where(full, npend.at[arm].set(0), npend))


def coordinates(state, arm, c: jax.Array, ok: jax.Array, n: int):
    """(a [n], {q, nb}): the coordinates of c in arm ``arm``'s basis (first n rows), and the basis
    grown by c's remainder as a new row when that is a new direction (|c_perp| > NEW_DIRECTION
    |c|, a free row, ``ok``), whose coordinate is then |c_perp|."""
    q_blk = jax.lax.dynamic_slice(state.q, (arm, 0, 0), (1, n, state.dim))[0]
    a, perp = gram_schmidt(q_blk, c)
    size = jnp.sqrt(jnp.dot(perp, perp, precision=HI))
    nb = state.nb[arm]
    new = ok & (size > NEW_DIRECTION * jnp.sqrt(jnp.dot(c, c, precision=HI))) & (nb < n)
    slot = jnp.minimum(nb, state.max_pulls - 1)
    old_q = jax.lax.dynamic_slice(state.q, (arm, slot, 0), (1, 1, state.dim))[0, 0]
    q_row = jnp.where(new, perp / jnp.where(new, size, 1.0), old_q)
    a = jnp.where(new & (jnp.arange(n) == nb), size, a)
    return a, dict(q=jax.lax.dynamic_update_slice(state.q, q_row[None, None], (arm, slot, 0)),
                   nb=state.nb.at[arm].add(new.astype(jnp.int32)))
