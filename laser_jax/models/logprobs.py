"""Log-probs of token sequences under a CausalLM: the one log-prob path of laser_jax.

Two entry points over one computation (LM head, then log-softmax in float32, optionally over
chunks of positions):
- `sequence_logprobs(model, ids, mask, response_mask)`: whole rows (prompt + response re-tokenised
  by a reward model), the log-prob reward models.
- `response_logprobs(model, prompt_ids, prompt_mask, ids, mask)`: N responses per prompt, the
  prompt run once (prompt-once mode: `Transformer.prompt_and_continuations`, the prompt and its
  responses in one layer scan); the train step's chosen and rejected responses.

Conventions of `sequence_logprobs` / `token_logprobs`:

- `ids` [B,T] int32 is a (usually left-padded) batch, `mask` [B,T] marks real tokens.
- The log-prob of the token at position t is log softmax(logits[t-1])[ids[t]]: the model's
  probability of ids[t] given ids[<t]. Position 0 has no predecessor, so its log-prob is 0.
- `response_mask` [B,T] marks the TARGET positions whose log-probs count (for a prompt-response
  row: the positions of the response tokens, not the tokens that predict them). A target counts
  only where it and its predecessor are real tokens (mask[t] and mask[t-1]); position 0 and the
  first real token of a left-padded row never count, whatever `response_mask` says there.
- Log-softmax is taken in float32 whatever the model dtype, as target logit minus logsumexp
  (the same number as gathering log_softmax at the target, without a second [B,T,V] array).
- `chunk`: with a large vocabulary the [B,T,V] logits dominate memory (8 x 1024 x 152k float32 is
  5 GB); a positive `chunk` runs the LM head and the log-softmax over `chunk` positions at a time
  (lax.map over time), so at most [B,chunk,V] logits live at once. Differentiable either way.

All functions are pure and traceable: call them inside `jax.jit` / `nnx.jit` / `jax.grad`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from laser_jax.sharding import constrain_activation

F32 = jnp.float32


def logprobs_from_logits(logits: jax.Array, targets: jax.Array) -> jax.Array:
    """log softmax(logits)[target] in float32: logits [..., V], targets [...] int -> [...]."""
    logits = logits.astype(F32)
    picked = jnp.take_along_axis(logits, targets[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return picked - jax.nn.logsumexp(logits, axis=-1)


def _head_logprobs(model, h: jax.Array, targets: jax.Array, chunk: int | None) -> jax.Array:
    """log p(targets[:, t]) from hidden states h[:, t] [B,T,E] (the LM head and log-softmax over
    `chunk` positions at a time when given) -> [B,T] float32."""
    n = h.shape[1]
    if not chunk or chunk >= n:
        return logprobs_from_logits(model.logits(h), targets)
    pieces = -(-n // chunk)
    pad = pieces * chunk - n
    h = jnp.pad(h, ((0, 0), (0, pad), (0, 0)))
    targets = jnp.pad(targets, ((0, 0), (0, pad)))
    b, e = h.shape[0], h.shape[-1]
    h = h.reshape(b, pieces, chunk, e).swapaxes(0, 1)  # [pieces, B, chunk, E]
    targets = targets.reshape(b, pieces, chunk).swapaxes(0, 1)
    h = constrain_activation(h, (None, "batch", "length", "embed"))

    def piece(xs):  # one chunk's rows split over the batch axes (sharding.activation_sharding)
        logits = constrain_activation(model.logits(constrain_activation(xs[0], ("batch", "length", "embed"))),
                                      ("batch", "length", "vocab"))
        return logprobs_from_logits(logits, xs[1])

    # checkpointed: under a gradient each chunk's logits are recomputed, not kept for every chunk
    out = jax.lax.map(jax.checkpoint(piece), (h, targets))
    return out.swapaxes(0, 1).reshape(b, pieces * chunk)[:, :n]


def token_logprobs(model, ids: jax.Array, mask: jax.Array | None = None, *, chunk: int | None = None) -> jax.Array:
    """[B,T] float32: out[:, t] = log p(ids[t] | ids[<t]) under `model` (a CausalLM); out[:, 0] = 0.

    Values at pad positions (and at the first real token of a left-padded row) are not meaningful;
    mask them with `target_mask`."""
    mask = jnp.ones(ids.shape, bool) if mask is None else mask
    hidden, _ = model.hidden(ids, mask)
    lp = _head_logprobs(model, hidden[:, :-1], ids[:, 1:], chunk)
    return jnp.concatenate([jnp.zeros((ids.shape[0], 1), F32), lp], axis=1)


def target_mask(mask: jax.Array, response_mask: jax.Array) -> jax.Array:
    """[B,T] bool: the positions whose log-probs count (see the module doc)."""
    mask = mask.astype(bool)
    prev = jnp.concatenate([jnp.zeros((mask.shape[0], 1), bool), mask[:, :-1]], axis=1)
    return response_mask.astype(bool) & mask & prev


def sequence_logprobs(model, ids: jax.Array, mask: jax.Array, response_mask: jax.Array, *,
                      chunk: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Summed log-prob of the marked target tokens of each row, and how many tokens counted.

    Args:
      model: a CausalLM (anything with `hidden(ids, mask) -> (h, _)` and `logits(h)`).
      ids: [B,T] int token ids; mask: [B,T] real-token mask (left or right padding both work).
      response_mask: [B,T] the target positions to count (see the module doc).
      chunk: positions per LM-head chunk (None = all at once).
    Returns:
      (sum_logp [B] float32, n_tokens [B] float32). The token mean is sum_logp / max(n_tokens, 1).
    """
    lp = token_logprobs(model, ids, mask, chunk=chunk)
    w = target_mask(mask, response_mask).astype(F32)
    return jnp.sum(lp * w, axis=1), jnp.sum(w, axis=1)


def response_logprobs(model, prompt_ids: jax.Array, prompt_mask: jax.Array, ids: jax.Array, mask: jax.Array, *,
                      chunk: int | None = None) -> tuple[jax.Array, jax.Array]:
    """Summed log-prob and token count of N responses per prompt, the prompt run once.

    prompt_ids / prompt_mask [B,S] left-padded; ids / mask [B,N,R] right-padded responses (mask 1 =
    a response token whose log-prob counts). The first response token is predicted from the
    prompt's last hidden state. Returns ([B,N], [B,N]) float32.
    """
    b, n, r = ids.shape
    # the prompt and its continuations in one layer scan (`prefill` + `continuations`, fused)
    h_prompt, h = model.model.prompt_and_continuations(prompt_ids, prompt_mask, ids, mask)  # [B,S,E], [B,N,R,E]
    first = jnp.broadcast_to(h_prompt[:, None, -1:], (b, n, 1, h.shape[-1]))  # slot S-1: the last prompt token
    h = jnp.concatenate([first, h[:, :, :-1]], axis=2).reshape(b * n, r, -1)  # position t predicts token t
    w = mask.reshape(b * n, r).astype(F32)
    lp = _head_logprobs(model, h, ids.reshape(b * n, r), chunk) * w
    return lp.sum(-1).reshape(b, n), w.sum(-1).reshape(b, n)
