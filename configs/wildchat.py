"""The paper's instruction-following setting: WildChat prompts (first user turns, English,
non-toxic, de-duplicated, 3..256 words: laser_jax/data/wildchat.py), DPO without NLL
(training.alpha_nll = 0), the policy's chat template, 512 new tokens; the policy and the four RMs
of the reasoning settings (configs/gsm8k.py: Llama-3-8B-Instruct with LoRA; Zephyr-7B-Alpha,
Qwen1.5-7B-Chat, Eurus-7B-KTO, OLMo-7B-Instruct as implicit DPO rewards). No gold answers: the
evaluation records the test prompts' responses (eval_after.jsonl, with prompt and category), which
a judge compares with another run's (python -m laser_jax.judge). RM use per category:
rm_by_category.md and arms_by_category.png in the workdir.

    python -m laser_jax.main --config configs/wildchat.py --workdir runs/wildchat      # the hub
    python -m laser_jax.main --config configs/wildchat.py --workdir runs/wc \\
        --config.data.path=prompts.jsonl                  # {"prompt", "category"} per line
    python -m laser_jax.main --config configs/wildchat.py:quick --workdir runs/wildchat-quick

How many prompts the paper trained on is not in our notes: 5,000 training and 500 test prompts
(data.train_limit / test_limit, a seeded sample of the filtered prompts; 10 % held out first) are
our choice.

`:quick` runs offline in about a minute on 2 CPU cores: SmolLM2-135M-Instruct (LoRA) as the policy,
two RMs (SmolLM2's likelihood of the response, and the `length` program, which prefers longer
responses), 18 sample prompts in three categories (writing, coding, advice; written to the cache
on first use: laser_jax.data.wildchat.SAMPLE_PROMPTS) or data.path, 3 steps of 4 prompts, 4
samples of 32 new tokens each, one pair per prompt.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from gsm8k import paper_setting  # noqa: E402


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/wildchat.py:{size}: the size is 'quick' or 'full' (default)")
    c = paper_setting("wildchat")
    c.training.alpha_nll = 0.0  # DPO only for open-ended instruction following
    c.data.train_split = c.data.test_split = "train"  # WildChat's one split; 10 % held out
    c.data.holdout_fraction = 0.1
    c.data.train_limit = 5000
    c.data.test_limit = 500
    c.data.batch_by_family = True  # one category per batch when the prompts have categories
    c.sampling.max_new_tokens = 512
    c.sampling.max_prompt_tokens = 512
    c.eval.max_new_tokens = 512
    if size == "quick":
        from laser_jax.data.wildchat import write_sample
        from laser_jax.models.embedded import cache_dir

        sample = cache_dir() / "wildchat-quick" / "prompts.jsonl"
        if not sample.exists():
            write_sample(sample)
        c.policy.path = "smollm2-135m-instruct"
        c.policy.dtype = "float32"
        c.policy.lora_rank = 8
        c.policy.lora_alpha = 16.0
        c.policy.remat = False
        c.rewards = [dict(name="smollm2_lik", kind="likelihood", path="smollm2-135m-instruct"),
                     dict(name="length", kind="verifier", rule="length", task="wildchat")]
        c.data.path = str(sample)
        c.data.holdout_fraction = 0.25
        c.data.train_limit = 12
        c.data.split_seed = 10  # this seed's 12 training prompts hold <= 4 per category: 3 batches of 4
        c.data.test_limit = 0
        c.training.iterations = 1
        c.training.batch_size = 4
        c.training.micro_batches = 1
        c.training.pairs_per_prompt = 1
        c.training.learning_rate = 1e-4
        c.training.checkpoint_every = 3
        c.sampling.n = 4
        c.sampling.max_new_tokens = 32
        c.sampling.max_prompt_tokens = 128
        c.eval.batch_size = 8
        c.eval.max_new_tokens = 32
        c.logging.tensorboard = False
    return c
