"""Reward models written as Python functions (kind "python"): config checks, scores, errors, and a
training run with one as an arm, through the command line."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from laser_jax.errors import ConfigError, LaserError
from laser_jax.rewards import build_reward_models
from laser_jax.rewards.spec import check_specs
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.py"

USER_RMS = textwrap.dedent('''
    calls = []

    def brevity(prompts, responses, golds, max_words=3, bonus=0.0):
        calls.append(len(responses))
        return [float(len(r.split()) <= max_words) + bonus for r in responses]

    def gold_in_response(prompts, responses, golds):
        return [None if g is None else g in r for r, g in zip(responses, golds)]

    def too_few(prompts, responses, golds):
        return [1.0]

    def words(prompts, responses, golds, **kwargs):
        return ["long" for _ in responses]

    def broken(prompts, responses, golds):
        raise KeyError("no such thing")

    def one_argument(prompts):
        return []

    not_a_function = 3
''')


@pytest.fixture(scope="module")
def user_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "my_rewards.py"
    path.write_text(USER_RMS)
    return path


def test_scores_are_the_functions_numbers_with_keyword_arguments_and_none_as_nan(user_file):
    brevity, gold = build_reward_models([
        dict(kind="python", function=f"{user_file}:brevity", max_words=2, bonus=0.5),
        dict(kind="python", name="has_gold", function=f"{user_file}:gold_in_response")])
    assert (brevity.name, gold.name) == ("brevity", "has_gold")
    responses = ["one", "one two", "one two three", "the answer is 7"]
    got = brevity.score(["q"] * 4, responses)
    np.testing.assert_array_equal(got, np.array([1.5, 1.5, 0.5, 0.5], np.float32))
    assert got.dtype == np.float32
    got = gold.score(["q"] * 4, responses, ["two", "7", None, "7"])
    np.testing.assert_array_equal(got, np.array([0.0, 0.0, np.nan, 1.0], np.float32))


def test_a_module_on_the_path_is_named_by_its_dotted_name(user_file, monkeypatch):
    monkeypatch.syspath_prepend(str(user_file.parent))
    [rm] = build_reward_models([dict(kind="python", function="my_rewards:brevity")])
    np.testing.assert_array_equal(rm.score(["q", "q"], ["a b c d", "a"]), [0.0, 1.0])


@pytest.mark.parametrize("function,extra,message", [
    ("{file}:missing", {}, "has no function 'missing'"),
    ("{file}:not_a_function", {}, "has no function 'not_a_function'"),
    ("{dir}/nope.py:f", {}, "no such file"),
    ("no_such_module_xyz:f", {}, "importing no_such_module_xyz failed: ModuleNotFoundError"),
    ("just_a_name", {}, "must be 'package.module:function'"),
    ("{file}:one_argument", {}, "does not fit its signature"),
    ("{file}:brevity", {"max_wrds": 3}, "does not fit its signature"),
])
def test_bad_entries_are_refused_by_the_config_check_naming_the_entry(user_file, function, extra, message):
    spec = dict(kind="python", function=function.format(file=user_file, dir=user_file.parent), **extra)
    problems = check_specs([dict(kind="verifier", task="gsm8k"), spec])
    assert len(problems) == 1 and problems[0].startswith("rewards[1].function") and message in problems[0], problems
    with pytest.raises(ConfigError, match=message):
        build_reward_models([spec])


@pytest.mark.parametrize("fn,message", [
    ("too_few", "returned 1 scores for 2 responses"),
    ("words", "returned 'long' for response 0; scores must be numbers"),
    ("broken", "raised KeyError: 'no such thing'"),
])
def test_bad_scores_are_a_user_error_naming_the_rm_and_its_function(user_file, fn, message):
    [rm] = build_reward_models([dict(kind="python", name="mine", function=f"{user_file}:{fn}")])
    with pytest.raises(LaserError, match=message) as e:
        rm.score(["q", "q"], ["a", "b"])
    assert f"reward model 'mine' (function {user_file}:{fn})" in str(e.value)


def _config_with(tmp_path, user_file, function: str) -> Path:
    """configs/tiny.py with its likelihood RM replaced by a python RM."""
    path = tmp_path / "with_python_rm.py"
    path.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('tiny', {str(TINY)!r})\n"
        "tiny = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(tiny)\n\n\n"
        "def get_config():\n    c = tiny.get_config()\n"
        f"    c.rewards[1] = dict(name='brevity', kind='python', function={function!r}, max_words=4)\n"
        "    return c\n")
    return path


def _train(tmp_path, config: Path, workdir: Path):
    env = dict(os.environ, LASER_JAX_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    return forked.run([sys.executable, "-m", "laser_jax.main", f"--config={config}", f"--workdir={workdir}",
                           "--config.logging.progress=False", "--config.training.iterations=1",
                           "--config.selector=fixed", "--config.selector_args.arm=1", "--config.eval.before=False"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


def test_training_with_a_python_rm_through_the_command_line(tmp_path, user_file):
    run = _train(tmp_path, _config_with(tmp_path, user_file, f"{user_file}:brevity"), tmp_path / "run")
    assert run.returncode == 0, run.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records and all(r["arm"] == 1 for r in records)  # the python RM ranked every batch
    bad = _train(tmp_path, _config_with(tmp_path, user_file, f"{user_file}:words"), tmp_path / "bad")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr[-3000:]
    assert "reward model 'brevity'" in bad.stderr and "scores must be numbers" in bad.stderr
