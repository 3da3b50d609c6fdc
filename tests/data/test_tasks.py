"""Task loading (local files and the hub), splits, the registry and prompts."""

import collections
import json
import os
import re
from pathlib import Path

import datasets
import pytest

from laser_jax.data import (
    REASONING_INSTRUCTION,
    TASK_NAMES,
    TASKS,
    DataError,
    Example,
    chat_messages,
    format_prompt,
    get_task,
    load_task,
    split_examples,
)


def shared_data() -> Path:
    root = Path(os.environ.get("LASER_SHARED_DATA")
                or Path(__file__).resolve().parents[2].parent / "shared" / "data")
    if not root.is_dir():
        pytest.skip(f"shared data folder {root} is absent (set LASER_SHARED_DATA)")
    return root


# ------------------------------------------------------------------------------------------
# Real files


def test_real_gsm8k():
    root = shared_data() / "gsm8k"
    test = load_task("gsm8k", root, "test")
    assert len(test) == 1319 and len(load_task("gsm8k", root, "train")) == 7473
    first = test[0]
    assert first.uid == "gsm8k-test-00000" and first.task == "gsm8k" and first.answer == "18"
    assert first.question.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert first.meta_dict()["solution"].endswith("#### 18")
    assert first.meta_dict()["source"] == f"{root / 'test.jsonl'}:1"
    assert load_task("gsm8k", root / "test.jsonl", "ignored") == test  # a file is the split


def test_real_strategyqa():
    root = shared_data() / "strategyqa"
    full = load_task("strategyqa", root / "strategyqa_train.json")
    assert len(full) == 2290
    assert collections.Counter(e.answer for e in full) == {"yes": 1071, "no": 1219}
    assert full[0].uid == "strategyqa-b8677742616fef051f00" and full[0].answer == "yes"
    assert full[0].question == "Are more people today related to Genghis Khan than Julius Caesar?"
    assert load_task("strategyqa", root, "all") == full
    train, dev = load_task("strategyqa", root, "train"), load_task("strategyqa", root, "dev")
    assert (len(train), len(dev)) == (2061, 229)
    assert collections.Counter(e.answer for e in train) == {"yes": 964, "no": 1097}
    # Same questions and answers as the full file, as multisets (the qids differ).
    pairs = collections.Counter((e.question, e.answer) for e in train + dev)
    assert pairs == collections.Counter((e.question, e.answer) for e in full)
    with pytest.raises(DataError, match="strategyqa_test.json: record 0 .*not public"):
        load_task("strategyqa", root / "strategyqa_test.json")
    with pytest.raises(DataError, match="no test.json .*split_examples"):
        load_task("strategyqa", root, "test")


def test_real_mmlu():
    root = shared_data() / "mmlu"
    test = load_task("mmlu", root, "test")
    assert len(test) == 14042
    subjects = collections.Counter(e.meta_dict()["subject"] for e in test)
    assert len(subjects) == 57 and subjects["professional_law"] == 1534
    answers = collections.Counter(e.answer for e in test)
    assert answers == {"A": 3222, "B": 3462, "C": 3582, "D": 3776}
    assert all(len(e.choices) == 4 and all(isinstance(c, str) for c in e.choices) for e in test)
    # Literal "None" / "NA" stay text (pandas' default NA handling would turn them into NaN).
    assert sum(c == "None" for e in test for c in e.choices) == 10
    first = test[0]
    assert first.uid == "mmlu-abstract_algebra-test-0000" and first.answer == "B"
    assert first.choices == ("0", "4", "2", "6")
    dev = load_task("mmlu", root, "dev")
    assert len(dev) == 285
    # The same rows through a folder of CSVs and through one CSV file.
    assert load_task("mmlu", root / "test", "test") == test
    one = load_task("mmlu", root / "test" / "anatomy_test.csv")
    assert len(one) == 135 and one == [e for e in test if e.meta_dict()["subject"] == "anatomy"]


def test_limit_is_seeded_subset():
    root = shared_data() / "gsm8k"
    full = load_task("gsm8k", root, "test")
    a = load_task("gsm8k", root, "test", seed=1, limit=50)
    assert a == load_task("gsm8k", root, "test", seed=1, limit=50)
    assert a != load_task("gsm8k", root, "test", seed=2, limit=50)
    assert len(a) == 50 and set(a) <= set(full)
    assert [e.uid for e in a] == sorted(e.uid for e in a)  # file order kept
    assert load_task("gsm8k", root, "test", limit=10_000) == full


