"""LongBench's metrics (laser_jax/data/metrics.py) against values worked out by hand here."""

import pytest

from laser_jax.data import metrics as M


def test_normalisation_drops_case_punctuation_and_articles():
    assert M.normalize_answer("The  Eiffel-Tower, an icon!") == "eiffeltower icon"
    assert M.qa_f1_score("THE Eiffel-Tower.", "eiffeltower") == 1.0


def test_qa_f1_partial_overlap_by_hand():
    # prediction tokens: paris france capital (3); gold: capital city of france (4); common: 2
    p, r = 2 / 3, 2 / 4
    assert M.qa_f1_score("Paris, France: the capital", "the capital city of France") == \
        pytest.approx(2 * p * r / (p + r))
    assert M.qa_f1_score("London", "Paris") == 0.0
    assert M.qa_f1_score("", "Paris") == 0.0


def test_max_over_several_gold_answers_and_first_line_rule():
    # triviaqa: only the first line counts, then the best of the gold answers
    assert M.score_answer("triviaqa", "\nMount Everest\nK2 is second", ["K2", "Everest"]) == \
        pytest.approx(2 * (1 / 2) * 1 / (1 / 2 + 1))  # "mount everest" vs "everest": P 1/2, R 1
    assert M.score_answer("hotpotqa", "b\nK2", ["K2", "Everest"]) == pytest.approx(2 * 0.5 * 1 / 1.5)  # no cut


def test_rouge_l_of_known_strings():
    # LCS of "alpha beta gamma delta" and "alpha gamma delta epsilon zeta": alpha gamma delta (3)
    p, r = 3 / 4, 3 / 5
    assert M.rouge_score("alpha beta gamma delta", "alpha gamma delta epsilon zeta") == \
        pytest.approx(2 * p * r / (p + r), abs=1e-6)
    assert M.rouge_score("one two", "one two") == pytest.approx(1.0, abs=1e-6)
    assert M.rouge_score("", "one two") == 0.0  # the library refuses an empty hypothesis


def test_classification_with_all_classes():
    classes = ["Location", "Entity", "Human being", "Human"]
    assert M.classification_score("It is a Location", "Location", classes) == 1.0
    assert M.classification_score("Location or Entity", "Location", classes) == 0.5  # two named
    # "Human" is a strict substring of the gold "Human being": not counted against it
    assert M.classification_score("Human being", "Human being", classes) == 1.0
    assert M.classification_score("no idea", "Location", classes) == 0.0
    assert M.score_answer("trec", "Entity\nLocation", ["Location"], classes) == 0.0  # first line only


def test_retrieval_count_and_code_similarity():
    assert M.retrieval_score("Paragraph 3 and 5", "Paragraph 3") == 0.5
    assert M.retrieval_score("none", "Paragraph 3") == 0.0
    assert M.count_score("I count 4, maybe 4 or 7", "4") == pytest.approx(2 / 3)
    assert M.code_sim_score("x = f(1)", "x = f(1)") == 1.0
    # indel distance of abcd / abce is 2 over 8 characters: ratio 1 - 2/8
    assert M.code_sim_score("```python\n# comment\nabcd\n", "abce") == pytest.approx(0.75)
    with pytest.raises(ValueError, match="no 'Paragraph N'"):
        M.retrieval_score("3", "3")


def test_every_english_dataset_scores_in_unit_interval():
    for dataset, name in M.DATASET_METRICS.items():
        gold = "Paragraph 2" if name == "retrieval_score" else "2"
        v = M.score_answer(dataset, "the answer is 2", [gold], ["2", "3"])
        assert 0.0 <= v <= 1.0, dataset


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown LongBench dataset 'nq'"):
        M.score_answer("nq", "x", ["x"])
    with pytest.raises(ValueError, match="Chinese.*jieba"):
        M.score_answer("dureader", "x", ["x"])
    with pytest.raises(ValueError, match="without gold answers"):
        M.score_answer("qasper", "x", [])
    with pytest.raises(ValueError, match="unknown metric 'bleu'"):
        M.metric_fn("bleu")
    assert M.metric_fn("qa_f1_score") is M.qa_f1_score
