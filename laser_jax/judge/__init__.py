"""Judging one run's outputs against another's: ``winrate`` (pairwise win rate from a judge's
verdicts in both presentation orders, with bootstrap intervals) and ``export`` (a run's outputs
in AlpacaEval's model-outputs format)."""
