"""Instruction following with an objective score, offline: LASeR on `data.task=ifeval_like`
(laser_jax/data/ifeval.py: generated writing prompts with IFEval's checkable instructions, each
prompt's from one group, the family: length, format, words) with SmolLM2-135M-Instruct (LoRA) as
the policy and four RMs (laser_jax/rewards/programs.py):
  smollm2_lik     SmolLM2's mean log-likelihood of the response (a real model, unreliable)
  ifeval_length   share of the prompt's length instructions followed; blind on the other families
  ifeval_format   the same for the format instructions (bullets, JSON, title, case, no comma)
  ifeval_words    the same for the word instructions (keywords, forbidden words, end phrase)
so the right RM differs by family. DPO only (training.alpha_nll = 0), as for WildChat. Evaluation
reports IFEval's prompt- and instruction-level strict and loose accuracy (results.json "ifeval",
each record's "instructions"); RM use per family: rm_by_category.md, arms_by_category.png.

    python -m laser_jax.main --config configs/ifeval_like.py:quick --workdir runs/ifeval-quick
    python -m laser_jax.main --config configs/ifeval_like.py --workdir runs/ifeval
    python -m laser_jax.compare --config configs/ifeval_like.py --workdir runs/ifeval-all \\
        --methods laser,fixed:ifeval_format,random,ensemble

`:quick`: 12 training prompts (3 steps of 4, one family each), 12 test prompts, 4 samples of 32 new
tokens, one pair per prompt.
"""

from laser_jax.config import base_config
from laser_jax.rewards.programs import ifeval_rewards


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/ifeval_like.py:{size}: the size is 'quick' or 'full' (default)")
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 8
    c.policy.lora_alpha = 16.0
    c.rewards = ifeval_rewards()  # smollm2_lik, ifeval_length, ifeval_format, ifeval_words
    c.data.task = "ifeval_like"
    c.data.batch_by_family = True
    c.data.train_limit = 48
    c.data.test_limit = 48
    c.sampling.n = 4
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 128
    c.sampling.max_prompt_tokens = 128
    c.training.iterations = 2
    c.training.batch_size = 4
    c.training.pairs_per_prompt = 2
    c.training.alpha_nll = 0.0
    c.training.learning_rate = 1e-4
    c.training.checkpoint_every = 6
    c.eval.batch_size = 16
    c.eval.max_new_tokens = 128
    if size == "quick":
        c.data.train_limit = 12
        c.data.split_seed = 11  # this seed's 12 training prompts are 4 per family: 3 batches of 4
        c.data.test_limit = 12
        c.sampling.max_new_tokens = 32
        c.training.iterations = 1
        c.training.pairs_per_prompt = 1
        c.training.checkpoint_every = 3
        c.eval.batch_size = 12  # one evaluation batch
        c.eval.max_new_tokens = 32
        c.logging.tensorboard = False
    return c
