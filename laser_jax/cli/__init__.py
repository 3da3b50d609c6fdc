"""The command lines. Each `python -m laser_jax.<name>` is a short entry module that hands over to
`laser_jax.cli.<command>.main`; the work itself lives in the settings and the core:

    laser_jax.main      -> cli/train.py       LASeR training (training/)
    laser_jax.compare   -> cli/compare.py     LASeR against the baselines (training/compare.py)
    laser_jax.best_of_n -> cli/best_of_n.py   best-of-n with every method replayed (best_of_n/)
    laser_jax.judge     -> cli/judge.py       two runs judged pairwise (judge/)
    laser_jax.convert   -> cli/convert.py     a model checkpoint converted (models/loading.py)
    laser_jax.memory    -> cli/memory.py      per-device memory of a run (footprint.py)
    laser_jax.tiny      -> cli/tiny.py        tiny random models (models/tiny.py)
    laser_jax.rm_pool   -> cli/rm_pool.py     specialist reward models trained offline (training/specialists.py)

`cli/launch.py` is what they share: flags that fail with a message, multi-host start-up, the
compilation cache and `run_command`, the one error ladder (exit 2 bad input, 1 a bug or a failed
run, 130 interrupted).
"""
