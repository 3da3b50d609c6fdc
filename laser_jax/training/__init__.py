"""The iterative training setting (the paper's main one): LASeR's bandit picks the reward model
that ranks the policy's samples for each batch, and the policy trains on the resulting pairs.

- `runtime`: what a run is made of (data, policy + LoRA, reward models, compiled functions) and
  its state (`TrainState`).
- `step`: one LASeR step, top to bottom.
- `loop`: `train(config, workdir)`: the loop with evaluation, checkpoints, resume, results.
- `update`: the optax DPO + NLL policy update; `losses`: the loss terms; `pairs`: preference pairs.
"""

from laser_jax.training.loop import train

__all__ = ["train"]
