"""Judging one run's outputs against another's (``python -m laser_jax.judge``): ``pairs`` (the two
runs' evaluation records matched by uid), ``judges`` (an LM asked which response is better, a
reward model, or a Python function), ``winrate`` (pairwise win rate from the verdicts in both
presentation orders, with bootstrap intervals), ``report`` (judge.json, judgements.jsonl, the
plot) and ``export`` (a run's outputs in AlpacaEval's model-outputs format)."""
