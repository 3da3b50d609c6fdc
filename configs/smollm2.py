"""LASeR on a real pretrained model, offline: SmolLM2-135M-Instruct (fetched once from PyPI, see
laser_jax/models/embedded.py) as the policy with LoRA, on generated one-step sums in GSM8K format;
three reward models of three kinds that disagree: the exact-match verifier, SmolLM2's own
likelihood of the response, and the verifier with Gaussian noise (sigma 0.5).

    python -m laser_jax.main --config configs/smollm2.py --workdir runs/smollm2
"""

from laser_jax.config import base_config
from laser_jax.models.embedded import cache_dir
from laser_jax.models.tiny import write_arithmetic


def get_config():
    data = cache_dir() / "smollm2-demo" / "sums.jsonl"
    if not data.exists():
        write_arithmetic(data, n=40, seed=0)
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 8
    c.policy.lora_alpha = 16.0
    c.rewards = [
        dict(name="exact_match", kind="verifier", task="gsm8k"),
        dict(name="smollm2_likelihood", kind="likelihood", path="smollm2-135m-instruct"),
        dict(name="noisy_match", kind="verifier", task="gsm8k", noise=0.5, noise_seed=1),
    ]
    c.data.task = "gsm8k"
    c.data.path = str(data)
    c.data.train_split = c.data.test_split = "all"
    c.data.holdout_fraction = 0.3
    c.sampling.n = 4
    c.sampling.max_new_tokens = 48
    c.sampling.max_prompt_tokens = 192
    c.training.iterations = 1
    c.training.batch_size = 4
    c.training.pairs_per_prompt = 2
    c.training.learning_rate = 1e-4
    c.training.checkpoint_every = 4
    c.eval.batch_size = 12
    c.eval.max_new_tokens = 48
    return c
