"""Formatting, tokenisation and bucketing of (prompt, response) pairs."""

from __future__ import annotations

import numpy as np
import pytest

from laser_jax.errors import ConfigError
from laser_jax.rewards.batching import bucket_length, bucket_rows, micro_batches
from laser_jax.rewards.text import Encoded, PairEncoder


def test_chat_pair_spans_exactly_the_templated_response(tok_a):
    enc = PairEncoder(tok_a)
    assert enc.chat and enc.lead == (2,)
    head, tail = enc.texts("2+2?", "4")
    assert head == "<|user|>\n2+2?<|end|>\n<|assistant|>\n" and tail == "4<|end|>\n"
    row = enc.encode("2+2?", "4")
    ids = [2] + tok_a(head, add_special_tokens=False)["input_ids"]
    assert row.n_prompt == len(ids)
    assert list(row.ids) == ids + tok_a(tail, add_special_tokens=False)["input_ids"]
    assert tok_a.decode(row.ids[row.n_prompt:]) == "4<|end|>\n"
    # joint tokenisation: the same text in one piece, no span
    joint = enc.encode("2+2?", "4", joint=True)
    assert joint.n_prompt == 0 and list(joint.ids) == tok_a(head + tail)["input_ids"]


def test_boundary_merge_is_not_applied_across_prompt_and_response(helpers):
    """With a merge ('t','h') the joint text "...t" + "he" would merge; separate tokenisation keeps the
    response's own tokens, so the span holds exactly tok(response)."""
    tok = helpers.make_tokenizer(helpers.MERGES_B, chat=False)
    enc = PairEncoder(tok)
    assert not enc.chat
    row = enc.encode("at", "he is")
    resp = tok("he is", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    assert list(row.ids[row.n_prompt:]) == resp
    assert list(row.ids[:row.n_prompt]) == tok("at")["input_ids"]  # BOS + "a", "t"
    assert tok("athe is", add_special_tokens=False)["input_ids"] != list(row.ids[1:-1])  # jointly "th" merges


def test_lead_tokens_not_doubled_when_template_writes_bos(helpers):
    tok = helpers.make_tokenizer()
    tok.chat_template = "<s>" + tok.chat_template
    row = PairEncoder(tok).encode("hi", "yo")
    assert row.ids[:2] == (2, 4)  # <s> <|user|>


def test_chat_template_options(tok_a, tok_plain):
    assert not PairEncoder(tok_a, chat_template=False).chat
    with pytest.raises(ValueError, match="no chat template"):
        PairEncoder(tok_plain, chat_template=True)
    head, _ = PairEncoder(tok_a, system="Be brief.").texts("q", "a")
    assert head.startswith("<|system|>\nBe brief.<|end|>\n<|user|>\nq")


def test_max_length_keeps_the_last_tokens(tok_a):
    full = PairEncoder(tok_a).encode("a long prompt here", "ans")
    cut = PairEncoder(tok_a, max_length=8).encode("a long prompt here", "ans")
    assert cut.ids == full.ids[-8:]
    assert len(cut.ids) - cut.n_prompt == len(full.ids) - full.n_prompt  # the response survives


def test_buckets():
    assert [bucket_length(n) for n in (1, 32, 33, 64, 65, 96, 97, 129, 193, 257, 385, 600, 1025)] == \
        [32, 32, 64, 64, 96, 96, 128, 192, 256, 384, 512, 768, 1536]
    assert all(bucket_length(n) % 32 == 0 and bucket_length(n) >= n for n in range(1, 3000))
    assert [bucket_rows(n, 8) for n in (1, 2, 3, 5, 8)] == [1, 2, 4, 8, 8]


def test_micro_batches_left_pad_and_cover_every_row():
    rows = [Encoded(tuple(range(1, n + 1)), p) for n, p in [(3, 1), (40, 10), (5, 5), (2, 0), (70, 3)]]
    mbs = micro_batches(rows, batch_size=2, pad_id=0)
    assert sorted(int(i) for mb in mbs for i in mb.index) == [0, 1, 2, 3, 4]
    assert [mb.ids.shape for mb in mbs] == [(2, 96), (2, 32), (1, 32)]  # sorted by length, bucketed
    for mb in mbs:
        for r, i in enumerate(mb.index):
            n, p = len(rows[i].ids), rows[i].n_prompt
            assert mb.ids[r, -n:].tolist() == list(rows[i].ids) and mb.mask[r].sum() == n
            assert mb.response_mask[r].sum() == n - p
            assert mb.response_mask[r, mb.ids.shape[1] - n + p:].all()
        assert mb.ids.dtype == np.int32 and mb.mask[len(mb.index):, -1].all()


def test_sentencepiece_style_word_start_marker_follows_the_full_text():
    """A Metaspace tokenizer puts '▁' before a text's first word: tokenised alone, the response
    would start with '▁'; within the row it does not, and the span takes the full text's tokens."""
    import transformers as tf
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    chars = ["<pad>", "<unk>", "</s>", "▁"] + [chr(c) for c in range(33, 127)] + ["\n"]
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(chars)}, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    fast = tf.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    alone = fast("hi", add_special_tokens=False)["input_ids"]
    assert fast.convert_ids_to_tokens(alone) == ["▁", "h", "i"]
    row = PairEncoder(fast).encode("Q:\n", "hi")
    assert fast.convert_ids_to_tokens(list(row.ids[row.n_prompt:])) == ["h", "i", "</s>"]
    assert list(row.ids[:row.n_prompt]) == fast("Q:\n", add_special_tokens=False)["input_ids"]


def test_chat_template_true_without_a_template_is_a_config_error(tok_plain):
    """An entry's chat_template=true on a tokenizer without one: the user's to fix (exit 2)."""
    with pytest.raises(ConfigError, match="set the reward model's chat_template to false"):
        PairEncoder(tok_plain, chat_template=True)
