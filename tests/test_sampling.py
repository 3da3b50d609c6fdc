"""The jitted sampler against an independent reference: the full model (no KV cache) run on each
prompt unpadded, followed by the generated tokens (right-padded to one fixed length so a single
compile serves every step; causal attention makes the right padding irrelevant)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from laser_jax import sampling as S
from laser_jax.models import decoder as D
from laser_jax.models.config import DecoderConfig

CFG = DecoderConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4,
                    num_kv_heads=2, head_dim=8)
PROMPTS = [[5, 17, 3, 88, 42], [9, 1, 60], [33]]  # different lengths -> left padding
PAD = 0
T = max(len(p) for p in PROMPTS)
M = 7
REF_LEN = T + M + 1


@pytest.fixture(scope="module")
def model():
    m = D.build(CFG, rngs=nnx.Rngs(0))
    # Sharpen the output distribution (random init gives nearly uniform logits) so that top-p and
    # greedy choices are well separated.
    m.lm_head.kernel[...] = m.lm_head.kernel[...] * 40.0
    return m


@pytest.fixture(scope="module")
def batch():
    ids = np.full((len(PROMPTS), T), PAD, np.int32)
    mask = np.zeros((len(PROMPTS), T), np.int32)
    for i, p in enumerate(PROMPTS):
        ids[i, T - len(p):] = p
        mask[i, T - len(p):] = 1
    return jnp.asarray(ids), jnp.asarray(mask)


def make_ref(model):
    """seq (list of ids, unpadded) -> float64 logits [len(seq), V] from the full model, no cache."""
    graphdef, state = nnx.split(model)
    fwd = jax.jit(lambda s, ids: nnx.merge(graphdef, s)(ids))

    def run(seq):
        buf = np.full((1, REF_LEN), PAD, np.int32)
        buf[0, :len(seq)] = seq
        return np.asarray(fwd(state, jnp.asarray(buf)), np.float64)[0, :len(seq)]

    return run


@pytest.fixture(scope="module")
def ref_logits(model):
    return make_ref(model)


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def np_sampling_logprobs(logits, temperature, top_p, top_k):
    """Reference of the truncated, renormalised distribution sampled from (log-probs, -inf outside)."""
    z = logits / temperature
    if top_k:
        kth = np.sort(z)[::-1][top_k - 1]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(log_softmax(z))
    order = np.argsort(-p, kind="stable")
    before = np.cumsum(p[order]) - p[order]
    n_keep = max(1, int(np.sum(before < top_p)))
    z = np.where(z < z[order[n_keep - 1]], -np.inf, z)
    return log_softmax(z)


def check_greedy(model, batch, ref_logits):
    ids, mask = batch
    out = S.greedy(model, ids, mask, M, eos_ids=(), pad_id=PAD)
    assert out.tokens.shape == (len(PROMPTS), 1, M) and out.tokens.dtype == jnp.int32
    for i, prompt in enumerate(PROMPTS):
        seq, lps = list(prompt), []
        for _ in range(M):
            logits = ref_logits(seq)[-1]
            tok = int(np.argmax(logits))
            lps.append(log_softmax(logits)[tok])
            seq.append(tok)
        np.testing.assert_array_equal(np.asarray(out.tokens[i, 0]), seq[len(prompt):])
        np.testing.assert_allclose(np.asarray(out.logprobs[i, 0]), lps, atol=1e-4)
        np.testing.assert_array_equal(np.asarray(out.sampling_logprobs[i, 0]), 0.0)
    np.testing.assert_array_equal(np.asarray(out.lengths), M)
    assert not np.asarray(out.finished).any() and int(out.steps) == M


def test_greedy_matches_stepwise_argmax_of_full_model(model, batch, ref_logits):
    check_greedy(model, batch, ref_logits)


# Other decoder features the decode step re-implements around the model's modules: Qwen3-style
# q/k norms + qkv bias + tied embeddings + sliding-window layers (window 3 < prompt + generated),
# OLMo-style non-parametric LayerNorm + qkv clipping + biases everywhere.
VARIANTS = {
    "qwen3_sliding_tied": CFG.replace(family="qwen3", qk_norm=True, qkv_bias=True, sliding_window=3,
                                      layer_types=("sliding_attention", "full_attention"), tie_word_embeddings=True),
    "olmo_clip_bias": CFG.replace(family="olmo", norm="layernorm_np", clip_qkv=0.05, o_bias=True, mlp_bias=True,
                                  qkv_bias=True, num_kv_heads=4),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_greedy_matches_full_model_for_other_families(batch, variant):
    cfg = VARIANTS[variant]
    m = D.build(cfg, rngs=nnx.Rngs(1))
    out = m.model.embed.embedding if cfg.tie_word_embeddings else m.lm_head.kernel
    out[...] = out[...] * 40.0
    # biases start at zero; give them values so that they are exercised
    for path, leaf in nnx.iter_graph(m):
        if isinstance(leaf, nnx.Param) and path[-1] == "bias":
            leaf[...] = 0.3 * jax.random.normal(jax.random.key(len(path)), leaf.shape)
    check_greedy(m, batch, make_ref(m))


@pytest.mark.parametrize("temperature,top_p,top_k", [(0.8, 0.9, 0), (1.3, 0.95, 6)])
def test_sampled_logprobs_match_full_model(model, batch, ref_logits, temperature, top_p, top_k):
    ids, mask = batch
    n = 3
    cfg = S.SamplingConfig(max_new_tokens=M, temperature=temperature, top_p=top_p, top_k=top_k, n=n, pad_id=PAD)
    out = S.sample(model, ids, mask, jax.random.key(7), cfg)
    assert out.tokens.shape == (len(PROMPTS), n, M) and out.logprobs.dtype == jnp.float32
    tokens = np.asarray(out.tokens)
    for i, prompt in enumerate(PROMPTS):
        for j in range(n):
            gen = tokens[i, j].tolist()
            logits = ref_logits(list(prompt) + gen)[len(prompt) - 1:-1]  # logits that predicted gen
            lp = log_softmax(logits)[np.arange(M), gen]
            np.testing.assert_allclose(np.asarray(out.logprobs[i, j]), lp, atol=1e-4)
            slp = np.array([np_sampling_logprobs(logits[s], temperature, top_p, top_k)[g]
                            for s, g in enumerate(gen)])
            assert np.isfinite(slp).all(), "a sampled token lies outside the top-k / top-p set"
            np.testing.assert_allclose(np.asarray(out.sampling_logprobs[i, j]), slp, atol=1e-4)
        # n samples of one prompt are different draws, not copies
        assert len({tuple(r) for r in tokens[i].tolist()}) > 1


def test_seed_determinism_and_no_recompile_for_temperature(model, batch):
    ids, mask = batch
    cfg = S.SamplingConfig(max_new_tokens=M, temperature=1.0, n=2, pad_id=PAD)
    a = S.sample(model, ids, mask, jax.random.key(3), cfg)
    size = S._sample_jit._cache_size()
    b = S.sample(model, ids, mask, jax.random.key(3), cfg)
    c = S.sample(model, ids, mask, jax.random.key(4), cfg)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    np.testing.assert_array_equal(np.asarray(a.logprobs), np.asarray(b.logprobs))
    assert (np.asarray(a.tokens) != np.asarray(c.tokens)).any()
    S.sample(model, ids, mask, jax.random.key(3), S.SamplingConfig(max_new_tokens=M, temperature=0.6, n=2,
                                                                   pad_id=PAD))
    assert S._sample_jit._cache_size() == size, "changing the temperature recompiled the sampler"


def test_last_hidden_is_each_prompts_final_hidden_state(model, batch):
    """SampleOutput.last_hidden (the bandit's "last_hidden" context, taken from the prefill) equals
    the full model's final hidden state at the last token of each prompt run alone, unpadded."""
    ids, mask = batch
    out = S.sample(model, ids, mask, jax.random.key(0), S.SamplingConfig(max_new_tokens=M, n=2, pad_id=PAD))
    got = np.asarray(out.last_hidden)
    assert got.shape == (len(PROMPTS), CFG.hidden_size) and got.dtype == np.float32
    for i, p in enumerate(PROMPTS):
        want, _ = model.hidden(jnp.asarray([p], jnp.int32))
        np.testing.assert_allclose(got[i], np.asarray(want[0, -1]), rtol=1e-5, atol=1e-5)
    assert np.abs(got[0] - got[1]).max() > 1e-3  # rows are the prompts' own


def test_eos_lengths_padding_and_early_stop(model, batch):
    ids, mask = batch
    free = np.asarray(S.greedy(model, ids, mask, M, pad_id=PAD).tokens[:, 0])
    # every row stops: EOS = the union of tokens the rows emit at steps 1..2
    eos = tuple(sorted({int(free[0, 2]), int(free[1, 1]), int(free[2, 2])}))
    pad = 96
    out = S.greedy(model, ids, mask, M, eos_ids=eos, pad_id=pad)
    expect_len = [next(s for s in range(M) if free[i, s] in eos) + 1 for i in range(len(PROMPTS))]
    tokens = np.asarray(out.tokens[:, 0])
    np.testing.assert_array_equal(np.asarray(out.lengths[:, 0]), expect_len)
    assert np.asarray(out.finished).all()
    for i, n_tok in enumerate(expect_len):
        np.testing.assert_array_equal(tokens[i, :n_tok], free[i, :n_tok])
        assert tokens[i, n_tok - 1] in eos
        np.testing.assert_array_equal(tokens[i, n_tok:], pad)
        np.testing.assert_array_equal(np.asarray(out.logprobs[i, 0, n_tok:]), 0.0)
    assert int(out.steps) == max(expect_len) < M, "the decode loop did not stop once all rows finished"


def test_finished_rows_do_not_disturb_the_others(model, batch):
    ids, mask = batch
    base = S.SamplingConfig(max_new_tokens=M, temperature=0.9, n=2, pad_id=PAD)
    key = jax.random.key(11)
    free = S.sample(model, ids, mask, key, base)
    ftok = np.asarray(free.tokens)
    eos = int(ftok[0, 1, 1])  # sample (0, 1) ends at step <= 1
    out = S.sample(model, ids, mask, key, S.SamplingConfig(**{**base.__dict__, "eos_ids": (eos,)}))
    tok, lengths, fin = np.asarray(out.tokens), np.asarray(out.lengths), np.asarray(out.finished)
    assert lengths[0, 1] <= 2 and fin[0, 1]
    for i in range(len(PROMPTS)):
        for j in range(2):
            hits = np.flatnonzero(ftok[i, j] == eos)
            n_tok = int(hits[0]) + 1 if hits.size else M
            assert lengths[i, j] == n_tok and fin[i, j] == bool(hits.size)
            np.testing.assert_array_equal(tok[i, j, :n_tok], ftok[i, j, :n_tok])
            np.testing.assert_allclose(np.asarray(out.logprobs[i, j, :n_tok]),
                                       np.asarray(free.logprobs[i, j, :n_tok]), atol=1e-5)
            np.testing.assert_array_equal(tok[i, j, n_tok:], PAD)


@pytest.mark.parametrize("top_p,top_k", [(1e-6, 0), (1.0, 1)])
def test_tiny_top_p_and_top_k_one_are_greedy(model, batch, top_p, top_k):
    ids, mask = batch
    g = S.greedy(model, ids, mask, M, pad_id=PAD)
    cfg = S.SamplingConfig(max_new_tokens=M, temperature=0.8, top_p=top_p, top_k=top_k, n=3, pad_id=PAD)
    out = S.sample(model, ids, mask, jax.random.key(5), cfg)
    for j in range(3):
        np.testing.assert_array_equal(np.asarray(out.tokens[:, j]), np.asarray(g.tokens[:, 0]))
        np.testing.assert_allclose(np.asarray(out.logprobs[:, j]), np.asarray(g.logprobs[:, 0]), atol=1e-6)
    np.testing.assert_allclose(np.asarray(out.sampling_logprobs), 0.0, atol=1e-6)


def test_filter_logits_matches_numpy():
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(6, 1000)) * rng.uniform(0.5, 4, size=(6, 1))).astype(np.float32)
    logits[0, :3] = logits[0, 3]  # ties at the top
    logits[1, 10:] = -np.inf  # already excluded
    for temperature, top_p, top_k in [(1.0, 0.9, 0), (0.7, 0.5, 0), (1.0, 1.0, 40), (1.2, 0.8, 25), (1.0, 1e-6, 0)]:
        got = np.asarray(S.filter_logits(jnp.asarray(logits), temperature, top_p, top_k, use_top_p=top_p < 1))
        for r in range(logits.shape[0]):
            want = np_sampling_logprobs(logits[r].astype(np.float64), temperature, top_p, top_k)
            np.testing.assert_array_equal(np.isfinite(got[r]), np.isfinite(want), err_msg=f"{temperature, top_p, top_k}")


