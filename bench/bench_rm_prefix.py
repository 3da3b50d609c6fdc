"""Prompt-once RM scoring: a likelihood RM scoring n responses of one long prompt, the prompt run
once (share_prompt=True, the default) vs every (prompt, response) row run whole (False).

SmolLM2-135M-Instruct (the embedded GGUF, float32) as the RM, plain format; one prompt of ~P tokens
(GSM8K questions joined), n responses of ~R tokens each (distinct texts).

    python bench/bench_rm_prefix.py                 # P=2000, R=32, n=8 and n=30 (the paper's)
    python bench/bench_rm_prefix.py --quick         # P=256, R=16, n=4

Scores of the two modes agree to 1e-4 (checked and printed); ratio = whole / shared seconds
(median of the timed runs, alternating, after one warm-up each that includes compilation).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--prompt-tokens", type=int, default=2000)
    p.add_argument("--response-tokens", type=int, default=32)
    p.add_argument("--n", default="8,30", help="responses per prompt (comma list)")
    p.add_argument("--batch-size", type=int, default=8, help="the RM's batch_size (rows per call)")
    args = p.parse_args()
    if args.quick:
        args.prompt_tokens, args.response_tokens, args.n = 256, 16, "4"
    repeat = args.repeat or (1 if args.quick else 2)

    import numpy as np

    from laser_jax.rewards import LikelihoodRM

    info = common.print_machine()
    path = common.smollm2_path()
    tok = common.load_tokenizer(path)
    model = common.load_jax(path)
    words = " ".join(ex.question for ex in common.gsm8k_examples(200)).split()
    prompt = tok.decode(tok(" ".join(words), add_special_tokens=False)["input_ids"][:args.prompt_tokens])
    figures = {}
    for n in [int(x) for x in args.n.split(",") if x]:
        responses = [tok.decode(tok(" ".join(words[7 * j + 3:]), add_special_tokens=False)["input_ids"]
                                [:args.response_tokens]) for j in range(n)]
        prompts = [prompt] * n
        rms = {share: LikelihoodRM(model, tok, f"lik-{share}", batch_size=args.batch_size, chat_template=False,
                                   share_prompt=share) for share in (True, False)}
        rows = rms[True].encode(prompts, responses)
        print(f"# n={n}: prompt {rows[0].n_prompt} tokens, responses {min(len(r.ids) - r.n_prompt for r in rows)}"
              f"..{max(len(r.ids) - r.n_prompt for r in rows)} tokens (+EOS), RM batch_size {args.batch_size}, "
              f"{repeat} timed runs each")
        t = common.timeit_pair({"shared": lambda: rms[True].score(prompts, responses),
                                "whole": lambda: rms[False].score(prompts, responses)}, repeat=repeat)
        a, b = rms[True].score(prompts, responses), rms[False].score(prompts, responses)
        diff = float(np.abs(a - b).max())
        ratio = t["whole"]["median"] / t["shared"]["median"]
        print(f"shared (prompt once)   {t['shared']['median']:8.2f} s  {common.fmt_runs(t['shared'])}")
        print(f"whole rows             {t['whole']['median']:8.2f} s  {common.fmt_runs(t['whole'])}")
        print(f"ratio whole/shared     {ratio:8.2f} x   max |score difference| {diff:.1e} "
              f"({'OK' if diff <= 1e-4 else 'MISMATCH'} at 1e-4)")
        figures[f"n{n}"] = {"shared_s": t["shared"]["median"], "whole_s": t["whole"]["median"], "ratio": ratio,
                            "max_abs_diff": diff, "prompt_tokens": rows[0].n_prompt}
    common.report("rm_prefix", figures, info, args.json)


if __name__ == "__main__":
    main()
