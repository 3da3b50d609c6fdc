"""Best-of-n replay (laser_jax/best_of_n/replay.py, stats.py) on hand-made score tensors."""

import numpy as np
import pytest

from laser_jax.bandit import linucb
from laser_jax.bandit.combine import standardise_per_query
from laser_jax.best_of_n import replay as rp
from laser_jax.best_of_n import stats


def routing_tables(queries=300, n=8, d=16, seed=0, calib_share=0.3):
    """Three families, three RMs: RM k ranks family k's responses by correctness (plus a little
    noise) and is blind (pure noise) on the other families. Contexts: nearly parallel family
    directions (cosine ~0.8 between families) of norm ~60, as LLM hidden states are."""
    rng = np.random.default_rng(seed)
    fam = rng.integers(3, size=queries)
    metric = (rng.random((queries, n)) < 0.35).astype(np.float64)
    metric[:, 0] = 1.0  # every query has a correct response (shuffled below)
    metric = np.take_along_axis(metric, rng.permuted(np.tile(np.arange(n), (queries, 1)), axis=1), 1)
    scores = rng.normal(size=(3, queries, n))
    for k in range(3):
        own = fam == k
        scores[k, own] = metric[own] + 0.1 * rng.normal(size=(own.sum(), n))
    common = rng.normal(size=d)
    base = 0.9 * common / np.linalg.norm(common) + 0.45 * rng.normal(size=(3, d)) / np.sqrt(d)
    contexts = 60 * (base[fam] + 0.05 * rng.normal(size=(queries, d)) / np.sqrt(d))
    calib = np.zeros(queries, bool)
    calib[rng.permutation(queries)[: int(calib_share * queries)]] = True
    return rp.Tables(metric=metric, scores=scores, nll=rng.random((queries, n)),
                     contexts=contexts.astype(np.float32), family=fam, calibration=calib,
                     rm_names=("rm_a", "rm_b", "rm_c"), family_names=("fa", "fb", "fc"))


@pytest.fixture(scope="module")
def tables():
    return routing_tables()


@pytest.fixture(scope="module")
def results(tables):
    methods = ["laser", "laser_per_query", "thompson", "thompson_prior", "random", "sequential", "ensemble", "exp3", "best",
               "oracle", "random_response", "fixed:rm_a", "fixed:rm_b", "fixed:rm_c"]
    return rp.replay(tables, methods, orders=20, seed=3)


def test_same_seed_same_results(tables, results):
    again = rp.replay(tables, ["laser", "random", "exp3"], orders=20, seed=3)
    for m in again:
        np.testing.assert_array_equal(again[m].metric, results[m].metric, err_msg=m)
        np.testing.assert_array_equal(again[m].arm, results[m].arm, err_msg=m)
    other = rp.replay(tables, ["random"], orders=20, seed=4)
    assert not np.array_equal(other["random"].arm, results["random"].arm)


def test_oracle_dominates_every_fixed_rm_on_every_query(results):
    for rm in ("rm_a", "rm_b", "rm_c"):
        assert (results["oracle"].metric >= results[f"fixed:{rm}"].metric).all()
    assert results["oracle"].metric.mean() > max(
        results[f"fixed:{rm}"].metric.mean() for rm in ("rm_a", "rm_b", "rm_c"))


def test_random_response_is_the_mean_over_samples(tables, results):
    res = results["random_response"]
    by_hand = [sum(tables.metric[q]) / tables.metric.shape[1] for q in res.test_ids]
    np.testing.assert_allclose(res.metric[0], by_hand, atol=1e-9)
    np.testing.assert_allclose(res.metric[-1], by_hand, atol=1e-9)


def test_fixed_rm_answers_are_that_rms_best_response(tables, results):
    """fixed:rm_b's answer to each test query has rm_b's top score (a tie-broken argmax)."""
    res = results["fixed:rm_b"]
    for q_col, q in enumerate(res.test_ids[:40]):
        s = tables.scores[1, q]
        top = tables.metric[q][s == s.max()]
        assert res.metric[0, q_col] in top
    assert (res.arm == 1).all()


