"""LongBench's metrics (laser_jax/data/metrics.py) against values worked out by hand here."""

import pytest

from laser_jax.data import metrics as M


def f1(p, r):
    return 2 * p * r / (p + r)


# -- normalisation and QA F1 -----------------------------------------------------------------

def test_normalize_answer_case_punctuation_articles_whitespace():
    assert M.normalize_answer("The  Eiffel-Tower, an icon!") == "eiffeltower icon"
    assert M.normalize_answer("A cat AND the Dog.") == "cat and dog"
    assert M.normalize_answer("theater then anthem") == "theater then anthem"  # whole words only
    # LongBench's order: punctuation goes before the articles, so "A-team" is one word
    assert M.normalize_answer("A-team") == "ateam"
    assert M.normalize_answer("  \t\n") == ""


def test_qa_f1_exact_after_normalisation():
    assert M.qa_f1_score("THE Eiffel-Tower.", "eiffeltower") == 1.0
    assert M.qa_f1_score("an Apple", "apple!") == 1.0


def test_qa_f1_partial_overlap_by_hand():
    # prediction tokens: paris france capital (3); gold: capital city of france (4); common: 2
    assert M.qa_f1_score("Paris, France: the capital", "the capital city of France") == \
        pytest.approx(f1(2 / 3, 2 / 4))
    # repeated tokens count as a multiset: "go go go" vs "go" has 1 common token, P 1/3, R 1
    assert M.qa_f1_score("go go go", "go") == pytest.approx(f1(1 / 3, 1))
    assert M.qa_f1_score("London", "Paris") == 0.0
    assert M.qa_f1_score("", "Paris") == 0.0
    assert M.qa_f1_score("the", "the") == 0.0  # nothing left after normalisation


def test_max_over_several_gold_answers():
    # "mount everest" against: k2 -> 0; everest -> P 1/2 R 1; mount everest nepal -> P 1 R 2/3
    answers = ["K2", "Everest", "Mount Everest, Nepal"]
    assert M.score_answer("hotpotqa", "Mount Everest", answers) == pytest.approx(f1(1, 2 / 3))
    assert M.score_answer("hotpotqa", "Mount Everest", answers[:2]) == pytest.approx(f1(1 / 2, 1))
    assert M.score_answer("hotpotqa", "Lhotse", answers) == 0.0


def test_first_line_rule_for_trec_triviaqa_samsum_only():
    text = "\n\nMount Everest\nK2"
    assert M.score_answer("triviaqa", text, ["K2"]) == 0.0  # only "Mount Everest" is scored
    assert M.score_answer("triviaqa", text, ["Mount Everest"]) == 1.0
    # hotpotqa keeps every line: mount everest k2 vs k2 -> P 1/3, R 1
    assert M.score_answer("hotpotqa", text, ["K2"]) == pytest.approx(f1(1 / 3, 1))
    # samsum: only "Ann calls Bob." -> Rouge-L 1 (the 1e-8 in the library's F aside)
    summary = "\nAnn calls Bob.\nBob is out."
    assert M.score_answer("samsum", summary, ["Ann calls Bob"]) == pytest.approx(1.0, abs=1e-6)
    # gov_report scores both sentences: distinct words Ann calls Bob is out (5) vs 3, LCS 3
    assert M.score_answer("gov_report", summary, ["Ann calls Bob"]) == \
        pytest.approx(f1(3 / 5, 1), abs=1e-6)
    classes = ["Location", "Entity"]
    assert M.score_answer("trec", "Entity\nLocation", ["Location"], classes) == 0.0
    assert M.score_answer("trec", "\nLocation\nEntity", ["Location"], classes) == 1.0


# -- Rouge-L (the `rouge` package: split on spaces, case kept, distinct words) ----------------

def test_rouge_l_all_distinct_words_by_hand():
    # LCS of "alpha beta gamma delta" and "alpha gamma delta epsilon zeta": alpha gamma delta (3)
    assert M.rouge_score("alpha beta gamma delta", "alpha gamma delta epsilon zeta") == \
        pytest.approx(f1(3 / 4, 3 / 5), abs=1e-6)
    assert M.rouge_score("one two", "one two") == pytest.approx(1.0, abs=1e-6)
    assert M.rouge_score("one two", "three four") == 0.0


def test_rouge_l_counts_distinct_words_and_keeps_case():
    # LCS "the cat on the mat" holds 4 distinct words; each side has 5 distinct words: P = R = 4/5
    assert M.rouge_score("the cat sat on the mat", "the cat is on the mat") == \
        pytest.approx(4 / 5, abs=1e-6)
    # case is kept: only "beta" is common, P = R = 1/2
    assert M.rouge_score("Alpha beta", "alpha beta") == pytest.approx(1 / 2, abs=1e-6)


def test_rouge_l_zero_where_the_library_refuses():
    assert M.rouge_score("", "one two") == 0.0  # "Hypothesis is empty."
    assert M.rouge_score("...", "one two") == 0.0  # only sentence separators
    assert M.rouge_score("one two", "") == 0.0


# -- classification --------------------------------------------------------------------------

def test_classification_with_all_classes():
    classes = ["Location", "Entity", "Human being", "Human", "Abbreviation"]
    assert M.classification_score("It is a Location", "Location", classes) == 1.0
    assert M.classification_score("Location or Entity", "Location", classes) == 0.5  # two named
    assert M.classification_score("Entity", "Location", classes) == 0.0  # the wrong class
    assert M.classification_score("no idea", "Location", classes) == 0.0  # no class named
    # "Human" is a strict substring of the gold "Human being": dropped, not counted against it
    assert M.classification_score("Human being", "Human being", classes) == 1.0
    # ... but when the gold is "Human", "Human being" is no substring of it and counts: 1/2
    assert M.classification_score("Human being", "Human", classes) == 0.5


