"""LongBench's evaluation metrics (Bai et al. 2023, github.com/THUDM/LongBench: metrics.py and
eval.py), under LongBench's names and signatures, for the best-of-n long-context setting.

Every metric takes (prediction, ground_truth, **kwargs) and returns a float in [0, 1];
`score_answer` applies LongBench's per-dataset rule: for trec, triviaqa, samsum and lsht the
prediction is cut to its first line (after leading newlines), and the score is the max over the
gold answers. Libraries as LongBench uses them: Rouge-L from the `rouge` package; the fuzzy ratio
of code_sim_score from `rapidfuzz` (MIT; LongBench imports the GPL `fuzzywuzzy`, whose
`fuzz.ratio` is the same indel-distance ratio rounded to an integer percent: we keep the
unrounded value, so a code score may differ from LongBench's by < 0.005).

Differences from LongBench's code, both where its code does not do what it says:
- classification_score: LongBench drops a matched class that is a strict substring of the gold
  answer while iterating over the same list (so it can skip one); we drop every such class. Its
  `if em_match_list != 0` is always true, so its difflib fallback never runs: a prediction naming
  no class scores 0 there, and here.
- Chinese datasets (multifieldqa_zh, dureader, vcsum, lsht, passage_retrieval_zh) need jieba's
  word segmentation; they are listed but not supported yet (a clear error).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """SQuAD / LongBench normalisation: lower case, no punctuation, no articles, single spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _f1(prediction: Sequence[str], ground_truth: Sequence[str]) -> float:
    same = sum((Counter(prediction) & Counter(ground_truth)).values())
    if same == 0:
        return 0.0
    p, r = same / len(prediction), same / len(ground_truth)
    return 2 * p * r / (p + r)


def qa_f1_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Token F1 of the normalised prediction against the normalised gold answer."""
    return _f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def rouge_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Rouge-L F of the `rouge` package; 0.0 where it cannot score (e.g. an empty prediction)."""
    from rouge import Rouge

    try:
        return float(Rouge().get_scores([prediction], [ground_truth], avg=True)["rouge-l"]["f"])
    except (ValueError, RecursionError, ZeroDivisionError):
        return 0.0


def classification_score(prediction: str, ground_truth: str, all_classes: Sequence[str] = (), **kwargs) -> float:
    """1 / (number of classes named in the prediction) if the gold class is among them, else 0;
    classes that are strict substrings of the gold are not counted (module docstring)."""
    matches = [c for c in all_classes if c in prediction]
    matches = [c for c in matches if not (c in ground_truth and c != ground_truth)]
    return 1.0 / len(matches) if ground_truth in matches else 0.0


def _share_equal(prediction: str, target: str) -> float:
    numbers = re.findall(r"\d+", prediction)
    return sum(n == target for n in numbers) / len(numbers) if numbers else 0.0


def retrieval_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Share of the numbers in the prediction that equal the gold's paragraph number."""
    found = re.findall(r"Paragraph (\d+)", ground_truth)
    if not found:
        raise ValueError(f"retrieval_score: the gold answer {ground_truth!r} has no 'Paragraph N'")
    return _share_equal(prediction, found[0])


def count_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Share of the numbers in the prediction that equal the gold count."""
    return _share_equal(prediction, str(ground_truth))


def code_sim_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Fuzzy ratio / 100 of the prediction's first code line (no ```, # or //) and the gold line."""
    from rapidfuzz import fuzz

    line = ""
    for candidate in prediction.lstrip("\n").split("\n"):
        if "`" not in candidate and "#" not in candidate and "//" not in candidate:
            line = candidate
            break
    return float(fuzz.ratio(line, ground_truth)) / 100.0


METRICS = {f.__name__: f for f in (qa_f1_score, rouge_score, classification_score, retrieval_score,
                                   count_score, code_sim_score)}

DATASET_METRICS = {
    "narrativeqa": "qa_f1_score", "qasper": "qa_f1_score", "multifieldqa_en": "qa_f1_score",
    "hotpotqa": "qa_f1_score", "2wikimqa": "qa_f1_score", "musique": "qa_f1_score", "triviaqa": "qa_f1_score",
    "gov_report": "rouge_score", "qmsum": "rouge_score", "multi_news": "rouge_score", "samsum": "rouge_score",
    "trec": "classification_score", "passage_retrieval_en": "retrieval_score", "passage_count": "count_score",
    "lcc": "code_sim_score", "repobench-p": "code_sim_score",
}
CHINESE = ("multifieldqa_zh", "dureader", "vcsum", "lsht", "passage_retrieval_zh")
FIRST_LINE = ("trec", "triviaqa", "samsum", "lsht")


def metric_fn(name: str):
    """The metric function called `name` (e.g. "qa_f1_score")."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; metrics: {', '.join(METRICS)}")
    return METRICS[name]


def score_answer(dataset: str, prediction: str, answers: Sequence[str], all_classes=None) -> float:
    """LongBench's score of one prediction: the dataset's metric, max over the gold answers."""
    if dataset in CHINESE:
        raise ValueError(f"LongBench dataset {dataset!r} is Chinese: its metrics need jieba word "
                         "segmentation, not supported yet")
    if dataset not in DATASET_METRICS:
        raise ValueError(f"unknown LongBench dataset {dataset!r}; datasets: {', '.join(DATASET_METRICS)}")
    if not answers:
        raise ValueError(f"LongBench dataset {dataset!r}: an example without gold answers cannot be scored")
    if dataset in FIRST_LINE:
        prediction = prediction.lstrip("\n").split("\n")[0]
    fn = METRICS[DATASET_METRICS[dataset]]
    return max(fn(prediction, gt, all_classes=all_classes or ()) for gt in answers)
