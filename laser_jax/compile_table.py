"""The compile report as text and JSON, and the smallest slice of a TPU generation that fits a run.

    print(table(reports))                       # one block per topology, one row per function
    print(comparison(config, reports))          # XLA's peak beside the analytic planner's total
    smallest(config, "v5e", log=print)          # the first slice, in chips, whose peak fits HBM
"""

from __future__ import annotations

import math

from laser_jax import outputs
from laser_jax.footprint import parse_mesh, plan

GiB = 1024 ** 3

# the slices tried per generation, smallest first (v5e / v6e: 2D tori; v5p: 3D)
SLICES = {
    "v4": ("v4:2x2x1", "v4:2x2x2", "v4:2x2x4", "v4:2x4x4", "v4:4x4x4", "v4:4x4x8"),
    "v5e": ("v5e:2x2", "v5e:2x4", "v5e:4x4", "v5e:4x8", "v5e:8x8", "v5e:8x16", "v5e:16x16"),
    "v5p": ("v5p:2x2x1", "v5p:2x2x2", "v5p:2x2x4", "v5p:2x4x4", "v5p:4x4x4", "v5p:4x4x8"),
    "v6e": ("v6e:2x2", "v6e:2x4", "v6e:4x4", "v6e:4x8", "v6e:8x8", "v6e:8x16", "v6e:16x16"),
}


def _gib(b) -> str:
    return f"{b / GiB:.2f}"


def _flops(x) -> str:
    return f"{x / 1e12:.2f}" if x >= 1e10 else f"{x / 1e12:.2g}"


def table(reports: list[dict]) -> str:
    """Markdown: per topology, its verdict, then one row per function (GiB / TFLOP per chip)."""
    out = []
    for r in reports:
        verdict = "fits" if r["fits"] else "does NOT fit"
        out.append(f"### {r['topology']} ({r['chips']} chips, mesh {r['mesh']}, HBM {_gib(r['hbm_bytes'])} GiB/chip): "
                   f"{verdict}; peak {_gib(r['peak_bytes'])} GiB in {r['peak_function']}, resident "
                   f"{_gib(r['resident_bytes'])} GiB")
        out.append("")
        if not r["functions"]:
            out.append("(nothing compiled: the resident state alone exceeds HBM)")
            out.append("")
            continue
        out.append("| function | args GiB | out GiB | alias GiB | temp GiB | peak GiB | TFLOP | GB accessed | "
                   "collectives GB | roofline ms | bound |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for name, f in r["functions"].items():
            if f.get("refused"):
                out.append(f"| {name} | | | | {_gib(f['temp_bytes'])} | {_gib(f['peak_bytes'])} | refused by XLA: "
                           "temporaries exceed HBM | | | | |")
                continue
            out.append(f"| {name} | {_gib(f['argument_bytes'])} | {_gib(f['output_bytes'])} | "
                       f"{_gib(f['alias_bytes'])} | {_gib(f['temp_bytes'])} | {_gib(f['peak_bytes'])} | "
                       f"{_flops(f['flops'])} | {f['bytes_accessed'] / 1e9:.2f} | "
                       f"{f['collective_bytes'] / 1e9:.3f} | {f['roofline_s'] * 1e3:.2f} | {f['bound']} |")
        out.append("")
    return "\n".join(out)


def comparison(config, reports: list[dict]) -> str:
    """Markdown: per topology, the analytic planner's total (footprint.plan) beside XLA's peak,
    and their ratio (flagged when they differ by more than 20 %)."""
    out = ["| topology | mesh | analytic total GiB | XLA resident GiB | XLA peak GiB (function) | XLA / analytic |",
           "|---|---|---|---|---|---|"]
    for r in reports:
        analytic = plan(config, parse_mesh(r["mesh"]))["total"]
        ratio = r["peak_bytes"] / analytic if analytic else float("nan")
        flag = " (> 20 %)" if abs(ratio - 1) > 0.2 else ""
        out.append(f"| {r['topology']} | {r['mesh']} | {_gib(analytic)} | {_gib(r['resident_bytes'])} | "
                   f"{_gib(r['peak_bytes'])} ({r['peak_function']}) | {ratio:.2f}{flag} |")
    return "\n".join(out)


def first_candidate(config, generation: str, hbm_bytes: int) -> int:
    """Index in SLICES[generation] of the first slice whose analytic total fits (0 if none)."""
    from laser_jax.xla_cost import parse_topology

    for i, topo in enumerate(SLICES[generation]):
        if plan(config, (1, math.prod(parse_topology(topo)[1]), 1))["total"] <= hbm_bytes:
            return max(i - 1, 0)  # one below: XLA may fit where the estimate does not
    return 0


def smallest(config, generation: str, compile_fn, log=None, max_tries: int = 4) -> tuple[dict | None, list[dict]]:
    """(the report of the smallest slice of `generation` whose every function fits, every report
    made on the way). Starts one slice below the analytic planner's first fit and walks up;
    `compile_fn(topology) -> report`."""
    from laser_jax.xla_cost import CHIPS

    start = first_candidate(config, generation, CHIPS[generation].hbm_bytes)
    tried = []
    for topo in SLICES[generation][start:start + max_tries]:
        r = compile_fn(topo)
        tried.append(r)
        if log:
            log(f"{topo}: peak {_gib(r['peak_bytes'])} GiB ({r['peak_function']}): "
                f"{'fits' if r['fits'] else 'does not fit'}")
        if r["fits"]:
            return r, tried
    return None, tried


def smallest_table(found: dict[str, dict | None]) -> str:
    out = ["| generation | smallest slice that fits | chips | mesh | peak GiB/chip (function) | HBM GiB/chip |",
           "|---|---|---|---|---|---|"]
    for gen, r in found.items():
        if r is None:
            out.append(f"| {gen} | none of those tried | | | | |")
        else:
            out.append(f"| {gen} | {r['topology']} | {r['chips']} | {r['mesh']} | {_gib(r['peak_bytes'])} "
                       f"({r['peak_function']}) | {_gib(r['hbm_bytes'])} |")
    return "\n".join(out)


def write_json(path, reports: list[dict]) -> None:
    """The reports as JSON, written atomically (`outputs.write_json`: non-finite numbers as null)."""
    outputs.write_json(path, reports)
