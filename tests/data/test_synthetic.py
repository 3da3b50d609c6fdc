"""The generated demo tasks (laser_jax.data.synthetic) and the mixed task "demo" of the registry."""

import collections
import re

import pytest

from laser_jax.data import DataError, extract_answer, format_prompt, get_task, is_correct, load_task
from laser_jax.data import synthetic
from laser_jax.data.tasks import gold_answer, gold_format, row_task


@pytest.fixture(scope="module")
def splits():
    return synthetic.generate(seed=0)


def test_same_seed_same_examples_other_seed_others(splits):
    assert splits == synthetic.generate(seed=0)
    other = synthetic.generate(seed=1)
    assert [e.question for e in other["train"]] != [e.question for e in splits["train"]]
    assert load_task("demo", split="test", seed=0) == splits["test"]


def test_sizes_families_and_ids(splits):
    for split, per_family in (("train", 64), ("test", 32)):
        examples = splits[split]
        families = [e.meta_dict()["family"] for e in examples]
        assert collections.Counter(families) == {f: per_family for f in synthetic.FAMILIES}
        assert families[:6] == ["arithmetic", "yesno", "choice"] * 2  # interleaved
        for e in examples:
            family = e.meta_dict()["family"]
            assert e.task == synthetic.FAMILY_TASKS[family]
            assert re.fullmatch(rf"demo-{family}-{split}-\d{{3}}", e.uid)
        assert len({e.uid for e in examples}) == len(examples)
    assert splits["train"][0].uid == "demo-arithmetic-train-000"


