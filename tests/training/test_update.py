"""DPO+NLL: hand-computed values, PyTorch parity of the whole step's loss, and that a step learns."""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as tf
from flax import nnx

from laser_jax.training import losses
from laser_jax.models import load_pretrained
from laser_jax.models.lora import add_lora, frozen_filter, trainable_filter
from laser_jax.models.logprobs import response_logprobs
from laser_jax.training.update import PairBatch, StepConfig, make_optimizer, train_step

PROMPT_LEN, RESP_LEN, V = 6, 5, 97


def test_dpo_nll_by_hand():
    lp = losses.PairLogps(chosen=jnp.array([-10.0, -4.0]), rejected=jnp.array([-12.0, -3.0]),
                          ref_chosen=jnp.array([-11.0, -4.0]), ref_rejected=jnp.array([-11.0, -4.0]),
                          chosen_tokens=jnp.array([5.0, 2.0]))
    out = losses.finalise(losses.preference_loss_sums(lp, jnp.array([1.0, 1.0]), beta=0.1, alpha_nll=0.5))
    # pair 1: margin (−10+11) − (−12+11) = 2;  pair 2: margin 0 − 1 = −1
    dpo = (math.log1p(math.exp(-0.2)) + math.log1p(math.exp(0.1))) / 2
    nll = (10 / 5 + 4 / 2) / 2
    assert float(out["dpo"]) == pytest.approx(dpo, rel=1e-6)
    assert float(out["nll"]) == pytest.approx(nll, rel=1e-6)
    assert float(out["loss"]) == pytest.approx(dpo + 0.5 * nll, rel=1e-6)
    assert float(out["margin"]) == pytest.approx(0.5) and float(out["accuracy"]) == pytest.approx(0.5)
    # label smoothing and IPO
    sm = losses.finalise(losses.preference_loss_sums(lp, jnp.array([1.0, 0.0]), beta=0.1, alpha_nll=0.0,
                                                     label_smoothing=0.1))
    assert float(sm["loss"]) == pytest.approx(0.9 * math.log1p(math.exp(-0.2)) + 0.1 * math.log1p(math.exp(0.2)),
                                              rel=1e-6)
    ipo = losses.finalise(losses.preference_loss_sums(lp, jnp.array([1.0, 0.0]), beta=0.1, alpha_nll=0.0,
                                                      loss_type="ipo"))
    assert float(ipo["loss"]) == pytest.approx((2 - 5) ** 2, rel=1e-6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    ref = tf.LlamaForCausalLM(tf.LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=4, num_key_value_heads=2,
                                             tie_word_embeddings=False)).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    path = tmp_path_factory.mktemp("tiny")
    ref.save_pretrained(path)
    return ref, path