# ------------------------------------------------------------------------------------------
# Bad inputs name the file and the line / row


def at(path: Path) -> str:
    """``path`` as a regex that matches it literally."""
    return re.escape(str(path))


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match=f"{at(missing)}: no such file"):
        load_task("gsm8k", missing)


def test_unknown_task(tmp_path):
    with pytest.raises(DataError, match="unknown task 'gsm9k'; valid tasks: gsm8k, strategyqa, mm"):
        load_task("gsm9k", tmp_path)


def test_gsm8k_bad_json_line(tmp_path):
    path = tmp_path / "test.jsonl"
    good = json.dumps({"question": "q", "answer": "a\n#### 1"})
    path.write_text(f"{good}\n{good}\n{{not json\n")
    with pytest.raises(DataError, match=rf"{at(path)}:3: not valid JSON") as err:
        load_task("gsm8k", path)
    assert not isinstance(err.value, json.JSONDecodeError)


def test_gsm8k_missing_key_and_bad_hashes(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps({"question": "q", "answer": "a\n#### 1"}) + "\n\n"
                    + json.dumps({"question": "q"}) + "\n")
    with pytest.raises(DataError, match=rf"{at(path)}:3: missing key\(s\) \['answer'\]"):
        load_task("gsm8k", tmp_path, "test")  # a folder holding test.jsonl
    path.write_text(json.dumps({"question": "q", "answer": "a\n#### twelve"}) + "\n")
    with pytest.raises(DataError, match=rf"{at(path)}:1: .*'#### twelve'"):
        load_task("gsm8k", path)
    path.write_text(json.dumps({"question": "q", "answer": "12"}) + "\n")
    assert load_task("gsm8k", path)[0].answer == "12"  # a bare number is accepted
    path.write_text(json.dumps({"question": "q", "answer": "twelve apples"}) + "\n")
    with pytest.raises(DataError, match=rf"{at(path)}:1: GSM8K gold answer has no final"):
        load_task("gsm8k", path)
    with pytest.raises(DataError, match=r"no train.jsonl for gsm8k split 'train'"):
        load_task("gsm8k", tmp_path, "train")