def test_categorical_draws_follow_softmax():
    z = np.full((97,), -np.inf, np.float32)
    z[[0, 5, 31, 32, 63, 96]] = [0.0, 1.0, -1.0, 0.5, 2.0, -0.5]  # several chunks, a partial last one
    rows = 40000
    tok, logp = jax.jit(S.categorical)(jax.random.key(0), jnp.broadcast_to(jnp.asarray(z), (rows, 97)))
    tok = np.asarray(tok)
    p = np.exp(log_softmax(z[np.isfinite(z)].astype(np.float64)))
    freq = np.array([(tok == i).mean() for i in np.flatnonzero(np.isfinite(z))])
    assert np.isin(tok, np.flatnonzero(np.isfinite(z))).all()
    assert (np.abs(freq - p) <= 4 * np.sqrt(p * (1 - p) / rows)).all(), (freq, p)  # within 4 sigma
    np.testing.assert_allclose(np.asarray(logp), log_softmax(np.where(np.isfinite(z), z, -np.inf))[tok], atol=1e-5)


def test_truncate_at_stop():
    texts = ["a + b = 3\nQuestion: next", "no stop here", "END at start", "x</s>y\n\nz", ""]
    stops = ["\nQuestion:", "</s>", "\n\n", "END", ""]
    assert S.truncate_at_stop(texts, stops) == ["a + b = 3", "no stop here", "", "x", ""]
    assert S.truncate_at_stop(["abcabc"], ["c", "bc"]) == ["a"]  # earliest occurrence of any wins
    assert S.truncate_at_stop(["abc"], []) == ["abc"]


