"""The pool's own statistics (laser_jax/best_of_n/pool.py) against plain-loop numpy references on a
hand-made table: 3 RMs, 2 families, 6 test + 2 calibration queries, n = 4, with ties, NaN scores
and one constant (blind) RM."""

import json
import math

import numpy as np
import pytest

from laser_jax import plots
from laser_jax.best_of_n import pool as pl
from laser_jax.best_of_n import replay as rp
from laser_jax.best_of_n import stats

NAN = np.nan
RMS = ("good", "noisy", "const")


def _tables(metric, scores, family, calibration, rm_names=RMS, family_names=("fa", "fb")):
    metric = np.asarray(metric, float)
    q, n = metric.shape
    return rp.Tables(metric=metric, scores=np.asarray(scores, float), nll=np.zeros((q, n)),
                     contexts=np.ones((q, 2), np.float32), family=np.asarray(family),
                     calibration=np.asarray(calibration, bool), rm_names=tuple(rm_names),
                     family_names=tuple(family_names)).check()


def hand_made():
    metric = [[1, 0, 0.5, 0], [0, 1, 1, 0], [0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0],  # family fa
              [0, 0.5, 1, 0.5], [1, 1, 0, 0],  # family fb
              [0, 1, 0, 1], [1, 0, 1, 0]]  # calibration
    good = [[3, 1, 2, 1], [0, 2, 2, NAN], [1, 2, 3, 4], [5, 5, 1, 0],
            [1, 2, 3, 2], [NAN, 4, 1, NAN],
            [9, 0, 9, 0], [0, 9, 0, 9]]  # calibration: ordered against the metric
    noisy = [[0.2, 0.9, NAN, 0.1], [0.5, 0.1, 0.7, 0.3], [NAN, NAN, NAN, NAN], [0.3, 0.3, 0.8, 0.1],
             [0.6, 0.2, 0.4, 0.9], [0.1, 0.5, 0.5, 0.2],
             [1, 1, 1, 1], [2, 3, 4, 5]]
    const = [[7.0] * 4] * 8
    return _tables(metric, [good, noisy, const], [0, 0, 0, 0, 1, 1, 0, 1], [0] * 6 + [1, 1])


# ------------------------------------------------------------------ plain-loop references


def ref_pairs(t, k, queries):
    """(credit sum, pair count, per query [(credits, pairs)]) of RM k by loops."""
    per = []
    for q in queries:
        c = p = 0
        m, s = t.metric[q], t.scores[k, q]
        for i in range(len(m)):
            for j in range(i + 1, len(m)):
                if m[i] == m[j]:
                    continue
                p += 1
                if not (math.isfinite(s[i]) and math.isfinite(s[j])) or s[i] == s[j]:
                    c += 0.5
                elif (s[i] > s[j]) == (m[i] > m[j]):
                    c += 1
        per.append((c, p))
    return sum(c for c, _ in per), sum(p for _, p in per), per


def ref_ratio_ci(per, resamples, seed):
    """Each resample: the queries drawn with replacement (rng.integers, as laser_jax.stats draws
    them), the ratio of summed credits over summed pairs; 2.5 / 97.5 % percentiles."""
    idx = np.random.default_rng(seed).integers(0, len(per), size=(resamples, len(per)))
    ratios = []
    for row in idx:
        c = sum(per[i][0] for i in row)
        p = sum(per[i][1] for i in row)
        if p:
            ratios.append(c / p)
    return np.quantile(ratios, [0.025, 0.975])


def ref_z(row):
    fin = [v for v in row if math.isfinite(v)]
    if not fin:
        return [-math.inf] * len(row)
    mean = sum(fin) / len(fin)
    std = math.sqrt(sum((v - mean) ** 2 for v in fin) / len(fin))
    return [(-math.inf if not math.isfinite(v) else (0.0 if std == 0 else (v - mean) / std)) for v in row]


def ref_top1(t, weights, q):
    """Mean metric of the responses tied for the top of sum_k w_k z_k (non-finite -> -inf)."""
    n = t.metric.shape[1]
    key = [0.0] * n
    for k, w in enumerate(weights):
        if w > 0:
            z = ref_z(t.scores[k, q])
            key = [a + w * b for a, b in zip(key, z)]
    best = max(key)
    tied = [i for i in range(n) if key[i] == best]
    return sum(t.metric[q][i] for i in tied) / len(tied)


def ref_blind(t, k, q):
    fin = [v for v in t.scores[k, q] if math.isfinite(v)]
    return not fin or max(fin) == min(fin)


