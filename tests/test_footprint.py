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
