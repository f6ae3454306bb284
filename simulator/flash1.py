"""FlashAttention-1's forward kernel as its code runs it (flash-attention @ 765741c, June 2022, the code the FA1
paper benchmarks: csrc/flash_attn/src/fmha_fprop_kernel_1xN.h, device_1xN_loop and device_1xN_).

One CTA of 4 warps per (head, batch) (run_fmha_fp16_sm80_loop_: grid (h, b)); the keys are its outer loop, in
blocks of S = 256 (``loop_step_idx``), and for each block the CTA walks all its query rows in steps of 16
(``for l < steps``). A block's K and V are loaded once into shared memory and from there into each warp's
registers (the warps split the block's keys four ways: WARPS_N = 4). Each step then runs, separated by
``__syncthreads``:
- Q K^T for 16 rows (Q's fragments from shared memory; K's from registers, or from shared memory at head dim 128);
- the softmax, whose row max and row sum are reduced across the 4 warps through shared memory
  (``reduce_max``, ``reduce_sum_before_sync_``);
- P V from registers, each warp's partial O (16 rows x D, fp32) summed across the warps through shared memory
  (``Smem_tile_o``), then merged with the O of the earlier key blocks, which is kept in global memory in fp32
  (``o_tmp``) with the per-row log-sum-exp, and written back.
The phases wait on each other, so a step costs the sum of its GEMMs, its shared-memory traffic and its softmax,
not their maximum as in FA2's tile. Q, ``o_tmp`` and the log-sum-exp go through L2 (and HBM once the heads in
flight no longer fit) once per key block: the FA1 paper's Theta(N^2 d^2 / M) traffic, here with M fixed by S.
"""

from dataclasses import replace

from einsum_cascades.errors import UserError
from simulator import tiles as tile_source
from simulator.gpu_kernels import kernel_config
from simulator.gpu_model import _fused_cost, _finish, _kv_keys_read, _roof_times, dram_latency, grid_bound
from simulator.result import Result
from simulator.schedule import resident_ctas, uniform_makespan
from simulator.tile_cost import MASK_FP32_PER_SCORE, ops_of, tensor_dtype

O_TMP_BYTES = 4  # o_tmp and the log-sum-exp are fp32 (Gmem_tile_o<Cta_tile_o, 4>, Gmem_summary_stats)
ROW_STATS = 1  # one fp32 log-sum-exp per query row, read and written per key block


def flash1(hw, wl) -> Result:
    """Predict FlashAttention-1's forward call (see the module docstring for what its kernel does)."""
    if tile_source.head_groups(wl):
        raise UserError("flash1 (FlashAttention-1) runs one mask for every head; a heads(...) mix runs "
                        "on flash2, flash3, flash4 or flash-decoding")
    cfg = kernel_config("flash1", hw, wl)
    d, dv, b, clock = wl.head_dim, wl.v_head_dim, wl.dtype_bytes, hw.sustained_clock_hz
    rows, bc = cfg.block_q, cfg.block_kv
    tiles = tile_source.tile_rows(wl, rows, bc)
    dram_latency(hw, "flash1")
    heads = wl.batch * wl.heads
    occupancy = cfg.ctas_per_sm(hw)
    k = resident_ctas(hw, occupancy, heads)  # one CTA per (batch, head): a small grid leaves each SM fewer
    visited = float(tiles.visited) * heads
    per_step_io = rows * d * b + 2 * rows * (dv + ROW_STATS) * O_TMP_BYTES  # Q in; o_tmp and lse in and out
    key_blocks = tiles.n_kv_blocks
    kv_once = heads * key_blocks * bc * (d + dv) * b
    l2 = visited * per_step_io + kv_once
    compulsory = heads * wl.seq_len * (d + dv) * b + wl.batch * wl.kv_heads * _kv_keys_read(wl, tiles, bc) * (d + dv) * b
    per_head = wl.seq_len * (d * b + (dv + ROW_STATS) * O_TMP_BYTES)  # Q, o_tmp and lse, re-read per key block
    working_set = min(heads, hw.sms * k) * per_head
    missed = 1.0 - min(1.0, hw.l2_bytes / working_set)  # share of those re-reads that go to DRAM
    hbm = compulsory + missed * max(l2 - compulsory, 0.0)

    full_t, dominant = step_cycles(cfg, hw, wl, partial=False)
    part_t, _ = step_cycles(cfg, hw, wl, partial=True)
    wait = missed * q_wait_cycles(cfg, hw, wl)
    block_fill = key_block_cycles(cfg, hw, wl, k)
    steps = float(tiles.visited * full_t) if tiles.uniform else float(
        (tiles.row_full * full_t + tiles.row_partial * part_t).sum())
    # the k CTAs an SM holds start together and meet the same barriers: they share each phase's unit (k x the
    # phases) and wait out each step's Q load together (once per step for all k)
    head_work = steps + tiles.visited * wait / k + key_blocks * block_fill
    compute_cycles = uniform_makespan(heads, hw.sms * k, head_work) * k
    cost = _fused_cost(cfg, hw, wl, rows, visited, tiles, 1)
    cost = replace(cost, hbm_bytes=hbm, l2_bytes=l2, onchip_bytes=visited * step_smem_bytes(cfg, wl), launches=1)
    times = _roof_times(hw, wl, cost, cfg.tensor_path)
    times["compute"] = compute_cycles / clock
    detail = dict(block_q=rows, block_kv=bc, packed_gqa=False, ctas_per_sm=occupancy, resident_ctas=k, splits=1,
                  tile_cycles=full_t,
                  partial_tile_cycles=part_t, tile_bound=dominant, clock_hz=clock, key_block_cycles=block_fill,
                  q_wait_cycles=wait, schedule="fa1", loads_in_mma_warps=True)  # no producer (gpu_model.blend_weight)
    return grid_bound(_finish(hw, "flash1", wl, cost, times, dominant, tiles, detail), heads, hw.sms * k)


