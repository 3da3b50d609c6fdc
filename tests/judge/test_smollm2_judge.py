"""The real SmolLM2-135M-Instruct as an LM judge on 4 clear-cut pairs: the two-token probability
against a numpy softmax of the full logits, the answer tokens it reads ("A"/"B", where it puts more
probability than on " A"/" B"), and both orders."""

import jax.numpy as jnp
import numpy as np
import pytest

from laser_jax.judge.judges import build_judge, judge_pairs, judge_text

pytestmark = pytest.mark.slow

PROMPTS = ["What is the capital of France?", "What is 2 + 2?", "Name a primary colour.",
           "Translate 'cat' into French."]
GOOD = ["The capital of France is Paris.", "2 + 2 = 4.", "Red is a primary colour.", "'Cat' in French is 'chat'."]
BAD = ["I like turtles.", "2 + 2 = 7.", "Bananas grow on trees in summer.", "The weather is nice today."]


def test_smollm2_judge_reads_the_answer_tokens():
    judge = build_judge("lm:smollm2-135m-instruct", batch_size=8)
    tok, model = judge.tokenizer, judge.model
    a, b = (tok(x, add_special_tokens=False)["input_ids"] for x in ("A", "B"))
    sa, sb = (tok(x, add_special_tokens=False)["input_ids"] for x in (" A", " B"))
    assert (judge.id_a, judge.id_b, judge.form) == (a[0], b[0], "A") and len(a) == len(b) == 1
    ab, ba = judge_pairs(judge, PROMPTS, GOOD, BAD)
    # the reference: one unpadded row through the whole model, softmax over the vocabulary in numpy
    ids = tok.apply_chat_template([{"role": "user", "content": judge_text(PROMPTS[0], GOOD[0], BAD[0])}],
                                  add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
    z = np.asarray(model(jnp.asarray([ids], jnp.int32)))[0, -1].astype(np.float64)
    p = np.exp(z - z.max())
    p /= p.sum()
    assert ab.p_first[0] == pytest.approx(p[a[0]] / (p[a[0]] + p[b[0]]), abs=1e-4)
    assert ab.extra["mass"][0] == pytest.approx(p[a[0]] + p[b[0]], rel=1e-3)
    # the bare letters are where this judge answers: more mass than on the space-prefixed forms
    assert p[a[0]] + p[b[0]] > 0.1 > p[sa[0]] + p[sb[0]]
    for v in (ab, ba):
        assert np.all((v.extra["mass"] > 0.1) & (v.extra["mass"] < 1))
        assert np.all((v.p_first > 0) & (v.p_first < 1))
    # measured: this small judge prefers the first position in all 8 verdicts (position bias), so the
    # two orders disagree on every pair and the win rate is 1/2
    assert ab.label.tolist() == ba.label.tolist() == ["first"] * 4
