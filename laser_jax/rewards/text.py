"""Text -> token ids for a reward model: every neural RM re-tokenises (prompt, response) text with
its OWN tokenizer, so an RM may use another tokenizer than the policy that wrote the text.

`PairEncoder(tokenizer).encode(prompt, response)` -> `Encoded(ids, n_prompt)`: the row's ids and
how many of them precede the response; ids[n_prompt:] is the response span whose log-probs a
likelihood / implicit-DPO RM sums.

Formatting:
- Chat mode (default when the tokenizer has a chat template): the pair is one conversation, user =
  prompt, assistant = response (after an optional system turn). The prompt part is the template
  applied to the user turn with the generation prompt (`<|assistant|>` header); the response part
  is the rest of the full templated conversation, i.e. the response text plus the template's
  end-of-turn tokens (which therefore count as response tokens, as in RewardBench / TRL).
  A template whose full text does not start with its generation-prompt text (e.g. one that adds
  `<think></think>` only for past assistant turns) is split just before the response text in the
  full conversation instead; if even that fails, the response text alone is the response part.
- Plain mode: prompt part = prompt, response part = response + EOS (when the tokenizer has one:
  the RM then also scores whether the response ends there, and the span is never empty).
- The tokenizer's leading special tokens (BOS, found by comparing `tok(x)` with and without
  special tokens) are put in front exactly once, also when a template writes them itself.

Response span: the prompt part is tokenised alone (p) and the full text in one piece (f). When f
starts with p, the response ids are f's suffix beyond p: the canonical tokenisation of the whole
row, with an exact span (the usual case: templates end the prompt part with a newline or a special
token, and SentencePiece's word-start marker is then placed as in the full text). When it does not
(a BPE merge across the boundary, e.g. plain prompt "...Solution: " + response "18" tokenising
jointly as "...Solution:", " 18"), the response part is tokenised alone and the ids concatenated:
the span stays exact and holds the response's own tokens, which is also how a policy that
generated the response after the prompt's tokens saw it. `encode(..., joint=True)` returns the
full-text ids without a span (classifier RMs; n_prompt is then 0).

Rows longer than `max_length` keep their LAST max_length tokens (prompt truncated from the left,
since the response and, for classifiers, the last token matter most); a warning names how many.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from laser_jax.errors import ConfigError

log = logging.getLogger("laser_jax")


@dataclasses.dataclass(frozen=True)
class Encoded:
    ids: tuple[int, ...]
    n_prompt: int  # ids[:n_prompt] is the prompt part, ids[n_prompt:] the response part


def _leading_special_ids(tokenizer: Any) -> tuple[int, ...]:
    """The ids the tokenizer puts in front of a text when asked for special tokens (BOS)."""
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    for i in range(len(full) - len(plain) + 1):
        if full[i:i + len(plain)] == plain:
            return tuple(full[:i])
    return ()


class PairEncoder:
    """Formats and tokenises (prompt, response) pairs for one tokenizer (see the module doc).

    chat_template: True = always use the tokenizer's template (error if it has none), False = plain
    text, None = use it when the tokenizer has one. system: an optional system turn (chat mode).
    max_length: keep at most this many tokens per row (None = no limit)."""

    def __init__(self, tokenizer: Any, *, chat_template: bool | None = None, system: str | None = None,
                 max_length: int | None = None):
        has_template = bool(getattr(tokenizer, "chat_template", None))
        if chat_template and not has_template:
            raise ConfigError(f"chat_template=True but the tokenizer {type(tokenizer).__name__} "
                              f"({getattr(tokenizer, 'name_or_path', '?')}) has no chat template; set the reward "
                              "model's chat_template to false (plain text) or null (the template when there is one)")
        self.tokenizer = tokenizer
        self.chat = has_template if chat_template is None else bool(chat_template)
        self.system = system
        self.max_length = max_length
        self.lead = _leading_special_ids(tokenizer)
        self.eos_id = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.eos_id if self.eos_id is not None else 0))

    def settings(self) -> tuple:
        """What decides the ids (for grouping RMs that can share one tokenisation)."""
        return (id(self.tokenizer), self.chat, self.system, self.max_length)

    # ---- pieces ------------------------------------------------------------------------------
    def _ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _with_lead(self, ids: list[int]) -> list[int]:
        n = len(self.lead)
        if n and tuple(ids[:n]) != self.lead:
            return list(self.lead) + ids
        return ids

    def texts(self, prompt: str, response: str) -> tuple[str, str]:
        """(prompt part, response part) as text, formatted as the module doc says."""
        if not self.chat:
            return prompt, response
        turns = [{"role": "system", "content": self.system}] if self.system else []
        turns.append({"role": "user", "content": prompt})
        tmpl = self.tokenizer.apply_chat_template
        head = tmpl(turns, tokenize=False, add_generation_prompt=True)
        full = tmpl(turns + [{"role": "assistant", "content": response}], tokenize=False)
        if full.startswith(head):
            return head, full[len(head):]
        at = full.rfind(response.strip()) if response.strip() else -1
        if at >= 0:
            return full[:at], full[at:]
        return head, response

    def encode(self, prompt: str, response: str, *, joint: bool = False) -> Encoded:
        head, tail = self.texts(prompt, response)
        full = self._with_lead(self._ids(head + tail))
        if joint:
            ids, n_prompt = full, 0
        else:
            p = self._with_lead(self._ids(head))
            r = full[len(p):] if full[:len(p)] == p else self._ids(tail)
            if not self.chat and self.eos_id is not None:
                r.append(int(self.eos_id))
            ids, n_prompt = p + r, len(p)
        if self.max_length is not None and len(ids) > self.max_length:
            cut = len(ids) - self.max_length
            log.warning("reward tokenisation: a row of %d tokens exceeds max_length=%d; dropping its first %d",
                        len(ids), self.max_length, cut)
            ids, n_prompt = ids[cut:], max(0, n_prompt - cut)
        return Encoded(tuple(int(i) for i in ids), n_prompt)

    def encode_all(self, prompts, responses, *, joint: bool = False) -> list[Encoded]:
        return [self.encode(p, r, joint=joint) for p, r in zip(prompts, responses)]
