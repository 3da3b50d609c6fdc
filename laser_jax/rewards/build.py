"""Reward models from config entries.

    build_reward_models([
        {"name": "zephyr", "kind": "implicit_dpo", "path": "HuggingFaceH4/zephyr-7b-alpha",
         "ref_path": "HuggingFaceH4/mistral-7b-sft-alpha", "beta": 0.1},
        {"kind": "classifier", "path": "/models/my-rm"},
        {"kind": "likelihood", "path": "smollm2-135m-instruct"},
        {"kind": "verifier", "task": "gsm8k"},
        {"kind": "python", "function": "my_rewards:brevity", "max_words": 50},
        {"kind": "judge", "path": "smollm2-135m-instruct", "question": "Is the final answer correct?"},
    ])

Fields (unknown fields are an error):
- every kind: kind (required), name (default: the path's last part, or "exact_match:<task>"),
  noise (sigma > 0 wraps the RM in `NoisyRM`; 0 / absent = no noise; `noise_sigma` is accepted as
  another name for it), noise_seed (default 0).
- classifier / likelihood / implicit_dpo / judge: path (required; anything `load_pretrained` accepts: an HF
  dir, a .gguf file, a laser_jax checkpoint, a hub id, "smollm2-135m-instruct"), tokenizer (a path
  to load the tokenizer from; default `path`), dtype (default the builder's), batch_size,
  max_length, chat_template (true / false / null = when the tokenizer has one), system.
- classifier: label (default 0). likelihood / implicit_dpo: chunk (LM-head positions at a time),
  share_prompt (default true: a prompt's n responses are scored against the prompt run once).
- implicit_dpo: beta (default 0.1), and its reference, one of:
  - ref_path: a second model (the policy is `path`). It reads the policy's ids, so it must use the
    same tokenizer.
  - adapter: a LoRA adapter file (`laser_jax.models.adapters.save_adapter`); the policy is `path`
    + the adapter, the reference `path` itself. adapter_sha256 (optional, 64 hex digits): the
    file's expected sha256, checked by the config check and at load (a mismatch names the file,
    the expected and the actual hash). Adapter entries on one base (same path, dtype, tokenizer
    and settings) are scored together: the base once plus K adapter passes (`multi_lora.py`).
- verifier: task (a task of `laser_jax.data.tasks.TASK_NAMES`; default the builder's
  `default_task`, else required; rows scored with per-row `tasks` use theirs); rule (a program of
  `laser_jax.rewards.programs.RULES`: "exact_match", the default, "calculator", "choice_checker",
  "length", "in_context", "ifeval_length", "ifeval_format", "ifeval_words", "ifeval_all"; default
  name "<rule>:<task>").
- python: function ("package.module:fn" or "path/to/file.py:fn", required; called as
  fn(prompts, responses, golds, **every other field of the entry) -> one number or None per
  response; `laser_jax.rewards.python_fn`); default name the function's.
- judge: an LM asked a yes/no question about each (prompt, response), score = log p(yes) -
  log p(no) at the answer position (`laser_jax.rewards.judge`): question (a question, or a whole
  template with {prompt} and {response}; default: the row's task's question), yes / no (answer
  strings whose first tokens are read; default "Yes" / "No", bare or space-prefixed as the
  tokenizer splits them), share_prompt (default true: the text before the response runs once for
  a prompt's n responses).
- http: url (required, http:// or https://), batch_size (32), concurrency (4), timeout (60 s),
  retries (3), backoff (1.0 s, doubled per retry), headers (a mapping of strings), api ("scores":
  POST prompts / responses / golds, read scores; "openai_completions": a judge behind an
  OpenAI-compatible /v1/completions endpoint, score = logprob(yes) - logprob(no) of its one-token
  answer); the body and reply are in `laser_jax.rewards.http`; default name the url's host and path.
  With api="openai_completions" only: model (required: the served model's name), question (as
  judge's; default the row's task's), yes / no ("Yes" / "No": tokens equal to them once
  whitespace is stripped), logprobs (20: the top-K logprobs asked for; OpenAI's own API allows 5).

Each field's default lives in `FIELDS` (read by the check and the build alike); an explicit null
takes the default, except for dtype, chunk, share_prompt and rule, which take a null as given
(chunk: no chunking; the others are checked as given). A bad entry is a ConfigError naming its field.

`cache` (a `laser_jax.models.cache.ModelCache` the caller keeps) loads each model and tokenizer
once, so RMs sharing a path (e.g. one reference model for several DPO RMs) load it once, and
tokenizers with the same contents become one object: what lets `score_with` stack RMs fine-tuned
from one base.
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from laser_jax.data.tasks import TASK_NAMES, TASKS
from laser_jax.errors import ConfigError, is_number
from laser_jax.models import CausalLM, SequenceClassifier
from laser_jax.models.adapters import SHA256, file_sha256, read_adapter
from laser_jax.models.cache import ModelCache
from laser_jax.models.loading import check_model_path
from laser_jax.models.decoder import to_dtype
from laser_jax.rewards.base import RewardModel
from laser_jax.rewards.classifier import ClassifierRM
from laser_jax.rewards.lm import ImplicitDPORM, LikelihoodRM
from laser_jax.rewards.multi_lora import AdapterDPORM
from laser_jax.rewards.neural import DEFAULT_CHUNK
from laser_jax.rewards.noise import NoisyRM
from laser_jax.rewards.programs import RULES, program
from laser_jax.rewards.http import HttpRM
from laser_jax.rewards.judge import JudgeRM, check_question
from laser_jax.rewards.python_fn import PythonRM, check_signature, load_function

KINDS = ("classifier", "likelihood", "implicit_dpo", "verifier", "python", "http", "judge")
BUILDER = "<the builder's>"  # a default given by the builder's keyword (dtype, batch_size, default_task)


def _as_int(value) -> int:
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return int(value)


def _finite(check):
    """`check` on a value finite in float32, the dtype scores are computed in (1e39 would be inf)."""
    return lambda v: is_number(v) and check(v)


@dataclasses.dataclass(frozen=True)
class Field:
    """One entry field: its default (`BUILDER`: the builder's keyword), whether an explicit null is
    a value of its own (else null takes the default), and for a number its cast, rule and the rule
    as an error says it."""

    default: Any = None
    null_is_value: bool = False
    cast: Callable[[Any], Any] | None = None
    check: Callable[[Any], bool] = lambda v: True
    need: str = ""


_NOISE = Field(None, cast=float, check=_finite(lambda v: v >= 0), need="a finite number >= 0")
_COMMON = {"kind": Field(), "name": Field(), "noise": _NOISE, "noise_sigma": _NOISE,
           "noise_seed": Field(0, cast=_as_int, need="an integer")}
_NEURAL = {"path": Field(), "tokenizer": Field(), "dtype": Field(BUILDER, null_is_value=True),
           "batch_size": Field(BUILDER, cast=_as_int, check=lambda v: v >= 1, need="an integer >= 1"),
           "max_length": Field(None, cast=_as_int, check=lambda v: v >= 2, need="an integer >= 2"),
           "chat_template": Field(), "system": Field()}
_LM = {"chunk": Field(DEFAULT_CHUNK, null_is_value=True, cast=_as_int, check=lambda v: v >= 1,
                      need="an integer >= 1 or null"),
       "share_prompt": Field(True, null_is_value=True)}
FIELDS: dict[str, dict[str, Field]] = {
    # label's upper bound is the model's number of labels, checked once it is loaded
    "classifier": {**_COMMON, **_NEURAL, "label": Field(0, cast=_as_int, check=lambda v: v >= 0,
                                                        need="an integer >= 0 (one of the model's labels)")},
    "likelihood": {**_COMMON, **_NEURAL, **_LM},
    "implicit_dpo": {**_COMMON, **_NEURAL, **_LM, "ref_path": Field(), "adapter": Field(), "adapter_sha256": Field(),
                     "beta": Field(0.1, cast=float, check=_finite(lambda v: v > 0), need="a number > 0")},
    "verifier": {**_COMMON, "task": Field(BUILDER), "rule": Field("exact_match", null_is_value=True)},
    "judge": {**_COMMON, **_NEURAL, "question": Field(), "yes": Field(), "no": Field(),
              "share_prompt": Field(True, null_is_value=True)},
    "python": {**_COMMON, "function": Field()},  # every other field: a keyword argument of the function
    "http": {**_COMMON, "url": Field(), "headers": Field(),
             "batch_size": Field(32, cast=_as_int, check=lambda v: v >= 1, need="an integer >= 1"),
             "concurrency": Field(4, cast=_as_int, check=lambda v: v >= 1, need="an integer >= 1"),
             "timeout": Field(60.0, cast=float, check=_finite(lambda v: v > 0), need="a number of seconds > 0"),
             "retries": Field(3, cast=_as_int, check=lambda v: v >= 0, need="an integer >= 0"),
             "backoff": Field(1.0, cast=float, check=_finite(lambda v: v >= 0), need="a number of seconds >= 0"),
             # the OpenAI-compatible completions form (api="openai_completions"); only there
             "api": Field("scores"), "model": Field(), "question": Field(), "yes": Field("Yes"), "no": Field("No"),
             "logprobs": Field(20, cast=_as_int, check=lambda v: v >= 1, need="an integer >= 1 (top logprobs)")},
}
HTTP_APIS = ("scores", "openai_completions")
HTTP_JUDGE = ("model", "question", "yes", "no", "logprobs")  # fields of the openai_completions form
REQUIRED = {"classifier": ("path",), "likelihood": ("path",), "implicit_dpo": ("path",),
            "verifier": ("task",), "python": ("function",), "http": ("url",), "judge": ("path",)}
# implicit_dpo also needs exactly one of ref_path / adapter (_check_reference)


def value(spec: Mapping, field: str, builder: Mapping[str, Any] | None = None):
    """spec[field], or the field's default (`FIELDS`; a `BUILDER` default from `builder`, None without
    it) when the entry leaves it out, or sets it to null where null is no value of its own."""
    f = FIELDS[spec["kind"]][field]
    if spec.get(field) is not None or (field in spec and f.null_is_value):
        return spec[field]
    return (builder or {}).get(field) if f.default == BUILDER else f.default


def _number(spec: Mapping, field: str, where: str, builder: Mapping[str, Any] | None = None):
    """The number `field` of the entry (see `value`) cast and checked; ConfigError naming the field."""
    f, got = FIELDS[spec["kind"]][field], value(spec, field, builder)
    if got is None:
        return None
    try:
        got = f.cast(got)
        ok = not isinstance(spec.get(field), bool) and f.check(got)
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise ConfigError(f"{where}.{field}={spec.get(field)!r} must be {f.need}")
    return got


def _with_task(spec: Mapping, default_task: str | None) -> Mapping:
    """A verifier entry without a task takes the builder's `default_task` (the run's data.task)."""
    if spec["kind"] == "verifier" and spec.get("task") in (None, "") and default_task:
        return {**spec, "task": default_task}
    return spec


def check_spec(spec: Any, *, index: int | None = None, default_task: str | None = None) -> list[str]:
    """Every problem of one config entry that can be seen without loading a model (kind, fields,
    numbers, rule, task, local paths), each naming its field; [] when the entry is valid."""
    where = f"rewards[{index}]" if index is not None else "rewards"
    if not isinstance(spec, Mapping):
        return [f"{where} must be a mapping with a 'kind' field, got {type(spec).__name__}"]
    kind = spec.get("kind")
    if kind is None:
        return [f"{where}.kind is missing; use one of {KINDS}"]
    if kind not in KINDS:
        return [f"{where}.kind={kind!r} is not one of {KINDS}"]
    problems = []
    unknown = sorted(set(spec) - set(FIELDS[kind])) if kind != "python" else []
    if unknown:
        problems.append(f"{where}: unknown field(s) {unknown} for kind {kind!r}; allowed: {sorted(FIELDS[kind])}")
    spec = _with_task(spec, default_task)
    problems += [f"{where}.{field} is missing (required for kind {kind!r})" for field in REQUIRED[kind]
                 if spec.get(field) in (None, "")]
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        problems.append(f"{where}.name={name!r} must be a non-empty string")
    for field in (f for f in FIELDS[kind] if FIELDS[kind][f].cast is not None and f in spec):
        try:
            _number(spec, field, where)
        except ConfigError as e:
            problems.append(str(e))
    if "share_prompt" in FIELDS[kind] and not isinstance(value(spec, "share_prompt"), bool):
        problems.append(f"{where}.share_prompt={spec['share_prompt']!r} must be true or false")
    if "noise" in spec and "noise_sigma" in spec:
        problems.append(f"{where}: give noise or noise_sigma (the same thing), not both")
    noise_field = "noise_sigma" if "noise_sigma" in spec else "noise"
    if not spec.get(noise_field) and spec.get("noise_seed") is not None:
        problems.append(f"{where}.noise_seed is set but {noise_field} is not (or is 0)")
    if kind == "verifier":
        return problems + _check_verifier(spec, where)
    if kind == "python":
        return problems + _check_python(spec, where)
    if kind == "http":
        return problems + _check_http(spec, where)
    if kind == "implicit_dpo":
        problems += _check_reference(spec, where)
    if kind == "judge":
        problems += _check_judge(spec, where)
    for field in ("path", "ref_path", "tokenizer"):
        if spec.get(field) not in (None, ""):
            problems += check_model_path(spec[field], f"{where}.{field}")
    if "dtype" in spec:
        try:
            to_dtype(spec["dtype"])
        except (TypeError, ValueError) as e:
            problems.append(f"{where}.dtype: {e}")
    chat = spec.get("chat_template")
    if chat is not None and not isinstance(chat, bool):
        problems.append(f"{where}.chat_template={chat!r} must be true, false or null")
    system = spec.get("system")
    if system is not None and not isinstance(system, str):
        problems.append(f"{where}.system must be a string")
    return problems


def _check_reference(spec: Mapping, where: str) -> list[str]:
    """An implicit_dpo entry's reference: exactly one of ref_path / adapter; the adapter file
    present and, with adapter_sha256, of that hash."""
    ref, adapter, sha = (spec.get(f) not in (None, "") for f in ("ref_path", "adapter", "adapter_sha256"))
    if ref and adapter:
        return [f"{where}: give ref_path (a reference model) or adapter (a LoRA adapter on path, the reference "
                "being path itself), not both"]
    if not ref and not adapter:
        return [f"{where}.ref_path is missing: give ref_path (a reference model) or adapter (a LoRA adapter file "
                "on path) (required for kind 'implicit_dpo')"]
    if sha and not adapter:
        return [f"{where}.adapter_sha256 is set but adapter is not"]
    if not adapter:
        return []
    file = Path(str(spec["adapter"])).expanduser()
    if not file.is_file():
        return [f"{where}.adapter={str(spec['adapter'])!r}: no such file (an adapter written by "
                "laser_jax.models.adapters.save_adapter)"]
    if not sha:
        return []
    want = spec["adapter_sha256"]
    if not isinstance(want, str) or not SHA256.fullmatch(want.lower()):
        return [f"{where}.adapter_sha256={want!r} must be 64 hexadecimal digits (sha256sum of the adapter file)"]
    got = file_sha256(file)
    if got != want.lower():
        return [f"{where}.adapter={str(file)!r}: sha256 mismatch: expected {want}, the file has {got}; restore the "
                "right file or update adapter_sha256"]
    return []


def _check_judge(spec: Mapping, where: str) -> list[str]:
    """The question and answers of a judge entry (their tokens are checked once its tokenizer loads)."""
    return check_question(spec.get("question"), where) + _check_answers(spec, where,
                                                                        {f: spec.get(f) for f in ("yes", "no")})


def _check_answers(spec: Mapping, where: str, answers: Mapping[str, Any]) -> list[str]:
    """A judge's yes / no answers (kind judge, http's completions form): non-empty and different."""
    problems = []
    who = f"reward model {spec['name']!r}" if spec.get("name") else "the judge"
    for field, v in answers.items():
        if v is not None and (not isinstance(v, str) or not v):
            problems.append(f"{where}.{field}={v!r}: {who}'s answer must be a non-empty string")
    if isinstance(answers["yes"], str) and answers["yes"] and answers["yes"] == answers["no"]:
        problems.append(f"{where}.yes and .no are both {answers['yes']!r}: {who} needs two different answers")
    return problems


def _check_verifier(spec: Mapping, where: str) -> list[str]:
    """The rule and task of a verifier entry (its task filled in from the builder's)."""
    problems = []
    rule, task = value(spec, "rule"), spec.get("task")
    if rule not in RULES:
        problems.append(f"{where}.rule={rule!r} is not one of {tuple(RULES)}")
    if task not in (None, "") and task not in TASK_NAMES:
        problems.append(f"{where}.task: unknown task {task!r}; valid tasks: {', '.join(TASK_NAMES)}")
    elif task in TASK_NAMES and not TASKS[task].has_gold and RULES.get(rule, (None, False))[1]:
        problems.append(f"{where}.rule={rule!r} checks answers against gold answers, and task {task!r} has "
                        f"none; use a rule that needs none ({', '.join(r for r, (_, g) in RULES.items() if not g)}) "
                        "or a model RM")
    return problems


def _python_kwargs(spec: Mapping) -> dict:
    """The fields of a python entry that are its function's keyword arguments."""
    return {k: v for k, v in spec.items() if k not in FIELDS["python"]}


def _check_python(spec: Mapping, where: str) -> list[str]:
    """The function of a python entry imports and takes (prompts, responses, golds, **the entry's
    other fields)."""
    if spec.get("function") in (None, ""):
        return []  # reported as missing
    try:
        fn = load_function(spec["function"], f"{where}.function")
    except ConfigError as e:
        return [str(e)]
    return check_signature(fn, _python_kwargs(spec), f"{where}.function={spec['function']!r}")


def _check_http(spec: Mapping, where: str) -> list[str]:
    """The url, headers and api of an http entry; the judge fields of its completions form."""
    problems = []
    url, headers, api = spec.get("url"), spec.get("headers"), value(spec, "api")
    if url not in (None, "") and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        problems.append(f"{where}.url={url!r} must be an http:// or https:// address")
    if headers is not None and not (isinstance(headers, Mapping) and
                                    all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        problems.append(f"{where}.headers must map header names to strings")
    if api not in HTTP_APIS:
        return problems + [f"{where}.api={spec.get('api')!r} is not one of {HTTP_APIS}"]
    if api != "openai_completions":
        given = [f for f in HTTP_JUDGE if spec.get(f) is not None]
        return problems + [f"{where}.{f} is set but api is {api!r}; it is a field of api='openai_completions' "
                           "(a served judge)" for f in given]
    model = spec.get("model")
    if model in (None, ""):
        problems.append(f"{where}.model is missing (required for kind 'http' with api='openai_completions': the "
                        "served model's name)")
    elif not isinstance(model, str):
        problems.append(f"{where}.model={model!r} must be a string (the served model's name)")
    # the answers are matched to tokens with whitespace stripped: "Yes" and " Yes" are one answer
    problems += _check_answers(spec, where, {f: value(spec, f).strip() if isinstance(value(spec, f), str)
                                             else value(spec, f) for f in ("yes", "no")})
    return problems + check_question(spec.get("question"), where)


def check_specs(specs: Any, *, default_task: str | None = None) -> list[str]:
    """`check_spec` of every entry, plus a non-empty list with unique names."""
    if isinstance(specs, (Mapping, str)) or not isinstance(specs, Sequence):
        return ["rewards must be a list of reward-model entries"]
    if not specs:
        return ["rewards is empty: give at least one reward model"]
    problems = [p for i, spec in enumerate(specs) for p in check_spec(spec, index=i, default_task=default_task)]
    names = [spec.get("name") for spec in specs if isinstance(spec, Mapping) and spec.get("name")]
    if len(set(names)) != len(names):
        problems.append(f"reward names must be unique, got {names}")
    return problems


def build_reward_model(spec: Mapping[str, Any], *, index: int | None = None, cache: ModelCache | None = None,
                       dtype: str = "float32", mesh=None, batch_size: int = 8,
                       default_task: str | None = None) -> RewardModel:
    """One reward model from a config entry (see the module doc). `index` names the entry in errors
    ("rewards[2].kind=..."); `dtype`, `mesh`, `batch_size` are defaults an entry may override;
    `default_task` is a verifier's task when the entry gives none (the run's data.task). A bad
    entry is a ConfigError naming its field."""
    problems = check_spec(spec, index=index, default_task=default_task)
    if problems:
        raise ConfigError("; ".join(problems))
    where = f"rewards[{index}]" if index is not None else "rewards"
    builder = {"dtype": dtype, "batch_size": batch_size, "default_task": default_task}
    cache = ModelCache() if cache is None else cache
    spec = _with_task(spec, default_task)
    kind, name = spec["kind"], spec.get("name")
    sigma = _number(spec, "noise_sigma" if "noise_sigma" in spec else "noise", where)
    if kind == "verifier":
        rm: Any = program(value(spec, "rule"), spec["task"], name)
    elif kind == "python":
        fn = load_function(spec["function"], f"{where}.function")
        rm = PythonRM(fn, name or getattr(fn, "__name__", str(spec["function"])), str(spec["function"]),
                      _python_kwargs(spec))
    elif kind == "http":
        parts = urllib.parse.urlsplit(spec["url"])
        rm = HttpRM(spec["url"], name or (parts.netloc + parts.path).rstrip("/"), headers=value(spec, "headers"),
                    api=value(spec, "api"), model=spec.get("model"), question=spec.get("question"),
                    yes=value(spec, "yes"), no=value(spec, "no"), task=default_task,
                    **{f: _number(spec, f, where)
                       for f in ("batch_size", "concurrency", "timeout", "retries", "backoff", "logprobs")})
    else:
        rm = _neural(spec, where, cache, mesh, builder)
    if sigma:
        rm = NoisyRM(rm, sigma, _number(spec, "noise_seed", where), name=name or f"{rm.name}+noise{sigma:g}")
    return rm


def _neural(spec: Mapping, where: str, cache: ModelCache, mesh, builder: Mapping[str, Any]) -> RewardModel:
    """A model-backed RM of a checked entry: its model and tokenizer from `cache`."""
    kind, path = spec["kind"], str(spec["path"])
    name = spec.get("name") or PurePath(path.rstrip("/")).name or path
    mdtype = value(spec, "dtype", builder)
    common = dict(batch_size=_number(spec, "batch_size", where, builder), max_length=_number(spec, "max_length", where),
                  chat_template=value(spec, "chat_template"), system=value(spec, "system"))
    tok = cache.tokenizer(spec.get("tokenizer") or path, f"{where}.tokenizer" if spec.get("tokenizer")
                          else f"{where}.path")
    model = cache.model(path, mdtype, mesh, f"{where}.path")
    if kind == "judge":
        if not isinstance(model, CausalLM):
            raise ConfigError(f"{where}.path={path!r}: kind 'judge' needs a CausalLM (*ForCausalLM) checkpoint, this "
                              f"one loads as {type(model).__name__}")
        return JudgeRM(model, tok, name, question=spec.get("question"), yes=spec.get("yes"), no=spec.get("no"),
                       task=builder.get("default_task"), share_prompt=bool(value(spec, "share_prompt")),
                       where=where, **common)
    head = "SequenceClassifier (*ForSequenceClassification)" if kind == "classifier" else "CausalLM (*ForCausalLM)"
    if not isinstance(model, SequenceClassifier if kind == "classifier" else CausalLM):
        raise ConfigError(f"{where}.path={path!r}: kind {kind!r} needs a {head} checkpoint, this one loads as "
                          f"{type(model).__name__}")
    if kind == "classifier":
        label = _number(spec, "label", where)
        if label >= model.cfg.num_labels:
            raise ConfigError(f"{where}.label={spec.get('label')!r} must be an integer in [0, {model.cfg.num_labels}) "
                              "(the model's labels)")
        return ClassifierRM(model, tok, name, label, **common)
    lm = dict(chunk=_number(spec, "chunk", where), share_prompt=bool(value(spec, "share_prompt")), **common)
    if kind == "likelihood":
        return LikelihoodRM(model, tok, name, **lm)
    beta = _number(spec, "beta", where)
    if spec.get("adapter") not in (None, ""):
        adapter = read_adapter(Path(str(spec["adapter"])).expanduser(), spec.get("adapter_sha256") or None,
                               f"{where}.adapter")
        return AdapterDPORM(model, adapter, tok, beta, name, where=f"{where}.adapter", **lm)
    ref = cache.model(str(spec["ref_path"]), mdtype, mesh, f"{where}.ref_path")
    if not isinstance(ref, CausalLM):
        raise ConfigError(f"{where}.ref_path={spec['ref_path']!r}: the reference must be a CausalLM "
                          f"checkpoint, this one loads as {type(ref).__name__}")
    return ImplicitDPORM(model, ref, tok, beta, name, **lm)


def build_reward_models(specs: Sequence[Mapping[str, Any]], *, cache: ModelCache | None = None,
                        **kw) -> list[RewardModel]:
    """`build_reward_model` for each entry (sharing one `cache`); names must be unique (also the
    names derived from paths and tasks: ConfigError)."""
    if isinstance(specs, (Mapping, str)):
        raise ConfigError("rewards must be a list of reward-model entries")
    cache = ModelCache() if cache is None else cache
    rms = [build_reward_model(s, index=i, cache=cache, **kw) for i, s in enumerate(specs)]
    seen: dict[str, int] = {}
    for i, rm in enumerate(rms):
        if rm.name in seen:
            raise ConfigError(f"rewards[{i}].name={rm.name!r} repeats rewards[{seen[rm.name]}]'s name; give each "
                              "reward model a unique name")
        seen[rm.name] = i
    return rms
