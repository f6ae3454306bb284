"""--varlen: a call through the kernels' variable-length entry point (flash_attn_varlen_func, cu_seqlens)."""

import csv
import io
import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware, run_points
from simulator.kernel_configs import fa3_build
from simulator.workload import Workload

ROOT = Path(__file__).resolve().parents[1]


def _prefill(varlen=True, **kw):
    return Workload(**{**dict(batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=512, causal=True), **kw},
                    varlen=varlen)


def test_today_s_fa3_runs_its_scheduler_kernel_and_packs_gqa():
    hw = hardware("h100")
    plain, varlen = evaluate(hw, "flash3", _prefill(False)), evaluate(hw, "flash3", _prefill())
    assert plain.detail["kernels"] == ["tile counter fill", "attention"] and not plain.detail["packed_gqa"]
    assert varlen.detail["kernels"] == ["scheduler (prepare_varlen_num_blocks)", "attention"]
    assert varlen.detail["packed_gqa"] and "prepare" in varlen.times


def test_the_2024_builds_run_a_varlen_call_one_cta_per_work_tile():
    """hopper/flash_fwd_launch_template.h @ 478ee666: UseVarSeqLen -> SingleTileScheduler (not persistent): each
    work tile waits for its first loads; no scheduler kernel, no tile counter."""
    hw = hardware("h20")
    wl = _prefill(batch=2, heads=16, kv_heads=16, seq_len=2048, causal=False)
    with fa3_build("2024-07"):
        plain, varlen = evaluate(hw, "flash3", replace(wl, varlen=False)), evaluate(hw, "flash3", wl)
    assert varlen.detail["kernels"] == ["attention"]
    assert varlen.detail["work_tile_parts"]["latency"] > 0 == plain.detail["work_tile_parts"]["latency"]
    assert 1.0 < varlen.time_s / plain.time_s < 1.05


def test_fa2_s_varlen_call_does_not_split():
    """mha_varlen_fwd sizes splits only for a swapped (decode) or paged call; mha_fwd splits a short one."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=8, seq_len=512)
    assert evaluate(hw, "flash2", wl).detail["splits"] == 4
    assert evaluate(hw, "flash2", replace(wl, varlen=True)).detail["splits"] == 1


def test_the_h20_varlen_points_of_issue_1310_within_5_percent():
    from validation.measured_file import load
    from validation.report import predict

    doc = load(str(ROOT / "validation" / "published" / "flash-attention-issue1310-h20.json"))
    points = [p for p in predict(doc, None, []) if p["kernel"] == "flash-attn-3-varlen"]
    assert len(points) == 4 and all(p["varlen"] for p in points)
    assert statistics.median(abs(p["error"]) for p in points) < 0.05


@pytest.mark.parametrize("args, needle", [
    (["--algo", "naive"], "naive's"),
    (["--algo", "flash-decoding"], "flash-decoding's"),
    (["--algo", "flashinfer-decode", "--seq-len", "1"], "flashinfer-decode's"),
    (["--hw", "b200", "--algo", "flash4"], "flash4's"),
    (["--hw", "fusemax"], "accelerator"),
])
def test_a_family_without_a_modelled_varlen_entry_is_one_line_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--varlen", *args])
    assert r.exit_code == 2 and "--varlen" in r.output and needle in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1


def test_the_row_carries_varlen_and_standard_attention_stays_the_baseline():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "512", "--varlen",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)[0]
    assert row["varlen"] is True and row["baseline"] == "naive" and row["speedup"] > 1
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "512", "--format", "csv"])
    assert next(csv.DictReader(io.StringIO(r.output)))["varlen"] == "False"


def test_run_points_evaluates_varlen_points_alone_and_agrees_with_one_by_one():
    points = [dict(hardware="h100", algorithm="flash3", seq_len=n, batch=4, heads=32, kv_heads=8, varlen=v)
              for n in (512, 1024, 2048) for v in (False, True)] * 30  # enough for the column path
    rows = run_points(points)
    for p, row in zip(points[:6], rows[:6]):
        alone = run_points([p])[0]
        assert row["varlen"] is p["varlen"] and row["time_s"] == alone["time_s"]


def _run_csv(tmp_path, text: str, *command):
    """Write ``text`` to a CSV and run ``attnsim COMMAND... FILE --format json``: (exit code, output)."""
    path = tmp_path / "points.csv"
    path.write_text(text)
    r = CliRunner().invoke(cli, [*command, str(path), "--format", "json"])
    return r.exit_code, r.output


def test_a_points_file_takes_a_varlen_column(tmp_path):
    code, out = _run_csv(tmp_path, "hardware,algorithm,seq_len,heads,kv_heads,causal,varlen\nh100,flash3,512,32,8,true,"
                         "true\nh100,flash3,512,32,8,true,false\n", "simulate", "--from")
    assert code == 0, out
    assert [row["varlen"] for row in json.loads(out)] == [True, False]
    bad = tmp_path / "bad.csv"
    bad.write_text("hardware,algorithm,seq_len,varlen\nh100,flash3,512,maybe\n")
    r = CliRunner().invoke(cli, ["simulate", "--from", str(bad)])
    assert r.exit_code == 2 and "varlen" in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_a_workload_s_varlen_is_a_bool():
    with pytest.raises(UserError, match="bad varlen 'yes'"):
        Workload(varlen="yes")


def test_a_varlen_decode_call_does_not_split_on_a_contiguous_cache():
    """flash_attn_varlen_func takes no page table and num_splits = 1; through a page table (--page-size) the call is
    flash_attn_with_kvcache's, num_splits = 0: the heuristic."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=8192)
    assert evaluate(hw, "flash3", wl).detail["splits"] > 1
    varlen = evaluate(hw, "flash3", replace(wl, varlen=True))
    assert varlen.detail["splits"] == 1 and "combine" not in varlen.detail["kernels"]
    assert varlen.detail["kernels"][0] == "scheduler (prepare_varlen_num_blocks)"
    assert evaluate(hw, "flash3", replace(wl, varlen=True, page_size=128)).detail["splits"] > 1


