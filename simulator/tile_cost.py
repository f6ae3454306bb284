"""What one (query block, key block) tile of a fused attention kernel costs an SM, and its per-CTA extras.

A tile is priced unit by unit (tensor cores, shared memory, MUFU, FP32 pipes, the L2 feed and the
memory latency its pipeline stages must cover) from the kernel's configuration (``gpu_kernels``) and
the SM's per-clock rates; the schedule combines them. See docs/kernels.md for what each kernel does.
"""

from functools import lru_cache
from typing import NamedTuple

from simulator._numpy import np

from einsum_cascades.errors import UserError
from simulator.columns import is_columns
from simulator.tile_ops import tile_ops

MASK_FP32_PER_SCORE = 2.0  # index compare + select, only on partial tiles (FA3 mask.h Mask::apply; FA2 counts its own)
# An exponential as a polynomial on the FP32 pipes (FA4, flash_attn/cute/utils.py ex2_emulation_2 and
# combine_int_frac_ex2): per element 1 FMNMX (clamp), 1.5 FADD2 slots (round down, subtract), 1.5 FFMA2
# slots (degree-3 Horner, POLY_EX2) and 2 integer ops (shift and add the exponent) instead of one MUFU.EX2.
EXP_POLY_FP32_OPS = 6
# Warp schedulers (SM sub-partitions) per SM: 4 on every GPU attnsim models (CUDA C++ Programming Guide, compute
# capabilities 8.x, 9.0 and 10.0: 4 warp schedulers per SM). A kernel whose softmax waits for its own GEMMs (FA2)
# hides it only behind another warp's GEMMs on the same scheduler: the fitted exposure holds from 2 warps per
# scheduler, a lone 4-warp CTA on its SM exposes all of it.
SUB_PARTITIONS = 4
ISSUE_LANES = SUB_PARTITIONS * 32  # lane-instructions an SM issues a clock: one warp instruction a scheduler


class TileCost(NamedTuple):
    """SM cycles of one tile, what bounds it, and its GEMM and softmax parts (for the pipeline's fill)."""

    cycles: float
    bound: str
    gemm: float
    softmax: float
    hidden: float  # softmax cycles the steady tile hides behind GEMMs (what the pipeline's first tile pays)


def tile_cycles(cfg, hw, wl, partial: bool, extra_load: float = 0.0, resident: int | None = None) -> TileCost:
    """SM cycles for one tile with all of the SM's units. ``extra_load``: bytes the tile moves besides its
    K/V tile (FA1's Q, O, l, m round trip); ``resident``: the CTAs an SM holds at once (default: the kernel's
    occupancy; fewer where the grid has fewer CTAs than the SMs' slots)."""
    eff, exposed = hw.mma_path(cfg.tensor_path)
    resident = cfg.ctas_per_sm(hw) if resident is None else int(resident)
    if not cfg.overlap and cfg.warps * resident <= SUB_PARTITIONS:
        exposed = 1.0  # one warp per scheduler: no other warp's GEMMs to hide a softmax behind (FA2 overlaps none)
    # the SM's k resident CTAs each keep kv_stages K/V loads in flight: k x stages per latency (Little's law), so
    # a tile's SM cycles wait L / (stages x k); the makespan (cta_work) multiplies each CTA's by k again
    latency = hw.hbm_latency_s * hw.sustained_clock_hz / resident
    dtype = tensor_dtype(hw, wl)
    rate = hw.path_flops_per_clk_sm(cfg.tensor_path, dtype)
    rates = (rate * eff, hw.smem_bytes_per_clk_sm,
             hw.l2_bw_bytes_s / hw.sms / hw.sustained_clock_hz, hw.sfu_ops_per_clk_sm, hw.fp32_fma_per_clk_sm,
             exposed, latency, rate / hw.path_flops_per_clk_sm(cfg.tensor_path, dtype, uncapped=True), resident)
    return _tile_cost(cfg, rates, wl.head_dim, wl.v_head_dim, wl.dtype_bytes, partial, extra_load)


