"""End to end through the CLI on tiny random models (configs/tiny.py): every selector, outputs,
exact resume after a stop, SIGTERM, and bad configs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from laser_jax.bandit import REGISTRY
from laser_jax.config import ConfigError
from laser_jax.training.validation import validate
from laser_jax.models.tiny import smoke_assets
from laser_jax.models.cache import ModelCache
from laser_jax.training import train
from runs import assert_same_final_state, comparable, final_state, leaves, metrics, tiny_config
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.py")
SHORT = ["--config.data.train_limit=6", "--config.logging.progress=False"]  # 2 batches of 3 -> 4 steps


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    smoke_assets(cache / "tiny")  # build the tiny models once, before parallel use
    e = dict(os.environ, LASER_JAX_CACHE=str(cache))
    return e


def run_cli(env, workdir, *overrides, timeout=300):
    cmd = [sys.executable, "-m", "laser_jax.main", f"--config={TINY}", f"--workdir={workdir}", *SHORT, *overrides]
    return forked.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


CACHE = ModelCache()  # models, tokenizers and compiled functions shared by the in-process runs


@pytest.mark.parametrize("selector", sorted(REGISTRY) + ["laser_per_prompt"])
def test_every_selector_trains_two_iterations(env, tmp_path, selector, caplog):
    """In process (as `laser_jax.compare` runs its methods), sharing loaded models and compiled
    functions; the CLI itself is exercised by the resume, SIGTERM and bad-input tests below."""
    per_prompt = selector == "laser_per_prompt"
    selector = "laser" if per_prompt else selector
    c = _tiny_config(env)
    c.data.train_limit, c.logging.progress = 6, False  # as SHORT: 2 batches of 3 -> 4 steps
    c.selector, c.selector_args.per_prompt = selector, per_prompt
    with caplog.at_level(logging.INFO, logger="laser_jax"):
        out = train(c, tmp_path, cache=CACHE)
    assert "accuracy before training" in caplog.text
    recs = metrics(tmp_path)
    assert [r["step"] for r in recs] == [1, 2, 3, 4] and {r["iteration"] for r in recs} == {0, 1}
    for r in recs:
        for k in ("arm", "arm_counts", "pairs", "raw_reward", "norm_reward", "time_sample", "time_score",
                  "time_train", "time_bandit"):
            assert k in r
    res = json.loads((tmp_path / "results.json").read_text())
    assert res == json.loads(json.dumps(out))
    assert res["status"] == "complete" and res["steps"] == 4 and res["selector"] == selector
    assert set(res["arm_counts"]) == {"classifier", "likelihood", "exact_match"}
    assert 0.0 <= res["accuracy_before"] <= 1.0 and 0.0 <= res["accuracy_after"] <= 1.0
    assert res["accuracy"]["gsm8k"][selector]["after"] == res["accuracy_after"]
    if selector in ("ensemble", "agreement", "online_ensemble"):
        assert all(v == 4 * 3 for v in res["arm_counts"].values())  # every RM scores every prompt
    elif per_prompt:
        assert sum(res["arm_counts"].values()) == 4 * 3  # one RM per prompt
    else:
        assert sum(res["steps_per_arm"].values()) == 4  # one RM per batch
    if selector == "fixed":
        assert res["steps_per_arm"]["classifier"] == 4
    if selector == "sequential":
        assert [r["arm"] for r in recs] == [0, 1, 2, 0]
    assert (tmp_path / "arms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert len((tmp_path / "eval_after.jsonl").read_text().splitlines()) == res["test_examples"]


def test_stopped_and_resumed_run_matches_uninterrupted(env, tmp_path):
    full, parts = tmp_path / "full", tmp_path / "parts"
    c = _tiny_config(env)  # the uninterrupted reference runs in process (shares the compiled functions)
    c.data.train_limit, c.logging.progress, c.training.checkpoint_every = 6, False, 100
    assert train(c, full, cache=CACHE)["status"] == "complete"
    first = run_cli(env, parts, "--config.training.checkpoint_every=100", "--config.training.stop_after=3")
    assert first.returncode == 0 and "stopped at step 3/4" in first.stdout, first.stderr[-2000:]
    assert not (parts / "results.json").exists()
    again = run_cli(env, parts, "--config.training.checkpoint_every=100")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed" in again.stderr
    assert comparable(metrics(full)) == comparable(metrics(parts))
    assert_same_final_state(full, parts, step=4)
    ra, rb = (json.loads((d / "results.json").read_text()) for d in (full, parts))
    for k in ("accuracy_before", "accuracy_after", "arm_counts", "steps_per_arm"):
        assert ra[k] == rb[k]
    assert (full / "eval_after.jsonl").read_text() == (parts / "eval_after.jsonl").read_text()


def test_sigterm_checkpoints_then_rerun_resumes(env, tmp_path):
    cmd = [sys.executable, "-m", "laser_jax.main", f"--config={TINY}", f"--workdir={tmp_path}", *SHORT,
           "--config.training.iterations=4", "--config.training.checkpoint_every=100"]
    proc = forked.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    deadline = time.time() + 240
    while time.time() < deadline and not ((tmp_path / "metrics.jsonl").exists()
                                          and (tmp_path / "metrics.jsonl").read_text().strip()):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "rerun the same command to resume" in err and "Traceback" not in err
    step, _ = final_state(tmp_path)
    assert 1 <= step < 8
    again = run_cli(env, tmp_path, "--config.training.iterations=4", "--config.training.checkpoint_every=100")
    assert again.returncode == 0, again.stderr[-2000:]
    assert [r["step"] for r in metrics(tmp_path)] == list(range(1, 9))


# ---- bad configs: one clear message naming the field, non-zero exit, before any model loads -----


def _tiny_config(env):
    os.environ["LASER_JAX_CACHE"] = env["LASER_JAX_CACHE"]
    return tiny_config()


@pytest.mark.parametrize("change,message", [
    (lambda c: setattr(c.data, "task", "chess"), "data.task='chess' is not one of"),
    (lambda c: setattr(c, "selector", "ucb2"), "selector='ucb2' is not one of"),
    (lambda c: setattr(c, "rewards", []), "rewards is empty"),
    (lambda c: setattr(c.sampling, "n", 1), "sampling.n=1 must be >= 2"),
    (lambda c: setattr(c.sampling, "top_p", 1.5), "sampling.top_p=1.5 must be in (0, 1]"),
    (lambda c: setattr(c.training, "pairs_per_prompt", 9), "training.pairs_per_prompt=9 must be between 1 and"),
    (lambda c: setattr(c.training, "learning_rate", -1.0), "training.learning_rate=-1.0 must be a finite number > 0"),
    (lambda c: setattr(c.policy, "path", "/no/such/model"), "policy.path='/no/such/model': no such file"),
    (lambda c: setattr(c.data, "path", "/no/such/data.jsonl"), "data.path='/no/such/data.jsonl': no such file"),
    (lambda c: c.rewards[0].update(kind="oracle"), "rewards[0].kind='oracle' is not one of"),
    (lambda c: c.rewards[1].update(path="./missing_rm"), "rewards[1].path='./missing_rm': no such file"),
])
def test_bad_config_is_rejected(env, change, message):
    c = _tiny_config(env)
    c.unlock()
    change(c)
    with pytest.raises(ConfigError) as e:
        validate(c)
    assert message in str(e.value)


def test_bad_config_on_the_cli_fails_fast(env, tmp_path):
    run = run_cli(env, tmp_path, "--config.data.task=chess", "--config.sampling.n=1", "--config.policy.path=/nope")
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    for field in ("data.task='chess'", "sampling.n=1", "policy.path='/nope'"):
        assert field in run.stderr
    assert not (tmp_path / "checkpoints").exists()  # refused before anything was built (no timing assert:
    # the wall time of a subprocess on a shared machine says little)


def test_bad_data_file_names_the_line(env, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q", "answer": "#### 1"}\n{not json\n')
    run = run_cli(env, tmp_path / "w", f"--config.data.path={bad}")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "bad.jsonl:2: not valid JSON" in run.stderr


@pytest.mark.parametrize("selector", ["laser"])  # exp3 and thompson grow by the same grow_state (test_selectors)
def test_resume_with_an_appended_reward_model(env, tmp_path, selector):
    """3 steps with 3 RMs, then resumed with a 4th appended for steps 4-6: the run completes over
    4 RMs and the new arm is selected (laser, alpha 10: it starts as fresh as the arms never
    pulled, and fresh arms' widths win); an old arm not selected after the resume ends with exactly the
    step-3 checkpoint's LinUCB arrays (its state survived the growth); removing or editing an
    RM is refused by name."""
    from ml_collections import ConfigDict

    c = _tiny_config(env)
    c.data.train_limit, c.logging.progress, c.selector = 9, False, selector
    c.eval.before = c.eval.after = False
    c.training.stop_after = 3
    c.selector_args.alpha = 10.0  # exploration first: arms never pulled (widths |c|) are tried
    assert train(c, tmp_path, cache=CACHE)["status"] != "complete"
    _, saved = final_state(tmp_path)
    before = {k: v for k, v in leaves(saved) if k.startswith("/bandit/")}
    assert before["/bandit/counts"].shape == (3,)

    grown = ConfigDict(c.to_dict())
    grown.rewards = list(c.rewards) + [dict(name="exact_match_2", kind="verifier", task="gsm8k")]
    grown.training.stop_after = 0
    out = train(grown, tmp_path, cache=CACHE)
    assert out["status"] == "complete" and out["rewards"][-1] == "exact_match_2"
    recs = metrics(tmp_path)
    assert [len(r["arm_counts"]) for r in recs] == [3, 3, 3, 4, 4, 4]
    assert out["arm_counts"]["exact_match_2"] == sum(r["arm_counts"][3] for r in recs[3:])
    _, final = final_state(tmp_path)
    after = {k: v for k, v in leaves(final) if k.startswith("/bandit/")}
    for k, v in before.items():
        if v.ndim and v.shape[0] == 3 and k != "/bandit/counts":
            assert after[k].shape[0] == 4, k
    if selector == "laser":
        picked = {r["arm"] for r in recs[3:]}
        assert 3 in picked, [r["arm"] for r in recs]
        untouched = [a for a in range(3) if a not in picked]
        assert untouched, [r["arm"] for r in recs]
        for k, v in before.items():
            if k.startswith("/bandit/bandit/") and v.ndim and v.shape[0] == 3:
                np.testing.assert_array_equal(after[k][untouched], v[untouched], err_msg=k)
    # removing or editing a reward model: refused, naming the field
    for change in (lambda r: r[:2], lambda r: [r[0], dict(r[1], name="lik"), r[2], r[3]]):
        bad = ConfigDict(grown.to_dict())
        bad.rewards = change(list(grown.rewards))
        with pytest.raises(ConfigError, match="different config .*rewards"):
            train(bad, tmp_path, cache=CACHE)


def test_mean_embedding_context_and_top_vs_rest_pairing(env, tmp_path):
    """The authors' variants: bandit.context=mean_embedding (each prompt's mean input embedding,
    checked against the embedding table read in numpy) and training.pairing=top_vs_rest (pairs
    share their chosen response) train end to end; bad values are refused by name."""
    from laser_jax.training.runtime import build_runtime

    c = _tiny_config(env)
    c.data.train_limit, c.logging.progress = 6, False
    c.eval.before = c.eval.after = False
    c.bandit.context, c.training.pairing, c.training.pairs_per_prompt = "mean_embedding", "top_vs_rest", 3
    rt, params = build_runtime(c, tmp_path / "rt", CACHE)
    ids = np.array([[0, 0, 5, 9, 12], [7, 8, 9, 10, 11]], np.int32)
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], np.int32)
    got = np.asarray(rt.fns.context(params, rt.frozen, ids, mask))
    from flax import nnx

    model = nnx.merge(rt.graphdef, params, rt.frozen)
    table = np.asarray(model.model.embed.embedding[...])
    want = np.stack([table[row[m == 1]].mean(0) for row, m in zip(ids, mask)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    out = train(c, tmp_path / "run", cache=CACHE)
    assert out["status"] == "complete"
    assert max(r["pairs"] for r in metrics(tmp_path / "run")) > 3  # up to 3 per prompt, not n // 2 = 2
    for field, value, message in (("bandit.context", "cls", "bandit.context='cls' must be one of"),
                                  ("training.pairing", "all", "training.pairing='all' must be one of"),
                                  ("training.pairs_per_prompt", 4, "training.pairs_per_prompt=4 must be "
                                   "between 1 and sampling.n - 1 = 3")):
        bad = _tiny_config(env)
        bad.training.pairing = "top_vs_rest"
        section, name = field.split(".")
        setattr(bad[section], name, value)
        with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
            validate(bad)


@pytest.mark.parametrize("reward,normalise", [("dpo_loss", "none"), ("gold_agreement", "window")])
def test_bandit_reward_and_normalisation_options(env, tmp_path, reward, normalise):
    """bandit.reward / bandit.normalise reach the bandit: with dpo_loss and no normalisation the
    raw reward is each step's -(DPO term) and enters LinUCB as it is; gold_agreement is a share
    in [0, 1] (its rule is tests/training/test_feedback.py's) and window maps it into (0, 1)."""
    c = _tiny_config(env)
    c.data.train_limit, c.logging.progress = 6, False
    c.eval.before = c.eval.after = False
    c.bandit.reward, c.bandit.normalise = reward, normalise
    assert train(c, tmp_path, cache=CACHE)["status"] == "complete"
    recs = metrics(tmp_path)
    assert len(recs) == 4 and sum("loss" in r for r in recs) >= 2
    for r in recs:
        if "loss" not in r:  # every pair tied: nothing trained, the worst reward
            assert r["raw_reward"] is None and r["norm_reward"] == 0.0  # -inf, written as null
        elif reward == "dpo_loss":
            assert r["raw_reward"] == pytest.approx(-r["dpo"], rel=1e-6)
            assert r["norm_reward"] == pytest.approx(r["raw_reward"], rel=1e-6)
            assert r["dpo"] != pytest.approx(r["loss"])  # the NLL term is left out
        else:
            assert 0.0 <= r["raw_reward"] <= 1.0 and 0.0 < r["norm_reward"] < 1.0
