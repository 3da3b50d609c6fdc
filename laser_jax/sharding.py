"""Meshes and logical-axis rules: the one place that decides where arrays live.

Every parameter carries logical axis names (metadata `out_sharding` of its `nnx.Variable`, e.g.
``("layers", "embed", "heads", "head_dim")``). Rules map each logical name to mesh axes
(``data``, ``fsdp``, ``tensor``). A one-device run is a mesh of size one: the same code path.

A logical axis whose size does not divide by its mesh axes is replicated instead (e.g. SmolLM2's
3 kv-heads on a tensor axis of 2).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterable, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from laser_jax.errors import ConfigError, is_int

MESH_AXES = ("data", "fsdp", "tensor")

# logical name -> mesh axes (a tuple shards over their product, None replicates)
DEFAULT_RULES: tuple[tuple[str, Any], ...] = (
    ("batch", ("data", "fsdp")),
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("head_dim", None),
    ("layers", None),
    ("norm", None),
    ("labels", None),
    ("lora", None),
    ("rm", None),  # the stacked reward models / adapters of one vmapped call
    ("arms", None),
    ("length", None),
    ("context", None),
)


class ShardingError(ConfigError):
    """The mesh config does not fit the devices or the model (a user error: exit 2)."""


def check_mesh_config(m) -> list[str]:
    """The run config's `mesh` section (data, fsdp, tensor sizes; one may be -1)."""
    sizes = [m.data, m.fsdp, m.tensor]
    ok = all(is_int(v) and (v == -1 or v >= 1) for v in sizes) and sizes.count(-1) <= 1  # True is not 1
    return [] if ok else [f"mesh sizes {sizes} must be >= 1 with at most one -1"]


def make_mesh(shape: Sequence[int] | dict[str, int] = (1, 1, -1), devices=None,
              axis_names: Sequence[str] = MESH_AXES) -> Mesh:
    """A mesh over `devices` (default: all) with axes (data, fsdp, tensor); one size may be -1 (the rest)."""
    devices = list(jax.devices() if devices is None else devices)
    if isinstance(shape, dict):
        unknown = set(shape) - set(axis_names)
        if unknown:
            raise ShardingError(f"mesh: unknown axes {sorted(unknown)}; use {list(axis_names)}")
        shape = [int(shape.get(a, 1)) for a in axis_names]
    shape = [int(s) for s in shape]
    if len(shape) != len(axis_names):
        raise ShardingError(f"mesh: {len(shape)} sizes for axes {list(axis_names)}")
    if shape.count(-1) > 1:
        raise ShardingError(f"mesh: at most one axis may be -1, got {shape}")
    fixed = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if fixed <= 0 or len(devices) % fixed:
            raise ShardingError(f"mesh {shape}: {len(devices)} devices do not divide by {fixed}")
        shape[shape.index(-1)] = len(devices) // fixed
    if math.prod(shape) < len(devices) and -1 not in shape:
        import logging

        logging.getLogger("laser_jax").warning("mesh %s uses %d of the %d devices", shape, math.prod(shape),
                                               len(devices))
        devices = devices[:math.prod(shape)]
    if math.prod(shape) != len(devices):
        raise ShardingError(
            f"mesh {dict(zip(axis_names, shape))} needs {math.prod(shape)} devices, but {len(devices)} are "
            "available; set one axis to -1 to take the rest")
    try:
        grid = jax.experimental.mesh_utils.create_device_mesh(shape, devices)
    except Exception:  # non-TPU or odd shapes: plain row-major order is fine
        grid = np.array(devices).reshape(shape)
    return Mesh(grid, tuple(axis_names))


def single_device_mesh() -> Mesh:
    return make_mesh((1, 1, 1), devices=jax.devices()[:1])


def _rule_map(rules: Iterable[tuple[str, Any]]) -> dict[str, tuple[str, ...]]:
    out = {}
    for name, axes in rules:
        if axes is None:
            out[name] = ()
        elif isinstance(axes, str):
            out[name] = (axes,)
        else:
            out[name] = tuple(axes)
    return out


