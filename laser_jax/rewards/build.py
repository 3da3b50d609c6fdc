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

Each field's default lives in `laser_jax.rewards.spec.FIELDS` (read by the check and the build alike); an explicit null
takes the default, except for dtype, chunk, share_prompt and rule, which take a null as given
(chunk: no chunking; the others are checked as given). A bad entry is a ConfigError naming its field.

`cache` (a `laser_jax.models.cache.ModelCache` the caller keeps) loads each model and tokenizer
once, so RMs sharing a path (e.g. one reference model for several DPO RMs) load it once, and
tokenizers with the same contents become one object: what lets `score_with` stack RMs fine-tuned
from one base.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from laser_jax.errors import ConfigError
from laser_jax.models import CausalLM, SequenceClassifier
from laser_jax.models.adapters import read_adapter
from laser_jax.models.cache import ModelCache
from laser_jax.rewards.base import RewardModel
from laser_jax.rewards.classifier import ClassifierRM
from laser_jax.rewards.lm import ImplicitDPORM, LikelihoodRM
from laser_jax.rewards.multi_lora import AdapterDPORM
from laser_jax.rewards.noise import NoisyRM
from laser_jax.rewards.programs import program
from laser_jax.rewards.http import HttpRM
from laser_jax.rewards.judge import JudgeRM
from laser_jax.rewards.python_fn import PythonRM, load_function
from laser_jax.rewards.spec import check_spec, number, python_kwargs, value, with_task


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
    spec = with_task(spec, default_task)
    kind, name = spec["kind"], spec.get("name")
    sigma = number(spec, "noise_sigma" if "noise_sigma" in spec else "noise", where)
    if kind == "verifier":
        rm: Any = program(value(spec, "rule"), spec["task"], name)
    elif kind == "python":
        fn = load_function(spec["function"], f"{where}.function")
        rm = PythonRM(fn, name or getattr(fn, "__name__", str(spec["function"])), str(spec["function"]),
                      python_kwargs(spec))
    elif kind == "http":
        parts = urllib.parse.urlsplit(spec["url"])
        rm = HttpRM(spec["url"], name or (parts.netloc + parts.path).rstrip("/"), headers=value(spec, "headers"),
                    api=value(spec, "api"), model=spec.get("model"), question=spec.get("question"),
                    yes=value(spec, "yes"), no=value(spec, "no"), task=default_task,
                    **{f: number(spec, f, where)
                       for f in ("batch_size", "concurrency", "timeout", "retries", "backoff", "logprobs")})
    else:
        rm = _neural(spec, where, cache, mesh, builder)
    if sigma:
        rm = NoisyRM(rm, sigma, number(spec, "noise_seed", where), name=name or f"{rm.name}+noise{sigma:g}")
    return rm


def _neural(spec: Mapping, where: str, cache: ModelCache, mesh, builder: Mapping[str, Any]) -> RewardModel:
    """A model-backed RM of a checked entry: its model and tokenizer from `cache`."""
    kind, path = spec["kind"], str(spec["path"])
    name = spec.get("name") or PurePath(path.rstrip("/")).name or path
    mdtype = value(spec, "dtype", builder)
    common = dict(batch_size=number(spec, "batch_size", where, builder), max_length=number(spec, "max_length", where),
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
        label = number(spec, "label", where)
        if label >= model.cfg.num_labels:
            raise ConfigError(f"{where}.label={spec.get('label')!r} must be an integer in [0, {model.cfg.num_labels}) "
                              "(the model's labels)")
        return ClassifierRM(model, tok, name, label, **common)
    lm = dict(chunk=number(spec, "chunk", where), share_prompt=bool(value(spec, "share_prompt")), **common)
    if kind == "likelihood":
        return LikelihoodRM(model, tok, name, **lm)
    beta = number(spec, "beta", where)
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
