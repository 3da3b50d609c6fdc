"""Two runs' evaluation records matched by uid (laser_jax.judge.pairs)."""

import json

import pytest

from laser_jax.data import DataError
from laser_jax.judge.pairs import match_runs, read_eval, run_file


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _rec(uid, response, prompt=None, family="chat", **kw):
    return {"uid": uid, "family": family, "prompt": prompt or f"prompt of {uid}", "response": response, **kw}


def test_matched_by_uid_in_a_order_with_limit(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_rec("u2", "a2", gold="7"), _rec("u0", "a0"), _rec("u1", "a1", family=None)])
    b = _write(tmp_path / "b.jsonl", [_rec("u0", "b0"), _rec("u1", "b1"), _rec("u2", "b2")])
    p = match_runs(a, b)
    assert p.uids == ("u2", "u0", "u1") and p.a == ("a2", "a0", "a1") and p.b == ("b2", "b0", "b1")
    assert p.prompts == ("prompt of u2", "prompt of u0", "prompt of u1")
    assert p.categories == ("chat", "chat", "all") and p.golds == ("7", None, None)
    assert match_runs(a, b, limit=2).uids == ("u2", "u0")


def test_refusals_name_the_files(tmp_path):
    a = _write(tmp_path / "a.jsonl", [_rec("u0", "x"), _rec("u1", "y")])
    other = _write(tmp_path / "other.jsonl", [_rec("u0", "x"), _rec("u9", "y")])
    with pytest.raises(DataError, match=r"1 only in .*a\.jsonl \('u1'\); 1 only in .*other\.jsonl \('u9'\)"):
        match_runs(a, other)
    changed = _write(tmp_path / "changed.jsonl", [_rec("u0", "x"), _rec("u1", "y", prompt="something else")])
    with pytest.raises(DataError, match=r"uid 'u1' has different prompts in .*a\.jsonl .* and .*changed\.jsonl"):
        match_runs(a, changed)
    cases = [("no_prompt", '{"uid": "u0", "response": "x"}\n', r"no_prompt\.jsonl:1: .*no 'prompt'.*evaluate the run again"),
             ("broken", json.dumps(_rec("u0", "x")) + '\n{"uid": \n', r"broken\.jsonl:2: not valid JSON"),
             ("repeat", json.dumps(_rec("u0", "x")) + "\n" + json.dumps(_rec("u0", "y")) + "\n",
              r"repeat\.jsonl:2: uid 'u0' repeats line 1"),
             ("empty", "\n", r"empty\.jsonl: no records"),
             ("no_response", '{"uid": "u0", "prompt": "p"}\n', r"no_response\.jsonl:1: the record has no 'response'")]
    for name, text, words in cases:
        (tmp_path / f"{name}.jsonl").write_text(text)
        with pytest.raises(DataError, match=words):
            read_eval(tmp_path / f"{name}.jsonl")


def test_run_file(tmp_path):
    _write(tmp_path / "run" / "eval_before.jsonl", [_rec("u0", "x")])
    assert run_file(tmp_path / "run", "eval_before.jsonl", "--a") == tmp_path / "run" / "eval_before.jsonl"
    with pytest.raises(DataError, match=r"--b: .*eval_after\.jsonl does not exist; this workdir has eval_before\.jsonl"):
        run_file(tmp_path / "run", "eval_after.jsonl", "--b")
    with pytest.raises(DataError, match=r"--a .*nope: does not exist"):
        run_file(tmp_path / "nope", "eval_after.jsonl", "--a")
