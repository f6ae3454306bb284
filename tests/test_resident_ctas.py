"""A grid with fewer CTAs than the SMs' slots: the block scheduler spreads CTAs over the SMs before it stacks them,
so each SM holds ceil(CTAs / SMs) of them (at most the kernel's occupancy), with its units, its loads in flight
and, for a kernel without warp specialization, its schedulers to itself (simulator.schedule.resident_ctas)."""

import numpy as np
import pytest

from simulator import Workload, evaluate, hardware
from simulator.api import run_points, simulate
from simulator.gpu_kernels import kernel_config
from simulator.schedule import resident_ctas
from simulator.tile_cost import SUB_PARTITIONS, tile_cycles


@pytest.mark.parametrize("k, ctas, held", [(2, 1, 1), (2, 64, 1), (2, 132, 1), (2, 133, 2), (2, 264, 2),
                                           (2, 10_000, 2), (3, 265, 3), (1, 5, 1)])
def test_an_sm_holds_no_more_ctas_than_the_grid_gives_it(k, ctas, held):
    h100 = hardware("h100")  # 132 SMs
    assert resident_ctas(h100, k, ctas) == held
    column = resident_ctas(h100, k, np.array([ctas, 1]))
    assert column.tolist() == [held, 1]


def test_a_lone_fa2_cta_has_its_sm_and_exposes_its_whole_softmax():
    """FA2 at d=128 runs 4 warps, 2 CTAs an SM on an H100: 8 CTAs (1 x 8 heads x 128 tokens) run one an SM, each
    with one warp per scheduler, so no other warp's GEMMs hide its softmax (the tile is G + S) and its loads wait
    the whole latency, each load issued one GEMM ahead of its use (V before QK, K before the softmax and PV); the
    SM's units are its own (no x 2 for a sharing neighbour)."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=8, head_dim=128, seq_len=128)
    cfg = kernel_config("flash2", hw, wl)
    assert cfg.ctas_per_sm(hw) == 2 and cfg.warps * 1 <= SUB_PARTITIONS and not cfg.overlap
    lone, shared = tile_cycles(cfg, hw, wl, False, resident=1), tile_cycles(cfg, hw, wl, False, resident=2)
    latency, qk = hw.hbm_latency_s * hw.sustained_clock_hz, lone.gemm / 2  # d = dv: QK^T and PV alike
    assert lone.cycles == pytest.approx(max(lone.gemm + lone.softmax,
                                            max(qk, latency) + max(lone.softmax + lone.gemm - qk, latency)))
    assert shared.cycles < lone.cycles < 2 * shared.cycles
    r = evaluate(hw, "flash2", wl)
    assert r.detail["resident_ctas"] == 1 and r.detail["ctas_per_sm"] == 2
    crowded = evaluate(hw, "flash2", Workload(batch=1, heads=8 * 33, head_dim=128, seq_len=128))  # 264 CTAs
    assert crowded.detail["resident_ctas"] == 2
    assert r.times["compute"] < crowded.times["compute"]


def test_warp_specialized_kernels_keep_their_overlap_alone():
    """FA3 overlaps its softmax with its own GEMMs (ping-pong): a lone CTA keeps the fitted exposure."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=4, head_dim=128, seq_len=128)
    cfg = kernel_config("flash3", hw, wl)
    tile = tile_cycles(cfg, hw, wl, False, resident=1)
    _, exposed = hw.mma_path(cfg.tensor_path)
    assert tile.hidden == pytest.approx((1 - exposed) * min(tile.gemm, tile.softmax))


@pytest.mark.parametrize("hw, algo", [("a100", "flash2"), ("h100", "flash2"), ("h100", "flash-decoding"),
                                      ("a100", "flash3"), ("b200", "flash2")])
def test_columns_that_straddle_one_cta_per_sm_match_one_by_one(hw, algo):
    """run_points prices a column group whose points hold one CTA an SM and two as simulate does each point."""
    points = [dict(batch=b, heads=h, seq_len=n, head_dim=d) for b in (1, 3, 8) for h in (8, 48)
              for n in (64, 128, 512, 4096) for d in (64, 128)]
    rows = run_points(points, hardware=hw, algorithm=algo)
    held = {evaluate(hardware(hw), algo, Workload(**p)).detail["resident_ctas"] for p in points}
    assert len(held) > 1  # the grid crosses from one CTA an SM to more
    for p, row in zip(points, rows):
        assert row["time_s"] == pytest.approx(simulate(hw, algo, **p)["time_s"], rel=1e-9), p


