"""FA3's and FA4's PackGQA tiles: a KV head's query heads packed position-major into the tile's rows, ceil(seq_len x
group / block_q) tiles a KV head (hopper/flash_fwd_launch_template.h num_blocks_m; flash_attn/cute/interface.py
seqlen_q_packgqa), the rows of a tile running across position boundaries where the group does not divide them."""

import math

import numpy as np
import pytest

from einsum_cascades.sparsity import parse_pattern, tile_states
from einsum_cascades.sparsity._tile_state import FULL
from simulator import run_points, simulate
from simulator import tiles as tile_source
from simulator.api import evaluate, hardware
from simulator.gpu_kernels import query_packing
from simulator.workload import Workload


def _call(hw, algo, **kw):
    return evaluate(hardware(hw), algo, Workload(**{**dict(batch=1, head_dim=128, dtype="bf16", causal=True), **kw}))


def test_mqa_65_heads_take_as_many_tiles_as_their_packed_rows():
    """65 query heads on one KV head: 8,192 x 65 packed rows in 4,160 tiles of 128, not one tile a position
    (floor(128 / 65) = 1 whole position a tile): 65 heads had taken twice the time of 64."""
    r64, r65 = (_call("h100", "flash3", seq_len=8192, heads=h, kv_heads=1, varlen=True) for h in (64, 65))
    assert r65.detail["grid"]["work_tiles"] == math.ceil(8192 * 65 / 128)
    assert r65.time_s / r64.time_s == pytest.approx(65 / 64, rel=0.01)


@pytest.mark.parametrize("hw, algo, kw, slack", [("h100", "flash3", dict(varlen=True), 0.01), ("b200", "flash4", {}, 0.02)])
def test_time_grows_with_the_heads_as_their_packed_rows_do(hw, algo, kw, slack):
    """8 KV heads of groups 4, 5, 6, 7 and 12, 8k causal: the time grows with the query heads, each head's share within
    ``slack`` of group 4's (FA4's waves of 256-row tiles on 148 SMs keep 1.3% apart). A tile of 128 / 12 positions
    counted as 10 whole ones had made group 12 6.6% slower a head on FA3; FA4's group 6, 2.9%."""
    times = {g: _call(hw, algo, batch=2, seq_len=8192, heads=8 * g, kv_heads=8, **kw).time_s for g in (4, 5, 6, 7, 12)}
    assert list(times.values()) == sorted(times.values())
    for g, t in times.items():
        assert t / g == pytest.approx(times[4] / 4, rel=slack), g


def test_fa4_mqa_throughput_keeps_at_48_heads():
    """FA4, one KV head, 8k causal: 48 heads pack 8,192 x 48 rows into 1,536 tiles of 256 (not 8,192 / 5 = 1,639),
    so the call's TFLOP/s stay those of 32 heads (it had dropped 1351 -> 1277)."""
    r32, r48 = (_call("b200", "flash4", seq_len=8192, heads=h, kv_heads=1) for h in (32, 48))
    assert r48.detail["grid"]["work_tiles"] == math.ceil(8192 * 48 / 256)
    assert r48.tflops == pytest.approx(r32.tflops, rel=0.02)


@pytest.mark.parametrize("hw, algo, heads, kv_heads, kw", [
    ("h100", "flash3", 40, 8, dict(varlen=True)), ("h100", "flash3", 28, 4, dict(varlen=True, causal=False)),
    ("h100", "flash3", 96, 8, dict(varlen=True, pattern="window(1k)")), ("a100", "flash3", 40, 8, {}),
    ("h100", "flash3", 200, 1, dict(varlen=True)), ("h100", "flash3", 256, 1, dict(varlen=True)),
    ("b200", "flash4", 40, 8, {}), ("b200", "flash4", 48, 1, dict(causal=False)), ("h100", "flash4", 56, 8, {})])
