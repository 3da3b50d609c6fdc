"""LongBench's evaluation metrics, under LongBench's names and signatures, for best-of-n scoring.

Source: LongBench (Bai et al. 2023, "LongBench: A Bilingual, Multitask Benchmark for Long Context
Understanding", github.com/THUDM/LongBench), files ``metrics.py`` (the metrics) and
``LongBench/eval.py`` (the dataset -> metric map and the per-example scorer). This is an
independent implementation of the same observable behaviour, not a copy of that code.

Every metric is called as ``metric(prediction, ground_truth, **kwargs)`` (one gold answer) and
returns a float in [0, 1]; `score_answer` is LongBench's scorer for one example: for trec,
triviaqa, samsum and lsht the prediction is first cut to its first line (after leading newlines),
then the dataset's metric is taken against every gold answer and the best is kept.

Libraries, as LongBench uses them:
- Rouge-L is the ``rouge`` package's (PyPI ``rouge``): words are split on single spaces after the
  text is cut into sentences at '.', case is kept, and precision and recall count *distinct* words
  (the package's default ``exclusive=True``), e.g. "the cat sat on the mat" against "the cat is on
  the mat" scores 4/5, not 5/6. Its F has 1e-8 added to the denominator, so identical texts score
  0.999999995, not 1.
- The fuzzy ratio of code_sim_score is ``rapidfuzz.fuzz.ratio`` (MIT) where LongBench imports the
  GPL ``fuzzywuzzy``: both are 100 * (1 - indel distance / (len1 + len2)) (fuzzywuzzy with
  python-Levenshtein installed; without it, difflib's ratio, which can differ slightly), and both
  give 100 for two empty strings and 0 for one; fuzzywuzzy rounds to an integer percent, rapidfuzz
  does not, so a code score here can differ from LongBench's by up to 0.005.

Where LongBench's code does not do what it evidently means (classification_score):
- It drops matched classes that are strict substrings of the gold answer with ``list.remove``
  while iterating over that same list, so a class right after a dropped one escapes the filter;
  here every such class is dropped.
- Its ``if em_match_list != 0`` compares a list with 0, which is always true, so its difflib
  "closest class" fallback never runs: a prediction naming no class scores 0.0. That published
  behaviour is kept (there is no fallback here).

Chinese datasets (multifieldqa_zh, dureader, vcsum, lsht, passage_retrieval_zh) are not supported:
their metrics qa_f1_zh_score and rouge_zh_score need jieba's word segmentation, and the Chinese
datasets are left out together; `score_answer` raises a ValueError that says so.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

from laser_jax.errors import DataError

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"\d+")
_PARAGRAPH = re.compile(r"Paragraph (\d+)")


def normalize_answer(s: str) -> str:
    """SQuAD-style answer normalisation as LongBench applies it, in its order: lower case, drop
    ASCII punctuation, replace the articles a/an/the by spaces, collapse whitespace to single
    spaces. (Punctuation goes before articles: "A-team" becomes "ateam", not "team".)"""
    text = "".join(ch for ch in s.lower() if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _token_f1(prediction: Sequence[str], ground_truth: Sequence[str]) -> float:
    """F1 of two token lists, the overlap counted as a multiset (Counter) intersection."""
    common = sum((Counter(prediction) & Counter(ground_truth)).values())
    if common == 0:
        return 0.0
    precision = common / len(prediction)
    recall = common / len(ground_truth)
    return 2.0 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's QA metric (narrativeqa, qasper, multifieldqa_en, hotpotqa, 2wikimqa, musique,
    triviaqa): token F1 between the normalised prediction and gold answer (`normalize_answer`,
    split on whitespace), repeated tokens counted as often as both sides have them."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def rouge_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's summarisation metric (gov_report, qmsum, multi_news, samsum): the Rouge-L F of
    the ``rouge`` package (summary-level LCS, details in the module docstring). 0.0 where that
    library raises, as in LongBench: an empty (or only '.') prediction or reference, or a
    RecursionError from its recursive LCS on a very long sentence."""
    from rouge import Rouge

    try:
        scores = Rouge().get_scores([prediction], [ground_truth], avg=True)
    except Exception:  # the library's own failures (ValueError, RecursionError, ...): score 0
        return 0.0
    return float(scores["rouge-l"]["f"])


def classification_score(prediction: str, ground_truth: str, all_classes: Sequence[str] | None,
                         **kwargs) -> float:
    """LongBench's classification metric (trec): the classes of ``all_classes`` that occur as
    substrings of the prediction count as its answers, except a class that is a strict substring
    of the gold class (e.g. "Human" when the gold is "Human being"); the score is 1 / (number of
    such classes) when the gold class is among them, else 0.0 (also when none occurs). The two
    differences from LongBench's code are in the module docstring."""
    named = [c for c in _class_list(all_classes) if c in prediction]
    named = [c for c in named if c == ground_truth or c not in ground_truth]
    return 1.0 / len(named) if ground_truth in named else 0.0


def _class_list(all_classes: Sequence[str] | None) -> Sequence[str]:
    """The classes classification_score picks from; DataError for none (a trec row's all_classes)."""
    if all_classes is None or isinstance(all_classes, str) or len(all_classes) == 0:
        raise DataError(f"classification_score needs all_classes, the dataset's list of class names (a trec "
                        f"row's all_classes field); got {all_classes!r}")
    return all_classes


def _paragraph(ground_truth: str) -> str:
    """N of a passage_retrieval_en gold answer "Paragraph N"; DataError for another form."""
    found = _PARAGRAPH.findall(ground_truth)
    if not found:
        raise DataError(f"retrieval_score: the gold answer must have the form 'Paragraph N' (e.g. 'Paragraph 3'), "
                        f"got {ground_truth!r}")
    return found[0]