def step_smem_bytes(cfg, wl) -> float:
    """Shared-memory bytes of one step: each warp's Q fragments (load_q), K's fragments where they are not
    kept in registers (head dim 128), each warp's partial O stored and the four read back (Smem_tile_o), and
    the cross-warp row max and row sum."""
    (d, dv), b, rows, warps = cfg.mma_dims(wl.head_dim, wl.v_head_dim), wl.dtype_bytes, cfg.block_q, cfg.warps
    q = warps * rows * d * b
    k = 0 if cfg.k_in_regs else cfg.block_kv * d * b
    o = 2 * warps * rows * dv * O_TMP_BYTES
    return q + k + o + _stats_bytes(cfg)


def step_cycles(cfg, hw, wl, partial: bool) -> tuple[float, str]:
    """SM cycles of one step (16 query rows x S keys) for a CTA alone on its SM, and the unit that takes the
    longest: its GEMMs, then its shared-memory traffic, then its softmax (MUFU and FP32 pipes side by side),
    one after another as the barriers between them make them run."""
    parts, softmax, _ = _phases(cfg, hw, wl, partial)
    return parts["tensor"] + parts["smem"] + softmax, max(parts, key=parts.get)


def _phases(cfg, hw, wl, partial: bool) -> tuple[dict, float, float]:
    """(cycles per unit, the softmax phase, the cross-warp reductions' smem cycles) of one step."""
    eff = hw.mma_path(cfg.tensor_path)[0]
    ops = ops_of(cfg, *cfg.mma_dims(wl.head_dim, wl.v_head_dim))  # the compiled head dim's MMAs
    rows, scores = cfg.block_q, cfg.block_q * cfg.block_kv
    tensor = (ops.tensor_per_score * scores + ops.tensor_per_row * rows) / (
        hw.path_flops_per_clk_sm(cfg.tensor_path, tensor_dtype(hw, wl)) * eff)
    smem = step_smem_bytes(cfg, wl) / hw.smem_bytes_per_clk_sm
    exp = (ops.sfu_per_score * scores + ops.sfu_per_row * rows) / hw.sfu_ops_per_clk_sm
    fp32_ops = scores * (ops.fp32_poly(0.0, 0) + (MASK_FP32_PER_SCORE if partial else 0.0))
    fma = (fp32_ops + ops.fp32_per_row * rows) / hw.fp32_fma_per_clk_sm
    stats = _stats_bytes(cfg) / hw.smem_bytes_per_clk_sm
    return {"tensor": tensor, "smem": smem, "exp": exp, "fma": fma}, max(exp, fma), stats


def _stats_bytes(cfg) -> int:
    """The cross-warp row max and row sum (Softmax::reduce_max / reduce_sum): per warp a value per row, stored
    and read back."""
    return 2 * 2 * cfg.warps * cfg.block_q * 4


def q_wait_cycles(cfg, hw, wl) -> float:
    """SM cycles a step waits for the next step's Q: its load is issued after the step's first GEMM and must
    land before ``gmem_q.commit`` after the softmax, so only the softmax (and its cross-warp reductions)
    covers the DRAM latency."""
    _, softmax, stats = _phases(cfg, hw, wl, partial=False)
    return max(0.0, hw.dram_latency_s * hw.sustained_clock_hz - softmax - stats)


def key_block_cycles(cfg, hw, wl, ctas_per_sm: int) -> float:
    """SM cycles a CTA spends per key block outside its steps: loading the block's K and V (through L2) into
    shared memory and registers behind a barrier, the memory latency hidden by the SM's other resident CTAs
    but for 1/ctas_per_sm of it."""
    kv = cfg.block_kv * (wl.head_dim + wl.v_head_dim) * wl.dtype_bytes
    feed = kv / (hw.l2_bw_bytes_s / hw.sms / hw.sustained_clock_hz)
    return feed + hw.hbm_latency_s * hw.sustained_clock_hz / ctas_per_sm
