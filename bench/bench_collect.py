"""Where a best-of-n collect batch's time goes (laser_jax/best_of_n/collect.py), phase by phase, on
the front door's config: the bandit's context, sampling, scoring by every RM.

    python bench/bench_collect.py                 # configs/best_of_n.py, its first 2 batches
    python bench/bench_collect.py --quick         # configs/best_of_n.py:quick, one batch: a smoke run

Per batch (the config's training.batch_size queries, the calibration stream first, as `collect`
orders them) it times, in one process:
- context, ours: `training.step.contexts` after sampling (the sampler's prefill already computed
  each prompt's final hidden state: `SampleOutput.last_hidden`);
- context, peer: the separate pass over the prompts that collect ran before ca0b026
  (the runtime's jitted context function), with the largest difference between the two;
- sample (`training.step.sample_batch`) and score (`training.step.score_samples`, every RM).
The first batch includes compilation. A whole collect is 16 batches of the front door's config
(`python -m laser_jax.best_of_n --config configs/best_of_n.py` reports it as time_s.collect).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402


def main():
    p = common.parser(__doc__.split("\n")[0])
    p.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "best_of_n.py"),
                   help="a best-of-n config file, optionally with :size")
    p.add_argument("--batches", type=int, default=2)
    args = p.parse_args()

    import jax
    import numpy as np

    from laser_jax import sharding as shd
    from laser_jax.best_of_n.collect import queries
    from laser_jax.best_of_n.run import validate
    from laser_jax.training import step as train_step
    from laser_jax.training.runtime import build_runtime

    info = common.print_machine()
    path, _, size = args.config.partition(":")
    if args.quick:  # the config's quick size, one batch
        size, args.batches = size or "quick", 1
    spec = importlib.util.spec_from_file_location("collect_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config(size) if size else mod.get_config()
    t = time.perf_counter()
    rt, params = build_runtime(validate(c), Path(tempfile.mkdtemp(prefix="bench_collect_")), None)
    print(f"# {args.config}: {len(queries(rt))} queries, {c.training.batch_size} per batch, n={c.sampling.n}, "
          f"<= {c.sampling.max_new_tokens} new tokens, RMs {list(rt.reward_names)}; runtime built in "
          f"{time.perf_counter() - t:.1f} s")
    items = queries(rt)
    b = c.training.batch_size
    figures = []
    for i in range(min(args.batches, -(-len(items) // b))):
        examples = [ex for ex, _ in items[i * b:(i + 1) * b]]
        batch = train_step.encode(rt, examples)
        t0 = time.perf_counter()
        ids, mask = shd.global_batch(batch.ids, rt.mesh), shd.global_batch(batch.mask, rt.mesh)
        separate = np.asarray(shd.to_host(rt.fns.context(params, rt.frozen, ids, mask)))
        t1 = time.perf_counter()
        out, texts = train_step.sample_batch(rt, params, batch, jax.random.PRNGKey(i))
        t2 = time.perf_counter()
        ours = train_step.contexts(rt, params, batch, out)
        t3 = time.perf_counter()
        train_step.score_samples(rt, batch, texts, np.ones((len(examples), len(rt.reward_names))))
        t4 = time.perf_counter()
        row = dict(batch=i, prompt_tokens=int(batch.ids.shape[1]), context_ours_s=t3 - t2, context_peer_s=t1 - t0,
                   context_max_diff=float(np.abs(ours - separate).max()), sample_s=t2 - t1, score_s=t4 - t3)
        figures.append(row)
        print(f"batch {i} (prompts padded to {row['prompt_tokens']}): context ours {row['context_ours_s']:.3f} s "
              f"vs separate pass {row['context_peer_s']:.2f} s (max |diff| {row['context_max_diff']:.1e} of "
              f"max |ctx| {np.abs(separate).max():.1f}) | sample {row['sample_s']:.1f} s | score {row['score_s']:.1f} s",
              flush=True)
    common.report("collect", {"batches": figures}, info, args.json)


if __name__ == "__main__":
    main()
