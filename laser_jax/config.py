"""The run configuration (ml_collections) and its validation.

`base_config()` holds every field with its default; files in configs/ start from it and change
what their setting needs. `validate(config)` checks everything before any model loads and raises
one ConfigError listing every problem, each naming its config field.
"""

from __future__ import annotations

import os
from pathlib import Path

from ml_collections import ConfigDict, config_dict

from laser_jax.bandit.selectors import REGISTRY as SELECTORS
from laser_jax.data.tasks import TASK_NAMES
from laser_jax.models.embedded import ALIASES

REWARD_KINDS = ("classifier", "implicit_dpo", "likelihood", "verifier")


class ConfigError(ValueError):
    pass


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.seed = 0
    c.selector = "laser"  # laser | fixed | random | sequential | ensemble | exp3
    # selector hyperparameters; each selector reads the ones it knows (see bandit/selectors.py)
    # max_pulls (laser): -1 = automatic (dense A^-1 up to d=1024, exact low-rank above), 0 = dense
    c.selector_args = ConfigDict(dict(alpha=0.1, lam=1.0, per_prompt=False, history_size=1024, arm=0, gamma=0.1,
                                      max_pulls=-1))

    c.policy = ConfigDict(dict(
        path="",  # HF dir, .gguf, laser_jax checkpoint, hub id, or "smollm2-135m-instruct"
        tokenizer="",  # default: the policy path
        dtype="float32",
        lora_rank=16,  # 0 = full fine-tuning
        lora_alpha=32.0,
        lora_targets=("q", "k", "v", "o", "gate", "up", "down"),
        remat=False,
        system_prompt=config_dict.placeholder(str),  # None = the chat template's default
    ))
    # Each reward model: name, kind (classifier | implicit_dpo | likelihood | verifier) and its fields:
    # path (neural kinds), ref_path + beta (implicit_dpo), task (verifier), noise (Gaussian sigma).
    c.rewards = []

    c.data = ConfigDict(dict(
        task="gsm8k",
        path=config_dict.placeholder(str),  # local file/dir in the original format; None = HF hub
        train_split="train",
        test_split="test",
        split_seed=0,
        train_limit=0,  # 0 = all
        test_limit=0,
        holdout_fraction=0.1,  # when the source has a single split: this share becomes the test split
        batch_by_family=False,  # one task family per batch (generated demo tasks mix families)
    ))
    c.sampling = ConfigDict(dict(n=30, temperature=0.8, top_p=1.0, top_k=0, max_new_tokens=256,
                                 max_prompt_tokens=512))
    c.training = ConfigDict(dict(
        iterations=10,
        batch_size=16,
        pairs_per_prompt=10,
        learning_rate=5e-6,
        schedule="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        beta=0.1,
        alpha_nll=1.0,  # 0 = DPO only (instruction following)
        loss_type="sigmoid",
        label_smoothing=0.0,
        micro_batches=1,
        checkpoint_every=50,  # steps; also on SIGTERM/SIGINT and at the end
        keep_checkpoints=2,
        stop_after=0,  # >0: stop (checkpointed) after this many steps in this run, as a preemption would
    ))
    c.eval = ConfigDict(dict(before=True, after=True, batch_size=16, max_new_tokens=256))
    c.mesh = ConfigDict(dict(data=1, fsdp=-1, tensor=1))
    c.logging = ConfigDict(dict(tensorboard=True, plot=True, progress=True))
    return c


def _is_local_path(s: str) -> bool:
    return s.startswith(("/", "./", "../", "~")) or s.endswith(".gguf") or os.sep in s and s.count("/") != 1


def _check_model_path(value, field: str, problems: list[str]) -> None:
    if not value:
        problems.append(f"{field} is empty: give an HF directory, a .gguf file, a laser_jax checkpoint, a hub id "
                        "or 'smollm2-135m-instruct'")
        return
    value = str(value)
    if value.lower() in ALIASES or Path(value).expanduser().exists():
        return
    if _is_local_path(value):
        problems.append(f"{field}={value!r}: no such file or directory")


