"""Best-of-n with a bandit choosing the reward model, on the demo tasks and SmolLM2 (offline).

Every method is replayed on the same samples and RM scores (laser_jax/best_of_n/run.py):

    python -m laser_jax.best_of_n --config configs/best_of_n.py --workdir runs/bon
    python -m laser_jax.best_of_n --config configs/best_of_n.py:quick --workdir runs/bon-quick

Queries: the demo's generated tasks (arithmetic, yes/no, multiple choice): 154 reported test
queries and a labelled calibration stream of 38. Reward models as in configs/demo.py.
"""

from laser_jax.config import replay_config
from laser_jax.config import base_config
from laser_jax.rewards.programs import demo_rewards


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/best_of_n.py:{size}: the size is 'quick' or 'full' (default)")
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 0
    c.rewards = demo_rewards()  # calculator, choice_checker, smollm2_lik, length
    c.data.task = "demo"
    # one pool, the demo's 192 "train" questions (64 per family): 80 % (154) are the reported test
    # queries, the other 38 the labelled calibration stream (the bandit's warm-up, best's choice)
    c.data.train_split = c.data.test_split = "train"
    c.data.holdout_fraction = 0.8
    c.sampling.n = 8
    c.sampling.temperature = 0.8
    c.sampling.max_new_tokens = 48
    c.sampling.max_prompt_tokens = 256
    c.training.batch_size = 12  # queries per sampling batch
    c.replay = replay_config()
    c.replay.noise_rm = "choice_checker"  # the paper's noisy-RM analysis on the best single RM
    c.replay.noise_sigma = 1.0
    if size == "quick":
        c.data.train_limit = 12
        c.data.test_limit = 24
        c.sampling.n = 4
        c.sampling.max_new_tokens = 32
        c.replay.orders = 20
        c.replay.resamples = 200
    return c