def test_answers_balanced(splits):
    for split, per_family in (("train", 64), ("test", 32)):
        golds = collections.defaultdict(collections.Counter)
        for e in splits[split]:
            golds[e.meta_dict()["family"]][e.answer] += 1
        assert golds["yesno"] == {"yes": per_family // 2, "no": per_family // 2}
        assert golds["choice"] == {letter: per_family // 4 for letter in "ABCD"}
        kinds = collections.Counter(e.meta_dict()["kind"] for e in splits[split])
        assert kinds["compare"] > 0 and kinds["parity"] > 0 and kinds["member"] > 0
        assert kinds["category"] == kinds["arithmetic"] == per_family // 2
        assert sum(kinds[k] for k in ("add", "sub", "mul")) == per_family * 3 // 4  # 3 in 4 one-step


def _key(e):
    if e.meta_dict()["kind"] == "category":
        return e.question, frozenset(e.choices)
    return e.question


def test_no_question_repeats_within_or_across_splits(splits):
    train = [_key(e) for e in splits["train"]]
    test = [_key(e) for e in splits["test"]]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)


def test_golds_are_right_and_round_trip(splits):
    for e in splits["train"] + splits["test"]:
        assert gold_answer(e.task, e.answer) == e.answer  # canonical already
        assert gold_format(e.answer) == e.task and row_task("demo", e.answer) == e.task
        said = f"Some reasoning.\nFinal answer: {e.answer}"
        pred = extract_answer(e.task, said, e.choices)
        assert pred == e.answer and is_correct(e.task, pred, e.answer)
        assert is_correct("demo", pred, e.answer)  # the mixed task dispatches on the gold's form
        kind, family = e.meta_dict()["kind"], e.meta_dict()["family"]
        assert e.question.endswith(" " + synthetic.CUES[family])
        q = e.question[: -len(synthetic.CUES[family]) - 1]
        if e.task == "mmlu":
            assert len(e.choices) == 4 and len(set(e.choices)) == 4
            right = e.choices["ABCD".index(e.answer)]
            if kind == "arithmetic":
                a, op, b = re.fullmatch(r"What is (\d+) (.) (\d+)\?", q).groups()
                value = {"+": int(a) + int(b), "-": int(a) - int(b), "×": int(a) * int(b)}[op]
                assert right == str(value)
            else:
                category = re.fullmatch(r"Which of these is an? (.+)\?", q).group(1)
                members = [c for c in e.choices if c.lower() in synthetic.CATEGORIES[category]]
                assert members == [right]
        elif kind == "compare":
            a, rel, b = re.fullmatch(r"Is (\d+) (larger|smaller) than (\d+)\?", q).groups()
            assert ((int(a) > int(b)) == (rel == "larger")) == (e.answer == "yes")
        elif kind == "parity":
            n, parity = re.fullmatch(r"Is (\d+) an (even|odd) number\?", q).groups()
            assert ((int(n) % 2 == 0) == (parity == "even")) == (e.answer == "yes")
        elif kind == "member":
            item, category = re.fullmatch(r"Is (?:an? )?(\w+) an? (.+)\?", q).groups()
            assert (item in synthetic.CATEGORIES[category]) == (e.answer == "yes")
        else:
            assert int(e.answer) >= 0


ARITHMETIC = {  # kind -> (pattern of the question, its answer)
    "add": (r"\w+ has (\d+) \w+ and buys (\d+) more\.", lambda a, b: a + b),
    "sub": (r"\w+ has (\d+) \w+ and gives (\d+) of them", lambda a, b: a - b),
    "mul": (r"\w+ buys (\d+) \w+ of \w+\. Each \w+ holds (\d+)", lambda a, b: a * b),
    "add_sub": (r"\w+ has (\d+) \w+\. \w+ buys (\d+) more and then gives (\d+) away", lambda a, b, c: a + b - c),
    "mul_add": (r"\w+ has (\d+) \w+ with (\d+) \w+ in each \w+, and (\d+) more", lambda a, b, c: a * b + c),
}


def test_arithmetic_answers():
    arithmetic = [e for e in synthetic.generate(seed=3)["train"] if e.task == "gsm8k"]
    kinds = collections.Counter(e.meta_dict()["kind"] for e in arithmetic)
    assert kinds == {"add": 16, "sub": 16, "mul": 16, "add_sub": 8, "mul_add": 8}
    for e in arithmetic:
        pattern, answer = ARITHMETIC[e.meta_dict()["kind"]]
        numbers = map(int, re.match(pattern, e.question).groups())
        assert e.answer == str(answer(*numbers))
        assert 0 < int(e.answer) < 50


def test_load_task_demo():
    train = load_task("demo", split="train", seed=0)
    assert len(train) == 192 and len(load_task("demo", None, "test")) == 96
    few = load_task("demo", split="train", seed=0, limit=10)
    assert len(few) == 10 and set(few) <= set(train)
    assert few == load_task("demo", split="train", seed=0, limit=10)
    assert "Your final answer should be yes or no." in format_prompt(train[1])  # the example's own format
    with pytest.raises(DataError, match="generated from the seed and reads no files"):
        load_task("demo", "/some/file.jsonl", "train")
    with pytest.raises(DataError, match=r"demo tasks have splits \['train', 'test'\], not 'dev'"):
        load_task("demo", split="dev")


def test_demo_registry_entry():
    spec = get_task("demo")
    assert spec.formats == ("gsm8k", "strategyqa", "mmlu") and spec.generate is not None
    assert gold_answer("demo", True) == "yes" and gold_answer("demo", "b") == "B"
    assert gold_answer("demo", "#### 1,234") == "1234"
    assert extract_answer("demo", "Final answer: C", ("w", "x", "y", "z")) == "C"
    with pytest.raises(DataError, match="extract an example's answer with its own task"):
        extract_answer("demo", "Final answer: 7")
    assert is_correct("demo", "12", "12") and not is_correct("demo", "yes", "no")
    assert row_task("gsm8k", "yes") == "gsm8k"  # only mixed tasks look at the gold
    with pytest.raises(DataError, match="cannot tell the answer format"):
        gold_format("maybe")
    with pytest.raises(DataError, match="needs its own task"):
        row_task("demo", None)
