"""The run configuration.

Config files (configs/*.py) are ml_collections files whose `get_config()` starts from
`base_config()` and changes what their setting needs; command lines override fields with
``--config.<section>.<field>=value``. The entry point of a setting turns that ConfigDict into a
typed, frozen `RunConfig` once (`load`), which checks every section and raises one ConfigError
listing every problem, each naming its field; everything below the entry reads typed fields.

Sections and their defaults: `laser_jax.config.sections` (the one home of each default and each
check). Selector arguments: `laser_jax.bandit` (`default_args`, `check_args`). Reward models:
`laser_jax.rewards.spec.check_specs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ml_collections import ConfigDict, config_dict

from laser_jax.bandit import check_args, default_args
from laser_jax.config.sections import (
    DEFAULT_METHODS,
    SECTIONS,
    BanditSection,
    DataSection,
    EvalSection,
    LoggingSection,
    MeshSection,
    PolicySection,
    ReplaySection,
    SamplingSection,
    Section,
    TrainingSection,
)
from laser_jax.errors import ConfigError, is_int

__all__ = ["ConfigError", "RunConfig", "base_config", "load", "replay_config", "DEFAULT_METHODS"]

SETTINGS = ("training", "best_of_n", "plan")
# the top-level fields and their defaults; selector: laser | thompson | fixed | random | sequential |
# ensemble | agreement | online_ensemble | exp3 (laser_jax.bandit)
TOP = {"seed": 0, "selector": "laser"}


def _section_dict(section: type[Section]) -> ConfigDict:
    values = {k: config_dict.placeholder(section.placeholders[k]) if v is None and k in section.placeholders else v
              for k, v in section.defaults().items()}
    return ConfigDict(values)


def base_config() -> ConfigDict:
    """Every field of a run with its default (from the sections' dataclasses)."""
    c = ConfigDict(dict(TOP))
    # every selector's arguments with their defaults; each selector declares and checks the ones it reads
    c.selector_args = ConfigDict(default_args())
    c.policy = _section_dict(PolicySection)
    # Each reward model: name, kind (classifier | implicit_dpo | likelihood | verifier | python | http |
    # judge) and its fields (laser_jax.rewards.spec: every field and its default).
    c.rewards = []
    for section in SECTIONS[1:]:
        c[section.name] = _section_dict(section)
    return c


def replay_config() -> ConfigDict:
    """The best-of-n setting's `replay` section with its defaults."""
    return _section_dict(ReplaySection)


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A run's configuration, typed (see `load`). `rewards` holds each reward model's entry as a
    plain dict (its fields depend on its kind: `laser_jax.rewards.build`); `replay` is None
    outside the best-of-n setting."""

    seed: int
    selector: str
    selector_args: Mapping[str, Any]
    policy: PolicySection
    rewards: tuple[dict, ...]
    data: DataSection
    bandit: BanditSection
    sampling: SamplingSection
    training: TrainingSection
    eval: EvalSection
    mesh: MeshSection
    logging: LoggingSection
    replay: ReplaySection | None = None

    @property
    def reward_names(self) -> list[str]:
        return [r.get("name") for r in self.rewards]

    def check(self, setting: str = "training") -> list[str]:
        """Every problem of the fields `setting` reads, each naming its field."""
        from laser_jax.rewards.spec import check_specs  # reward-model kinds' registry: see sections.py

        rewards = list(self.rewards)
        problems = self.data.check() + check_specs(rewards, default_task=self.data.task)
        if setting == "best_of_n":
            for name in ("laser", "exp3", "thompson"):
                problems += check_args(name, self.selector_args, len(rewards))
            problems += self.sampling.check() + self.policy.check() + self.mesh.check()
            if not is_int(self.training.batch_size, 1):
                problems.append(f"training.batch_size={self.training.batch_size!r} (queries per sampling batch) "
                                "must be an integer >= 1")
            if self.replay is None:
                problems.append("the config has no 'replay' section: start from configs/best_of_n.py")
            else:
                problems += self.replay.check_with(self.reward_names)
            return problems
        problems += check_args(self.selector, self.selector_args, len(rewards))
        problems += self.sampling.check() + self.training.check() + self._check_pairs()
        problems += self.bandit.check() + self._check_feedback()
        problems += self.eval.check() + self.policy.check() + self.mesh.check()
        return problems

    def _check_pairs(self) -> list[str]:
        from laser_jax.training.pairs import PAIRINGS  # see sections.py

        n, t = self.sampling.n, self.training
        if not is_int(n, 2):
            return [f"sampling.n={n} must be >= 2 (pairs need two samples)"]
        if t.pairing not in PAIRINGS:
            return [f"training.pairing={t.pairing!r} must be one of {list(PAIRINGS)}"]
        most = n - 1 if t.pairing == "top_vs_rest" else n // 2
        if not (is_int(t.pairs_per_prompt, 1) and t.pairs_per_prompt <= most):
            bound = "sampling.n - 1" if t.pairing == "top_vs_rest" else "sampling.n // 2"
            return [f"training.pairs_per_prompt={t.pairs_per_prompt} must be between 1 and {bound} = {most} "
                    f"(training.pairing={t.pairing!r})"]
        return []

    def _check_feedback(self) -> list[str]:
        from laser_jax.data import TASKS  # see sections.py

        task = TASKS.get(self.data.task)
        if self.bandit.reward == "gold_agreement" and task is not None and not task.has_gold:
            return [f"bandit.reward='gold_agreement' needs gold answers, and data.task={self.data.task!r} has none; "
                    "use bandit.reward='loss' or 'dpo_loss'"]
        return []


def _plain(value):
    """ConfigDict / FrozenConfigDict / lists -> plain dicts and tuples (frozen dataclasses hold no mutables)."""
    if isinstance(value, (ConfigDict, config_dict.FrozenConfigDict)):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value


def _section(cls: type[Section], values, problems: list[str]) -> Section:
    values = dict(_plain(values) if values is not None else {})
    unknown = sorted(set(values) - set(cls.field_names()))
    problems += [f"{cls.name}.{k}: no such field (fields: {', '.join(cls.field_names())})" for k in unknown]
    return cls(**{k: v for k, v in values.items() if k not in unknown})  # an absent field takes its default


def from_config(c) -> RunConfig:
    """The typed config of a ConfigDict (or a RunConfig, returned as is), without checks beyond
    its structure: a field the ConfigDict lacks takes its section's default; a field no section
    has is a ConfigError."""
    if isinstance(c, RunConfig):
        return c
    problems: list[str] = []
    known = {"seed", "selector", "selector_args", "policy", "rewards", "replay"} | {s.name for s in SECTIONS}
    problems += [f"{k}: no such config section (sections: {', '.join(sorted(known))})" for k in c if k not in known]
    rewards = _plain(c.get("rewards") or ())
    cfg = RunConfig(
        **{k: c[k] if k in c else v for k, v in TOP.items()},
        selector_args={**default_args(), **_plain(c.get("selector_args") or {})},
        policy=_section(PolicySection, c.get("policy"), problems),
        rewards=tuple(dict(r) if isinstance(r, Mapping) else r for r in rewards),
        **{s.name: _section(s, c.get(s.name), problems) for s in SECTIONS[1:]},
        replay=_section(ReplaySection, c["replay"], problems) if "replay" in c else None)
    if problems:
        raise ConfigError(f"invalid config ({len(problems)} problems):\n  " + "\n  ".join(problems))
    return cfg


def load(c, setting: str = "training") -> RunConfig:
    """The typed config of `c` for `setting` (training | best_of_n | plan); one ConfigError listing
    every problem (nothing is loaded; `plan` checks structure only, for the memory planner)."""
    cfg = from_config(c)
    problems = [] if setting == "plan" else cfg.check(setting)
    if problems:
        raise ConfigError(f"invalid config ({len(problems)} problems):\n  " + "\n  ".join(problems))
    return cfg
