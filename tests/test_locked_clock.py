"""``--hw NAME:MHZ``: a GPU with its SMs locked at a clock (nvidia-smi --lock-gpu-clocks), as benchmarks that lock
clocks run it. Every cycle count becomes time at that clock; HBM keeps its bandwidth, the L2 its bytes per clock."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from gpu_models import load_hardware, spec_path
from simulator.api import run_points, split_baseline
from test_bad_inputs_review import one_line_error

TILEOPS = "validation/published/tileops-nightly-2026-09-07-h200.json"  # its benchmark locked the H200 at 1500 MHz


def run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


def test_a_locked_machine_is_the_machine_at_that_sm_clock():
    free, locked = load_hardware("h100"), load_hardware("h100:1500")
    assert locked.name == "h100:1500" and "locked at 1500 MHz" in locked.display_name
    assert locked.sustained_clock_hz == 1500e6 and free.sustained_clock_hz == 1830e6
    assert locked.hbm_bw_bytes_s == free.hbm_bw_bytes_s and locked.wgmma_efficiency == free.wgmma_efficiency
    assert "locked by the user" in locked.sources["sustained_clock_hz"]
    assert load_hardware("H100:1500MHz") == locked  # any case, an optional unit
    assert load_hardware("b200:1965").sustained_clock_hz == 1965e6  # its highest figure is the sustained clock


def time_s(hw, **point):
    return run_points([{"hardware": hw, **point}])[0]["time_s"]


def test_compute_bound_calls_slow_by_the_clock_ratio_and_hbm_bound_ones_hardly():
    prefill = dict(algorithm="flash3", seq_len=8192, causal=True)
    ratio = time_s("h100:1500", **prefill) / time_s("h100", **prefill)
    assert 1.15 < ratio <= 1830 / 1500 + 1e-9
    decode = dict(algorithm="flash3", seq_len=1, kv_len=65536)  # Hopper's TMA decode: the stream, nearly all
    assert 1.0 <= time_s("h100:1500", **decode) / time_s("h100", **decode) < 1.05
    # FA2's split-KV decode, whose MMA warps wait for their own loads, blends its padded MMAs with the stream
    # (gpu_model.blend_weight): the clock moves it more, though well under the clock ratio
    fa2 = dict(algorithm="flash-decoding", seq_len=1, kv_len=65536)
    assert 1.0 <= time_s("h100:1500", **fa2) / time_s("h100", **fa2) < 1.1
    assert time_s("h100:1830", **prefill) == time_s("h100", **prefill)  # locked at its own clock: the same


def test_the_columns_path_gives_each_point_its_scalar_time():
    points = [{"hardware": "h100:1500", "algorithm": "flash2", "seq_len": n} for n in (512, 1024, 4096, 16384)] * 20
    together = run_points(points)
    for point, row in zip(points[:4], together):
        assert row["hardware"] == "h100:1500"
        assert run_points([point])[0]["time_s"] == row["time_s"]


def test_the_cli_takes_it_in_lists_baselines_and_point_files(tmp_path):
    r = run("simulate", "--hw", "h100,h100:1500", "--algo", "flash3", "--seq-len", "8k", "--format", "json")
    assert r.exit_code == 0, r.output
    free, locked = json.loads(r.output)
    assert locked["hardware"] == "h100:1500" and locked["time_s"] > free["time_s"]
    assert split_baseline("naive@h100:1500") == ("naive", "h100:1500")
    r = run("simulate", "--hw", "h100", "--seq-len", "4k", "--baseline", "naive@h100:1500", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["baseline"] == "naive@h100:1500"
    csv = tmp_path / "points.csv"
    csv.write_text("hardware,algorithm,seq_len\nh100:1500,flash3,8k\n")
    r = run("simulate", "--from", str(csv), "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["time_s"] == locked["time_s"]
    r = run("hw", "show", "h100:1500")
    assert r.exit_code == 0 and "1500 MHz" in r.output and "locked by the user" in r.output


@pytest.mark.parametrize("name, says", [
    ("h100:2500", "100 to 1980 MHz"),
    ("h100:50", "100 to 1980 MHz"),
    ("a100:1500", "100 to 1410 MHz"),
    ("fusemax:1000", "applies to a GPU; fusemax is an accelerator"),
    ("h100:1500:1400", "one locked clock"),
    ("h100:fast", ":MHZ for SMs locked at that clock"),
])
def test_a_bad_lock_is_a_one_line_error(name, says):
    line = one_line_error("simulate", "--hw", name, "--seq-len", "1k")
    assert says in line and name.split(":")[0] in line


def test_a_locked_name_is_not_a_file_to_calibrate(tmp_path):
    with pytest.raises(UserError, match="give the machine's own name or TOML \\(h100\\)"):
        spec_path("h100:1500")
    line = one_line_error("calibrate", "--kernels", "validation/published/fa3-paper-h100.json", "--hw", "h100:1500",
                          "-o", str(tmp_path / "fit.toml"))  # at once, not after the fits
    assert "h100:1500" in line and not (tmp_path / "fit.toml").exists()


def test_validate_report_takes_the_lock_from_hw_or_the_file_and_refuses_two():
    def points(*extra):
        r = run("validate", "report", TILEOPS, "--format", "json", *extra)
        assert r.exit_code == 0, r.output
        return [p["predicted_s"] for p in json.loads(r.output)["points"]]

    assert points("--hw", "h200:1500") == points()  # the file says 1500 MHz: the same clock either way
    line = one_line_error("validate", "report", TILEOPS, "--hw", "h200:1400")
    assert "1400 MHz" in line and "1500 MHz" in line and "give one" in line


def test_plots_label_a_locked_gpu_as_its_part_at_the_clock_in_a_lighter_shade():
    from cli.plots import style

    assert style.hw_label("h100:1500") == "H100 @1500 MHz" and style.hw_label("h100") == "H100"
    free, locked, slower = (style.hw_color(n) for n in ("h100", "h100:1500", "h100:1200"))
    assert len({free, locked, slower}) == 3
    brightness = [sum(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in (free, locked, slower)]
    assert brightness == sorted(brightness)  # the lower the clock, the lighter


def test_a_locked_clock_keeps_the_l2_bytes_per_clock_and_the_hbm_bytes_per_second():
    """The L2 runs in the GPU's clock domain (the H100 SXM5's L2 figure is measured per clock), HBM in its own: at
    1500 MHz an H200's L2 moves 1500/1830 of its free-clock bytes per second and its HBM the same."""
    from gpu_models.spec import locked_clock

    h200 = load_hardware("h200")
    locked = locked_clock(h200, 1500.0)
    assert locked.l2_bw_bytes_s == pytest.approx(h200.l2_bw_bytes_s * 1500 / 1830)
    assert locked.l2_bw_bytes_s / locked.sms / locked.sustained_clock_hz == pytest.approx(
        h200.l2_bw_bytes_s / h200.sms / h200.sustained_clock_hz)
    assert locked.hbm_bw_bytes_s == h200.hbm_bw_bytes_s
