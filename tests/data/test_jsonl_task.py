"""The jsonl task (your own prompts and answers, data.metric): loading, ids, families, each metric on
hand-made responses against a computation written here, every bad input named by file and line or
config field, one tiny best-of-n run through the public config path and one bad file through the
command line."""

import json
import os
import re
import string
import sys
from pathlib import Path

import numpy as np
import pytest

from laser_jax.batch import family
from laser_jax.config import ConfigError, base_config, load
from laser_jax.data import DataError, format_prompt, get_task, load_task
from laser_jax.data.tasks import configured_task, extract_answer, is_correct, score_response
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {"prompt": "What is the capital of France?", "answer": "Paris", "family": "geo", "id": "q1"},
    {"prompt": "How many legs has a spider?", "answer": 8, "family": "count", "id": "q2", "level": 1},
    {"prompt": "Name the largest ocean.", "answer": "the Pacific Ocean", "family": "geo"},
    {"prompt": "Which is a prime? A. 4 B. 6 C. 7 D. 9", "answer": "C"},
]


def write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ loading


def test_loading_ids_families_and_fields(tmp_path):
    path = write_jsonl(tmp_path / "mine.jsonl", ROWS[:2] + ["   "] + ROWS[2:])  # a blank line is skipped
    examples = load_task("jsonl:exact_match", path)
    assert [e.uid for e in examples] == ["jsonl-q1", "jsonl-q2", "jsonl-mine-000002", "jsonl-mine-000003"]
    assert [e.task for e in examples] == ["jsonl:exact_match"] * 4
    assert [e.answer for e in examples] == ["Paris", "8", "the Pacific Ocean", "C"]
    assert [family(e) for e in examples] == ["geo", "count", "geo", "jsonl"]  # no family: "jsonl"
    assert [e.meta_dict()["source"] for e in examples] == [f"{path}:{n}" for n in (1, 2, 4, 5)]
    from laser_jax.data.jsonl import example_meta

    assert example_meta(examples[1]) == {"family": "count", "id": "q2", "level": 1}
    assert example_meta(examples[3]) == {}
    # the plain task loads with data.metric's default; the config names "jsonl:<metric>"
    assert [e.task for e in load_task("jsonl", path)] == ["jsonl:exact_match"] * 4
    c = base_config()
    c.data.task, c.data.path = "jsonl", str(path)
    assert configured_task(load(c, "plan").data) == "jsonl:exact_match"
    c.data.metric = "numeric"
    assert configured_task(load(c, "plan").data) == "jsonl:numeric"
    # a file with answers gets the reasoning prompt (Final answer: ...); choice names the letter
    assert "Final answer:" in format_prompt(examples[0]) and "Question: What is the capital" in format_prompt(examples[0])
    choice = load_task("jsonl:choice", write_jsonl(tmp_path / "c.jsonl", [ROWS[3]]))[0]
    assert "letter of the correct choice" in format_prompt(choice)


def test_a_file_without_answers_is_a_prompt_set_like_wildchat(tmp_path):
    path = write_jsonl(tmp_path / "open.jsonl", [{"prompt": "Write a poem.", "family": "writing"},
                                                 {"prompt": "Explain DNS."}])
    examples = load_task("jsonl:numeric", path)
    assert [(e.task, e.answer, family(e)) for e in examples] == [("jsonl:no_gold", None, "writing"),
                                                                  ("jsonl:no_gold", None, "jsonl")]
    spec = get_task(examples[0].task)
    assert not spec.has_gold and spec.raw_prompt and format_prompt(examples[0]) == "Write a poem."
    with pytest.raises(DataError, match="task 'jsonl:no_gold' has no gold answers"):
        score_response(examples[0], "a response")


# ------------------------------------------------------------------------------------ metrics


def _normalise(s):  # SQuAD's normalisation, written out again here
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(pred, gold):
    p, g = _normalise(pred).split(), _normalise(gold).split()
    common = sum(min(p.count(w), g.count(w)) for w in set(p))
    return 0.0 if common == 0 else 2 * (common / len(p)) * (common / len(g)) / (common / len(p) + common / len(g))


