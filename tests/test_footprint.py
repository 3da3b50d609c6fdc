"""The memory planner against hand counts."""

import jax.numpy as jnp
import pytest

from laser_jax.footprint import plan, sharded_bytes
from laser_jax.models.presets import PRESETS


def test_parameter_bytes_match_the_parameter_count():
    cfg = PRESETS["smollm2-135m-instruct"]
    frozen, lora = sharded_bytes(cfg, jnp.float32, {"data": 1, "fsdp": 1, "tensor": 1})
    assert frozen == cfg.num_params() * 4 + (2 * cfg.num_layers + 1) * cfg.hidden_size * 4  # + norm scales
    assert lora == 0
    # fsdp=2 halves every matrix (embed divides by 2); only the small norm vectors stay whole
    half, _ = sharded_bytes(cfg, jnp.float32, {"data": 1, "fsdp": 2, "tensor": 1})
    assert frozen / 2 <= half <= frozen / 2 + (2 * cfg.num_layers + 1) * cfg.hidden_size * 4
    _, lora = sharded_bytes(cfg, jnp.float32, {"data": 1, "fsdp": 1, "tensor": 1}, lora_rank=8)
    d, f, h, kv, hd, n = 576, 1536, 9, 3, 64, 8
    per_layer = n * (d + h * hd) + n * (d + kv * hd) * 2 + n * (h * hd + d) + n * (d + f) * 2 + n * (f + d)
    assert lora == cfg.num_layers * per_layer * 4


def test_paper_setting_plan_scales_with_fsdp():
    from pathlib import Path
    import importlib.util

    spec = importlib.util.spec_from_file_location("c", Path(__file__).resolve().parents[1] / "configs" / "gsm8k.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    p8, p16 = plan(c, (1, 8, 1)), plan(c, (1, 16, 1))
    # 8.03B bf16 policy over 8 devices
    assert p8["policy (frozen base)"] / 2 ** 30 == pytest.approx(8.03e9 * 2 / 8 / 2 ** 30, rel=0.01)
    assert p16["reward models"] == pytest.approx(p8["reward models"] / 2, rel=0.01)


def test_attention_scores_row_dense_and_chunked():
    from laser_jax.footprint import attention_bytes
    from laser_jax.models import decoder as D
    from laser_jax.models.presets import PRESETS

    cfg = PRESETS["meta-llama/Meta-Llama-3-8B-Instruct"]  # 32 heads
    t = 16384
    dense = attention_bytes(cfg, 1, t, "dense")
    assert dense == 32 * t * t * 4 == 32 * 2**30  # the issue's ~32 GiB per sequence and layer
    chunked = attention_bytes(cfg, 1, t, "chunked")
    assert chunked == 32 * D.ATTENTION_CHUNK ** 2 * 4
    assert attention_bytes(cfg, 1, t, "auto") == chunked  # long: auto is chunked
    assert attention_bytes(cfg, 2, 1024, "auto") == 2 * 32 * 1024 * 1024 * 4  # short: dense
    assert attention_bytes(cfg, 8, t, "chunked", batch_shards=8, head_shards=2) == chunked / 2


GEMMA = ("gemma-3-270m", "gemma-3-1b", "gemma-3-4b", "gemma-3-12b", "gemma-3-27b", "gemma-2-9b", "gemma-2-27b")


def test_planner_lists_the_gemma_presets(capsys):
    from laser_jax.cli.memory import main

    assert main(["--presets", "--meshes", "1x1x1,1x8x1"]) == 0
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in capsys.readouterr().out.splitlines()}
    for name in GEMMA:
        assert name in rows and rows[name][1] == name.split("-")[0] + name.split("-")[1], name
    # published sizes (text decoder only; Gemma 3 4b-27b's vision towers excluded)
    billions = {n: float(rows[n][2]) for n in GEMMA}
    assert billions == {"gemma-3-270m": 0.27, "gemma-3-1b": 1.0, "gemma-3-4b": 3.88, "gemma-3-12b": 11.77,
                        "gemma-3-27b": 27.01, "gemma-2-9b": 9.24, "gemma-2-27b": 27.23}
    assert main([]) == 2


def test_gemma_preset_bytes_and_plan():
    cfg = PRESETS["gemma-3-27b"]
    frozen, _ = sharded_bytes(cfg, jnp.bfloat16, {"data": 1, "fsdp": 1, "tensor": 1})
    norms = cfg.num_layers * (4 * cfg.hidden_size + 2 * cfg.head_dim) + cfg.hidden_size
    assert frozen == (cfg.num_params() + norms) * 2
    assert cfg.query_pre_attn_scalar == 168 and cfg.rope_factor == 8.0 and cfg.layer_types.count("full_attention") == 10
    g2 = PRESETS["gemma-2-27b"]
    assert (g2.attn_softcap, g2.final_softcap, g2.query_pre_attn_scalar, g2.layer_types[:2]) == (
        50.0, 30.0, 144.0, ("sliding_attention", "full_attention"))
    from laser_jax.config import base_config

    c = base_config()  # a run whose policy and likelihood RM are Gemma presets plans without downloading
    c.policy.path, c.policy.lora_rank, c.policy.dtype = "gemma-3-4b", 8, "bfloat16"
    c.rewards = [dict(name="g", kind="likelihood", path="gemma-3-1b")]
    p = plan(c, (1, 8, 1))
    fsdp8 = {"data": 1, "fsdp": 8, "tensor": 1}
    assert p["policy (frozen base)"] == sharded_bytes(PRESETS["gemma-3-4b"], jnp.bfloat16, fsdp8, lora_rank=8)[0]
    assert p["reward models"] == sharded_bytes(PRESETS["gemma-3-1b"], jnp.bfloat16, fsdp8)[0]


def test_gemma_configs_validate_and_plan_offline(monkeypatch, tmp_path):
    """configs/gemma_policy.py and every size of configs/gemma_rm.py pass the run config's checks
    and plan from the presets (no model fetched)."""
    import importlib.util
    from pathlib import Path

    from laser_jax.config import from_config

    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path))  # gemma_policy writes its sums there
    root = Path(__file__).resolve().parents[1] / "configs"
    configs = []
    for name, sizes in (("gemma_policy", [()]), ("gemma_rm", [(), ("quick",), ("smoke",)])):
        spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        configs += [mod.get_config(*s) for s in sizes]
    for c in configs:
        run = from_config(c)
        assert "gemma-3-270m" in [run.policy.path] + [r.get("path") for r in c.rewards]
        assert plan(c, (1, 1, 1))["total"] > 0
    assert configs[0].policy.path == "gemma-3-270m" and (tmp_path / "gemma-demo" / "sums.jsonl").exists()
    assert [r["name"] for r in configs[-1].rewards] == ["calculator", "smollm2_lik", "gemma_lik"]
