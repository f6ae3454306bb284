"""FA2 issues each K/V load one GEMM ahead of its use (flash_fwd_kernel.h compute_attn_1rowblock: V(n) before
QK(n), K(n-1) before the softmax and PV(n)): a CTA alone on its SM waits max(QK, L) + max(S + PV, L) a tile."""

from dataclasses import replace

from simulator.api import evaluate, hardware
from simulator.gpu_model import fused_config
from simulator.tile_cost import tile_cycles
from simulator.workload import Workload

H100 = hardware("h100")
CALL = Workload(batch=1, heads=32, head_dim=128, seq_len=256, kv_len=65536)


def _chain(hw, cfg, wl, resident):
    tile = tile_cycles(cfg, hw, wl, False, resident=resident)
    lat = hw.hbm_latency_s * hw.sustained_clock_hz
    qk = tile.gemm * wl.head_dim / (wl.head_dim + wl.v_head_dim)
    return tile, max(qk, lat) + max(tile.softmax + tile.gemm - qk, lat)


def test_a_lone_fa2_cta_waits_out_each_load_it_issued_one_gemm_ahead():
    cfg = fused_config(H100, "flash2", CALL)
    assert cfg.gemm_ahead_loads
    tile, chain = _chain(H100, cfg, CALL, resident=1)
    assert tile.cycles >= chain > tile.gemm + tile.softmax  # the waits add to the GEMMs and the softmax
    assert tile.bound == "latency"
    without = tile_cycles(replace(cfg, gemm_ahead_loads=False), H100, CALL, False, resident=1)
    assert without.cycles < tile.cycles


def test_two_ctas_on_an_sm_each_wait_their_own_chain():
    """With two CTAs an SM the other's GEMMs run in one's waits (Little's law over both), but each CTA still waits
    its own chain a tile, and the makespan gives each CTA k times the SM's tile cycles: the tile holds at least
    chain / k. On an H100 that never binds at d = 128 (the GEMMs outlast it); on a B200, whose loaded latency is
    longer and whose mma.sync GEMMs are short, it does (until 2026-12-06 the model dropped the chain at two CTAs,
    and a 1,000-token FA2 call of 16 heads took 8% less at batch 2 than at batch 1)."""
    cfg = fused_config(H100, "flash2", CALL)
    tile = tile_cycles(cfg, H100, CALL, False, resident=2)
    assert tile.cycles == tile_cycles(replace(cfg, gemm_ahead_loads=False), H100, CALL, False, resident=2).cycles
    b200 = hardware("b200")
    minference = Workload(heads=32, head_dim=128, seq_len=65536, causal=True, block_size=64)
    cfg = fused_config(b200, "flash2", minference)
    two = tile_cycles(cfg, b200, minference, False, resident=2)
    _, chain = _chain(b200, cfg, minference, resident=1)
    assert two.bound == "latency" and two.cycles == chain / 2
    call = dict(heads=16, kv_heads=2, head_dim=96, seq_len=1000, causal=True, scope="kernel-warm")
    one, both = (evaluate(b200, "flash-decoding", Workload(batch=b, **call)) for b in (1, 2))
    assert both.time_s >= one.time_s


def test_only_fa2_kernels_wait_one_gemm_ahead():
    assert fused_config(H100, "flash-decoding", Workload(seq_len=1, kv_len=8192)).gemm_ahead_loads
    assert not fused_config(H100, "flash3", CALL).gemm_ahead_loads
    assert not fused_config(hardware("b200"), "flash4", CALL).gemm_ahead_loads
    assert evaluate(H100, "flash2", CALL).time_s > 0
