"""`attnsim validate run` without a GPU, the suites it runs, and its results format (validation/FORMAT.md)."""

import json
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from validation import harness, suite
from validation.micro import BENCHMARKS

FORMAT_MD = (Path(__file__).parents[1] / "validation" / "FORMAT.md").read_text()
MEASURED_KEYS = ("block_density", "mask", "flops", "measured_s", "p20_s", "p80_s", "iters", "tflops", "max_abs_err",
                 "rel_err", "ok", "error")


def _one_line_exit_2(result, needle):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: validate run needs a CUDA GPU and CuPy")
    assert needle in lines[0]


def test_run_without_cupy_is_one_line_exit_2(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    r = CliRunner().invoke(cli, ["validate", "run", "--quick", "-o", str(tmp_path / "x.json")])
    _one_line_exit_2(r, "CuPy is not installed")
    assert not (tmp_path / "x.json").exists()


def test_run_with_cupy_but_no_device_is_one_line_exit_2(monkeypatch, tmp_path):
    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    r = CliRunner().invoke(cli, ["validate", "run", "-o", str(tmp_path / "x.json")])
    _one_line_exit_2(r, "no CUDA device (cudaErrorNoDevice")


def test_validate_group_lists_run_and_report():
    out = CliRunner().invoke(cli, ["validate", "--help"]).output
    assert "run" in out and "report" in out


def test_selftest_without_a_gpu_exits_2(monkeypatch, capsys):
    from validation import selftest

    monkeypatch.setitem(sys.modules, "cupy", None)
    assert selftest.main([]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


@pytest.mark.parametrize("points", [suite.quick_points(), suite.full_points()], ids=["quick", "full"])
def test_every_point_records_the_documented_keys_and_lowers_its_mask(points):
    assert len(set(points)) == len(points)
    for p in points:
        rec = p.record()
        for key in list(rec) + list(MEASURED_KEYS):
            assert f"`{key}`" in FORMAT_MD, f"{key} is not documented in FORMAT.md"
        assert rec["algorithm"] in ("naive", "flash2", "flash-decoding")
        pattern = p.mask_pattern()
        assert (pattern is None) == (not p.causal and not p.pattern and not p.sparsity)
        if p.kernel == "torch-sdpa":
            assert p.seq_len == p.kv_len and p.heads == p.kv_heads  # top-left causal, MHA only
        if p.kernel.startswith("attnsim-fa2") or p.kernel == "attnsim-decode-splitkv":
            assert p.head_dim in (64, 128)


def test_suites_sweep_what_the_brief_asks():
    full = suite.full_points()
    assert {p.seq_len for p in full if p.kernel == "attnsim-fa2"} >= {512, 1024, 2048, 4096, 8192, 16384}
    assert {p.head_dim for p in full} == {64, 128} and {p.causal for p in full} == {False, True}
    assert {p.sparsity for p in full if p.kernel == "attnsim-fa2-sparse"} == {0.0, 0.5, 0.9}
    assert any(p.pattern == suite.WINDOW_PATTERN and p.causal for p in full)
    decode = [p for p in full if p.kernel == "attnsim-decode-splitkv"]
    assert {p.kv_len for p in decode} == {4096, 16384, 65536, 131072} and len({p.num_splits for p in decode}) > 1
    assert len(suite.quick_points()) < 25 and {p.kernel for p in suite.quick_points()} == set(suite.KERNELS)


def test_micro_names_are_the_ones_calibrate_reads():
    documented = {"hbm_read", "hbm_write", "hbm_copy", "l2_read", "smem_read", "tensor_cublas_fp16",
                  "tensor_mma_sync_fp16", "sfu_exp2", "fp32_fma", "launch", "mma_exp_overlap"}
    assert set(BENCHMARKS) == documented
    assert all(f"`{name}`" in FORMAT_MD for name in documented)


def test_calibrate_fits_hardware_rates_not_attention_tile_figures():
    """Register-loop rates (mma.sync, the mma/ex2 overlap) bound but do not measure what attention tiles
    achieve; those figures come from kernel timings (calibrate --kernels), never from the microbenchmarks."""
    from simulator.api import hardware
    from validation import calibrate

    fits = calibrate._fits({"sfu_exp2": 3.4e12, "mma_exp_overlap": 0.9, "tensor_mma_sync_fp16": 6.0e14},
                           hardware("h100"), 1.755e9)
    assert set(fits) == {"sfu_ops_per_clk_sm"}


def test_overlap_figure_and_exp_sizing():
    from validation.micro import OVL_EXP_ITERS_RANGE, balanced_exp_iters, overlap

    assert overlap(1.0, 0.8, 1.0) == pytest.approx(1.0)  # both = max: concurrent
    assert overlap(1.0, 0.8, 1.8) == pytest.approx(0.0)  # both = sum: the times add
    assert overlap(1.0, 1.0, 1.5) == pytest.approx(0.5)
    assert overlap(1.0, 1.0, 2.2) == pytest.approx(-0.2)  # slower than serial
    assert overlap(0.0, 1.0, 1.0) is None and overlap(1.0, 1.0, float("nan")) is None
    assert balanced_exp_iters(4096, 1.5e-3, 1e-3) == 6144  # exp half too short: more trips
    assert balanced_exp_iters(4096, 1e-3, 1e-3 + 1e-7) == 4096
    assert balanced_exp_iters(4096, 1.0, 1e-6) == OVL_EXP_ITERS_RANGE[1]
    assert balanced_exp_iters(4096, 1e-3, 0.0) == 4096


def test_timing_quantiles():
    t = harness.Timing.of([5.0, 1.0, 2.0, 4.0, 3.0])
    assert (t.median_s, t.n) == (3.0, 5) and t.p20_s == pytest.approx(1.8) and t.p80_s == pytest.approx(4.2)


def test_clock_summary_uses_samples_under_load(monkeypatch):
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)  # no nvidia-smi: nothing is sampled
    mon = harness.ClockMonitor(None)
    assert mon.summary()["sm_clock_mhz"] is None
    mon._samples += [("hbm_read", 1980.0, 400.0, 100.0), ("hbm_read", 1800.0, 600.0, 99.0),
                     ("idle", 345.0, 80.0, 0.0)]
    s = mon.summary()
    assert s["sm_clock_mhz"] == 1890.0 and s["power_w"] == 500.0 and s["samples"] == 2
    assert s["by_stage"]["idle"]["sm_clock_mhz"] == 345.0  # a stage with no busy sample keeps what it has
    mon.stop()


def test_a_file_in_the_runners_shape_feeds_report_and_calibrate(tmp_path):
    """Records built like runner.measure's, plus micro entries like micro.py's, through the other commands."""
    points = []
    for p in suite.quick_points():
        rec = {**p.record(), "block_density": 1.0, "mask": None, "flops": 1e12, "measured_s": 1e-3, "p20_s": 9e-4,
               "p80_s": 1.1e-3, "iters": 20, "tflops": 1000.0, "max_abs_err": 1e-3, "rel_err": 1e-4, "ok": True}
        points.append(rec)
    points[0].update(ok=False, measured_s=None, error="output differs from the float64 reference")
    micro = [{"name": n, "value": v, "unit": u, "config": {"sweep": [{"blocks_per_sm": 8, "value": v}]},
              "median_s": 1e-3, "p20_s": 1e-3, "p80_s": 1e-3}
             for n, v, u in (("hbm_read", 3.0e12, "B/s"), ("tensor_cublas_fp16", 7e14, "FLOP/s"), ("launch", 2e-6, "s"))]
    doc = {"format": "attnsim-validation/1", "source": "test", "complete": True, "errors": [], "micro": micro,
           "points": points, "device": {"name": "NVIDIA H100 80GB HBM3", "sm_clock_mhz": 1755.0,
                                        "max_sm_clock_mhz": 1980.0, "date": "2026-01-01T00:00:00Z"}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["validate", "report", str(path), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["points"]) == len(points) - 1
    r = CliRunner().invoke(cli, ["calibrate", str(path), "-o", str(tmp_path / "cal.toml")])
    assert r.exit_code == 0, r.output


def test_runner_orders_every_kernel():
    from validation.runner import KERNEL_ORDER

    assert sorted(KERNEL_ORDER) == sorted(suite.KERNELS)


def test_a_small_output_that_is_all_zero_fails_the_check():
    """Decode over 128k keys averages N(0, 1) values into |o| < 0.02: zeros pass max-abs, not the relative test."""
    import numpy as np

    from validation import reference

    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((1, 128)), rng.standard_normal((1 << 17, 128)), rng.standard_normal((1 << 17, 128))
    ref = reference.attention(q, k, v, 128 ** -0.5)
    max_abs, rel = reference.errors(np.zeros_like(ref), ref)
    assert max_abs <= reference.TOLERANCE["bf16"] and rel == 1.0
    assert not reference.passes(max_abs, rel, "bf16")
    assert reference.passes(*reference.errors(ref * (1 + 1e-3), ref), "fp16")  # a correct kernel: ~3e-4


def test_only_picks_parts_in_order_and_rejects_unknown_names():
    from einsum_cascades.errors import UserError
    from validation import runner

    assert runner.parse_parts(None) == tuple(runner.PARTS)
    assert runner.parse_parts("torch, micro") == ("micro", "torch")
    with pytest.raises(UserError, match="choose from micro, attention, decode, torch"):
        runner.parse_parts("micro,fa3")
    kernels = {part: {p.kernel for p in runner.select_points(suite.full_points(), (part,))} for part in runner.PARTS}
    assert kernels["micro"] == set() and kernels["decode"] == {"attnsim-decode-splitkv"}
    assert set().union(*kernels.values()) == set(suite.KERNELS)  # every point belongs to a part


def test_the_gpu_extra_installs_cupy_for_cuda_13():
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["gpu"] == ["cupy-cuda13x>=14"]


def test_selftest_reports_a_crashed_or_hung_group_as_failed(monkeypatch, capsys):
    import subprocess

    from validation import selftest

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: types.SimpleNamespace(returncode=-11))
    assert not selftest._child("fa2")
    assert "exit status -11 (crashed)" in capsys.readouterr().out

    def hang(*a, **k):
        raise subprocess.TimeoutExpired(a[0], k["timeout"])

    monkeypatch.setattr(subprocess, "run", hang)
    assert not selftest._child("decode")
    assert f"stopped after {selftest.GROUP_TIMEOUT_S} s" in capsys.readouterr().out
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: types.SimpleNamespace(returncode=0))
    assert selftest._child("naive")