@pytest.mark.parametrize("method,share,gap", [("laser", 0.9, 0.05), ("thompson", 0.85, 0.06),
                                              ("thompson_prior", 0.9, 0.03)])
def test_contextual_bandits_with_gold_reward_route_each_family_to_its_rm(tables, results, method,
                                                                        share, gap):
    """After the labelled warm-up, >= 90 % of each family's test queries go to the RM that is
    right on that family (LinUCB), and the metric ends within a few points of the oracle.
    Thompson sampling learning from bandit feedback on the warm-up (posterior_scale 0.1, frozen
    routing by its posterior mean) routes 87-92 % here (0.924 / 0.923 / 0.897 at 20 orders,
    0.90 / 0.87 / 0.92 at 40), short of LinUCB's 93-97 %: asserted at 85 %. With the offline
    prior (every arm fitted on every calibration query with its own answer's reward) it routes
    0.97 / 0.94 / 0.99 (metric 0.986 against LinUCB's 0.974): the issue's 90 %."""
    use = stats.arm_use_by_family(results[method], tables)
    for k, fam in enumerate(tables.family_names):
        assert use[fam][tables.rm_names[k]] >= share, (fam, use[fam])
    oracle = results["oracle"].metric.mean()
    assert results[method].metric.mean() >= oracle - gap, (results[method].metric.mean(), oracle)
    if method != "laser":
        return
    # and the context-free baselines cannot do that here
    for m in ("random", "sequential", "exp3", "best"):
        assert results[m].metric.mean() < oracle - 0.1, m


def test_best_is_chosen_on_calibration_only(tables):
    """Make rm_c the best on calibration queries and the worst on test queries: best = rm_c."""
    t = routing_tables(seed=1)
    scores = t.scores.copy()
    cal, test = t.calibration, ~t.calibration
    scores[2][cal] = t.metric[cal]  # perfect on calibration
    scores[2][test] = -t.metric[test]  # inverted on test
    t = rp.Tables(**{**t.__dict__, "scores": scores})
    res = rp.replay(t, ["best", "fixed:rm_c"], orders=2)
    np.testing.assert_array_equal(res["best"].metric, res["fixed:rm_c"].metric)


def test_summary_records_and_intervals(tables, results):
    rows = stats.summarise(results, tables, metric_name="accuracy")
    assert [r["method"] for r in rows] == list(results)
    for r in rows:
        lo, hi = r["ci95"]
        assert lo <= r["mean"] <= hi and hi - lo > 0 or r["method"] == "oracle"
        assert set(r["by_family"]) == {"fa", "fb", "fc"}
        if r["method"] != "best":
            assert r["vs_best"]["against"] == "best"
    labels = {r["method"]: r["label"] for r in rows}
    assert labels["oracle"] == labels["random_response"] == "reference"
    # the bootstrap interval of the mean of known values, by hand: [0]*50 + [1]*50 -> ~0.5 +- 0.1
    lo, hi = stats.bootstrap_ci(np.r_[np.zeros(50), np.ones(50)])
    assert 0.38 < lo < 0.44 and 0.56 < hi < 0.62


def test_nonfinite_scores_exclude_only_that_response():
    t = routing_tables(queries=60, seed=2)
    scores = t.scores.copy()
    q = np.flatnonzero(~t.calibration)[0]
    scores[0, q, :] = np.arange(8.0)
    scores[0, q, 7] = np.nan  # the top response is unscored: rm_a's answer is response 6
    t = rp.Tables(**{**t.__dict__, "scores": scores})
    res = rp.replay(t, ["fixed:rm_a"], orders=1)["fixed:rm_a"]
    col = list(res.test_ids).index(q)
    assert res.metric[0, col] == t.metric[q, 6]