def _share_of_numbers_equal(prediction: str, target: str) -> float:
    """Share of the digit runs in the prediction equal to ``target`` (0.0 if it has none)."""
    numbers = _NUMBER.findall(prediction)
    if not numbers:
        return 0.0
    return sum(n == target for n in numbers) / len(numbers)


def retrieval_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's passage_retrieval_en metric: the gold answer is "Paragraph N"; the score is
    the share of the numbers (digit runs) in the prediction that equal N, 0.0 if it has none."""
    return _share_of_numbers_equal(prediction, _paragraph(ground_truth))


def count_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's passage_count metric: the share of the numbers (digit runs) in the prediction
    that equal the gold count as written (compared as strings), 0.0 if it has none."""
    return _share_of_numbers_equal(prediction, str(ground_truth))


def code_sim_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """LongBench's code completion metric (lcc, repobench-p): the prediction's first line (after
    leading newlines) containing no '`', '#' or '//' (so not a code fence or a comment; "" if
    there is none) against the gold next line: ``rapidfuzz.fuzz.ratio`` / 100, i.e.
    1 - indel distance / (total length). LongBench's fuzzywuzzy rounds the percent to an integer,
    rapidfuzz does not (module docstring)."""
    from rapidfuzz import fuzz

    line = next((ln for ln in prediction.lstrip("\n").split("\n")
                 if "`" not in ln and "#" not in ln and "//" not in ln), "")
    return float(fuzz.ratio(line, ground_truth)) / 100.0


METRICS: dict[str, Callable[..., float]] = {
    f.__name__: f for f in (qa_f1_score, rouge_score, classification_score, retrieval_score,
                            count_score, code_sim_score)}

# LongBench/eval.py's dataset2metric, English datasets, by metric name.
DATASET_METRICS: dict[str, str] = {
    "narrativeqa": "qa_f1_score",
    "qasper": "qa_f1_score",
    "multifieldqa_en": "qa_f1_score",
    "hotpotqa": "qa_f1_score",
    "2wikimqa": "qa_f1_score",
    "musique": "qa_f1_score",
    "triviaqa": "qa_f1_score",
    "gov_report": "rouge_score",
    "qmsum": "rouge_score",
    "multi_news": "rouge_score",
    "samsum": "rouge_score",
    "trec": "classification_score",
    "passage_retrieval_en": "retrieval_score",
    "passage_count": "count_score",
    "lcc": "code_sim_score",
    "repobench-p": "code_sim_score",
}

# The Chinese datasets and LongBench's metric for each: not supported here (module docstring).
CHINESE: dict[str, str] = {
    "multifieldqa_zh": "qa_f1_zh_score",
    "dureader": "rouge_zh_score",
    "vcsum": "rouge_zh_score",
    "lsht": "classification_score",
    "passage_retrieval_zh": "retrieval_zh_score",
}
_CHINESE_METRICS = ("qa_f1_zh_score", "rouge_zh_score", "retrieval_zh_score")

# Datasets whose prediction is cut to its first line before scoring (LongBench/eval.py).
FIRST_LINE = ("trec", "triviaqa", "samsum", "lsht")

_NEEDS_JIEBA = "LongBench's Chinese metrics (qa_f1_zh_score, rouge_zh_score) need jieba word " \
               "segmentation"


def metric_fn(name: str) -> Callable[..., float]:
    """The metric function called ``name`` (e.g. "qa_f1_score"). No config field names a metric: an
    unknown name is a library caller's error (ValueError)."""
    if name in _CHINESE_METRICS:
        raise ValueError(f"metric {name!r} is a Chinese metric: not supported ({_NEEDS_JIEBA})")
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; metrics: {', '.join(METRICS)}")
    return METRICS[name]


def check_gold(dataset: str, answers: Sequence[str], all_classes: Sequence[str] | None) -> None:
    """DataError when ``dataset``'s metric cannot score against these gold answers (trec without
    all_classes, a passage_retrieval_en answer not "Paragraph N"): rows are checked when read."""
    metric = DATASET_METRICS.get(dataset)
    if metric == "classification_score":
        _class_list(all_classes)
    elif metric == "retrieval_score":
        for gold in answers:
            _paragraph(gold)


def score_answer(dataset: str, prediction: str, answers: Sequence[str],
                 all_classes: Sequence[str] | None = None) -> float:
    """LongBench's score of one prediction for one example of ``dataset`` (LongBench/eval.py's
    scorer): the first-line cut for trec, triviaqa, samsum and lsht, then the dataset's metric,
    the maximum over the gold ``answers``. ``all_classes`` is used by trec only. ValueError for
    an unknown or Chinese dataset and for an example without gold answers (a row read by
    `laser_jax.data.longbench` is checked when read, so these mean a caller's bug); DataError for
    gold answers the dataset's metric cannot read (`check_gold`)."""
    if dataset in CHINESE:
        raise ValueError(f"LongBench dataset {dataset!r} is Chinese: not supported (LongBench "
                         f"scores it with {CHINESE[dataset]}; {_NEEDS_JIEBA})")
    if dataset not in DATASET_METRICS:
        raise ValueError(f"unknown LongBench dataset {dataset!r}; datasets: "
                         f"{', '.join(DATASET_METRICS)} (Chinese, not supported: "
                         f"{', '.join(CHINESE)})")
    if isinstance(answers, str) or not answers:
        raise ValueError(f"LongBench dataset {dataset!r}: the gold answers must be a non-empty "
                         f"list of strings (a labelled example has answers), got {answers!r}")
    if dataset in FIRST_LINE:
        prediction = prediction.lstrip("\n").split("\n")[0]
    metric = METRICS[DATASET_METRICS[dataset]]
    return max(metric(prediction, gold, all_classes=all_classes) for gold in answers)
