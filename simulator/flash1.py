"""FlashAttention-1 (paper Algorithm 1, arXiv 2205.14135): one CTA per head, K/V blocks in the outer loop."""

from dataclasses import replace

from einsum_cascades.errors import UserError
from simulator import tiles as tile_source
from simulator.gpu_kernels import kernel_config
from simulator.gpu_model import _detail, _finish, _fused_cost, _kv_keys_read, _roof_times, _rows, _with_block
from simulator.result import Result
from simulator.schedule import uniform_makespan
from simulator.tile_cost import tile_cycles

STATS_BYTES = 4  # FA1 keeps the running max m and sum l per query row in fp32 in HBM


def flash1(hw, wl) -> Result:
    """FlashAttention-1 (paper Algorithm 1): one CTA per head, K/V blocks in the outer loop.

    For every K/V block the inner loop reads each Q block, reads and rewrites
    its O block and its l, m statistics: HBM traffic Theta(N^2 d^2 / M) once
    those re-reads miss L2 (FA1 paper, Theorem 2).
    """
    if tile_source.head_groups(wl):
        raise UserError("flash1 (FlashAttention-1's Algorithm 1) runs one mask for every head; a heads(...) mix runs "
                        "on flash2, flash3, flash4 or flash-decoding")
    cfg = kernel_config("flash1", hw, wl)
    if wl.block_size:
        cfg = _with_block(cfg, wl.block_size)
    d, dv, b, clock = wl.head_dim, wl.v_head_dim, wl.dtype_bytes, hw.sustained_clock_hz
    rows = _rows(cfg, wl)
    tiles = tile_source.tile_rows(wl, cfg.block_q, cfg.block_kv)
    per_tile_io = rows * (d + 2 * dv) * b + 2 * 2 * rows * STATS_BYTES  # read Q_i, O_i; write O_i; read+write l_i, m_i
    full_t, full_dom = tile_cycles(cfg, hw, wl, partial=False, extra_load=per_tile_io)[:2]
    part_t = tile_cycles(cfg, hw, wl, partial=True, extra_load=per_tile_io).cycles
    head_work = float(tiles.visited * full_t) if tiles.uniform else float(
        (tiles.row_full * full_t + tiles.row_partial * part_t).sum())
    heads = wl.batch * wl.heads
    k = cfg.ctas_per_sm(hw)
    compute_cycles = uniform_makespan(heads, hw.sms * k, head_work) * k
    visited = float(tiles.visited) * heads
    kv_once = heads * tiles.n_kv_blocks * cfg.block_kv * (d + dv) * b
    cost = _fused_cost(cfg, hw, wl, rows, visited, tiles, 1)
    l2 = visited * per_tile_io + kv_once
    compulsory = heads * wl.seq_len * (d + dv) * b + wl.batch * wl.kv_heads * _kv_keys_read(wl, tiles, cfg.block_kv) * (d + dv) * b
    working_set = min(heads, hw.sms * k) * (wl.seq_len * (d + dv) * b + 2 * wl.seq_len * STATS_BYTES)
    hbm = compulsory + (1.0 - min(1.0, hw.l2_bytes / working_set)) * max(l2 - compulsory, 0.0)
    cost = replace(cost, hbm_bytes=hbm, l2_bytes=l2, launches=1)
    times = _roof_times(hw, wl, cost, cfg.tensor_path)
    times["compute"] = compute_cycles / clock
    return _finish(hw, "flash1", wl, cost, times, full_dom, tiles, _detail(cfg, k, 1, full_t, part_t, full_dom, clock))
