"""Judges: given a prompt and two responses (shown first and second), how strongly the first is
better. ``judge_pairs`` asks a judge about run A against run B in both presentation orders.

Judge specs (``--judge`` of ``python -m laser_jax.judge``):

- ``lm:<model>``: an instruction-tuned causal LM (an HF directory, a .gguf file, a laser_jax
  checkpoint, a hub id, or ``smollm2-135m-instruct``) run through laser_jax's own JAX models. It is
  shown ``JUDGE_TEMPLATE`` as the user turn of its chat template (with the generation prompt) and
  its answer is read, without sampling, from the logits of the two answer tokens at the first
  generated position: ``P(first is better) = softmax over {A, B}`` = sigmoid(l_A - l_B)
  (``winrate.judgement_from_logits``; label "tie" when |l_A - l_B| <= tie_margin). Each pair is
  judged in both orders. ``mass`` records P(A) + P(B) under the full vocabulary: how much of its
  probability the judge put on a valid answer at all.
- ``classifier:<path>``, ``likelihood:<path>``, ``verifier:<task>``, or a JSON object with any
  entry ``laser_jax.rewards.build`` accepts (e.g. ``{"kind": "implicit_dpo", "path": ...,
  "ref_path": ...}``): a reward model scores each response on its own; the higher score wins
  (log-odds = score difference, P = its sigmoid, "tie" when the difference is <= tie_margin).
  Its verdict cannot depend on the order, so ONE order is judged and the other mirrored
  (``orders`` = 1; no position bias to measure).
- ``python:<module>:<function>``: ``function(prompts, firsts, seconds)`` returning P(first is
  better) per pair (a custom judge, e.g. a call to an API; the tests use it). Judged in both orders.

Answer tokens (``answer_token_ids``). A chat-template judge starts its answer on a fresh line
after the assistant header, where BPE vocabularies hold the bare letters "A" and "B" as tokens, so
the candidates are "A"/"B" first, then " A"/" B"; a plain-text judge (tokenizer without a chat
template) gets the prompt ending in "Better response:" and the order is " A"/" B" first, then
"A"/"B". Each candidate is tokenised without special tokens and its FIRST token taken (a letter
that splits into several tokens is read from its first piece, which is what the judge must emit
first); the first candidate pair whose first tokens differ is used. A tokenizer for which no pair
differs (both letters start with the same piece) is refused.

Truncation (``truncate_text``): the prompt keeps its first ``max_prompt_tokens`` judge tokens and
each response its first ``max_response_tokens`` (the same limit for both runs, so a cut never
favours one); cut text ends with ``TRUNCATION_MARK``. A judge input still longer than the judge
model's context is refused, naming the two limits to lower.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from laser_jax.data.example import DataError
from laser_jax.judge.winrate import FIRST, SECOND, TIE, judgement_from_logits
from laser_jax.models import CausalLM
from laser_jax.models.cache import ModelCache
from laser_jax.models.loading import check_model_path
from laser_jax.rewards.answers import answer_pair, has_chat_template, read_answer_logits
from laser_jax.rewards.build import build_reward_model
from laser_jax.rewards.spec import check_spec
from laser_jax.rewards.python_fn import load_function
from laser_jax.errors import is_int

__all__ = ["JUDGE_TEMPLATE", "KINDS", "PLAIN_SUFFIX", "TRUNCATION_MARK", "FunctionJudge", "LMJudge",
           "RMJudge", "Verdicts", "answer_token_ids", "build_judge", "judge_inputs", "judge_pairs",
           "judge_text", "parse_judge", "read_answer_logits", "truncate_text"]

log = logging.getLogger("laser_jax")

JUDGE_TEMPLATE = """\
You are comparing two responses to the same user request. Decide which response is better: more \
helpful, more correct and clearer. Do not let the order of the responses or their length decide.

[User request]
{prompt}

[Response A]
{first}

[Response B]
{second}

