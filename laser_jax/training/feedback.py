"""What the selector learns from after a training step: the bandit reward and the RMs' agreement.

The bandit reward (config ``bandit.reward``; the selectors normalise it, ``bandit.normalise``):

  loss            -(the step's DPO+NLL training loss): the paper's. Label-free. Drawn to an RM that
                  agrees with the policy: the responses the policy already likes have the lowest
                  NLL, so an RM that ranks by the policy's own likelihood wins the bandit without
                  teaching anything (the demo: SmolLM2's likelihood RM, ranking accuracy 0.14).
  dpo_loss        -(the step's DPO term alone, without the NLL of the chosen responses). Label-free.
  gold_agreement  needs gold answers on the training prompts: over the step's trained pairs whose
                  two responses differ in correctness (the task's answer check against the gold),
                  the share whose chosen response is the correct one; 0.5 (no evidence either way)
                  when no trained pair differs in correctness.

A step whose chosen RM tied every pair (nothing trained) gets -inf whatever the reward: the
normalisation turns it into the worst reward. Per-prompt selection (``per_prompt``) gets one
reward per prompt, the same rules over that prompt's pairs.

The RMs' agreement, read by ``online_ensemble``, is `laser_jax.bandit.combine.pair_agreement`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from laser_jax.data.example import Example

REWARDS = ("loss", "dpo_loss", "gold_agreement")


def response_correct(examples: Sequence[Example], texts: Sequence[Sequence[str]]) -> np.ndarray:
    """[B, n] bool: each response's extracted answer is correct against its example's gold (the
    task's own extraction and check, data/tasks.py); False where no answer can be extracted or the
    example has no gold."""
    from laser_jax.data.tasks import extract_answer, is_correct

    def ok(ex, text):
        if ex.answer is None:
            return False
        said = extract_answer(ex.task, text, ex.choices)
        return said is not None and bool(is_correct(ex.task, said, ex.answer))

    return np.array([[ok(ex, t) for t in row] for ex, row in zip(examples, texts)], bool).reshape(
        len(examples), -1)


def _per_prompt_mean(values: np.ndarray, valid: np.ndarray, empty: float) -> np.ndarray:
    w = np.asarray(valid, np.float64)
    n = w.sum(axis=1)
    return np.where(n > 0, (np.asarray(values, np.float64) * w).sum(axis=1) / np.maximum(n, 1), empty)


def bandit_reward(kind: str, metrics: dict | None, valid: np.ndarray, *, per_prompt: bool = False,
                  correct: np.ndarray | None = None, chosen: np.ndarray | None = None,
                  rejected: np.ndarray | None = None) -> np.ndarray:
    """The step's raw bandit reward (module docstring): float32 scalar, or [B] with ``per_prompt``.

    metrics: the train step's (``loss``, ``dpo``, per pair ``pair_loss`` / ``pair_dpo`` [B, P]);
    None when nothing trained. valid [B, P]: the trained pairs. gold_agreement also reads
    correct [B, n] (`response_correct`) and the pairs' chosen / rejected indices [B, P]."""
    if kind not in REWARDS:  # BanditSection refuses a bad bandit.reward: a caller's bug here
        raise ValueError(f"bandit.reward={kind!r} must be one of {list(REWARDS)}")
    valid = np.asarray(valid, bool)
    b = valid.shape[0]
    if metrics is None or not valid.any():
        return np.full((b,) if per_prompt else (), -np.inf, np.float32)
    if kind in ("loss", "dpo_loss"):
        mean_key, pair_key = ("loss", "pair_loss") if kind == "loss" else ("dpo", "pair_dpo")
        if not per_prompt:
            return np.asarray(-float(metrics[mean_key]), np.float32)
        return np.where(valid.any(1), -_per_prompt_mean(metrics[pair_key], valid, 0.0), -np.inf).astype(np.float32)
    if correct is None or chosen is None or rejected is None:  # training/step.py's ConfigError comes first
        raise ValueError("bandit.reward='gold_agreement' needs each response's correctness and the pairs' "
                         "chosen / rejected indices")
    rows = np.arange(b)[:, None]
    c, r = np.asarray(correct, bool)[rows, chosen], np.asarray(correct, bool)[rows, rejected]
    informative = valid & (c != r)
    if not per_prompt:
        return np.asarray(c[informative].mean() if informative.any() else 0.5, np.float32)
    share = _per_prompt_mean(c, informative, 0.5)
    return np.where(valid.any(1), share, -np.inf).astype(np.float32)

