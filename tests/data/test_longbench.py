"""LongBench rows -> examples (templates, families, answers), split choice, errors, LongBench's
middle truncation of an over-long prompt, and graded scores (laser_jax/data/longbench.py)."""

import json

import numpy as np
import pytest

from laser_jax.models import tiny
from laser_jax.batch import PromptBatch
from laser_jax.data import longbench
from laser_jax.data.tasks import DataError, load_task, score_response


def _row(dataset, i, context="C", inp="Q?", answers=("Paris",), classes=None):
    return {"input": inp, "context": context, "answers": list(answers), "length": 10, "dataset": dataset,
            "language": "en", "all_classes": classes, "_id": f"id{i}"}


@pytest.fixture()
def folder(tmp_path):
    for name, rows in {"hotpotqa": [_row("hotpotqa", i, f"passage {i}", f"who {i}?") for i in range(3)],
                       "trec": [_row("trec", i, "examples", f"What is {i}?", ["Location"],
                                     ["Location", "Entity"]) for i in range(2)]}.items():
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "notes.txt").write_text("not data")
    return tmp_path


def test_rows_become_templated_examples(folder):
    exs = load_task("longbench", folder, "test")
    assert len(exs) == 5 and {e.meta_dict()["family"] for e in exs} == {"hotpotqa", "trec"}
    hot = next(e for e in exs if e.uid == "longbench/hotpotqa/id1")
    assert hot.question == ("Answer the question based on the given passages. Only give me the answer and do not "
                            "output any other words.\n\nThe following are given passages.\npassage 1\n\nAnswer "
                            "the question based on the given passages. Only give me the answer and do not output "
                            "any other words.\n\nQuestion: who 1?\nAnswer:")
    assert hot.answer == "Paris" and hot.meta_dict()["answers"] == ("Paris",)
    only = load_task("longbench", folder, "trec")
    assert [e.meta_dict()["dataset"] for e in only] == ["trec", "trec"]
    assert load_task("longbench", folder / "trec.jsonl", "test")[0].meta_dict()["all_classes"] == ("Location", "Entity")


def test_scores_are_longbench_metrics_max_over_answers(folder):
    ex = longbench.example_from_row(_row("hotpotqa", 0, answers=("the Eiffel Tower", "Paris")), "here")
    assert score_response(ex, "Paris.") == 1.0
    # "eiffel tower" vs gold "eiffel tower" (articles dropped) -> 1; vs "tower": P 1/2, R 1
    assert score_response(ex, "Tower") == pytest.approx(2 * 1 * 0.5 / 1.5)
    trec = load_task("longbench", folder, "trec")[0]
    assert score_response(trec, "Location\nEntity") == 1.0  # first line only


def test_bad_rows_and_splits_name_the_problem(tmp_path):
    bad = tmp_path / "hotpotqa.jsonl"
    bad.write_text(json.dumps({"input": "q", "context": "c", "dataset": "hotpotqa", "_id": "1"}) + "\n")
    with pytest.raises(DataError, match=r"hotpotqa.jsonl line 1: missing LongBench field\(s\) \['answers'\]"):
        load_task("longbench", bad, "test")
    bad.write_text(json.dumps(_row("dureader", 0)) + "\n")
    with pytest.raises(DataError, match="'dureader' is not supported .*jieba"):
        load_task("longbench", bad, "test")
    bad.write_text("{not json\n")
    with pytest.raises(DataError, match="line 1: not JSON"):
        load_task("longbench", bad, "test")
    with pytest.raises(DataError, match="unknown dataset.*'nq'"):
        load_task("longbench", tmp_path, "nq")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no LongBench <dataset>.jsonl files"):
        load_task("longbench", tmp_path / "empty", "test")


def test_middle_truncation_keeps_both_ends():
    tok = tiny.tokenizer((), chat=True)
    text = "HEAD " + "filler " * 200 + "TAIL?"
    cut = longbench.middle_truncate(tok, text, 40)
    assert cut.startswith("HEAD ") and cut.endswith("TAIL?") and len(tok(cut, add_special_tokens=False)
                                                                      ["input_ids"]) <= 40
    assert longbench.middle_truncate(tok, "short", 40) == "short"
    ex = longbench.example_from_row(_row("hotpotqa", 0, context="word " * 300, inp="WHO?"), "here")
    batch = PromptBatch.encode(tok, [ex], max_tokens=160, pad_id=0)
    assert int(np.asarray(batch.mask).sum()) <= 160
    assert batch.texts[0].startswith("Answer the question") and batch.texts[0].endswith("Question: WHO?\nAnswer:")


def test_generated_long_documents_hide_the_asked_fact_among_distractors():
    from laser_jax.data import longdoc

    a, b = longdoc.generate("test", seed=3), longdoc.generate("test", seed=3)
    assert a == b and len(a) == longdoc.SIZES["test"]
    assert [e.meta_dict()["family"] for e in a[:3]] == ["code", "city", "colour"]
    for ex in a[:9]:
        doc = ex.question.split("Now, answer")[0]
        assert f" {ex.answer}" in doc and len(doc.split()) > longdoc.WORDS
        assert ex.task == "longbench" and score_response(ex, ex.answer) == 1.0
        assert score_response(ex, "nothing") == 0.0
    code = a[0]
    assert sum(" vault is " in s for s in code.question.split(".")) == 3  # the fact and 2 distractors
    assert load_task("longdoc", None, "train")[0].uid == "longdoc/train/0"
    with pytest.raises(DataError, match="reads no files"):
        load_task("longdoc", ".", "test")


def test_longbench_batches_sample_longbench_lengths():
    import types

    from laser_jax.best_of_n.collect import generation_length
    from laser_jax.data import longdoc

    rt = types.SimpleNamespace(sample_cfg=types.SimpleNamespace(max_new_tokens=48))
    hot = longbench.example_from_row(_row("hotpotqa", 0), "here")
    gov = longbench.example_from_row(_row("gov_report", 1), "here")
    assert generation_length(rt, [hot]) == 32 and generation_length(rt, [hot, gov]) == 512
    assert generation_length(rt, longdoc.generate("test")[:2]) == 48  # generated: the config's


@pytest.mark.parametrize("dataset, answers, classes, words", [
    ("trec", ["Location"], None, "needs all_classes"),
    ("passage_retrieval_en", ["the third one"], None, "'Paragraph N'"),
])
def test_a_row_its_metric_cannot_score_is_refused_when_read(tmp_path, dataset, answers, classes, words):
    """A trec row without all_classes, a passage_retrieval_en answer not "Paragraph N": a DataError
    naming the file and line when the data is read, not a failure when the first response is scored."""
    bad = tmp_path / f"{dataset}.jsonl"
    bad.write_text(json.dumps(_row(dataset, 0, answers=answers, classes=classes)) + "\n")
    with pytest.raises(DataError, match=rf"{dataset}.jsonl line 1: .*{words}"):
        load_task("longbench", bad, "test")