def test_bad_tables_and_methods_name_the_problem(tables):
    with pytest.raises(ValueError, match="scores must have shape"):
        rp.Tables(**{**tables.__dict__, "scores": tables.scores[:2]}).check()
    with pytest.raises(ValueError, match="unknown method 'lasr'"):
        rp.replay(tables, ["lasr"], orders=1)
    with pytest.raises(ValueError, match="no reward model named 'rm_z'"):
        rp.replay(tables, ["fixed:rm_z"], orders=1)
    with pytest.raises(ValueError, match="reward must be one of"):
        rp.replay(tables, ["laser"], orders=1, reward="loss")


def test_noisy_rm_changes_only_that_rms_scores_and_hurts_its_fixed_answers(tables):
    z = standardise_per_query(tables.scores)
    noisy = rp.noisy_scores(tables, "rm_b", 3.0, seed=1)
    np.testing.assert_array_equal(noisy[[0, 2]], z[[0, 2]])
    assert (noisy[1] - z[1]).std() == pytest.approx(3.0, rel=0.05)
    clean = rp.replay(tables, ["fixed:rm_b"], orders=2)["fixed:rm_b"]
    hurt = rp.replay(tables, ["fixed:rm_b"], orders=2, z=noisy)["fixed:rm_b"]
    fb = tables.family[clean.test_ids] == 1  # rm_b's own family, where it was right
    assert hurt.metric[:, fb].mean() < clean.metric[:, fb].mean() - 0.2
    with pytest.raises(ValueError, match="no reward model named 'rm_z'"):
        rp.noisy_scores(tables, "rm_z", 1.0)


def test_agreement_answers_with_most_rms_first_choice():
    """Hand-made scores, 3 RMs x 5 responses: per query the answer is the response most RMs rank
    first; a tie in votes goes to the larger summed standardised score; a response one RM cannot
    score (NaN) is left out. Compared with a loop written here over every query."""
    rng = np.random.default_rng(4)
    q, n = 40, 5
    scores = rng.integers(0, 4, size=(3, q, n)).astype(np.float64) + 0.01 * rng.random((3, q, n))
    scores[0, :20, 1] = 10.0  # queries 0-19: RM a and RM b both rank response 1 first
    scores[1, :20, 1] = 10.0
    scores[2, :20, 3] = 10.0
    scores[2, 30, 0] = np.nan
    # queries 20-29: RMs a and b put response 2 just above response 4, RM c puts 4 far above
    # everything: the summed score (the ensemble) prefers 4, two of three RMs prefer 2
    scores[:2, 20:30] = [0.0, 0.0, 5.0, 0.0, 4.9]
    scores[2, 20:30] = [0.0, 0.1, 0.2, 0.3, 100.0]
    metric = np.zeros((q, n))
    metric[np.arange(q), np.arange(q) % n] = 1.0
    metric[20:30] = [0.0, 0.0, 1.0, 0.0, 0.0]
    t = rp.Tables(metric=metric, scores=scores, nll=np.zeros((q, n)),
                  contexts=np.ones((q, 2), np.float32), family=np.zeros(q, int),
                  calibration=np.arange(q) >= 36, rm_names=("a", "b", "c"), family_names=("f",))
    both = rp.replay(t, ["agreement", "ensemble"], orders=2, seed=0)
    res = both["agreement"]
    assert (res.metric[0][20:30] == 1).all() and (both["ensemble"].metric[0][20:30] == 0).all()
    z = standardise_per_query(scores)
    want = []
    for i in range(q):
        ok = np.all(np.isfinite(z[:, i]), axis=0)
        votes = np.zeros(n)
        for m in range(3):
            top = np.max(z[m, i][np.isfinite(z[m, i])])
            votes += (z[m, i] == top)
        key = np.where(ok, votes * 1000 + z[:, i].sum(0), -np.inf)
        want.append(metric[i, int(np.argmax(key))])
    np.testing.assert_array_equal(res.metric[0], np.array(want)[res.test_ids])
    assert (res.metric[0][:20] == (np.arange(20) % n == 1)).all()  # the 2-of-3 majority wins


