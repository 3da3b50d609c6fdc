"""Best-of-n on long prompts, offline: generated documents (~900 tokens) with a fact hidden in
filler text and two distractors of the same kind (laser_jax/data/longdoc.py), LongBench's
multifieldqa_en template and QA F1; SmolLM2 as policy and likelihood RM.

    python -m laser_jax.best_of_n --config configs/best_of_n_long.py --workdir runs/bon-long

Reward models: `exact_match` (reads the gold answer: the oracle judge), `in_context` (label-free:
the answer occurs in the document; fooled by the distractors), `smollm2_lik` (SmolLM2's
likelihood of the answer, prompt run once for all samples), `length` (wrong).
"""

from laser_jax.config import replay_config
from laser_jax.config import base_config


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/best_of_n_long.py:{size}: the size is 'quick' or 'full' (default)")
    c = base_config()
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 0
    c.rewards = [
        dict(name="exact_match", kind="verifier", rule="exact_match"),
        dict(name="in_context", kind="verifier", rule="in_context"),
        dict(name="smollm2_lik", kind="likelihood", path="smollm2-135m-instruct"),
        dict(name="length", kind="verifier", rule="length"),
    ]
    c.data.task = "longdoc"
    c.data.train_limit = 24  # calibration stream
    c.data.test_limit = 48
    c.sampling.n = 8
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 16  # short extractive answers (LongBench gives such datasets 32)
    c.sampling.max_prompt_tokens = 1024
    c.training.batch_size = 8
    c.replay = replay_config()
    if size == "quick":
        c.data.train_limit, c.data.test_limit, c.sampling.n = 6, 12, 4
        c.replay.orders = 10
        c.replay.resamples = 200
    return c