def test_strategyqa_bad_files(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('[\n {"qid": "a", "question": "q", "answer": true},\n oops\n]')
    with pytest.raises(DataError, match=rf"{at(path)}:3: not valid JSON"):
        load_task("strategyqa", path)
    path.write_text(json.dumps([{"qid": "a", "question": "q", "answer": True},
                                {"qid": "b", "question": "q2", "answer": "perhaps"}]))
    with pytest.raises(DataError, match=rf"{at(path)}: record 1 \(qid b\): .*got 'perhaps'"):
        load_task("strategyqa", path)
    path.write_text(json.dumps([{"qid": "a", "question": "q", "answer": True},
                                {"qid": "a", "question": "q2", "answer": False}]))
    with pytest.raises(DataError, match=rf"{at(path)}: examples 0 and 1 share the id 'strat"):
        load_task("strategyqa", path)
    path.write_text(json.dumps({"data": []}))
    with pytest.raises(DataError, match=rf"{at(path)}: expected a JSON list"):
        load_task("strategyqa", path)
    path.write_text("[]")
    with pytest.raises(DataError, match=rf"{at(path)}: holds no strategyqa examples"):
        load_task("strategyqa", path)


def test_mmlu_bad_rows(tmp_path):
    path = tmp_path / "anatomy_test.csv"
    path.write_text('"Q1, with a comma",a,b,c,d,A\n"Q2\nspans two lines",a,b,c,d,B\nQ3,a,b,c,D\n')
    with pytest.raises(DataError, match=rf"{at(path)}: row 3 \(ends on line 4\): has 5 fie"):
        load_task("mmlu", path)
    path.write_text("Q1,a,b,c,d,E\n")
    with pytest.raises(DataError, match=rf"{at(path)}: row 1 .*letter A-D .*'E'"):
        load_task("mmlu", path)
    path.write_text("Q1,None,NA,,null,C\n")
    (example,) = load_task("mmlu", tmp_path, "test")
    assert example.choices == ("None", "NA", "", "null") and example.answer == "C"
    assert example.uid == "mmlu-anatomy-test-0000"
    with pytest.raises(DataError, match=rf"{at(tmp_path)}: no '<subject>_dev.csv' files"):
        load_task("mmlu", tmp_path, "dev")


def test_encoding(tmp_path):
    path = tmp_path / "test.jsonl"
    record = json.dumps({"question": "caf\u00e9?", "answer": "#### 1"}, ensure_ascii=False)
    path.write_bytes(b"\xef\xbb\xbf" + record.encode() + b"\r\n")  # BOM + CRLF are fine
    assert load_task("gsm8k", path)[0].question == "caf\u00e9?"
    path.write_bytes(record.encode() + b"\n" + record.encode("latin-1") + b"\n")
    with pytest.raises(DataError, match=rf"{at(path)}:2: not UTF-8 text"):
        load_task("gsm8k", path)


# ------------------------------------------------------------------------------------------
# The hub path, with datasets.load_dataset replaced by in-memory data of the hub's layout

HUB_ROWS = {
    ("openai/gsm8k", "main"): [
        {"question": "1+1?", "answer": "1+1=<<1+1=2>>2\n#### 2"},
        {"question": "Big?", "answer": "...\n#### 1,000"},
    ],
    ("ChilleD/StrategyQA", None): [
        {"qid": "q1", "term": "t", "description": "d", "question": "Is it?", "answer": True,
         "facts": ["f"], "decomposition": ["x"]},
        {"qid": "q2", "term": "t", "description": "d", "question": "Is it not?", "answer": False,
         "facts": ["f"], "decomposition": ["x"]},
    ],
    ("cais/mmlu", "all"): [
        {"question": "Q0", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 1},
        {"question": "Q1", "subject": "anatomy", "choices": ["a", "b", "c", "d"], "answer": 0},
        {"question": "Q2", "subject": "virology", "choices": ["a", "None", "c", "d"], "answer": 3},
    ],
}


@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None, **kwargs):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(HUB_ROWS[(path, name)])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_gsm8k(fake_hub):
    examples = load_task("gsm8k", split="test")
    assert fake_hub == [("openai/gsm8k", "main", "test")]
    assert [(e.uid, e.question, e.answer) for e in examples] == [
        ("gsm8k-test-00000", "1+1?", "2"), ("gsm8k-test-00001", "Big?", "1000")]


def test_hub_strategyqa(fake_hub):
    examples = load_task("strategyqa", split="train")
    assert fake_hub == [("ChilleD/StrategyQA", None, "train")]
    assert [(e.uid, e.answer) for e in examples] == [
        ("strategyqa-q1", "yes"), ("strategyqa-q2", "no")]


def test_hub_mmlu(fake_hub):
    examples = load_task("mmlu", split="val")
    assert fake_hub == [("cais/mmlu", "all", "validation")]
    assert [(e.uid, e.answer, e.choices) for e in examples] == [
        ("mmlu-anatomy-validation-0000", "B", ("a", "b", "c", "d")),
        ("mmlu-anatomy-validation-0001", "A", ("a", "b", "c", "d")),
        ("mmlu-virology-validation-0000", "D", ("a", "None", "c", "d")),
    ]


def test_hub_unreachable(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'openai/gsm8k' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match=r"from the Hugging Face hub \(openai/gsm8k \(main\)\).*"
                                        r"ConnectionError.*config.data.path"):
        load_task("gsm8k")


def test_hub_bad_row(monkeypatch):
    rows = datasets.Dataset.from_list([{"question": "q", "answer": 5}])
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: rows)
    with pytest.raises(DataError, match=r"hub cais/mmlu \(all\) split 'test' subject 'all' row 0: "
                                        r"missing key"):
        load_task("mmlu")


# ------------------------------------------------------------------------------------------
# Splits


def _toy(n):
    return [Example(uid=f"toy-{i:03d}", task="gsm8k", question=f"q{i}", answer=str(i))
            for i in range(n)]


def test_split_deterministic_disjoint_covering():
    examples = _toy(101)
    a = split_examples(examples, (0.8, 0.1, 0.1), seed=3)
    assert a == split_examples(list(reversed(examples)), (0.8, 0.1, 0.1), seed=3)  # order-free
    assert a != split_examples(examples, (0.8, 0.1, 0.1), seed=4)
    assert [len(a[k]) for k in ("train", "dev", "test")] == [81, 10, 10]
    uids = [e.uid for part in a.values() for e in part]
    assert len(uids) == len(set(uids)) == 101