def test_online_ensemble_puts_most_weight_on_the_right_rms():
    """The routing problem with two more RMs that are wrong everywhere (one pure noise, one
    preferring wrong answers): online_ensemble's Hedge weights end on the three RMs that are each
    right on one family (they agree with the correct answers), and its answers beat the fixed
    1/K score ensemble, which averages the wrong RMs in."""
    t = routing_tables(seed=2)
    rng = np.random.default_rng(7)
    noise = rng.normal(size=t.metric.shape)
    anti = -t.metric + 0.3 * rng.normal(size=t.metric.shape)
    t = rp.Tables(metric=t.metric, scores=np.concatenate([t.scores, noise[None], anti[None]]), nll=t.nll,
                  contexts=t.contexts, family=t.family, calibration=t.calibration,
                  rm_names=t.rm_names + ("noise", "anti"), family_names=t.family_names)
    res = rp.replay(t, ["online_ensemble", "ensemble"], orders=10, seed=1, keep_state=True)
    w = np.exp(res["online_ensemble"].state.log_weights)
    w /= w.sum(axis=1, keepdims=True)  # [orders, K]
    right = w[:, :3].sum(axis=1)
    assert right.min() >= 0.9, w.round(3)
    assert (w[:, :3].min(axis=1) > w[:, 3:].max(axis=1)).all()  # every right RM above every wrong one
    assert res["online_ensemble"].metric.mean() > res["ensemble"].metric.mean() + 0.05, (
        res["online_ensemble"].metric.mean(), res["ensemble"].metric.mean())


def test_tables_that_do_not_fit_are_the_users_to_fix(tables):
    """Batch files that do not fit together, or an empty test split, are a DataError (the CLI's
    ``error:``, exit 2); a non-finite metric, which only a bug computes, stays a plain ValueError."""
    from laser_jax.errors import DataError, LaserError

    with pytest.raises(DataError, match="scores must have shape .*delete that folder"):
        rp.Tables(**{**tables.__dict__, "scores": tables.scores[:2]}).check()
    with pytest.raises(DataError, match="test split must both be non-empty"):
        rp.Tables(**{**tables.__dict__, "calibration": np.ones_like(tables.calibration)}).check()
    bad = tables.metric.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite") as e:
        rp.Tables(**{**tables.__dict__, "metric": bad}).check()
    assert not isinstance(e.value, LaserError)


def test_fixed_and_best_share_one_compiled_replay_and_pick_each_rms_tie_broken_best():
    """fixed:<rm> for every RM, best and a replay on noisy scores run one compiled program (the arm
    and the scores are traced); every answer is, per order and query, the argmax of that RM's
    standardised scores with ties broken by uniform(fold_in(order key, -1 - query)), computed here
    with plain jax.random calls, and best is the fixed RM with the best calibration mean."""
    import jax

    t = routing_tables(queries=60, n=6, d=8, seed=5)
    t = rp.Tables(**{**t.__dict__, "scores": np.round(t.scores, 1)})  # ties within a query's scores
    orders, seed = 3, 7
    fixed = [f"fixed:{r}" for r in t.rm_names]
    rp._COMPILED.clear()
    res = rp.replay(t, fixed + ["best"], orders=orders, seed=seed)
    assert len(rp._COMPILED) == 1
    rp.replay(t, fixed[:1], orders=orders, seed=seed, reward="nll", z=rp.noisy_scores(t, "rm_a", 1.0))
    assert len(rp._COMPILED) == 1
    z = standardise_per_query(t.scores)
    keys = jax.random.split(jax.random.key(seed), orders)
    for k, name in enumerate(fixed):
        for o in range(orders):
            for col, q in enumerate(res[name].test_ids):
                u = np.asarray(jax.random.uniform(jax.random.fold_in(keys[o], np.int32(-1 - q)), (6,)))
                pick = int(np.argmax(np.where(z[k, q] == z[k, q].max(), u, -1.0)))
                assert res[name].metric[o, col] == t.metric[q, pick], (name, o, q)
        assert (res[name].arm == k).all()
    cal = [np.nanmean(res[name].calib_metric) for name in fixed]
    np.testing.assert_array_equal(res["best"].metric, res[fixed[int(np.argmax(cal))]].metric)


