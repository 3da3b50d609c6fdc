"""Task examples -> policy token ids: the chat template, left padding to a length bucket, EOS ids."""

from __future__ import annotations

import logging

import numpy as np

from laser_jax.data.prompts import chat_messages

log = logging.getLogger("laser_jax")
BUCKET = 64
# end-of-turn tokens of common chat templates, used as extra EOS ids when the vocabulary has them
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>", "<end_of_turn>")


def eos_ids(tokenizer, model_eos=None) -> tuple[int, ...]:
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    for e in (model_eos if isinstance(model_eos, (tuple, list)) else (model_eos,)):
        if e is not None:
            ids.add(int(e))
    vocab = tokenizer.get_vocab()
    ids.update(int(vocab[t]) for t in END_OF_TURN if t in vocab)
    return tuple(sorted(ids))


def chat_ids(tokenizer, example, system_prompt: str | None = None) -> list[int]:
    messages = chat_messages(example, system=system_prompt) if system_prompt else chat_messages(example)
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])
    text = "\n".join(m["content"] for m in messages) + "\n"
    return list(tokenizer(text)["input_ids"])


def encode(tokenizer, examples, *, max_tokens: int, pad_id: int, system_prompt: str | None = None,
           bucket: int = BUCKET) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded [B, T] ids and mask; T is the longest prompt rounded up to `bucket` (so few
    shapes compile), at most `max_tokens`; longer prompts keep their last `max_tokens` tokens."""
    rows = []
    for ex in examples:
        ids = chat_ids(tokenizer, ex, system_prompt)
        if len(ids) > max_tokens:
            log.warning("prompt of %s has %d tokens; keeping the last %d (sampling.max_prompt_tokens)",
                        ex.uid, len(ids), max_tokens)
            ids = ids[-max_tokens:]
        rows.append(ids)
    longest = max(map(len, rows))
    t = min(max_tokens, -(-longest // bucket) * bucket)
    out = np.full((len(rows), t), pad_id, np.int32)
    mask = np.zeros((len(rows), t), np.int32)
    for i, r in enumerate(rows):
        out[i, t - len(r):] = r
        mask[i, t - len(r):] = 1
    return out, mask
