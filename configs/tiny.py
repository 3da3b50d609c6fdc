"""A smoke run of the whole loop in seconds, offline: a tiny random policy, three reward models of
three kinds (a tiny classifier, a tiny LM's likelihood, the exact-match verifier) and a small
arithmetic task in GSM8K format. The tiny models and data are written once under
$LASER_JAX_CACHE/tiny (default ~/.cache/laser_jax/tiny).

    python -m laser_jax.main --config configs/tiny.py --workdir /tmp/laser-tiny
"""

from laser_jax.config import base_config
from laser_jax.models.embedded import cache_dir
from laser_jax.models.tiny import smoke_assets


def get_config():
    a = smoke_assets(cache_dir() / "tiny")
    c = base_config()
    c.selector = "laser"
    c.policy.path = str(a["policy"])
    c.policy.lora_rank = 4
    c.policy.lora_alpha = 8.0
    c.rewards = [
        dict(name="classifier", kind="classifier", path=str(a["rm_classifier"])),
        dict(name="likelihood", kind="likelihood", path=str(a["rm_lm"])),
        dict(name="exact_match", kind="verifier", task="gsm8k"),
    ]
    c.data.task = "gsm8k"
    c.data.path = str(a["data"])
    c.data.train_split = c.data.test_split = "all"
    c.data.holdout_fraction = 0.25
    c.sampling.n = 4
    c.sampling.max_new_tokens = 8
    c.sampling.max_prompt_tokens = 256
    c.training.iterations = 2
    c.training.batch_size = 3
    c.training.pairs_per_prompt = 2
    c.training.learning_rate = 1e-3
    c.training.checkpoint_every = 2
    c.eval.batch_size = 6
    c.eval.max_new_tokens = 8
    return c