def test_classification_drops_every_strict_substring_of_the_gold():
    # "Human" and "man" are both strict substrings of the gold; LongBench's loop (remove while
    # iterating) would skip "man" and give 1/2; every such class is dropped here: 1/1
    classes = ["Human being", "Human", "man"]
    assert M.classification_score("Human being", "Human being", classes) == 1.0


def test_classification_needs_the_class_list():
    with pytest.raises(ValueError, match="needs all_classes"):
        M.classification_score("Location", "Location", None)
    with pytest.raises(ValueError, match="needs all_classes"):
        M.score_answer("trec", "Location", ["Location"], [])


# -- retrieval, count, code ------------------------------------------------------------------

def test_retrieval_score():
    assert M.retrieval_score("3 and 5", "Paragraph 3") == 0.5
    assert M.retrieval_score("The answer is Paragraph 3", "Paragraph 3") == 1.0
    assert M.retrieval_score("Paragraph 13", "Paragraph 3") == 0.0  # whole numbers, not digits
    assert M.retrieval_score("none of them", "Paragraph 3") == 0.0
    assert M.score_answer("passage_retrieval_en", "Paragraph 3, Paragraph 5 or 3",
                          ["Paragraph 3"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="'Paragraph N'"):
        M.retrieval_score("3", "3")


def test_count_score():
    assert M.count_score("I count 4, maybe 4 or 7", "4") == pytest.approx(2 / 3)
    assert M.count_score("14 passages", "4") == 0.0
    assert M.count_score("four", "4") == 0.0
    assert M.count_score("4", 4) == 1.0  # an integer gold is compared as written


def test_code_sim_score():
    assert M.code_sim_score("x = f(1)", "x = f(1)") == 1.0
    # indel distance of abcd / abce is 2 (delete d, insert e) over 8 characters: 1 - 2/8
    assert M.code_sim_score("abcd", "abce") == pytest.approx(0.75)
    # kitten / sitting: LCS "ittn" (4), indel distance 6 + 7 - 2*4 = 5 over 13: 1 - 5/13
    assert M.code_sim_score("kitten", "sitting") == pytest.approx(8 / 13)
    assert M.code_sim_score("abc", "xyz") == 0.0


def test_code_sim_first_code_line():
    # fences, '#' and '//' lines are skipped; the first remaining line is scored
    text = "\n\n```python\n# comment\n// note\nabcd\nabce\n```"
    assert M.code_sim_score(text, "abce") == pytest.approx(0.75)
    assert M.score_answer("lcc", text, ["abce"]) == pytest.approx(0.75)
    assert M.score_answer("repobench-p", text, ["zzz", "abcd"]) == 1.0
    assert M.code_sim_score("# only a comment", "x = 1") == 0.0  # "" against the gold


# -- dataset map, metric names, errors -------------------------------------------------------

def test_dataset_map_is_longbenchs_english_map():
    qa, rouge = "qa_f1_score", "rouge_score"
    assert M.DATASET_METRICS == {
        "narrativeqa": qa, "qasper": qa, "multifieldqa_en": qa, "hotpotqa": qa, "2wikimqa": qa,
        "musique": qa, "triviaqa": qa, "gov_report": rouge, "qmsum": rouge, "multi_news": rouge,
        "samsum": rouge, "trec": "classification_score", "passage_retrieval_en": "retrieval_score",
        "passage_count": "count_score", "lcc": "code_sim_score", "repobench-p": "code_sim_score"}
    assert set(M.CHINESE) == {"multifieldqa_zh", "dureader", "vcsum", "lsht",
                              "passage_retrieval_zh"}
    assert M.metric_fn("qa_f1_score") is M.qa_f1_score
    assert M.metric_fn("code_sim_score") is M.code_sim_score


def test_every_english_dataset_scores_in_unit_interval():
    for dataset, name in M.DATASET_METRICS.items():
        golds = ["Paragraph 2", "Paragraph 3"] if name == "retrieval_score" else ["2", "3"]
        for text in ("the answer is 2", "", "2", "\n# x\n2 2 3"):
            v = M.score_answer(dataset, text, golds, ["2", "3"])
            assert isinstance(v, float) and 0.0 <= v <= 1.0, (dataset, text, v)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"unknown LongBench dataset 'nq'; datasets: .*hotpotqa"):
        M.score_answer("nq", "x", ["x"])
    for dataset in ("multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh"):
        with pytest.raises(ValueError, match=rf"'{dataset}' is Chinese: not supported.*jieba"):
            M.score_answer(dataset, "x", ["x"])
    with pytest.raises(ValueError, match="'qasper': the gold answers must be a non-empty list"):
        M.score_answer("qasper", "x", [])
    with pytest.raises(ValueError, match="non-empty list of strings"):
        M.score_answer("qasper", "x", "x")
    with pytest.raises(ValueError, match=r"unknown metric 'bleu'; metrics: .*rouge_score"):
        M.metric_fn("bleu")
    with pytest.raises(ValueError, match="'rouge_zh_score' is a Chinese metric.*jieba"):
        M.metric_fn("rouge_zh_score")
