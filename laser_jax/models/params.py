"""Checkpoint tensors -> model parameters, by one declarative table.

A rule is (HF tensor name template, our parameter path, kind, input dims): `{i}` is the layer
index, our stacked layer parameters take it as their leading index. Kinds:
- "linear": a torch Linear weight [out, in] -> transposed, reshaped to our kernel
  [*in_dims, *out_dims] (`n_in` of our dims are inputs);
- "reshape": biases and similar, reshaped to our shape;
- "copy": same shape (embeddings, norm scales).
Five families (Llama, Mistral, Qwen2, Qwen3, OLMo) share HF's layout, so they share one table;
Gemma 2 and 3 share another (`HF_GEMMA`: two more norms per layer, HF's names mean other norms);
a family's optional tensors (biases, q/k norms, lm_head, score) are mapped only when the built
model has that parameter. A checkpoint tensor must match exactly one rule, and every problem
(missing, unexpected, mis-shaped) is gathered into one CheckpointError naming the file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Iterable

import jax
import ml_dtypes
import numpy as np
from flax import nnx

from laser_jax import sharding as shd
from laser_jax.models.config import CheckpointError, DecoderConfig

log = logging.getLogger("laser_jax")


@dataclass(frozen=True)
class Rule:
    hf: str
    path: str
    kind: str = "copy"
    n_in: int = 1

    @property
    def regex(self) -> re.Pattern:
        return re.compile(re.escape(self.hf).replace(r"\{i\}", r"(\d+)"))

    @property
    def layered(self) -> bool:
        return "{i}" in self.hf


_L = "model.layers.{i}."
HF_DECODER: tuple[Rule, ...] = (
    Rule("model.embed_tokens.weight", "model/embed/embedding"),
    Rule(_L + "input_layernorm.weight", "model/layers/input_norm/scale"),
    Rule(_L + "post_attention_layernorm.weight", "model/layers/post_norm/scale"),
    Rule(_L + "self_attn.q_proj.weight", "model/layers/attn/q/kernel", "linear", 1),
    Rule(_L + "self_attn.k_proj.weight", "model/layers/attn/k/kernel", "linear", 1),
    Rule(_L + "self_attn.v_proj.weight", "model/layers/attn/v/kernel", "linear", 1),
    Rule(_L + "self_attn.o_proj.weight", "model/layers/attn/o/kernel", "linear", 2),
    Rule(_L + "self_attn.q_proj.bias", "model/layers/attn/q/bias", "reshape"),
    Rule(_L + "self_attn.k_proj.bias", "model/layers/attn/k/bias", "reshape"),
    Rule(_L + "self_attn.v_proj.bias", "model/layers/attn/v/bias", "reshape"),
    Rule(_L + "self_attn.o_proj.bias", "model/layers/attn/o/bias", "reshape"),
    Rule(_L + "self_attn.q_norm.weight", "model/layers/attn/q_norm/scale"),
    Rule(_L + "self_attn.k_norm.weight", "model/layers/attn/k_norm/scale"),
    Rule(_L + "mlp.gate_proj.weight", "model/layers/mlp/gate/kernel", "linear", 1),
    Rule(_L + "mlp.up_proj.weight", "model/layers/mlp/up/kernel", "linear", 1),
    Rule(_L + "mlp.down_proj.weight", "model/layers/mlp/down/kernel", "linear", 1),
    Rule(_L + "mlp.gate_proj.bias", "model/layers/mlp/gate/bias", "reshape"),
    Rule(_L + "mlp.up_proj.bias", "model/layers/mlp/up/bias", "reshape"),
    Rule(_L + "mlp.down_proj.bias", "model/layers/mlp/down/bias", "reshape"),
    Rule("model.norm.weight", "model/final_norm/scale"),
    Rule("lm_head.weight", "lm_head/kernel", "linear", 1),
    Rule("score.weight", "score/kernel", "linear", 1),
)
# Gemma 2 / 3: HF's post_attention_layernorm norms the attention output (ours: attn_out_norm), and
# pre_/post_feedforward_layernorm norm the MLP's input (post_norm, as for the other families) and output
HF_GEMMA: tuple[Rule, ...] = tuple(r for r in HF_DECODER if r.path != "model/layers/post_norm/scale") + (
    Rule(_L + "post_attention_layernorm.weight", "model/layers/attn_out_norm/scale"),
    Rule(_L + "pre_feedforward_layernorm.weight", "model/layers/post_norm/scale"),
    Rule(_L + "post_feedforward_layernorm.weight", "model/layers/mlp_out_norm/scale"),
)
TABLES: dict[str, tuple[Rule, ...]] = {
    **{f: HF_DECODER for f in ("llama", "mistral", "qwen2", "qwen3", "olmo")},
    "gemma2": HF_GEMMA, "gemma3": HF_GEMMA}
# Tensors that carry no parameters of ours (buffers some exporters write).
IGNORED = (re.compile(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq"), re.compile(r"model\.rotary_emb\..*"))

Source = Iterable[tuple[str, tuple[int, ...], Callable[[], np.ndarray]]]


def _flat_targets(abstract_state) -> dict[str, nnx.Variable]:
    return {"/".join(map(str, p)): v for p, v in nnx.to_flat_state(abstract_state)}


def _check_shape(rule: Rule, src_shape, want) -> bool:
    if rule.kind == "linear":
        n_in = rule.n_in
        return tuple(src_shape) == (int(np.prod(want[n_in:])), int(np.prod(want[:n_in])))
    if rule.kind == "reshape":
        return int(np.prod(src_shape)) == int(np.prod(want))
    return tuple(src_shape) == tuple(want)


def _transform(rule: Rule, arr: np.ndarray, want) -> np.ndarray:
    if rule.kind == "linear":
        n_in = rule.n_in
        return arr.T.reshape(*want[:n_in], *want[n_in:])
    return arr.reshape(want)


def _cast(arr: np.ndarray, dtype) -> np.ndarray:
    dtype = np.dtype(ml_dtypes.bfloat16) if str(dtype) == "bfloat16" else np.dtype(dtype)
    return arr if arr.dtype == dtype else arr.astype(dtype)


def load_into(cfg: DecoderConfig, abstract_model, source: Source, where: str, *, shardings=None,
              mesh=None, rules=shd.DEFAULT_RULES, table: tuple[Rule, ...] | None = None):
    """Fill `abstract_model` (from `decoder.abstract`) with the tensors of `source`.

    Each tensor goes straight to its target sharding (`jax.make_array_from_callback`). `where`
    names the checkpoint in errors.
    """
    table = table or TABLES[cfg.family]
    graphdef, abs_state = nnx.split(abstract_model)
    targets = _flat_targets(abs_state)
    if shardings is None:
        mesh = mesh or shd.single_device_mesh()
        shardings = _flat_targets(shd.state_shardings(abs_state, mesh, rules))
    compiled = [(r, r.regex) for r in table]
    pending: dict[str, dict[int | None, tuple]] = {}
    unexpected, misshaped, ambiguous = [], [], []
    seen_rules: dict[str, Rule] = {}

    for name, shape, load in source:
        if any(p.fullmatch(name) for p in IGNORED):
            continue
        hits = [(r, m) for r, rx in compiled if (m := rx.fullmatch(name))]
        if len(hits) > 1:
            ambiguous.append(f"{name} matches {len(hits)} rules: {[r.hf for r, _ in hits]}")
            continue
        if not hits:
            unexpected.append(name)
            continue
        rule, m = hits[0]
        if rule.path not in targets:
            if rule.path == "lm_head/kernel" and cfg.tie_word_embeddings:
                log.info("%s: ignoring %s (the config ties word embeddings)", where, name)
                continue
            unexpected.append(f"{name} (the config has no such parameter: {rule.path})")
            continue
        var = targets[rule.path]
        layer = int(m.group(1)) if rule.layered else None
        want = tuple(var.shape[1:]) if rule.layered else tuple(var.shape)
        if layer is not None and not 0 <= layer < var.shape[0]:
            unexpected.append(f"{name} (layer {layer}, but the config has {var.shape[0]} layers)")
            continue
        if not _check_shape(rule, shape, want):
            expect = (int(np.prod(want[rule.n_in:])), int(np.prod(want[:rule.n_in]))) if rule.kind == "linear" \
                else want
            misshaped.append(f"{name}: shape {tuple(shape)}, expected {tuple(expect)}")
            pending.setdefault(rule.path, {})[layer] = None  # reported once, not also as missing
            continue
        slot = pending.setdefault(rule.path, {})
        if layer in slot:
            ambiguous.append(f"{name} appears twice")
        slot[layer] = (load, rule, want)
        seen_rules[rule.path] = rule

    missing = []
    by_path = {r.path: r for r in table}
    for path, var in targets.items():
        rule = by_path.get(path)
        got = pending.get(path, {})
        if rule is None:
            missing.append(f"(no rule maps to parameter {path})")
        elif rule.layered:
            absent = [i for i in range(var.shape[0]) if i not in got]
            if absent:
                shown = ", ".join(rule.hf.format(i=i) for i in absent[:3])
                more = f" and {len(absent) - 3} more layers" if len(absent) > 3 else ""
                missing.append(shown + more)
        elif None not in got:
            missing.append(rule.hf)

    problems = [f"missing tensor: {m}" for m in missing] + [f"unexpected tensor: {u}" for u in unexpected] + \
        [f"wrong shape: {s}" for s in misshaped] + [f"ambiguous: {a}" for a in ambiguous]
    if problems:
        raise CheckpointError(
            f"{where}: the checkpoint does not fit the {cfg.family} config ({len(problems)} problems):\n  "
            + "\n  ".join(problems))

    values = {}
    for path, var in targets.items():
        got = pending[path]
        if None in got:
            load, rule, want = got[None]
            arr = _cast(_transform(rule, np.asarray(load()), want), var.dtype)
        else:
            arr = np.empty(var.shape, _cast(np.zeros(()), var.dtype).dtype)
            for i in range(var.shape[0]):
                load, rule, want = got[i]
                arr[i] = _cast(_transform(rule, np.asarray(load()), want), var.dtype)
        sh = shardings[path]
        values[path] = jax.make_array_from_callback(arr.shape, sh, lambda idx, a=arr: a[idx])
    return merge_flat(graphdef, abs_state, values)


def merge_flat(graphdef, abs_state, values: dict[str, jax.Array]):
    """The module with each Variable of `abs_state` set to `values['a/b/c']`."""
    flat = []
    for path, var in nnx.to_flat_state(abs_state):
        flat.append((path, var.replace(values["/".join(map(str, path))])))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def export_hf(model, cfg: DecoderConfig, table: tuple[Rule, ...] | None = None) -> dict[str, np.ndarray]:
    """The inverse of `load_into`: HF-named float arrays from a model (for round trips and export)."""
    table = table or TABLES[cfg.family]
    state = _flat_targets(nnx.state(model))
    out = {}
    for rule in table:
        if rule.path not in state:
            continue
        arr = np.asarray(jax.device_get(state[rule.path].get_value()))
        layers = range(arr.shape[0]) if rule.layered else [None]
        for i in layers:
            a = arr[i] if i is not None else arr
            if rule.kind == "linear":
                a = a.reshape(int(np.prod(a.shape[:rule.n_in])), -1).T
            elif rule.kind == "reshape":
                a = a.reshape(-1)
            out[rule.hf.format(i=i)] = np.ascontiguousarray(a)
    return out
