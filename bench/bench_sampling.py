"""Sampling throughput: laser_jax.sampling.sample vs transformers' PyTorch `generate`.

SmolLM2-135M-Instruct (the embedded GGUF, dequantised to float32, the same weights on both sides),
B chat-formatted GSM8K prompts left-padded to one length, n samples per prompt, exactly
`new` tokens each (both sides are kept from stopping: ours with eos_ids=(), HF with
min_new_tokens = max_new_tokens, which masks EOS), temperature 0.8, no top-k / top-p.

    python bench/bench_sampling.py            # 8 prompts x 4 samples x 64 tokens
    python bench/bench_sampling.py --quick    # 2 prompts x 2 samples x 16 tokens

tokens/s = B * n * new / seconds (median of the timed runs, after one warm-up run each; our
warm-up includes the jit compile, reported separately). HF runs with torch.set_num_threads(2) (the
default here) and with 1 thread (on a loaded 2-core machine OpenMP with 2 threads can be several
times slower); ratio = ours / the faster HF setting (target >= 4).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--new", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--skip-hf", action="store_true", help="time laser_jax only")
    p.add_argument("--hf-threads", default="2,1",
                   help="torch thread counts to time HF generate with (comma list; the ratio uses the faster)")
    args = p.parse_args()
    if args.quick:
        args.prompts, args.n, args.new = 2, 2, 16
    repeat = args.repeat or (1 if args.quick else 3)

    import jax
    import numpy as np
    import torch

    from laser_jax.sampling import SamplingConfig, sample

    threads = common.set_torch_threads(args.threads)
    hf_threads = [int(x) for x in args.hf_threads.split(",") if x] or [threads]
    info = common.print_machine()
    path = common.smollm2_path()
    tok = common.load_tokenizer(path)
    pad = common.pad_id(tok)
    ids, mask, _ = common.chat_prompts(tok, args.prompts, pad_id=pad)
    b, t = ids.shape
    total = args.prompts * args.n * args.new
    print(f"# SmolLM2-135M-Instruct float32; {b} prompts left-padded to {t} tokens "
          f"({int(mask.sum(1).min())}..{int(mask.sum(1).max())} real), n={args.n}, {args.new} new tokens each "
          f"(no stopping), temperature {args.temperature}, top-k/top-p off; HF with torch threads {hf_threads} "
          f"(default {threads}); "
          f"{repeat} timed runs per side, alternating, after 1 warm-up")

    # ---- laser_jax
    model = common.load_jax(path)
    cfg = SamplingConfig(max_new_tokens=args.new, temperature=args.temperature, n=args.n, eos_ids=(), pad_id=pad)
    key = jax.random.key(0)

    def ours_run():
        return sample(model, ids, mask, key, cfg)

    fns = {"ours": ours_run}
    if not args.skip_hf:
        hf = common.load_torch(path)
        # same weights: the prompts' last-token logits under both models
        with torch.no_grad():
            ref = hf(input_ids=torch.from_numpy(ids).long(), attention_mask=torch.from_numpy(mask).long()
                     ).logits[:, -1].numpy()
        mine = np.asarray(model(ids, mask)[:, -1])
        diff = float(np.abs(ref - mine).max())
        print(f"# check: last-token logits, max |HF - ours| = {diff:.2e} (logit scale {np.abs(ref).max():.1f})")
        input_ids, attn = torch.from_numpy(ids).long(), torch.from_numpy(mask).long()
        gen = dict(do_sample=True, temperature=args.temperature, top_k=0, top_p=1.0, num_return_sequences=args.n,
                   max_new_tokens=args.new, min_new_tokens=args.new, pad_token_id=pad)

        def hf_runner(th):
            def run():
                torch.set_num_threads(th)
                torch.manual_seed(0)
                with torch.inference_mode():
                    return hf.generate(input_ids=input_ids, attention_mask=attn, **gen)
            return run

        for th in hf_threads:
            fns[f"hf@{th}"] = hf_runner(th)

    times = common.timeit_pair(fns, warmup=1, repeat=repeat)
    ours = times["ours"]
    out = ours_run()
    lengths = np.asarray(out.lengths)
    assert out.tokens.shape == (b, args.n, args.new) and (lengths == args.new).all(), lengths
    compile_s = ours["first"] - ours["median"]
    ours_tps = total / ours["median"]
    print(f"laser_jax sample    : {ours['median']:7.3f} s {ours_tps:7.1f} tokens/s  runs {common.fmt_runs(ours)}; "
          f"first call {ours['first']:.1f} s (compile ~{compile_s:.1f} s)")
    figures = {"config": dict(prompts=b, prompt_len=t, n=args.n, new_tokens=args.new, temperature=args.temperature,
                              hf_threads=hf_threads, repeat=repeat),
               "tokens": total, "ours_s": ours["median"], "ours_min_s": ours["min"], "ours_runs": ours["runs"],
               "ours_cpu_s": ours["cpu"], "ours_tokens_per_s": ours_tps, "ours_compile_s": compile_s, "hf": {}}
    if not args.skip_hf:
        res = fns[f"hf@{hf_threads[0]}"]()
        assert res.shape == (b * args.n, t + args.new), res.shape
        for th in hf_threads:
            peer = times[f"hf@{th}"]
            tps = total / peer["median"]
            print(f"HF generate {th} thr.: {peer['median']:7.3f} s {tps:7.1f} tokens/s  runs {common.fmt_runs(peer)}; "
                  f"warm-up {peer['first']:.1f} s; laser_jax is {ours_tps / tps:.2f}x (medians), "
                  f"{peer['min'] / ours['min']:.2f}x (best runs)")
            figures["hf"][th] = dict(s=peer["median"], min_s=peer["min"], runs=peer["runs"], cpu_s=peer["cpu"],
                                     tokens_per_s=tps, ratio=ours_tps / tps, ratio_min=peer["min"] / ours["min"])
        best = max(figures["hf"], key=lambda th: figures["hf"][th]["tokens_per_s"])
        peer_tps = figures["hf"][best]["tokens_per_s"]
        ratio = ours_tps / peer_tps
        print(f"RESULT sampling: laser_jax {ours_tps:.1f} tokens/s vs HF generate {peer_tps:.1f} tokens/s "
              f"(its faster setting, torch {best} threads) -> {ratio:.2f}x (target >= 4x: "
              f"{'met' if ratio >= 4 else 'NOT met'})")
        figures.update(hf_best_threads=best, hf_tokens_per_s=peer_tps, ratio=ratio, logits_max_abs_diff=diff,
                       target=4.0, target_met=ratio >= 4)
    common.report("sampling", figures, info, args.json)


if __name__ == "__main__":
    main()