def _lcs(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            t[i + 1][j + 1] = t[i][j] + 1 if x == y else max(t[i][j + 1], t[i + 1][j])
    return t[-1][-1]


def _rouge_l(pred, gold):  # one sentence each: Rouge-L F1 of the lower-cased word sequences
    p, g = pred.lower().split(), gold.lower().split()
    lcs = _lcs(p, g)
    return 0.0 if lcs == 0 else 2 * (lcs / len(p)) * (lcs / len(g)) / (lcs / len(p) + lcs / len(g))


def _scores(tmp_path, metric, rows, responses):
    examples = load_task(f"jsonl:{metric}", write_jsonl(tmp_path / f"{re.sub(r'[^a-z_]', '_', metric)[-20:]}.jsonl", rows))
    return [score_response(ex, r) for ex, r in zip(examples, responses)], examples


def test_exact_match(tmp_path):
    responses = ["It is in Europe.\nFinal answer: paris!\nmore text", "Final answer: eight", "The Pacific ocean",
                 "Final answer: C"]
    got, examples = _scores(tmp_path, "exact_match", ROWS, responses)
    want = [float(_normalise(p) == _normalise(g)) for p, g in
            zip(["paris!", "eight", "The Pacific ocean", "C"], ["Paris", "8", "the Pacific Ocean", "C"])]
    assert got == want == [1.0, 0.0, 1.0, 1.0]
    assert extract_answer(examples[0].task, responses[0]) == "paris!"
    assert is_correct(examples[0].task, "PARIS", "Paris") and not is_correct(examples[0].task, None, "Paris")


def test_numeric(tmp_path):
    rows = [{"prompt": "2+2?", "answer": 4}, {"prompt": "Half?", "answer": "0.5"},
            {"prompt": "Total?", "answer": "Work...\n#### 1,250"}, {"prompt": "Cost?", "answer": 12.0}]
    responses = ["2 + 2 = 4.\nFinal answer: 4", "Final answer: 0.50", "So $1,250 in all.", "Final answer: 13"]
    got, examples = _scores(tmp_path, "numeric", rows, responses)
    assert [e.answer for e in examples] == ["4", "0.5", "1250", "12"]
    assert got == [1.0, 1.0, 1.0, 0.0]


def test_choice(tmp_path):
    rows = [{"prompt": "Pick. A. x B. y C. z D. w", "answer": "c"}, {"prompt": "Pick again.", "answer": 1},
            {"prompt": "And again.", "answer": "D"}]
    got, examples = _scores(tmp_path, "choice", rows, ["Final answer: (C)", "The answer is B.", "Final answer: A"])
    assert [e.answer for e in examples] == ["C", "B", "D"]
    assert got == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("metric, reference", [("qa_f1", _f1), ("rouge", _rouge_l)])
def test_graded_metrics(tmp_path, metric, reference):
    rows = [{"prompt": "Where?", "answer": "the Pacific Ocean"}, {"prompt": "Who?", "answer": "Marie Curie"},
            {"prompt": "What?", "answer": "a red apple"}]
    responses = ["Thinking.\nFinal answer: Pacific Ocean", "Final answer: Pierre Curie and Marie",
                 "no idea at all"]
    preds = ["Pacific Ocean", "Pierre Curie and Marie", "no idea at all"]
    got, examples = _scores(tmp_path, metric, rows, responses)
    want = [reference(p, g) for p, g in zip(preds, [r["answer"] for r in rows])]
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert 0 < got[1] < 1 and got[2] == 0.0
    # correct = score >= 0.5 (jsonl.CORRECT_AT), where a run needs correct / wrong
    assert [is_correct(e.task, p, e.answer) for e, p in zip(examples, preds)] == [w >= 0.5 - 1e-6 for w in want]
    assert get_task(examples[0].task).metric_name == {"qa_f1": "token F1", "rouge": "Rouge-L F"}[metric]


USER_METRIC = '''
def score(response, answer, meta):
    """1 when the response holds the answer, else the share of the meta's level in 4."""
    if answer is not None and answer.lower() in response.lower():
        return 1.0
    return meta.get("level", 0) / 4

def not_a_number(response, answer, meta):
    return "high"
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_metric.py"
    path.write_text(USER_METRIC)
    return path


def test_python_metric_from_a_file_and_a_module(tmp_path, user_file, monkeypatch):
    rows = [{"prompt": "Capital?", "answer": "Paris", "level": 2}, {"prompt": "Ocean?", "answer": "Pacific"},
            {"prompt": "Colour?", "answer": "blue", "level": 3}]
    responses = ["It is paris.", "Atlantic", "red"]
    want = [1.0, 0 / 4, 3 / 4]
    got, examples = _scores(tmp_path, f"python:{user_file}:score", rows, responses)
    assert got == want
    assert extract_answer(examples[2].task, "red, really") == "red, really"  # the whole response
    # answer-only callers: example_meta = {} (documented), correct = score >= 0.5
    assert is_correct(examples[0].task, "PARIS", "Paris") and not is_correct(examples[2].task, "red", "blue")
    monkeypatch.syspath_prepend(str(tmp_path))
    got, _ = _scores(tmp_path, "python:my_metric:score", rows, responses)
    assert got == want
    # without answers the function still scores (answer=None)
    open_rows = [{"prompt": "Write.", "level": 4}, {"prompt": "Sing."}]
    got, examples = _scores(tmp_path, "python:my_metric:score", open_rows, ["x", "y"])
    assert got == [1.0, 0.0] and examples[0].answer is None and get_task(examples[0].task).has_gold


# ------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize("lines, words", [
    (['{"prompt": "a", "answer": "1"}', '{"prompt": "b", oops}'], r":2: not valid JSON"),
    (['{"prompt": "a"}', '{"question": "b"}'], r":2: no 'prompt' key \(has \['question'\]\)"),
    (['{"prompt": 3}'], r":1: 'prompt' must be a non-blank string, got 3"),
    (['{"prompt": "a", "answer": "1"}', '{"prompt": "b", "answer": "2"}', '{"prompt": "c"}'],
     r":3: no 'answer' key, while 2 other lines \(first: .*:1\) have one"),
    (['{"prompt": "a", "answer": null}'], r":1: 'answer' must be a string or a number, got None"),
    (['{"prompt": "a", "answer": "1", "family": 2}'], r":1: 'family' must be a non-blank string"),
    (['["a", "b"]'], r":1: expected a JSON object, got list"),
])
def test_bad_lines_are_named_by_file_and_line(tmp_path, lines, words):
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DataError, match=re.escape(str(path)) + words):
        load_task("jsonl:exact_match", path)


def test_bad_files_and_metrics_are_named(tmp_path, user_file):
    with pytest.raises(DataError, match=r"nope.jsonl: no such file"):
        load_task("jsonl:exact_match", tmp_path / "nope.jsonl")
    path = write_jsonl(tmp_path / "words.jsonl", [{"prompt": "a", "answer": "Paris"}])
    with pytest.raises(DataError, match=r"words.jsonl:1: .*not a number|words.jsonl:1: .*'#### N'"):
        load_task("jsonl:numeric", path)
    with pytest.raises(DataError, match=r"words.jsonl:1: .*letter A-D"):
        load_task("jsonl:choice", path)
    with pytest.raises(ConfigError, match=r"data.metric='bleu' is not one of \['exact_match', 'numeric'"):
        load_task("jsonl:bleu", path)
    ex = load_task(f"jsonl:python:{user_file}:not_a_number", path)[0]
    with pytest.raises(ConfigError, match=r"data.metric='python:.*:not_a_number' returned 'high' \(example "
                                          r"jsonl-words-000000\); return a number in \[0, 1\]"):
        score_response(ex, "a response")


def test_config_fields_are_checked_by_name(tmp_path, user_file):
    path = write_jsonl(tmp_path / "mine.jsonl", ROWS)
    c = base_config()
    c.data.task, c.data.path = "jsonl", str(path)
    load(c, "plan")  # structure only
    assert c.data.metric == "exact_match"
    assert get_task("jsonl").name == "jsonl" and base_config().data.metric == "exact_match"
    problems = lambda: load(c, "plan").data.check()  # noqa: E731
    assert problems() == []
    c.data.metric = "bleu"
    assert problems() == [f"data.metric='bleu' is not one of ['exact_match', 'numeric', 'choice', 'qa_f1', 'rouge', "
                          "'python:<module or file.py>:<function>']"]
    c.data.metric = "python:no_such_module_xyz:fn"
    assert re.fullmatch(r"data.metric='python:no_such_module_xyz:fn': the function='no_such_module_xyz:fn': "
                        r"importing no_such_module_xyz failed: ModuleNotFoundError: .*", problems()[0])
    c.data.metric = f"python:{user_file}:missing"
    assert problems() == [f"data.metric='python:{user_file}:missing': the function='{user_file}:missing': "
                          f"{user_file} has no function 'missing'"]
    c.data.metric = "numeric"
    c.data.path = None
    assert problems() == ["data.path is unset: task 'jsonl' reads a local file; set data.path"]
    c.data.path = str(tmp_path / "nope.jsonl")
    assert problems() == [f"data.path={c.data.path!r}: no such file or directory"]
    c.data.task, c.data.path = "gsm8k", None
    assert problems() == ["data.metric='numeric': only data.task='jsonl' reads data.metric (data.task='gsm8k'); "
                          "leave it unset"]


# ------------------------------------------------------------------------------------ end to end

# 12 prompts, two families; answers a tiny random policy will not give: the metric is the level share
E2E = [{"prompt": f"Question {i}: name a colour.", "answer": "ultramarine", "family": "ab"[i % 2], "id": f"q{i}",
        "level": i % 5} for i in range(12)]
E2E_METRIC = '''
def score(response, answer, meta):
    if not meta:  # an answer-only caller (here the exact-match verifier RM): example_meta = {}
        return float(answer in response)
    assert meta["id"].startswith("q") and meta["family"] in ("a", "b")  # the line's own fields
    return 1.0 if answer in response else ((len(response) + meta["level"]) % 5) / 4
'''


def _reference(response, row):
    return 1.0 if row["answer"] in response else ((len(response) + row["level"]) % 5) / 4


def tiny_best_of_n(assets, data_path, metric):
    """configs/best_of_n.py:quick with the tiny policy and two program RMs (no neural RM: fast)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bon_config", ROOT / "configs" / "best_of_n.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config("quick")
    c.policy.path = str(assets["policy"])
    c.rewards = [dict(name="em", kind="verifier"), dict(name="length", kind="verifier", rule="length")]
    c.data.task, c.data.path, c.data.metric = "jsonl", str(data_path), metric
    c.data.train_limit = c.data.test_limit = 0
    c.data.holdout_fraction = 0.5
    c.sampling.n, c.sampling.max_new_tokens, c.sampling.max_prompt_tokens = 3, 6, 256
    c.training.batch_size = 6
    c.replay.update(orders=4, resamples=100, noise_rm="", rewards=("gold",),
                    methods=("laser", "best", "random", "oracle", "random_response"))
    c.logging.plot = False
    return c


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from laser_jax.models.tiny import smoke_assets

    return smoke_assets(tmp_path_factory.mktemp("cache") / "tiny")


def test_best_of_n_on_a_jsonl_file_with_a_python_metric(tmp_path, assets):
    from laser_jax.best_of_n.run import run

    data = write_jsonl(tmp_path / "mine.jsonl", E2E)
    (tmp_path / "e2e_metric.py").write_text(E2E_METRIC)
    c = tiny_best_of_n(assets, data, f"python:{tmp_path / 'e2e_metric.py'}:score")
    results = run(c, tmp_path / "work")
    assert results["queries"] == results["calibration_queries"] == 6
    assert sorted(results["families"]) == ["a", "b"] and results["metric"] == "python metric score"
    # the queries in collection order (the training split, then the test split), as the run loads them
    from laser_jax.training.runtime import load_data

    train, test = load_data(load(c, "best_of_n"))
    rows = {f"jsonl-{r['id']}": r for r in E2E}
    work = tmp_path / "work" / "collect"
    texts = [t for p in sorted(work.glob("batch_*.json")) for t in json.loads(p.read_text())]
    metric = np.concatenate([np.load(p)["metric"] for p in sorted(work.glob("batch_*.npz"))])
    assert metric.shape == (12, 3) and len(texts) == 12
    # every sample's metric recomputed here from its text and its line
    want = np.array([[_reference(t, rows[ex.uid]) for t in samples] for ex, samples in zip(train + test, texts)])
    np.testing.assert_allclose(metric, want, atol=1e-12)
    # random_response (the floor): the mean metric of each test query's samples; oracle: at most the best one
    means = {r["method"]: r["mean"] for r in results["methods"]}
    assert means["random_response"] == pytest.approx(want[6:].mean(), abs=1e-9)
    assert means["oracle"] <= want[6:].max(axis=1).mean() + 1e-9


def test_a_bad_jsonl_file_through_the_command_line_exits_2_naming_it(tmp_path, assets):
    data = write_jsonl(tmp_path / "mixed.jsonl", [{"prompt": "a", "answer": "1"}, {"prompt": "b"}])
    config = tmp_path / "bon_tiny.py"
    config.write_text(
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('t', {__file__!r})\n"
        "t = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(t)\n\n\n"
        f"def get_config():\n    return t.tiny_best_of_n({ {k: str(v) for k, v in assets.items()} !r}, 'unset', "
        "'exact_match')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(Path(__file__).parents[1])]))
    out = forked.run([sys.executable, "-m", "laser_jax.best_of_n", f"--config={config}",
                          f"--workdir={tmp_path / 'work'}", "--config.data.task=jsonl",
                          f"--config.data.path={data}"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert f"{data}:2: no 'answer' key" in out.stderr and "Traceback" not in out.stderr, out.stderr[-3000:]


def test_training_on_a_jsonl_file_scores_its_evaluation_with_data_metric(tmp_path, assets):
    """configs/tiny.py (the training setting) on a JSONL file with data.metric=numeric: every
    evaluation record's `correct` is numeric equality of its prediction with the line's answer,
    recomputed here; accuracy_after is their mean."""
    import importlib.util

    from laser_jax.training import train

    rows = [{"prompt": f"What is {i} + {i}?", "answer": str(2 * i), "family": "sums", "id": f"s{i}"}
            for i in range(8)]
    data = write_jsonl(tmp_path / "sums.jsonl", rows)
    spec = importlib.util.spec_from_file_location("tiny_config", ROOT / "configs" / "tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config()
    c.policy.path = str(assets["policy"])
    c.data.task, c.data.path, c.data.metric = "jsonl", str(data), "numeric"
    c.data.train_split = c.data.test_split = "all"
    c.training.iterations = 1
    c.eval.before = False
    c.logging.progress = c.logging.plot = c.logging.tensorboard = False
    results = train(c, tmp_path / "run")
    assert results["status"] == "complete" and results["task"] == "jsonl"
    records = [json.loads(line) for line in (tmp_path / "run" / "eval_after.jsonl").read_text().splitlines()]
    by_uid = {f"jsonl-{r['id']}": r for r in rows}
    assert records and all(r["uid"] in by_uid for r in records)

    def numeric_equal(pred, gold):
        try:
            return pred is not None and float(pred.replace(",", "")) == float(gold)
        except ValueError:
            return False

    for r in records:
        assert r["correct"] == numeric_equal(r["prediction"], by_uid[r["uid"]]["answer"]), r
    assert results["accuracy_after"] == pytest.approx(np.mean([r["correct"] for r in records]))