def validate(c: ConfigDict) -> None:
    p: list[str] = []

    def need(cond, msg):
        if not cond:
            p.append(msg)

    need(c.selector in SELECTORS, f"selector={c.selector!r} is not one of {sorted(SELECTORS)}")
    need(c.data.task in TASK_NAMES, f"data.task={c.data.task!r} is not one of {list(TASK_NAMES)}")
    if c.data.path:
        need(Path(c.data.path).expanduser().exists(), f"data.path={c.data.path!r}: no such file or directory")
    _check_model_path(c.policy.path, "policy.path", p)
    need(c.policy.dtype in ("float32", "bfloat16"), f"policy.dtype={c.policy.dtype!r} is not float32 or bfloat16")
    need(c.policy.lora_rank >= 0, f"policy.lora_rank={c.policy.lora_rank} must be >= 0 (0 = full fine-tuning)")

    rewards = list(c.rewards or [])
    need(len(rewards) > 0, "rewards is empty: give at least one reward model")
    names = []
    for i, rm in enumerate(rewards):
        where = f"rewards[{i}]"
        if not isinstance(rm, (dict, ConfigDict)):
            p.append(f"{where} must be a dict with name and kind")
            continue
        kind = rm.get("kind")
        names.append(rm.get("name") or f"rm{i}")
        if kind not in REWARD_KINDS:
            p.append(f"{where}.kind={kind!r} is not one of {list(REWARD_KINDS)}")
            continue
        if kind == "verifier":
            task = rm.get("task", c.data.task)
            need(task in TASK_NAMES, f"{where}.task={task!r} is not one of {list(TASK_NAMES)}")
        else:
            _check_model_path(rm.get("path", ""), f"{where}.path", p)
        if kind == "implicit_dpo":
            _check_model_path(rm.get("ref_path", ""), f"{where}.ref_path", p)
            need(float(rm.get("beta", 0.1)) > 0, f"{where}.beta must be > 0")
        need(float(rm.get("noise", 0.0)) >= 0, f"{where}.noise must be >= 0")
    need(len(set(names)) == len(names), f"reward names must be unique, got {names}")
    if c.selector == "fixed" and rewards:
        arm = c.selector_args.arm
        need(0 <= arm < len(rewards), f"selector_args.arm={arm} is out of range for {len(rewards)} reward models")

    s, t, e = c.sampling, c.training, c.eval
    need(s.n >= 2, f"sampling.n={s.n} must be >= 2 (pairs need two samples)")
    need(s.temperature >= 0, f"sampling.temperature={s.temperature} must be >= 0")
    need(0 < s.top_p <= 1, f"sampling.top_p={s.top_p} must be in (0, 1]")
    need(s.top_k >= 0, f"sampling.top_k={s.top_k} must be >= 0")
    need(s.max_new_tokens >= 1, f"sampling.max_new_tokens={s.max_new_tokens} must be >= 1")
    need(s.max_prompt_tokens >= 8, f"sampling.max_prompt_tokens={s.max_prompt_tokens} must be >= 8")
    need(t.iterations >= 1, f"training.iterations={t.iterations} must be >= 1")
    need(t.batch_size >= 1, f"training.batch_size={t.batch_size} must be >= 1")
    need(1 <= t.pairs_per_prompt <= s.n // 2,
         f"training.pairs_per_prompt={t.pairs_per_prompt} must be between 1 and sampling.n // 2 = {s.n // 2}")
    need(t.learning_rate > 0, f"training.learning_rate={t.learning_rate} must be > 0")
    need(t.beta > 0, f"training.beta={t.beta} must be > 0")
    need(t.alpha_nll >= 0, f"training.alpha_nll={t.alpha_nll} must be >= 0")
    need(t.loss_type in ("sigmoid", "ipo"), f"training.loss_type={t.loss_type!r} is not sigmoid or ipo")
    need(0 <= t.label_smoothing < 0.5, f"training.label_smoothing={t.label_smoothing} must be in [0, 0.5)")
    need(t.schedule in ("constant", "cosine", "linear"), f"training.schedule={t.schedule!r} is not constant, "
                                                          "cosine or linear")
    need(t.micro_batches >= 1 and t.batch_size % t.micro_batches == 0,
         f"training.micro_batches={t.micro_batches} must divide training.batch_size={t.batch_size} "
         "(micro-batches split the prompts)")
    need(t.checkpoint_every >= 1, f"training.checkpoint_every={t.checkpoint_every} must be >= 1")
    need(t.stop_after >= 0, f"training.stop_after={t.stop_after} must be >= 0")
    need(e.batch_size >= 1, f"eval.batch_size={e.batch_size} must be >= 1")
    need(e.max_new_tokens >= 1, f"eval.max_new_tokens={e.max_new_tokens} must be >= 1")
    a = c.selector_args
    need(a.alpha >= 0, f"selector_args.alpha={a.alpha} must be >= 0")
    need(a.lam > 0, f"selector_args.lam={a.lam} must be > 0")
    need(0 < a.gamma <= 1, f"selector_args.gamma={a.gamma} must be in (0, 1]")
    sizes = [c.mesh.data, c.mesh.fsdp, c.mesh.tensor]
    need(all(v == -1 or v >= 1 for v in sizes) and sizes.count(-1) <= 1,
         f"mesh sizes {sizes} must be >= 1 with at most one -1")
    if p:
        raise ConfigError(f"invalid config ({len(p)} problems):\n  " + "\n  ".join(p))


def selector_hparams(c: ConfigDict) -> dict:
    """The selector_args the chosen selector accepts."""
    valid = set(SELECTORS[c.selector].valid_hparams)
    args = {k: v for k, v in c.selector_args.to_dict().items() if k in valid}
    if args.get("max_pulls") == -1:
        args["max_pulls"] = None
    return args
