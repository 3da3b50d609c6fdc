"""Reward models: one interface (`RewardModel.score(prompts, responses, golds) -> [N]`), four kinds.

- `ClassifierRM`: HF *ForSequenceClassification, the label logit at the last real token.
- `ImplicitDPORM`: beta * (log pi_rm(y|x) - log pi_ref(y|x)), summed over response tokens.
- `LikelihoodRM`: mean token log-prob of the response under an LM.
- `AdapterDPORM`: the implicit DPO reward of a LoRA adapter against its own base; several on one
  base are scored together, the base once (`MultiLoRARMs`).
- `VerifierRM` / `exact_match(task)`: a program of (prompt, response, gold).
- `JudgeRM`: an LM asked a yes/no question about each response, log p(yes) - log p(no).
Plus `NoisyRM` (Gaussian score noise), `StackedRMs` / `RMSet` / `score_with` (same-architecture RMs
in one vmapped call) and `build_reward_model(s)` (from config). Per-RM z-scores (standardising) live
in `laser_jax.bandit.combine`.
Log-probs come from `laser_jax.models.logprobs`, the path the training loss uses too.
"""

from laser_jax.rewards.base import RewardModel, check_inputs
from laser_jax.rewards.batching import bucket_length, bucket_rows, micro_batches
from laser_jax.rewards.build import build_reward_model, build_reward_models
from laser_jax.rewards.classifier import ClassifierRM
from laser_jax.rewards.judge import JudgeRM
from laser_jax.rewards.lm import ImplicitDPORM, LikelihoodRM
from laser_jax.rewards.multi_lora import AdapterDPORM, MultiLoRARMs
from laser_jax.rewards.neural import NeuralRM
from laser_jax.rewards.noise import NoisyRM
from laser_jax.rewards.stacked import RMSet, StackedRMs, score_with
from laser_jax.rewards.text import Encoded, PairEncoder
from laser_jax.rewards.verifier import VerifierRM, exact_match

__all__ = ["RewardModel", "check_inputs", "bucket_length", "bucket_rows", "micro_batches",
           "build_reward_model", "build_reward_models", "ClassifierRM", "JudgeRM", "ImplicitDPORM", "LikelihoodRM",
           "AdapterDPORM", "MultiLoRARMs",
           "NeuralRM", "NoisyRM",
           "RMSet", "StackedRMs", "score_with", "Encoded", "PairEncoder", "VerifierRM", "exact_match"]
