"""Best-of-n replay: every selector's online loop over the SAME samples and the SAME RM scores.

Inference-time LASeR (the paper's long-context setting) trains nothing: per query the policy
samples n responses, the bandit picks a reward model (RM), that RM's best response is the answer,
and the bandit learns from a reward. Once the n responses of every query are sampled and scored by
every RM (`Tables`), each method's loop costs seconds to replay, so it is replayed in many seeded
query orders and compared with intervals, on identical inputs.

One replay (``replay``, per method, vmapped over orders, a lax.scan over steps):

    stream = the calibration queries (shuffled), then the test queries (shuffled), B per step
    per step:  weights, state = selector.select(state, contexts of the B queries, key, step)
               each query's answer = argmax over its n responses of the weighted per-RM
                   standardised scores (one-hot weights: the chosen RM's best response; ties
                   broken by a key folded from (order, query), the same for every method)
               metric = the task metric of each answer
               bandit reward = "gold": the mean metric of the B answers;
                               "nll": minus the mean length-normalised NLL of the B answers
                                      under the policy (the paper's; label-free)
                               "consensus": the mean, over the B answers, of the standardised
                                      scores the RMs NOT chosen give the answer (leave-one-out
                                      agreement with the rest of the pool; ours, beyond the
                                      paper; label-free: no arm maximises it by construction)
               state = selector.update(state, weights, contexts, reward, agreement)
                   (see ``learn`` below; agreement [K], read by online_ensemble: per RM, the
                   share of the step's queries whose answer is that RM's first choice)

Learning: the calibration queries are a labelled stream; every method sees it first. With the
``gold`` reward the bandit learns on it only (test labels are unknown when routing) and routes the
test queries frozen (a selector with an ``exploit`` rule, e.g. thompson, routes them with it: its
posterior mean, no sampling); with ``nll`` or ``consensus`` it keeps learning on the test queries too. Only test
queries are reported.

Methods (``METHODS``: bandit/methods.py's table plus best and the references; ``fixed:<rm>`` for
every RM):
  laser            LinUCB (bandit/linear.py) on the mean context of B queries, one RM per step.
  laser_per_query  LinUCB choosing one RM per query from its own context (per-prompt rewards;
                   alias laser_per_prompt, compare's spelling).
  thompson         linear Thompson sampling on LinUCB's state (bandit/linear.py), one RM per step.
  laser_prior, thompson_prior
                   the same from an offline prior (bandit/linear.py _linear_prior): before the stream,
                   every arm learns every calibration query's context with its RM's own answer's
                   reward (full information, which the labelled calibration stream allows); the
                   calibration steps then teach nothing more. (BayesianRouter, arXiv 2510.02850,
                   reports Thompson sampling with an offline prior beating LASeR.)
  fixed:<rm>       always that RM.
  best             the single RM with the best mean metric on the calibration queries (never
                   chosen on test queries), then fixed.
  random           a uniformly random RM per step.   sequential: RM step mod K.
  ensemble         per-RM standardised scores averaged (every RM scores every response).
  agreement        the response most RMs rank first, ties by the summed standardised score.
  online_ensemble  standardised scores weighted by Hedge weights learned from the reward.
  exp3             Exp3 over RMs (no context).
  oracle           reference: per query, the best of the fixed:<rm> answers (hindsight).
  random_response  reference (the floor): the mean metric over the query's n responses.

LinUCB state: laser and thompson (and their _prior variants) replay with a low-rank state of as
many basis rows as the stream has slots when that is below the context size and max_pulls is
automatic (`_fit_state`): exact, since no arm is pulled more often, and [slots, slots] factors per
arm and order instead of [d, d]; an explicit max_pulls is kept (0: dense). LinUCB's picks are the
dense state's (to float32 rounding); Thompson's draws are other samples of the same posterior (the
two forms factor its covariance differently), so thompson's sampled picks differ from runs before
2026-12-07, which replayed the dense state.

Scores: a non-finite RM score excludes that response for that RM (as in training); a query
whose responses all lose under the chosen weights falls back to a tie-broken pick among all.
Standardising, combining and the agreement are bandit/combine.py's best-of-n variants.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from laser_jax.bandit import REGISTRY, make_selector
from laser_jax.bandit import methods as method_table
from laser_jax.bandit.combine import combine_answers, first_choice_agreement, standardise_per_query
from laser_jax.bandit.normalise import rule_as_data
from laser_jax.best_of_n.ahead import compiled_in_order
from laser_jax.errors import DataError

REWARDS = ("gold", "nll", "consensus")
REFERENCES = ("oracle", "random_response")
SELECTOR_METHODS = tuple(method_table.METHODS)  # bandit/methods.py; laser_per_prompt: an alias
METHODS = SELECTOR_METHODS + ("best",) + REFERENCES  # plus fixed:<rm>


@dataclasses.dataclass(frozen=True)
class Tables:
    """Everything a replay reads, sampled and scored once.

    metric [Q, n]       task metric of each response in [0, 1] (vs the gold answer)
    scores [R, Q, n]    each RM's score of each response (NaN / inf: that RM could not score it)
    nll [Q, n]          length-normalised NLL of each response under the policy
    contexts [Q, d]     the bandit's context of each query (the policy's final hidden state)
    family [Q] int      index into ``family_names``
    calibration [Q]     bool: the labelled stream (warm-up, ``best``'s choice); the rest is test
    """

    metric: np.ndarray
    scores: np.ndarray
    nll: np.ndarray
    contexts: np.ndarray
    family: np.ndarray
    calibration: np.ndarray
    rm_names: tuple[str, ...]
    family_names: tuple[str, ...]

    def check(self) -> "Tables":
        """Raises DataError naming the array whose shape does not fit (the collected batch files
        disagree) or the split that is empty; ValueError for values only a bug computes."""
        stale = ("; the batch files of the workdir's collect folder do not fit together (one "
                 "replaced or damaged): delete that folder and rerun to collect them again")
        if self.metric.ndim != 2:
            raise DataError(f"metric must be [queries, samples], got shape {self.metric.shape}{stale}")
        q, n = self.metric.shape
        want = {"scores": (len(self.rm_names), q, n), "nll": (q, n), "family": (q,),
                "calibration": (q,)}
        for name, shape in want.items():
            if getattr(self, name).shape != shape:
                raise DataError(f"{name} must have shape {shape} (rm_names x queries x samples), "
                                f"got {getattr(self, name).shape}{stale}")
        if self.contexts.ndim != 2 or self.contexts.shape[0] != q:
            raise DataError(f"contexts must be [{q}, d], got {self.contexts.shape}{stale}")
        if not np.all(np.isfinite(self.metric)):  # the task's metric (data/tasks.py): a bug
            raise ValueError("metric has non-finite entries: every response needs a metric value")
        if self.family.min(initial=0) < 0 or self.family.max(initial=0) >= len(self.family_names):
            raise ValueError(f"family indices must lie in [0, {len(self.family_names)})")  # collect's own
        if not self.calibration.any() or self.calibration.all():
            raise DataError("calibration must mark some queries (the labelled stream) and leave "
                            "some as test queries: the data's training split (calibration) and test "
                            "split must both be non-empty (data.test_split, data.holdout_fraction, "
                            "data.test_limit)")
        return self


CONTEXT_TRANSFORMS = ("none", "centre", "whiten")


def project_contexts(contexts: np.ndarray, fit_on: np.ndarray, dim: int, transform: str = "none") -> np.ndarray:
    """The bandit's contexts, fitted without labels on ``contexts[fit_on]`` (the calibration queries):

      none    onto the top ``dim`` right singular vectors (uncentred, so the common direction of
              LLM hidden states is kept): a smaller LinUCB. ``dim`` 0 or >= d: unchanged.
      centre  minus the fitted mean (then projected as ``none`` when ``dim`` > 0), plus a constant
              1 feature (the intercept the common direction carried).
      whiten  centred, onto the top ``dim`` principal directions (0: all with a non-zero variance),
              each scaled to unit variance, plus a constant 1 feature.
    """
    if transform not in CONTEXT_TRANSFORMS:  # ReplaySection checks a config's: a caller's bug here
        raise ValueError(f"transform must be one of {CONTEXT_TRANSFORMS}, got {transform!r}")
    x = contexts.astype(np.float64)
    fit = x[fit_on]
    d = x.shape[1]
    if transform == "none":
        if dim <= 0 or dim >= d:
            return contexts.astype(np.float32)
        _, _, vt = np.linalg.svd(fit, full_matrices=False)
        return (x @ vt[:dim].T).astype(np.float32)
    mean = fit.mean(0)
    x, fit = x - mean, fit - mean
    if transform == "centre" and 0 < dim < d:
        _, _, vt = np.linalg.svd(fit, full_matrices=False)
        x = x @ vt[:dim].T
    elif transform == "whiten":
        _, sv, vt = np.linalg.svd(fit, full_matrices=False)
        keep = sv > sv[0] * 1e-6
        if dim > 0:
            keep &= np.arange(len(sv)) < dim
        std = sv[keep] / np.sqrt(max(len(fit) - 1, 1))
        x = (x @ vt[keep].T) / std
    return np.concatenate([x, np.ones((len(x), 1))], 1).astype(np.float32)


def _selector_for(method: str, rm_names, hparams: dict) -> method_table.Method:
    """The selector of a selector-backed method (bandit/methods.py), its hparams merged over
    ``hparams[selector]``."""
    m = method_table.method_selector(method, rm_names)
    # config.sections.ReplaySection refuses both for a config: here a plain ValueError (a caller's bug)
    if m is None and method.startswith("fixed:"):
        raise ValueError(f"method {method!r}: no reward model named {method.split(':', 1)[1]!r}; "
                         f"reward models: {', '.join(rm_names)}")
    if m is None:
        raise ValueError(f"unknown method {method!r}; methods: {', '.join(METHODS)}, fixed:<rm>")
    if m.selector == "fixed":
        return m
    return dataclasses.replace(m, hparams={**hparams.get(m.selector, {}), **m.hparams})


def _fit_state(name: str, hp: dict, dim: int, slots: int) -> dict:
    """``hp`` with a LinUCB-state selector's automatic ``max_pulls`` (-1 / None) set to the stream's
    ``slots`` when that is below the context size: no arm is pulled more often than there are stream
    slots (the offline prior's calibration pulls included), so a low-rank state with that many
    basis rows is exact (bandit/linucb.py), and its factors are [slots, slots] instead of [d, d]
    per arm and order (d = 576, 192 queries: nll laser_per_query's replay 34 -> 12 s, the same arms
    on the front door's shapes; at d = 4096 the dense factors of 100 orders would need 27 GB).
    An explicit max_pulls (0: dense, m: low-rank) is kept."""
    if "max_pulls" not in REGISTRY[name].valid_hparams or hp.get("max_pulls", -1) not in (-1, None) or slots >= dim:
        return hp
    return {**hp, "max_pulls": int(slots)}


def streams(tables: Tables, orders: int, batch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per order, the query index of every stream slot [O, S*B] (-1: padding) and whether the
    slot's step is a test step [O, S]. Calibration queries come first; each part is shuffled per
    order and cut into steps of ``batch`` (the calibration remainder is dropped, the test
    remainder padded with -1)."""
    calib = np.flatnonzero(tables.calibration)
    test = np.flatnonzero(~tables.calibration)
    n_cal = (len(calib) // batch) * batch
    n_test = -(-len(test) // batch) * batch
    rng = np.random.default_rng(seed)
    idx = np.full((orders, n_cal + n_test), -1, np.int32)
    for o in range(orders):
        idx[o, :n_cal] = rng.permutation(calib)[:n_cal]
        idx[o, n_cal:n_cal + len(test)] = rng.permutation(test)
    is_test = np.zeros((orders, (n_cal + n_test) // batch), bool)
    is_test[:, n_cal // batch:] = True
    return idx, is_test


@functools.partial(jax.jit, static_argnames=("queries", "samples"))
def _tie_breaks(keys, *, queries, samples):
    """[O, Q, n] uniforms, per order and query: the tie-break of every method (drawn once per
    replay, from a key folded from (order, query))."""
    def one(key_o, q):
        return jax.random.uniform(jax.random.fold_in(key_o, -1 - q), (samples,))

    return jax.vmap(lambda k: jax.vmap(lambda q: one(k, q))(jnp.arange(queries)))(keys)


def _consensus(zq, weights, pick):
    """[B]: per query, the mean standardised score of its answer ``pick`` [B] under the RMs with
    weight 0 (those not chosen; all RMs when every RM has weight), non-finite scores left out
    (0 when no RM scores it). zq [B, K, n], weights [B, K] or [K]."""
    zp = jnp.take_along_axis(zq, pick[:, None, None], -1)[..., 0]  # [B, K]
    w = jnp.broadcast_to(weights, zp.shape)
    others = w <= 0
    others = jnp.where(jnp.any(others, -1, keepdims=True), others, True)
    ok = others & jnp.isfinite(zp)
    return jnp.sum(jnp.where(ok, zp, 0.0), -1) / jnp.maximum(jnp.sum(ok, -1), 1)


def _own_consensus(zc, own):
    """[K, Nc]: for arm k's own answer own[k, q] to calibration query q, the mean standardised
    score the other RMs give it (`_consensus` with arm k chosen). zc [K, Nc, n]."""
    k = zc.shape[0]
    at = jnp.take_along_axis(zc[None], own[:, None, :, None], -1)[..., 0]  # [arm, rm, Nc]
    ok = ~jnp.eye(k, dtype=bool)[:, :, None] & jnp.isfinite(at)
    return jnp.sum(jnp.where(ok, at, 0.0), 1) / jnp.maximum(jnp.sum(ok, 1), 1)


@functools.partial(jax.jit, static_argnames=("name", "per_prompt", "batch", "keep_state", "prior_slots"))
def _replay_orders(state0, use_prior, z, metric, nll, contexts, idx, is_test, keys, ties, gold, learn_on_test, consensus,
                   *, name, per_prompt, batch, keep_state=False, prior_slots=0):
    """Metric and chosen arm (-1: several arms) of every stream slot, [O, S*B] each (and each
    order's final selector state with ``keep_state``), for selector ``name`` (REGISTRY) from
    ``state0`` (its init state, the same for every order; its hparams are its leaves, traced, or
    its static fields, in the treedef). ``use_prior`` (a traced bool; needs ``prior_slots`` > 0):
    the selector starts from its offline prior on the first ``prior_slots`` stream slots (the
    calibration queries), which then teach nothing more.

    One program per selector, state structure and shapes: what differs between methods of the same
    selector (fixed's arm, alpha, gamma, ..., whether it starts from its prior), the reward
    (``gold``, ``learn_on_test``: traced bools; the normalise rule: data, normalise.rule_as_data)
    and the scores ``z`` are arguments. ``is_test`` [S] is the same for every order, so
    ``learn`` is one flag per step and its lax.cond stays a branch under the vmap over orders (a
    frozen step runs no update)."""
    selector = REGISTRY[name]
    num_rm = z.shape[0]

    def one_order(idx_o, key_o, u_o):  # u_o [Q, n]: the order's tie-breaks (`_tie_breaks`)
        state = state0
        if prior_slots:
            def with_prior(state):  # each RM's own answer to each calibration query, and its reward
                qc = idx_o[:prior_slots]
                zc = z[:, qc]  # [K, Nc, n]
                u = u_o[qc]  # [Nc, n]
                own = jnp.argmax(jnp.where(zc == jnp.max(zc, -1, keepdims=True), u[None], -1.0), -1)  # [K, Nc]
                got = jnp.where(gold, metric[qc[None, :], own],
                                jnp.where(consensus, _own_consensus(zc, own), -nll[qc[None, :], own]))
                return selector.prior(state, contexts[qc], got.T)

            state = jax.lax.cond(use_prior, with_prior, lambda s: s, state)
        steps = idx_o.reshape(-1, batch)

        def step(carry, xs):
            state, t = carry
            ids, test = xs
            valid = ids >= 0
            q = jnp.where(valid, ids, ids[0])  # padding repeats the step's first query
            ctx = contexts[q]
            learn = jnp.logical_or(~test & ~use_prior, learn_on_test)
            weights, state = selector.select(state, ctx, jax.random.fold_in(key_o, 1 + t), t)
            if selector.exploit is not None:  # frozen steps: the selector's exploiting pick
                weights = jnp.where(learn, weights, selector.exploit(state, ctx))
            zq = jnp.moveaxis(z[:, q], 0, 1)  # [B, K, n]
            combined = combine_answers(zq, weights, selector.majority)  # bandit/combine.py
            best = jnp.max(combined, axis=-1, keepdims=True)
            u = u_o[q]
            pick = jnp.argmax(jnp.where(combined == best, u, -1.0), axis=-1)
            m = jnp.take_along_axis(metric[q], pick[:, None], 1)[:, 0]
            nl = jnp.take_along_axis(nll[q], pick[:, None], 1)[:, 0]
            per_query = jnp.where(gold, m, jnp.where(consensus, _consensus(zq, weights, pick), -nl))
            if per_prompt:
                raw = jnp.where(valid, per_query, jnp.nan)  # NaN: the bandit skips padding
            else:
                raw = jnp.sum(jnp.where(valid, per_query, 0.0)) / jnp.sum(valid)
            agree = first_choice_agreement(zq, pick, valid) if selector.needs_agreement else None
            state = jax.lax.cond(learn, lambda s: selector.update(s, weights, ctx, raw, agree)[0],
                                 lambda s: s, state)
            arm = jnp.where(jnp.sum(weights > 0, -1) == 1, jnp.argmax(weights, -1), -1)
            return (state, t + 1), (m, arm)

        (state, _), (m, arm) = jax.lax.scan(step, (state, jnp.int32(0)), (steps, is_test))
        return (m.reshape(-1), arm.reshape(-1)) + ((state,) if keep_state else ())

    return jax.vmap(one_order)(idx, keys, ties)


@dataclasses.dataclass(frozen=True)
class MethodResult:
    """Per order and test query: the answer's metric [O, Qt] and the RM used [O, Qt] (-1: an
    ensemble or a reference); ``test_ids`` [Qt] are the query indices of the columns."""

    method: str
    metric: np.ndarray
    arm: np.ndarray
    test_ids: np.ndarray
    calib_metric: np.ndarray | None = None  # [O, Qc] on the calibration stream, if replayed
    # each order's final selector state (leading axis O), with keep_state; its reward histories are
    # normalise.RuleAsData (the rule as data, rule_id), as the replay ran them
    state: object = None


def noisy_scores(tables: Tables, rm: str, sigma: float, seed: int = 0) -> np.ndarray:
    """The standardised scores with Gaussian noise of std ``sigma`` added to RM ``rm``'s (the
    paper's noisy-RM analysis: that RM becomes unreliable by a known amount)."""
    if rm not in tables.rm_names:  # replay.noise_rm is checked by ReplaySection: a caller's bug here
        raise ValueError(f"noise: no reward model named {rm!r}; reward models: {', '.join(tables.rm_names)}")
    z = standardise_per_query(tables.scores)
    k = tables.rm_names.index(rm)
    noise = np.random.default_rng(seed).normal(size=z[k].shape) * float(sigma)
    z[k] = np.where(np.isfinite(z[k]), z[k] + noise, z[k])
    return z


_COMPILED: dict = {}  # compiled replays by static arguments and argument types (ahead.compiled_in_order)


def replay(tables: Tables, methods, *, orders: int = 100, batch: int = 1, reward: str = "gold",
           seed: int = 0, hparams: dict | None = None, z: np.ndarray | None = None,
           keep_state: bool = False) -> dict[str, MethodResult]:
    """Replays ``methods`` over ``orders`` seeded query orders (module docstring).

    ``keep_state``: each selector method's result holds its final states (one per order).

    ``z``: the standardised scores to use instead of ``standardise_per_query(tables.scores)`` (e.g.
    `noisy_scores`).

    ``hparams``: per selector name, its hparams (e.g. {"laser": {"alpha": 0.1}}). With the
    ``gold`` reward, laser, thompson, exp3 and online_ensemble default to normalise="none" (the 20/80 rule erases a 0/1
    signal, normalise.py); pass normalise="quantile" for the paper's rule.
    """
    tables.check()
    if reward not in REWARDS:  # replay.rewards / orders / batch: ReplaySection checks a config's
        raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
    if batch < 1 or orders < 1:
        raise ValueError(f"batch and orders must be >= 1, got batch={batch}, orders={orders}")
    hparams = {k: dict(v) for k, v in (hparams or {}).items()}
    if reward == "gold":
        for name in ("laser", "thompson", "exp3", "online_ensemble"):
            hparams.setdefault(name, {}).setdefault("normalise", "none")
    methods = list(dict.fromkeys(methods))
    fixed = [f"fixed:{r}" for r in tables.rm_names]
    needed = list(dict.fromkeys(methods + (fixed if {"best", "oracle"} & set(methods) else [])))
    idx, is_test = streams(tables, orders, batch, seed)
    n_cal = int((~is_test[0]).sum()) * batch  # calibration slots at the head of every stream
    keys = jax.random.split(jax.random.key(seed), orders)
    z = jnp.asarray(standardise_per_query(tables.scores) if z is None else z)
    ties = _tie_breaks(keys, queries=tables.metric.shape[0], samples=tables.metric.shape[1])
    args = (z, jnp.asarray(tables.metric, jnp.float32), jnp.asarray(tables.nll, jnp.float32),
            jnp.asarray(tables.contexts, jnp.float32), jnp.asarray(idx), jnp.asarray(is_test[0]), keys,
            ties, jnp.asarray(reward == "gold"), jnp.asarray(reward != "gold"), jnp.asarray(reward == "consensus"))
    test_ids = np.flatnonzero(~tables.calibration)
    calib_ids = np.flatnonzero(tables.calibration)
    jobs = []  # (method, init state, whether it starts from its prior, the program's static arguments)
    for method in needed:
        if method in ("best",) + REFERENCES:
            continue
        spec = _selector_for(method, tables.rm_names, hparams)
        selector = make_selector(spec.selector, **_fit_state(spec.selector, spec.hparams, tables.contexts.shape[1],
                                                             idx.shape[1]))
        # one init state for every order: each registered selector's init ignores its key
        state0 = selector.init(jax.random.fold_in(keys[0], 0), len(tables.rm_names), tables.contexts.shape[1])
        state0 = rule_as_data(state0)  # one program for every reward (their normalise rules differ)
        jobs.append((method, state0, spec.prior, dict(name=spec.selector, per_prompt=selector.per_prompt,
                                                      batch=batch, keep_state=keep_state)))
    # a selector's methods with and without its prior share one program (the prior behind a cond)
    for _, _, _, st in jobs:
        st["prior_slots"] = n_cal if REGISTRY[st["name"]].prior is not None else 0
    out: dict[str, MethodResult] = {}
    programs = compiled_in_order(_replay_orders, [((s0, jnp.asarray(p), *args), st) for _, s0, p, st in jobs],
                                 _COMPILED)
    for (method, state0, prior, _), program in zip(jobs, programs):
        m, arm, *state = program(state0, jnp.asarray(prior), *args)
        out[method] = _by_query(method, np.asarray(m), np.asarray(arm), idx, test_ids, calib_ids)
        if keep_state:
            out[method] = dataclasses.replace(out[method], state=jax.device_get(state[0]))
    if "best" in methods:
        cal = np.array([np.nanmean(out[f].calib_metric) for f in fixed])
        k = int(np.argmax(cal))
        src = out[fixed[k]]
        out["best"] = dataclasses.replace(src, method="best")
    if "oracle" in methods:
        stack = np.stack([out[f].metric for f in fixed])  # [R, O, Qt]
        arm = np.argmax(stack, axis=0)
        out["oracle"] = MethodResult("oracle", stack.max(axis=0), arm, test_ids)
    if "random_response" in methods:
        mean = tables.metric[test_ids].astype(np.float64).mean(axis=1)
        out["random_response"] = MethodResult("random_response", np.broadcast_to(
            mean, (orders, len(test_ids))).copy(), np.full((orders, len(test_ids)), -1), test_ids)
    return {m: out[m] for m in methods}


def _by_query(method, m, arm, idx, test_ids, calib_ids) -> MethodResult:
    """Stream-slot arrays [O, S*B] -> per test query [O, Qt] (and calibration [O, Qc])."""
    orders = m.shape[0]
    col = np.full(idx.max() + 1, -1)
    col[test_ids] = np.arange(len(test_ids))
    ccol = np.full(idx.max() + 1, -1)
    ccol[calib_ids] = np.arange(len(calib_ids))
    metric = np.full((orders, len(test_ids)), np.nan)
    arms = np.full((orders, len(test_ids)), -1)
    calib = np.full((orders, len(calib_ids)), np.nan)
    for o in range(orders):
        ok = idx[o] >= 0
        q = idx[o][ok]
        t = col[q] >= 0
        metric[o, col[q[t]]] = m[o][ok][t]
        arms[o, col[q[t]]] = arm[o][ok][t]
        calib[o, ccol[q[~t]]] = m[o][ok][~t]
    return MethodResult(method, metric, arms, test_ids, calib)