def ref_sign(a, b):
    if not (math.isfinite(a) and math.isfinite(b)):
        return 0
    return int(a > b) - int(a < b)


def ref_agreement(t, a, b, queries):
    alike = pairs = 0
    for q in queries:
        m = t.metric[q]
        for i in range(len(m)):
            for j in range(i + 1, len(m)):
                if m[i] != m[j]:
                    pairs += 1
                    alike += ref_sign(t.scores[a, q, i], t.scores[a, q, j]) == ref_sign(t.scores[b, q, i],
                                                                                       t.scores[b, q, j])
    return alike / pairs


# ------------------------------------------------------------------ tests


@pytest.fixture(scope="module")
def table():
    return hand_made()


@pytest.fixture(scope="module")
def pool(table):
    return pl.pool_stats(table, seed=5, resamples=300)


def groups(t):
    test = [q for q in range(len(t.metric)) if not t.calibration[q]]
    return {"all": test, "fa": [q for q in test if t.family[q] == 0], "fb": [q for q in test if t.family[q] == 1]}


def stat(pool, g):
    return pool["all"] if g == "all" else pool["by_family"][g]


def test_ranking_accuracy_and_its_interval_match_loops(table, pool):
    for g, qs in groups(table).items():
        for k, rm in enumerate(RMS):
            c, p, per = ref_pairs(table, k, qs)
            got = stat(pool, g)["ranking_accuracy"][rm]
            assert got["mean"] == pytest.approx(c / p, abs=1e-12), (g, rm)
            assert got["ci95"] == pytest.approx(list(ref_ratio_ci(per, 300, 5)), abs=1e-12), (g, rm)
            assert stat(pool, g)["pairs"] == p
    const = pool["all"]["ranking_accuracy"]["const"]  # every pair a tie: exactly chance
    assert const["mean"] == 0.5 and const["ci95"] == [0.5, 0.5]


def test_top1_ensemble_blind_and_oracle_match_loops(table, pool):
    for g, qs in groups(table).items():
        s = stat(pool, g)
        for k, rm in enumerate(RMS):
            one_hot = [float(i == k) for i in range(3)]
            assert s["top1"][rm] == pytest.approx(np.mean([ref_top1(table, one_hot, q) for q in qs])), (g, rm)
            assert s["blind"][rm] == pytest.approx(np.mean([ref_blind(table, k, q) for q in qs])), (g, rm)
        ens = np.mean([ref_top1(table, [1 / 3] * 3, q) for q in qs])
        oracle = np.mean([max(table.metric[q]) for q in qs])
        best = max(s["top1"].values())
        ref = s["reference"]
        assert ref["ensemble"] == pytest.approx(ens) and ref["oracle"] == pytest.approx(oracle)
        assert ref["best_single"] == pytest.approx(best)
        assert ref["oracle_minus_best_single"] == pytest.approx(oracle - best)
        assert ref["oracle_minus_ensemble"] == pytest.approx(oracle - ens)
    assert pool["all"]["blind"]["const"] == 1.0  # the constant RM is blind everywhere
    assert pool["all"]["blind"]["noisy"] == pytest.approx(1 / 6)  # its all-NaN query
    # the good RM ties 5 = 5 on query 3 (metrics 1, 0): top1 there is 1/2
    assert ref_top1(table, [1, 0, 0], 3) == 0.5


def test_agreement_matrix_matches_loops(table, pool):
    for g, qs in groups(table).items():
        got = np.array(stat(pool, g)["agreement"])
        want = np.array([[ref_agreement(table, a, b, qs) for b in range(3)] for a in range(3)])
        np.testing.assert_allclose(got, want, atol=1e-12, err_msg=g)
        np.testing.assert_allclose(np.diag(got), 1.0)


def test_calibration_queries_are_left_out(table, pool):
    assert pool["queries"] == 6 and pool["all"]["queries"] == 6
    assert pool["by_family"]["fa"]["queries"] == 4 and pool["by_family"]["fb"]["queries"] == 2
    other = rp.Tables(**{**table.__dict__, "metric": table.metric.copy(), "scores": table.scores.copy()})
    other.metric[6:] = 1 - other.metric[6:]
    other.scores[:, 6:] = np.random.default_rng(0).normal(size=other.scores[:, 6:].shape)
    assert pl.pool_stats(other, seed=5, resamples=300) == pool


