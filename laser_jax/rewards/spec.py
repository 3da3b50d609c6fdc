"""The reward-model entries of a config: every kind's fields, their defaults and checks.

`FIELDS` is each field's one home (its default, whether null is a value of its own, its number
rule); `value` / `number` read an entry's field through it, `check_spec` / `check_specs` list every
problem that can be seen without loading a model, each naming its field ("rewards[2].beta=...").
Building the models from checked entries: `laser_jax.rewards.build` (whose doc lists the fields).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from laser_jax.data.tasks import TASK_NAMES, TASKS
from laser_jax.errors import ConfigError, is_number
from laser_jax.models.adapters import SHA256, file_sha256
from laser_jax.models.loading import check_model_path
from laser_jax.models.decoder import to_dtype
from laser_jax.rewards.neural import DEFAULT_CHUNK
from laser_jax.rewards.programs import RULES
from laser_jax.rewards.judge import check_question
from laser_jax.rewards.python_fn import check_signature, load_function

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


def number(spec: Mapping, field: str, where: str, builder: Mapping[str, Any] | None = None):
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


def with_task(spec: Mapping, default_task: str | None) -> Mapping:
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
    spec = with_task(spec, default_task)
    problems += [f"{where}.{field} is missing (required for kind {kind!r})" for field in REQUIRED[kind]
                 if spec.get(field) in (None, "")]
    name = spec.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        problems.append(f"{where}.name={name!r} must be a non-empty string")
    for field in (f for f in FIELDS[kind] if FIELDS[kind][f].cast is not None and f in spec):
        try:
            number(spec, field, where)
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


def python_kwargs(spec: Mapping) -> dict:
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
    return check_signature(fn, python_kwargs(spec), f"{where}.function={spec['function']!r}")


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
