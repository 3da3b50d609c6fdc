"""LongBench (Bai et al. 2023; github.com/THUDM/LongBench, MIT licence): long-context tasks with
their prompt templates, generation lengths and metrics, for the best-of-n setting.

Rows (the hub's data/<dataset>.jsonl, or local JSONL with the same fields): input, context,
answers (list), length, dataset, language, all_classes, _id. An example's question is the
dataset's template filled with context and input (``TEMPLATES``, LongBench's
config/dataset2prompt.json for the English datasets, reproduced as data), its family is the
dataset, its gold the first answer (all of them in meta["answers"]); its score is LongBench's
metric, max over the answers (`laser_jax.data.metrics.score_answer`). Over-long prompts are cut in
the middle, as LongBench's pred.py does (`batch.PromptBatch.encode`, meta["truncate"]).

Local data: ``data.path`` = one <dataset>.jsonl file, or a folder of them (every English dataset
file found there; ``split`` "test" or "+"-joined dataset names to choose). Hub: the repository's
data.zip is downloaded once (no dataset script is executed) and ``split`` names the datasets
("hotpotqa+2wikimqa"), since LongBench has a single test split per dataset.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from laser_jax.data import metrics
from laser_jax.data.example import DataError, Example

HUB_REPO = "THUDM/LongBench"

# LongBench's config/dataset2prompt.json (English datasets), as data.
TEMPLATES = {
    "narrativeqa": "You are given a story, which can be either a novel or a movie script, and a question. Answer the "
                   "question asconcisely as you can, using a single phrase if possible. Do not provide any explanation."
                   "\n\nStory: {context}\n\nNow, answer the question based on the story asconcisely as you can, "
                   "using a single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\n"
                   "Answer:",
    "qasper": "You are given a scientific article and a question. Answer the question as concisely as you can, using a "
              "single phrase or sentence if possible. If the question cannot be answered based on the information in "
              "the article, write \"unanswerable\". If the question is a yes/no question, answer \"yes\", \"no\", or "
              "\"unanswerable\". Do not provide any explanation.\n\nArticle: {context}\n\n Answer the question based "
              "on the above article as concisely as you can, using a single phrase or sentence if possible. If the "
              "question cannot be answered based on the information in the article, write \"unanswerable\". If the "
              "question is a yes/no question, answer \"yes\", \"no\", or \"unanswerable\". Do not provide any "
              "explanation.\n\nQuestion: {input}\n\nAnswer:",
    "multifieldqa_en": "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question "
                       "based on the above text, only give me the answer and do not output any other words.\n\n"
                       "Question: {input}\nAnswer:",
    "hotpotqa": "Answer the question based on the given passages. Only give me the answer and do not output any other "
                "words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given "
                "passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
    "gov_report": "You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n"
                  "{context}\n\nNow, write a one-page summary of the report.\n\nSummary:",
    "qmsum": "You are given a meeting transcript and a query containing a question or instruction. Answer the query in "
             "one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting "
             "transcript in one or more sentences.\n\nQuery: {input}\nAnswer:",
    "multi_news": "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\n"
                  "Now, write a one-page summary of all the news.\n\nSummary:",
    "trec": "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n"
            "{input}",
    "triviaqa": "Answer the question based on the given passage. Only give me the answer and do not output any other "
                "words. The following are some examples.\n\n{context}\n\n{input}",
    "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n"
              "{input}",
    "passage_count": "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please "
                     "carefully read these paragraphs and determine how many unique paragraphs there are after "
                     "removing duplicates. In other words, how many non-repeating paragraphs are there in total?\n\n"
                     "{context}\n\nPlease enter the final count of unique paragraphs after removing duplicates. The "
                     "output format should only contain the number, such as 1, 2, 3, and so on.\n\nThe final answer "
                     "is: ",
    "passage_retrieval_en": "Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which "
                            "paragraph the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}"
                            "\n\nPlease enter the number of the paragraph that the abstract is from. The answer format "
                            "must be like \"Paragraph 1\", \"Paragraph 2\", etc.\n\nThe answer is: ",
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
}
TEMPLATES["2wikimqa"] = TEMPLATES["musique"] = TEMPLATES["hotpotqa"]

# LongBench's config/dataset2maxlen.json: new tokens per dataset.
MAX_NEW_TOKENS = {"narrativeqa": 128, "qasper": 128, "multifieldqa_en": 64, "hotpotqa": 32, "2wikimqa": 32,
                  "musique": 32, "gov_report": 512, "qmsum": 512, "multi_news": 512, "trec": 64, "triviaqa": 32,
                  "samsum": 128, "passage_count": 32, "passage_retrieval_en": 32, "lcc": 64, "repobench-p": 64}

FIELDS = ("input", "context", "answers", "dataset", "_id")


def example_from_row(row: dict, where: str) -> Example:
    """One LongBench row as an Example (module docstring); DataError naming the row's problem."""
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise DataError(f"{where}: missing LongBench field(s) {missing}; a row needs {list(FIELDS)}")
    dataset = row["dataset"]
    if dataset not in TEMPLATES:
        hint = " (Chinese datasets need jieba, not supported yet)" if dataset in metrics.CHINESE else ""
        raise DataError(f"{where}: LongBench dataset {dataset!r} is not supported{hint}; datasets: "
                        f"{', '.join(sorted(TEMPLATES))}")
    answers = row["answers"]
    if not isinstance(answers, list) or not answers or not all(isinstance(a, str) for a in answers):
        raise DataError(f"{where}: answers must be a non-empty list of strings, got {answers!r}")
    try:
        metrics.check_gold(dataset, answers, row.get("all_classes"))
    except DataError as e:
        raise DataError(f"{where}: {e}") from None
    question = TEMPLATES[dataset].format(context=row["context"], input=row["input"])
    meta = {"family": dataset, "dataset": dataset, "answers": tuple(answers),
            "all_classes": tuple(row.get("all_classes") or ()), "length": int(row.get("length") or 0),
            "truncate": "middle"}
    return Example(uid=f"longbench/{dataset}/{row['_id']}", task="longbench", question=question, answer=answers[0],
                   meta=meta)