def test_result_is_json_safe_and_the_table_names_every_figure(pool, tmp_path):
    json.dumps(pool, allow_nan=False)
    text = pl.pool_table(pool)
    assert "| good | " in text and "| oracle (best of n) |" in text and "pool conditions: NO" in text
    acc = pool["all"]["ranking_accuracy"]["good"]
    assert f"{100 * acc['mean']:.1f} ({100 * acc['ci95'][0]:.1f}-{100 * acc['ci95'][1]:.1f})" in text
    plots.plot_pool(pool, tmp_path / "pool.png")
    assert (tmp_path / "pool.png").stat().st_size > 1000


def _condition_tables(fail: bool):
    """Two families of 4 test queries (+ 1 calibration each), metric [1, .6, .3, 0] shuffled per
    query. To pass: RM a orders fa perfectly and swaps the top two on fb, b the mirror, c swaps the
    top two everywhere. To fail: a and b perfect everywhere, c constant."""
    rng = np.random.default_rng(1)
    perfect, swapped = np.array([4.0, 3, 2, 1]), np.array([3.0, 4, 2, 1])
    metric, scores, fam = [], [], []
    for q in range(10):
        f = q % 2
        perm = rng.permutation(4)
        metric.append(np.array([1, 0.6, 0.3, 0])[perm])
        a = perfect if (f == 0 or fail) else swapped
        b = perfect if (f == 1 or fail) else swapped
        c = np.full(4, 2.0) if fail else swapped
        scores.append([a[perm], b[perm], c[perm]])
        fam.append(f)
    return _tables(metric, np.moveaxis(np.array(scores), 1, 0), fam, [0] * 8 + [1, 1], rm_names=("a", "b", "c"))


def test_conditions_hold_on_a_pool_built_to_pass():
    c = pl.pool_stats(_condition_tables(False), resamples=200)["conditions"]
    assert c["no_rm_blind"]["holds"] and c["no_rm_blind"]["max_blind_share"] == 0.0
    assert c["every_rm_above_chance"]["holds"]
    assert c["every_rm_above_chance"]["families_above_chance"] == {"a": ["fa", "fb"], "b": ["fa", "fb"],
                                                                    "c": ["fa", "fb"]}
    assert c["best_rm_differs"]["holds"] and c["best_rm_differs"]["best_by_family"] == {"fa": ["a"], "fb": ["b"]}
    # the ensemble follows the two RMs that swap: 0.6 against the oracle's 1
    assert c["ensemble_below_oracle"]["holds"]
    assert c["ensemble_below_oracle"]["oracle_minus_ensemble"] == pytest.approx(0.4)
    assert c["all"] is True


def test_conditions_fail_on_a_pool_built_to_fail():
    pool = pl.pool_stats(_condition_tables(True), resamples=200)
    c = pool["conditions"]
    assert not c["no_rm_blind"]["holds"] and c["no_rm_blind"]["max_blind_share"] == 1.0
    assert c["no_rm_blind"]["rm"] == "c"
    assert not c["every_rm_above_chance"]["holds"] and c["every_rm_above_chance"]["families_above_chance"]["c"] == []
    # a and b are perfect on both families: among the best everywhere
    assert not c["best_rm_differs"]["holds"] and c["best_rm_differs"]["best_everywhere"] == ["a", "b"]
    assert not c["ensemble_below_oracle"]["holds"]
    assert c["ensemble_below_oracle"]["oracle_minus_ensemble"] == pytest.approx(0.0)
    assert c["all"] is False
    assert pool["all"]["reference"]["best_single"] == 1.0 and pool["all"]["reference"]["best_rm"] == "a"


def test_top1_is_the_replays_fixed_rm_and_ensemble_answer():
    """Continuous scores (no ties) with some NaN: top1 equals the replay's per-query metric."""
    rng = np.random.default_rng(2)
    q, n = 24, 5
    scores = rng.normal(size=(3, q, n))
    scores[rng.random(scores.shape) < 0.15] = NAN
    scores[:, :, 0] = rng.normal(size=(3, q))  # at least one finite score per RM and query
    t = _tables(rng.random((q, n)), scores, rng.integers(2, size=q), np.arange(q) < 6)
    pool = pl.pool_stats(t, resamples=50)
    res = rp.replay(t, ["fixed:good", "fixed:noisy", "ensemble"], orders=2, seed=0)
    for rm in ("good", "noisy"):
        assert pool["all"]["top1"][rm] == pytest.approx(stats.per_query(res[f"fixed:{rm}"]).mean())
    assert pool["all"]["reference"]["ensemble"] == pytest.approx(stats.per_query(res["ensemble"]).mean())