@lru_cache(maxsize=4096)
def _tile_cost(cfg, rates, d, dv, b, partial, extra_load) -> TileCost:
    """The tile's cost from the kernel's shape and the SM's per-clock rates (cached: sweeps repeat shapes).

    The kernels compute whole tiles: their MMAs, exponentials and FP32 softmax cover all ``block_q`` rows
    of the query tile whether or not those rows hold queries (flash-attention csrc/flash_attn/src/
    flash_fwd_kernel.h, compute_attn_1rowblock: out-of-range rows are zero-filled, not skipped). The
    GEMMs G and the softmax S of a tile take max(G, S) + exposed * min(G, S): exposed = 1 is a softmax
    after the GEMMs (FA2), exposed = 0 a softmax wholly hidden behind them. Where a chip-level cap holds the
    tensor rate below the SM's own (``capped`` < 1, the H20), the exposure is that of the SM's instruction
    stream, its GEMMs at the SM's rate (G_sm), and the cap only stretches the GEMMs: max(G, max(G_sm, S) +
    exposed * min(G_sm, S)). The tile is also held to its L2 feed and to the memory latency the SM's
    ``kv_stages`` K/V loads in flight per resident CTA must cover (Little's law; ``latency`` arrives divided by
    the CTAs per SM).
    """
    tensor_rate, smem_bw, l2_bw, sfu_rate, fp32_rate, exposed, latency, capped, resident = rates
    br, bc, poly = cfg.block_q, cfg.block_kv, cfg.exp_poly_fraction
    kd, kdv = cfg.mma_dims(d, dv)  # the MMAs and smem tiles span the compiled head dims, the loads the call's
    ops = ops_of(cfg, kd, kdv)  # the cascade's work per score and per row of the tile (1-pass: QK^T and PV)
    tensor = (ops.tensor_per_score * br * bc + ops.tensor_per_row * br) / tensor_rate
    smem = smem_tile_bytes(cfg, kd, kdv, b) / smem_bw  # reads by the MMAs + the tile's fill
    load = (bc * cfg.kv_load_width(d, dv) * b / cfg.kv_share + extra_load) / l2_bw
    scores = br * bc
    sfu = (scores * ops.sfu_poly(poly) + br * ops.sfu_per_row) / sfu_rate
    mask = mask_ops(cfg) if partial and not cfg.mask_issue_per_score else 0  # NATTEN's mask: issued apart
    fp32_ops = scores * (ops.fp32_poly(poly, EXP_POLY_FP32_OPS) + mask)
    fp32 = (fp32_ops + br * ops.fp32_per_row) / fp32_rate
    gemm, softmax = max(tensor, smem), max(sfu, fp32)
    core = max(gemm, softmax) + exposed * min(gemm, softmax)
    hidden = (1 - exposed) * min(gemm, softmax)
    if capped < 1:
        gemm_sm = max(tensor * capped, smem)
        core = max(gemm, max(gemm_sm, softmax) + exposed * min(gemm_sm, softmax))
        hidden = min(softmax, gemm - gemm_sm + (1 - exposed) * min(gemm_sm, softmax))
    core += mask_issue_cycles(cfg.mask_issue_per_score, scores)
    waits = {"l2": load, "latency": latency / cfg.kv_stages}
    if cfg.gemm_ahead_loads:  # each CTA's own chain, its loads one GEMM ahead; k CTAs share the SM's cycles
        chain = chain_cycles(gemm, softmax, latency * resident, kd, kdv) / resident
        waits["latency"] = max(waits["latency"], chain)
    parts = {"tensor": tensor, "smem": smem, "exp": sfu, "fma": fp32}
    wait = max(waits, key=waits.get)
    if waits[wait] >= core:
        return TileCost(waits[wait], wait, gemm, softmax, hidden)
    return TileCost(core, max(parts, key=parts.get), gemm, softmax, hidden)


def smem_tile_bytes(cfg, kd: int, kdv: int, b: int) -> float:
    """Shared-memory bytes one tile moves at compiled head dims ``kd``/``kdv``: the K/V tile read by each of its
    ``readers`` (a CTA pair of a 2-CTA MMA loads half each), Q re-read where the kernel takes it from smem each
    tile, the K/V fill TMA or cp.async writes (MLA: K alone), P's round trip where the PV MMA reads it from smem,
    and FA3 fp8's in-smem V transpose (LDSM.T and STSM). The tile's smem term and the call's smem roof both."""
    br, bc = cfg.block_q, cfg.block_kv
    kv_tile = bc * cfg.kv_width(kd, kdv) * b / cfg.kv_share
    kv_fill = bc * cfg.kv_load_width(kd, kdv) * b / cfg.kv_share
    smem_read = cfg.readers * kv_tile + (br * kd * b if cfg.q_from_smem else 0)
    p_round_trip = 2 * br * bc * b if cfg.p_through_smem else 0  # P stored, then read by the PV MMA
    v_transpose = 2 * bc * kdv * b if cfg.transpose_v else 0  # V read (LDSM.T) and written back (STSM)
    return smem_read + kv_fill + p_round_trip + v_transpose


