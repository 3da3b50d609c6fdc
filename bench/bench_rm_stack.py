"""Scoring N responses with K same-architecture reward models: one vectorised call
(`laser_jax.rewards.RMSet`, which stacks them into a `StackedRMs` and runs them under jax.vmap)
vs a loop of K individual `score` calls.

The K RMs are `LikelihoodRM`s (score = mean response-token log-prob) on SmolLM2-135M-Instruct in
float32: RM 0 has the real weights, RM k > 0 the real weights times (1 + 0.01 k * noise) (fixed
seeds), all sharing one tokenizer object (the condition for stacking). The N (prompt, response)
pairs are GSM8K test questions in the LASeR reasoning prompt with the first 16 words of their
reference solutions as responses, chat-formatted by the RMs' encoder (micro-batches of 8, length-bucketed).

    python bench/bench_rm_stack.py            # K=4 RMs, N=32 responses
    python bench/bench_rm_stack.py --quick    # K=2, N=4, 8 words

Both sides warm up once (compiles), then the timed runs alternate; ratio = loop / stacked.
The scores of both must agree (max abs diff printed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def pairs(n: int, words: int):
    """n (prompt, response) texts: GSM8K test questions and their reference solutions, cut to the
    first `words` words (0 = whole)."""
    from laser_jax.data.prompts import format_prompt

    examples = common.gsm8k_examples(n)
    lines = (common.DATA / "gsm8k" / "test.jsonl").read_text().splitlines()[:n]
    solutions = [json.loads(line)["answer"] for line in lines]
    if words:
        solutions = [" ".join(s.split()[:words]) for s in solutions]
    return [format_prompt(ex) for ex in examples], solutions


def perturbed_models(model, k: int, scale: float = 0.01):
    """k models: `model` itself, then copies with every parameter times (1 + scale * i * N(0,1))."""
    import jax
    from flax import nnx

    graphdef, state = nnx.split(model)
    models = [model]
    for i in range(1, k):
        leaves, tree = jax.tree.flatten(state)
        keys = jax.random.split(jax.random.key(i), len(leaves))
        noisy = [x * (1 + scale * i * jax.random.normal(kk, x.shape, x.dtype)) if x.dtype.kind == "f" else x
                 for x, kk in zip(leaves, keys)]
        models.append(nnx.merge(graphdef, jax.tree.unflatten(tree, noisy)))
    return models


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--rms", type=int, default=4, help="K")
    p.add_argument("--responses", type=int, default=32, help="N")
    p.add_argument("--batch-size", type=int, default=8, help="RM micro-batch rows")
    p.add_argument("--words", type=int, default=16, help="cut each solution to its first WORDS words (0: whole)")
    args = p.parse_args()
    if args.quick:
        args.rms, args.responses, args.words = 2, 4, 8
    repeat = args.repeat or (1 if args.quick else 2)

    import time

    import numpy as np

    from laser_jax.rewards import LikelihoodRM, RMSet

    info = common.print_machine()
    path = common.smollm2_path()
    tok = common.load_tokenizer(path)
    prompts, responses = pairs(args.responses, args.words)
    models = perturbed_models(common.load_jax(path), args.rms)
    rms = [LikelihoodRM(m, tok, f"smollm2-{i}", batch_size=args.batch_size) for i, m in enumerate(models)]
    rows = rms[0].encode(prompts, responses)
    lens = [len(r.ids) for r in rows]
    print(f"# {args.rms} LikelihoodRMs on SmolLM2-135M-Instruct float32 (RM k: weights x (1 + 0.01k N(0,1))), "
          f"{args.responses} GSM8K (prompt, solution cut to {args.words or 'all'} words) pairs, chat-formatted, "
          f"{min(lens)}..{max(lens)} tokens (sum {sum(lens)}), micro-batches of "
          f"{args.batch_size}; {repeat} timed runs per side, alternating, after 1 warm-up")
    t0 = time.perf_counter()
    rm_set = RMSet(rms)
    build_s = time.perf_counter() - t0
    assert len(rm_set.plan) == 1, f"the RMs did not stack: {rm_set.plan}"

    def stacked():
        return rm_set.score_all(prompts, responses)

    def loop():
        return np.stack([rm.score(prompts, responses) for rm in rms])

    times = common.timeit_pair({"stacked": stacked, "loop": loop}, warmup=1, repeat=repeat)
    a, b = stacked(), loop()
    diff = float(np.abs(a - b).max())
    spread = float(np.abs(a - a[:1]).max())
    ts, tl = times["stacked"], times["loop"]
    ratio = tl["median"] / ts["median"]
    print(f"# RMSet built (weights stacked) in {build_s:.2f} s; first calls (compile): stacked {ts['first']:.1f} s, "
          f"loop {tl['first']:.1f} s")
    print(f"laser_jax RMSet.score_all (vmapped): {ts['median']:.3f} s  runs {common.fmt_runs(ts)}")
    print(f"loop of {args.rms} RM.score calls     : {tl['median']:.3f} s  runs {common.fmt_runs(tl)}")
    print(f"# check: scores [{args.rms}, {args.responses}], max |stacked - loop| = {diff:.2e} (RMs differ from RM 0 "
          f"by up to {spread:.3f}, so the stack keeps them apart)")
    print(f"RESULT rm_stack: stacked {ts['median']:.2f} s vs loop {tl['median']:.2f} s -> {ratio:.2f}x")
    figures = {"config": dict(rms=args.rms, responses=args.responses, batch_size=args.batch_size, repeat=repeat,
                              tokens_min=min(lens), tokens_max=max(lens)),
               "stacked_s": ts["median"], "stacked_runs": ts["runs"], "stacked_cpu_s": ts["cpu"],
               "tokens": sum(lens), "loop_s": tl["median"], "loop_runs": tl["runs"], "loop_cpu_s": tl["cpu"], "ratio": ratio,
               "build_s": build_s, "compile_stacked_s": ts["first"], "compile_loop_s": tl["first"],
               "max_abs_diff": diff}
    common.report("rm_stack", figures, info, args.json)


if __name__ == "__main__":
    main()
