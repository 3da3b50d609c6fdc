"""Compiling a jitted function's programs ahead of their runs, on a second thread.

    for program in compiled_in_order(jitted, jobs, cache):   # jobs: [(args tuple, static kwargs)]
        out = program(*args)

The best-of-n replay runs one program per selector (its rewards, normalise rules and prior share
it), and half of a front-door replay was compiling them while the runs left a core idle: here
every job's program is compiled in order on one background thread, and the caller runs each as
soon as it is ready, so compiling the next ones overlaps running this one (19 methods x 2 rewards:
94.4 -> 82.0 s, bench/bench_replay.py, before the rule and prior became data). Jobs
with equal static arguments and argument types share one program; ``cache`` (a dict the caller
owns, at most ``limit`` programs, oldest dropped first) keeps them across calls.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import jax


def program_key(args: tuple, statics: dict) -> tuple:
    """What decides a program: static arguments, the arguments' tree and each leaf's type."""
    leaves, tree = jax.tree.flatten(args)
    return (tuple(sorted(statics.items())), tree,
            tuple((x.shape, str(x.dtype), bool(getattr(x, "weak_type", False))) for x in leaves))


def compiled_in_order(fn, jobs: list[tuple[tuple, dict]], cache: dict, limit: int = 64) -> Iterator:
    """The compiled ``fn`` (a jax.jit function) of each job (args, static kwargs), in order; call
    each with the job's args only."""
    keys = [program_key(*job) for job in jobs]
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="compile-ahead") as pool:
        pending = {}
        for key, (args, statics) in zip(keys, jobs):
            if key not in cache and key not in pending:
                pending[key] = pool.submit(lambda a, s: fn.lower(*a, **s).compile(), args, statics)
        for key in keys:
            if key not in cache:
                if len(cache) >= limit:
                    cache.pop(next(iter(cache)))
                cache[key] = pending[key].result()
            yield cache[key]
