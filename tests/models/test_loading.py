"""Loading from GGUF and laser_jax Flax checkpoints, conversion, and the errors bad inputs give."""

from __future__ import annotations

import json
import os
import sys

import gguf
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as tf

from laser_jax.errors import ConfigError
from laser_jax.models import CheckpointError, load_config, load_pretrained
from laser_jax.models import safetensors_io
from laser_jax.models.decoder import to_dtype
from laser_jax.models.loading import resolve
from laser_jax.models.lora import add_lora
from laser_jax.models.presets import preset
from laser_jax.models.loading import convert
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

CFG = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = tf.LlamaForCausalLM(tf.LlamaConfig(**CFG)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    path = tmp_path_factory.mktemp("hf")
    model.save_pretrained(path)
    return model, path


def _ids():
    return np.random.default_rng(0).integers(2, CFG["vocab_size"], (2, 9))


def _llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    # what llama.cpp's converter does to q/k rows (written here from its description, independently)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _write_gguf(path, sd, *, bad_type_for=None):
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(CFG["num_hidden_layers"])
    w.add_context_length(CFG["max_position_embeddings"])
    w.add_embedding_length(CFG["hidden_size"])
    w.add_feed_forward_length(CFG["intermediate_size"])
    w.add_head_count(CFG["num_attention_heads"])
    w.add_head_count_kv(CFG["num_key_value_heads"])
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(CFG["vocab_size"])
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
                 "self_attn.q_proj.weight": "attn_q.weight", "self_attn.k_proj.weight": "attn_k.weight",
                 "self_attn.v_proj.weight": "attn_v.weight", "self_attn.o_proj.weight": "attn_output.weight",
                 "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
                 "mlp.down_proj.weight": "ffn_down.weight"}
    for key, value in sd.items():
        arr = value.numpy().astype(np.float32)
        if key in names:
            name = names[key]
        else:
            i, rest = key.split(".", 3)[2], key.split(".", 3)[3]
            name = f"blk.{i}.{per_layer[rest]}"
        if name.endswith("attn_q.weight"):
            arr = _llama_cpp_permute(arr, CFG["num_attention_heads"])
        if name.endswith("attn_k.weight"):
            arr = _llama_cpp_permute(arr, CFG["num_key_value_heads"])
        if name == bad_type_for:  # Q8_K: a type the gguf package cannot dequantise (292 bytes per 256 values)
            w.add_tensor(name, np.zeros((arr.shape[0], 292), np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q8_K)
            continue
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf_matches_transformers(hf_dir, tmp_path):
    ref, _ = hf_dir
    path = tmp_path / "tiny.gguf"
    _write_gguf(path, ref.state_dict())
    ours = load_pretrained(path)
    assert ours.cfg.num_kv_heads == 2 and not ours.cfg.tie_word_embeddings
    with torch.no_grad():
        want = ref(torch.tensor(_ids())).logits.numpy()
    got = np.asarray(ours(jnp.asarray(_ids(), jnp.int32)))
    assert np.abs(got - want).max() <= 1e-4


def test_flax_round_trip_is_exact(hf_dir, tmp_path):
    _, path = hf_dir
    first = load_pretrained(path)
    dst = convert(path, tmp_path / "flax", with_tokenizer=False)
    again = load_pretrained(dst)
    ids = jnp.asarray(_ids(), jnp.int32)
    np.testing.assert_array_equal(np.asarray(first(ids)), np.asarray(again(ids)))
    assert load_config(dst) == first.cfg
    with pytest.raises(CheckpointError, match="already exists"):
        convert(path, dst, with_tokenizer=False)
    # no partial directories left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flax"]


def test_flax_checkpoint_restores_in_bfloat16(hf_dir, tmp_path):
    _, path = hf_dir
    dst = convert(path, tmp_path / "flax", with_tokenizer=False)
    model = load_pretrained(dst, dtype="bfloat16")
    assert model.model.embed.embedding.get_value().dtype == jnp.bfloat16


def test_sharded_safetensors_with_index(hf_dir, tmp_path):
    ref, _ = hf_dir
    ref.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    with torch.no_grad():
        want = ref(torch.tensor(_ids())).logits.numpy()
    assert np.abs(np.asarray(load_pretrained(tmp_path)(jnp.asarray(_ids(), jnp.int32))) - want).max() <= 1e-4


def test_weights_land_on_their_sharding(hf_dir):
    _, path = hf_dir
    from laser_jax import sharding as shd

    mesh = shd.make_mesh((1, 1, -1))
    model = load_pretrained(path, mesh=mesh)
    q = model.model.layers.attn.q.kernel.get_value()
    assert q.sharding.mesh.shape == mesh.shape
    names = model.model.layers.attn.q.kernel.get_metadata()["out_sharding"]
    assert names == ("layers", "embed", "heads", "head_dim")


# ---- bad inputs: one clear error naming the file or key --------------------------------------------


def _copy_dir(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such file or directory") as e:
        load_pretrained(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


def test_unsupported_architecture(hf_dir, tmp_path):
    d = _copy_dir(hf_dir[1], tmp_path / "gpt2")
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="GPT2LMHeadModel.*not supported") as e:
        load_pretrained(d)
    assert "config.json" in str(e.value)


def test_truncated_safetensors(hf_dir, tmp_path):
    d = _copy_dir(hf_dir[1], tmp_path / "trunc")
    f = d / "model.safetensors"
    data = f.read_bytes()
    f.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="truncated") as e:
        load_pretrained(d)
    assert "model.safetensors" in str(e.value)


def test_corrupt_safetensors_header(hf_dir, tmp_path):
    d = _copy_dir(hf_dir[1], tmp_path / "corrupt")
    f = d / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[8:20] = b"\x00garbage!!\xff\xfe"
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt safetensors header") as e:
        load_pretrained(d)
    assert "model.safetensors" in str(e.value)


def _rewrite(d, drop=(), reshape=None):
    f = d / "model.safetensors"
    arrays = {n: np.array(load()) for n, _, load in safetensors_io.tensors(f)}
    for n in drop:
        del arrays[n]
    if reshape:
        arrays[reshape] = np.zeros((3, 5), np.float32)
    safetensors_io.write(f, arrays)


def test_missing_and_misshaped_tensors_reported_together(hf_dir, tmp_path):
    d = _copy_dir(hf_dir[1], tmp_path / "bad")
    _rewrite(d, drop=["model.layers.1.mlp.up_proj.weight", "model.norm.weight"],
             reshape="model.layers.0.self_attn.k_proj.weight")
    with pytest.raises(CheckpointError) as e:
        load_pretrained(d)
    msg = str(e.value)
    assert str(d) in msg and "3 problems" in msg
    assert "missing tensor: model.layers.1.mlp.up_proj.weight" in msg
    assert "missing tensor: model.norm.weight" in msg
    assert "wrong shape: model.layers.0.self_attn.k_proj.weight: shape (3, 5), expected (16, 32)" in msg


def test_unexpected_tensor(hf_dir, tmp_path):
    d = _copy_dir(hf_dir[1], tmp_path / "extra")
    f = d / "model.safetensors"
    arrays = {n: np.array(load()) for n, _, load in safetensors_io.tensors(f)}
    arrays["model.layers.0.self_attn.q_proj.bias"] = np.zeros((32,), np.float32)
    safetensors_io.write(f, arrays)
    with pytest.raises(CheckpointError, match=r"unexpected tensor: model\.layers\.0\.self_attn\.q_proj\.bias"):
        load_pretrained(d)


def test_unsupported_gguf_quantisation(hf_dir, tmp_path):
    path = tmp_path / "q8k.gguf"
    _write_gguf(path, hf_dir[0].state_dict(), bad_type_for="blk.0.ffn_down.weight")
    with pytest.raises(CheckpointError, match=r"unsupported GGUF quantisation type for blk\.0\.ffn_down\.weight \(Q8_K\)"):
        load_pretrained(path)


def test_not_a_gguf_file(tmp_path):
    f = tmp_path / "junk.gguf"
    f.write_bytes(b"GGML not really")
    with pytest.raises(CheckpointError, match="junk.gguf: not a readable GGUF file"):
        load_pretrained(f)


def test_hub_id_offline_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="downloading it from the Hugging Face hub failed"):
        resolve("no-such-org/no-such-model-xyz")


