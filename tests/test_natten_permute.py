"""window2d / window3d on the GPU model: NATTEN's tile sizes where the family stands for NATTEN's Hopper or
Blackwell kernel, and the token permutation copies around the call (closed-form bytes and seconds)."""

import math

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
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


def test_tensoriterator_coalesces_a_permuted_copy_to_its_tile_dimensions():
    """NATTEN 0.20's token_permute: (batch, r0, t0, r1, t1, heads x dim) permuted to (batch, r1, r0, t1, t0, hd);
    no two of t0, t1, r0, r1 stay contiguous in both tensors, so a 2-D grid keeps 5 dimensions and a 3-D one 7
    (batch above 1: one more); tiles of whole rows, or one axis, are the token order itself (1: a view); a pad of
    the outermost axis at batch 1 is contiguous (a memcpy), of an inner axis not."""
    from simulator.permute import _pad_dims, _permute_dims, _unpermute_dims
    from simulator.torch_copy import coalesced_dims, contiguous_strides

    assert _permute_dims(1, 3072, (16, 8), (16, 32)) == _unpermute_dims(1, 3072, (16, 8), (16, 32)) == 5
    assert _permute_dims(2, 3072, (16, 8), (16, 32)) == 6
    assert _permute_dims(1, 3072, (2, 8, 8), (15, 6, 10)) == _unpermute_dims(1, 3072, (2, 8, 8), (15, 6, 10)) == 7
    assert _permute_dims(1, 3072, (1, 256), (256, 1)) == 1 and _permute_dims(1, 3072, (8,), (10,)) == 1
    assert _pad_dims(1, 3072, (30, 48, 80), (32, 48, 80)) == 1
    assert _pad_dims(1, 3072, (30, 48, 80), (30, 48, 88)) == 2 and _pad_dims(2, 3072, (30, 48, 80), (32, 48, 80)) == 2
    sizes = [4, 3, 2]
    assert coalesced_dims(sizes, contiguous_strides(sizes), contiguous_strides(sizes)) == 1
    assert coalesced_dims(sizes, contiguous_strides(sizes), [1, 8, 24]) == 2  # a row gap: the outer two merge
    assert coalesced_dims(sizes, contiguous_strides(sizes), [3, 1, 12]) == 3  # the inner two swapped
    assert coalesced_dims([1, 5, 1], [1, 1, 5], [7, 1, 99]) == 1  # size-1 dimensions dropped


def test_natten_020_permutes_with_pytorch_copies_bound_by_their_instructions():
    """natten_build 0.20: four strided elementwise_kernel copies (Q, K, V in, O out; no log-sum-exp), each the
    longer of its SASS instructions per element at the SMs' issue rate and its bytes at the strided HBM fraction;
    on a B200 the 5-dimension copy is issue-bound, so it runs about as fast as on an H100 whose HBM is 2.3x
    slower (NATTEN's profiler page: 2.24-2.28 ms against 2.40-2.69 ms for FLUX's four copies)."""
    from simulator.permute import natten_build
    from simulator.torch_copy import copy_instructions, issue_seconds

    wl = Workload(batch=1, heads=24, head_dim=128, seq_len=65536, pattern="window2d(256,256,80,80)",
                  scope="kernel-warm")
    today = run("b200", "flash4", **{k: getattr(wl, k) for k in ("batch", "heads", "head_dim", "seq_len", "pattern",
                                                                   "scope")})
    b200, h100 = hardware("b200"), hardware("h100")
    with natten_build("0.20"):
        old = evaluate(b200, "flash4", wl)
        old_h100 = evaluate(h100, "flash3", wl)
    assert list(old.detail["permute_copies"]) == ["permute_q", "permute_k", "permute_v", "unpermute_o"]
    elements = 65536 * 24 * 128
    assert copy_instructions(b200.arch, 5) == 18 + 12 * 5 and copy_instructions("sm_80", 5) == 15 + 9 * 5
    rate = b200.sms * 128 * b200.cuda_core_clock * b200.issue_efficiency
    assert issue_seconds(b200, elements, 5) == pytest.approx(elements * 78 / rate, rel=1e-12)
    assert old.times["permute"] == pytest.approx(4 * (issue_seconds(b200, elements, 5) + b200.hbm_latency_s))
    assert all("issue-bound" in kernel for _, kernel in old.detail["permute_copies"].values())
    assert old.cost.launches == today.cost.launches - 1  # no log-sum-exp copy
    assert old.times["permute"] > today.times["permute"]  # PyTorch's copies are slower than the CUTLASS kernel
    assert 0.8 < old.times["permute"] / old_h100.times["permute"] < 1.0  # not the 1 / 2.3 of the HBM
    cube = "window3d(30,48,80,18,24,24,q_tile=(2,8,8),kv_tile=(2,8,8))"
    with natten_build("0.20"):
        three = evaluate(h100, "flash3", Workload(batch=1, heads=24, head_dim=128, seq_len=115200, pattern=cube,
                                                  scope="kernel-warm"))
    assert {k: kernel.split(",")[1].strip() for k, (_, kernel) in three.detail["permute_copies"].items()} == {
        k: "7 dims" for k in ("permute_q", "permute_k", "permute_v", "unpermute_o")}


