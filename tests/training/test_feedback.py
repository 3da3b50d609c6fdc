"""The bandit rewards (laser_jax/training/feedback.py) and the RMs' agreement (laser_jax/bandit/combine.py)
on hand-made steps."""

import numpy as np
import pytest

from laser_jax.bandit.combine import pair_agreement
from laser_jax.data.example import Example
from laser_jax.training import feedback

VALID = np.array([[True, True], [True, False], [False, False]])
METRICS = {"loss": 0.75, "dpo": 0.5, "pair_loss": np.array([[0.5, 1.5], [2.0, 9.0], [3.0, 3.0]]),
           "pair_dpo": np.array([[0.25, 0.75], [1.0, 9.0], [3.0, 3.0]])}


def test_loss_and_dpo_loss_per_batch_and_per_prompt():
    assert float(feedback.bandit_reward("loss", METRICS, VALID)) == -0.75
    assert float(feedback.bandit_reward("dpo_loss", METRICS, VALID)) == -0.5
    np.testing.assert_array_equal(feedback.bandit_reward("loss", METRICS, VALID, per_prompt=True),
                                  np.float32([-(0.5 + 1.5) / 2, -2.0, -np.inf]))  # no valid pair: -inf
    np.testing.assert_array_equal(feedback.bandit_reward("dpo_loss", METRICS, VALID, per_prompt=True),
                                  np.float32([-(0.25 + 0.75) / 2, -1.0, -np.inf]))
    for kind in feedback.REWARDS:  # nothing trained: the worst reward, whatever the kind
        assert float(feedback.bandit_reward(kind, None, VALID)) == -np.inf
        np.testing.assert_array_equal(feedback.bandit_reward(kind, None, np.zeros_like(VALID), per_prompt=True),
                                      np.full(3, -np.inf, np.float32))
    with pytest.raises(ValueError, match="bandit.reward='nope' must be one of"):
        feedback.bandit_reward("nope", METRICS, VALID)


def test_gold_agreement_counts_only_pairs_that_differ_in_correctness():
    correct = np.array([[1, 0, 0, 1], [0, 0, 1, 1], [1, 1, 0, 0]], bool)
    chosen = np.array([[0, 3], [2, 0], [0, 1]])
    rejected = np.array([[1, 2], [1, 3], [2, 3]])
    valid = np.array([[True, True], [True, True], [True, False]])
    # pairs: (0>1: right), (3>2: right); (2>1: right), (0>3: wrong); (0>2: right), invalid
    assert float(feedback.bandit_reward("gold_agreement", METRICS, valid, correct=correct, chosen=chosen,
                                        rejected=rejected)) == pytest.approx(4 / 5)
    per = feedback.bandit_reward("gold_agreement", METRICS, valid, per_prompt=True, correct=correct,
                                 chosen=chosen, rejected=rejected)
    np.testing.assert_allclose(per, [1.0, 0.5, 1.0])
    same = np.ones_like(correct)  # no pair differs in correctness: no evidence either way
    assert float(feedback.bandit_reward("gold_agreement", METRICS, valid, correct=same, chosen=chosen,
                                        rejected=rejected)) == 0.5
    with pytest.raises(ValueError, match="correctness"):
        feedback.bandit_reward("gold_agreement", METRICS, valid)


def test_rm_agreement_by_hand():
    raw = np.full((3, 2, 4), np.nan)
    raw[0] = [[4, 1, 2, 3], [0, 1, 2, 3]]  # RM 0 scores everything
    raw[1, 0] = [1, 2, 2, 1]  # RM 1 scores prompt 0 only
    chosen, rejected = np.array([[0, 3], [3, 0]]), np.array([[1, 2], [0, 1]])
    valid = np.array([[True, True], [True, False]])
    got = pair_agreement(raw, chosen, rejected, valid)
    # RM 0: 4>1 yes, 3>2 yes, 3>0 yes -> 1; RM 1: 1<2 no, 1<2 no -> 0; RM 2: no vote -> NaN
    np.testing.assert_array_equal(got[:2], [1.0, 0.0])
    assert np.isnan(got[2])
    raw[1, 0] = [2, 2, 1, 2]  # a tie counts 1/2: (0 vs 1) tie, (3 vs 2) yes
    assert pair_agreement(raw, chosen, rejected, valid)[1] == pytest.approx(0.75)


def test_response_correct_uses_the_tasks_answer_check():
    exs = [Example(uid="a", task="gsm8k", question="1+1?", answer="2"),
           Example(uid="b", task="gsm8k", question="2+2?", answer=None)]
    got = feedback.response_correct(exs, [["The answer is 2", "The answer is 3"], ["4", "4"]])
    np.testing.assert_array_equal(got, [[True, False], [False, False]])
