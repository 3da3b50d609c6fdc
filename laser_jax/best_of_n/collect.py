"""Best-of-n phases 1 and 2: sample n responses per query and score each with every RM, once.

Per batch of B queries (the training setting's own functions: `training.step.encode`,
`sample_batch`, `score_samples`, the runtime's jitted context function):

    context [B, d]   the policy's final hidden state at each prompt's last token (the sampler's
                     prefill computes it: `step.contexts`)
    samples          n responses per query (sampling.*), their texts
    scores [K, B, n] every RM on every response (one stacked call where RMs stack)
    nll [B, n]       -(mean token log-prob) of each response under the policy, from the sampler's
                     own log-probs (temperature 1): no second forward pass
    metric [B, n]    the task metric against the gold answer (`data.tasks.score_response`: LongBench's
                     metrics for LongBench, correct 0 / 1 for the demo and QA tasks)

LongBench queries are sampled with LongBench's generation length for their dataset
(`generation_length`); other tasks with sampling.max_new_tokens.

Each batch is written to ``WORKDIR/collect/batch_NNNNN.npz`` (atomically) with its texts in
``batch_NNNNN.json``, so an interrupted run resumes at the first missing batch. `load_tables`
assembles the batches into `replay.Tables`: the training split's queries are the calibration
(labelled) stream, the test split's the test queries.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path

import jax
import numpy as np

from laser_jax.batch import family
from laser_jax.best_of_n.replay import Tables
from laser_jax.config import ConfigError
from laser_jax.data import longbench
from laser_jax.data.tasks import score_response
from laser_jax.training import step as train_step
from laser_jax.training.runtime import Runtime

log = logging.getLogger("laser_jax")


def queries(rt: Runtime) -> list[tuple[object, bool]]:
    """(example, is_calibration) for every query: the training split, then the test split."""
    return [(ex, True) for ex in rt.train_examples] + [(ex, False) for ex in rt.test_examples]


def _save_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def generation_length(rt: Runtime, examples) -> int:
    """New tokens for a batch: LongBench's length for its datasets (`longbench.MAX_NEW_TOKENS`,
    the longest in the batch) when every example was read from LongBench, else
    sampling.max_new_tokens (also for the generated long documents, data.task=longdoc)."""
    names = [ex.meta_dict().get("dataset") for ex in examples]
    if all(ex.uid.startswith("longbench/") and n in longbench.MAX_NEW_TOKENS for ex, n in zip(examples, names)):
        return max(longbench.MAX_NEW_TOKENS[n] for n in names)
    return rt.sample_cfg.max_new_tokens


def collect_batch(rt: Runtime, params, examples, key) -> tuple[dict, list[list[str]]]:
    """Context, samples, every RM's scores, NLL and metric for one batch of queries."""
    new = generation_length(rt, examples)
    if new != rt.sample_cfg.max_new_tokens:
        rt = dataclasses.replace(rt, sample_cfg=dataclasses.replace(rt.sample_cfg, max_new_tokens=new))
    batch = train_step.encode(rt, examples)
    out, texts = train_step.sample_batch(rt, params, batch, key)
    contexts = train_step.contexts(rt, params, batch, out)
    scores = train_step.score_samples(rt, batch, texts, np.ones((len(examples), len(rt.reward_names))))
    lp = np.asarray(out.logprobs, np.float64)
    lengths = np.asarray(out.lengths)
    steps = np.arange(lp.shape[-1])
    nll = -np.where(steps < lengths[..., None], lp, 0.0).sum(-1) / np.maximum(lengths, 1)
    metric = np.array([[score_response(ex, t) for t in row] for ex, row in zip(examples, texts)])
    return dict(contexts=contexts, scores=scores, nll=nll, metric=metric), texts


def collect(rt: Runtime, params, workdir: Path, *, progress: bool = False) -> Tables:
    """Phases 1 and 2 over every query, resuming from the batches already in ``workdir``."""
    c = rt.config
    folder = Path(workdir) / "collect"
    folder.mkdir(parents=True, exist_ok=True)
    items = queries(rt)
    b = c.training.batch_size
    n_batches = -(-len(items) // b)
    key = jax.random.PRNGKey(c.seed)
    done = 0
    for i in range(n_batches):
        path = folder / f"batch_{i:05d}.npz"
        if path.exists():
            continue
        chunk = items[i * b:(i + 1) * b]
        examples = [ex for ex, _ in chunk]
        examples += [examples[-1]] * (b - len(examples))  # a short last batch repeats its last query
        arrays, texts = collect_batch(rt, params, examples, jax.random.fold_in(key, i))
        keep = len(chunk)
        (folder / f"batch_{i:05d}.json").write_text(json.dumps(texts[:keep]) + "\n")
        _save_npz(path, **{k: (v[:, :keep] if k == "scores" else v[:keep]) for k, v in arrays.items()})
        done += 1
        if progress:
            log.info("best-of-n: batch %d/%d sampled and scored", i + 1, n_batches)
    log.info("best-of-n: %d batches collected now, %d reused from %s", done, n_batches - done, folder)
    return load_tables(rt, folder, n_batches)


def load_tables(rt: Runtime, folder: Path, n_batches: int) -> Tables:
    """Assemble the collected batches into `Tables`."""
    parts = []
    for i in range(n_batches):
        path = folder / f"batch_{i:05d}.npz"
        try:
            with np.load(path) as f:
                parts.append({k: f[k] for k in ("contexts", "scores", "nll", "metric")})
        except (OSError, ValueError, KeyError) as e:
            raise ConfigError(f"{path} is damaged or unreadable ({e}); delete it and rerun the same "
                              "command to sample and score that batch again") from None
    items = queries(rt)
    names = sorted({family(ex) for ex, _ in items})
    return Tables(metric=np.concatenate([p["metric"] for p in parts]),
                  scores=np.concatenate([p["scores"] for p in parts], axis=1),
                  nll=np.concatenate([p["nll"] for p in parts]),
                  contexts=np.concatenate([p["contexts"] for p in parts]).astype(np.float32),
                  family=np.array([names.index(family(ex)) for ex, _ in items]),
                  calibration=np.array([cal for _, cal in items]),
                  rm_names=tuple(rt.reward_names), family_names=tuple(names)).check()