Which response is better? Answer with a single letter: A or B."""
PLAIN_SUFFIX = "\n\nBetter response:"  # a judge without a chat template continues after this
TRUNCATION_MARK = "\n[truncated]"
KINDS = ("lm", "classifier", "likelihood", "verifier", "python", "{json reward-model entry}")
RM_KINDS = ("classifier", "likelihood", "verifier")


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """One verdict per pair: P(first is better), its label ("first"/"second"/"tie") and
    judge-specific numbers per pair (``extra``: name -> [N])."""

    p_first: np.ndarray
    label: np.ndarray
    extra: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def mirrored(self) -> "Verdicts":
        """The verdicts with the two responses swapped (for judges that see each alone)."""
        swap = {FIRST: SECOND, SECOND: FIRST, TIE: TIE}
        return Verdicts(1.0 - self.p_first, np.array([swap[str(x)] for x in self.label]), {})


# ---------------------------------------------------------------------------- the LM judge's text


def judge_text(prompt: str, first: str, second: str) -> str:
    """The judge's user message for one pair (``JUDGE_TEMPLATE``)."""
    return JUDGE_TEMPLATE.format(prompt=prompt, first=first, second=second)


def truncate_text(tokenizer: Any, text: str, max_tokens: int) -> tuple[str, bool]:
    """(``text`` cut to its first ``max_tokens`` tokens of ``tokenizer`` + ``TRUNCATION_MARK``,
    True), or (``text``, False) when it fits. The cut is at the end of the last kept token in the
    original text (offsets of a fast tokenizer), else the kept tokens decoded."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if len(ids) <= max_tokens:
        return text, False
    try:
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        kept = text[:offsets[max_tokens - 1][1]] if max_tokens else ""
    except (NotImplementedError, TypeError, KeyError, ValueError):
        kept = tokenizer.decode(ids[:max_tokens], skip_special_tokens=True)
    return kept + TRUNCATION_MARK, True


def answer_token_ids(tokenizer: Any) -> tuple[int, int, str]:
    """(id read for "A", id read for "B", the letter form used: "A" or " A"); rule in the module
    docstring (`laser_jax.rewards.answers.answer_pair`)."""
    found = answer_pair(tokenizer, "A", "B")
    if found is not None:
        return found
    name = getattr(tokenizer, "name_or_path", type(tokenizer).__name__)
    raise DataError(f"--judge: the judge's tokenizer ({name}) starts 'A' and 'B' (also ' A' and ' B') "
                    "with the same token, so its answer cannot be read from one position; use "
                    "another judge model")


def judge_inputs(tokenizer: Any, prompts: Sequence[str], firsts: Sequence[str],
                 seconds: Sequence[str], *, max_prompt_tokens: int, max_response_tokens: int,
                 ) -> tuple[list[list[int]], np.ndarray]:
    """The judge's token ids per pair (chat template with the generation prompt, or the plain text
    + ``PLAIN_SUFFIX``) and, per pair, [prompt truncated, responses truncated (0-2)] ([N, 2])."""
    rows, cut = [], np.zeros((len(prompts), 2), np.int64)
    for n, (prompt, first, second) in enumerate(zip(prompts, firsts, seconds)):
        prompt, p_cut = truncate_text(tokenizer, prompt, max_prompt_tokens)
        first, f_cut = truncate_text(tokenizer, first, max_response_tokens)
        second, s_cut = truncate_text(tokenizer, second, max_response_tokens)
        cut[n] = p_cut, f_cut + s_cut
        text = judge_text(prompt, first, second)
        if has_chat_template(tokenizer):
            out = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=True,
                                                add_generation_prompt=True, return_dict=True)
            ids = list(out["input_ids"])
        else:
            ids = list(tokenizer(text + PLAIN_SUFFIX)["input_ids"])
        rows.append([int(i) for i in ids])
    return rows, cut


# ---------------------------------------------------------------------------- reading the answer


class LMJudge:
    """An instruction-tuned LM asked which response is better (see the module docstring)."""

    symmetric = False

    def __init__(self, model, tokenizer, *, spec: str, batch_size: int = 8, max_prompt_tokens: int = 1024,
                 max_response_tokens: int = 1024):

        if not isinstance(model, CausalLM):
            raise DataError(f"--judge {spec}: an lm judge needs a causal LM (*ForCausalLM), this model "
                            f"loads as {type(model).__name__}; for a reward model use classifier:<path>")
        for name, v in (("batch_size", batch_size), ("max_prompt_tokens", max_prompt_tokens),
                        ("max_response_tokens", max_response_tokens)):
            if not is_int(v, 1):
                raise DataError(f"--{name}={v!r} must be a whole number >= 1")
        self.model, self.tokenizer, self.spec = model, tokenizer, spec
        self.batch_size, self.max_prompt_tokens, self.max_response_tokens = \
            batch_size, max_prompt_tokens, max_response_tokens
        self.id_a, self.id_b, self.form = answer_token_ids(tokenizer)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    def describe(self) -> dict[str, Any]:
        tok = self.tokenizer
        return {"kind": "lm", "spec": self.spec, "orders": 2, "template": JUDGE_TEMPLATE,
                "chat_template": has_chat_template(tok), "plain_suffix": None if has_chat_template(tok) else PLAIN_SUFFIX,
                "answer_tokens": {"A": [self.id_a, tok.convert_ids_to_tokens(self.id_a)],
                                  "B": [self.id_b, tok.convert_ids_to_tokens(self.id_b)]},
                "answer_form": self.form, "max_prompt_tokens": self.max_prompt_tokens,
                "max_response_tokens": self.max_response_tokens, "truncation_mark": TRUNCATION_MARK}

    def verdicts(self, prompts, firsts, seconds, *, golds=None, tie_margin: float = 0.0) -> Verdicts:
        del golds
        rows, cut = judge_inputs(self.tokenizer, prompts, firsts, seconds,
                                 max_prompt_tokens=self.max_prompt_tokens,
                                 max_response_tokens=self.max_response_tokens)
        context = self.model.cfg.max_position_embeddings
        longest = max(map(len, rows))
        if context and longest > context:
            raise DataError(f"--judge {self.spec}: a judge input has {longest} tokens, more than the "
                            f"judge model's context of {context}; lower --max_prompt_tokens "
                            f"({self.max_prompt_tokens}) or --max_response_tokens ({self.max_response_tokens})")
        pair, lse = read_answer_logits(self.model, rows, (self.id_a, self.id_b), batch_size=self.batch_size,
                                       pad_id=self.pad_id)
        p, label = judgement_from_logits(pair[:, 0], pair[:, 1], tie_margin=tie_margin)
        mass = np.exp(pair[:, 0] - lse) + np.exp(pair[:, 1] - lse)
        return Verdicts(np.asarray(p), np.asarray(label),
                        {"logit_a": pair[:, 0], "logit_b": pair[:, 1], "mass": mass,
                         "prompt_truncated": cut[:, 0], "responses_truncated": cut[:, 1]})


# ---------------------------------------------------------------------------- other judges


class RMJudge:
    """A reward model: the response with the higher score is better (one order; see the module
    docstring)."""

    symmetric = True

    def __init__(self, rm, *, spec: str, entry: dict):
        self.rm, self.spec, self.entry = rm, spec, entry

    def describe(self) -> dict[str, Any]:
        return {"kind": "reward_model", "spec": self.spec, "entry": self.entry, "name": self.rm.name,
                "orders": 1, "rule": "higher score wins; P(first) = sigmoid(score difference); the "
                                     "other order is mirrored (each response is scored alone)"}

    def verdicts(self, prompts, firsts, seconds, *, golds=None, tie_margin: float = 0.0) -> Verdicts:
        n = len(prompts)
        g = None if golds is None else list(golds) * 2
        scores = np.asarray(self.rm.score(list(prompts) * 2, list(firsts) + list(seconds), g), np.float64)
        if not np.isfinite(scores).all():
            raise DataError(f"--judge {self.spec}: the reward model gave a non-finite score (nan or inf)")
        p, label = judgement_from_logits(scores[:n], scores[n:], tie_margin=tie_margin)
        return Verdicts(np.asarray(p), np.asarray(label), {"score_first": scores[:n], "score_second": scores[n:]})


class FunctionJudge:
    """``fn(prompts, firsts, seconds) -> P(first is better)`` per pair; label "tie" when
    |log-odds| <= tie_margin (P = 0.5 exactly is always a tie)."""

    symmetric = False

    def __init__(self, fn: Callable, *, spec: str):
        self.fn, self.spec = fn, spec

    def describe(self) -> dict[str, Any]:
        return {"kind": "python", "spec": self.spec, "orders": 2}

    def verdicts(self, prompts, firsts, seconds, *, golds=None, tie_margin: float = 0.0) -> Verdicts:
        del golds
        p = np.asarray(self.fn(list(prompts), list(firsts), list(seconds)), np.float64).reshape(-1)
        if p.shape != (len(prompts),) or not np.all((p >= 0) & (p <= 1)):
            raise DataError(f"--judge {self.spec}: the function must return one probability in [0, 1] "
                            f"(P(first is better)) per pair: {len(prompts)} pairs, got {p.size} values"
                            + (f", {p[~((p >= 0) & (p <= 1))][0]} among them" if p.size == len(prompts) else ""))
        with np.errstate(divide="ignore"):
            log_odds = np.clip(np.log(p) - np.log1p(-p), -1e9, 1e9)
        _, label = judgement_from_logits(log_odds, np.zeros_like(log_odds), tie_margin=tie_margin)
        return Verdicts(p, np.asarray(label), {})


# ---------------------------------------------------------------------------- specs


def parse_judge(spec: str) -> tuple[str, Any]:
    """(kind, argument) of a ``--judge`` spec without loading anything: ("lm", path),
    ("rm", reward-model entry) or ("python", (module, function)); DataError naming --judge."""
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"--judge is required: one of {', '.join(KINDS)}, e.g. --judge=lm:smollm2-135m-instruct")
    spec = spec.strip()
    if spec.startswith("{"):
        try:
            entry = json.loads(spec)
        except json.JSONDecodeError as e:
            raise DataError(f"--judge {spec}: not valid JSON ({e.msg}); give a reward-model entry such as "
                            '{"kind": "classifier", "path": "/models/rm"}') from None
        return _rm_entry(entry, spec)
    kind, sep, arg = spec.partition(":")
    if not sep or not arg:
        raise DataError(f"--judge {spec}: expected <kind>:<argument> with kind one of {', '.join(KINDS)}, "
                        "e.g. lm:smollm2-135m-instruct or classifier:/models/rm")
    if kind == "lm":

        problems = check_model_path(arg, f"--judge {spec}")
        if problems:
            raise DataError("; ".join(problems))
        return "lm", arg
    if kind in RM_KINDS:
        return _rm_entry({"kind": kind, ("task" if kind == "verifier" else "path"): arg}, spec)
    if kind == "python":
        module, sep, fn = arg.rpartition(":")
        if not (sep and module and fn):
            raise DataError(f"--judge {spec}: a python judge is python:<module>:<function>")
        return "python", (module, fn)
    raise DataError(f"--judge {spec}: unknown judge kind {kind!r}; use one of {', '.join(KINDS)}")


def _rm_entry(entry: Any, spec: str) -> tuple[str, dict]:

    problems = check_spec(entry)
    if problems:
        raise DataError(f"--judge {spec}: " + "; ".join(p.replace("rewards", "entry", 1) for p in problems))
    return "rm", dict(entry)


def build_judge(spec: str, *, dtype: str = "float32", batch_size: int = 8, max_prompt_tokens: int = 1024,
                max_response_tokens: int = 1024, cache=None):
    """The judge of a ``--judge`` spec (models loaded through ``cache``, a ModelCache)."""
    kind, arg = parse_judge(spec)
    if kind == "python":
        module, fn = arg  # "module:fn" or "file.py:fn", as a python reward model's function
        return FunctionJudge(load_function(f"{module}:{fn}", f"--judge {spec}"), spec=spec)

    cache = ModelCache() if cache is None else cache
    if kind == "lm":
        tokenizer = cache.tokenizer(arg, f"--judge {spec}")
        model = cache.model(arg, dtype, None, f"--judge {spec}")
        return LMJudge(model, tokenizer, spec=spec, batch_size=batch_size, max_prompt_tokens=max_prompt_tokens,
                       max_response_tokens=max_response_tokens)

    try:
        rm = build_reward_model(arg, cache=cache, dtype=dtype, batch_size=batch_size)
    except ValueError as e:
        raise DataError(f"--judge {spec}: " + str(e).replace("rewards", "entry", 1)) from None
    return RMJudge(rm, spec=spec, entry=arg)


def judge_pairs(judge, prompts: Sequence[str], a: Sequence[str], b: Sequence[str], *,
                golds: Sequence[Any] | None = None, tie_margin: float = 0.0) -> tuple[Verdicts, Verdicts]:
    """(verdicts in order AB: A's response first, verdicts in order BA: B's first). Judges that see
    each response alone (``symmetric``) are asked once and the other order mirrored; the others
    are asked about both orders in one call (2N pairs, batched together)."""
    n = len(prompts)
    if judge.symmetric:
        ab = judge.verdicts(prompts, a, b, golds=golds, tie_margin=tie_margin)
        return ab, ab.mirrored()
    g = None if golds is None else list(golds) * 2
    both = judge.verdicts(list(prompts) * 2, list(a) + list(b), list(b) + list(a), golds=g, tie_margin=tie_margin)
    split = [Verdicts(both.p_first[s], both.label[s], {k: v[s] for k, v in both.extra.items()})
             for s in (slice(0, n), slice(n, 2 * n))]
    return split[0], split[1]
