"""The accelerator check, in one command: train-step MFU, sampler vs the memory-bandwidth bound,
and the PyTorch peers on the same device. Written for a session that is lent a GPU (one run,
minutes); `--quick` runs it on CPU at toy sizes, to check the script itself.

1. Train step: laser_jax's DPO+NLL step (reference forward, policy forward + backward, global-norm
   clip, AdamW; full fine-tuning) on the `llama-1b` preset (Llama-3.2-1B's shape, random init: no
   download) in bfloat16. MFU = model FLOPs of the step (as `bench_dpo_step.step_flops` counts
   them) / seconds / the device's dense bf16 peak (nominal for known GPUs, else the measured
   matmul rate); also printed against the measured 8192^3 bf16 matmul rate.
2. Sampler: B prompts x n samples x `new` tokens (no early stop), temperature 0.8. Its bound: each
   decode step reads every weight and the KV cache written so far, so
   tokens/s <= rows * bandwidth / bytes_per_step, bandwidth = a measured device-to-device copy.
3. Peers, same shapes, same dtype, same device: a plain PyTorch DPO step on transformers'
   LlamaForCausalLM (`bench_dpo_step.TorchDPO`) and transformers' `generate`.

    PYTHONPATH=. python3 bench/gpu_check.py --json $OUT/gpu.json     # on the GPU machine
    python bench/gpu_check.py --quick                                 # CPU smoke run (a tiny config)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

NOMINAL_BF16_TFLOPS = {"H100": 989.4, "H200": 989.4, "A100": 312.0}  # dense, no sparsity (SXM)


def device_info():
    import jax

    d = jax.devices()[0]
    kind = getattr(d, "device_kind", str(d))
    nominal = next((v for k, v in NOMINAL_BF16_TFLOPS.items() if k in kind), None)
    return d.platform, kind, nominal


def bf16_matmul_tflops(n: int) -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), jnp.bfloat16)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.bfloat16)
    dot = jax.jit(lambda x, y: jnp.dot(x, y, preferred_element_type=jnp.float32).astype(jnp.bfloat16))
    t = common.timeit(lambda: dot(a, b), warmup=2, repeat=10)["min"]
    return 2.0 * n ** 3 / t / 1e12


def copy_gbps(n_bytes: int) -> float:
    """Device memory bandwidth: bytes read + written by an out-of-place copy, per second."""
    import jax
    import jax.numpy as jnp

    x = jnp.ones((n_bytes // 4,), jnp.float32)
    f = jax.jit(lambda v: v * 1.0001)
    t = common.timeit(lambda: f(x), warmup=2, repeat=10)["min"]
    return 2.0 * n_bytes / t / 1e9


def random_batch(cfg, b, p, tp, r, seed=0):
    """numpy PairBatch fields: left-padded prompts (the first rows shorter), random token ids."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prompt_ids = rng.integers(10, cfg.vocab_size - 10, size=(b, tp)).astype(np.int32)
    prompt_mask = np.ones((b, tp), np.int32)
    for i in range(b):
        prompt_mask[i, : (i * tp) // (4 * b)] = 0  # up to a quarter of left padding
    prompt_ids = np.where(prompt_mask > 0, prompt_ids, 0).astype(np.int32)
    ids = rng.integers(10, cfg.vocab_size - 10, size=(b, 2, p, r)).astype(np.int32)
    return prompt_ids, prompt_mask, ids, np.ones((b, 2, p, r), np.int32), np.ones((b, p), np.float32)


def torch_llama(cfg, dtype_name: str, device: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    hf = LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                     num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
                     num_key_value_heads=cfg.num_kv_heads, head_dim=cfg.head_dim, rope_theta=cfg.rope_theta,
                     rms_norm_eps=cfg.norm_eps, tie_word_embeddings=cfg.tie_word_embeddings,
                     max_position_embeddings=cfg.max_position_embeddings)
    torch.manual_seed(0)
    model = LlamaForCausalLM(hf).to(dtype=getattr(torch, dtype_name), device=device)
    return model


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="CPU smoke run: a 2-layer toy config, tiny shapes")
    p.add_argument("--preset", default="llama-1b")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--prompts", type=int, default=8, help="train step: B prompts")
    p.add_argument("--pairs", type=int, default=2, help="train step: P pairs per prompt")
    p.add_argument("--prompt-len", type=int, default=512)
    p.add_argument("--response-len", type=int, default=256)
    p.add_argument("--sample-prompts", type=int, default=16)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--new", type=int, default=256)
    p.add_argument("--sample-prompt-len", type=int, default=256)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--skip-torch", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    import bench_dpo_step as dpo
    from laser_jax.models import decoder as D
    from laser_jax.models.presets import preset
    from laser_jax.sampling import SamplingConfig, sample

    cfg = preset(a.preset)
    if a.quick:
        cfg = dataclasses.replace(cfg, vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=2,
                                  num_heads=4, num_kv_heads=2, head_dim=16)
        a.prompts, a.pairs, a.prompt_len, a.response_len = 2, 1, 32, 16
        a.sample_prompts, a.n, a.new, a.sample_prompt_len, a.repeat = 2, 2, 8, 16, 2
    platform, kind, nominal = device_info()
    fig = {"device": kind, "platform": platform, "preset": a.preset, "dtype": a.dtype, "quick": a.quick,
           "jax": jax.__version__, "command": " ".join([sys.executable] + sys.argv)}
    print(f"# device {kind} ({platform}); jax {jax.__version__}; {a.preset} {a.dtype}"
          f"{' (quick: toy config)' if a.quick else ''}", flush=True)

    mm = bf16_matmul_tflops(512 if a.quick else 8192)
    bw = copy_gbps((64 if a.quick else 4096) << 20)
    peak = nominal or mm
    fig.update(matmul_bf16_tflops=mm, nominal_bf16_tflops=nominal, copy_gbps=bw)
    print(f"# measured: bf16 matmul {mm:.1f} TFLOP/s, copy {bw:.0f} GB/s (read + write); nominal bf16 peak "
          f"{nominal or 'unknown'} TFLOP/s", flush=True)

    dtype = getattr(jnp, a.dtype)
    model = D.build(cfg, dtype=dtype, rngs=nnx.Rngs(0))
    n_params = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    fig["params"] = int(n_params)

    # 1. train step
    batch = random_batch(cfg, a.prompts, a.pairs, a.prompt_len, a.response_len)
    ours = dpo.JaxDPO(model, batch)
    t0 = time.perf_counter()
    common.block(ours.step())
    first = time.perf_counter() - t0
    fns = {"ours": ours.step}
    if not a.skip_torch:
        import torch

        dev = "cuda" if platform == "gpu" else "cpu"
        peer = dpo.TorchDPO(torch_llama(cfg, a.dtype, dev), batch, "", device=dev)
        peer.step()  # warm-up
        fns["peer"] = peer.step
    times = common.timeit_pair(fns, warmup=0, repeat=a.repeat)
    flops = dpo.step_flops(cfg, ours=True, b=a.prompts, p=a.pairs, tp=a.prompt_len, r=a.response_len)["detailed"]
    t = times["ours"]["median"]
    mfu = flops / t / (peak * 1e12)
    fig.update(step_s=t, step_runs=times["ours"]["runs"], step_compile_s=first - t, step_tflops=flops / t / 1e12,
               mfu=mfu, mfu_vs_measured_matmul=flops / t / (mm * 1e12))
    print(f"train step ({a.prompts} prompts x {a.pairs} pairs, {a.prompt_len} + {a.response_len} tokens; "
          f"{n_params / 1e9:.2f}B params): laser_jax {t * 1e3:.1f} ms, {flops / t / 1e12:.1f} TFLOP/s, MFU "
          f"{100 * mfu:.1f}% of {peak:.4g} TFLOP/s (target >= 40%), {100 * fig['mfu_vs_measured_matmul']:.1f}% of the "
          f"measured matmul rate; compile {first - t:.1f} s", flush=True)
    if "peer" in times:
        tp_ = times["peer"]["median"]
        pflops = dpo.step_flops(cfg, ours=False, b=a.prompts, p=a.pairs, tp=a.prompt_len, r=a.response_len)["detailed"]
        fig.update(peer_step_s=tp_, peer_step_runs=times["peer"]["runs"], peer_mfu=pflops / tp_ / (peak * 1e12),
                   step_ratio=tp_ / t)
        print(f"  PyTorch step {tp_ * 1e3:.1f} ms (MFU {100 * fig['peer_mfu']:.1f}%): laser_jax {tp_ / t:.2f}x",
              flush=True)
    del ours, fns, times

    # 2. sampler vs the bandwidth bound (a fresh model: the train step donated the first one's arrays)
    model = D.build(cfg, dtype=dtype, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(1)
    b, tp, n, new = a.sample_prompts, a.sample_prompt_len, a.n, a.new
    ids = rng.integers(10, cfg.vocab_size - 10, size=(b, tp)).astype(np.int32)
    mask = np.ones((b, tp), np.int32)
    scfg = SamplingConfig(max_new_tokens=new, temperature=0.8, n=n, eos_ids=(), pad_id=0)
    key = jax.random.key(0)
    st = common.timeit(lambda: sample(model, ids, mask, key, scfg), warmup=1, repeat=a.repeat)
    rows, itemsize = b * n, jnp.dtype(dtype).itemsize
    kv_per_token = 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim * itemsize
    # mean over the decode steps: the prompts' KV (shared by a prompt's n rows) + each row's own
    kv_bytes = b * tp * kv_per_token + rows * (new / 2) * kv_per_token
    step_bytes = n_params * itemsize + kv_bytes
    bound = rows * (bw / 2) * 1e9 / step_bytes  # a read-only stream moves half of the copy's bytes
    tps = rows * new / st["median"]
    fig.update(sample_s=st["median"], sample_tokens_per_s=tps, sample_bound_tokens_per_s=bound,
               sample_frac_bound=tps / bound, sample_compile_s=st["first"] - st["median"])
    print(f"sampler ({b} prompts of {tp} x {n} samples x {new} tokens): laser_jax {tps:.0f} tokens/s = "
          f"{100 * tps / bound:.0f}% of the bandwidth bound {bound:.0f} tokens/s "
          f"({step_bytes / 1e9:.2f} GB per decode step at {bw / 2:.0f} GB/s read)", flush=True)
    if not a.skip_torch:
        import torch

        dev = "cuda" if platform == "gpu" else "cpu"
        hf = torch_llama(cfg, a.dtype, dev).eval()
        t_ids, t_mask = torch.from_numpy(ids).long().to(dev), torch.from_numpy(mask).long().to(dev)
        gen = dict(do_sample=True, temperature=0.8, top_k=0, top_p=1.0, num_return_sequences=n, max_new_tokens=new,
                   min_new_tokens=new, pad_token_id=0)

        def hf_run():
            with torch.inference_mode():
                out = hf.generate(input_ids=t_ids, attention_mask=t_mask, **gen)
            if dev == "cuda":
                torch.cuda.synchronize()
            return out

        ht = common.timeit(hf_run, warmup=1, repeat=a.repeat)
        htps = rows * new / ht["median"]
        fig.update(hf_sample_s=ht["median"], hf_tokens_per_s=htps, sample_ratio=tps / htps)
        print(f"  transformers generate {htps:.0f} tokens/s: laser_jax {tps / htps:.2f}x", flush=True)
    print("RESULT " + json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in fig.items()
                                  if k not in ("command", "step_runs", "peer_step_runs")}))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(fig, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
