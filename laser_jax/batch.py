"""A batch of prompts, built once and used by every stage that needs it: the policy's token ids
(sampling, context, training), the prompt texts, golds and task names the reward models read
(one row per response), and the task families the logs group by.

    batch = PromptBatch.encode(tokenizer, examples, max_tokens=512, pad_id=0)
    batch.ids, batch.mask            # [B, T] left-padded policy ids (chat template applied)
    batch.per_response(n)            # {"prompts", "golds", "tasks"}: B*n rows, prompt-major

Also the policy's EOS ids (`eos_ids`: the tokenizer's, the model's and common end-of-turn tokens).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from laser_jax.data.longbench import middle_truncate
from laser_jax.data.prompts import chat_messages, format_prompt
from laser_jax.data.example import Example

log = logging.getLogger("laser_jax")
BUCKET = 64
# end-of-turn tokens of common chat templates, used as extra EOS ids when the vocabulary has them
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<|endoftext|>", "</s>", "<end_of_turn>")


def family(example: Example) -> str:
    """The task family of an example (generated demo tasks mix several), else its task."""
    return dict(example.meta).get("family", example.task) if example.meta else example.task


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


def chat_ids(tokenizer, example: Example, system_prompt: str | None = None) -> list[int]:
    """The example's prompt as policy token ids: the chat template with the generation prompt, or
    the plain prompt text for a tokenizer without one."""
    messages = chat_messages(example, system=system_prompt) if system_prompt else chat_messages(example)
    if getattr(tokenizer, "chat_template", None):
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(out["input_ids"])
    text = "\n".join(m["content"] for m in messages) + "\n"
    return list(tokenizer(text)["input_ids"])


def left_pad(rows: Sequence[Sequence[int]], pad_id: int, *, max_tokens: int, bucket: int = BUCKET
             ) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded [B, T] ids and mask; T is the longest row rounded up to `bucket` (so few shapes
    compile), at most `max_tokens` (rows must already fit)."""
    longest = max(map(len, rows))
    t = min(max_tokens, -(-longest // bucket) * bucket)
    out = np.full((len(rows), t), pad_id, np.int32)
    mask = np.zeros((len(rows), t), np.int32)
    for i, r in enumerate(rows):
        out[i, t - len(r):] = r
        mask[i, t - len(r):] = 1
    return out, mask


@dataclasses.dataclass(frozen=True)
class PromptBatch:
    examples: tuple[Example, ...]
    ids: np.ndarray  # [B, T] int32, left-padded policy token ids
    mask: np.ndarray  # [B, T] int32, 1 = real token
    texts: tuple[str, ...]  # the plain prompt text of each example (what the reward models read)

    @classmethod
    def encode(cls, tokenizer, examples: Sequence[Example], *, max_tokens: int, pad_id: int,
               system_prompt: str | None = None, bucket: int = BUCKET) -> "PromptBatch":
        """Tokenise the examples' prompts; longer prompts keep their last `max_tokens` tokens, or,
        for an example with meta truncate="middle" (LongBench), the first and last halves of its
        question (LongBench's rule; the chat template's own tokens are kept)."""
        rows, examples = [], list(examples)
        for i, ex in enumerate(examples):
            ids = chat_ids(tokenizer, ex, system_prompt)
            if len(ids) > max_tokens and dict(ex.meta).get("truncate") == "middle":
                overhead = len(ids) - len(tokenizer(ex.question, add_special_tokens=False)["input_ids"])
                ex = examples[i] = dataclasses.replace(
                    ex, question=middle_truncate(tokenizer, ex.question, max(1, max_tokens - overhead - 2)))
                ids = chat_ids(tokenizer, ex, system_prompt)
            if len(ids) > max_tokens:
                log.warning("prompt of %s has %d tokens; keeping the last %d (sampling.max_prompt_tokens)",
                            ex.uid, len(ids), max_tokens)
                ids = ids[-max_tokens:]
            rows.append(ids)
        ids, mask = left_pad(rows, pad_id, max_tokens=max_tokens, bucket=bucket)
        return cls(tuple(examples), ids, mask, tuple(format_prompt(ex) for ex in examples))

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def golds(self) -> list[str | None]:
        return [ex.answer for ex in self.examples]

    @property
    def tasks(self) -> list[str]:
        return [ex.task for ex in self.examples]

    @property
    def families(self) -> list[str]:
        return [family(ex) for ex in self.examples]

    def per_response(self, n: int, rows: Sequence[int] | None = None) -> dict[str, list]:
        """The reward models' inputs for n responses of each prompt in `rows` (default all),
        prompt-major: {"prompts", "golds", "tasks"}, len(rows) * n entries each."""
        rows = range(len(self)) if rows is None else rows
        exs = [self.examples[i] for i in rows]
        return {"prompts": [self.texts[i] for i in rows for _ in range(n)],
                "golds": [ex.answer for ex in exs for _ in range(n)],
                "tasks": [ex.task for ex in exs for _ in range(n)]}
