"""Sampling n responses per prompt from a CausalLM: one jitted prefill + decode loop.

    out = sample(model, prompt_ids, prompt_mask, key, SamplingConfig(max_new_tokens=256, n=4,
                 temperature=0.8, eos_ids=(tok.eos_token_id,), pad_id=tok.pad_token_id))
    texts = decode(tok, out, stop_strings=("\\nQuestion:",))   # [B][n] strings

How it runs (all inside one `jax.jit`, compiled once per (B, T, max_new_tokens, n, eos_ids,
pad_id, and whether sampling is greedy / uses top-k / uses top-p); the values of temperature,
top_p and top_k are traced, so changing them does not recompile):
1. Prefill: the B left-padded prompts go through the model once (`decoder.prefill`); only the
   last slot's hidden state goes through the LM head.
2. Row b*n + j is sample j of prompt b. The prompt's keys/values are kept once per prompt and
   shared by its n samples (not tiled n times: with long prompts and many samples the prompt
   cache would be read n times per step); generated tokens get a [B*n, max_new_tokens - 1]
   cache. The first token of each row is sampled from the prefill logits.
3. A `lax.while_loop` feeds the last token of every row against the cache (the decoder's decode
   mode, `laser_jax.models.decode.step`: one token per row) and samples the next one, until max_new_tokens or until every row has produced an EOS id. A
   finished row feeds `pad_id` with attention mask 0, so it never becomes a key for anyone, and
   emits pad_id. RoPE positions count real tokens, as in the model.

Sampling per step: logits / temperature -> top-k (keep the k largest) -> top-p (nucleus: keep the
smallest set of most likely tokens whose mass is >= top_p, always at least the top token; tokens
tied with the last kept one are kept too) -> `jax.random.categorical` with a per-step key
`fold_in(key, step)`. temperature == 0 is greedy (argmax; top-k / top-p ignored). Same key and
same inputs -> same samples.

Returned log-probs (`SampleOutput`):
- `logprobs`: log_softmax(logits) at the sampled token, i.e. under the model's own distribution at
  temperature 1 with no truncation. This is what DPO / NLL use (the policy's log-likelihood).
- `sampling_logprobs`: log-prob under the distribution actually sampled from (temperature, top-k,
  top-p applied, renormalised); 0 for greedy. Useful for importance weights.
Both are 0 at padded positions (after the end).

Stop strings are textual and handled outside jit by `truncate_at_stop` / `decode`. After a stop
string cuts a text, `tokens`/`logprobs` still describe the uncut generation: re-tokenise the cut
text if token-level quantities must match it.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding

from laser_jax.errors import is_number
from laser_jax.models import decode as decode_mode
from laser_jax.models import decoder as D
from laser_jax.sharding import constrain, global_batch, logical_to_spec, mesh_of, replicated_for, to_host

F32 = jnp.float32


def _number(check):
    """`check` on a real number (not a bool) finite in float64; integer fields also accept 2.0."""
    return lambda v: is_number(v, dtype=np.float64) and check(v)


# field -> (rule, what a valid value is): the sampler's settings, checked once for both
# SamplingConfig and the run config's `sampling` section
RULES = {
    "max_new_tokens": (_number(lambda v: v >= 1 and v == int(v)), "an integer >= 1"),
    "n": (_number(lambda v: v >= 1 and v == int(v)), "an integer >= 1"),
    "temperature": (_number(lambda v: v >= 0), "a finite number >= 0 (0 = greedy)"),
    "top_p": (_number(lambda v: 0 < v <= 1), "in (0, 1] (1 = off)"),
    "top_k": (_number(lambda v: v >= 0 and v == int(v)), "an integer >= 0 (0 = off)"),
}


def check_fields(values, prefix: str = "") -> list[str]:
    """Problems with the sampler's fields present in `values` (a mapping), each named with `prefix`."""
    return [f"{prefix}{name}={values[name]!r} must be {need}" for name, (ok, need) in RULES.items()
            if name in values and not ok(values[name])]