def test_natten_020_pads_a_tile_the_axis_does_not_divide_before_it_permutes():
    """maybe_pad: torch.nn.functional.pad fills the padded tensor and copies the real tokens in (a memcpy at batch
    1 when only the outermost axis grows); the permute then copies the padded tensor."""
    from simulator.permute import natten_build

    with natten_build("0.20"):
        r = evaluate(hardware("b200"), "flash4", Workload(
            batch=1, heads=24, head_dim=128, seq_len=115200, scope="kernel-warm",
            pattern="window3d(30,48,80,18,24,24,stride=(16,8,8),q_tile=(4,8,8),kv_tile=(2,8,8))"))
    copies = r.detail["permute_copies"]
    assert list(copies) == ["pad_q", "permute_q", "permute_k", "permute_v", "unpermute_o"]  # T = 30 pads to 32 on Q
    assert copies["pad_q"][1] == "PyTorch fill + memcpy"
    b = 2
    real, padded = 115200 * 24 * 128, 32 * 48 * 80 * 24 * 128
    assert r.detail["permute_bytes"]["pad_q"] == (padded + 2 * real) * b
    assert r.detail["permute_bytes"]["permute_q"] == 2 * padded * b and r.detail["permute_bytes"]["permute_k"] == 2 * real * b
    with pytest.raises(UserError, match="natten_build"):
        with natten_build("0.19"):
            pass


def test_a_published_file_names_the_natten_it_timed():
    import json

    from validation.report import report_doc

    doc = json.load(open("validation/published/natten-docs-profiler-h100.json"))
    assert doc["natten_build"] == "0.20"
    out = report_doc(doc)
    assert out["builds"]["natten_build"] == "0.20"
    strided = [p for p in out["points"] if p["kernel"] == "natten-hopper-fna-flux-gna"]
    assert len(strided) == 1 and strided[0]["predicted_s"] > 0


def test_standard_attentions_layout_copies_take_the_longer_of_bytes_and_instructions():
    """The naive's rearrange copies are the same elementwise_kernel: on a B200 without a flushed L2 their offset
    arithmetic (3 dimensions at batch 1, 4 above) outlasts their bytes at the strided HBM fraction."""
    from simulator.torch_copy import issue_seconds

    b200 = hardware("b200")
    r = evaluate(b200, "naive", Workload(batch=2, heads=32, head_dim=64, seq_len=8192, scope="kernel-warm"))
    assert r.detail["kernel_bounds"]["layout"] == "issue"
    elements = 2 * 32 * 8192 * (64 + 64 + 64)
    assert r.detail["kernel_seconds"]["layout"] == pytest.approx(
        issue_seconds(b200, elements, 4) + 3 * b200.launch_overhead_s, rel=1e-12)


def test_nattens_blackwell_kernel_takes_every_exponential_on_mufu_and_rescales_on_any_new_max():
    """sm100_fna_fwd_mainloop softmax_step: ::exp2f on every score (no FA4 polynomial), and the correction warps
    rescale O whenever a warp's row max grew (no 2^8 threshold): the grid's tile prices all exponentials on MUFU;
    the same shape as FA4's own dense call emulates a share."""
    from simulator.gpu_model import fused_config

    b200 = hardware("b200")
    grid = Workload(heads=24, head_dim=128, seq_len=65536, pattern="window2d(256,256,80,80,stride=(16,16))")
    cfg = fused_config(b200, "flash4", grid)
    assert (cfg.block_q, cfg.block_kv, cfg.exp_poly_fraction, cfg.rescale_fraction) == (256, 128, 0.0, 1.0)
    dense = fused_config(b200, "flash4", Workload(heads=24, head_dim=128, seq_len=4096, causal=True))
    assert dense.exp_poly_fraction > 0 and dense.rescale_fraction == 0.0
    from simulator.tile_cost import tile_cycles

    tile = tile_cycles(cfg, b200, grid, partial=False)
    sfu = (256 * 128 + 256) / b200.sfu_ops_per_clk_sm  # a MUFU exponential a score and one a row (its rescale)
    assert tile.softmax == pytest.approx(sfu, rel=1e-9)  # the softmax is its MUFU time (FP32 work is shorter)
    assert evaluate(b200, "flash4", grid).detail["tile_cycles"] == pytest.approx(tile.cycles, rel=1e-12)
