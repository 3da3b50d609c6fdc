"""ClassifierRM against transformers' LlamaForSequenceClassification on the same weights and ids."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.rewards import ClassifierRM


@pytest.mark.parametrize("label", [0, 2])
def test_classifier_rm_matches_transformers(label, classifier_dirs, jax_classifiers, tok_a, helpers):
    rm = ClassifierRM(jax_classifiers[0], tok_a, "cls", label=label, batch_size=4)
    rows = rm.encode(helpers.PROMPTS, helpers.RESPONSES)
    # the ids: the templated conversation tokenised in one piece (BOS from the tokenizer)
    for row, p, r in zip(rows, helpers.PROMPTS, helpers.RESPONSES):
        text = tok_a.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                         tokenize=False)
        assert list(row.ids) == tok_a(text)["input_ids"]
    want = [helpers.torch_classifier_logits(classifier_dirs[0][1], row.ids)[label] for row in rows]
    got = rm.score(helpers.PROMPTS, helpers.RESPONSES)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_classifier_scores_do_not_depend_on_batch_composition(jax_classifiers, tok_a, helpers):
    rm = ClassifierRM(jax_classifiers[1], tok_a, "cls", batch_size=4)
    alone = rm.score(["Hi"], ["Ok"])
    mixed = rm.score([p * 3 for p in helpers.PROMPTS[:3]] + ["Hi"], [r * 2 for r in helpers.RESPONSES[:3]] + ["Ok"])
    assert abs(alone[0] - mixed[-1]) <= 1e-5


def test_classifier_rm_checks(jax_classifiers, jax_lms, tok_a):
    with pytest.raises(ValueError, match="label=3 but the model has 3"):
        ClassifierRM(jax_classifiers[0], tok_a, "c", label=3)
    with pytest.raises(TypeError, match="SequenceClassifier"):
        ClassifierRM(jax_lms[0], tok_a, "c")


def test_text_ending_in_the_pad_id_is_read_where_transformers_reads_it(tmp_path, tok_a, helpers):
    """A checkpoint whose pad_token_id is the template's last token ('\\n' here, like pad = EOS with a
    template ending in EOS): HF scores at the last non-pad token, and so must we."""
    newline = tok_a("\n", add_special_tokens=False)["input_ids"][0]
    ref = helpers.save_tiny(tmp_path, "classifier", 5, tok_a, num_labels=3, pad_token_id=newline)
    from laser_jax.models import load_pretrained

    rm = ClassifierRM(load_pretrained(tmp_path), tok_a, "cls", batch_size=4)
    rows = rm.encode(helpers.PROMPTS, helpers.RESPONSES)
    for row, p, r in zip(rows, helpers.PROMPTS, helpers.RESPONSES):
        text = tok_a.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                         tokenize=False)
        full = tok_a(text)["input_ids"]
        assert full[-1] == newline and list(row.ids) == full[:-1]
        want = helpers.torch_classifier_logits(ref, full)[0]  # HF on the untrimmed ids
        assert abs(rm.score([p], [r])[0] - want) <= 1e-4