class CharTokenizer:
    """id i <-> chr(ord('a') + i); id 25 ('z') is special."""

    def batch_decode(self, seqs, skip_special_tokens=True):
        return ["".join(chr(ord("a") + t) for t in s if not (skip_special_tokens and t == 25)) for s in seqs]


def test_decode_cuts_at_eos_and_stop_strings():
    pad = 99
    tokens = np.array([[[0, 1, 2, 25, pad], [7, 4, 11, 11, 14]], [[3, 4, 5, 6, 7], [25, pad, pad, pad, pad]]])
    out = S.SampleOutput(tokens=jnp.asarray(tokens, jnp.int32), logprobs=jnp.zeros(tokens.shape),
                         sampling_logprobs=jnp.zeros(tokens.shape),
                         lengths=jnp.asarray([[4, 5], [5, 1]], jnp.int32),
                         finished=jnp.asarray([[True, False], [False, True]]), steps=jnp.int32(5))
    assert S.response_ids(out) == [[[0, 1, 2], [7, 4, 11, 11, 14]], [[3, 4, 5, 6, 7], []]]
    assert S.response_ids(out, keep_eos=True)[0][0] == [0, 1, 2, 25]
    assert S.decode(CharTokenizer(), out) == [["abc", "hello"], ["defgh", ""]]
    assert S.decode(CharTokenizer(), out, stop_strings=("ll", "f")) == [["abc", "he"], ["de", ""]]


def test_config_validation():
    with pytest.raises(ValueError, match="top_p"):
        S.SamplingConfig(top_p=0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        S.SamplingConfig(max_new_tokens=0)
    assert S.SamplingConfig(eos_ids=[2, 3]).eos_ids == (2, 3)
