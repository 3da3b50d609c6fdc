"""Pairwise win rate with both presentation orders (laser_jax.judge.winrate)."""

import math
import warnings

import numpy as np
import pytest

from laser_jax.data import DataError
from laser_jax.judge.winrate import judgement_from_logits, outcomes, win_rate


def _percentile_bootstrap(values, resamples, seed):
    """The interval written out here: means of seeded resamples of the prompts, 2.5 / 97.5 %."""
    values = np.asarray(values, float)
    idx = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    return list(np.quantile(values[idx].mean(axis=1), [0.025, 0.975]))


def test_hand_computed_outcomes_and_categories():
    categories = ["code", "code", "code", "chat", "chat", "math"]
    ab = ["first", "first", "second", "tie", 0.9, 0.2]
    ba = ["second", "first", "first", "second", 0.1, 0.3]
    # prompt 0: AB prefers A, BA prefers A                -> 1   (win)
    # prompt 1: AB prefers A, BA prefers B                -> 1/2 (disagreement)
    # prompt 2: AB prefers B, BA prefers B                -> 0   (loss)
    # prompt 3: AB tie,       BA prefers A                -> 1/2 (tie)
    # prompt 4: 0.9 = first = A, 0.1 = second = A         -> 1
    # prompt 5: 0.2 = second = B, 0.3 = second = A        -> 1/2 (disagreement)
    assert outcomes(ab, ba).tolist() == [1, 0.5, 0, 0.5, 1, 0.5]
    assert outcomes([0.5, 0.5], [0.1, 0.9]).tolist() == [0.5, 0.5]  # exactly 0.5 is a tie
    got = win_rate(ab, ba, categories=categories, resamples=2000, seed=0)
    assert got["win_rate"] == pytest.approx(3.5 / 6, abs=1e-15)
    assert (got["prompts"], got["wins"], got["losses"], got["halves"], got["disagreements"]) == \
        (6, 2, 1, 3, 2)
    assert got["prefers_first"] == 5 / 12  # "first" in: p0 AB, p1 both, p2 BA, p4 AB
    assert got["ci95"] == pytest.approx(
        _percentile_bootstrap([1, 0.5, 0, 0.5, 1, 0.5], 2000, 0), abs=1e-12)
    by = got["by_category"]
    assert list(by) == ["chat", "code", "math"]
    assert by["code"]["win_rate"] == 0.5 and by["chat"]["win_rate"] == 0.75
    assert by["math"]["win_rate"] == 0.5 and by["math"]["ci95"] == [0.5, 0.5]
    assert [(by[c]["prompts"], by[c]["wins"], by[c]["losses"], by[c]["halves"],
             by[c]["disagreements"]) for c in ("chat", "code", "math")] == \
        [(2, 1, 0, 1, 0), (3, 1, 1, 1, 1), (1, 0, 0, 1, 1)]
    assert by["code"]["ci95"] == pytest.approx(_percentile_bootstrap([1, 0.5, 0], 2000, 0),
                                               abs=1e-12)


def test_swapping_the_runs_gives_one_minus():
    rng = np.random.default_rng(5)
    labels = np.array(["first", "second", "tie"])
    ab = [str(x) for x in labels[rng.integers(0, 3, 97)]]
    ba = [float(x) for x in rng.random(97)]  # probabilities in the other order
    categories = [str(c) for c in rng.integers(0, 3, 97)]
    a = win_rate(ab, ba, categories=categories, seed=11)
    b = win_rate(ba, ab, categories=categories, seed=11)  # B's verdicts: orders exchanged
    for x, y in [(a, b)] + [(a["by_category"][c], b["by_category"][c]) for c in a["by_category"]]:
        assert (y["wins"], y["losses"], y["halves"]) == (x["losses"], x["wins"], x["halves"])
        assert y["win_rate"] == pytest.approx(1 - x["win_rate"], abs=1e-15)
        assert y["ci95"] == pytest.approx([1 - x["ci95"][1], 1 - x["ci95"][0]], abs=1e-12)
    assert 0 < a["win_rate"] < 1 and a["ci95"][0] < a["win_rate"] < a["ci95"][1]


def test_position_bias_alone_gives_one_half():
    n = 40
    got = win_rate(["first"] * n, ["first"] * n)  # always the first shown response
    assert got["win_rate"] == 0.5 and got["ci95"] == [0.5, 0.5]
    assert got["disagreements"] == n and got["prefers_first"] == 1.0


def test_a_judge_that_always_prefers_run_a_gives_one():
    got = win_rate([0.8] * 25, ["second"] * 25)
    assert got["win_rate"] == 1.0 and got["ci95"] == [1.0, 1.0] and got["wins"] == 25


