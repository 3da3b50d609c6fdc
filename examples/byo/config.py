"""Best-of-n on your own reward models and your own questions (examples/byo/README.md).

    python -m laser_jax.best_of_n --config examples/byo/config.py --workdir runs/byo

The policy (SmolLM2-135M-Instruct, embedded, offline) samples n=4 answers to each question of
questions.jsonl beside this file; every reward model of the pool scores them; every method
(LASeR, the best single RM, random, ensemble, ...) is replayed on those same samples and scores.
The pool: two Python functions of rewards.py and a yes/no judge (SmolLM2 asked whether the final
answer is correct). Paths are read relative to this file, so the command works from any directory.
"""

from pathlib import Path

from laser_jax.config import base_config, replay_config

HERE = Path(__file__).resolve().parent


def get_config():
    c = base_config()
    c.selector = "laser"
    c.policy.path = "smollm2-135m-instruct"
    c.policy.lora_rank = 0
    c.rewards = [
        dict(name="arithmetic_check", kind="python", function=f"{HERE / 'rewards.py'}:arithmetic_check"),
        dict(name="answer_format", kind="python", function=f"{HERE / 'rewards.py'}:answer_format", max_words=80),
        # question: none given, so the default of the rows' task (jsonl:numeric -> "Is the final answer
        # of this response correct?"); batch_size: rows per forward pass
        dict(name="judge", kind="judge", path="smollm2-135m-instruct", batch_size=16),
    ]
    c.data.task = "jsonl"
    c.data.path = str(HERE / "questions.jsonl")
    c.data.metric = "numeric"  # every line's answer is a number
    # one file: 8 of its 32 questions are the labelled calibration stream (LASeR's warm-up, the
    # choice of `best`), the other 24 the reported test queries
    c.data.train_split = c.data.test_split = "train"
    c.data.holdout_fraction = 0.75
    c.sampling.n = 4
    c.sampling.temperature = 0.7
    c.sampling.max_new_tokens = 96
    c.sampling.max_prompt_tokens = 256
    c.training.batch_size = 8  # queries per sampling batch
    c.replay = replay_config()
    c.replay.orders = 20
    c.replay.resamples = 500
    return c