def check_config(s) -> list[str]:
    """The run config's `sampling` section: the sampler's fields, max_prompt_tokens and prompt_bucket."""
    problems = check_fields(s, "sampling.")
    if not _number(lambda v: v >= 8)(s.get("max_prompt_tokens")):
        problems.append(f"sampling.max_prompt_tokens={s.get('max_prompt_tokens')!r} must be an integer >= 8")
    if "prompt_bucket" in s and not _number(lambda v: v >= 1 and v == int(v))(s["prompt_bucket"]):
        problems.append(f"sampling.prompt_bucket={s.get('prompt_bucket')!r} must be an integer >= 1 (tokens)")
    return problems


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """max_new_tokens: tokens generated per sample (the output width).
    temperature: 0 = greedy. top_p: nucleus mass, 1.0 = off. top_k: 0 = off.
    n: samples per prompt. eos_ids: ids that end a sample (the EOS token is kept and counted in
    `lengths`). pad_id: id written after the end (and fed, with mask 0, for finished rows)."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    n: int = 1
    eos_ids: tuple[int, ...] = ()
    pad_id: int = 0

    def __post_init__(self):
        if isinstance(self.eos_ids, int):
            object.__setattr__(self, "eos_ids", (self.eos_ids,))
        else:
            object.__setattr__(self, "eos_ids", tuple(int(e) for e in self.eos_ids))
        problems = check_fields(dataclasses.asdict(self))
        if problems:
            raise ValueError("invalid SamplingConfig: " + "; ".join(problems))


class SampleOutput(NamedTuple):
    """Row b*n + j of the flat batch is [b, j] here. Positions at or after `lengths` hold pad_id
    (tokens) and 0 (log-probs)."""

    tokens: jax.Array  # [B, n, max_new] int32
    logprobs: jax.Array  # [B, n, max_new] float32, log_softmax(logits) at the token (temperature 1)
    sampling_logprobs: jax.Array  # [B, n, max_new] float32, under the distribution sampled from
    lengths: jax.Array  # [B, n] int32, generated tokens including the EOS token if any
    finished: jax.Array  # [B, n] bool, an EOS id was produced
    steps: jax.Array  # int32 scalar, decode steps run (< max_new_tokens when all rows stopped early)
    # [B, E] float32: the final hidden state at each prompt's last token, from the prefill (the
    # bandit's "last_hidden" context, so that a LASeR step need not run the prompts again)
    last_hidden: jax.Array | None = None


@dataclasses.dataclass(frozen=True)
class _Static:
    """What the compiled program depends on (hashable; jit static argument)."""

    max_new_tokens: int
    n: int
    greedy: bool
    use_top_k: bool
    use_top_p: bool
    eos_ids: tuple[int, ...]
    pad_id: int


def _order_key(x):
    """float32 -> int32 with the same order (-inf < ... < -0 <= 0 < ... < inf)."""
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    return jnp.where(bits >= 0, bits, bits ^ 0x7FFFFFFF)


def _threshold(keys, weights, target):
    """Per row, the largest key t with sum(weights[keys >= t]) >= target, by 32 exact halvings of
    the int32 key range (no sort: XLA's CPU sort and top_k are slow inside loops). keys [R,V]
    int32, weights [R,V], target [R,1] (<= the row's total weight). Returns [R,1] int32."""
    lo = jnp.min(keys, axis=-1, keepdims=True)  # weight(keys >= lo) = total >= target
    hi = jnp.max(keys, axis=-1, keepdims=True)  # the answer is in [lo, hi]

    def halve(_, bounds):
        lo, hi = bounds  # invariant: ok(lo); the answer <= hi
        mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1) + ((lo ^ hi) & 1)  # ceil((lo+hi)/2), no overflow
        ok = jnp.sum(jnp.where(keys >= mid, weights, 0), axis=-1, keepdims=True) >= target
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid - 1)

    lo, _ = jax.lax.fori_loop(0, 32, halve, (lo, hi))
    return lo


def filter_logits(logits, temperature, top_p=1.0, top_k=0, *, use_top_k: bool = True, use_top_p: bool = True):
    """logits [R,V] -> temperature-scaled logits, -inf outside the top-k / top-p set.

    `temperature`, `top_p` and `top_k` may be traced (top_k <= 0 or >= V keeps everything);
    `use_top_k` / `use_top_p` (static) leave a filter out of the program altogether. Top-k
    keeps the tokens whose logit is >= the k-th largest; top-p (after top-k) keeps the smallest
    set of most likely tokens whose renormalised mass is >= top_p, at least the top token. Tokens
    tied with the last kept one are kept too. Thresholds are found exactly by bisection over the
    logits' order-preserving int32 keys (32 masked reductions each), never by sorting the
    vocabulary."""
    z = logits.astype(F32) / temperature
    vocab = z.shape[-1]
    neg_inf = jnp.asarray(-jnp.inf, F32)
    keys = _order_key(z)
    if use_top_k:
        k = jnp.asarray(top_k, jnp.int32)
        kth = _threshold(keys, jnp.ones((), jnp.int32), jnp.where((k <= 0) | (k > vocab), vocab, k))
        z = jnp.where(keys >= kth, z, neg_inf)
    if use_top_p:
        p = jnp.exp(z - jnp.max(z, axis=-1, keepdims=True))  # 0 where filtered out
        cut = _threshold(keys, p, top_p * jnp.sum(p, axis=-1, keepdims=True))
        z = jnp.where(keys >= cut, z, neg_inf)
    return z