def logical_to_spec(names: Sequence[str | None], rules=DEFAULT_RULES, mesh: Mesh | dict | None = None,
                    shape: Sequence[int] | None = None) -> PartitionSpec:
    """PartitionSpec for an array with logical axes `names`.

    A mesh axis is used at most once (first dimension wins); with `mesh` (a Mesh, or a dict of
    axis sizes for planning) and `shape`, mesh axes of size 1 are dropped and a dimension that
    does not divide is replicated.
    """
    table = _rule_map(rules)
    sizes = None if mesh is None else dict(mesh if isinstance(mesh, dict) else mesh.shape)
    used: set[str] = set()
    spec = []
    for i, name in enumerate(names):
        axes = tuple(a for a in table.get(name, ()) if a not in used) if name is not None else ()
        if sizes is not None:
            axes = tuple(a for a in axes if sizes.get(a, 1) > 1)
            if shape is not None and axes and shape[i] % math.prod(sizes[a] for a in axes):
                axes = ()
        used.update(axes)
        spec.append(axes[0] if len(axes) == 1 else (axes or None))
    return PartitionSpec(*spec)


def _is_var(x) -> bool:
    return isinstance(x, nnx.Variable)


def logical_names(tree):
    """Pytree of logical-name tuples, one per `nnx.Variable` (from its `out_sharding` metadata)."""
    return jax.tree.map(lambda v: tuple(v.get_metadata().get("out_sharding") or ()), tree, is_leaf=_is_var)


def state_shardings(state, mesh: Mesh, rules=DEFAULT_RULES):
    """NamedSharding per Variable of an (abstract or concrete) nnx.State, read from its logical names."""

    def one(v):
        names = v.get_metadata().get("out_sharding") or (None,) * len(v.shape)
        return NamedSharding(mesh, logical_to_spec(names, rules, mesh, v.shape))

    return jax.tree.map(one, state, is_leaf=_is_var)


def batch_shards(mesh: Mesh, rules=DEFAULT_RULES) -> int:
    """Into how many pieces the batch rule splits a batch-major array's rows on `mesh`."""
    return shard_fraction(data_spec(1, rules, mesh=mesh), dict(mesh.shape))


def shard_fraction(spec: PartitionSpec, sizes: dict[str, int]) -> int:
    """Into how many pieces `spec` splits an array over a mesh of axis `sizes`."""
    parts = 1
    for axes in spec:
        for a in (axes,) if isinstance(axes, str) else (axes or ()):
            parts *= sizes.get(a, 1)
    return parts


def data_spec(rank: int, rules=DEFAULT_RULES, mesh: Mesh | None = None, shape=None) -> PartitionSpec:
    """Batch-major array: first axis on the batch rule, the rest replicated."""
    return logical_to_spec(("batch",) + (None,) * (rank - 1), rules, mesh, shape)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def place(state, mesh: Mesh, rules=DEFAULT_RULES):
    """`state` (an nnx.State) with every Variable on the sharding its logical names give. Arrays
    already there stay; host or process-local values are placed with `put` (multi-host safe)."""
    def one(x, sharding):
        if isinstance(x, jax.Array) and x.sharding == sharding:
            return x
        if isinstance(x, jax.Array) and not x.is_fully_addressable:  # global already: reshard on device
            return jax.jit(lambda a: a, out_shardings=sharding)(x)
        return put(x, sharding)

    # the shardings tree is a prefix of the state (a NamedSharding per Variable)
    return jax.tree.map(lambda sharding, var: jax.tree.map(lambda x: one(x, sharding), var),
                        state_shardings(state, mesh, rules), state)


def batch_sharding(x, mesh: Mesh, rules=DEFAULT_RULES) -> NamedSharding:
    """Batch-major array: first axis split over the batch rule's mesh axes when it divides."""
    return NamedSharding(mesh, data_spec(len(x.shape), rules, mesh, x.shape))


