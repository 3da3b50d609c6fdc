"""LASeR with Gemma-3-270M (google/gemma-3-270m, the base model; fetched once from PyPI, see
laser_jax/models/embedded.py) as the policy with LoRA, offline on CPU: generated one-step sums in
GSM8K format, prompted as plain text (the base model has no chat template). Three reward models
of three kinds: the exact-match verifier, Gemma's own likelihood of the response, and SmolLM2's
likelihood: an RM of another family whose tokenizer re-tokenises Gemma's text.

    python -m laser_jax.main --config configs/gemma_policy.py --workdir runs/gemma

Small batches (2 prompts x 4 samples of 32 tokens, one iteration) keep it to minutes on a laptop
CPU; Gemma's 262k-entry LM head makes each token about 4x SmolLM2's work there.
"""

from laser_jax.config import base_config
from laser_jax.models.embedded import cache_dir
from laser_jax.models.tiny import write_arithmetic


def get_config():
    data = cache_dir() / "gemma-demo" / "sums.jsonl"
    if not data.exists():
        write_arithmetic(data, n=20, seed=0)
    c = base_config()
    c.selector = "laser"
    c.policy.path = "gemma-3-270m"
    c.policy.lora_rank = 8
    c.policy.lora_alpha = 16.0
    c.rewards = [
        dict(name="exact_match", kind="verifier", task="gsm8k"),
        # 32 positions x 4 rows of Gemma's float32 logits at a time: 134 MB
        dict(name="gemma_likelihood", kind="likelihood", path="gemma-3-270m", batch_size=4, chunk=32),
        dict(name="smollm2_likelihood", kind="likelihood", path="smollm2-135m-instruct"),
    ]
    c.data.task = "gsm8k"
    c.data.path = str(data)
    c.data.train_split = c.data.test_split = "all"
    c.data.holdout_fraction = 0.3
    c.sampling.n = 4
    c.sampling.max_new_tokens = 32
    c.sampling.max_prompt_tokens = 128
    c.training.iterations = 1
    c.training.batch_size = 2
    c.training.pairs_per_prompt = 2
    c.training.learning_rate = 1e-4
    c.training.checkpoint_every = 4
    c.eval.batch_size = 6
    c.eval.max_new_tokens = 32
    return c
