"""Best-of-n with a bandit choosing the reward model, on the demo tasks and SmolLM2 (offline).

Every method is replayed on the same samples and RM scores (laser_jax/best_of_n/run.py):

    python -m laser_jax.best_of_n --config configs/best_of_n.py --workdir runs/bon
    python -m laser_jax.best_of_n --config configs/best_of_n.py:quick --workdir runs/bon-quick

Queries: the demo's generated tasks (arithmetic, yes/no, multiple choice): 154 reported test
queries and a labelled calibration stream of 38. Reward models: the committed pool of four
implicit-DPO specialists (assets/rm_pool/, built by `python -m laser_jax.rm_pool --config
configs/rm_pool.py`: SmolLM2 + one LoRA adapter each, trained on demo questions this config never
asks). The protocol of the full run is pre-registered in docs/front_door_protocol.md; the demo's
program RMs (calculator, choice_checker, smollm2_lik, length: configs/demo.py) were the pool before
2026-12-06 (their results: docs/best_of_n.md).
"""

from pathlib import Path

from laser_jax.config import replay_config
from laser_jax.config import base_config
from laser_jax.training.specialists import pool_rewards

POOL = Path(__file__).resolve().parents[1] / "assets" / "rm_pool"


def get_config(size: str | None = None):
    if size not in (None, "", "full", "quick"):
        raise ValueError(f"configs/best_of_n.py:{size}: the size is 'quick' or 'full' (default)")
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 0
    c.rewards = pool_rewards(POOL)  # dpo_arithmetic, dpo_yesno, dpo_choice, dpo_all
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
    c.replay.noise_rm = ""  # no noisy-RM analysis (the protocol's choice)
    # every method of the replay (docs/front_door_protocol.md), fixed:<rm> for each RM of the pool
    c.replay.methods = ("laser", "laser_per_query", "thompson", "laser_prior", "thompson_prior", "random",
                        "sequential", "ensemble", "agreement", "online_ensemble", "exp3", "best",
                        *(f"fixed:{r['name']}" for r in c.rewards), "oracle", "random_response")
    if size == "quick":
        c.data.train_limit = 12
        c.data.test_limit = 24
        c.sampling.n = 4
        c.sampling.max_new_tokens = 32
        c.replay.orders = 20
        c.replay.resamples = 200
        c.replay.methods = replay_config().methods  # the default set: a smoke run
    return c
