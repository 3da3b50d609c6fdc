"""The reward-model tests' tiny HF checkpoints and helpers (tests/rewards/conftest.py), for the
log-prob tests here."""

from rewards.conftest import helpers, jax_lms, lm_dirs, tok_a  # noqa: F401
