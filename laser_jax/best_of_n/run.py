"""The best-of-n setting, top to bottom: load -> collect (sample, score; cached) -> replay every
method under every bandit reward -> results.json, table.md, PNGs; the pool's own statistics
(best_of_n/pool.py: how good and how different the RMs are on the test queries) beside them.

    python -m laser_jax.best_of_n --config configs/best_of_n.py --workdir DIR [--methods a,b]

Config: a training config (policy, rewards, data, sampling: n, temperature, max_new_tokens,
max_prompt_tokens; selector_args for laser / exp3; training.batch_size = queries per sampling
batch; seed) plus ``replay``: orders, batch (queries per bandit decision), rewards ("gold",
"nll"), methods, context_dim (0 = the policy's full hidden state), resamples (bootstrap).
The training split's queries are the labelled calibration stream, the test split's are reported.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

from ml_collections import ConfigDict

from laser_jax import outputs, plots
from laser_jax.bandit import hparams_from_args
from laser_jax.best_of_n import pool
from laser_jax.best_of_n import replay as rp
from laser_jax.best_of_n import stats
from laser_jax.best_of_n.collect import collect
from laser_jax.config import DEFAULT_METHODS, RunConfig, load, replay_config  # noqa: F401 - DEFAULT_METHODS, replay_config: their old home
from laser_jax.errors import ConfigError
from laser_jax.data.tasks import configured_task, get_task
from laser_jax.training.identity import changed_fields, check_workdir_data
from laser_jax.training.runtime import build_runtime

log = logging.getLogger("laser_jax")


def validate(c) -> RunConfig:
    """The typed config of this setting: one ConfigError listing every problem of the sections it
    reads (training's own fields are not read here, but training.batch_size: queries per sampling batch)."""
    return load(c, "best_of_n")


def run(c: ConfigDict, workdir, methods=None, cache=None) -> dict:
    """The whole setting; returns results.json's content."""
    if methods:
        c = ConfigDict(c.to_dict())
        c.replay.methods = tuple(methods)
    cfg = validate(c)
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    check_collect_config(c, workdir)
    t0 = time.perf_counter()
    rt, params = build_runtime(cfg, workdir, cache)
    check_workdir_data(rt, workdir)
    tables = collect(rt, params, workdir, progress=True)
    t_collect = time.perf_counter() - t0
    r = cfg.replay
    contexts = rp.project_contexts(tables.contexts, tables.calibration, r.context_dim, r.context_transform)
    tables = dataclasses.replace(tables, contexts=contexts)
    hparams = {name: hparams_from_args(name, cfg.selector_args, cfg.bandit.normalise)
               for name in ("laser", "thompson", "exp3", "online_ensemble")}
    metric_name = get_task(configured_task(cfg.data)).metric_name
    results = {"queries": int((~tables.calibration).sum()),
               "calibration_queries": int(tables.calibration.sum()),
               "samples_per_query": int(tables.metric.shape[1]), "orders": r.orders,
               "batch": r.batch, "context_dim": int(contexts.shape[1]),
               "reward_models": list(tables.rm_names), "families": list(tables.family_names),
               "metric": metric_name, "by_reward": {},
               "pool": pool.pool_stats(tables, seed=cfg.seed, resamples=r.resamples)}
    plots.plot_pool(results["pool"], workdir / "pool.png")
    t1 = time.perf_counter()
    for reward in r.rewards:
        # with gold, replay's own default applies: no 20/80 rule (it erases a 0/1 signal)
        hp = {k: {a: v for a, v in h.items() if not (reward == "gold" and a == "normalise")}
              for k, h in hparams.items()}
        res = rp.replay(tables, list(r.methods), orders=r.orders, batch=r.batch, reward=reward,
                        seed=cfg.seed, hparams=hp)
        rows = stats.summarise(res, tables, metric_name=metric_name, seed=cfg.seed, resamples=r.resamples)
        results["by_reward"][reward] = {"methods": rows, "normalise": hp["laser"].get("normalise", "none")}
        if r.noise_rm:
            results["by_reward"][reward]["noise"] = noise_analysis(tables, res, r, reward, cfg.seed, hp)
        write_outputs(workdir, reward, rows, res, tables, metric_name)
    first = r.rewards[0]
    results["methods"] = results["by_reward"][first]["methods"]
    results["reward"] = first
    results["time_s"] = {"collect": round(t_collect, 1),
                         "replay": round(time.perf_counter() - t1, 1)}
    outputs.write_json(workdir / "results.json", results)
    (workdir / "table.md").write_text("\n\n".join(
        f"bandit reward: {reward}\n\n" + table(results["by_reward"][reward]["methods"])
        for reward in r.rewards) + "\n\n" + pool.pool_table(results["pool"]) + "\n")
    return results


def noise_analysis(tables, clean: dict, r: ConfigDict, reward: str, seed: int, hparams: dict) -> dict:
    """The paper's noisy-RM analysis: Gaussian noise of std ``replay.noise_sigma`` on RM
    ``replay.noise_rm``'s standardised scores. Per method (laser, sequential): the mean metric clean
    and noisy and the drop (clean - noisy) with its paired bootstrap interval over queries; then
    LASeR's drop minus sequential's, per query, with its interval (< 0: LASeR suffers less)."""
    methods = ["laser", "sequential"]
    z = rp.noisy_scores(tables, r.noise_rm, r.noise_sigma, seed)
    noisy = rp.replay(tables, methods, orders=r.orders, batch=r.batch, reward=reward, seed=seed,
                      hparams=hparams, z=z)
    missing = [m for m in methods if m not in clean]
    clean = {**clean, **(rp.replay(tables, missing, orders=r.orders, batch=r.batch, reward=reward, seed=seed,
                                   hparams=hparams) if missing else {})}
    out = {"rm": r.noise_rm, "sigma": r.noise_sigma}
    drops = {}
    for m in methods:
        drops[m] = stats.per_query(clean[m]) - stats.per_query(noisy[m])
        out[m] = {"clean": float(stats.per_query(clean[m]).mean()),
                  "noisy": float(stats.per_query(noisy[m]).mean()),
                  "drop": float(drops[m].mean()),
                  "drop_ci95": list(stats.bootstrap_ci(drops[m], seed=seed, resamples=r.resamples))}
    diff = drops["laser"] - drops["sequential"]
    out["laser_drop_minus_sequential_drop"] = {"mean": float(diff.mean()),
                                                "ci95": list(stats.bootstrap_ci(diff, seed=seed,
                                                                                resamples=r.resamples))}
    return out


def _collect_fields(config: dict) -> dict:
    """The part of a config the collected samples depend on: everything but ``replay``, the
    selector and its arguments, and the bandit's learning fields (reward, normalise; its context
    stays: the tables hold the contexts)."""
    out = {k: v for k, v in config.items() if k not in ("replay", "selector", "selector_args")}
    if isinstance(out.get("bandit"), dict):
        out["bandit"] = {k: v for k, v in out["bandit"].items() if k == "context"}
    return out


def check_collect_config(c: ConfigDict, workdir: Path) -> None:
    """The collected samples depend on everything but ``replay`` and how the selectors learn
    (`_collect_fields`): a workdir keeps one such config (a field added by a later version of
    laser_jax, at its default, counts as unchanged: `identity.changed_fields`)."""
    now = _collect_fields(json.loads(c.to_json_best_effort()))
    before = outputs.saved_record(workdir / "collect_config.json", now)
    if before is None:
        return
    diff = sorted({k.split(".", 1)[0] for k in changed_fields(now, _collect_fields(before))})
    if diff:
        raise ConfigError(f"{workdir} holds samples collected with another config (sections differ: "
                          f"{', '.join(diff)}); only the replay section may change between reruns: use the "
                          "same config or choose another --workdir")


def table(rows: list[dict]) -> str:
    fams = list(rows[0]["by_family"])
    head = ["method", "mean", "95% CI"] + fams + ["vs best (95% CI)", "RM use"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        vs = r.get("vs_best")
        cells = [r["method"] + (" (ref.)" if r["label"] == "reference" else ""),
                 f"{100 * r['mean']:.1f}", f"{100 * r['ci95'][0]:.1f}-{100 * r['ci95'][1]:.1f}"]
        cells += [f"{100 * r['by_family'][f]:.1f}" for f in fams]
        cells.append("-" if vs is None else
                     f"{100 * vs['mean_diff']:+.1f} ({100 * vs['ci95'][0]:+.1f}, {100 * vs['ci95'][1]:+.1f})")
        cells.append(", ".join(f"{k} {100 * v:.0f}%" for k, v in r["arm_use"].items() if v) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_outputs(workdir: Path, reward: str, rows, res, tables, metric_name: str = "accuracy") -> None:
    """methods_<reward>.png (every method's mean with its interval) and, with LASeR among the
    methods, arms_by_family_<reward>.png (the RM it chose per family)."""
    plots.plot_method_intervals(
        rows, workdir / f"methods_{reward}.png",
        xlabel=f"test {metric_name} of the chosen response (%), 95% bootstrap CI over queries",
        title=f"best-of-{tables.metric.shape[1]}, bandit reward: {reward}")
    if "laser" in res:
        plots.plot_arm_share_by_family(stats.arm_use_by_family(res["laser"], tables), tables.rm_names,
                                       workdir / f"arms_by_family_{reward}.png",
                                       title=f"LASeR: reward model chosen per family (reward: {reward})")
