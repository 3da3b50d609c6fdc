"""Best-of-n with Gemma-3-270M as a reward model of the SmolLM2 policy: an RM of another family
with another tokenizer (262k SentencePiece vocabulary against SmolLM2's 49k BPE), which re-tokenises
every (prompt, response) with its own tokenizer (laser_jax/rewards/text.py) and scores the mean
response log-prob under Gemma (plain text: the base model has no chat template).

    python -m laser_jax.best_of_n --config configs/gemma_rm.py:quick --workdir runs/gemma-rm

`:smoke` (tests/best_of_n/test_gemma_rm.py) keeps three RMs (calculator, smollm2_lik, gemma_lik),
10 queries (2 for calibration, 8 test) and 4 samples of 16 tokens each, in two sampling batches of
the shape the front door's test samples (tests/best_of_n/test_front_door.py).

The pool: the demo's four RMs (calculator, choice_checker, smollm2_lik, length: configs/demo.py)
and gemma_lik. Both real models come from PyPI once (laser_jax/models/embedded.py).
"""

from laser_jax.config import base_config, replay_config
from laser_jax.rewards.programs import demo_rewards

# Gemma's LM head has 262,144 outputs: 32 positions x 4 rows of float32 logits at a time is 134 MB
GEMMA_RM = dict(name="gemma_lik", kind="likelihood", path="gemma-3-270m", batch_size=4, chunk=32)


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick", "smoke"):
        raise ValueError(f"configs/gemma_rm.py:{size}: the size is 'smoke', 'quick' or 'full' (default)")
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 0
    c.rewards = demo_rewards() + [dict(GEMMA_RM)]
    c.data.task = "demo"
    c.data.train_split = c.data.test_split = "train"
    c.data.holdout_fraction = 0.8
    c.sampling.n = 8
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 48
    c.sampling.max_prompt_tokens = 256
    c.training.batch_size = 12
    c.replay = replay_config()
    c.replay.noise_rm = ""
    if size == "quick":
        c.data.train_limit = 12
        c.data.test_limit = 24
        c.sampling.n = 4
        c.sampling.max_new_tokens = 32
        c.replay.orders = 20
        c.replay.resamples = 200
    if size == "smoke":
        c.rewards = [r for r in c.rewards if r["name"] in ("calculator", "smollm2_lik", "gemma_lik")]
        c.data.train_limit, c.data.test_limit = 2, 8
        c.training.batch_size = 6  # two sampling batches (the second padded)
        c.sampling.n, c.sampling.max_new_tokens, c.sampling.max_prompt_tokens = 4, 16, 128
        c.replay.orders, c.replay.resamples = 5, 100
        c.replay.methods = ("laser", "best", "random", "oracle")
    return c
