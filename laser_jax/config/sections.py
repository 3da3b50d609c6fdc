"""The run configuration's sections as typed, frozen dataclasses: each owns its fields' defaults
(the one place they are written; `laser_jax.config.base_config` is built from them) and its
checks (`check()` returns every problem, each naming its field).

A check that needs a registry (tasks, model aliases, attention kernels, pairings, bandit rewards)
asks the module that owns it; those imports sit inside `check()` on purpose: the registries live
with their implementations, several of which import this package, so a top-level import would
be circular.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from laser_jax.batch import BUCKET
from laser_jax.errors import is_int, is_number, need_int, need_number


class Section:
    """Base of the sections: `name` is the config key; `get` / `[]` read a field (the checks of
    the components that own a field take a section or a mapping alike)."""

    name: ClassVar[str] = ""
    placeholders: ClassVar[dict[str, type]] = {}  # fields whose default is None: their type, for ml_collections

    def __getitem__(self, field: str):
        return getattr(self, field)

    def get(self, field: str, default=None):
        return getattr(self, field, default)

    def __contains__(self, field: str) -> bool:
        return field in self.field_names()

    def check(self) -> list[str]:
        return []

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
                for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class PolicySection(Section):
    """Attributes:
      path: HF dir, .gguf, laser_jax checkpoint, hub id, or "smollm2-135m-instruct".
      tokenizer: "" = the policy path.
      dtype: float32 | bfloat16.
      lora_rank: 0 = full fine-tuning. lora_alpha: LoRA's scale numerator. lora_targets: projections.
      remat: True = rematerialise each whole layer in the backward pass (least memory); False = keep
        each layer's matmul outputs and recompute only the elementwise work between them.
      attention: auto | dense | chunked (memory-efficient, long prompts): models/decoder.attend.
      system_prompt: None = the chat template's default.
    """

    name: ClassVar[str] = "policy"
    placeholders: ClassVar[dict[str, type]] = {"system_prompt": str}
    path: str = ""
    tokenizer: str = ""
    dtype: str = "float32"
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_targets: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
    remat: bool = False
    attention: str = "auto"
    system_prompt: str | None = None

    def check(self) -> list[str]:
        from laser_jax.models.config import check_attention  # registries: see the module docstring
        from laser_jax.models.loading import check_model_path

        problems = check_model_path(self.path, "policy.path") + check_attention(self.attention, "policy.attention")
        if self.dtype not in ("float32", "bfloat16"):
            problems.append(f"policy.dtype={self.dtype!r} is not float32 or bfloat16")
        if not is_int(self.lora_rank, 0):
            problems.append(f"policy.lora_rank={self.lora_rank} must be >= 0 (0 = full fine-tuning)")
        if not is_number(self.lora_alpha):
            problems.append(f"policy.lora_alpha={self.lora_alpha!r} must be a finite number")
        return problems


@dataclasses.dataclass(frozen=True)
class DataSection(Section):
    """Attributes:
      task: a registered task (laser_jax.data.TASK_NAMES).
      path: local file / dir in the original format; None = the HF hub.
      train_split, test_split: split names; the same name twice holds out `holdout_fraction` as test.
      split_seed: seed of the held-out split and of the limits' subsets.
      train_limit, test_limit: 0 = all.
      holdout_fraction: the test share when the source has a single split.
      batch_by_family: one task family per batch (generated demo tasks mix families).
      families: keep only examples of these families (`laser_jax.batch.family`: the demo's
        arithmetic / yesno / choice); () = all.
      metric: how task `jsonl` scores a response against a line's answer (laser_jax.data.jsonl):
        exact_match | numeric | choice | qa_f1 | rouge | python:<module or file.py>:<function>.
    """

    name: ClassVar[str] = "data"
    placeholders: ClassVar[dict[str, type]] = {"path": str}
    task: str = "gsm8k"
    path: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    split_seed: int = 0
    train_limit: int = 0
    test_limit: int = 0
    holdout_fraction: float = 0.1
    batch_by_family: bool = False
    families: tuple[str, ...] = ()
    metric: str = "exact_match"

    def check(self) -> list[str]:
        from laser_jax import data  # the task registry: see the module docstring

        return data.check_config(self)


@dataclasses.dataclass(frozen=True)
class BanditSection(Section):
    """What the selector learns from (every learning selector: laser, thompson, exp3, online_ensemble).

    Attributes:
      context: last_hidden (the policy's final hidden state at the prompt's last token) or
        mean_embedding (the authors' code: the mean input embedding over its tokens).
      reward (training/feedback.py): loss (the paper's: -(DPO+NLL loss)), dpo_loss (-(DPO term)) or
        gold_agreement (needs gold answers: the share of trained pairs whose chosen response is the
        correct one, among pairs that differ in correctness).
      normalise (bandit/normalise.py): quantile (the paper's 20/80 rule against the reward history),
        none (the raw reward), window (Phi of the reward standardised over the history).
    """

    name: ClassVar[str] = "bandit"
    CONTEXTS: ClassVar[tuple[str, ...]] = ("last_hidden", "mean_embedding")
    context: str = "last_hidden"
    reward: str = "loss"
    normalise: str = "quantile"

    def check(self) -> list[str]:
        from laser_jax.bandit.normalise import RULES  # registries: see the module docstring
        from laser_jax.training.feedback import REWARDS

        problems = []
        if self.context not in self.CONTEXTS:
            problems.append(f"bandit.context={self.context!r} must be one of {list(self.CONTEXTS)}")
        if self.normalise not in RULES:
            problems.append(f"bandit.normalise={self.normalise!r} must be one of {list(RULES)}")
        if self.reward not in REWARDS:
            problems.append(f"bandit.reward={self.reward!r} must be one of {list(REWARDS)}")
        return problems


@dataclasses.dataclass(frozen=True)
class SamplingSection(Section):
    """Attributes: n samples per prompt at `temperature`, nucleus `top_p` (1 = off), `top_k` (0 = off),
    at most `max_new_tokens` each; prompts longer than `max_prompt_tokens` keep their first and last halves.
    A batch of prompts is left-padded to its longest prompt rounded up to a multiple of `prompt_bucket`
    tokens (at most `max_prompt_tokens`): each padded length is a shape the sampler compiles once;
    `prompt_bucket = max_prompt_tokens` gives every batch one shape (one compile, more padding)."""

    name: ClassVar[str] = "sampling"
    n: int = 30
    temperature: float = 0.8
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 256
    max_prompt_tokens: int = 512
    prompt_bucket: int = BUCKET

    def check(self) -> list[str]:
        from laser_jax import sampling  # the sampler's own rules (SamplingConfig): see the module docstring

        return sampling.check_config(self)


@dataclasses.dataclass(frozen=True)
class TrainingSection(Section):
    """Attributes:
      iterations: passes over the training prompts. batch_size: prompts per step.
      pairs_per_prompt, pairing: extremes = (best, worst), (2nd, 2nd worst), ...; top_vs_rest = (1st, 2nd),
        (1st, 3rd), ... (the authors' code).
      learning_rate, schedule (constant | cosine | linear), warmup_steps, weight_decay, max_grad_norm.
      beta (DPO), alpha_nll (0 = DPO only: instruction following), loss_type, label_smoothing.
      micro_batches: gradient accumulation over this many splits of the prompts.
      checkpoint_every: steps (also on SIGTERM / SIGINT and at the end); keep_checkpoints.
      stop_after: > 0 stops (checkpointed) after this many steps in this run, as a preemption would.
    """

    name: ClassVar[str] = "training"
    iterations: int = 10
    batch_size: int = 16
    pairs_per_prompt: int = 10
    pairing: str = "extremes"
    learning_rate: float = 5e-6
    schedule: str = "constant"
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    beta: float = 0.1
    alpha_nll: float = 1.0
    loss_type: str = "sigmoid"
    label_smoothing: float = 0.0
    micro_batches: int = 1
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    stop_after: int = 0

    def check(self) -> list[str]:
        from laser_jax.training import update  # the optimizer's and the losses' registries: see the docstring

        problems = [f"training.{f}={self[f]!r} must be an integer >= {low}" for f, low in
                    (("iterations", 1), ("batch_size", 1), ("checkpoint_every", 1), ("stop_after", 0))
                    if not is_int(self[f], low)]
        # 0 would let orbax delete every checkpoint, also a resumed run's
        problems += need_int("training.keep_checkpoints", self.keep_checkpoints, 1)
        return problems + update.check_config(self)


@dataclasses.dataclass(frozen=True)
class EvalSection(Section):
    """Attributes: before / after: evaluate on the test split before / after training; batch_size
    prompts per generation batch; max_new_tokens per answer (greedy)."""

    name: ClassVar[str] = "eval"
    before: bool = True
    after: bool = True
    batch_size: int = 16
    max_new_tokens: int = 256

    def check(self) -> list[str]:
        return [f"eval.{f}={self[f]!r} must be an integer >= 1" for f in ("batch_size", "max_new_tokens")
                if not is_int(self[f], 1)]


@dataclasses.dataclass(frozen=True)
class MeshSection(Section):
    """Attributes: the device mesh's axis sizes (data, fsdp, tensor); one may be -1 (the rest)."""

    name: ClassVar[str] = "mesh"
    data: int = 1
    fsdp: int = -1
    tensor: int = 1

    @property
    def shape(self) -> list[int]:
        return [self.data, self.fsdp, self.tensor]

    def check(self) -> list[str]:
        from laser_jax import sharding  # see the module docstring

        return sharding.check_mesh_config(self)


@dataclasses.dataclass(frozen=True)
class LoggingSection(Section):
    """Attributes: tensorboard event files, PNG plots, progress bars."""

    name: ClassVar[str] = "logging"
    tensorboard: bool = True
    plot: bool = True
    progress: bool = True


DEFAULT_METHODS = ("laser", "laser_per_query", "best", "random", "sequential", "ensemble", "exp3",
                   "oracle", "random_response")


@dataclasses.dataclass(frozen=True)
class ReplaySection(Section):
    """The best-of-n setting's replay (laser_jax/best_of_n).

    Attributes:
      orders: query orders replayed. batch: queries per bandit decision.
      rewards: bandit rewards replayed ("gold", "nll", "consensus"). methods: the methods compared.
      context_dim: 0 = the policy's full hidden state, else a projection to that many dimensions.
      context_transform: "none", "centre" or "whiten" (replay.project_contexts; fitted on the
        calibration queries' contexts, no labels).
      resamples: bootstrap resamples of the intervals.
      noise_rm, noise_sigma: the noisy-RM analysis ("" = none): Gaussian noise of that sigma added to that RM.
    """

    name: ClassVar[str] = "replay"
    orders: int = 100
    batch: int = 4
    rewards: tuple[str, ...] = ("gold", "nll")
    methods: tuple[str, ...] = DEFAULT_METHODS
    context_dim: int = 0
    context_transform: str = "none"
    resamples: int = 2000
    noise_rm: str = ""
    noise_sigma: float = 1.0

    def check_with(self, rm_names: list[str]) -> list[str]:
        from laser_jax.bandit.methods import is_method  # the method and reward registries: see the docstring
        from laser_jax.best_of_n import replay as rp

        problems = []
        if self.noise_rm and self.noise_rm not in rm_names:
            problems.append(f"replay.noise_rm={self.noise_rm!r} names no reward model (rewards: {rm_names}; '' = "
                            "no noisy-RM analysis)")
        problems += need_number("replay.noise_sigma", self.noise_sigma, 0, low_open=True)
        for f, low in (("orders", 1), ("batch", 1), ("context_dim", 0), ("resamples", 100)):
            problems += need_int(f"replay.{f}", self[f], low)
        if self.context_transform not in rp.CONTEXT_TRANSFORMS:
            problems.append(f"replay.context_transform={self.context_transform!r} must be one of "
                            f"{rp.CONTEXT_TRANSFORMS}")
        bad = [x for x in self.rewards if x not in rp.REWARDS]
        if bad or not self.rewards:
            problems.append(f"replay.rewards={tuple(self.rewards)!r} must be a non-empty subset of {rp.REWARDS}")
        for m in self.methods:
            if m.startswith("fixed:"):
                if m[6:] not in rm_names:
                    problems.append(f"replay.methods: {m!r} names no reward model (rewards: {rm_names})")
            elif m not in rp.METHODS and not is_method(m):  # laser_per_prompt: an alias (bandit/methods.py)
                problems.append(f"replay.methods: unknown method {m!r}; methods: {', '.join(rp.METHODS)}, "
                                "fixed:<rm>")
        return problems


SECTIONS: tuple[type[Section], ...] = (PolicySection, DataSection, BanditSection, SamplingSection,
                                       TrainingSection, EvalSection, MeshSection, LoggingSection)
