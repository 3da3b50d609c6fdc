"""LikelihoodRM and ImplicitDPORM against PyTorch: the same text, re-tokenised by the RM, scored
from the HF model's own logits one unpadded row at a time."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.errors import ConfigError
from laser_jax.models import load_pretrained
from laser_jax.rewards import ImplicitDPORM, LikelihoodRM, StackedRMs


def _reference_rows(tok, prompts, responses, chat=True):
    """The ids by hand: BOS + tok(template head) | tok(template tail), independent of PairEncoder."""
    rows = []
    for p, r in zip(prompts, responses):
        if chat:
            head = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                           add_generation_prompt=True)
            full = tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                           tokenize=False)
            tail = full[len(head):]
            ids = tok(head)["input_ids"]
            rows.append((ids + tok(tail, add_special_tokens=False)["input_ids"], len(ids)))
        else:
            ids = tok(p)["input_ids"]
            rows.append((ids + tok(r, add_special_tokens=False)["input_ids"] + [tok.eos_token_id], len(ids)))
    return rows


def test_likelihood_rm_is_mean_response_logprob(lm_dirs, jax_lms, tok_a, helpers):
    rm = LikelihoodRM(jax_lms[0], tok_a, "lik", batch_size=4)
    got = rm.score(helpers.PROMPTS, helpers.RESPONSES)
    rows = _reference_rows(tok_a, helpers.PROMPTS, helpers.RESPONSES)
    assert [list(r.ids) for r in rm.encode(helpers.PROMPTS, helpers.RESPONSES)] == [ids for ids, _ in rows]
    want = [helpers.torch_response_logprobs(lm_dirs[0][1], ids, n).mean() for ids, n in rows]
    assert got.shape == (4,) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_implicit_dpo_rm_is_beta_times_logratio(lm_dirs, jax_lms, tok_a, helpers):
    rm = ImplicitDPORM(jax_lms[1], jax_lms[0], tok_a, beta=0.5, name="dpo", batch_size=4)
    got = rm.score(helpers.PROMPTS, helpers.RESPONSES, golds=None)
    rows = _reference_rows(tok_a, helpers.PROMPTS, helpers.RESPONSES)
    want = [0.5 * (helpers.torch_response_logprobs(lm_dirs[1][1], ids, n).sum()
                   - helpers.torch_response_logprobs(lm_dirs[0][1], ids, n).sum()) for ids, n in rows]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


def test_implicit_dpo_with_ref_equal_to_policy_is_exactly_zero(lm_dirs, jax_lms, tok_a, helpers):
    same_object = ImplicitDPORM(jax_lms[0], jax_lms[0], tok_a, 0.1, "self", batch_size=4)
    assert not same_object.score(helpers.PROMPTS, helpers.RESPONSES).any()
    reloaded = load_pretrained(lm_dirs[0][0])  # the same weights in another object: the same program
    other_object = ImplicitDPORM(jax_lms[0], reloaded, tok_a, 0.1, "self2", batch_size=4)
    assert not other_object.score(helpers.PROMPTS, helpers.RESPONSES).any()


def test_rm_retokenises_text_from_another_tokenizer(tmp_path, lm_dirs, tok_a, tok_b, helpers):
    """The policy writes with tokenizer A; an RM whose tokenizer is B (merges, plain format) scores
    the decoded text with B's ids."""
    policy_ids = [tok_a(r, add_special_tokens=False)["input_ids"] for r in helpers.RESPONSES]
    texts = [tok_a.decode(ids) for ids in policy_ids]
    assert texts == helpers.RESPONSES
    tok_b_plain = helpers.make_tokenizer(helpers.MERGES_B, chat=False)
    ref = helpers.save_tiny(tmp_path, "lm", 7, tok_b_plain)
    rm = LikelihoodRM(load_pretrained(tmp_path), tok_b_plain, "b", batch_size=4)
    rows = _reference_rows(tok_b_plain, helpers.PROMPTS, texts, chat=False)
    assert any(len(ids) - n - 1 < len(a) for (ids, n), a in zip(rows, policy_ids))  # B's spans are shorter
    want = [helpers.torch_response_logprobs(ref, ids, n).mean() for ids, n in rows]
    np.testing.assert_allclose(rm.score(helpers.PROMPTS, texts), want, atol=1e-5, rtol=1e-5)


