"""A workdir's identity: what a resumed run must share with the run that started there.

config.json holds the first run's config (`check_workdir_config`: a resumed run's experiment fields
must be unchanged, except reward models appended and the fields in ``RESUMABLE_CHANGES``), data.json
a fingerprint of the examples it trains and tests on (`check_workdir_data`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import jax
from ml_collections import ConfigDict

from laser_jax import outputs
from laser_jax.config import ConfigError, base_config
from laser_jax.training.runtime import Runtime

log = logging.getLogger("laser_jax")
# fields a resumed run may change; any other difference means a different experiment
RESUMABLE_CHANGES = ("logging.", "eval.", "training.stop_after", "training.checkpoint_every",
                     "training.keep_checkpoints")


def _flatten(d: dict, prefix="") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# Fields a later version moved (old -> new key), and fields added after runs were already written,
# with the value that reproduces what those runs did (when it differs from today's default).
MOVED = {"selector_args.normalise": "bandit.normalise"}
ADDED_AS = {"bandit.reward": "loss", "bandit.normalise": "quantile"}


def _flatten_saved(before: dict) -> dict:
    """A saved config flattened, its MOVED fields at their new place."""
    flat = _flatten(before)
    for old, new in MOVED.items():
        if old in flat and new not in flat:
            flat[new] = flat.pop(old)
    return flat


def changed_fields(now: dict, before: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """The flattened config fields (``a.b``) whose value differs between a saved config ``before``
    and ``now``, changed values first. A field ``before`` lacks counts as unchanged when ``now``
    holds its default (a newer version's option; ``ADDED_AS`` holds the value that reproduces a run
    written before the field existed where today's default differs); ``MOVED`` fields are compared
    at their new place; fields starting with a prefix in ``ignore`` are left out."""
    flat_now, flat_before = _flatten(now), _flatten_saved(before)
    # a field added by a later version of laser_jax, at its default, changes nothing the run did
    defaults = {**_flatten(json.loads(base_config().to_json_best_effort())), **ADDED_AS}
    added = {k for k in flat_now if k not in flat_before and k in defaults and flat_now[k] == defaults[k]}
    return sorted((k for k in set(flat_now) | set(flat_before)
                   if flat_now.get(k) != flat_before.get(k) and not (ignore and k.startswith(ignore))
                   and k not in added),
                  key=lambda k: (k not in flat_before or k not in flat_now, k))


def check_workdir_config(c: ConfigDict, workdir: Path) -> None:
    """First run: save config.json. Resumed run: the experiment's fields must be unchanged (a field
    the saved config lacks counts as unchanged when it holds its default: a newer version's
    option, e.g. bandit.reward or policy.attention; ``ADDED_AS`` holds the value that reproduces a run
    written before a field existed where today's default differs; ``MOVED`` renames moved fields). One change is allowed: reward
    models appended to ``rewards`` (the saved list a strict prefix of the new one): the bandit
    gains fresh arms (`selectors.grow_state`) and config.json is rewritten to the new config."""
    now = json.loads(c.to_json_best_effort())
    # the other processes compare, never write (the write is atomic)
    before = outputs.saved_record(workdir / "config.json", now, write=jax.process_index() == 0,
                                  hint=f"; it records the config of the run in {workdir}")
    if before is None:
        return
    diff = changed_fields(now, before, ignore=RESUMABLE_CHANGES)
    flat_now, flat_before = _flatten(now), _flatten_saved(before)
    appended = (diff == ["rewards"] and isinstance(flat_before.get("rewards"), list)
                and len(flat_now["rewards"]) > len(flat_before["rewards"])
                and flat_now["rewards"][:len(flat_before["rewards"])] == flat_before["rewards"])
    if appended:
        names = [r.get("name") for r in flat_now["rewards"][len(flat_before["rewards"]):]]
        log.info("resuming with reward model(s) %s appended: new bandit arms start fresh", names)
        if jax.process_index() == 0:
            outputs.write_json(workdir / "config.json", now)
        return
    if diff:
        shown = "; ".join(f"{k}: {flat_before.get(k)!r} -> {flat_now.get(k)!r}" for k in diff[:6])
        raise ConfigError(f"{workdir} holds a run with a different config ({shown}); resume with the same config "
                          "or choose another --workdir")


def data_fingerprint(rt: Runtime) -> str:
    """sha256 over the examples the run trains and tests on (uid, task, question, choices, answer):
    what the results depend on beyond the config's fields (the files data.path points to, a hub
    dataset's current revision, the generator of the demo tasks)."""
    h = hashlib.sha256()
    for split, examples in (("train", rt.train_examples), ("test", rt.test_examples)):
        for ex in examples:
            h.update(json.dumps([split, ex.uid, ex.task, ex.question, list(ex.choices), ex.answer]).encode())
    return h.hexdigest()


def check_workdir_data(rt: Runtime, workdir: Path) -> None:
    """First run: save the data's fingerprint (data.json). Resumed run: it must be the same."""
    path, now = workdir / "data.json", {"fingerprint": data_fingerprint(rt), "train": len(rt.train_examples),
                                        "test": len(rt.test_examples)}
    before = outputs.saved_record(path, now, write=jax.process_index() == 0)
    if before is None:
        return
    if before.get("fingerprint") != now["fingerprint"]:
        raise ConfigError(f"{workdir} holds a run trained on other data: the examples loaded now (data.task="
                          f"{rt.config.data.task!r}, data.path={rt.config.data.path!r}; {now['train']} train / "
                          f"{now['test']} test) differ from those the run started with ({before.get('train')} / "
                          f"{before.get('test')}, {path.name}); resume with the same data or choose another --workdir")
