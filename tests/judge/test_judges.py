"""Judges (laser_jax.judge.judges): the LM judge's prompt, answer tokens, truncation and the
two-token probability against a numpy softmax over the full logits; both orders; RM and function
judges; spec parsing."""

import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax.data import DataError
from laser_jax.judge.judges import (JUDGE_TEMPLATE, PLAIN_SUFFIX, TRUNCATION_MARK, FunctionJudge, LMJudge, RMJudge,
                                    answer_token_ids, judge_inputs, judge_pairs, judge_text, parse_judge,
                                    truncate_text)
from laser_jax.models import load_pretrained, load_tokenizer
from laser_jax.models.tiny import smoke_assets
from laser_jax.models import tiny

PROMPTS = ["What is 2 + 3?", "Name a colour of the sky on a clear day, please.", "Hi", "Spell cat backwards."]
FIRSTS = ["5", "The sky is blue.", "Hello! How can I help you today?", "tac"]
SECONDS = ["2 + 3 = 6, I think, but I am not sure about it at all.", "Green", "Hey", "The answer is tac."]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    path = smoke_assets(tmp_path_factory.mktemp("tiny"))["policy"]
    return load_pretrained(path), load_tokenizer(path)


def _softmax_pair(logits, id_a, id_b):
    """numpy, float64, over the FULL vocabulary: (P(A) / (P(A) + P(B)), P(A) + P(B))."""
    z = np.asarray(logits, np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    return p[id_a] / (p[id_a] + p[id_b]), p[id_a] + p[id_b]


def test_template_verbatim():
    assert judge_text("Q?", "one", "two") == (
        "You are comparing two responses to the same user request. Decide which response is better: "
        "more helpful, more correct and clearer. Do not let the order of the responses or their length "
        "decide.\n\n[User request]\nQ?\n\n[Response A]\none\n\n[Response B]\ntwo\n\n"
        "Which response is better? Answer with a single letter: A or B.")
    assert JUDGE_TEMPLATE.count("{") == 3


def test_two_token_probability_equals_numpy_softmax_of_full_logits(tiny_lm):
    model, tok = tiny_lm
    judge = LMJudge(model, tok, spec="lm:tiny", batch_size=3)  # 4 rows: a full batch and a padded one
    vocab = tok.get_vocab()
    assert (judge.id_a, judge.id_b, judge.form) == (vocab["A"], vocab["B"], "A")
    v = judge.verdicts(PROMPTS, FIRSTS, SECONDS)
    for n in range(len(PROMPTS)):
        text = judge_text(PROMPTS[n], FIRSTS[n], SECONDS[n])
        ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                      tokenize=True, return_dict=True)["input_ids"]
        full = np.asarray(model(jnp.asarray([ids], jnp.int32)))[0, -1]  # [V]: one row, no padding
        want_p, want_mass = _softmax_pair(full, vocab["A"], vocab["B"])
        assert v.p_first[n] == pytest.approx(want_p, abs=2e-6)
        assert v.extra["mass"][n] == pytest.approx(want_mass, rel=1e-4)
        assert v.extra["logit_a"][n] - v.extra["logit_b"][n] == pytest.approx(
            full[vocab["A"]] - full[vocab["B"]], abs=1e-4)
        assert v.label[n] == ("first" if want_p > 0.5 else "second")
    assert len(set(np.round(v.p_first, 6))) == len(PROMPTS)  # the rows really differ (no constant 0.5)
    # a tie band wider than any log-odds: every verdict is a tie
    wide = judge.verdicts(PROMPTS, FIRSTS, SECONDS, tie_margin=1e3)
    assert wide.label.tolist() == ["tie"] * 4 and np.allclose(wide.p_first, v.p_first)


class _FakeTok:
    """Only what answer_token_ids reads: tokenisation without special tokens."""

    chat_template = "yes"
    name_or_path = "fake"

    def __init__(self, table):
        self.table = table

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": self.table[text]}


def test_answer_tokens_first_piece_and_fallback():
    # letters of several tokens: the first piece of each is read
    assert answer_token_ids(_FakeTok({"A": [7, 9], "B": [8, 9], " A": [1], " B": [2]})) == (7, 8, "A")
    # "A" and "B" start with the same piece (a word-start marker): fall back to " A" / " B"
    assert answer_token_ids(_FakeTok({"A": [5, 7], "B": [5, 8], " A": [11, 7], " B": [12, 8]})) == (11, 12, " A")
    with pytest.raises(DataError, match="fake.*same token"):
        answer_token_ids(_FakeTok({"A": [5, 7], "B": [5, 8], " A": [5, 7], " B": [5, 8]}))


def test_answer_tokens_of_plain_tokenizers():
    # no chat template: " A" is tried first; the character tokenizer starts " A" and " B" with
    # the same " " token, so it falls back to "A" / "B"
    plain = tiny.tokenizer(chat=False)
    vocab = plain.get_vocab()
    assert answer_token_ids(plain) == (vocab["A"], vocab["B"], "A")
    merged = tiny.tokenizer(merges=[(" ", "A"), (" ", "B")], chat=False)
    vocab = merged.get_vocab()
    assert answer_token_ids(merged) == (vocab[" A"], vocab[" B"], " A")
    # and the plain judge input is the message + PLAIN_SUFFIX, BOS in front
    rows, _ = judge_inputs(merged, ["Q"], ["x"], ["y"], max_prompt_tokens=99, max_response_tokens=99)
    assert rows[0] == merged(judge_text("Q", "x", "y") + PLAIN_SUFFIX)["input_ids"]
    assert rows[0][0] == merged.bos_token_id