def test_scores_do_not_depend_on_batch_composition(jax_lms, tok_a, helpers):
    rm = ImplicitDPORM(jax_lms[2], jax_lms[0], tok_a, 1.0, "dpo", batch_size=4)
    lik = LikelihoodRM(jax_lms[2], tok_a, "lik", batch_size=4)
    short = ("Hi", "Ok")
    long_prompts = [p * 3 for p in helpers.PROMPTS[:3]]
    long_responses = [r * 2 for r in helpers.RESPONSES[:3]]
    for model in (rm, lik):
        alone = model.score([short[0]], [short[1]])  # 1 row, length bucket 32
        mixed = model.score(long_prompts + [short[0]], long_responses + [short[1]])  # 4 rows, bucket 128+
        assert abs(alone[0] - mixed[-1]) <= 1e-5, (alone, mixed)
        # order of the batch does not matter either
        flipped = model.score([short[0]] + long_prompts[::-1], [short[1]] + long_responses[::-1])
        np.testing.assert_allclose(flipped, np.r_[mixed[-1], mixed[:3][::-1]], atol=1e-5)


def test_input_checks(jax_lms, tok_a, jax_classifiers):
    rm = LikelihoodRM(jax_lms[0], tok_a, "lik")
    with pytest.raises(ValueError, match="2 prompts but 1 responses"):
        rm.score(["a", "b"], ["c"])
    with pytest.raises(TypeError, match="CausalLM"):
        LikelihoodRM(jax_classifiers[0], tok_a, "x")
    with pytest.raises(ValueError, match="beta"):
        ImplicitDPORM(jax_lms[0], jax_lms[1], tok_a, 0.0, "x")
    assert rm.score([], []).shape == (0,)


def test_tokenizer_that_does_not_fit_the_model_is_refused(jax_lms, helpers):
    big = helpers.make_tokenizer([(c, d) for c in "ab" for d in "abcdefghijklmnopqrstuvwxyz"], max_vocab=None)
    rm = LikelihoodRM(jax_lms[0], big, "big")
    with pytest.raises(ValueError, match="vocabulary has 128"):
        rm.score(["bz"], ["bz"])


@pytest.mark.parametrize("chat", [True, False])
def test_prompt_once_scoring_equals_whole_rows(lm_dirs, jax_lms, tok_a, helpers, chat):
    """share_prompt (a prompt's responses scored against the prompt run once) gives what whole rows
    give: likelihood and implicit-DPO RMs, single and stacked, prompts of different lengths (left
    padding), 1 to 5 responses of different lengths per prompt (empty slots), one empty response,
    and the per-row torch reference for the likelihood RM."""
    from laser_jax.rewards.stacked import StackedRMs

    prompts, responses = [], []
    for i, p in enumerate(helpers.PROMPTS):
        for j in range(1 + (2 * i) % 5):
            prompts.append(p)
            responses.append(" ".join(helpers.RESPONSES[(i + j) % 4].split()[: 2 + 3 * j]))
    responses[1] = ""
    kw = dict(batch_size=4, chat_template=chat)
    for make in (lambda share: LikelihoodRM(jax_lms[0], tok_a, "lik", share_prompt=share, **kw),
                 lambda share: ImplicitDPORM(jax_lms[1], jax_lms[0], tok_a, 0.5, "dpo", share_prompt=share, **kw)):
        shared, whole = make(True), make(False)
        got, want = shared.score(prompts, responses), whole.score(prompts, responses)
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
        stacked = StackedRMs.from_rms([make(True), make(True)]).score_all(prompts, responses)
        np.testing.assert_allclose(stacked, np.stack([want, want]), atol=1e-4, rtol=1e-4)
    rows = _reference_rows(tok_a, prompts, responses, chat=chat)
    ref = [helpers.torch_response_logprobs(lm_dirs[0][1], ids, n).mean() if len(ids) > n else 0.0
           for ids, n in rows]
    lik = LikelihoodRM(jax_lms[0], tok_a, "lik", **kw)
    np.testing.assert_allclose(lik.score(prompts, responses), ref, atol=1e-4, rtol=1e-4)


def test_a_tokenizer_of_another_model_is_a_config_error(jax_lms, helpers):
    """An entry's tokenizer that does not belong to its model (ids past its vocabulary) is the
    user's to fix: a ConfigError naming rewards[].tokenizer, single RM and stacked alike."""
    big = helpers.make_tokenizer([(c, d) for c in "ab" for d in "abcdefghijklmnopqrstuvwxyz"], max_vocab=None)
    with pytest.raises(ConfigError, match=r"rewards\[\]\.tokenizer"):
        LikelihoodRM(jax_lms[0], big, "big").score(["bz"], ["bz"])
    with pytest.raises(ConfigError, match=r"StackedRMs\['a', 'b'\].*rewards\[\]\.tokenizer"):
        StackedRMs([jax_lms[0], jax_lms[0]], big, "likelihood", ["a", "b"]).score_all(["bz"], ["bz"])
