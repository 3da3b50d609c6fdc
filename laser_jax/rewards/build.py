"""Reward models from config entries.

    build_reward_models([
        {"name": "zephyr", "kind": "implicit_dpo", "path": "HuggingFaceH4/zephyr-7b-alpha",
         "ref_path": "HuggingFaceH4/mistral-7b-sft-alpha", "beta": 0.1},
        {"kind": "classifier", "path": "/models/my-rm"},
        {"kind": "likelihood", "path": "smollm2-135m-instruct"},
        {"kind": "verifier", "task": "gsm8k"},
    ])

Fields (unknown fields are an error):
- every kind: kind (required), name (default: the path's last part, or "exact_match:<task>"),
  noise (sigma > 0 wraps the RM in `NoisyRM`; 0 / absent = no noise; `noise_sigma` is accepted as
  another name for it), noise_seed (default 0).
- classifier / likelihood / implicit_dpo: path (required; anything `load_pretrained` accepts: an HF
  dir, a .gguf file, a laser_jax checkpoint, a hub id, "smollm2-135m-instruct"), tokenizer (a path
  to load the tokenizer from; default `path`), dtype (default the builder's), batch_size,
  max_length, chat_template (true / false / null = when the tokenizer has one), system.
- classifier: label (default 0). likelihood / implicit_dpo: chunk (LM-head positions at a time).
- implicit_dpo: ref_path (required), beta (default 0.1). The reference reads the policy's ids, so
  it must use the same tokenizer.
- verifier: task (gsm8k, strategyqa, mmlu or demo; default the builder's `default_task`, else
  required; rows scored with per-row `tasks` use theirs); rule (a program of
  `laser_jax.rewards.programs.RULES`: "exact_match", the default, "calculator", "choice_checker",
  "length"; default name "<rule>:<task>").

`cache` (a `laser_jax.models.cache.ModelCache` the caller keeps) loads each model and tokenizer
once, so RMs sharing a path (e.g. one reference model for several DPO RMs) load it once, and
tokenizers with the same contents become one object: what lets `score_with` stack RMs fine-tuned
from one base.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from laser_jax.models import CausalLM, SequenceClassifier
from laser_jax.models.cache import ModelCache
from laser_jax.models.decoder import to_dtype
from laser_jax.rewards.base import RewardModel
from laser_jax.rewards.classifier import ClassifierRM
from laser_jax.rewards.lm import ImplicitDPORM, LikelihoodRM
from laser_jax.rewards.neural import DEFAULT_CHUNK
from laser_jax.rewards.noise import NoisyRM
from laser_jax.rewards.programs import RULES, program

KINDS = ("classifier", "likelihood", "implicit_dpo", "verifier")
_COMMON = {"kind", "name", "noise", "noise_sigma", "noise_seed"}
_NEURAL = {"path", "tokenizer", "dtype", "batch_size", "max_length", "chat_template", "system"}
FIELDS = {
    "classifier": _COMMON | _NEURAL | {"label"},
    "likelihood": _COMMON | _NEURAL | {"chunk"},
    "implicit_dpo": _COMMON | _NEURAL | {"chunk", "ref_path", "beta"},
    "verifier": _COMMON | {"task", "rule"},
}
REQUIRED = {"classifier": ("path",), "likelihood": ("path",), "implicit_dpo": ("path", "ref_path"),
            "verifier": ("task",)}


def _as_int(value) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _number(spec: Mapping, field: str, where: str, default, cast, check, need: str):
    value = spec.get(field, default)
    if value is None:
        return None
    try:
        value = cast(value)
        ok = not isinstance(spec.get(field), bool) and check(value)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{where}.{field}={spec.get(field)!r} must be {need}")
    return value


def build_reward_model(spec: Mapping[str, Any], *, index: int | None = None, cache: ModelCache | None = None,
                       dtype: str = "float32", mesh=None, batch_size: int = 8,
                       default_task: str | None = None) -> RewardModel:
    """One reward model from a config entry (see the module doc). `index` names the entry in errors
    ("rewards[2].kind=..."); `dtype`, `mesh`, `batch_size` are defaults an entry may override;
    `default_task` is a verifier's task when the entry gives none (the run's data.task)."""
    where = f"rewards[{index}]" if index is not None else "rewards"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping with a 'kind' field, got {type(spec).__name__}")
    cache = ModelCache() if cache is None else cache
    kind = spec.get("kind")
    if kind is None:
        raise ValueError(f"{where}.kind is missing; use one of {KINDS}")
    if kind not in KINDS:
        raise ValueError(f"{where}.kind={kind!r} is not one of {KINDS}")
    unknown = sorted(set(spec) - FIELDS[kind])
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown} for kind {kind!r}; allowed: {sorted(FIELDS[kind])}")
    if kind == "verifier" and spec.get("task") in (None, "") and default_task:
        spec = {**spec, "task": default_task}
    for field in REQUIRED[kind]:
        if spec.get(field) in (None, ""):
            raise ValueError(f"{where}.{field} is missing (required for kind {kind!r})")
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise ValueError(f"{where}.name={name!r} must be a non-empty string")
    if "noise" in spec and "noise_sigma" in spec:
        raise ValueError(f"{where}: give noise or noise_sigma (the same thing), not both")
    noise_field = "noise_sigma" if "noise_sigma" in spec else "noise"
    sigma = _number(spec, noise_field, where, None, float, lambda v: v >= 0, "a number >= 0")
    if not sigma and spec.get("noise_seed") is not None:
        raise ValueError(f"{where}.noise_seed is set but {noise_field} is not (or is 0)")
    seed = _number(spec, "noise_seed", where, 0, _as_int, lambda v: True, "an integer")

    if kind == "verifier":
        rule = spec.get("rule", "exact_match")
        if rule not in RULES:
            raise ValueError(f"{where}.rule={rule!r} is not one of {tuple(RULES)}")
        try:
            rm: Any = program(rule, spec["task"], name)
        except Exception as e:  # DataError naming the valid tasks
            raise ValueError(f"{where}.task: {e}") from None
    else:
        path = str(spec["path"])
        name = name or PurePath(path.rstrip("/")).name or path
        mdtype = spec.get("dtype", dtype)
        try:
            to_dtype(mdtype)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}.dtype: {e}") from None
        chat = spec.get("chat_template")
        if chat is not None and not isinstance(chat, bool):
            raise ValueError(f"{where}.chat_template={chat!r} must be true, false or null")
        system = spec.get("system")
        if system is not None and not isinstance(system, str):
            raise ValueError(f"{where}.system must be a string")
        common = dict(
            batch_size=_number(spec, "batch_size", where, batch_size, _as_int, lambda v: v >= 1, "an integer >= 1"),
            max_length=_number(spec, "max_length", where, None, _as_int, lambda v: v >= 2, "an integer >= 2"),
            chat_template=chat, system=system)
        chunk = _number(spec, "chunk", where, DEFAULT_CHUNK, _as_int, lambda v: v >= 1, "an integer >= 1 or null")
        beta = _number(spec, "beta", where, 0.1, float, lambda v: v > 0, "a number > 0")
        tok = cache.tokenizer(spec.get("tokenizer") or path, f"{where}.tokenizer" if spec.get("tokenizer")
                              else f"{where}.path")
        model = cache.model(path, mdtype, mesh, f"{where}.path")
        head = "SequenceClassifier (*ForSequenceClassification)" if kind == "classifier" else "CausalLM (*ForCausalLM)"
        want = SequenceClassifier if kind == "classifier" else CausalLM
        if not isinstance(model, want):
            raise ValueError(f"{where}.path={path!r}: kind {kind!r} needs a {head} checkpoint, this one loads as "
                             f"{type(model).__name__}")
        if kind == "classifier":
            label = _number(spec, "label", where, 0, _as_int, lambda v: 0 <= v < model.cfg.num_labels,
                            f"an integer in [0, {model.cfg.num_labels}) (the model's labels)")
            rm = ClassifierRM(model, tok, name, label, **common)
        else:
            if kind == "likelihood":
                rm = LikelihoodRM(model, tok, name, chunk=chunk, **common)
            else:
                ref = cache.model(str(spec["ref_path"]), mdtype, mesh, f"{where}.ref_path")
                if not isinstance(ref, CausalLM):
                    raise ValueError(f"{where}.ref_path={spec['ref_path']!r}: the reference must be a CausalLM "
                                     f"checkpoint, this one loads as {type(ref).__name__}")
                rm = ImplicitDPORM(model, ref, tok, beta, name, chunk=chunk, **common)

    if sigma:
        rm = NoisyRM(rm, sigma, seed, name=spec.get("name") or f"{rm.name}+noise{sigma:g}")
    return rm


def build_reward_models(specs: Sequence[Mapping[str, Any]], *, cache: ModelCache | None = None,
                        **kw) -> list[RewardModel]:
    """`build_reward_model` for each entry (sharing one `cache`); names must be unique."""
    if isinstance(specs, Mapping) or isinstance(specs, str):
        raise ValueError("rewards must be a list of reward-model entries")
    cache = ModelCache() if cache is None else cache
    rms = [build_reward_model(s, index=i, cache=cache, **kw) for i, s in enumerate(specs)]
    seen: dict[str, int] = {}
    for i, rm in enumerate(rms):
        if rm.name in seen:
            raise ValueError(f"rewards[{i}].name={rm.name!r} repeats rewards[{seen[rm.name]}]'s name; give each "
                             "reward model a unique name")
        seen[rm.name] = i
    return rms
