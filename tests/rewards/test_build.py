"""build_reward_model(s): config entries -> reward models, and the errors that name the field."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.errors import ConfigError
from laser_jax.models.cache import ModelCache
from laser_jax.rewards import (ClassifierRM, ImplicitDPORM, LikelihoodRM, NoisyRM, RMSet, StackedRMs, VerifierRM,
                               build_reward_model, build_reward_models)
from laser_jax.rewards.spec import FIELDS, check_spec, value


def test_builds_every_kind_and_shares_loads(lm_dirs, classifier_dirs, helpers):
    cache = ModelCache()
    lm0, lm1 = str(lm_dirs[0][0]), str(lm_dirs[1][0])
    rms = build_reward_models([
        {"name": "dpo", "kind": "implicit_dpo", "path": lm1, "ref_path": lm0, "beta": 0.2, "batch_size": 4},
        {"kind": "likelihood", "path": lm0, "batch_size": 4},
        {"kind": "classifier", "path": str(classifier_dirs[0][0]), "label": 1, "batch_size": 4},
        {"kind": "verifier", "task": "gsm8k"},
        {"name": "noisy", "kind": "likelihood", "path": lm1, "noise": 0.3, "noise_seed": 3, "batch_size": 4},
    ], cache=cache)
    dpo, lik, cls, ver, noisy = rms
    assert isinstance(dpo, ImplicitDPORM) and dpo.beta == 0.2 and dpo.name == "dpo"
    assert isinstance(lik, LikelihoodRM) and lik.name == lm_dirs[0][0].name
    assert isinstance(cls, ClassifierRM) and cls.label == 1
    assert isinstance(ver, VerifierRM) and ver.name == "exact_match:gsm8k"
    assert isinstance(noisy, NoisyRM) and noisy.name == "noisy" and noisy.sigma == 0.3 and noisy.seed == 3
    # one load per path: the reference of `dpo` is the model of `lik`; the policy of `dpo` is noisy's model
    assert dpo.ref_model is lik.model and dpo.policy_model is noisy.rm.model
    assert len(cache._models) == 3
    # the tokenizers of lm0 and lm1 are separate copies of the same files: merged into one object,
    # so lik and noisy's inner RM (same architecture) stack automatically
    assert lik.tokenizer is dpo.tokenizer is noisy.rm.tokenizer
    plan = {tuple(m): s for m, s in RMSet(rms).plan}
    assert isinstance(plan[(1, 4)], StackedRMs)
    scores = RMSet(rms).score_all(helpers.PROMPTS, helpers.RESPONSES, ["18", "yes", "7", "7"])
    assert scores.shape == (5, 4) and np.isfinite(scores).all() and scores[3].tolist() == [1.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("spec, match", [
    ({"kind": "foo"}, r"rewards\[2\]\.kind='foo' is not one of \('classifier', 'likelihood', 'implicit_dpo', "
                      r"'verifier', 'python', 'http', 'judge'\)"),
    ({"path": "x"}, r"rewards\[2\]\.kind is missing"),
    ({"kind": "likelihood"}, r"rewards\[2\]\.path is missing"),
    ({"kind": "implicit_dpo", "path": "x"}, r"rewards\[2\]\.ref_path is missing"),
    ({"kind": "verifier"}, r"rewards\[2\]\.task is missing"),
    ({"kind": "verifier", "task": "squad"}, r"rewards\[2\]\.task: unknown task 'squad'"),
    ({"kind": "verifier", "task": "gsm8k", "rule": "f1"}, r"rewards\[2\]\.rule='f1'"),
    ({"kind": "verifier", "task": "gsm8k", "beta": 1}, r"rewards\[2\]: unknown field\(s\) \['beta'\]"),
    ({"kind": "verifier", "task": "gsm8k", "noise_sigma": -1}, r"rewards\[2\]\.noise_sigma=-1 must be"),
    ({"kind": "verifier", "task": "gsm8k", "noise": "x"}, r"rewards\[2\]\.noise='x' must be"),
    ({"kind": "verifier", "task": "gsm8k", "noise": 0.1, "noise_sigma": 0.1}, r"rewards\[2\]: give noise or"),
    ({"kind": "verifier", "task": "gsm8k", "noise_seed": 1}, r"rewards\[2\]\.noise_seed is set but noise is not"),
    ({"kind": "likelihood", "path": "/no/such/dir"}, r"rewards\[2\]\.path='/no/such/dir': no such file"),
    ("likelihood", r"rewards\[2\] must be a mapping"),
    ({"kind": "likelihood", "path": "x", "batch_size": 2.5}, r"rewards\[2\]\.batch_size=2\.5 must be an integer"),
    ({"kind": "implicit_dpo", "path": "x", "ref_path": "y", "beta": 0}, r"rewards\[2\]\.beta=0 must be a number > 0"),
])
def test_errors_name_the_field(spec, match):
    with pytest.raises(ValueError, match=match):
        build_reward_model(spec, index=2)


@pytest.mark.parametrize("spec, field", [
    ({"kind": "verifier", "task": "gsm8k", "noise": 1e39}, "noise"),
    ({"kind": "verifier", "task": "gsm8k", "noise_sigma": 1e39}, "noise_sigma"),
    ({"kind": "implicit_dpo", "path": "x", "ref_path": "y", "beta": 1e39}, "beta"),
])
def test_a_number_infinite_in_float32_is_refused_by_name(spec, field):
    """1e39 is finite as a Python float but inf in float32, the dtype scores are computed in."""
    with pytest.raises(ValueError, match=rf"rewards\[2\]\.{field}=1e\+39 must be"):
        build_reward_model(spec, index=2)


def test_errors_that_need_a_checkpoint(lm_dirs, classifier_dirs):
    lm0, cls0 = str(lm_dirs[0][0]), str(classifier_dirs[0][0])
    cache = ModelCache()
    cases = [
        ({"kind": "classifier", "path": lm0}, r"rewards\[0\]\.path=.*needs a SequenceClassifier"),
        ({"kind": "likelihood", "path": cls0}, r"rewards\[0\]\.path=.*needs a CausalLM"),
        ({"kind": "implicit_dpo", "path": lm0, "ref_path": cls0}, r"rewards\[0\]\.ref_path=.*must be a CausalLM"),
        ({"kind": "implicit_dpo", "path": lm0, "ref_path": lm0, "beta": -1}, r"rewards\[0\]\.beta=-1 must be"),
        ({"kind": "classifier", "path": cls0, "label": 5}, r"rewards\[0\]\.label=5 must be an integer in \[0, 3\)"),
        ({"kind": "likelihood", "path": lm0, "batch_size": 0}, r"rewards\[0\]\.batch_size=0"),
        ({"kind": "likelihood", "path": lm0, "dtype": "int8"}, r"rewards\[0\]\.dtype: dtype 'int8'"),
        ({"kind": "likelihood", "path": lm0, "chat_template": "yes"}, r"rewards\[0\]\.chat_template='yes'"),
    ]
    for spec, match in cases:
        with pytest.raises(ValueError, match=match):
            build_reward_model(spec, index=0, cache=cache)
    with pytest.raises(ValueError, match=r"rewards\[1\]\.name='a' repeats rewards\[0\]"):
        build_reward_models([{"kind": "verifier", "task": "gsm8k", "name": "a"},
                             {"kind": "verifier", "task": "mmlu", "name": "a"}])


def test_verifier_task_default_and_zero_noise():
    rm = build_reward_model({"kind": "verifier", "noise": 0.0}, default_task="strategyqa")
    assert isinstance(rm, VerifierRM) and rm.name == "exact_match:strategyqa"
    noisy = build_reward_model({"kind": "verifier", "task": "mmlu", "noise_sigma": 0.5})
    assert isinstance(noisy, NoisyRM) and noisy.sigma == 0.5 and noisy.name == "exact_match:mmlu+noise0.5"


def test_tokenizers_are_merged_only_when_identical(tmp_path, helpers):
    dirs = {}
    for name, tok in [("a1", helpers.make_tokenizer()), ("a2", helpers.make_tokenizer()),
                      ("b", helpers.make_tokenizer(helpers.MERGES_B)), ("plain", helpers.make_tokenizer(chat=False))]:
        tok.save_pretrained(tmp_path / name)
        dirs[name] = str(tmp_path / name)
    cache = ModelCache()
    got = {name: cache.tokenizer(path, "rewards[0].path") for name, path in dirs.items()}
    assert got["a1"] is got["a2"]
    assert len({id(t) for t in got.values()}) == 3


def test_bad_entries_are_config_errors_that_need_no_model(lm_dirs, classifier_dirs):
    """What the user wrote wrong in an entry is a ConfigError (exit 2 through a command line), also
    what shows only once the model is loaded, and a name two entries derive alike."""
    cache = ModelCache()
    lm0, cls0 = str(lm_dirs[0][0]), str(classifier_dirs[0][0])
    for spec in ({"kind": "foo"}, {"kind": "classifier", "path": lm0}, {"kind": "classifier", "path": cls0, "label": 3},
                 {"kind": "classifier", "path": cls0, "label": -1}, {"kind": "implicit_dpo", "path": lm0,
                                                                      "ref_path": cls0}):
        with pytest.raises(ConfigError):
            build_reward_model(spec, index=0, cache=cache)
    with pytest.raises(ConfigError, match=r"rewards\[1\]\.name='exact_match:gsm8k' repeats rewards\[0\]"):
        build_reward_models([{"kind": "verifier", "task": "gsm8k"}, {"kind": "verifier", "task": "gsm8k"}])
    with pytest.raises(ConfigError, match="must be a list"):
        build_reward_models({"kind": "verifier", "task": "gsm8k"})
    assert check_spec({"kind": "classifier", "path": cls0, "label": "x"}, index=1) == [
        "rewards[1].label='x' must be an integer >= 0 (one of the model's labels)"]


def test_each_field_default_lives_in_one_table(lm_dirs, classifier_dirs):
    """FIELDS holds every entry field's default, read alike by the check and the build: an absent
    field or a null takes it (the builder's keyword for dtype / batch_size), except where null is
    a value of its own (chunk: no chunking; share_prompt / rule / dtype: checked as given)."""
    assert value({"kind": "verifier"}, "rule") == "exact_match" and value({"kind": "likelihood"}, "share_prompt")
    assert value({"kind": "likelihood", "batch_size": None}, "batch_size", {"batch_size": 5}) == 5
    assert value({"kind": "likelihood", "chunk": None}, "chunk") is None
    assert check_spec({"kind": "likelihood", "path": str(lm_dirs[0][0]), "share_prompt": None}) == [
        "rewards.share_prompt=None must be true or false"]
    cache = ModelCache()
    lm0 = str(lm_dirs[0][0])
    dpo = build_reward_model({"kind": "implicit_dpo", "path": lm0, "ref_path": lm0, "beta": None, "batch_size": None,
                              "noise": 0.5, "noise_seed": None}, cache=cache, batch_size=3)
    assert isinstance(dpo, NoisyRM) and dpo.seed == 0 and dpo.rm.beta == 0.1 and dpo.rm.batch_size == 3
    assert dpo.rm.chunk == FIELDS["likelihood"]["chunk"].default and dpo.rm.share_prompt
    cls = build_reward_model({"kind": "classifier", "path": str(classifier_dirs[0][0]), "label": None}, cache=cache)
    assert cls.label == 0 and cls.batch_size == 8
