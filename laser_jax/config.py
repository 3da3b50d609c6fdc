"""The run configuration (ml_collections).

`base_config()` holds every field with its default; files in configs/ start from it and change
what their setting needs. Each section is checked by the component that owns it (`data` by
`laser_jax.data.check_config`, `rewards` by `laser_jax.rewards.build.check_specs`, `selector` and
`selector_args` by `laser_jax.bandit.selectors.check_args`, `sampling` by `laser_jax.sampling`,
`mesh` by `laser_jax.sharding`, the optimizer and loss fields by `laser_jax.training.update`); a
setting's `validate` (the training setting: `laser_jax.training.validation.validate`) calls them
before any model loads and raises one ConfigError listing every problem, each naming its field.
"""

from __future__ import annotations

from ml_collections import ConfigDict, config_dict

from laser_jax.bandit.selectors import default_args
from laser_jax.errors import ConfigError

__all__ = ["ConfigError", "base_config"]


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.seed = 0
    # laser | thompson | fixed | random | sequential | ensemble | agreement | online_ensemble | exp3
    c.selector = "laser"
    # every selector's arguments with their defaults; each selector declares and checks the ones it
    # reads (bandit/selectors.py: laser alpha, lam, history_size, per_prompt, max_pulls;
    # thompson posterior_scale and laser's others but alpha; fixed arm; exp3 gamma, history_size;
    # online_ensemble eta, history_size). max_pulls (laser): -1 = automatic (dense square-root state
    # up to d=1024, low-rank above), 0 = dense.
    c.selector_args = ConfigDict(default_args())

    c.policy = ConfigDict(dict(
        path="",  # HF dir, .gguf, laser_jax checkpoint, hub id, or "smollm2-135m-instruct"
        tokenizer="",  # default: the policy path
        dtype="float32",
        lora_rank=16,  # 0 = full fine-tuning
        lora_alpha=32.0,
        lora_targets=("q", "k", "v", "o", "gate", "up", "down"),
        remat=False,
        attention="auto",  # auto | dense | chunked (memory-efficient, long prompts): models/decoder.attend
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
    # What the selector learns from (every learning selector: laser, thompson, exp3, online_ensemble).
    # context: last_hidden (the policy's final hidden state at the prompt's last token) or
    #   mean_embedding (the authors' code: the mean input embedding over its tokens).
    # reward (training/feedback.py): loss (the paper's: -(DPO+NLL loss)), dpo_loss (-(DPO term)) or
    #   gold_agreement (needs gold answers: the share of trained pairs whose chosen response is the
    #   correct one, among pairs that differ in correctness).
    # normalise (bandit/normalise.py): quantile (the paper's 20/80 rule against the reward history),
    #   none (the raw reward), window (Phi of the reward standardised over the history).
    c.bandit = ConfigDict(dict(context="last_hidden", reward="loss", normalise="quantile"))
    c.sampling = ConfigDict(dict(n=30, temperature=0.8, top_p=1.0, top_k=0, max_new_tokens=256,
                                 max_prompt_tokens=512))
    c.training = ConfigDict(dict(
        iterations=10,
        batch_size=16,
        pairs_per_prompt=10,
        pairing="extremes",  # extremes: (best, worst), (2nd, 2nd worst), ...; top_vs_rest: (1st, 2nd), (1st, 3rd), ...
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