def test_tiles_are_the_packed_rows_over_the_tile_rows(hw, algo, heads, kv_heads, kw):
    r = _call(hw, algo, batch=2, seq_len=3000, heads=heads, kv_heads=kv_heads, **kw)
    assert r.detail["packed_gqa"]
    assert r.detail["grid"]["work_tiles"] == 2 * kv_heads * math.ceil(3000 * heads // kv_heads / r.detail["block_q"])


def test_a_group_that_divides_the_tile_rows_keeps_the_lowered_rows():
    """Group 4 on 128 rows: 32 whole positions a tile, the rows as lowered (no packing step, no change)."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=4096, causal=True, varlen=True)
    r = evaluate(hw, "flash3", wl)
    assert r.detail["grid"]["work_tiles"] == 8 * 4096 // 32
    from simulator.gpu_model import fused_config
    from simulator.splits import fa3_layout
    assert query_packing(fa3_layout(hw, wl, fused_config(hw, "flash3", wl))[1], wl) is None


@pytest.mark.parametrize("mask, group, rows, slack", [("causal", 5, 128, 0.01), ("causal", 3, 128, 0.01),
                                                      ("causal", 12, 128, 0.01), ("window(1k)", 5, 128, 0.03),
                                                      ("causal&window(2k)|sinks(64)", 7, 256, 0.03)])
def test_packed_rows_visit_about_the_union_of_their_positions_tiles(mask, group, rows, slack):
    """Each packed tile takes the key tiles of the lowered row holding its last position; against the union of the
    key tiles its own positions attend (tile_states a position), the visited and full tiles agree within ``slack``."""
    nq = 8192
    per_row = rows // group
    packing = tile_source.Packing(group, rows)
    packed = tile_source.group_rows(mask, nq, nq, per_row, 128, packing)
    states = np.asarray(tile_states(parse_pattern(mask), nq, nq, 1, 128))
    visited = full = 0
    for j in range(math.ceil(nq * group / rows)):
        span = states[j * rows // group:min(((j + 1) * rows - 1) // group, nq - 1) + 1]
        visited += int((span != 0).any(0).sum())
        full += int((span == FULL).all(0).sum())
    assert packed.n_rows == math.ceil(nq * group / rows)
    assert packed.visited == pytest.approx(visited, rel=slack)
    assert int(packed.row_full.sum()) == pytest.approx(full, rel=slack)
    assert packed.block_density == pytest.approx(packed.visited / (packed.n_rows * packed.n_kv_blocks))


def test_dense_packed_rows_stay_uniform_and_keep_the_call_s_bytes_and_flops():
    """A dense call at group 5: one closed-form row count, every row the whole key range; its attended elements and
    HBM bytes are those of the call (tiling moves neither), its block density 1."""
    r = _call("h100", "flash3", seq_len=4096, heads=40, kv_heads=8, varlen=True, causal=False)
    tiles = tile_source.tile_rows(r.workload, 128 // 5, 176, tile_source.Packing(5, 128))
    assert tiles.uniform and tiles.n_rows == math.ceil(4096 * 5 / 128)
    assert r.block_density == 1.0 and r.flops == 4 * 128 * 4096 * 4096 * 40
    base = _call("h100", "flash3", seq_len=4096, heads=32, kv_heads=8, varlen=True, causal=False)
    assert r.cost.hbm_bytes / base.cost.hbm_bytes == pytest.approx((40 * 2 + 8 * 2) / (32 * 2 + 8 * 2), rel=1e-3)


def test_columns_of_unaligned_groups_equal_point_by_point():
    points = [dict(hardware=hw, algorithm=algo, seq_len=n, heads=h, kv_heads=kv, batch=2)
              for hw, algo in (("h100", "flash3"), ("b200", "flash4")) for n in (1000, 4096)
              for h, kv in ((40, 8), (28, 4), (96, 8), (48, 1), (200, 1))]
    one = [simulate(p["hardware"], p["algorithm"], **{k: v for k, v in p.items() if k not in ("hardware", "algorithm")})
           for p in points]
    assert run_points(points) == one