def test_split_counts_and_names():
    examples = _toy(20)
    parts = split_examples(examples, {"train": None, "dev": 5}, seed=0)
    assert list(parts) == ["train", "dev"] and [len(p) for p in parts.values()] == [15, 5]
    parts = split_examples(examples, (12, 8), seed=0)
    assert list(parts) == ["train", "dev"] and [len(p) for p in parts.values()] == [12, 8]
    with pytest.raises(DataError, match="sum to the 20 examples"):
        split_examples(examples, (12, 7), seed=0)
    with pytest.raises(DataError, match="sum to 1"):
        split_examples(examples, (0.5, 0.4), seed=0)
    with pytest.raises(DataError, match="share the id"):
        split_examples(examples + examples[:1], (0.5, 0.5))


def test_split_real_strategyqa():
    full = load_task("strategyqa", shared_data() / "strategyqa" / "strategyqa_train.json")
    parts = split_examples(full, (0.8, 0.1, 0.1), seed=0)
    assert [len(parts[k]) for k in ("train", "dev", "test")] == [1832, 229, 229]
    assert set().union(*map(set, parts.values())) == set(full)
    assert parts == split_examples(full, (0.8, 0.1, 0.1), seed=0)


# ------------------------------------------------------------------------------------------
# Registry, examples, prompts


def test_registry():
    assert TASK_NAMES == ("gsm8k", "strategyqa", "mmlu", "demo", "longbench", "longdoc", "ifeval_like", "wildchat",
                          "jsonl")
    assert get_task("mmlu") is TASKS["mmlu"]
    with pytest.raises(TypeError):
        TASKS["new"] = TASKS["mmlu"]  # read-only: new tasks are added in tasks.py


def test_example_hashable():
    example = Example(uid="u", task="mmlu", question="q", answer="A", choices=["a", "b"],
                      meta={"subject": "x"})
    assert example.choices == ("a", "b") and example.meta == (("subject", "x"),)
    assert hash(example) == hash(Example("u", "mmlu", "q", "A", ("a", "b"), (("subject", "x"),)))


def test_prompt_gsm8k():
    example = Example(uid="u", task="gsm8k", question="  How many? ", answer="3")
    assert format_prompt(example) == (
        "Your task is to answer the question below. Give step-by-step reasoning before you "
        "answer, and when you're ready to answer, please use the format `Final answer:...`.\n"
        "Question: How many?\n"
        "Solution: "
    )
    assert chat_messages(example) == [{"role": "user", "content": format_prompt(example)[:-1]}]
    with_system = chat_messages(example, system="Be brief.")
    assert with_system[0] == {"role": "system", "content": "Be brief."} and len(with_system) == 2


def test_prompt_mmlu_and_strategyqa():
    mmlu = Example(uid="u", task="mmlu", question="Pick one.", answer="B",
                   choices=("one", " two ", "None", "four"))
    assert format_prompt(mmlu) == (
        f"{REASONING_INSTRUCTION} Your final answer should be the letter (A, B, C or D) of the "
        "correct choice.\nQuestion: Pick one.\nA. one\nB. two\nC. None\nD. four\nSolution: "
    )
    sqa = Example(uid="u", task="strategyqa", question="Is it?", answer="yes")
    assert format_prompt(sqa) == (
        f"{REASONING_INSTRUCTION} Your final answer should be yes or no.\n"
        "Question: Is it?\nSolution: "
    )


def test_a_bool_is_refused_where_an_integer_is_required():
    """True is not the count 1: load_task's limit and split_examples' sizes refuse it, naming the field."""
    with pytest.raises(DataError, match=r"limit must be a non-negative integer or None, got True \(config.data.limit\)"):
        load_task("demo", split="test", seed=0, limit=True)
    examples = load_task("demo", split="test", seed=0)
    with pytest.raises(DataError, match=r"split sizes \[True, None\] must be numbers .* not \[True\]"):
        split_examples(examples, (True, None))
    with pytest.raises(DataError, match=r"split sizes \[True, False\]"):
        split_examples(examples, (True, False))  # was read as the fractions 1.0 and 0.0
