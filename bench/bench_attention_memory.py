"""Attention memory of a long prefill: SmolLM2-135M (float32) over one prompt of T tokens on CPU,
dense attention ([B, heads, T, T] float32 scores) vs chunked (online softmax, models/decoder.py).

    python bench/bench_attention_memory.py              # T = 4000
    python bench/bench_attention_memory.py --quick      # T = 1024

Memory: XLA's own figure for the compiled forward (`memory_analysis()`: temporary buffers, i.e.
activations and scores, beside the fixed weights and inputs); time: one timed run each after
compilation; the last-token logits and all real positions' logits compared (max |difference|).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--tokens", type=int, default=4000)
    args = p.parse_args()
    if args.quick:
        args.tokens = 1024

    import time

    import jax
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from laser_jax.models import decoder as D

    info = common.print_machine()
    path = common.smollm2_path()
    tok = common.load_tokenizer(path)
    words = " ".join(ex.question for ex in common.gsm8k_examples(400)).split()
    ids = tok(" ".join(words), add_special_tokens=False)["input_ids"][:args.tokens]
    if len(ids) < args.tokens:
        raise SystemExit(f"only {len(ids)} tokens of text for --tokens {args.tokens}")
    ids = jnp.asarray([ids], jnp.int32)
    mask = jnp.ones_like(ids)
    print(f"# SmolLM2-135M float32, one prompt of {args.tokens} tokens, full forward (logits)")
    out, figures = {}, {}
    for impl in ("dense", "chunked"):
        model = D.with_attention(common.load_jax(path), impl)
        graphdef, state = nnx.split(model)
        fwd = jax.jit(lambda s, i, m: nnx.merge(graphdef, s)(i, m))
        compiled = fwd.lower(state, ids, mask).compile()
        mem = compiled.memory_analysis()
        temp = getattr(mem, "temp_size_in_bytes", None)
        compiled(state, ids, mask).block_until_ready()
        t0 = time.perf_counter()
        out[impl] = np.asarray(compiled(state, ids, mask))
        dt = time.perf_counter() - t0
        figures[impl] = {"temp_bytes": temp, "seconds": dt}
        print(f"{impl:8s} temporary memory {temp / 2**20:9.1f} MiB   forward {dt:6.2f} s")
    diff = float(np.abs(out["dense"] - out["chunked"]).max())
    scale = float(np.abs(out["dense"]).max())
    ratio = figures["dense"]["temp_bytes"] / figures["chunked"]["temp_bytes"]
    print(f"ratio dense/chunked memory {ratio:.1f}x; max |logit difference| {diff:.1e} (logit scale {scale:.1f}; "
          f"{'OK' if diff <= 1e-4 * max(scale, 1.0) else 'CHECK'} at 1e-4 relative)")
    figures.update(ratio=ratio, max_abs_diff=diff, tokens=args.tokens)
    common.report("attention_memory", figures, info, args.json)


if __name__ == "__main__":
    main()