def test_validate_run_only_rejects_an_unknown_part_before_looking_for_a_gpu(tmp_path):
    r = CliRunner().invoke(cli, ["validate", "run", "--only", "fa3", "-o", str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "bad --only 'fa3'" in r.output and not (tmp_path / "x.json").exists()


def test_validate_merge_joins_parts_and_refuses_other_devices(tmp_path):
    fixture = json.loads((Path(__file__).parent / "data" / "synthetic-h100-results.json").read_text())
    micro = {**fixture, "format": "attnsim-validation/1", "points": [], "parts": ["micro"]}
    points = {**fixture, "format": "attnsim-validation/1", "micro": [], "parts": ["attention"]}
    (tmp_path / "m.json").write_text(json.dumps(micro))
    (tmp_path / "p.json").write_text(json.dumps(points))
    out = tmp_path / "all.json"
    r = CliRunner().invoke(cli, ["validate", "merge", str(tmp_path / "m.json"), str(tmp_path / "p.json"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["parts"] == ["micro", "attention"] and len(doc["points"]) == len(fixture["points"])
    assert len(doc["micro"]) == len(fixture["micro"])
    points["device"] = {**points["device"], "name": "NVIDIA A100-SXM4-80GB"}
    (tmp_path / "p.json").write_text(json.dumps(points))
    r = CliRunner().invoke(cli, ["validate", "merge", str(tmp_path / "m.json"), str(tmp_path / "p.json"), "-o", str(out)])
    assert r.exit_code == 2 and "another device" in r.output
