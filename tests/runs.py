"""Reading a run's outputs in tests: metrics.jsonl records and the last checkpoint's arrays."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

import suite_flags  # tests/: the suite's XLA flags


TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.py"


def tiny_config():
    """configs/tiny.py's config (its tiny models and data go under $LASER_JAX_CACHE)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_config", TINY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.get_config()


def real_model_env(**extra) -> dict:
    """The environment for a command line that runs a real model (SmolLM2, Gemma): this one's, with
    XLA's defaults back (tests/suite_flags.py makes compiling cheaper for the tiny models; a 135M
    model runs long enough for the default optimisation to pay for itself), plus ``extra``."""
    env = dict(os.environ, **extra)
    drop = suite_flags.XLA_FLAGS.split()
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split() if f not in drop)
    return env


def metrics(workdir):
    return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def final_state(workdir):
    ckpts = Path(workdir) / "checkpoints"
    last = max(int(p.name) for p in ckpts.iterdir() if p.name.isdigit())
    path = ckpts / str(last) / "state"
    one = jax.sharding.SingleDeviceSharding(jax.devices()[0])  # whatever mesh wrote it (several processes)
    with ocp.StandardCheckpointer() as c:
        meta = c.metadata(path)
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=one),
                              getattr(meta, "item_metadata", meta))
        tree = c.restore(path, target)
    return last, tree


def leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k in sorted(tree):
            yield from leaves(tree[k], f"{prefix}/{k}")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from leaves(v, f"{prefix}/{i}")
    else:
        yield prefix, np.asarray(tree)


def comparable(recs):
    return [{k: v for k, v in r.items() if not k.startswith("time_")} for r in recs]


def assert_same_final_state(a, b, *, step: int) -> None:
    """Both runs' last checkpoints are at `step` and hold bit-identical arrays."""
    step_a, tree_a = final_state(a)
    step_b, tree_b = final_state(b)
    assert step_a == step_b == step
    la, lb = dict(leaves(tree_a)), dict(leaves(tree_b))
    assert la.keys() == lb.keys() and len(la) > 10
    for k in la:
        np.testing.assert_array_equal(la[k], lb[k], err_msg=k)