def test_hub_id_uses_snapshot_download(hf_dir, monkeypatch):
    calls = []

    def fake(repo_id, allow_patterns=None, **kw):
        calls.append((repo_id, allow_patterns))
        return str(hf_dir[1])

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    model = load_pretrained("some-org/tiny-llama")
    assert calls and calls[0][0] == "some-org/tiny-llama" and "*.safetensors" in calls[0][1]
    assert model.cfg.num_layers == 2


def test_convert_cli_error_exit(tmp_path):
    run = forked.run([sys.executable, "-m", "laser_jax.convert", str(tmp_path / "missing"), str(tmp_path / "out")],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "error:" in run.stderr and "missing" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_dtype_lora_target_or_preset_the_user_names_wrong_is_a_config_error():
    """policy.dtype / an RM's dtype, policy.lora_targets (not checked by the config section) and a
    preset name are the user's to fix: ConfigError (exit 2), naming the valid choices."""
    with pytest.raises(ConfigError, match=r"dtype 'float64' is not supported; use one of"):
        to_dtype("float64")
    with pytest.raises(ConfigError, match=r"policy\.lora_targets: \['qq'\] are not projections"):
        add_lora(None, 4, 8.0, ("q", "qq"))
    with pytest.raises(ConfigError, match="no preset architecture for 'llama-7b'"):
        preset("llama-7b")


def test_a_generic_tokenizer_loads_as_autotokenizer_would_without_pytorch(tmp_path):
    """A folder whose tokenizer_config.json names the generic fast tokenizer (the tiny models') is
    read by that class directly: the tokenizer AutoTokenizer gives (class, ids, chat template,
    pad id), and a fresh process that loads it has not imported PyTorch (transformers' Auto
    classes import it whenever it is installed, ~1.4 s of every command line's start-up)."""
    from laser_jax.models.loading import load_tokenizer
    from laser_jax.models.tiny import smoke_assets

    smoke_assets(tmp_path / "tiny")
    for name in ("policy", "rm_classifier"):
        path = tmp_path / "tiny" / name
        ours, auto = load_tokenizer(path), tf.AutoTokenizer.from_pretrained(str(path))
        assert type(ours) is type(auto)
        text = "Q: 12 + 30 = ? A: 42"
        assert ours(text)["input_ids"] == auto(text)["input_ids"]
        assert ours.chat_template == auto.chat_template and ours.pad_token_id == auto.pad_token_id
    probe = ("import sys; from laser_jax.models.loading import load_tokenizer; "
             f"load_tokenizer({str(tmp_path / 'tiny' / 'policy')!r}); print('torch' in sys.modules)")
    run = forked.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == "False", run.stderr[-2000:]


def test_gguf_weights_are_dequantised_once_then_read_from_the_cache(hf_dir, tmp_path, monkeypatch, caplog):
    """models/gguf_cache.py: the first load writes the float32 tensors, later loads read them
    (bit-identical to dequantising); a changed file gets a new entry and its old one goes; an
    unwritable cache still loads."""
    from flax import nnx

    from laser_jax.models import gguf_cache

    ref, _ = hf_dir
    path = tmp_path / "tiny.gguf"
    _write_gguf(path, ref.state_dict())
    monkeypatch.setattr(gguf_cache, "MIN_BYTES", 0)
    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path / "cache"))

    def weights(model):
        return [np.asarray(x) for x in jax.tree.leaves(nnx.state(model))]

    monkeypatch.setenv("LASER_JAX_GGUF_CACHE", "0")
    want = weights(load_pretrained(path))
    assert not (tmp_path / "cache").exists()
    monkeypatch.delenv("LASER_JAX_GGUF_CACHE")
    killed = tmp_path / "cache" / "dequantised" / f".{gguf_cache.folder_for(path).name}.tmp-999999999"
    killed.mkdir(parents=True)  # what a writer killed mid-way leaves (no such pid)
    first = weights(load_pretrained(path))  # writes the entry
    assert not killed.exists()
    entries = list((tmp_path / "cache" / "dequantised").iterdir())
    assert [e.name for e in entries] == [gguf_cache.folder_for(path).name]
    assert json.loads((entries[0] / "index.json").read_text())["source"] == str(path.resolve())

    def no_dequantising(*args, **kwargs):
        raise AssertionError("dequantised although the cache holds the tensors")

    monkeypatch.setattr(gguf.quants, "dequantize", no_dequantising)
    cached = weights(load_pretrained(path))
    for a, b, c in zip(want, first, cached, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    monkeypatch.undo()
    monkeypatch.setattr(gguf_cache, "MIN_BYTES", 0)
    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path / "cache"))

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # the file changed: a new entry
    load_pretrained(path)
    again = list((tmp_path / "cache" / "dequantised").iterdir())
    assert [e.name for e in again] == [gguf_cache.folder_for(path).name] != [e.name for e in entries]

    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path / "a_file" / "cache"))  # cannot be created
    with caplog.at_level("WARNING", logger="laser_jax"):
        unwritable = weights(load_pretrained(path))
    assert "cannot keep its dequantised weights" in caplog.text
    for a, b in zip(want, unwritable, strict=True):
        np.testing.assert_array_equal(a, b)