def test_consensus_reward_is_the_other_rms_mean_standardised_score_by_hand():
    """rp._consensus / _own_consensus against loops over a small tensor with non-finite scores."""
    import jax.numpy as jnp

    rng = np.random.default_rng(5)
    b, k, n = 6, 4, 5
    zq = rng.normal(size=(b, k, n))
    zq[0, 1, :] = np.nan
    zq[2, :, 3] = np.inf
    pick = rng.integers(n, size=b)
    one_hot = np.eye(k)[rng.integers(k, size=b)]
    every = np.full((b, k), 0.25)
    for weights in (one_hot, every):
        want = []
        for q in range(b):
            others = [j for j in range(k) if weights[q, j] <= 0] or list(range(k))
            vals = [zq[q, j, pick[q]] for j in others if np.isfinite(zq[q, j, pick[q]])]
            want.append(np.mean(vals) if vals else 0.0)
        got = rp._consensus(jnp.asarray(zq), jnp.asarray(weights), jnp.asarray(pick))
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    zc = np.moveaxis(zq, 1, 0)  # [K, Nc, n]
    own = rng.integers(n, size=(k, b))
    want = np.zeros((k, b))
    for a in range(k):
        for q in range(b):
            vals = [zc[j, q, own[a, q]] for j in range(k) if j != a and np.isfinite(zc[j, q, own[a, q]])]
            want[a, q] = np.mean(vals) if vals else 0.0
    np.testing.assert_allclose(np.asarray(rp._own_consensus(jnp.asarray(zc), jnp.asarray(own))), want,
                               rtol=1e-5, atol=1e-6)


def test_consensus_reward_steers_away_from_an_rm_that_disagrees_with_the_pool():
    """Two RMs rank by correctness (noisy), a third prefers wrong answers: with the label-free
    consensus reward, per-query LinUCB learns (on the test stream too) to avoid the third and beats
    random routing; the gold-reward replay of the same orders differs (it is frozen on test)."""
    rng = np.random.default_rng(11)
    t = routing_tables(seed=4)
    good = [t.metric + 0.8 * rng.normal(size=t.metric.shape) for _ in range(2)]
    anti = -t.metric + 0.8 * rng.normal(size=t.metric.shape)
    t = rp.Tables(metric=t.metric, scores=np.stack(good + [anti]), nll=t.nll, contexts=t.contexts,
                  family=t.family, calibration=t.calibration, rm_names=("good_a", "good_b", "anti"),
                  family_names=t.family_names)
    res = rp.replay(t, ["laser_per_query", "random"], orders=8, seed=2, reward="consensus")
    arms = res["laser_per_query"].arm
    assert (arms == 2).mean() < 0.2, (arms == 2).mean()
    assert res["laser_per_query"].metric.mean() > res["random"].metric.mean() + 0.1
    gold = rp.replay(t, ["laser_per_query"], orders=8, seed=2, reward="gold")
    assert not np.array_equal(gold["laser_per_query"].arm, arms)