def test_truncation_keeps_the_first_tokens_and_marks_the_cut():
    tok = tiny.tokenizer()  # one token per character
    text = "abcdefghij" * 5
    assert truncate_text(tok, text, 50) == (text, False)
    assert truncate_text(tok, text, 12) == ("abcdefghijab" + TRUNCATION_MARK, True)
    rows, cut = judge_inputs(tok, ["p" * 30, "q"], ["r" * 20, "s"], ["t" * 5, "u" * 21],
                             max_prompt_tokens=10, max_response_tokens=20)
    assert cut.tolist() == [[1, 0], [0, 1]]
    want = judge_text("p" * 10 + TRUNCATION_MARK, "r" * 20, "t" * 5)
    assert rows[0] == tok.apply_chat_template([{"role": "user", "content": want}], add_generation_prompt=True,
                                              tokenize=True, return_dict=True)["input_ids"]


def test_too_long_input_names_the_flags(tiny_lm):
    model, tok = tiny_lm  # context 1024 positions, one token per character
    judge = LMJudge(model, tok, spec="lm:tiny", max_prompt_tokens=2000, max_response_tokens=2000)
    with pytest.raises(DataError, match="context of 1024.*--max_prompt_tokens.*--max_response_tokens"):
        judge.verdicts(["x" * 1100], ["a"], ["b"])


def test_both_orders_and_symmetric_judges():
    seen = []

    def spy(prompts, firsts, seconds):
        seen.append((list(firsts), list(seconds)))
        return [0.9 if f == "a1" else 0.2 for f in firsts]

    ab, ba = judge_pairs(FunctionJudge(spy, spec="python:x:spy"), ["p0", "p1"], ["a0", "a1"], ["b0", "b1"])
    assert seen == [(["a0", "a1", "b0", "b1"], ["b0", "b1", "a0", "a1"])]  # one call, AB then BA
    assert ab.p_first.tolist() == [0.2, 0.9] and ba.p_first.tolist() == [0.2, 0.2]
    assert ab.label.tolist() == ["second", "first"] and ba.label.tolist() == ["second", "second"]

    class Scores:
        name = "len"

        def score(self, prompts, responses, golds=None):
            seen.append(list(responses))
            return np.array([float(len(r)) for r in responses])

    ab, ba = judge_pairs(RMJudge(Scores(), spec="x", entry={}), ["p", "q", "r"], ["aaa", "a", "aa"],
                         ["b", "bbb", "bb"], tie_margin=0.0)
    assert seen[-1] == ["aaa", "a", "aa", "b", "bbb", "bb"]  # every response scored once
    assert ab.label.tolist() == ["first", "second", "tie"] and ba.label.tolist() == ["second", "first", "tie"]
    sig = 1 / (1 + np.exp(-2.0))
    assert ab.p_first == pytest.approx([sig, 1 - sig, 0.5]) and ba.p_first == pytest.approx([1 - sig, sig, 0.5])


def test_function_judge_tie_margin_and_bad_output():
    judge = FunctionJudge(lambda p, f, s: [1.0, 0.0, 0.5, 0.6], spec="python:m:f")
    v = judge.verdicts(list("abcd"), list("abcd"), list("abcd"), tie_margin=0.5)  # log(0.6/0.4) = 0.405
    assert v.label.tolist() == ["first", "second", "tie", "tie"]
    with pytest.raises(DataError, match="python:m:f.*4 pairs, got 3"):
        FunctionJudge(lambda p, f, s: [1.0, 0.0, 0.5], spec="python:m:f").verdicts(*[list("abcd")] * 3)
    with pytest.raises(DataError, match="1.5 among them"):
        FunctionJudge(lambda p, f, s: [1.5] * 4, spec="python:m:f").verdicts(*[list("abcd")] * 3)


def test_parse_judge(tmp_path):
    assert parse_judge("lm:smollm2-135m-instruct") == ("lm", "smollm2-135m-instruct")
    assert parse_judge("python:pkg.mod:fn") == ("python", ("pkg.mod", "fn"))
    assert parse_judge("verifier:gsm8k") == ("rm", {"kind": "verifier", "task": "gsm8k"})
    assert parse_judge(f'{{"kind": "classifier", "path": "{tmp_path}", "label": 0}}') == \
        ("rm", {"kind": "classifier", "path": str(tmp_path), "label": 0})
    for spec, words in [("gpt4:x", "unknown judge kind 'gpt4'"), ("lm", "<kind>:<argument>"),
                        (f"lm:{tmp_path}/none", "no such file"), (f"classifier:{tmp_path}/none", "no such file"),
                        ('{"kind": "classifier"', "not valid JSON"), ("python:fn", "python:<module>:<function>"),
                        ("", "--judge is required")]:
        with pytest.raises(DataError, match=words):
            parse_judge(spec)
