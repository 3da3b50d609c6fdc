"""The TPU compile report (`python -m laser_jax.memory --compile`): without libtpu it says how to
install it (exit 2); its tables, JSON and HLO parsing on fixed inputs; with libtpu (not in the test
extra) a tiny config compiled for a v5e:2x2 slice."""

import json
from pathlib import Path

import pytest

from laser_jax import compile_table as ct
from laser_jax import xla_cost
from laser_jax.cli import memory

ROOT = Path(__file__).resolve().parents[1]
TINY = str(ROOT / "configs" / "tiny.py")
GSM8K = str(ROOT / "configs" / "gsm8k.py")
GiB = 1024 ** 3


def test_without_libtpu_the_command_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setattr(xla_cost, "have_libtpu", lambda: False)
    assert memory.main(["--config", TINY, "--compile", "v5e:2x2"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'laser_jax[tpu]'" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, what", [
    (["--compile", "v9x:2x2"], "topology 'v9x:2x2'"),
    (["--compile", "v5e:4"], "topology 'v5e:4'"),
    (["--compile", "v5e:2x2", "--mesh", "2x2"], "--mesh '2x2'"),
    (["--smallest", "v7"], "--smallest v7"),
])
def test_bad_arguments_exit_2_naming_the_argument(argv, what, capsys):
    assert memory.main(["--config", TINY] + argv) == 2
    assert what in capsys.readouterr().err


def test_collectives_are_read_from_hlo_with_their_result_bytes():
    hlo = "\n".join([
        "  %ag = bf16[16,4096]{1,0} all-gather(bf16[1,4096]{1,0} %p), replica_groups={}",
        "  %ar = f32[8]{0} all-reduce(f32[8]{0} %x), to_apply=%add",
        "  %ars = (f32[4]{0}, f32[4]{0}) all-reduce-start(f32[4]{0} %y), to_apply=%add",
        "  %ard = f32[4]{0} all-reduce-done((f32[4]{0}, f32[4]{0}) %ars)",
        "  %cp = s32[2,3]{1,0} collective-permute(s32[2,3]{1,0} %z), source_target_pairs={{0,1}}",
        "  %dot = f32[8,8]{1,0} dot(f32[8,8]{1,0} %a, f32[8,8]{1,0} %b)",
    ])
    got = xla_cost.collectives(hlo)
    assert got["all-gather"] == {"count": 1, "bytes": 16 * 4096 * 2}
    assert got["all-reduce"] == {"count": 2, "bytes": 8 * 4 + 4 * 4}
    assert got["collective-permute"] == {"count": 1, "bytes": 24}
    assert set(got) == {"all-gather", "all-reduce", "collective-permute"}


def fake_function(peak_gib, flops=2e12, temp_gib=1.0):
    return {"argument_bytes": GiB, "output_bytes": GiB // 2, "alias_bytes": 0, "temp_bytes": int(temp_gib * GiB),
            "peak_bytes": int(peak_gib * GiB), "flops": flops, "bytes_accessed": 3e9, "collective_bytes": 5e8,
            "collectives": {}, "scan_trips": 32, "roofline_s": 0.0123, "bound": "compute", "note": ""}


def fake_report(topology="v5e:4x4", peak_gib=12.0):
    funcs = {"context": fake_function(9.0), "train_step": fake_function(peak_gib)}
    return {"topology": topology, "chip": "v5e", "chips": 16, "hbm_bytes": 16 * GiB, "mesh": "1x16x1",
            "resident_bytes": 8 * GiB, "resident": {}, "peak_bytes": int(peak_gib * GiB),
            "peak_function": "train_step", "fits": peak_gib <= 16, "functions": funcs}


def test_table_shows_each_function_in_gib_and_the_verdict():
    text = ct.table([fake_report(), fake_report("v5e:2x4", peak_gib=20.0)])
    assert "### v5e:4x4 (16 chips, mesh 1x16x1, HBM 16.00 GiB/chip): fits; peak 12.00 GiB in train_step" in text
    assert "v5e:2x4" in text and "does NOT fit; peak 20.00 GiB" in text
    assert "| train_step | 1.00 | 0.50 | 0.00 | 1.00 | 12.00 | 2.00 | 3.00 | 0.500 | 12.30 | compute |" in text


def test_comparison_puts_the_analytic_total_beside_xla_and_flags_20_percent():
    from laser_jax.cli.launch import load_config_file
    from laser_jax.footprint import plan

    config = load_config_file(GSM8K)
    analytic = plan(config, (1, 16, 1))["total"]
    near, far = fake_report(peak_gib=analytic / GiB * 1.1), fake_report(peak_gib=analytic / GiB * 2)
    rows = ct.comparison(config, [near, far]).splitlines()[2:]
    assert f"| {analytic / GiB:.2f} |" in rows[0] and "(> 20 %)" not in rows[0] and rows[0].endswith("| 1.10 |")
    assert rows[1].endswith("| 2.00 (> 20 %) |")


def test_smallest_walks_up_from_below_the_analytic_estimate_until_xla_fits():
    from laser_jax.cli.launch import load_config_file

    config = load_config_file(GSM8K)
    seen = []

    def compile_fn(topo):
        seen.append(topo)
        return fake_report(topo, peak_gib=10.0 if topo == "v5e:8x8" else 30.0)

    found, tried = ct.smallest(config, "v5e", compile_fn, max_tries=7)
    assert found["topology"] == "v5e:8x8" and seen[-1] == "v5e:8x8" and len(tried) == len(seen)
    start = ct.first_candidate(config, "v5e", 16 * GiB)
    assert seen[0] == ct.SLICES["v5e"][start]


def test_json_round_trips(tmp_path):
    path = tmp_path / "out.json"
    ct.write_json(path, [fake_report()])
    (r,) = json.loads(path.read_text())
    assert {"topology", "chips", "hbm_bytes", "mesh", "fits", "functions"} <= set(r)
    assert {"argument_bytes", "output_bytes", "temp_bytes", "peak_bytes", "flops", "bytes_accessed",
            "collective_bytes", "roofline_s"} <= set(r["functions"]["train_step"])


def test_tiny_config_compiles_for_v5e_2x2(tmp_path, capsys):
    pytest.importorskip("libtpu")
    out = tmp_path / "out.json"
    assert memory.main(["--config", TINY, "--compile", "v5e:2x2", "--json", str(out)]) == 0
    assert "### v5e:2x2 (4 chips, mesh 1x4x1, HBM 16.00 GiB/chip): fits" in capsys.readouterr().out
    (r,) = json.loads(out.read_text())
    assert r["chips"] == 4 and r["fits"] is True and r["hbm_bytes"] == 16 * GiB
    assert set(r["functions"]) == {"context", "select", "update", "sample_prefill", "sample_decode_step",
                                   "score:classifier", "score:likelihood", "train_step"}
    for name, f in r["functions"].items():
        assert f["argument_bytes"] > 0, name
        assert f["peak_bytes"] >= r["resident_bytes"] + f["temp_bytes"], name
        assert f["roofline_s"] > 0 and f["bytes_accessed"] > 0, name
    # the train step does real work: at least the forward + backward of the policy on its pairs
    assert r["functions"]["train_step"]["flops"] > r["functions"]["context"]["flops"]
    assert r["functions"]["train_step"]["collective_bytes"] > 0  # fsdp over 4 chips: weights gathered


@pytest.mark.parametrize("message, temp_gib", [
    ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO temporaries (31.00G) exceeds "
     "available HBM (15.75G).", 31.0),
    ("RESOURCE_EXHAUSTED: E1000: CompileTimeHbmOom: XLA:TPU compile permanent error. Ran out of memory in memory "
     "space hbm. Used 15.82G of 15.75G hbm. Exceeded hbm capacity by 70.32M.", 15.82),
])
def test_a_function_xla_refuses_is_reported_with_its_bytes_not_raised(message, temp_gib):
    from laser_jax.compile_report import refused

    f = refused(RuntimeError(message), resident_total=GiB)
    assert f["temp_bytes"] == int(temp_gib * GiB) and f["peak_bytes"] == GiB + int(temp_gib * GiB)
    assert f["flops"] is None and f["refused"].startswith("RESOURCE_EXHAUSTED")
    with pytest.raises(ValueError):
        refused(ValueError("something else"), resident_total=0)