@pytest.mark.parametrize("transform,dim", [("centre", 0), ("centre", 5), ("whiten", 0), ("whiten", 5)])
def test_context_transforms_are_fitted_on_the_calibration_contexts(tables, transform, dim):
    x = rp.project_contexts(tables.contexts, tables.calibration, dim, transform).astype(np.float64)
    fit = x[tables.calibration]
    assert np.all(x[:, -1] == 1.0)  # the intercept feature
    feats = fit[:, :-1]
    np.testing.assert_allclose(feats.mean(0), 0.0, atol=1e-3 * (1 + np.abs(feats).max()))
    d = tables.contexts.shape[1]
    if dim:
        assert x.shape[1] == dim + 1
    if transform == "whiten":
        np.testing.assert_allclose(np.cov(feats, rowvar=False), np.eye(feats.shape[1]), atol=1e-3)
        assert x.shape[1] <= min(d, tables.calibration.sum() - 1) + 1
    else:
        assert dim or x.shape[1] == d + 1
    with pytest.raises(ValueError, match="transform"):
        rp.project_contexts(tables.contexts, tables.calibration, 0, "pca")


def test_linucb_replays_with_a_low_rank_state_of_the_streams_length_and_the_same_picks():
    """Contexts wider than the stream (d = 64, 40 queries): laser and thompson replay with a
    low-rank state of 40 basis rows (no arm can be pulled more often); LinUCB picks as the dense
    state does, and so does Thompson's exploiting (posterior-mean) pick on frozen test queries
    (gold reward; its draws, with nll, are other samples of the same posterior). An explicit
    max_pulls is kept; other selectors are untouched."""
    assert rp._fit_state("laser", {"alpha": 0.1}, dim=64, slots=40) == {"alpha": 0.1, "max_pulls": 40}
    assert rp._fit_state("thompson", {"max_pulls": -1}, dim=64, slots=40)["max_pulls"] == 40
    assert rp._fit_state("laser", {"max_pulls": 0}, dim=64, slots=40) == {"max_pulls": 0}
    assert rp._fit_state("laser", {}, dim=64, slots=64) == {}
    assert rp._fit_state("exp3", {"gamma": 0.1}, dim=64, slots=40) == {"gamma": 0.1}
    small = routing_tables(queries=40, d=64, seed=2)
    for reward, methods in (("nll", ["laser_per_query"]), ("gold", ["thompson_prior"])):
        fitted = rp.replay(small, methods, orders=6, seed=1, reward=reward, keep_state=True)
        dense = rp.replay(small, methods, orders=6, seed=1, reward=reward,
                          hparams={"laser": {"max_pulls": 0}, "thompson": {"max_pulls": 0}})
        for m in methods:
            assert isinstance(fitted[m].state.bandit, linucb.LowRankLinUCBState)
            assert fitted[m].state.bandit.r.shape[-2:] == (40, 40)  # [orders, K, 40, 40], not [.., 64, 64]
            np.testing.assert_array_equal(fitted[m].arm, dense[m].arm, err_msg=f"{reward} {m}")
            np.testing.assert_array_equal(fitted[m].metric, dense[m].metric, err_msg=f"{reward} {m}")


def test_rewards_rules_and_priors_of_a_selector_share_one_compiled_replay(tables):
    """laser and laser_prior under every reward and normalise rule run one program (the rule is
    data, normalise.rule_as_data; the prior sits behind a traced flag), and the rule still acts:
    with the gold reward the 20/80 rule (which erases a 0/1 signal) routes otherwise than "none"."""
    rp._COMPILED.clear()
    gold = rp.replay(tables, ["laser", "laser_prior"], orders=4, seed=1)
    nll = rp.replay(tables, ["laser", "laser_prior"], orders=4, seed=1, reward="nll")
    quantile = rp.replay(tables, ["laser"], orders=4, seed=1, hparams={"laser": {"normalise": "quantile"}})
    assert len(rp._COMPILED) == 1
    assert not np.array_equal(gold["laser"].arm, quantile["laser"].arm)
    assert not np.array_equal(gold["laser"].arm, gold["laser_prior"].arm)
    assert not np.array_equal(gold["laser"].arm, nll["laser"].arm)
