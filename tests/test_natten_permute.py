"""window2d / window3d on the GPU model: NATTEN's tile sizes where the family stands for NATTEN's Hopper or
Blackwell kernel, and the token permutation copies around the call (closed-form bytes and seconds)."""

import math

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import Workload, evaluate, hardware

GRID = "window2d(100,60,7,7)"  # 6000 tokens: pads to 112 x 64 on (16, 8) query patches, 112 x 64 on (16, 8) keys


def run(hw, algo, **kw):
    return evaluate(hardware(hw), algo, Workload(**kw))


@pytest.mark.parametrize("d, tile", [(64, (64, 128)), (128, (128, 128)), (256, (128, 64))])
def test_flash3_on_hopper_lowers_a_grid_at_nattens_tile_for_the_head_dim(d, tile):
    r = run("h100", "flash3", seq_len=6000, head_dim=d, pattern=GRID)
    assert (r.detail["block_q"], r.detail["block_kv"]) == tile
    one_d = run("h100", "flash3", seq_len=6000, head_dim=d, pattern="window(64,64)")  # FA3's own local tile
    assert (one_d.detail["block_q"], one_d.detail["block_kv"]) == {64: (192, 128), 128: (128, 128),
                                                                   256: (128, 64)}[d]


def test_the_permutation_copies_have_closed_form_bytes_and_seconds():
    """At d = 128 on H100 (128 x 128 tiles: (16, 8) patches), 6000 real tokens pad to 112 x 64 = 7168 per tensor:
    permute Q, K, V read the real tokens and write the padded ones; O and its fp32 LSE come back real tokens only."""
    hw = hardware("h100")
    wl = dict(seq_len=6000, heads=8, kv_heads=2, head_dim=128, pattern=GRID)
    r = run("h100", "flash3", **wl)
    n, pad, b = 6000, 112 * 64, 2
    copies = [8 * (n + pad) * 128 * b, 2 * (n + pad) * 128 * b, 2 * (n + pad) * 128 * b, 8 * 2 * n * 128 * b,
              8 * 2 * n * 4]
    rate = hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency
    assert r.times["permute"] == pytest.approx(sum(c / rate + hw.hbm_latency_s for c in copies), rel=1e-12)
    assert r.cost.launches == 1 + 5
    plain = evaluate(hw, "flash2", Workload(**wl))  # NATTEN's Ampere-style kernel addresses the grid: no copies
    assert "permute" not in plain.times and plain.cost.launches == 1


def test_time_adds_the_copies_to_the_attention_kernel():
    from simulator.gpu_model import overlapped

    r = run("b200", "flash4", seq_len=128 * 128, pattern="window2d(128,128,13,13)")
    stream = r.times["hbm"] + r.times["stream_fill"] + r.times["writeback"]  # the blend of compute and stream
    body = max(overlapped(hardware("b200"), r.workload, {}, r.times["compute"], stream), r.times["l2"])
    assert r.time_s == pytest.approx(body + r.times["launch"] + r.times["permute"], rel=1e-12)
    assert (r.detail["block_q"], r.detail["block_kv"]) == (256, 128)  # FA4's tile is NATTEN's Blackwell tile


def test_a_grid_as_large_as_its_kernel_attends_everything_and_still_pays_the_copies():
    grid = run("h100", "flash3", seq_len=4096, head_dim=64, pattern="window2d(64,64,64,64)")
    dense = run("h100", "flash3", seq_len=4096, head_dim=64)
    assert grid.block_density == 1.0 and math.isclose(grid.flops, dense.flops, rel_tol=1e-12)
    assert grid.times["permute"] > 0 and grid.time_s > dense.time_s


def test_explain_names_the_permutation_kernels():
    result = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--seq-len", "16k", "--pattern",
                                      "window2d(128,128,13,13)", "--explain"])
    assert result.exit_code == 0, result.output
    assert "permute_q" in result.output and "unpermute_lse" in result.output


def test_a_mix_permutes_only_its_grid_groups_heads():
    whole = run("h100", "flash3", seq_len=4096, pattern="window2d(64,64,7,7)")
    half = run("h100", "flash3", seq_len=4096, pattern="heads(16: window2d(64,64,7,7), 16: full)")
    assert {k: v / 2 for k, v in whole.detail["permute_bytes"].items()} == half.detail["permute_bytes"]


def test_nattens_hopper_kernel_masks_every_tile_of_a_call_not_fully_block_sparse():
    """fna_collective_softmax.hpp: ``if (not is_fully_block_sparse) apply_mask`` on every QK tile, after the QK wait:
    the mask's counted SASS (NATTEN_SM90_MASK_ISSUE) in series, at one warp-instruction a cycle per scheduler; a
    strided neighborhood whose visited tiles are all whole is not masked. Blackwell's FNA (softmax_step's
    ``if (not is_fully_block_sparse) apply_mask``) at its own count, on FA4's 256 x 128 tile."""
    from simulator.kernel_configs import NATTEN_SM100_MASK_ISSUE, NATTEN_SM90_MASK_ISSUE

    h100 = hardware("h100")

    def call(pattern, n=65536, hw=h100, algo="flash3"):
        return evaluate(hw, algo, Workload(batch=1, heads=24, head_dim=128, seq_len=n, kv_len=n, pattern=pattern,
                                           scope="kernel-warm"))

    plain, strided = call("window2d(256,256,80,80)"), call("window2d(256,256,80,80,stride=(16,16))")
    assert strided.detail["partial_tile_cycles"] == strided.detail["tile_cycles"]  # no partial tile
    added = NATTEN_SM90_MASK_ISSUE[2] * 128 * 128 / 128  # scores of a 128 x 128 tile over 128 lanes a cycle
    assert math.isclose(plain.detail["tile_cycles"] - strided.detail["tile_cycles"], added, rel_tol=1e-9)
    assert math.isclose(plain.detail["partial_tile_cycles"], plain.detail["tile_cycles"])  # every tile alike
    cube = call("window3d(30,48,80,18,24,24)", n=115200)
    assert math.isclose(cube.detail["tile_cycles"] - strided.detail["tile_cycles"],
                        NATTEN_SM90_MASK_ISSUE[3] * 128, rel_tol=1e-9)
    b200 = hardware("b200")
    bw_plain = call("window2d(256,256,80,80)", hw=b200, algo="flash4")
    bw_strided = call("window2d(256,256,80,80,stride=(16,16))", hw=b200, algo="flash4")
    assert bw_strided.detail["mask_issue_per_score"] == 0.0
    assert math.isclose(bw_plain.detail["tile_cycles"] - bw_strided.detail["tile_cycles"],
                        NATTEN_SM100_MASK_ISSUE[2] * 256 * 128 / 128, rel_tol=1e-9)  # a 256 x 128 tile
    bw_cube = call("window3d(30,48,80,18,24,24)", n=115200, hw=b200, algo="flash4")
    assert bw_cube.detail["mask_issue_per_score"] == NATTEN_SM100_MASK_ISSUE[3]
