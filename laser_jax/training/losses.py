"""Preference losses on summed response log-probs (pure functions of arrays).

The training objective of one LASeR step (iterative RPO):

    loss = mean_pairs DPO(beta) + alpha_nll * mean_pairs NLL(chosen)

- DPO (sigmoid, Rafailov et al.): margin m = (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)),
  summed over response tokens; loss = -(1-eps) log sigmoid(beta m) - eps log sigmoid(-beta m)
  (eps = label smoothing, cDPO).
- IPO (Azar et al.): (m - 1/(2 beta))^2.
- NLL of the chosen response, as in RPO (Pang et al. 2024): -log pi(y_w|x) / |y_w|, the token mean
  per response, averaged over pairs.

Every function takes per-pair `weights` (1 = real pair, 0 = padding) and returns sums with
their denominators, so micro-batches and accumulation weight pairs correctly.
"""

from __future__ import annotations


from typing import NamedTuple

import jax
import jax.numpy as jnp
from laser_jax.errors import is_number

LOSS_TYPES = ("sigmoid", "ipo")


def check_config(t) -> list[str]:
    """The loss fields of the run config's `training` section."""
    problems = []
    if t.loss_type not in LOSS_TYPES:
        problems.append(f"training.loss_type={t.loss_type!r} is not one of {list(LOSS_TYPES)}")
    if not is_number(t.label_smoothing, 0.0, 0.5, high_open=True):
        problems.append(f"training.label_smoothing={t.label_smoothing!r} must be in [0, 0.5)")
    for field, low, strict in (("beta", 0.0, True), ("alpha_nll", 0.0, False)):
        v = t[field]
        if not is_number(v, low, low_open=strict):
            problems.append(f"training.{field}={v!r} must be a finite number {'>' if strict else '>='} {low:g}")
    return problems


class PairLogps(NamedTuple):
    chosen: jax.Array  # [P] summed log-prob of each chosen response under the policy
    rejected: jax.Array  # [P]
    ref_chosen: jax.Array  # [P] under the reference policy
    ref_rejected: jax.Array  # [P]
    chosen_tokens: jax.Array  # [P] number of response tokens of the chosen response


def dpo_terms(lp: PairLogps, *, beta: float, loss_type: str = "sigmoid", label_smoothing: float = 0.0):
    """Per-pair preference loss and implicit-reward margin."""
    margin = (lp.chosen - lp.ref_chosen) - (lp.rejected - lp.ref_rejected)
    if loss_type == "sigmoid":
        loss = -(1.0 - label_smoothing) * jax.nn.log_sigmoid(beta * margin) \
            - label_smoothing * jax.nn.log_sigmoid(-beta * margin)
    elif loss_type == "ipo":
        loss = jnp.square(margin - 1.0 / (2.0 * beta))
    else:
        raise ValueError(f"loss_type={loss_type!r} is not one of {LOSS_TYPES}")
    return loss, margin


def nll_terms(lp: PairLogps):
    """Per-pair token-mean NLL of the chosen response."""
    return -lp.chosen / jnp.maximum(lp.chosen_tokens, 1.0)


def preference_loss_sums(lp: PairLogps, weights, *, beta: float, alpha_nll: float, loss_type: str = "sigmoid",
                         label_smoothing: float = 0.0) -> dict[str, jax.Array]:
    """Weighted sums over pairs; divide each by `pairs` (see `finalise`) for the means."""
    w = weights.astype(jnp.float32)
    pref, margin = dpo_terms(lp, beta=beta, loss_type=loss_type, label_smoothing=label_smoothing)
    nll = nll_terms(lp)
    return {
        "loss": jnp.sum(w * (pref + alpha_nll * nll)),
        "dpo": jnp.sum(w * pref),
        "nll": jnp.sum(w * nll),
        "margin": jnp.sum(w * margin),
        "accuracy": jnp.sum(w * (margin > 0)),
        "chosen_reward": jnp.sum(w * beta * (lp.chosen - lp.ref_chosen)),
        "rejected_reward": jnp.sum(w * beta * (lp.rejected - lp.ref_rejected)),
        "pairs": jnp.sum(w),
    }


def finalise(sums: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """Means from `preference_loss_sums` (0 when there are no pairs)."""
    n = jnp.maximum(sums["pairs"], 1.0)
    return {k: (v if k == "pairs" else v / n) for k, v in sums.items()}
