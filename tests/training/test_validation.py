"""The training setting's config check: each section by its owner, every problem at once."""

from __future__ import annotations


import pytest

from laser_jax import bandit as selectors
from laser_jax.checkpoint import Checkpointer
from laser_jax.config import ConfigError, base_config
from laser_jax.training.validation import validate
from runs import tiny_config

@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path))
    c = tiny_config()
    validate(c)  # the tiny config itself is valid
    return c


def test_every_problem_is_reported_at_once_naming_its_field(config):
    c = config
    c.training.learning_rate = float("nan")
    c.training.max_grad_norm = float("nan")  # NaN would turn clipping off silently
    c.training.beta = float("inf")
    c.training.keep_checkpoints = 0  # would delete every checkpoint
    c.rewards[0]["noise"] = 1e400  # overflows to inf
    c.sampling.temperature = -1.0
    c.data.holdout_fraction = 1.5
    c.selector_args.alpha = -0.5
    c.mesh.fsdp = 0
    with pytest.raises(ConfigError) as e:
        validate(c)
    text = str(e.value)
    for field in ("training.learning_rate=nan", "training.max_grad_norm=nan", "training.beta=inf",
                  "training.keep_checkpoints=0", "rewards[0].noise=inf", "sampling.temperature=-1.0",
                  "data.holdout_fraction=1.5", "selector_args.alpha=-0.5", "mesh sizes [1, 0, 1]"):
        assert field in text, (field, text)
    assert "invalid config (9 problems)" in text


def test_selector_args_are_declared_by_each_selector():
    for name, sel in selectors.REGISTRY.items():  # normalise comes from bandit.normalise
        assert tuple(sorted(a.name for a in sel.args)) == tuple(sorted(set(sel.valid_hparams) - {"normalise"})), name
    assert selectors.hparams_from_args("exp3", {}, "window")["normalise"] == "window"
    assert "normalise" not in selectors.hparams_from_args("fixed", {"arm": 0}, "window")
    assert dict(base_config().selector_args) == selectors.default_args()
    assert selectors.check_args("fixed", {"arm": 3}, 3) == [
        "selector_args.arm=3 must be an integer in [0, number of reward models) (selector 'fixed')"]
    assert selectors.check_args("fixed", {"arm": 2}, 3) == []
    assert selectors.check_args("exp3", {"gamma": 0.0}, 3)[0].startswith("selector_args.gamma=0.0 must be")
    assert selectors.hparams_from_args("laser", selectors.default_args())["max_pulls"] is None


def test_bandit_config_fields_are_checked_by_name(config):
    config.bandit.reward = "accuracy"
    config.bandit.normalise = "zscore"
    with pytest.raises(ConfigError) as e:
        validate(config)
    assert "bandit.reward='accuracy' must be one of ['loss', 'dpo_loss', 'gold_agreement']" in str(e.value)
    assert "bandit.normalise='zscore' must be one of ['quantile', 'none', 'window']" in str(e.value)


def test_resume_accepts_a_newer_versions_fields_at_their_defaults(tmp_path):
    """A config.json written before bandit.reward / policy.attention existed resumes with them at
    the values that reproduce it; the same fields changed, or any other change, are refused by
    name. selector_args.normalise has moved to bandit.normalise: compared there."""
    import json

    from laser_jax.training.loop import check_workdir_config

    c = base_config()
    old = json.loads(c.to_json_best_effort())
    del old["bandit"]["reward"], old["policy"]["attention"]
    old["selector_args"]["normalise"] = old["bandit"].pop("normalise")  # where it was before
    (tmp_path / "config.json").write_text(json.dumps(old))
    check_workdir_config(c, tmp_path)  # accepted
    c.bandit.normalise = "none"
    with pytest.raises(ConfigError, match=r"bandit.normalise: 'quantile' -> 'none'"):
        check_workdir_config(c, tmp_path)
    c.bandit.normalise = "quantile"
    c.bandit.reward = "dpo_loss"
    with pytest.raises(ConfigError, match=r"bandit.reward: None -> 'dpo_loss'"):
        check_workdir_config(c, tmp_path)
    c.bandit.reward = "loss"
    c.seed = 7
    with pytest.raises(ConfigError, match=r"seed: 0 -> 7"):
        check_workdir_config(c, tmp_path)


def test_a_bool_is_not_a_mesh_size_or_a_checkpoint_count(config):
    """`True == 1` in Python: the mesh sizes and keep_checkpoints go through errors.is_int."""
    config.mesh.data = True
    with pytest.raises(ConfigError, match=r"mesh sizes \[True, "):
        validate(config)
    with pytest.raises(ConfigError, match="keep_checkpoints=True"):
        Checkpointer("/nonexistent", keep=True)


def test_prompt_bucket_is_checked_and_sets_the_padded_length(config):
    """sampling.prompt_bucket: prompts are left-padded to their longest rounded up to a multiple of
    it, at most max_prompt_tokens (one shape for every batch when it equals max_prompt_tokens)."""
    from types import SimpleNamespace

    from laser_jax.data import Example
    from laser_jax.models.tiny import tokenizer
    from laser_jax.training.step import encode

    tok = tokenizer()
    examples = [Example(f"e{i}", "gsm8k", "What is 1 + 2?" * (i + 1), "3") for i in range(2)]
    config.sampling.max_prompt_tokens = 1024
    rt = SimpleNamespace(config=config, tokenizer=tok, sample_cfg=SimpleNamespace(pad_id=0))
    longest = int(encode(rt, examples).mask.sum(axis=1).max())  # the prompts' tokens (chat template too)
    assert 1 < longest < 1024 - 64
    for bucket, want in ((64, -(-longest // 64) * 64), (7, -(-longest // 7) * 7), (1024, 1024)):
        config.sampling.prompt_bucket = bucket
        batch = encode(rt, examples)
        assert batch.ids.shape == (2, want) and batch.mask.sum(axis=1).max() == longest, bucket
    config.sampling.prompt_bucket = 0
    with pytest.raises(ConfigError, match=r"sampling.prompt_bucket=0 must be an integer >= 1"):
        validate(config)