def score(example: Example, text: str) -> float:
    """LongBench's score of one response to ``example`` (its dataset's metric, max over answers)."""
    m = example.meta_dict()
    return metrics.score_answer(m["dataset"], text, list(m["answers"]), list(m["all_classes"]))


def _rows(lines, where: str) -> list[Example]:
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{where} line {i}: not JSON ({e.msg}); LongBench files are JSONL") from None
        out.append(example_from_row(row, f"{where} line {i}"))
    return out


def _wanted(split: str) -> set[str] | None:
    """None (every dataset) for "test", else the "+"-joined names, checked."""
    if split in ("test", "", None):
        return None
    names = set(split.split("+"))
    unknown = sorted(names - set(TEMPLATES))
    if unknown:
        raise DataError(f"longbench split {split!r}: unknown dataset(s) {unknown}; a split is 'test' or "
                        f"'+'-joined names of {', '.join(sorted(TEMPLATES))}")
    return names


def load_path(path: Path, split: str) -> list[Example]:
    """Examples from one <dataset>.jsonl file or a folder of them (module docstring)."""
    wanted = _wanted(split)
    files = [path] if path.is_file() else sorted(p for p in path.glob("*.jsonl") if p.stem in TEMPLATES)
    if not files:
        raise DataError(f"{path}: no LongBench <dataset>.jsonl files (English datasets: "
                        f"{', '.join(sorted(TEMPLATES))})")
    out = []
    for f in files:
        if wanted is None or f.stem in wanted or path.is_file():
            try:
                out += _rows(f.read_text(encoding="utf-8").splitlines(), str(f))
            except UnicodeDecodeError as e:
                raise DataError(f"{f}: not UTF-8 text ({e.reason})") from None
    return [ex for ex in out if wanted is None or ex.meta_dict()["dataset"] in wanted]


def load_hub(split: str) -> list[Example]:
    """The chosen datasets from the hub's data.zip (downloaded once; no dataset script runs)."""
    wanted = _wanted(split)
    if wanted is None:
        raise DataError("longbench from the hub: set data.train_split / data.test_split to the '+'-joined "
                        "datasets to load (e.g. 'hotpotqa+2wikimqa'); LongBench's only split is test")
    try:
        from huggingface_hub import hf_hub_download

        archive = hf_hub_download(HUB_REPO, "data.zip", repo_type="dataset")
    except Exception as err:  # noqa: BLE001 - network, auth and cache errors alike
        raise DataError(f"could not download {HUB_REPO} data.zip from the Hugging Face hub ({type(err).__name__}: "
                        f"{err}); without network access set config.data.path to a folder of LongBench "
                        "<dataset>.jsonl files") from err
    out = []
    with zipfile.ZipFile(archive) as z:
        for name in sorted(wanted):
            member = f"data/{name}.jsonl"
            try:
                text = z.read(member).decode("utf-8")
            except KeyError:
                raise DataError(f"{archive}: has no {member}") from None
            out += _rows(text.splitlines(), f"{HUB_REPO}:{member}")
    return out


def middle_truncate(tokenizer, text: str, max_tokens: int) -> str:
    """LongBench's truncation: a text of more than ``max_tokens`` tokens keeps its first and last
    ``max_tokens // 2`` tokens (the question and instructions sit at both ends)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text
    half = max_tokens // 2
    return (tokenizer.decode(ids[:half], skip_special_tokens=True)
            + tokenizer.decode(ids[-half:], skip_special_tokens=True))