def test_the_2024_builds_have_no_scheduler_kernel_and_split_no_varlen_call():
    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=8192)
    with fa3_build("2024-07"):
        decode = evaluate(hw, "flash3", wl)  # prepare_varlen_num_blocks came in 2025
        varlen = evaluate(hw, "flash3", replace(wl, varlen=True))
    assert "prepare" not in decode.times
    assert varlen.detail["splits"] == 1 and not varlen.detail["packed_gqa"] and "prepare" not in varlen.times


def test_a_serving_engine_call_is_varlen_whatever_the_flag_says():
    hw = hardware("h100")
    wl = _prefill(False, seq_len=4000, scope="layer", page_size=128)
    assert evaluate(hw, "flash3", wl).time_s == evaluate(hw, "flash3", replace(wl, varlen=True)).time_s
    with fa3_build("2024-07"):
        assert evaluate(hw, "flash3", wl).time_s == evaluate(hw, "flash3", replace(wl, varlen=True)).time_s


def test_natten_grids_refuse_varlen_and_fa1_takes_it_as_it_is():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "4096",
                                 "--pattern", "window2d(64,64,7,7)", "--varlen"])
    assert r.exit_code == 2 and "NATTEN" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    hw = hardware("a100")
    wl = Workload(batch=4, heads=16, head_dim=64, seq_len=1024)
    assert evaluate(hw, "flash1", wl).time_s == evaluate(hw, "flash1", replace(wl, varlen=True)).time_s


def test_a_cascade_baseline_keeps_the_varlen_call_its_family_takes():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash2", "--seq-len", "2k", "--heads", "32",
                                 "--kv-heads", "8", "--causal", "--varlen", "--baseline", "attention-3pass",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    bare = json.loads(r.output)[0]["baseline_time_s"]
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "attention-3pass@flash3", "--seq-len", "2k",
                                 "--heads", "32", "--kv-heads", "8", "--causal", "--varlen", "--format", "json"])
    assert json.loads(r.output)[0]["time_s"] == bare


def test_validate_report_pairs_a_varlen_call_with_padded_standard_attention(tmp_path):
    code, out = _run_csv(tmp_path, "hardware,algorithm,seq_len,heads,kv_heads,causal,varlen,measured_ms\n"
                         "h100,flash3,2k,32,8,true,true,0.1\nh100,naive,2k,32,8,true,false,1.0\n", "validate", "report")
    assert code == 0, out
    assert json.loads(out)["summary"]["speedups"]["fused_vs_naive"]["n"] == 1


def test_the_breakdown_plot_carries_varlen():
    from cli.plots.breakdown import WORKLOAD_FIELDS
    from simulator.api import WORKLOAD_FIELDS as API_FIELDS

    assert set(API_FIELDS) <= set(WORKLOAD_FIELDS)