def _simulate(rng, n, p, q, b):
    """Verdicts in orders AB and BA. Per prompt, A is truly better with probability p. Per order,
    independently: with probability b the judge answers "first" whatever it sees (position bias);
    otherwise it prefers the truly better response with probability q."""
    a_better = rng.random(n) < p

    def order(a_shown_first):
        biased, correct = rng.random(n) < b, rng.random(n) < q
        prefers_a = np.where(correct, a_better, ~a_better)
        says_first = biased | (prefers_a == a_shown_first)
        return np.where(says_first, "first", "second").tolist()

    return order(True), order(False)


def _true_rate(p, q, b):
    """The win rate the simulation's judge gives in expectation.

    Fix one prompt; let c be the chance an unbiased look prefers A (c = q if A is better, 1 - q
    if not). Order AB prefers A when the judge says "first": b + (1 - b) c. Order BA prefers A
    when it says "second": (1 - b) c. Order AB prefers B: (1 - b)(1 - c); order BA prefers B:
    b + (1 - b)(1 - c). The orders are independent, so
      P(win)  = (b + (1 - b) c) (1 - b) c,
      P(loss) = (1 - b)(1 - c) (b + (1 - b)(1 - c)),
      E[outcome] = P(win) + (1 - P(win) - P(loss)) / 2 = 1/2 + (P(win) - P(loss)) / 2,
      P(win) - P(loss) = (1 - b) [b c - b (1 - c) + (1 - b)(c^2 - (1 - c)^2)] = (1 - b)(2c - 1).
    E[outcome] is linear in c, so over prompts c averages to c_bar = p q + (1 - p)(1 - q):
      w = 1/2 + (1 - b)(2 c_bar - 1) / 2."""
    c_bar = p * q + (1 - p) * (1 - q)
    return 0.5 + (1 - b) * (2 * c_bar - 1) / 2


def test_true_rate_derivation_matches_a_large_simulation():
    rng = np.random.default_rng(0)
    for p, q, b in [(0.7, 0.8, 0.0), (0.3, 0.9, 0.25), (0.5, 0.6, 0.5)]:
        ab, ba = _simulate(rng, 200_000, p, q, b)
        assert outcomes(ab, ba).mean() == pytest.approx(_true_rate(p, q, b), abs=0.004)


def test_interval_covers_the_true_rate():
    rng = np.random.default_rng(2024)
    covered = 0
    for sim in range(200):
        p, q, b = rng.uniform(0.2, 0.8), rng.uniform(0.6, 0.95), rng.uniform(0.0, 0.3)
        ab, ba = _simulate(rng, 150, p, q, b)
        lo, hi = win_rate(ab, ba, resamples=1000, seed=sim)["ci95"]
        covered += lo <= _true_rate(p, q, b) <= hi
    # nominal 95 %; with 200 simulations the share sits within ~3 points of it. Seeded: 187/200.
    assert 0.90 <= covered / 200 <= 0.99, covered


def test_judgement_from_logits():
    p, label = judgement_from_logits(2.0, 0.5)
    assert p == pytest.approx(math.exp(2.0) / (math.exp(2.0) + math.exp(0.5)), rel=1e-12)
    assert label == "first"
    p, label = judgement_from_logits(1.0, 1.2, tie_margin=0.25)
    assert p == pytest.approx(math.exp(1.0) / (math.exp(1.0) + math.exp(1.2)), rel=1e-12)
    assert label == "tie"
    assert judgement_from_logits(1.0, 1.3, tie_margin=0.25)[1] == "second"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow at extreme logits
        probs, labels = judgement_from_logits(np.array([1000.0, -1000.0, 3.0]),
                                              np.array([-1000.0, 1000.0, 3.0]))
    assert probs.tolist() == [1.0, 0.0, 0.5] and labels.tolist() == ["first", "second", "tie"]
    # labels and probabilities from the helper give the same win rate
    assert win_rate(labels.tolist(), labels.tolist())["win_rate"] == \
        win_rate(probs.tolist(), probs.tolist())["win_rate"]


def test_bad_inputs_say_what_and_where():
    with pytest.raises(DataError, match="order BA, prompt 1: unknown verdict 'A'"):
        win_rate(["first", "first"], ["second", "A"])
    with pytest.raises(DataError, match="order AB, prompt 0: probability 1.5 is outside"):
        win_rate([1.5], [0.5])
    with pytest.raises(DataError, match="outside"):
        win_rate([float("nan")], [0.5])
    with pytest.raises(DataError, match="2 verdicts in order AB but 1 in order BA"):
        win_rate(["tie", "tie"], ["tie"])
    with pytest.raises(DataError, match="3 categories for 2 prompts"):
        win_rate(["tie", "tie"], ["tie", "tie"], categories=["a", "b", "c"])
    with pytest.raises(DataError, match="shapes"):
        judgement_from_logits(np.zeros(2), np.zeros(3))