def categorical(key, z):
    """One draw per row from softmax(z) [R,V] (-inf = excluded), exactly, in two stages: a chunk
    of the vocabulary by its mass, then a token inside the chunk, both with
    `jax.random.categorical`. Needs R * (V/W + W) random numbers instead of R * V (full-vocab
    Gumbel noise costs more than the argmax on CPU). Returns (tokens [R] int32, log-prob of the
    token under softmax(z) [R])."""
    rows, vocab = z.shape
    width = 1 << max(3, int(np.ceil(np.log2(np.sqrt(vocab)))))
    chunks = -(-vocab // width)
    zp = z if chunks * width == vocab else jnp.pad(z, ((0, 0), (0, chunks * width - vocab)),
                                                     constant_values=-jnp.inf)
    zc = zp.reshape(rows, chunks, width)
    zmax = jnp.max(z, axis=-1)
    mass = jnp.sum(jnp.exp(zc - zmax[:, None, None]), axis=-1)  # [R,C]
    k_chunk, k_tok = jax.random.split(key)
    chunk = jax.random.categorical(k_chunk, jnp.log(mass), axis=-1)
    inner = jnp.take_along_axis(zc, chunk[:, None, None], axis=1)[:, 0]  # [R,W]
    tok = (chunk * width + jax.random.categorical(k_tok, inner, axis=-1)).astype(jnp.int32)
    logp = jnp.take_along_axis(z, tok[:, None], axis=-1)[:, 0] - zmax - jnp.log(jnp.sum(mass, axis=-1))
    return tok, logp


def _choose(logits, key, temperature, top_p, top_k, st: _Static):
    """logits [R,V] -> (token [R], logprob at temperature 1 [R], sampling logprob [R])."""
    logp = jax.nn.log_softmax(logits.astype(F32), axis=-1)
    if st.greedy:
        tok = jnp.argmax(logits, axis=-1).astype(jnp.int32)
        samp_lp = jnp.zeros(tok.shape, F32)
    else:
        filtered = filter_logits(logits, temperature, top_p, top_k, use_top_k=st.use_top_k, use_top_p=st.use_top_p)
        tok, samp_lp = categorical(key, filtered)
    lp = jnp.take_along_axis(logp, tok[:, None], axis=-1)[:, 0]
    return tok, lp, samp_lp


def _is_eos(tok, eos_ids):
    if not eos_ids:
        return jnp.zeros(tok.shape, bool)
    return jnp.any(tok[:, None] == jnp.asarray(eos_ids, jnp.int32)[None, :], axis=-1)


def shard_cache(cache, mesh):
    """The decode state's arrays on `mesh`: prompt keys/values [B,KV,S,D] and the generated cache
    [B,n,KV,slots,D] split over the batch axes (B) and kv heads (tensor), masks [rows, ...] over the
    batch axes (each where it divides; `sharding.logical_to_spec`). Without this constraint XLA may
    keep the B x n cache whole on every chip. Nothing when `mesh` is None."""
    if mesh is None:
        return cache
    names = {4: ("batch", "kv_heads", None, None), 5: ("batch", None, "kv_heads", None, None)}

    def one(x):
        spec = logical_to_spec(names.get(x.ndim, ("batch",) + (None,) * (x.ndim - 1)) if x.ndim else (),
                               mesh=mesh, shape=x.shape)
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

    return jax.tree.map(one, cache)


def _start(model, prompt_ids, prompt_mask, key, temperature, top_p, top_k, st: _Static, mesh=None):
    """Steps 1-2: prefill the B prompts once and sample the first token of each of the B*n rows.
    Returns (the decode loop's carry: step, last token, finished, cache, tokens, logprobs,
    sampling logprobs, lengths; the prompts' last hidden states [B, E] float32)."""
    b, t = prompt_ids.shape
    n, m = st.n, st.max_new_tokens
    rows = b * n
    hidden, prefix = D.prefill(model, prompt_ids, prompt_mask)
    logits = model.logits(hidden[:, -1:])[:, 0]  # left padding: the last slot is the last token
    logits = jnp.repeat(logits, n, axis=0) if n > 1 else logits
    cache = shard_cache(decode_mode.init_state(prefix, n, max(m - 1, 1)), mesh)
    tok, lp, slp = _choose(logits, jax.random.fold_in(key, 0), temperature, top_p, top_k, st)
    finished = _is_eos(tok, st.eos_ids)
    tokens = jnp.full((rows, m), st.pad_id, jnp.int32).at[:, 0].set(tok)
    logprobs = jnp.zeros((rows, m), F32).at[:, 0].set(lp)
    samp_logprobs = jnp.zeros((rows, m), F32).at[:, 0].set(slp)
    lengths = jnp.ones((rows,), jnp.int32)
    carry = (jnp.ones((), jnp.int32), tok, finished, cache, tokens, logprobs, samp_logprobs, lengths)
    return carry, hidden[:, -1].astype(F32)


def _body(model, weights, key, temperature, top_p, top_k, st: _Static, carry, mesh=None):
    """Step 3, one decode step: every row feeds its last token (a finished row feeds pad with
    mask 0) and samples the next one."""
    step, last, finished, cache, tokens, logprobs, samp_logprobs, lengths = carry
    alive = ~finished
    logits, cache = decode_mode.step(model, weights, jnp.where(alive, last, st.pad_id), alive, cache)
    cache = shard_cache(cache, mesh)
    tok, lp, slp = _choose(logits, jax.random.fold_in(key, step), temperature, top_p, top_k, st)
    tok = jnp.where(alive, tok, st.pad_id)
    lp = jnp.where(alive, lp, 0.0)
    slp = jnp.where(alive, slp, 0.0)
    tokens = jax.lax.dynamic_update_slice(tokens, tok[:, None], (0, step))
    logprobs = jax.lax.dynamic_update_slice(logprobs, lp[:, None], (0, step))
    samp_logprobs = jax.lax.dynamic_update_slice(samp_logprobs, slp[:, None], (0, step))
    lengths = lengths + alive.astype(jnp.int32)
    finished = finished | (alive & _is_eos(tok, st.eos_ids))
    return step + 1, tok, finished, cache, tokens, logprobs, samp_logprobs, lengths


@partial(jax.jit, static_argnames=("graphdef", "st", "mesh"))
def start_jit(graphdef, state, prompt_ids, prompt_mask, key, temperature, top_p, top_k, *, st: _Static, mesh=None):
    """`_start` alone, jitted (the compile report lowers it: the sampler's prefill); `mesh`: the
    one the state lives on (the cache is split over it, as in `sample`). Returns the carry."""
    return _start(nnx.merge(graphdef, state), prompt_ids, prompt_mask, key, temperature, top_p, top_k, st, mesh)[0]


@partial(jax.jit, static_argnames=("graphdef", "st", "mesh"), donate_argnums=(2,))
def decode_step_jit(graphdef, state, carry, key, temperature, top_p, top_k, *, st: _Static, mesh=None):
    """One decode step alone, jitted (the compile report lowers it). Re-lays the decode weights out
    on each call, which the sampler does once per call (`decode.decode_weights`)."""
    model = nnx.merge(graphdef, state)
    return _body(model, decode_mode.decode_weights(model), key, temperature, top_p, top_k, st, carry, mesh)


@partial(jax.jit, static_argnames=("graphdef", "st", "out_sharding"))
def _sample_jit(graphdef, state, prompt_ids, prompt_mask, key, temperature, top_p, top_k, *, st: _Static,
                out_sharding=None):
    model = nnx.merge(graphdef, state)
    b, n, m = prompt_ids.shape[0], st.n, st.max_new_tokens
    mesh = None if out_sharding is None else out_sharding.mesh
    carry, last_hidden = _start(model, prompt_ids, prompt_mask, key, temperature, top_p, top_k, st, mesh)
    weights = decode_mode.decode_weights(model)

    def cond(carry):
        step, finished = carry[0], carry[2]
        return (step < m) & ~jnp.all(finished)

    body = partial(_body, model, weights, key, temperature, top_p, top_k, st, mesh=mesh)
    steps, _, finished, _, tokens, logprobs, samp_logprobs, lengths = jax.lax.while_loop(cond, body, carry)
    shape = (b, n, m)
    out = SampleOutput(tokens.reshape(shape), logprobs.reshape(shape), samp_logprobs.reshape(shape),
                       lengths.reshape(b, n), finished.reshape(b, n), steps, last_hidden)
    # the samples go back to every host (decoding, RM scoring): replicated outputs on a mesh
    return constrain(out, out_sharding)


def static_config(cfg: "SamplingConfig") -> _Static:
    """What the compiled sampler depends on, from a SamplingConfig."""
    greedy = cfg.temperature == 0
    return _Static(max_new_tokens=int(cfg.max_new_tokens), n=int(cfg.n), greedy=greedy,
                   use_top_k=(not greedy) and cfg.top_k > 0, use_top_p=(not greedy) and cfg.top_p < 1.0,
                   eos_ids=cfg.eos_ids, pad_id=int(cfg.pad_id))


def sample(model: D.CausalLM, prompt_ids, prompt_mask, key: jax.Array, cfg: SamplingConfig) -> SampleOutput:
    """n samples per prompt. prompt_ids / prompt_mask [B,T] left-padded (mask 1 = real token);
    key: a jax PRNG key. Returns SampleOutput with [B, n, max_new_tokens] arrays (see module doc).
    On a model placed on a mesh, host (numpy) prompts are split over the mesh's batch axes and
    the outputs are replicated (readable on every host)."""
    if not isinstance(model, D.CausalLM):
        raise TypeError(f"sample needs a CausalLM (an LM head), got {type(model).__name__}")
    graphdef, state = nnx.split(model)
    mesh = mesh_of(state)
    if mesh is not None:
        prompt_ids, prompt_mask = (x if isinstance(x, jax.Array) else global_batch(x, mesh)
                                   for x in (prompt_ids, prompt_mask))
    prompt_ids = jnp.asarray(prompt_ids, jnp.int32)
    prompt_mask = jnp.asarray(prompt_mask).astype(bool)
    if prompt_ids.ndim != 2 or prompt_ids.shape != prompt_mask.shape:
        raise ValueError(f"prompt_ids {prompt_ids.shape} and prompt_mask {prompt_mask.shape} must both be [B,T]")
    greedy = cfg.temperature == 0
    st = static_config(cfg)
    temperature = jnp.asarray(cfg.temperature if not greedy else 1.0, F32)
    return _sample_jit(graphdef, state, prompt_ids, prompt_mask, key, temperature, jnp.asarray(cfg.top_p, F32),
                       jnp.asarray(cfg.top_k, jnp.int32), st=st,
                       out_sharding=replicated_for(state))


def greedy(model: D.CausalLM, ids, mask, max_new_tokens: int, eos_ids: Sequence[int] = (), pad_id: int = 0
           ) -> SampleOutput:
    """Greedy decoding (n = 1, temperature 0); outputs have n = 1 ([B, 1, max_new_tokens])."""
    cfg = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0, n=1, eos_ids=tuple(eos_ids),
                         pad_id=pad_id)
    return sample(model, ids, mask, jax.random.key(0), cfg)


