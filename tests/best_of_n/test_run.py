"""The best-of-n setting's config checks and table (laser_jax/best_of_n/run.py), without models."""

import pytest

from laser_jax.best_of_n import run
from laser_jax.config import ConfigError, base_config


def _config(**replay):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / "best_of_n.py"
    spec = importlib.util.spec_from_file_location("bon_config", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config("quick")
    c.replay.update(replay)
    return c


def test_every_replay_problem_is_named_at_once():
    c = _config(orders=0, batch=True, rewards=("gold", "loss"), methods=("laser", "lasr", "fixed:rm_x"),
                context_transform="pca")
    with pytest.raises(ConfigError) as e:
        run.validate(c)
    msg = str(e.value)
    for part in ("replay.orders=0", "replay.batch=True", "replay.rewards=('gold', 'loss')",
                 "unknown method 'lasr'", "'fixed:rm_x' names no reward model", "replay.context_transform='pca'",
                 "6 problems"):
        assert part in msg, (part, msg)


def test_a_training_config_without_replay_is_refused_by_name():
    with pytest.raises(ConfigError, match="no 'replay' section: start from configs/best_of_n.py"):
        run.validate(base_config())


def test_the_shipped_config_validates():
    run.validate(_config())
    run.validate(_config(methods=("laser", "fixed:dpo_yesno", "oracle")))
    run.validate(_config(rewards=("consensus",), context_transform="whiten", context_dim=8))


def test_table_shows_intervals_and_the_paired_difference():
    rows = [{"method": "best", "label": "method", "mean": 0.5, "ci95": [0.4, 0.6],
             "by_family": {"a": 0.5}, "arm_use": {"rm": 1.0}},
            {"method": "laser", "label": "method", "mean": 0.55, "ci95": [0.45, 0.65],
             "by_family": {"a": 0.55}, "arm_use": {"rm": 0.25, "rm2": 0.75},
             "vs_best": {"mean_diff": 0.05, "ci95": [-0.01, 0.11]}},
            {"method": "oracle", "label": "reference", "mean": 0.9, "ci95": [0.85, 0.95],
             "by_family": {"a": 0.9}, "arm_use": {"rm": 1.0}}]
    text = run.table(rows)
    assert "| laser | 55.0 | 45.0-65.0 | 55.0 | +5.0 (-1.0, +11.0) | rm 25%, rm2 75% |" in text
    assert "| oracle (ref.) |" in text


def test_a_collect_config_saved_before_a_field_existed_is_reused(tmp_path):
    """collect_config.json written by a version without data.metric (added later, at its default)
    is the same collection; a changed sampling field is refused by its section."""
    import json

    c = _config()
    run.check_collect_config(c, tmp_path)  # the first run writes it
    saved = json.loads((tmp_path / "collect_config.json").read_text())
    del saved["data"]["metric"]
    (tmp_path / "collect_config.json").write_text(json.dumps(saved))
    run.check_collect_config(c, tmp_path)  # accepted: metric at its default
    c.data.metric = "numeric"
    with pytest.raises(ConfigError, match="sections differ: data"):
        run.check_collect_config(c, tmp_path)
    c.data.metric = "exact_match"
    c.sampling.n = 3
    with pytest.raises(ConfigError, match="sections differ: sampling"):
        run.check_collect_config(c, tmp_path)