def rows_sharding(shape, mesh: Mesh, rules=DEFAULT_RULES, axes: Sequence[int] = (0, 1)) -> NamedSharding:
    """The batch rule's mesh axes on the first of `axes` whose size they divide (replicated if
    none): for prompt-once batches [groups, responses, ...] whose few groups do not divide over
    the chips but whose responses do (a reward model's micro-batch of one prompt and its n
    samples), so the work is split instead of repeated on every chip."""
    shards = batch_shards(mesh, rules)
    for i in axes:
        if i < len(shape) and shards > 1 and shape[i] % shards == 0:
            names = [None] * len(shape)
            names[i] = "batch"
            return NamedSharding(mesh, logical_to_spec(names, rules, mesh, shape))
    return NamedSharding(mesh, data_spec(len(shape), rules, mesh, shape))


def global_batch(x, mesh: Mesh, rules=DEFAULT_RULES) -> jax.Array:
    """A batch-major host array -> a global jax.Array split over the batch rule's mesh axes.

    Every process calls this with the same global batch; each one materialises only the rows
    of its own devices (its local part), so on a multi-host mesh no host uploads another's
    rows. On one process this is a plain sharded `device_put`.
    """
    x = np.asarray(x)
    return put(x, batch_sharding(x, mesh, rules))


def to_host(tree):
    """Device arrays (a pytree) as numpy, the same on every process.

    A fully addressable or replicated array is read locally; one split across hosts is gathered
    from all processes (`multihost_utils.process_allgather`), which every process must call.
    """
    from jax.experimental import multihost_utils

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))

    return jax.tree.map(one, tree)


def mesh_of(tree) -> Mesh | None:
    """The mesh the arrays of `tree` (e.g. a model's state) live on; None if none is named."""
    for leaf in jax.tree.leaves(tree):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, NamedSharding):
            return sharding.mesh
    return None


def replicated_for(tree) -> NamedSharding | None:
    """Replicated over the mesh `tree` lives on (None off a mesh): the out_sharding of a compiled
    function whose result every host reads (samples, RM scores)."""
    mesh = mesh_of(tree)
    return None if mesh is None else replicated(mesh)


_ACTIVATIONS: list = []  # (mesh, rules) of the `activation_sharding` blocks being traced, innermost last


@contextlib.contextmanager
def activation_sharding(mesh: Mesh | None, rules=DEFAULT_RULES):
    """While tracing a function under this block, `constrain_activation` pins activations to the
    shardings their logical names give on `mesh` (nothing when `mesh` is None). Read at trace
    time, as decoder.ATTENTION_CHUNK is: enter it inside the jitted function's body."""
    _ACTIVATIONS.append((mesh, rules))
    try:
        yield
    finally:
        _ACTIVATIONS.pop()


def constrain_activation(x, names: Sequence[str | None]):
    """Inside an `activation_sharding` block: `x` constrained to the sharding of its logical axis
    `names` (e.g. ("batch", "length", "embed")) on that block's mesh; elsewhere `x` unchanged.
    Without it XLA may split a layer's activations over "embed" (the fsdp axis the weights
    use) instead of over the batch, keeping every row on every chip."""
    if not _ACTIVATIONS or _ACTIVATIONS[-1][0] is None:
        return x
    mesh, rules = _ACTIVATIONS[-1]
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, logical_to_spec(names, rules, mesh, x.shape)))


def constrain(tree, sharding):
    """Inside jit: `with_sharding_constraint`, or nothing when `sharding` is None."""
    return tree if sharding is None else jax.lax.with_sharding_constraint(tree, sharding)


def put(tree, shardings):
    """Host values (numpy, or arrays local to this process, the same on every process) as global
    arrays on `shardings` (one sharding, or a matching pytree). Unlike `jax.device_put`, safe on a
    mesh spanning several processes: each process fills only its own devices' pieces."""
    def one(x, sharding):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

    if isinstance(shardings, jax.sharding.Sharding):
        return jax.tree.map(lambda x: one(x, shardings), tree)
    return jax.tree.map(one, tree, shardings)