def _batch(seed=0, prompts=2, pairs=2, drop=((1, 1),)):
    """B prompts (left-padded) with P pairs each (right-padded responses); pairs in `drop` weight 0."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((prompts, PROMPT_LEN), np.int32)
    mask = np.zeros((prompts, PROMPT_LEN), np.int32)
    resp = np.zeros((prompts, 2, pairs, RESP_LEN), np.int32)
    rmask = np.zeros((prompts, 2, pairs, RESP_LEN), np.int32)
    for b in range(prompts):
        plen = rng.integers(2, PROMPT_LEN + 1)
        ids[b, PROMPT_LEN - plen:] = rng.integers(2, V, plen)
        mask[b, PROMPT_LEN - plen:] = 1
        for side in range(2):
            for p in range(pairs):
                rlen = rng.integers(1, RESP_LEN + 1)
                resp[b, side, p, :rlen] = rng.integers(2, V, rlen)
                rmask[b, side, p, :rlen] = 1
    weights = np.ones((prompts, pairs), np.float32)
    for b, p in drop:
        weights[b, p] = 0.0
    return PairBatch(*(jnp.asarray(x) for x in (ids, mask, resp, rmask, weights)))


def _torch_logps(model, batch: PairBatch):
    """Each (prompt + response) row run whole in PyTorch: summed response log-probs [B, 2, P]."""
    pids, pmask = np.asarray(batch.prompt_ids), np.asarray(batch.prompt_mask)
    rids, rmask = np.asarray(batch.ids), np.asarray(batch.mask)
    b, _, p, r = rids.shape
    out = np.zeros((b, 2, p))
    for i in range(b):
        for side in range(2):
            for j in range(p):
                ids = torch.tensor(np.concatenate([pids[i], rids[i, side, j]])[None], dtype=torch.long)
                m = torch.tensor(np.concatenate([pmask[i], rmask[i, side, j]])[None])
                pos = torch.clamp(torch.cumsum(m, 1) - 1, min=0)
                logits = model(ids, attention_mask=m, position_ids=pos).logits
                lp = torch.log_softmax(logits[0, PROMPT_LEN - 1:-1].double(), -1)
                tok = torch.gather(lp, 1, ids[0, PROMPT_LEN:, None])[:, 0]
                out[i, side, j] = float((tok * torch.tensor(rmask[i, side, j], dtype=torch.float64)).sum())
    return out


def test_response_logps_match_pytorch(tiny):
    """Prompt run once and shared through the KV cache == each prompt+response row run whole."""
    ref, path = tiny
    batch = _batch()
    b, _, p, r = batch.ids.shape
    ours, counts = response_logprobs(load_pretrained(path), batch.prompt_ids, batch.prompt_mask,
                                  batch.ids.reshape(b, 2 * p, r), batch.mask.reshape(b, 2 * p, r))
    with torch.no_grad():
        want = _torch_logps(ref, batch).reshape(b, 2 * p)
    np.testing.assert_allclose(np.asarray(ours), want, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(counts), np.asarray(batch.mask).reshape(b, 2 * p, r).sum(-1))


def _setup(path, lora: bool, lr=1e-2):
    model = load_pretrained(path)
    if lora:
        add_lora(model, rank=4, alpha=8.0, seed=0)
    graphdef, params, frozen = nnx.split(model, trainable_filter(lora), frozen_filter(lora))
    ref = jax.tree.map(jnp.copy, params)
    opt = make_optimizer(learning_rate=lr, total_steps=10)
    return graphdef, params, frozen, ref, opt, opt.init(params)


def test_step_loss_matches_pytorch_dpo(tiny):
    """The loss the step reports equals DPO+NLL computed in PyTorch from HF's logits (policy
    perturbed away from the reference so the DPO term is not at its trivial value)."""
    hf, path = tiny
    graphdef, params, frozen, ref, opt, opt_state = _setup(path, lora=False)
    params = jax.tree.map(lambda x: x * 1.05, params)  # the policy has moved from the reference
    batch = _batch(seed=3)
    hp = StepConfig(beta=0.5, alpha_nll=0.3)
    step = jax.jit(functools.partial(train_step, graphdef, opt, hp))
    _, _, metrics = step(params, frozen, ref, opt_state, batch)

    moved = tf.LlamaForCausalLM(hf.config).eval()
    moved.load_state_dict({k: v * 1.05 for k, v in hf.state_dict().items()})
    with torch.no_grad():
        pol, base = torch.tensor(_torch_logps(moved, batch)), torch.tensor(_torch_logps(hf, batch))
    w = torch.tensor(np.asarray(batch.weights), dtype=torch.float64)
    margin = (pol[:, 0] - base[:, 0]) - (pol[:, 1] - base[:, 1])
    dpo = -torch.nn.functional.logsigmoid(0.5 * margin)
    nll = -pol[:, 0] / torch.tensor(np.asarray(batch.mask)[:, 0].sum(-1), dtype=torch.float64).clamp(min=1)
    want = float(((dpo + 0.3 * nll) * w).sum() / w.sum())
    assert float(metrics["loss"]) == pytest.approx(want, abs=1e-4)
    assert float(metrics["pairs"]) == 3.0
    np.testing.assert_allclose(np.asarray(metrics["pair_loss"]), (dpo + 0.3 * nll).numpy(), atol=1e-4)


@pytest.mark.parametrize("lora", [False, True])
def test_step_raises_chosen_margin(tiny, lora):
    _, path = tiny
    graphdef, params, frozen, ref, opt, opt_state = _setup(path, lora=lora, lr=5e-3 if not lora else 2e-2)
    batch = _batch(seed=1, drop=())
    step = jax.jit(functools.partial(train_step, graphdef, opt, StepConfig(beta=0.1, alpha_nll=0.0)))
    b, _, p, r = batch.ids.shape

    @jax.jit
    def margin(params):  # chosen minus rejected summed log-prob, per pair
        total, _ = response_logprobs(nnx.merge(graphdef, params, frozen), batch.prompt_ids, batch.prompt_mask,
                                  batch.ids.reshape(b, 2 * p, r), batch.mask.reshape(b, 2 * p, r))
        return total[:, :p] - total[:, p:]

    before = np.asarray(margin(params))
    for _ in range(3):
        params, opt_state, metrics = step(params, frozen, ref, opt_state, batch)
    after = np.asarray(margin(params))
    assert (after > before).all(), (before, after)
    assert float(metrics["accuracy"]) == 1.0


def test_micro_batches_give_the_same_update(tiny):
    _, path = tiny
    graphdef, params, frozen, ref, opt, opt_state = _setup(path, lora=True)
    batch = _batch(seed=2, prompts=4, pairs=2, drop=((0, 1), (3, 0)))
    outs = []
    for m in (1, 4):
        step = jax.jit(functools.partial(train_step, graphdef, opt, StepConfig(micro_batches=m)))
        outs.append(step(params, frozen, ref, opt_state, batch))
    for p, _, met in outs[1:]:
        assert float(met["loss"]) == pytest.approx(float(outs[0][2]["loss"]), abs=1e-6)
        for a, b in zip(jax.tree.leaves(outs[0][0]), jax.tree.leaves(p)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
