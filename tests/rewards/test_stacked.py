"""Stacked RMs: one vmapped call over K weight sets equals K individual calls."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.models.decoder import abstract
from laser_jax.rewards import (ClassifierRM, ImplicitDPORM, LikelihoodRM, NoisyRM, RMSet, StackedRMs, exact_match,
                               score_with)


def _loop(rms, prompts, responses, golds=None):
    return np.stack([rm.score(prompts, responses, golds) for rm in rms])


def test_stacked_likelihood_k3_equals_loop(jax_lms, tok_a, helpers):
    rms = [LikelihoodRM(m, tok_a, f"lik{i}", batch_size=4) for i, m in enumerate(jax_lms)]
    stack = StackedRMs(jax_lms, tok_a, "likelihood", [rm.name for rm in rms], batch_size=4)
    got = stack.score_all(helpers.PROMPTS, helpers.RESPONSES)
    want = _loop(rms, helpers.PROMPTS, helpers.RESPONSES)
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    assert np.abs(want[0] - want[1]).max() > 1e-3  # the RMs really differ


def test_stacked_classifier_k2_equals_loop(jax_classifiers, tok_a, helpers):
    rms = [ClassifierRM(m, tok_a, f"cls{i}", label=i, batch_size=4) for i, m in enumerate(jax_classifiers)]
    stack = StackedRMs.from_rms(rms)
    assert stack.kind == "classifier" and stack.labels.tolist() == [0, 1]
    np.testing.assert_allclose(stack.score_all(helpers.PROMPTS, helpers.RESPONSES),
                               _loop(rms, helpers.PROMPTS, helpers.RESPONSES), atol=1e-5, rtol=0)


def test_stacked_implicit_dpo_equals_loop(jax_lms, tok_a, helpers):
    shared = [ImplicitDPORM(jax_lms[i], jax_lms[0], tok_a, b, f"dpo{i}", batch_size=4)
              for i, b in ((1, 0.1), (2, 0.5))]
    own = [ImplicitDPORM(jax_lms[1], jax_lms[2], tok_a, 0.1, "a", batch_size=4),
           ImplicitDPORM(jax_lms[2], jax_lms[1], tok_a, 0.2, "b", batch_size=4)]
    for rms, shared_ref in ((shared, True), (own, False)):
        stack = StackedRMs.from_rms(rms)
        assert stack.shared_ref == shared_ref
        np.testing.assert_allclose(stack.score_all(helpers.PROMPTS, helpers.RESPONSES),
                                   _loop(rms, helpers.PROMPTS, helpers.RESPONSES), atol=1e-5, rtol=0)


def test_score_with_groups_stackable_rms_and_keeps_order(jax_lms, jax_classifiers, tok_a, helpers):
    golds = ["18", "yes", "7", "7"]
    rms = [LikelihoodRM(jax_lms[0], tok_a, "lik0", batch_size=4),
           exact_match("gsm8k"),
           ClassifierRM(jax_classifiers[0], tok_a, "cls0", batch_size=4),
           NoisyRM(LikelihoodRM(jax_lms[1], tok_a, "lik1", batch_size=4), 0.3, seed=1),
           ClassifierRM(jax_classifiers[1], tok_a, "cls1", batch_size=4),
           LikelihoodRM(jax_lms[2], tok_a, "lik2", batch_size=4),
           LikelihoodRM(jax_lms[2], tok_a, "lik2_other_batch", batch_size=2)]  # other settings: not stacked
    rmset = RMSet(rms)
    stacks = {tuple(members): scorer for members, scorer in rmset.plan}
    assert isinstance(stacks[(0, 3, 5)], StackedRMs) and isinstance(stacks[(2, 4)], StackedRMs)
    assert stacks[(1,)] is rms[1] and stacks[(6,)] is rms[6]
    got = score_with(rms, helpers.PROMPTS, helpers.RESPONSES, golds)
    want = _loop(rms, helpers.PROMPTS, helpers.RESPONSES, golds)
    assert got.shape == (7, 4)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    np.testing.assert_allclose(RMSet(rms, stack=False).score_all(helpers.PROMPTS, helpers.RESPONSES, golds), want,
                               atol=1e-5, rtol=0)


def test_different_architectures_are_not_stacked(jax_lms, tok_a, tok_b):
    cfg = jax_lms[0].cfg.replace(num_layers=1)
    other = abstract(cfg)  # shapes only: never run
    rms = [LikelihoodRM(jax_lms[0], tok_a, "a"), LikelihoodRM(other, tok_a, "b"), LikelihoodRM(jax_lms[1], tok_b, "c")]
    assert len({rm.stack_key() for rm in rms}) == 3
    assert all(len(members) == 1 for members, _ in RMSet(rms).plan)
    with pytest.raises(ValueError, match="cannot be stacked"):
        StackedRMs.from_rms(rms[:2])
    with pytest.raises(ValueError, match="architecture"):
        StackedRMs([jax_lms[0], other], tok_a, "likelihood", ["a", "b"])
    with pytest.raises(ValueError, match="kind='foo'"):
        StackedRMs(jax_lms, tok_a, "foo", ["a", "b", "c"])
