"""The training setting's config check: every section by the component that owns it, then the
fields the training loop itself reads. All problems are reported at once, each naming its field."""

from __future__ import annotations

import math

from ml_collections import ConfigDict

from laser_jax import data, sampling, sharding
from laser_jax.bandit import selectors
from laser_jax.bandit.normalise import RULES
from laser_jax.config import ConfigError
from laser_jax.models.config import check_attention
from laser_jax.models.loading import check_model_path
from laser_jax.rewards.build import check_specs
from laser_jax.training import feedback, update
from laser_jax.training.pairs import PAIRINGS
from laser_jax.training.runtime import CONTEXTS


def _int(v, low: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= low


def check_loop(c: ConfigDict) -> list[str]:
    """The fields the loop, the evaluation and the policy set-up read."""
    t, e, p = c.training, c.eval, c.policy
    problems = [f"training.{f}={t[f]!r} must be an integer >= {low}" for f, low in
                (("iterations", 1), ("batch_size", 1), ("checkpoint_every", 1), ("stop_after", 0))
                if not _int(t[f], low)]
    if not _int(t.keep_checkpoints, 1):  # 0 would let orbax delete every checkpoint, also a resumed run's
        problems.append(f"training.keep_checkpoints={t.keep_checkpoints!r} must be an integer >= 1")
    if not (isinstance(c.sampling.n, int) and c.sampling.n >= 2):
        problems.append(f"sampling.n={c.sampling.n} must be >= 2 (pairs need two samples)")
    else:
        pairing = t.get("pairing", "extremes")
        most = c.sampling.n - 1 if pairing == "top_vs_rest" else c.sampling.n // 2
        if pairing not in PAIRINGS:
            problems.append(f"training.pairing={pairing!r} must be one of {list(PAIRINGS)}")
        elif not (_int(t.pairs_per_prompt, 1) and t.pairs_per_prompt <= most):
            bound = "sampling.n - 1" if pairing == "top_vs_rest" else "sampling.n // 2"
            problems.append(f"training.pairs_per_prompt={t.pairs_per_prompt} must be between 1 and {bound} = "
                            f"{most} (training.pairing={pairing!r})")
    bandit = c.get("bandit", {})
    context = bandit.get("context", "last_hidden")
    if context not in CONTEXTS:
        problems.append(f"bandit.context={context!r} must be one of {list(CONTEXTS)}")
    normalise = bandit.get("normalise", "quantile")
    if normalise not in RULES:
        problems.append(f"bandit.normalise={normalise!r} must be one of {list(RULES)}")
    problems += feedback.check_config(bandit)
    task = data.TASKS.get(c.data.task)
    if bandit.get("reward", "loss") == "gold_agreement" and task is not None and not task.has_gold:
        problems.append(f"bandit.reward='gold_agreement' needs gold answers, and data.task={c.data.task!r} has "
                        "none; use bandit.reward='loss' or 'dpo_loss'")
    problems += [f"eval.{f}={e[f]!r} must be an integer >= 1" for f in ("batch_size", "max_new_tokens")
                 if not _int(e[f], 1)]
    problems += check_model_path(p.path, "policy.path")
    problems += check_attention(p.get("attention", "auto"), "policy.attention")
    if p.dtype not in ("float32", "bfloat16"):
        problems.append(f"policy.dtype={p.dtype!r} is not float32 or bfloat16")
    if not _int(p.lora_rank, 0):
        problems.append(f"policy.lora_rank={p.lora_rank} must be >= 0 (0 = full fine-tuning)")
    if not (isinstance(p.lora_alpha, (int, float)) and math.isfinite(p.lora_alpha)):
        problems.append(f"policy.lora_alpha={p.lora_alpha!r} must be a finite number")
    return problems


def validate(c: ConfigDict) -> None:
    """Raise one ConfigError listing every problem of a training config (nothing is loaded)."""
    rewards = list(c.rewards or [])
    problems = (data.check_config(c.data)
                + check_specs(rewards, default_task=c.data.task)
                + selectors.check_args(c.selector, c.selector_args, len(rewards))
                + sampling.check_config(c.sampling)
                + update.check_config(c.training)
                + check_loop(c)
                + sharding.check_mesh_config(c.mesh))
    if problems:
        raise ConfigError(f"invalid config ({len(problems)} problems):\n  " + "\n  ".join(problems))
