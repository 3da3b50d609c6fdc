"""What the benchmarks share: the machine's description, its float32 matmul peak, a timing
helper, the SmolLM2 model in both frameworks, the prompts, and the printed / JSON report.

    python bench/common.py            # machine description + float32 matmul peak (jnp and np)

Every benchmark prints laser_jax's figure next to its peer's, measured in the same process, and
the ratio peer_time / our_time (> 1: laser_jax is faster). `--json PATH` writes the figures.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF dequantisation progress bar

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


# --------------------------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def load() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, Any]:
    import jax
    import numpy as np

    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "mem_gib": round(_mem_gib() or 0, 1),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "numpy": np.__version__,
        "load": load(),
    }
    for mod in ("flax", "optax", "torch", "transformers"):
        try:
            info[mod] = __import__(mod).__version__
        except ImportError:
            pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def print_machine(info: dict[str, Any] | None = None) -> dict[str, Any]:
    info = info or machine()
    print(f"# machine: {info['cpu']}, {info['cores_usable']}/{info['cores']} cores, {info['mem_gib']} GiB; "
          f"python {info['python']}, jax {info['jax']} ({info['jax_backend']}), flax {info.get('flax')}, "
          f"torch {info.get('torch')} ({info.get('torch_threads')} threads), transformers "
          f"{info.get('transformers')}")
    print(f"# date {info['date']}; load average {info['load']}")
    return info


# --------------------------------------------------------------------------------------------- timing


def block(x):
    """Wait for every jax array in x (a pytree); torch / numpy results are already computed."""
    import jax

    for leaf in jax.tree.leaves(x):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
    return x


def timeit(fn: Callable[[], Any], *, warmup: int = 1, repeat: int = 3) -> dict[str, Any]:
    """Run fn `warmup` times untimed, then `repeat` times timed (each waits for its result).
    Returns {"median", "min", "runs": [...], "first": seconds of the first run, "cpu": median
    process CPU seconds (all threads) of the timed runs}."""
    runs, cpus, first = [], [], None
    for i in range(warmup + repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        block(fn())
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if i == 0:
            first = dt
        if i >= warmup:
            runs.append(dt)
            cpus.append(dc)
    return {"median": statistics.median(runs), "min": min(runs), "runs": runs, "first": first,
            "cpu": statistics.median(cpus)}


def timeit_pair(fns: dict[str, Callable[[], Any]], *, warmup: int = 1, repeat: int = 3) -> dict[str, dict]:
    """Like `timeit` for several functions, but the timed runs alternate (a, b, a, b, ...) so a
    change in the machine's load during the benchmark hits every side alike. Warm-ups first."""
    res = {name: {"runs": [], "cpus": [], "first": None, "warmups": []} for name in fns}
    for name, fn in fns.items():
        for i in range(warmup):
            t0 = time.perf_counter()
            block(fn())
            res[name]["warmups"].append(time.perf_counter() - t0)
        res[name]["first"] = res[name]["warmups"][0] if warmup else None
    for _ in range(repeat):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            block(fn())
            res[name]["runs"].append(time.perf_counter() - t0)
            res[name]["cpus"].append(time.process_time() - c0)
    for r in res.values():
        r["median"], r["min"], r["cpu"] = statistics.median(r["runs"]), min(r["runs"]), statistics.median(r["cpus"])
    return res


def fmt_runs(t: dict[str, Any]) -> str:
    """The timed runs' wall seconds and the median CPU seconds (CPU/wall < cores: the process
    waited, i.e. other work had the cores)."""
    return "[" + ", ".join(f"{x:.3f}" for x in t["runs"]) + f"] wall, cpu {t['cpu']:.2f} s"


# --------------------------------------------------------------------------------------------- peak


def matmul_peak(n: int = 2048, repeat: int = 5) -> dict[str, float]:
    """float32 GFLOP/s of an n x n x n matmul (2 n^3 flops): jitted jnp.dot, np.dot, torch.mm."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n ** 3
    out = {}
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    dot = jax.jit(jnp.dot)
    out["jnp"] = flops / timeit(lambda: dot(ja, jb), warmup=1, repeat=repeat)["min"] / 1e9
    out["np"] = flops / timeit(lambda: np.dot(a, b), warmup=1, repeat=repeat)["min"] / 1e9
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        out["torch"] = flops / timeit(lambda: torch.mm(ta, tb), warmup=1, repeat=repeat)["min"] / 1e9
    except ImportError:
        pass
    out["peak"] = max(out.values())
    return out


def print_peak(peak: dict[str, float], n: int) -> None:
    parts = ", ".join(f"{k} {v:.1f}" for k, v in peak.items() if k != "peak")
    print(f"# float32 matmul {n}x{n}x{n}, best of 5: {parts} GFLOP/s (peak taken = {peak['peak']:.1f})")


# --------------------------------------------------------------------------------------------- models


def smollm2_path() -> Path:
    from laser_jax.models.embedded import smollm2_gguf

    return smollm2_gguf()


def load_jax(path: Path | None = None):
    from laser_jax.models import load_pretrained

    return load_pretrained(path or smollm2_path(), dtype="float32")


def load_torch(path: Path | None = None):
    """transformers' LlamaForCausalLM from the same GGUF (dequantised to float32), eval mode."""
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    path = path or smollm2_path()
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model.eval()


def load_tokenizer(path: Path | None = None):
    from transformers import AutoTokenizer

    path = path or smollm2_path()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def gsm8k_examples(n: int, offset: int = 0):
    """The first n GSM8K test questions (local copy in ../shared/data)."""
    from laser_jax.data.tasks import load_task

    return load_task("gsm8k", DATA / "gsm8k" / "test.jsonl")[offset:offset + n]


def chat_prompts(tokenizer, n: int, *, pad_id: int, bucket: int = 64):
    """n chat-formatted GSM8K prompts, left-padded to a multiple of `bucket` (laser_jax's own
    prompt encoding): (ids [n, T] int32, mask [n, T] int32, examples)."""
    from laser_jax.batch import PromptBatch

    examples = gsm8k_examples(n)
    batch = PromptBatch.encode(tokenizer, examples, max_tokens=4096, pad_id=pad_id, bucket=bucket)
    ids, mask = batch.ids, batch.mask
    return ids, mask, examples


def pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


# --------------------------------------------------------------------------------------------- report


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="a small smoke run (smaller shapes, fewer repeats)")
    p.add_argument("--repeat", type=int, default=None, help="timed runs per side (median reported)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads (default: torch's default, = the usable cores)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return p


def set_torch_threads(threads: int | None) -> int:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def report(name: str, figures: dict[str, Any], info: dict[str, Any], json_path: Path | None) -> None:
    figures = {"benchmark": name, "machine": info, "load_after": load(), "command": " ".join([sys.executable] +
               sys.argv), **figures}
    print(f"# load average after: {figures['load_after']}")
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=1, default=float) + "\n")


def main():
    p = argparse.ArgumentParser(description="machine description and float32 matmul peak")
    p.add_argument("--n", type=int, default=2048)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    info = print_machine()
    peak = matmul_peak(args.n)
    print_peak(peak, args.n)
    report("machine", {"matmul_n": args.n, "gflops": peak}, info, args.json)


if __name__ == "__main__":
    main()