def test_fa3_combine_waits_one_l2_round_trip_per_three_splits():
    """FA3's (and FA4's) combine keeps kStages - 1 = 3 partial-O loads in flight (flash_fwd_combine_kernel.h): a decode call of
    S splits pays 1 + ceil(S / 3) L2 round trips in its combine, more splits more trips; FA2's combine loop keeps 2
    in flight; a combine whose bytes take longer than its trips pays its bytes."""
    from simulator.block_sparse import l2_hit_cycles
    from simulator.gpu_model import _combine_seconds

    hw = hardware("h200")
    wl = Workload(batch=1, heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=32768)
    trip = l2_hit_cycles(hw.arch) / hw.sustained_clock_hz
    for splits in (2, 6, 29):
        assert _combine_seconds(hw, wl, splits, 3) == pytest.approx((1 + -(-splits // 3)) * trip)
        assert _combine_seconds(hw, wl, splits) < trip
    r = evaluate(hw, "flash3", wl)
    assert r.detail["splits"] > 3 and r.times["combine"] == pytest.approx((1 + -(-r.detail["splits"] // 3)) * trip)
    fa2 = evaluate(hw, "flash-decoding", wl)  # FA2's combine loop keeps 2 loads in flight
    assert fa2.detail["splits"] > 3 and fa2.times["combine"] == pytest.approx((1 + -(-fa2.detail["splits"] // 2)) * trip)
    big = Workload(batch=64, heads=64, kv_heads=8, head_dim=128, seq_len=16, kv_len=4096)  # bytes outlast the chain
    assert _combine_seconds(hw, big, 4, 3) == _combine_seconds(hw, big, 4) > 3 * trip
    b200 = hardware("b200")  # FA4's combine (flash_attn/cute/flash_fwd_combine.py) keeps the same 4 stages
    r = evaluate(b200, "flash4", wl)
    trip = l2_hit_cycles(b200.arch) / b200.sustained_clock_hz
    assert r.detail["splits"] > 3 and r.times["combine"] == pytest.approx((1 + -(-r.detail["splits"] // 3)) * trip)


def test_the_occupancy_query_charges_each_cta_the_drivers_reserved_shared_memory():
    """cuda_occupancy.h (cudaOccMaxBlocksPerSMSmemLimit): a CTA's shared memory plus the 1 KB the driver reserves per
    block from Ampere on, rounded up to 128 B; 228 KiB on an H100 hold three CTAs of 75 KiB, two of 76 KiB."""
    from simulator.gpu_kernels import ctas_by_smem

    h100, a100 = hardware("h100"), hardware("a100")
    assert (ctas_by_smem(h100, 75 * 1024), ctas_by_smem(h100, 76 * 1024)) == (3, 2)
    assert ctas_by_smem(h100, 75 * 1024 + 1) == 2  # 128-byte granularity: one byte more is 128 more
    assert (ctas_by_smem(a100, 81 * 1024), ctas_by_smem(a100, 82 * 1024)) == (2, 1)  # 164 KiB: 2 x 82 fits, not 2 x 83


def test_a_combine_reads_the_partials_l2_holds_at_l2_bandwidth():
    """The attention kernel has just written the splits' fp32 partials, which stay in L2 while they fit
    (gpu_model._split_partials): the combine reads those at L2 bandwidth, any rest and O at HBM's. An H800 FA2
    call of 64 heads x 128 queries at d = 256 splits twice (128 CTAs under 0.8 x 264): 16.8 MB of partials, so
    the bytes outlast the round trips."""
    from simulator.gpu_model import _combine_seconds

    hw = hardware("h800")
    wl = Workload(batch=1, heads=64, kv_heads=8, head_dim=256, seq_len=128, dtype="bf16")
    partials = 64 * 128 * 2 * (256 + 1) * 4
    o = 64 * 128 * 256 * 2
    assert partials < hw.l2_bytes
    expected = partials / hw.l2_bw_bytes_s + o / (hw.hbm_bw_bytes_s * hw.hbm_efficiency)
    assert _combine_seconds(hw, wl, 2) == pytest.approx(expected)
    assert _combine_seconds(hw, wl, 2, 2) == pytest.approx(expected)  # the chain is shorter
    r = evaluate(hw, "flash2", wl)
    assert r.detail["splits"] == 2 and r.times["combine"] == pytest.approx(expected)
