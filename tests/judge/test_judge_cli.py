"""`python -m laser_jax.judge` end to end on two run workdirs written here: position swap, the
numbers in its outputs against hand counts and an independent bootstrap, the tiny LM judge, and
bad inputs (exit 2, a message naming the file / flag, no traceback)."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from laser_jax.models.tiny import smoke_assets
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
FAMILIES = ["math"] * 3 + ["chat"] * 3
# A's responses are longer on math, shorter on chat, except u4 where both have 8 characters
A = ["alpha: 3 + 4 = 7 exactly", "alpha: the answer is 12", "alpha: 9 since 3 * 3 = 9", "alpha", "alpha xx",
     "alpha!"]
B = ["beta: 7", "beta: 12", "beta: 9", "beta: a much longer reply", "beta xxx", "beta: another long reply"]
JUDGES = '''
def prefer_first(prompts, firsts, seconds):
    return [1.0] * len(prompts)


def prefer_alpha(prompts, firsts, seconds):
    return [1.0 if f.startswith("alpha") else 0.0 for f in firsts]


def prefer_longer(prompts, firsts, seconds):
    return [1.0 if len(f) > len(s) else 0.0 if len(f) < len(s) else 0.5 for f, s in zip(firsts, seconds)]
'''


def _records(responses, order, prompt=lambda i: f"Question {i}: what now?"):
    return "".join(json.dumps({"uid": f"u{i}", "family": FAMILIES[i], "prompt": prompt(i), "gold": None,
                               "prediction": None, "correct": None, "response": responses[i]}) + "\n"
                   for i in order)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("judge")
    for name, responses, order in (("run_a", A, range(6)), ("run_b", B, [5, 3, 1, 0, 2, 4])):
        (root / name).mkdir()
        (root / name / "eval_after.jsonl").write_text(_records(responses, order))
    (root / "fake_judges.py").write_text(JUDGES)
    (root / "other_uids").mkdir()
    (root / "other_uids" / "eval_after.jsonl").write_text(
        _records(B, range(5)) + json.dumps({"uid": "u7", "family": "chat", "prompt": "?", "response": "x"}) + "\n")
    (root / "other_prompts").mkdir()
    (root / "other_prompts" / "eval_after.jsonl").write_text(
        _records(B, range(6), prompt=lambda i: f"Question {i}: what now?" + (" (v2)" if i == 2 else "")))
    (root / "no_prompt").mkdir()
    (root / "no_prompt" / "eval_after.jsonl").write_text(json.dumps({"uid": "u0", "response": "x"}) + "\n")
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), str(ROOT)]),
             LASER_JAX_CACHE=str(root / "cache"))
    return root, e


def judge(env, *args, out="out", timeout=300):
    root, e = env
    cmd = [sys.executable, "-m", "laser_jax.judge", f"--a={root / 'run_a'}", f"--b={root / 'run_b'}",
           f"--out={root / out}", *args]
    proc = forked.run(cmd, capture_output=True, text=True, env=e, cwd=ROOT, timeout=timeout)
    return proc, root / out


def _bootstrap(values, resamples, seed):
    """Percentile bootstrap written out here: means of seeded resamples of the prompts, 2.5 / 97.5 %."""
    values = np.asarray(values, float)
    idx = np.random.default_rng(seed).integers(0, len(values), size=(resamples, len(values)))
    return list(np.quantile(values[idx].mean(axis=1), [0.025, 0.975]))


def test_a_judge_preferring_the_first_position_gives_one_half(env):
    proc, out = judge(env, "--judge=python:fake_judges:prefer_first", "--resamples=300", out="first")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "judge.json").read_text())
    # every prompt: order AB picks A, order BA picks B -> a disagreement, counted 1/2
    assert (got["win_rate"], got["ci95"], got["wins"], got["losses"], got["halves"], got["disagreements"]) == \
        (0.5, [0.5, 0.5], 0, 0, 6, 6)
    assert got["prefers_first"] == 1.0
    assert {c: r["win_rate"] for c, r in got["by_category"].items()} == {"chat": 0.5, "math": 0.5}
    lines = [json.loads(x) for x in (out / "judgements.jsonl").read_text().splitlines()]
    assert {r["result"] for r in lines} == {"disagreement"}


def test_a_judge_preferring_run_a_text_gives_one(env):
    proc, out = judge(env, "--judge=python:fake_judges:prefer_alpha", "--resamples=300", out="alpha")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "judge.json").read_text())
    assert (got["win_rate"], got["ci95"], got["wins"], got["prefers_first"]) == (1.0, [1.0, 1.0], 6, 0.5)
    # and with the runs swapped, run A (now the "beta" run) never wins
    root, e = env
    proc = forked.run([sys.executable, "-m", "laser_jax.judge", f"--a={root / 'run_b'}", f"--b={root / 'run_a'}",
                           f"--out={root / 'alpha_swapped'}", "--judge=python:fake_judges:prefer_alpha"],
                          capture_output=True, text=True, env=e, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / "alpha_swapped" / "judge.json").read_text())["win_rate"] == 0.0


def test_outputs_and_their_numbers(env):
    proc, out = judge(env, "--judge=python:fake_judges:prefer_longer", "--resamples=500", "--seed=3",
                      "--tie-margin=0.1", out="longer")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json", "judge.json", "judgements.jsonl",
                                                     "winrate_by_category.png"]
    got = json.loads((out / "judge.json").read_text())
    outcome = [1, 1, 1, 0, 0.5, 0]  # u0..u5: A longer on math, shorter on chat, u4 a tie
    assert got["win_rate"] == pytest.approx(3.5 / 6, abs=1e-15)
    assert (got["prompts"], got["wins"], got["losses"], got["halves"], got["disagreements"]) == (6, 3, 2, 1, 0)
    assert got["prefers_first"] == pytest.approx(5 / 12)  # one "first" per decided prompt, none for the tie
    assert got["ci95"] == pytest.approx(_bootstrap(outcome, 500, 3), abs=1e-12)
    math, chat = got["by_category"]["math"], got["by_category"]["chat"]
    assert (math["win_rate"], math["ci95"]) == (1.0, [1.0, 1.0])
    assert chat["win_rate"] == pytest.approx(0.5 / 3) and chat["ci95"] == pytest.approx(_bootstrap([0, 0.5, 0], 500, 3))
    assert (got["a"]["name"], got["b"]["name"], got["judge"]["spec"]) == ("run_a", "run_b",
                                                                         "python:fake_judges:prefer_longer")
    assert (got["resamples"], got["seed"], got["tie_margin"], got["limit"]) == (500, 3, 0.1, None)
    assert got["time"].endswith("+00:00") and got["seconds"] >= 0
    lines = [json.loads(x) for x in (out / "judgements.jsonl").read_text().splitlines()]
    assert [r["uid"] for r in lines] == [f"u{i}" for i in range(6)]  # run A's order
    assert [r["outcome"] for r in lines] == outcome
    assert [r["result"] for r in lines] == ["a", "a", "a", "b", "tie", "b"]
    assert lines[0]["ab"] == {"p_first": 1.0, "label": "first"} and lines[0]["ba"] == {"p_first": 0.0, "label": "second"}
    assert lines[4]["ab"]["label"] == lines[4]["ba"]["label"] == "tie"
    for key, name, responses in (("a", "run_a", A), ("b", "run_b", B)):
        exported = json.loads((out / f"{key}.json").read_text())
        assert exported == [{"instruction": f"Question {i}: what now?", "output": responses[i], "generator": name,
                             "dataset": FAMILIES[i]} for i in range(6)]
    assert (out / "winrate_by_category.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tiny_lm_judge_through_the_cli(env):
    root, _ = env
    policy = smoke_assets(root / "tiny")["policy"]
    proc, out = judge(env, f"--judge=lm:{policy}", "--limit=4", "--batch_size=3", "--resamples=200", out="lm")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "judge.json").read_text())
    lines = [json.loads(x) for x in (out / "judgements.jsonl").read_text().splitlines()]
    assert [r["uid"] for r in lines] == ["u0", "u1", "u2", "u3"] and got["prompts"] == 4 and got["limit"] == 4
    assert got["judge"]["answer_tokens"] == {"A": [41, "A"], "B": [42, "B"]}  # the tiny vocabulary's letters
    expect = []
    for r in lines:
        for order in ("ab", "ba"):
            v = r[order]
            d = v["logit_a"] - v["logit_b"]
            assert v["p_first"] == pytest.approx(1 / (1 + np.exp(-d)), abs=1e-12)
            assert v["label"] == ("first" if d > 0 else "second") and 0 < v["mass"] < 1
        a_wins = r["ab"]["label"] == "first" and r["ba"]["label"] == "second"
        b_wins = r["ab"]["label"] == "second" and r["ba"]["label"] == "first"
        expect.append(1.0 if a_wins else 0.0 if b_wins else 0.5)
    assert [r["outcome"] for r in lines] == expect
    assert got["win_rate"] == pytest.approx(np.mean(expect), abs=1e-15)
    assert got["judge"]["answer_mass_mean"] == pytest.approx(
        np.mean([r[o]["mass"] for r in lines for o in ("ab", "ba")]))


def test_classifier_judge_one_order_mirrored(env):
    root, _ = env
    rm_path = smoke_assets(root / "tiny")["rm_classifier"]
    proc, out = judge(env, f"--judge=classifier:{rm_path}", "--resamples=200", out="rm")
    assert proc.returncode == 0, proc.stderr
    got = json.loads((out / "judge.json").read_text())
    lines = [json.loads(x) for x in (out / "judgements.jsonl").read_text().splitlines()]
    assert got["judge"]["orders"] == 1 and got["prefers_first"] is None
    assert got["judge"]["entry"] == {"kind": "classifier", "path": str(rm_path)}
    from laser_jax.rewards.build import build_reward_model

    rm = build_reward_model({"kind": "classifier", "path": str(rm_path)})
    prompts = [f"Question {i}: what now?" for i in range(6)]
    score_a, score_b = rm.score(prompts, A), rm.score(prompts, B)
    for i, r in enumerate(lines):
        assert (r["ab"]["score_first"], r["ab"]["score_second"]) == pytest.approx((score_a[i], score_b[i]), abs=1e-5)
        assert r["ba"] == {"p_first": pytest.approx(1 - r["ab"]["p_first"]), "mirrored": True,
                           "label": {"first": "second", "second": "first"}[r["ab"]["label"]]}
        assert r["outcome"] == (1.0 if score_a[i] > score_b[i] else 0.0)
    assert got["win_rate"] == pytest.approx(np.mean(score_a > score_b), abs=1e-15)


BAD = [
    # (id, arguments, words the message must contain)
    ("missing workdir", ["--a={root}/nope", "--judge=python:fake_judges:prefer_first"], ["--a", "nope", "does not exist"]),
    ("missing eval file", ["--eval_file=eval_before.jsonl", "--judge=python:fake_judges:prefer_first"],
     ["--a", "run_a/eval_before.jsonl does not exist", "eval_after.jsonl"]),
    ("different uids", ["--b={root}/other_uids", "--judge=python:fake_judges:prefer_first"],
     ["run_a/eval_after.jsonl ('u5')", "other_uids/eval_after.jsonl ('u7')"]),
    ("different prompts", ["--b={root}/other_prompts", "--judge=python:fake_judges:prefer_first"],
     ["uid 'u2'", "run_a/eval_after.jsonl", "other_prompts/eval_after.jsonl"]),
    ("records without prompts", ["--b={root}/no_prompt", "--judge=python:fake_judges:prefer_first"],
     ["no_prompt/eval_after.jsonl:1", "'prompt'"]),
    ("unknown judge kind", ["--judge=gpt4:turbo"], ["--judge gpt4:turbo", "unknown judge kind 'gpt4'"]),
    ("judge model missing", ["--judge=lm:{root}/no_model"], ["--judge lm:", "no_model", "no such file"]),
    ("no judge", [], ["--judge", "required"]),
    ("one run twice", ["--b={root}/run_a", "--judge=python:fake_judges:prefer_first"],
     ["same directory", "--b_eval_file"]),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_input_exits_2_with_a_message(env, case):
    _, args, words = case
    root, _ = env
    proc, out = judge(env, *[a.replace("{root}", str(root)) for a in args], out="bad")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    message = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(message) == 1, proc.stderr
    for w in words:
        assert w in message[0], (w, message[0])
    assert not (out / "judge.json").exists()
