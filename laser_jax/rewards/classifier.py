"""Classifier reward models (HF *ForSequenceClassification): the label logit at the last real token.

The (prompt, response) pair is formatted (chat template when the tokenizer has one) and tokenised
in ONE piece (`joint=True` in `text.py`), as RewardBench does for sequence classifiers.

HF reads the score at the last token whose id is not the config's `pad_token_id`, also when the
text itself ends in that id (checkpoints whose pad token is their EOS, with a template that ends
in EOS). Trailing pad-id tokens are therefore dropped from each row before scoring: later tokens
cannot change an earlier position's hidden state, so this reproduces HF's number exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import nnx

from laser_jax.models import SequenceClassifier
from laser_jax.sharding import replicated_for, to_host
from laser_jax.rewards.batching import MicroBatch
from laser_jax.rewards.neural import DEFAULT_BATCH, NeuralRM, classifier_logits
from laser_jax.rewards.text import Encoded


def strip_trailing_pad(rows: list[Encoded], pad_id: int | None) -> list[Encoded]:
    """Rows without their trailing `pad_id` tokens (at least one token is kept)."""
    if pad_id is None:
        return rows
    out = []
    for row in rows:
        ids = list(row.ids)
        while len(ids) > 1 and ids[-1] == pad_id:
            ids.pop()
        out.append(Encoded(tuple(ids), min(row.n_prompt, len(ids))))
    return out


class ClassifierRM(NeuralRM):
    """score = model(ids, mask)[:, label] (the logit of `label` at the last non-pad token)."""

    kind = "classifier"
    joint = True

    def __init__(self, model: SequenceClassifier, tokenizer: Any, name: str, label: int = 0, *,
                 batch_size: int = DEFAULT_BATCH, max_length: int | None = None, chat_template: bool | None = None,
                 system: str | None = None):
        if not isinstance(model, SequenceClassifier):
            raise TypeError(f"ClassifierRM {name!r}: the model must be a SequenceClassifier (a "
                            f"*ForSequenceClassification checkpoint), got {type(model).__name__}")
        if not 0 <= int(label) < model.cfg.num_labels:
            raise ValueError(f"ClassifierRM {name!r}: label={label} but the model has "
                             f"{model.cfg.num_labels} label(s)")
        self.model = model
        self.label = int(label)
        super().__init__(tokenizer, name, batch_size=batch_size, max_length=max_length, chat_template=chat_template,
                         system=system)

    def models(self):
        return [self.model]

    def encode(self, prompts, responses):
        return strip_trailing_pad(super().encode(prompts, responses), self.model.cfg.pad_token_id)

    def _score_batch(self, mb: MicroBatch) -> np.ndarray:
        graphdef, state = nnx.split(self.model)
        logits = classifier_logits(graphdef, state, mb.ids, mb.mask, out_sharding=replicated_for(state))
        return to_host(logits)[:, self.label]