# ---------------------------------------------------------------------------------------------
# outside jit: token ids -> text, stop strings


def truncate_at_stop(texts: Sequence[str], stop_strings: Sequence[str]) -> list[str]:
    """Cut each text just before the earliest occurrence of any stop string (the stop string is
    removed); texts without one are returned unchanged. Empty stop strings are ignored."""
    stops = [s for s in stop_strings if s]
    out = []
    for text in texts:
        cut = len(text)
        for s in stops:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
        out.append(text[:cut])
    return out


def response_ids(out: SampleOutput, keep_eos: bool = False) -> list[list[list[int]]]:
    """Generated ids per prompt and sample, [B][n] lists, cut at `lengths`; the final EOS of a
    finished sample is dropped unless keep_eos."""
    tokens, lengths, finished = to_host((out.tokens, out.lengths, out.finished))
    b, n, _ = tokens.shape
    result = []
    for i in range(b):
        row = []
        for j in range(n):
            end = int(lengths[i, j]) - (1 if finished[i, j] and not keep_eos else 0)
            row.append(tokens[i, j, :end].tolist())
        result.append(row)
    return result


def decode(tokenizer: Any, out: SampleOutput, stop_strings: Sequence[str] = (),
           skip_special_tokens: bool = True) -> list[list[str]]:
    """Texts per prompt [B][n]: each sample's ids up to (not including) its EOS, decoded with the
    HF tokenizer, then cut at the first stop string."""
    ids = response_ids(out)
    flat = [seq for row in ids for seq in row]
    texts = tokenizer.batch_decode(flat, skip_special_tokens=skip_special_tokens)
    texts = truncate_at_stop(texts, stop_strings)
    n = len(ids[0]) if ids else 0
    return [texts[i * n:(i + 1) * n] for i in range(len(ids))]
