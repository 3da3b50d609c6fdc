"""The RM pool of the best-of-n front door: four specialist reward models trained by laser_jax.

    python -m laser_jax.rm_pool --config configs/rm_pool.py --out /work/rm_pool_out
    python -m laser_jax.rm_pool --config configs/rm_pool.py:quick --out /tmp/pool   # tiny models, seconds

Each specialist is SmolLM2-135M-Instruct + a rank-8 LoRA adapter on the attention's q and v trained by the training setting
(DPO + NLL on pairs of its own samples, ranked by the exact-match verifier against the gold answer:
selector fixed on that one RM) on one family of the demo tasks, or all three (the generalist,
another seed); as a reward model it scores beta * (log pi_adapter - log pi_base) (`implicit_dpo`
with `adapter:`). None is the policy's own likelihood.

Questions: the demo's "test" split of seed 0 (32 per family; 28 trained on, 4 held out). The
front door (configs/best_of_n.py) queries the "train" split of seed 0, which never shares a question
with "test" (laser_jax/data/synthetic.py; tests/training/test_rm_pool.py checks it).

Sizes: 7 steps per specialist (28 questions, 4 per step, 8 samples of up to 48 tokens, 2 pairs
per question where the verifier separates two samples). Measured on 2 shared CPU cores
(2026-12-06): a step takes 45-58 s (36 s of it sampling; ~15 s when no question yields a pair),
the first step of a build ~1.5 min more (compilation); the whole build took 22 min 16 s.

The committed pool, assets/rm_pool/ (pool.json, the adapters, each run's metrics.jsonl), was built
by that build with

    python -m laser_jax.rm_pool --config configs/rm_pool.py --out /work/rm_pool_out

(at commit fd9b39e's configs/rm_pool.py; pool.json records the config), 1,843,952 bytes each:

    d45aee4ba3613d8ac2beadfe193f5de5cb14098a6f73e68f383f610ece5c37d0  dpo_arithmetic.safetensors  (17 pairs)
    4f49e55e756dffff8a633b175b066f5dc65210a7e5ea32bfb90672070041f42f  dpo_yesno.safetensors       (41 pairs)
    281eac42f85316ed99405802948c72e817d5564591de8a9b029c08691533c3ad  dpo_choice.safetensors      (10 pairs)
    01dad2ddf1970d3ea42d8bcda557d842a545d76b56be34c1b842381f349660fc  dpo_all.safetensors         (22 pairs)

A config uses them as `c.rewards = laser_jax.training.specialists.pool_rewards("assets/rm_pool")`
(adapter paths found beside pool.json). Trained on few pairs, they are weak judges: on 8 front-door
questions per family, a gold answer against a wrong one (short templated replies), only dpo_yesno
prefers the gold answer on its own family more often than chance (6 of 8).
"""

from ml_collections import ConfigDict

from laser_jax.config import base_config

FAMILIES = ("arithmetic", "yesno", "choice")


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/rm_pool.py:{size}: the size is 'quick' or 'full' (default)")
    r = base_config()
    r.selector = "fixed"
    r.selector_args.arm = 0
    r.rewards = [dict(name="gold", kind="verifier", rule="exact_match")]
    r.policy.path = "smollm2-135m-instruct"
    r.policy.lora_rank = 8
    r.policy.lora_alpha = 16.0
    r.policy.lora_targets = ("q", "v")  # 1.8 MB per adapter in float32 (all seven projections: 9.8 MB)
    r.data.task = "demo"
    r.data.train_split = r.data.test_split = "test"  # never the front door's "train" split
    r.data.holdout_fraction = 0.125
    r.sampling.n = 8
    r.sampling.temperature = 0.8
    r.sampling.max_new_tokens = 48
    r.sampling.max_prompt_tokens = 256
    r.training.iterations = 1
    r.training.batch_size = 4
    r.training.pairs_per_prompt = 2
    r.training.learning_rate = 2e-4
    r.training.checkpoint_every = 2
    r.eval.before = r.eval.after = False
    r.logging.plot = False
    r.logging.tensorboard = False
    c = ConfigDict()
    c.run = r
    c.beta = 0.1
    c.specialists = [dict(name=f"dpo_{f}", families=(f,), seed=1) for f in FAMILIES]
    # the generalist: as many questions as a specialist (28), drawn from all three families
    c.specialists.append(dict(name="dpo_all", families=FAMILIES, seed=2, train_limit=28))
    if size == "quick":
        from laser_jax.models.embedded import cache_dir
        from laser_jax.models.tiny import smoke_assets

        r.policy.path = str(smoke_assets(cache_dir() / "tiny")["policy"])
        r.policy.lora_rank = 2
        r.policy.lora_alpha = 4.0
        r.data.train_limit = 2
        r.sampling.n = 4
        r.sampling.max_new_tokens = 4
        r.training.batch_size = 2
        r.training.learning_rate = 1e-3
        c.specialists = [dict(name="dpo_arithmetic", families=("arithmetic",), seed=1),
                         dict(name="dpo_all", families=FAMILIES, seed=2, train_limit=2)]
    return c
