"""``attnsim hw list|show`` through click's test runner, as a user would call it."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from gpu_models import list_hardware, spec_path


def run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


def test_list_shows_every_bundled_machine_with_its_peaks():
    r = run("hw", "list")
    assert r.exit_code == 0, r.output
    for name in list_hardware():
        assert name in r.output
    assert "989.4 TFLOP/s" in r.output and "3.35 TB/s HBM" in r.output and "132 SMs" in r.output
    assert "429 GB/s DRAM" in r.output and "256x256+256 PEs" in r.output


def test_show_prints_every_figure_with_a_human_unit_and_its_source():
    r = run("hw", "show", "h100")
    assert r.exit_code == 0, r.output
    for text in ("tensor_clock_hz", "1830 MHz", "228 KiB", "50 MiB", "80 GiB", "3.35 TB/s", "2.43 us",
                 "4096 flop/clk/SM", "H100 Tensor Core GPU Architecture whitepaper", "989.4 TFLOP/s"):
        assert text in r.output, text


def test_show_json_has_every_field_in_si_with_sources_and_derived_peaks():
    data = json.loads(run("hw", "show", "h100", "--json").output)
    assert data["sms"] == 132 and data["tensor_clock_hz"] == 1830e6 and data["hbm_bw_bytes_s"] == 3.35e12
    assert data["smem_per_sm_bytes"] == 228 * 1024 and data["tensor_flops_per_clk_sm"]["fp8"] == 8192
    assert data["energy"] is None
    assert data["derived"]["tensor_peak_flops.fp16"] == 132 * 4096 * 1830e6
    assert data["derived"]["mma_sync_peak_flops.fp16"] == 132 * 2731 * 1830e6  # Hopper's legacy path: 2/3
    assert {"sms", "tensor_flops_per_clk_sm.fp16", "launch_overhead_s"} <= set(data["sources"])
    h20 = json.loads(run("hw", "show", "h20", "--json").output)["derived"]
    assert h20["mma_sync_peak_flops.fp16"] == h20["tensor_peak_flops.fp16"]  # the cap, below the ceiling, binds
    assert "mma_sync_peak_flops.fp16" not in json.loads(run("hw", "show", "a100", "--json").output)["derived"]


def test_show_json_of_an_accelerator():
    data = json.loads(run("hw", "show", "fusemax", "--json").output)
    assert data["kind"] == "accelerator" and data["pe2d_ops"] == ["mac", "add", "max"]
    assert data["exp_cost"] == {"mac": 6} and data["dram_bw_bytes_s"] == 400 * 2**30
    assert data["derived"]["peak_2d_macs"] == 256 * 256 * 940e6


def test_show_takes_a_path_to_a_users_toml(tmp_path):
    mine = tmp_path / "my-gpu.toml"
    mine.write_text(spec_path("a100").read_text().replace('name = "a100"', 'name = "my-a100"'))
    r = run("hw", "show", str(mine), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["name"] == "my-a100"


@pytest.mark.parametrize("arg, needles", [
    ("z80", ("'z80'", "allowed a100, a100-40gb, a100-pcie, a800, a800-pcie, b200, b300, flat, fusemax, gb200, gb300, h100, h100-pcie, h20, h200, h800")),
    ("./missing.toml", ("missing.toml",)),
])
def test_a_bad_name_is_one_line_and_exit_2(arg, needles):
    r = run("hw", "show", arg)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and all(n in lines[0] for n in needles), r.output


def test_a_broken_users_toml_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(spec_path("h100").read_text().replace('unit = "TB/s"', 'unit = "furlongs"', 1))
    r = run("hw", "show", str(bad))
    assert r.exit_code == 2
    assert r.output.strip() == ("attnsim: error: bad.toml: l2_bw_bytes_s has bad unit 'furlongs'; "
                                "allowed: B/s, GB/s, GiB/s, TB/s")
