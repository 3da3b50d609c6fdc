"""Best-of-n with a bandit choosing the reward model (the paper's inference-time setting)."""