def mask_issue_cycles(per_score: float, scores) -> float:
    """SM cycles a tile of ``scores`` adds for a mask the kernel issues between its QK wait and its softmax,
    ``per_score`` instructions a thread a score (NATTEN's FNA, ``KernelConfig.mask_issue_per_score``; 0 for every
    other kernel): in series, one warp-instruction a cycle on each of the SM's schedulers."""
    return per_score * scores / (SUB_PARTITIONS * 32)


def mask_ops(cfg) -> float:
    """Instructions a thread issues a score to mask a partial tile, with the softmax: the kernel's own count where
    it has one (FA2's, from its SASS), else MASK_FP32_PER_SCORE."""
    return MASK_FP32_PER_SCORE if cfg.mask_ops_per_score is None else cfg.mask_ops_per_score


def chain_cycles(gemm: float, softmax: float, latency: float, kd: int, kdv: int) -> float:
    """An FA2 CTA's own chain of waits a tile, max(QK, L) + max(S + PV, L): it issues each K/V load one GEMM
    ahead (V(n) before QK(n), K(n-1) before the softmax and PV(n)), the GEMMs split by their head dims."""
    qk = gemm * kd / (kd + kdv)
    return max(qk, latency) + max(softmax + gemm - qk, latency)


def ops_of(cfg, d: int, dv: int):
    """The tile work of the kernel's cascade and pass, under its FP32 packing and rescale habit."""
    return tile_ops(cfg.cascade, cfg.pass_level, d, dv, cfg.fp32_packing, cfg.rescale_fraction, cfg.recompute)


def prologue_cycles(cfg, hw, wl, rows, tile: TileCost, ctas_per_sm: int) -> float:
    """SM cycles a CTA's work tile costs outside the steady tile loop: the sum of ``prologue_parts``."""
    return sum(prologue_parts(cfg, hw, wl, rows, tile, ctas_per_sm).values())


def prologue_parts(cfg, hw, wl, rows, tile: TileCost, ctas_per_sm: int) -> dict:
    """SM cycles a CTA's work tile costs outside the steady tile loop, term by term (``--explain`` names them).

    Q in and O out through L2; the first key block's softmax, which no GEMM overlaps in a pipelined
    kernel (FA3 mainloop prologue: QK GEMM, wait, softmax; FA4 likewise), costing the softmax
    the steady state hides; and in a kernel that is not persistent, the memory latency before the first
    K/V tile arrives, hidden by the SM's other resident CTAs but for 1/ctas_per_sm of it (a persistent
    kernel prefetches the next work tile during the epilogue, unless, like FA4, it cannot load the next
    tile's Q until this tile's loop has released its Q: ``q_prefetch`` False); and the path's fitted
    turnaround (``GPUSpec.tile_turnaround``: FA4's next tile cannot start its first PV MMA until the
    correction warps have read this tile's O out of tensor memory and stored it, flash_fwd_sm100.py mma()).
    """
    d, dv, b = wl.head_dim, wl.v_head_dim, wl.dtype_bytes
    io = (rows * cfg.qo_bytes(d, dv, b) + cfg.block_kv * cfg.kv_load_width(d, dv) * b) / (
        hw.l2_bw_bytes_s / hw.sms / hw.sustained_clock_hz)
    fill = tile.hidden if cfg.overlap else 0.0
    latency = 0.0 if cfg.persistent and cfg.q_prefetch else hw.hbm_latency_s * hw.sustained_clock_hz / ctas_per_sm
    return {"io": io, "fill": fill, "latency": latency, "turnaround": hw.tile_turnaround(cfg.tensor_path)}


def column_tile(cost: TileCost, rows) -> tuple:
    """(cycles, bound) as columns shaped like ``rows`` (whole tiles cost the same for every row count)."""
    if not is_columns(rows):
        return cost.cycles, cost.bound
    return np.full(rows.shape, cost.cycles), np.full(rows.shape, cost.bound, dtype=object)


def tensor_dtype(hw, wl) -> str:
    if wl.dtype not in hw.tensor_flops_per_clk_sm:
        raise UserError(f"dtype {wl.dtype!r} has no tensor-core rate on {hw.name}: allowed {', '.join(hw.tensor_flops_per_clk_sm)}")
    return wl.dtype
