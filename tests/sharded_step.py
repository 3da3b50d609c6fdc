"""One LASeR step of configs/tiny.py on several meshes of 8 simulated CPU devices (run by
tests/test_sharding.py in a subprocess: the device count is fixed when JAX starts).

Prints one JSON object: for each mesh, the step's loss, sampled tokens, RM scores, bandit state,
updated parameters (as float64 lists) and the fraction of the policy's parameter bytes on device 0.
"""

import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8 " + os.environ.get("XLA_FLAGS", "")

import importlib.util  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from laser_jax import sampling  # noqa: E402
from laser_jax import sharding as shd  # noqa: E402
from laser_jax.batch import PromptBatch  # noqa: E402
from laser_jax.training.runtime import batch_examples, build_runtime, init_state  # noqa: E402
from laser_jax.training.step import laser_step  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(mesh):
    spec = importlib.util.spec_from_file_location("tiny", ROOT / "configs" / "tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = mesh
    c.policy.lora_rank = 0  # full fine-tuning: every policy weight is trained and sharded
    c.training.batch_size = 8
    c.training.pairs_per_prompt = 1
    c.sampling.n = 2
    c.selector = "ensemble"  # every RM scores every sample, so all RM scores are compared
    return c


def run(mesh, devices):
    c = tiny_config(mesh)
    with tempfile.TemporaryDirectory() as tmp:
        rt, params = build_runtime(c, Path(tmp))
        state = init_state(rt, params)
        examples = batch_examples(rt, 0, 0)
        new, record = laser_step(rt, state, examples)
    # the sampler and the RMs once more on their own, at a fixed key, for direct comparison
    batch = PromptBatch.encode(rt.tokenizer, examples, max_tokens=c.sampling.max_prompt_tokens,
                               pad_id=rt.sample_cfg.pad_id)
    ids, mask = shd.global_batch(batch.ids, rt.mesh), shd.global_batch(batch.mask, rt.mesh)  # as laser_step places
    key = jax.device_put(jax.random.PRNGKey(3), shd.replicated(rt.mesh))  # them (and the state's key): one program
    out = sampling.sample(rt.policy(new.params), ids, mask, key, rt.sample_cfg)
    texts = sampling.decode(rt.tokenizer, out)
    rows = batch.per_response(len(texts[0]))
    scores = rt.rewards.score_all(rows["prompts"], [t for row in texts for t in row], rows["golds"])
    leaves = jax.tree.leaves(new.params)
    total = sum(x.nbytes for x in leaves)
    on_dev0 = sum(s.data.nbytes for x in leaves for s in x.addressable_shards if s.device == devices[0])
    return {"loss": record.get("loss"), "pairs": record["pairs"], "tokens": np.asarray(out.tokens).tolist(),
            "scores": np.asarray(scores, np.float64).tolist(),
            "bandit": [np.asarray(x, np.float64).ravel().tolist() for x in jax.tree.leaves(new.bandit)],
            "params": [np.asarray(x, np.float64).ravel().tolist() for x in leaves],
            "device0_fraction": on_dev0 / total}


def main():
    devices = jax.devices()
    assert len(devices) == 8, devices
    meshes = [tuple(int(v) for v in m.split("x")) for m in sys.argv[1].split(",")]
    out = {}
    for mesh in meshes:  # a mesh of fewer devices uses the first ones (1x1x1: one device)
        out["x".join(map(str, mesh))] = run(mesh, devices)
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
