"""What XLA says about one compiled function: memory per chip, FLOPs, bytes accessed, collectives,
and a roofline time from the chip's published peak (the compile report's figures).

    topo = tpu_topology("v5e:4x4")            # abstract devices: compiles here, runs nowhere
    compiled = jax.jit(f, ...).lower(*abstract_args).compile()
    figures = measure(compiled, CHIPS["v5e"], scan_trips=32)

- Memory (`compiled.memory_analysis()`, per chip): argument, output, alias (outputs written over
  donated arguments) and temporary bytes.
- Cost (`compiled.cost_analysis()`, per chip): XLA counts the body of a `scan` / `while` once, not
  once per trip; `scan_trips` (the scanned layers) multiplies the whole figure, which is right
  when the layer scan holds nearly all the work (decoders: the LM head is counted 32x too, a few
  per cent high for an 8B model) and stated as such in the report.
- Collectives: every all-gather / all-reduce / reduce-scatter / all-to-all / collective-permute in
  the optimised HLO, with the bytes of its result shape (per chip), also times `scan_trips` for
  the ones inside a loop body (approximated: all of them).
- Roofline: max(FLOPs / peak bf16 FLOP/s, bytes accessed / HBM bandwidth), per chip; collectives
  are not in it (ICI overlaps with compute on TPUs when XLA can schedule it so).
"""

from __future__ import annotations

import dataclasses
import os
import re

GiB = 1024 ** 3


@dataclasses.dataclass(frozen=True)
class Chip:
    """One TPU generation's published per-chip figures."""

    name: str
    bf16_flops: float  # peak dense bf16 FLOP/s
    hbm_bandwidth: float  # bytes/s
    hbm_bytes: int
    accelerator: str  # TPU_ACCELERATOR_TYPE prefix libtpu expects


CHIPS = {
    "v4": Chip("v4", 275e12, 1.2e12, 32 * GiB, "v4"),
    "v5e": Chip("v5e", 197e12, 819e9, 16 * GiB, "v5litepod"),
    "v5p": Chip("v5p", 459e12, 2.76e12, 95 * GiB, "v5p"),
    "v6e": Chip("v6e", 918e12, 1.64e12, 32 * GiB, "v6e"),
}

INSTALL = ("the TPU compiler (libtpu) is not installed; install it with\n"
           "    pip install 'laser_jax[tpu]'      (or: pip install 'jax[tpu]==<your jax version>')\n"
           "then run the command again (no TPU is needed: the compiler runs on this CPU)")


class NoTPUCompiler(RuntimeError):
    """libtpu is missing (the command says how to install it; exit 2)."""


def have_libtpu() -> bool:
    try:
        import libtpu  # noqa: F401
    except ImportError:
        return False
    return True


def parse_topology(name: str) -> tuple[Chip, tuple[int, ...]]:
    """'v5e:4x4' -> (its Chip, (4, 4)); ValueError naming the known generations otherwise."""
    gen, _, dims = name.partition(":")
    if gen not in CHIPS or not re.fullmatch(r"\d+(x\d+){1,2}", dims):
        raise ValueError(f"topology {name!r}: give GENERATION:AxB[xC] with GENERATION one of {sorted(CHIPS)}, "
                         "e.g. v5e:4x4, v5p:2x2x1, v6e:2x4")
    return CHIPS[gen], tuple(int(d) for d in dims.split("x"))


def tpu_topology(name: str):
    """The abstract devices of a TPU slice (`jax.experimental.topologies`), compiled for by libtpu
    on this host; NoTPUCompiler when libtpu is missing."""
    chip, dims = parse_topology(name)
    if not have_libtpu():
        raise NoTPUCompiler(INSTALL)
    chips = 1
    for d in dims:
        chips *= d
    # quieten libtpu's look-ups of the (absent) TPU VM's metadata
    os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")
    os.environ["TPU_ACCELERATOR_TYPE"] = f"{chip.accelerator}-{chips * (2 if chip.name in ('v4', 'v5p') else 1)}"
    os.environ.setdefault("TPU_WORKER_HOSTNAMES", "localhost")
    os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")  # no TPU to guard: compile in several processes
    from jax.experimental import topologies

    return topologies.get_topology_desc(platform="tpu", topology_name=name)


COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute")
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2, "s32": 4, "u32": 4,
                "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8, "c128": 16, "f8e4m3fn": 1, "f8e5m2": 1}
_SHAPE = re.compile(r"\b([a-z]+[0-9]*[a-z0-9]*)\[([0-9,]*)\]")
_OP = re.compile(r"=\s*(\(?[^=]*?\)?)\s+(" + "|".join(COLLECTIVES) + r")(-start)?\(")


def shape_bytes(text: str) -> int:
    """Bytes of every array shape in an HLO result type ('bf16[4,128]{1,0}' or a tuple of them)."""
    total = 0
    for dtype, dims in _SHAPE.findall(text):
        if dtype not in _DTYPE_BYTES:
            continue
        n = 1
        for d in filter(None, dims.split(",")):
            n *= int(d)
        total += n * _DTYPE_BYTES[dtype]
    return total


def collectives(hlo: str) -> dict[str, dict[str, int]]:
    """{op: {"count", "bytes"}} over the optimised HLO text (`compiled.as_text()`); an async pair
    (`all-gather-start` / `-done`) counts once, by its start."""
    out: dict[str, dict[str, int]] = {}
    for line in hlo.splitlines():
        m = _OP.search(line)
        if not m:
            continue
        result, op, start = m.group(1), m.group(2), m.group(3)
        nbytes = shape_bytes(result)
        if start and result.startswith("("):  # start ops return (operands..., results...): keep the results half
            nbytes //= 2
        row = out.setdefault(op, {"count": 0, "bytes": 0})
        row["count"] += 1
        row["bytes"] += nbytes
    return out


def _cost(compiled) -> dict:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per program
        cost = cost[0] if cost else {}
    return cost or {}


def measure(compiled, chip: Chip, scan_trips: int = 1) -> dict:
    """The report's figures of one compiled function (per chip; see the module doc)."""
    mem = compiled.memory_analysis()
    cost = _cost(compiled)
    flops = float(cost.get("flops", 0.0)) * scan_trips
    accessed = float(cost.get("bytes accessed", 0.0)) * scan_trips
    coll = collectives(compiled.as_text())
    coll_bytes = sum(r["bytes"] for r in coll.values()) * scan_trips
    compute_s, memory_s = flops / chip.bf16_flops, accessed / chip.hbm_bandwidth
    return {
        "argument_bytes": int(mem.argument_size_in_bytes),
        "output_bytes": int(mem.output_size_in_bytes),
        "alias_bytes": int(mem.alias_size_in_bytes),
        "temp_bytes": int(mem.temp_size_in_bytes),
        "flops": flops,
        "bytes_accessed": accessed,
        "collective_bytes": int(coll_bytes),
        "collectives": coll,
        "scan_trips": scan_trips,
        "roofline_s": max(compute_s, memory_s),
        "bound": "compute" if compute_s >= memory_s else "memory",
    }
