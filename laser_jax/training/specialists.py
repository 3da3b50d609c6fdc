"""A pool of specialist reward models trained by laser_jax itself (`python -m laser_jax.rm_pool`).

Each specialist is a LoRA adapter on the policy's base model, trained by the training setting
(`laser_jax.training.train`, unchanged) on the preference pairs of some task families, ranked by
a verifier against the gold answers; as a reward model it scores beta * (log pi_adapter - log pi_base)
(an `implicit_dpo` entry with `adapter:`, `laser_jax.rewards.build`).

    build_pool(pool_config, out)  ->  out/<name>/           the specialist's training workdir (resumable)
                                      out/<name>.safetensors  its adapter (`save_adapter`)
                                      out/pool.json           {"rewards": [entries], "specialists", "config", "command"}

A pool config (configs/rm_pool.py) holds `run` (a training config: the template of every
specialist's run), `beta` (the entries' implicit-DPO beta) and `specialists` (each: name,
families (data.families), seed (the run's seed), optionally train_limit (data.train_limit)). A specialist whose workdir finished under the
same config and whose adapter file exists is reused, not trained again.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

from ml_collections import ConfigDict

from laser_jax import outputs
from laser_jax.checkpoint import Checkpointer
from laser_jax.config import ConfigError
from laser_jax.errors import CheckpointError, is_int, is_number
from laser_jax.models.adapters import file_sha256, save_adapter
from laser_jax.models.cache import ModelCache
from laser_jax.training.identity import check_workdir_config
from laser_jax.training.loop import train
from laser_jax.training.runtime import build_runtime, init_state
from laser_jax.training.validation import validate

log = logging.getLogger("laser_jax")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
POOL_FILE = "pool.json"


def check_pool_config(pc: ConfigDict) -> list[str]:
    """Every problem of a pool config, each naming its field (the run template is checked per
    specialist by the training setting's own validation, `specialist_config`)."""
    problems = [f"{k}: no such field of a pool config (fields: run, beta, specialists)" for k in pc
                if k not in ("run", "beta", "specialists")]
    if "run" not in pc:
        problems.append("run is missing: the training config every specialist starts from")
    if not is_number(pc.get("beta"), 0, low_open=True):
        problems.append(f"beta={pc.get('beta')!r} must be a number > 0 (the entries' implicit-DPO beta)")
    specs = pc.get("specialists") or ()
    if not specs:
        problems.append("specialists is empty: give at least one dict(name=..., families=(...), seed=...)")
    names = set()
    for i, s in enumerate(specs):
        where = f"specialists[{i}]"
        if not hasattr(s, "get"):
            problems.append(f"{where} must be a dict(name=..., families=(...), seed=...)")
            continue
        unknown = sorted(set(s) - {"name", "families", "seed", "train_limit"})
        problems += [f"{where}.{k}: no such field (fields: name, families, seed, train_limit)" for k in unknown]
        name = s.get("name")
        if not (isinstance(name, str) and NAME.fullmatch(name)):
            problems.append(f"{where}.name={name!r} must be a file name (letters, digits, _ . -)")
        elif name in names:
            problems.append(f"{where}.name={name!r} is used twice")
        names.add(name)
        fams = s.get("families")
        if isinstance(fams, str) or not fams:
            problems.append(f"{where}.families={fams!r} must be a non-empty tuple of family names")
        for field in ("seed", "train_limit"):
            if field in s and not is_int(s[field], 0) or field == "seed" and field not in s:
                problems.append(f"{where}.{field}={s.get(field)!r} must be an integer >= 0")
    return problems


def specialist_config(pc: ConfigDict, spec) -> ConfigDict:
    """The training config of one specialist: the pool's `run` with data.families and seed set;
    checked here (ConfigError naming the specialist and the field) before anything loads."""
    c = ConfigDict(pc.run.to_dict())
    c.data.families = tuple(spec["families"])
    c.seed = int(spec["seed"])
    if "train_limit" in spec:
        c.data.train_limit = int(spec["train_limit"])
    try:
        validate(c)
    except ConfigError as e:
        raise ConfigError(f"specialists {spec['name']!r} (run.* with data.families={c.data.families}, "
                          f"seed={c.seed}): {e}") from None
    return c


def _finished(c: ConfigDict, workdir: Path) -> bool:
    """Whether `workdir` holds this config's complete run (ConfigError if it holds another run's)."""
    if not (workdir / "config.json").exists():
        return False
    check_workdir_config(c, workdir)
    done = workdir / "results.json"
    return done.exists() and outputs.read_json(done).get("status") == "complete"


def write_adapter(c: ConfigDict, workdir: Path, path: Path, cache: ModelCache) -> str:
    """The finished run's policy (its latest checkpoint) as an adapter file; returns its sha256."""
    rt, params = build_runtime(validate(c), workdir, cache)
    state = init_state(rt, params)
    ckpt = Checkpointer(workdir / "checkpoints", keep=c.training.keep_checkpoints)
    try:
        restored = ckpt.restore_latest(state)
    finally:
        ckpt.close()
    if restored is None:
        raise CheckpointError(f"{workdir}: results.json says complete but no checkpoint is left; delete {workdir} "
                          "and rerun")
    return save_adapter(rt.policy(restored[0].params), path, base=c.policy.path)


def entry(name: str, base: str, adapter: Path, sha256: str, beta: float) -> dict:
    """The reward-model entry (`rewards` of a run config) of one specialist."""
    return dict(name=name, kind="implicit_dpo", path=base, adapter=str(adapter), adapter_sha256=sha256,
                beta=float(beta))


def build_pool(pc: ConfigDict, out, command: str = "", progress: bool = True) -> dict:
    """Train (or reuse) every specialist of pool config `pc` under `out`; write out/pool.json and
    return its record (status "complete"), or, when a run stopped early (a signal, training.stop_after),
    that run's results with its "specialist" (nothing written; rerunning resumes it)."""
    from tqdm import tqdm

    if problems := check_pool_config(pc):
        raise ConfigError(f"invalid pool config ({len(problems)} problems):\n  " + "\n  ".join(problems))
    configs = [(s, specialist_config(pc, s)) for s in pc.specialists]  # every check before any training
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = ModelCache()
    rows, entries = [], []
    for spec, c in tqdm(configs, desc="specialists", disable=not progress):
        name, workdir, path = spec["name"], out / spec["name"], out / f"{spec['name']}.safetensors"
        reused = _finished(c, workdir) and path.exists()
        if reused:
            sha = file_sha256(path)
            log.info("specialist %s: finished in %s, adapter %s reused", name, workdir, path)
        else:
            log.info("specialist %s: training on %s (seed %d) in %s", name, list(c.data.families), c.seed, workdir)
            results = train(c, workdir, cache)
            if results["status"] != "complete":  # a signal or training.stop_after: checkpointed, rerun resumes
                return {**results, "specialist": name}
            sha = write_adapter(c, workdir, path, cache)
        results = outputs.read_json(workdir / "results.json")
        rows.append(dict(name=name, families=list(c.data.families), seed=c.seed, steps=results.get("steps"),
                         train_examples=results.get("train_examples"), adapter=str(path), sha256=sha,
                         bytes=path.stat().st_size, reused=reused))
        entries.append(entry(name, c.policy.path, path, sha, pc.beta))
    record = {"status": "complete", "rewards": entries, "specialists": rows, "config": json.loads(pc.to_json_best_effort()),
              "command": command}
    outputs.write_json(out / POOL_FILE, record)
    return record


def pool_rewards(folder) -> list[dict]:
    """The reward-model entries of the pool in `folder` (its pool.json), each adapter found beside
    pool.json (so a pool folder can be moved or committed)."""
    folder = Path(folder)
    record = outputs.read_json(folder / POOL_FILE, hint="build the pool with python -m laser_jax.rm_pool")
    return [{**e, "adapter": str(folder / Path(e["adapter"]).name)} for e in record["rewards"]]
