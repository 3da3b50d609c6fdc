"""K implicit-DPO reward models that are LoRA adapters on one base: multi-LoRA scoring (the base
once + K adapters, one vmapped call per micro-batch: `laser_jax.rewards.MultiLoRARMs`, what
`RMSet` builds for them) vs scoring them one by one (each `AdapterDPORM.score`: its adapted model,
then the base again: 2K passes).

The base is SmolLM2-135M-Instruct in float32 (the embedded GGUF); `--tiny` uses a random tiny
Llama instead (no download, for a smoke run). The K adapters (rank 8, alpha 16, every projection)
are random (A as `add_lora` draws it, B ~ N(0, 0.02^2)), written with `save_adapter` and read back
with their sha256 checked, as an RM entry would. The batch is like the front door's: 12 GSM8K
questions in the LASeR reasoning prompt x 8 responses each (other questions' reference solutions
cut to 36 words, ~48 tokens), chat-formatted, prompt-once scoring, micro-batches of 8 rows.

    python bench/bench_multi_lora.py            # SmolLM2-135M, K=4, 12 x 8
    python bench/bench_multi_lora.py --tiny     # a tiny random model
    python bench/bench_multi_lora.py --quick    # tiny, K=2, 2 x 2

Both sides warm up once (compiles), then the timed runs alternate; ratio = one-by-one / multi-LoRA.
The scores must agree (max |difference| printed; the tests hold it to 1e-5).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def batch(prompts: int, samples: int, words: int):
    """prompts x samples (prompt, response) texts: GSM8K questions, each with `samples` reference
    solutions of the following questions cut to `words` words."""
    from laser_jax.data.prompts import format_prompt

    n = prompts + samples
    examples = common.gsm8k_examples(n)
    lines = (common.DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[:n]
    solutions = [" ".join(json.loads(line)["answer"].split()[:words]) for line in lines]
    pairs = [(format_prompt(examples[i]), solutions[i + 1 + j]) for i in range(prompts) for j in range(samples)]
    return [p for p, _ in pairs], [r for _, r in pairs]


def random_adapters(base, k: int, rank: int, folder: Path):
    """k adapter files on `base` and their sha256."""
    import numpy as np
    from flax import nnx

    from laser_jax.models.adapters import save_adapter
    from laser_jax.models.lora import add_lora

    out = []
    for i in range(k):
        model = nnx.merge(*nnx.split(base))
        add_lora(model, rank, 2.0 * rank, seed=i)
        rng = np.random.default_rng(100 + i)
        for _, m in nnx.iter_graph(model):
            if getattr(m, "lora_b", None) is not None:
                m.lora_b.set_value((0.02 * rng.standard_normal(m.lora_b.shape)).astype(m.lora_b.get_value().dtype))
        path = folder / f"adapter{i}.safetensors"
        out.append((path, save_adapter(model, path, base="base")))
    return out


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--tiny", action="store_true", help="a random tiny Llama instead of SmolLM2-135M")
    p.add_argument("--adapters", type=int, default=4, help="K")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--prompts", type=int, default=12)
    p.add_argument("--samples", type=int, default=8, help="responses per prompt")
    p.add_argument("--words", type=int, default=36, help="words per response (~48 tokens at 36)")
    p.add_argument("--batch-size", type=int, default=8, help="RM micro-batch rows")
    args = p.parse_args()
    if args.quick:
        args.tiny, args.adapters, args.prompts, args.samples = True, 2, 2, 2
    repeat = args.repeat or 1

    import numpy as np

    from laser_jax.models import load_pretrained, tiny
    from laser_jax.models.adapters import read_adapter
    from laser_jax.models.loading import load_tokenizer
    from laser_jax.rewards import AdapterDPORM, MultiLoRARMs, RMSet

    info = common.print_machine()
    tmp = Path(tempfile.mkdtemp(prefix="bench_multi_lora"))
    if args.tiny:
        path = tiny.write(tmp / "base", seed=0, tok=tiny.tokenizer())
        base, tok, what = load_pretrained(path, dtype="float32"), load_tokenizer(path), "a tiny random Llama"
    else:
        path = common.smollm2_path()
        base, tok, what = common.load_jax(path), common.load_tokenizer(path), "SmolLM2-135M-Instruct"
    prompts, responses = batch(args.prompts, args.samples, args.words)
    files = random_adapters(base, args.adapters, args.rank, tmp)
    rms = [AdapterDPORM(base, read_adapter(f, sha), tok, 0.1, f"adapter{i}", batch_size=args.batch_size)
           for i, (f, sha) in enumerate(files)]
    rows = rms[0].encode(prompts, responses)
    plens = sorted({r.n_prompt for r in rows})
    rlens = [len(r.ids) - r.n_prompt for r in rows]
    print(f"# {args.adapters} implicit-DPO RMs = {what} float32 + a random rank-{args.rank} LoRA adapter each "
          f"(reference: the base); {args.prompts} prompts x {args.samples} responses, prompts {plens[0]}..{plens[-1]} "
          f"tokens, responses {min(rlens)}..{max(rlens)} tokens (mean {np.mean(rlens):.0f}), prompt-once, "
          f"micro-batches of {args.batch_size}; {repeat} timed run(s) per side, alternating, after 1 warm-up")
    t0 = time.perf_counter()
    rm_set = RMSet(rms)
    build_s = time.perf_counter() - t0
    assert len(rm_set.plan) == 1 and isinstance(rm_set.plan[0][1], MultiLoRARMs), rm_set.plan

    def multi():
        return rm_set.score_all(prompts, responses)

    def one_by_one():
        return np.stack([rm.score(prompts, responses) for rm in rms])

    times = common.timeit_pair({"multi": multi, "one_by_one": one_by_one}, warmup=1, repeat=repeat)
    a, b = multi(), one_by_one()
    diff = float(np.abs(a - b).max())
    tm, to = times["multi"], times["one_by_one"]
    ratio = to["median"] / tm["median"]
    print(f"# MultiLoRARMs built in {build_s:.2f} s; first calls (compile): multi {tm['first']:.1f} s, "
          f"one by one {to['first']:.1f} s")
    print(f"one by one ({2 * args.adapters} passes): {to['median']:.3f} s  runs {common.fmt_runs(to)}")
    print(f"multi-LoRA ({1 + args.adapters} passes): {tm['median']:.3f} s  runs {common.fmt_runs(tm)}")
    print(f"# check: scores [{args.adapters}, {len(prompts)}], max |multi - one by one| = {diff:.2e}; scores span "
          f"{float(a.min()):.3f}..{float(a.max()):.3f}")
    print(f"RESULT multi_lora: one by one {to['median']:.2f} s vs multi-LoRA {tm['median']:.2f} s -> {ratio:.2f}x "
          f"(pass ratio {2 * args.adapters / (1 + args.adapters):.2f})")
    figures = {"config": dict(model=what, adapters=args.adapters, rank=args.rank, prompts=args.prompts,
                              samples=args.samples, words=args.words, batch_size=args.batch_size, repeat=repeat),
               "multi_s": tm["median"], "multi_runs": tm["runs"], "one_by_one_s": to["median"],
               "one_by_one_runs": to["runs"], "ratio": ratio, "build_s": build_s, "compile_multi_s": tm["first"],
               "compile_one_by_one_s": to["first"], "max_abs_diff": diff}
    common.report("multi_lora", figures, info, args.json)


if __name__ == "__main__":
    main()
