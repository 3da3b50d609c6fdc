"""AlpacaEval export (laser_jax.judge.export), read back with AlpacaEval's own loader.

alpaca-eval 0.6.6 (the newest release) imports ``pkg_resources`` at import time, which setuptools
82 removed; the test extras pin ``setuptools<82`` for it. Importing it opens no connection (checked
with sockets disabled); nothing here touches the network.
"""

import json
import os
import stat
import warnings

import pytest

from laser_jax.data import DataError, Example
from laser_jax.judge.export import KEYS, alpaca_eval_records, write_alpaca_eval

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # its pkg_resources import warns
    from alpaca_eval.utils import get_generator_name, load_or_convert_to_dataframe

PROMPTS = ["Write a haiku about rain.", "Explain JSON.\nKeep it short.",
           "Café au lait — qu'est-ce?"]
OUTPUTS = ["Rain on the tin roof,\n...", '{"json": "a format"}', "Un café avec du lait. 42"]


def test_records_by_hand():
    records = alpaca_eval_records(PROMPTS[:2], OUTPUTS[:2], generator="laser-iter2",
                                  dataset="wildchat")
    assert records == [
        {"instruction": "Write a haiku about rain.", "output": "Rain on the tin roof,\n...",
         "generator": "laser-iter2", "dataset": "wildchat"},
        {"instruction": "Explain JSON.\nKeep it short.", "output": '{"json": "a format"}',
         "generator": "laser-iter2", "dataset": "wildchat"}]
    plain = alpaca_eval_records(["a"], ["b"], generator="g")
    assert plain == [{"instruction": "a", "output": "b", "generator": "g"}]  # no source, no key
    examples = [Example("u1", "ifeval_like", "Say hi.", "[]"), Example("u2", "gsm8k", "1+1?", "2")]
    records = alpaca_eval_records(examples, ["hi", "2"], generator="g")
    assert [r["dataset"] for r in records] == ["ifeval_like", "gsm8k"]  # the task names
    assert [r["instruction"] for r in records] == ["Say hi.", "1+1?"]


def test_alpaca_eval_loads_the_file(tmp_path):
    path = write_alpaca_eval(tmp_path / "out" / "model_outputs.json", PROMPTS, OUTPUTS,
                             generator="laser-iter2", dataset=["wildchat", "wildchat", "alpaca"])
    df = load_or_convert_to_dataframe(path)
    assert list(df.columns) == list(KEYS)
    assert df.to_dict("records") == [
        {"instruction": p, "output": o, "generator": "laser-iter2", "dataset": d}
        for p, o, d in zip(PROMPTS, OUTPUTS, ["wildchat", "wildchat", "alpaca"])]
    assert get_generator_name(None, df) == "laser-iter2"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert "Café au lait" in path.read_text(encoding="utf-8")  # UTF-8, not \u escapes


def test_alpaca_eval_reads_all_numeric_outputs_as_numbers(tmp_path):
    """AlpacaEval's loader (pandas.read_json) infers types: the file holds strings, the frame
    numbers once every output looks like one; one text output keeps the column text."""
    path = write_alpaca_eval(tmp_path / "n.json", ["a", "b"], ["42", "7"], generator="g")
    assert [r["output"] for r in json.loads(path.read_text())] == ["42", "7"]
    assert load_or_convert_to_dataframe(path)["output"].tolist() == [42, 7]
    path = write_alpaca_eval(tmp_path / "m.json", ["a", "b"], ["42", "seven"], generator="g")
    assert load_or_convert_to_dataframe(path)["output"].tolist() == ["42", "seven"]


def test_write_replaces_atomically_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "o.json"
    write_alpaca_eval(path, ["old"], ["x"], generator="g")
    write_alpaca_eval(path, ["new"], ["y"], generator="g")
    assert json.loads(path.read_text())[0]["instruction"] == "new"

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_alpaca_eval(path, ["newer"], ["z"], generator="g")
    assert json.loads(path.read_text())[0]["instruction"] == "new"  # the old file, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.json"]  # no temporary left


def test_bad_inputs_say_what_and_where(tmp_path):
    with pytest.raises(DataError, match="prompts 0 and 2 are the same instruction"):
        alpaca_eval_records(["a", "b", "a"], ["1", "2", "3"], generator="g")
    with pytest.raises(DataError, match="2 prompts but 1 outputs"):
        alpaca_eval_records(["a", "b"], ["1"], generator="g")
    with pytest.raises(DataError, match="output 1 is a NoneType"):
        alpaca_eval_records(["a", "b"], ["1", None], generator="g")
    with pytest.raises(DataError, match="generator must be the run's name"):
        alpaca_eval_records(["a"], ["1"], generator=" ")
    with pytest.raises(DataError, match="some prompts are Examples"):
        alpaca_eval_records([Example("u", "gsm8k", "q", "1"), "p"], ["1", "2"], generator="g")
    with pytest.raises(DataError, match="3 dataset names for 2 prompts"):
        alpaca_eval_records(["a", "b"], ["1", "2"], generator="g", dataset=["x", "y", "z"])
    with pytest.raises(DataError, match=r"must end in \.json"):
        write_alpaca_eval(tmp_path / "o.jsonl", ["a"], ["1"], generator="g")
    assert not any(tmp_path.iterdir())
