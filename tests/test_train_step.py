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

from laser_jax import losses
from laser_jax.models import load_pretrained
from laser_jax.models.lora import add_lora, frozen_filter, trainable_filter
from laser_jax.train_step import PairBatch, StepConfig, make_optimizer, response_logps, train_step

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


def _batch(seed=0, pairs=2, padded=3):
    """Left-padded prompts, right-padded responses; pair 2 padding (weight 0)."""
    rng = np.random.default_rng(seed)
    t = PROMPT_LEN + RESP_LEN
    ids = np.zeros((2 * padded, t), np.int32)
    mask = np.zeros((2 * padded, t), np.int32)
    target = np.zeros((2 * padded, RESP_LEN), np.float32)
    for p in range(pairs):
        plen = rng.integers(2, PROMPT_LEN + 1)
        prompt = rng.integers(2, V, plen)
        for row, rlen in ((p, rng.integers(2, RESP_LEN + 1)), (padded + p, rng.integers(1, RESP_LEN + 1))):
            ids[row, PROMPT_LEN - plen:PROMPT_LEN] = prompt
            mask[row, PROMPT_LEN - plen:PROMPT_LEN] = 1
            ids[row, PROMPT_LEN:PROMPT_LEN + rlen] = rng.integers(2, V, rlen)
            mask[row, PROMPT_LEN:PROMPT_LEN + rlen] = 1
            target[row, :rlen] = 1
    weights = np.array([1.0] * pairs + [0.0] * (padded - pairs), np.float32)
    return PairBatch(jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(target), jnp.asarray(weights))


def _torch_logps(model, batch: PairBatch):
    ids, mask = torch.tensor(np.asarray(batch.ids), dtype=torch.long), torch.tensor(np.asarray(batch.mask))
    pos = torch.clamp(torch.cumsum(mask, 1) - 1, min=0)
    logits = model(ids, attention_mask=mask, position_ids=pos).logits
    lp = torch.log_softmax(logits[:, PROMPT_LEN - 1:-1].double(), -1)
    tok = torch.gather(lp, 2, ids[:, PROMPT_LEN:, None])[..., 0]
    return (tok * torch.tensor(np.asarray(batch.target), dtype=torch.float64)).sum(-1)


def test_response_logps_match_pytorch(tiny):
    ref, path = tiny
    batch = _batch()
    ours, counts = response_logps(load_pretrained(path), batch.ids, batch.mask, batch.target, PROMPT_LEN)
    with torch.no_grad():
        want = _torch_logps(ref, batch).numpy()
    np.testing.assert_allclose(np.asarray(ours), want, atol=1e-4)
    np.testing.assert_array_equal(np.asarray(counts), np.asarray(batch.target).sum(-1))


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
    step = jax.jit(functools.partial(train_step, graphdef, opt, hp, PROMPT_LEN))
    _, _, metrics = step(params, frozen, ref, opt_state, batch)

    moved = tf.LlamaForCausalLM(hf.config).eval()
    moved.load_state_dict({k: v * 1.05 for k, v in hf.state_dict().items()})
    with torch.no_grad():
        pol, base = _torch_logps(moved, batch), _torch_logps(hf, batch)
    p = 3
    w = torch.tensor(np.asarray(batch.weights), dtype=torch.float64)
    margin = (pol[:p] - base[:p]) - (pol[p:] - base[p:])
    dpo = -torch.nn.functional.logsigmoid(0.5 * margin)
    nll = -pol[:p] / torch.tensor(np.asarray(batch.target)[:p].sum(-1)).clamp(min=1)
    want = float(((dpo + 0.3 * nll) * w).sum() / w.sum())
    assert float(metrics["loss"]) == pytest.approx(want, abs=1e-4)
    assert float(metrics["pairs"]) == 2.0


@pytest.mark.parametrize("lora", [False, True])
def test_step_raises_chosen_margin(tiny, lora):
    _, path = tiny
    graphdef, params, frozen, ref, opt, opt_state = _setup(path, lora=lora, lr=5e-3 if not lora else 2e-2)
    batch = _batch(seed=1)
    step = jax.jit(functools.partial(train_step, graphdef, opt, StepConfig(beta=0.1, alpha_nll=0.0), PROMPT_LEN))

    @jax.jit
    def margin(p):  # chosen minus rejected summed log-prob, for the two real pairs
        total, _ = response_logps(nnx.merge(graphdef, p, frozen), batch.ids, batch.mask, batch.target, PROMPT_LEN)
        return total[:2] - total[3:5]

    before = np.asarray(margin(params))
    for _ in range(3):
        params, opt_state, metrics = step(params, frozen, ref, opt_state, batch)
    after = np.asarray(margin(params))
    assert (after > before).all(), (before, after)
    assert float(metrics["accuracy"]) == 1.0


def test_micro_batches_give_the_same_update(tiny):
    _, path = tiny
    graphdef, params, frozen, ref, opt, opt_state = _setup(path, lora=True)
    batch = _batch(seed=2, pairs=3, padded=4)
    outs = []
    for m in (1, 4):
        step = jax.jit(functools.partial(train_step, graphdef, opt, StepConfig(micro_batches=m), PROMPT_LEN))
        outs.append(step(params, frozen, ref, opt_state, batch))
    for p, _, met in outs[1:]:
        assert float(met["loss"]) == pytest.approx(float(outs[0][2]["loss"]), abs=1e-6)
        for a, b in zip(jax.tree.leaves(outs[0][0]), jax.tree.leaves(p)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
