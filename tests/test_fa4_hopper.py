"""``flash4`` on Hopper: FA4's CuTe sm90 path (flash_attn/cute/flash_fwd_sm90.py, FlashAttentionForwardSm90), which
interface.py runs on an H100 or H200: FA3's warp-specialised wgmma pipeline at FA4's own tiles
(_tile_size_fwd_sm90), one CTA per work tile (not persistent), no split over the keys, GQA always packed."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator.api import evaluate, hardware
from simulator.gpu_kernels import kernel_config
from simulator.limits import kernel_error
from simulator.workload import Workload
from test_bad_inputs_review import one_line_error

H100 = hardware("h100")
PR2754 = "validation/published/flash-attention-pr2754-h200.json"


@pytest.mark.parametrize("d, dv, causal, pattern, tile, p_in_smem", [
    (64, 64, False, None, (192, 128), False),
    (96, 96, False, None, (192, 144), True),  # "RS is catastrophic with 192x tiles": P through smem
    (96, 96, True, None, (192, 128), True),
    (128, 128, False, None, (128, 128), False),  # FA3 takes 128 x 176 here
    (192, 128, True, None, (128, 128), False),
    (192, 192, False, None, (128, 112), False),
    (192, 192, False, "window(1k)", (128, 96), False),
    (256, 256, True, None, (128, 80), False),
    (256, 256, False, "window(1k)", (128, 64), False),
])
def test_tiles_are_fa4s_sm90_table(d, dv, causal, pattern, tile, p_in_smem):
    cfg = kernel_config("flash4", H100, Workload(head_dim=d, v_head_dim=dv, causal=causal, pattern=pattern))
    assert (cfg.block_q, cfg.block_kv) == tile and cfg.p_through_smem is p_in_smem
    assert cfg.tensor_path == "wgmma" and cfg.overlap and not cfg.persistent and cfg.kv_stages == 2
    assert cfg.warps == cfg.block_q // 64 * 4 and cfg.producer_warps == 4


def test_a_call_runs_one_cta_per_work_tile_where_fa3_loops_persistently():
    """Same 128 x 128 causal tiles, same longest-first order: FA4's CTAs each wait for their first loads, FA3's
    persistent CTAs load the next tile during this one, so FA4 is slower, most where work tiles are short."""
    slower = []
    for n in (1024, 4096, 16384):
        wl = Workload(batch=32768 // n, heads=16, head_dim=128, seq_len=n, causal=True, dtype="bf16")
        fa3, fa4 = evaluate(H100, "flash3", wl), evaluate(H100, "flash4", wl)
        assert (fa3.detail["block_q"], fa3.detail["block_kv"]) == (fa4.detail["block_q"], fa4.detail["block_kv"])
        slower.append(fa4.time_s / fa3.time_s)
    assert all(r > 1 for r in slower) and slower == sorted(slower, reverse=True), slower


def test_decode_is_never_split_on_hopper():
    """interface.py: 'SplitKV not supported on SM 9.0'; flash_attn_func defaults to num_splits=1 anyway."""
    wl = Workload(heads=32, kv_heads=8, seq_len=1, kv_len=32768)
    fa4, fa3 = evaluate(H100, "flash4", wl), evaluate(H100, "flash3", wl)
    assert fa4.detail["splits"] == 1 and fa3.detail["splits"] > 1
    assert fa4.detail["packed_gqa"] is True  # pack_gqa defaults to qhead_per_kvhead > 1
    assert fa4.time_s > 3 * fa3.time_s  # 8 CTAs stream 32k keys each on a 132-SM GPU
    b200 = evaluate(hardware("b200"), "flash4", wl)
    assert b200.detail["splits"] > 1  # the Blackwell path splits a decode call (fa4_layout)


def test_hopper_limits_are_fa4s_sm90_ones():
    assert kernel_error(H100, "flash4", Workload(head_dim=256)) is None  # one kernel up to 256, no hd256 special case
    assert kernel_error(H100, "flash4", Workload(head_dim=256, pattern="window(1k)")) is None
    assert kernel_error(H100, "flash4", Workload(head_dim=160)) is None
    assert "up to 256 on h100" in kernel_error(H100, "flash4", Workload(head_dim=264))
    assert "Blackwell" in kernel_error(H100, "flash4", Workload(dtype="fp8"))
    assert "use flash3" in kernel_error(H100, "flash4", Workload(seq_len=4096, pattern="window2d(64,64,7,7)"))
    assert "80 tokens here" in kernel_error(H100, "flash4", Workload(head_dim=256, page_size=128, seq_len=1,
                                                                       kv_len=4096))
    assert kernel_error(H100, "flash4", Workload(head_dim=256, page_size=80, seq_len=1, kv_len=4096)) is None


@pytest.mark.parametrize("args, needle", [
    (["--hw", "a100", "--algo", "flash4"], "which attnsim does not model"),
    (["--hw", "h100", "--algo", "flash4", "--dtype", "fp8"], "its FP8 kernels are Blackwell's"),
])
def test_cli_refuses_what_fa4_does_not_run_here_in_one_line(args, needle):
    assert needle in one_line_error("simulate", *args)  # exit 2, one line, no traceback


def test_cli_explains_the_hopper_kernel():
    result = CliRunner().invoke(cli, ["simulate", "--hw", "h200", "--algo", "flash4", "--seq-len", "4k", "--causal",
                                      "--explain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "FA4's Hopper kernel (flash_attn/cute/flash_fwd_sm90.py)" in result.output
    assert "SingleTileLPTScheduler" in result.output


def test_pr2754s_fa4_points_are_predicted_within_6_percent():
    """Held out (in no fit): the FA4 single-tile column of flash-attention PR #2754's H200 comment."""
    result = CliRunner().invoke(cli, ["validate", "report", PR2754, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = [p for p in json.loads(result.output)["points"] if p["algorithm"] == "flash4"]
    assert len(rows) == 3 and all(abs(p["error"]) < 0.06 for p in rows), [p["error"] for p in rows]
