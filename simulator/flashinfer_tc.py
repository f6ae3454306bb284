"""FlashInfer's tensor-core decode: ``single_decode_with_kv_cache(..., use_tensor_cores=True)``, which runs the
FA2-style prefill kernel on one query per request (flashinfer/decode.py: ``get_single_prefill_module("fa2", ...)``
with ``q.unsqueeze(0)``, MaskMode.NON_CAUSAL), as FlashInfer 0.6.16 dispatches it
(include/flashinfer/attention/prefill.cuh ``SinglePrefillWithKVCacheDispatched`` and
``SinglePrefillWithKVCacheDevice``; include/flashinfer/utils.cuh ``FA2DetermineCtaTileQ``,
``DISPATCH_NUM_MMA_KV``). docs/kernels.md section D2 has the source lines.

Three families. ``flashinfer-single-prefill``: the same kernel on a prefill call of one request
(``single_prefill_with_kv_cache(q, k, v, causal=..., backend="fa2")``, flashinfer/prefill.py: the fa2 backend,
FlashInfer's only one before Hopper; on Hopper its "auto" picks the fa3 backend: ``flashinfer-prefill``, in
simulator.flashinfer_sm90, models that kernel through the batch entry point), ``seq_len`` x group
packed rows in 128-row tiles past 64 (FA2DetermineCtaTileQ), a causal call bottom-right aligned (each query tile's
keys stop at its last query's and are masked from its first query's), each CTA's key tiles dispatched in launch
order (``flashinfer_single_prefill``). ``flashinfer-single-decode-tc``: one request on a contiguous cache. ``flashinfer-decode-tc``: a batch
on a paged cache, ``BatchDecodeWithPagedKVCacheWrapper(..., use_tensor_cores=True)``, which plans and runs the
batch prefill kernel (include/flashinfer/attention/scheduler.cuh ``PrefillPlan`` / ``PrefillSplitQOKVIndptr``,
prefill.cuh ``BatchPrefillWithPagedKVCacheDispatched``): the same tile, each CTA reading its work item's request,
that request's page range and the page indices (three dependent loads) before its first K/V load, the split
sized by a binary search for the smallest chunk (in pages, at least 128 tokens) whose CTAs fit 2 per SM, and
``VariableLengthMergeStates`` after it; a CUDA-graph plan (``--scope layer``: a serving engine replays its decode
from a graph) always splits, so its merge kernel always runs. The query heads of a KV head are packed into the rows of one query tile
(packed length = query length x GQA group; 16 rows for a decode call of group <= 16), CTA_TILE_Q = 16 runs one
warp along the queries and four along the keys (get_num_warps_q / get_num_warps_kv), each warp taking
NUM_MMA_KV x 16 keys of a CTA_TILE_KV = NUM_MMA_KV x 16 x 4 key tile; QK^T and PV are mma.sync (m16n8k16), the
online softmax on the CUDA cores. NUM_MMA_KV is the largest of 8, 4, 2, 1 whose K and V tiles fit half an SM's
shared memory beside the Q tile (the kernel sizes for two CTAs per SM) and the register cap 8 / NUM_MMA_Q. The
loop loads K and V by cp.async, one tile of each ahead: K(i+1) is issued after the softmax of tile i and V(i+1)
after its PV, so a waiting CTA has one K/V tile pair in flight. When the grid (packed query tiles x KV heads)
would not fill the SMs' resident CTAs (cudaOccupancyMaxActiveBlocksPerMultiprocessor), the KV range is split
into chunks of at least 256 keys and MergeStates (cascade.cuh) merges the partial outputs by their log-sum-exp.

Time: the K/V stream, wave by wave, at the lower of HBM bandwidth and one tile pair per CTA per loaded latency
(Little's law), or the tiles' SM time where that is longer (the fused kernels' tile cost, simulator.tile_cost, at
this kernel's tile: mma.sync, softmax after its GEMMs); the last tile's compute; one launch, plus the merge
kernel when split. Under ``--scope kernel`` a benchmark's L2 flush leaves dirty lines the K/V reads write back.
"""

import math
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades.errors import UserError
from simulator.cost import Cost
from simulator.cta_work import DenseCall
from simulator.flashinfer_decode import (_stream_seconds, head_dims_error, merge_kernel, page_size, window_keys,
                                        window_left)
from simulator.flashinfer_regs import PREFILL_REGS, regs_arch
from simulator.gpu_kernels import KernelConfig, alternatives, ctas_by_smem, cta_limit_error, paged_cache
from simulator.gpu_model import _finish, _roof_times, cold_l2_writeback_bytes, dram_latency, grid_bound
from simulator.kernel_configs import build_switch
from simulator.result import Result
from simulator._numpy import np
from simulator.schedule import grid_makespan, resident_ctas, uniform_makespan
from simulator.tile_cost import prologue_cycles, smem_tile_bytes, tile_cycles

FAMILY = "flashinfer-single-decode-tc"
BATCH_FAMILY = "flashinfer-decode-tc"
PREFILL_FAMILY = "flashinfer-single-prefill"  # single_prefill_with_kv_cache(..., backend="fa2"): the same kernel
FAMILIES = (FAMILY, BATCH_FAMILY, PREFILL_FAMILY)
PLAN_CTAS_PER_SM = 2  # PrefillPlanImpl: num_blocks_per_sm = 2; max_batch_size_if_split = 2 x SMs / KV heads
PLAN_MIN_CHUNK_TOKENS = 128  # PrefillSplitQOKVIndptr: min_kv_chunk_size = max(128 / page_size, 1) pages
PLAN_DEPENDENT_LOADS = 3  # work item -> the request's indptr and last page -> page indices, before K(0)
# (head dim, value head dim) pairs the prefill families also run: DeepSeek's MHA-form prefill. The fa2 kernels take
# HEAD_DIM_QK and HEAD_DIM_VO as two template parameters (prefill.cuh SinglePrefillWithKVCacheDispatched,
# BatchPrefillWithRaggedKVCacheDispatched; the JIT builds a module per pair), and FlashInfer's own
# tests/attention/test_deepseek_mla.py runs single_prefill_with_kv_cache and BatchPrefillWithRaggedKVCacheWrapper at
# head_dim_qk 192, head_dim_vo 128 on backend "fa2". A paged cache holds one head dim (page.cuh paged_kv_t), so the
# paged kernels are not offered them.
PREFILL_PAIRS = {(192, 128): "DeepSeek's prefill"}
MAX_GROUP = 64  # packed rows of one decode call up to 64 run the 16- and 64-row tiles (FA2DetermineCtaTileQ)
MMA_ROWS = 16  # one m16n8k16 MMA's rows (and keys per NUM_MMA_KV / num_frags_z step)
WARPS = 4  # NUM_WARPS_Q x NUM_WARPS_KV = 4 (0.6.16, heads below 512); num_warps = 4 (0.0.1)
SIZING_CTAS = 2  # "we expect each sm execute two threadblocks": the K/V tile is sized for half an SM's smem
PARTIAL_LSE_BYTES = 4  # tmp: each chunk's O in DTypeO and its log-sum-exp in fp32 (tmp_lse)
REG_ALLOC_PER_THREAD = 8  # the occupancy query counts registers per warp in 256-register units

# FlashInfer by build. ``0.6.16``: today's (include/flashinfer/attention/prefill.cuh
# SinglePrefillWithKVCacheDispatched): one warp along the queries and four along the keys at 16 packed rows,
# NUM_MMA_KV the largest of 8, 4, 2, 1 that fits, chunks of at least 256 keys, Q's load overlapping the first K/V
# loads. ``0.0.1``: the blog's (flashinfer-ai/flashinfer @ 9f49803b, include/flashinfer/prefill.cuh
# SinglePrefillWithKVCacheDispatched and SinglePrefillWithKVCacheKernel): four warps along the queries
# (num_frags_x x 64 rows, num_frags_x = 2 above 64 packed rows), all sharing a num_frags_z x 16-key tile
# (num_frags_z 4 or 2: SWITCH_NUM_FRAGS_Z takes nothing else), chunks min(grid, kv_len / 128), and Q loaded and
# waited for (cp_async::wait_group<0>) before the first K/V load is issued. A published file's
# ``flashinfer_build`` says which one it timed.
FLASHINFER_BUILDS = ("0.6.16", "0.0.1")
_build: ContextVar[str] = ContextVar("flashinfer_build", default=FLASHINFER_BUILDS[0])

MIN_CHUNK = 256  # 0.6.16: chunk_size = max(ceil_div(kv_len, max_num_kv_chunks), 256)
MIN_CHUNK_001 = 128  # 0.0.1: num_chunks = min(grid, kv_len / 128)
MMA_KV_STEPS = (8, 4, 2, 1)  # 0.6.16 DISPATCH_NUM_MMA_KV: the largest of these at most max_mma_kv
FRAGS_Z_001 = (4, 2)  # 0.0.1 SWITCH_NUM_FRAGS_Z: exactly 4 or 2
GROUPS_001 = (1, 4, 8)  # 0.0.1 SWITCH_GQA_GROUP_SIZE
# Registers per thread: the 0.6.16 kernels' by architecture in simulator.flashinfer_regs (PREFILL_REGS). The 0.0.1
# build's below (REGS_001): ptxas -v for sm_90a (nvcc 13.0, -use_fast_math -DNDEBUG) of the partition_kv
# SinglePrefillWithKVCacheKernel the occupancy query asks about (9f49803b), by (GQA group, head dim, num_frags_z),
# NHD, no RoPE, half; taken for the A100 PCIe panels of the blog too (an sm_80 compile gives the same at their shapes:
# docs/kernels.md D7).
# The paged kernels' page arithmetic, SASS instructions a warp issues per key tile beyond the ragged kernel's, by
# (head dim, CTA_TILE_Q, NUM_MMA_KV): BatchPrefillWithPagedKVCacheKernel's loop (prefill.cuh) recomputes, for each of
# the NUM_MMA_KV x 4 / NUM_WARPS_Q K/V rows a thread loads next, its page (page_size.divmod), the page index (an
# LDG of paged_kv.indices) and the row's 64-bit offset (protective_get_kv_offset), and builds each cp.async address
# from it, where BatchPrefillWithRaggedKVCacheKernel steps one pointer. Counted in the loop bodies (the back edge's
# span holding the HMMAs) of both kernels at nightly-v0.6.16-20260730, csrc/batch_prefill_{paged,ragged}_kernel_inst
# .jinja instantiated at fp16, MaskMode::kCausal, nvcc 13.0 -arch=sm_90a -O3 -use_fast_math -DNDEBUG (the JIT's flags,
# flashinfer/jit/core.py), disassembled by nvdisasm, no GPU needed (attnsim commits no build of FlashInfer's code:
# the counts are cited, not re-run): e.g. d=128,
# 128 x 64 tile, 1,255 against 1,092 instructions a warp (4 LDGs of page indices). The page size does not enter:
# the divmod and the index load run per row for any page size (v0.2.0's loop is the same). By the architecture the
# JIT builds for (2026-12-06, the same count over sm_80 and sm_100a builds with FlashInfer's pinned CCCL, whose sm_90a
# build gives the sm_90a table entry for entry): Ampere's and Blackwell's loops carry fewer (the 128 x 64 tile at
# d = 128: 100 on sm_80, 99 on sm_100a, against 163).
PAGED_TILE_INSTRUCTIONS = {
    80: {
        (64, 16, 2): 186, (64, 16, 4): 446, (64, 16, 8): 985, (64, 64, 2): 44, (64, 64, 4): 119, (64, 64, 8): 287,
        (64, 128, 2): 25, (64, 128, 4): 104, (64, 128, 8): 262, (128, 16, 1): 105, (128, 16, 2): 195,
        (128, 16, 4): 413, (128, 16, 8): 862, (128, 64, 1): 28, (128, 64, 2): 46, (128, 64, 4): 107,
        (128, 64, 8): 204, (128, 128, 1): 28, (128, 128, 2): 50, (128, 128, 4): 100, (256, 16, 1): 108,
        (256, 16, 2): 201, (256, 16, 4): 443, (256, 16, 8): 1008, (256, 64, 1): 28, (256, 64, 2): 50,
        (256, 64, 4): 113, (256, 64, 8): 184
    },
    90: {
        (64, 16, 2): 238, (64, 16, 4): 516, (64, 16, 8): 1119, (64, 64, 2): 84, (64, 64, 4): 156, (64, 64, 8): 353,
        (64, 128, 2): 92, (64, 128, 4): 206, (64, 128, 8): 315, (128, 16, 1): 162, (128, 16, 2): 278,
        (128, 16, 4): 510, (128, 16, 8): 982, (128, 64, 1): 61, (128, 64, 2): 100, (128, 64, 4): 181,
        (128, 64, 8): 306, (128, 128, 1): 69, (128, 128, 2): 114, (128, 128, 4): 163, (256, 16, 1): 175,
        (256, 16, 2): 300, (256, 16, 4): 543, (256, 16, 8): 1100, (256, 64, 1): 81, (256, 64, 2): 115,
        (256, 64, 4): 181, (256, 64, 8): 347
    },
    100: {
        (64, 16, 2): 196, (64, 16, 4): 320, (64, 16, 8): 871, (64, 64, 2): 59, (64, 64, 4): 108, (64, 64, 8): 192,
        (64, 128, 2): 62, (64, 128, 4): 106, (64, 128, 8): 229, (128, 16, 1): 108, (128, 16, 2): 198,
        (128, 16, 4): 366, (128, 16, 8): 976, (128, 64, 1): 37, (128, 64, 2): 73, (128, 64, 4): 82,
        (128, 64, 8): 196, (128, 128, 1): 58, (128, 128, 2): 70, (128, 128, 4): 99, (256, 16, 1): 118,
        (256, 16, 2): 221, (256, 16, 4): 391, (256, 16, 8): 1010, (256, 64, 1): 58, (256, 64, 2): 98,
        (256, 64, 4): 127, (256, 64, 8): 184
    },
}
# By (num_frags_x, causal): num_frags_x 2 past 64 packed rows (a prefill call's), and the CAUSAL-true kernels
# (flashinfer-single-prefill --causal), each compiled the same way
REGS_001 = {
    (1, False): {
        (1, 64, 2): 95, (1, 64, 4): 122, (1, 128, 2): 128, (1, 128, 4): 166, (1, 256, 2): 248, (1, 256, 4): 245,
        (4, 64, 2): 95, (4, 64, 4): 123, (4, 128, 2): 159, (4, 128, 4): 166, (4, 256, 2): 248, (4, 256, 4): 245,
        (8, 64, 2): 95, (8, 64, 4): 123, (8, 128, 2): 128, (8, 128, 4): 164, (8, 256, 2): 250, (8, 256, 4): 243},
    (2, False): {
        (1, 64, 2): 161, (1, 64, 4): 232, (1, 128, 2): 252, (1, 128, 4): 255, (1, 256, 2): 255, (1, 256, 4): 255,
        (4, 64, 2): 168, (4, 64, 4): 239, (4, 128, 2): 255, (4, 128, 4): 255, (4, 256, 2): 255, (4, 256, 4): 255,
        (8, 64, 2): 166, (8, 64, 4): 234, (8, 128, 2): 251, (8, 128, 4): 255, (8, 256, 2): 255, (8, 256, 4): 255},
    (1, True): {
        (1, 64, 2): 96, (1, 64, 4): 125, (1, 128, 2): 128, (1, 128, 4): 164, (1, 256, 2): 250, (1, 256, 4): 243,
        (4, 64, 2): 96, (4, 64, 4): 125, (4, 128, 2): 159, (4, 128, 4): 166, (4, 256, 2): 248, (4, 256, 4): 245,
        (8, 64, 2): 96, (8, 64, 4): 126, (8, 128, 2): 128, (8, 128, 4): 166, (8, 256, 2): 246, (8, 256, 4): 243},
    (2, True): {
        (1, 64, 2): 167, (1, 64, 4): 234, (1, 128, 2): 254, (1, 128, 4): 255, (1, 256, 2): 255, (1, 256, 4): 255,
        (4, 64, 2): 166, (4, 64, 4): 239, (4, 128, 2): 255, (4, 128, 4): 255, (4, 256, 2): 255, (4, 256, 4): 255,
        (8, 64, 2): 165, (8, 64, 4): 236, (8, 128, 2): 255, (8, 128, 4): 255, (8, 256, 2): 255, (8, 256, 4): 255},
}


def current_build() -> str:
    """The FlashInfer build predictions run as here."""
    return _build.get()


def flashinfer_build(build: str | None):
    """Predict FlashInfer's tensor-core decode as the given build runs inside this block (a published file's
    ``flashinfer_build``); None keeps today's code."""
    return build_switch(_build, FLASHINFER_BUILDS, "flashinfer_build", build)


@dataclass(frozen=True, slots=True)
class PrefillTile:
    """The thread block ``SinglePrefillWithKVCacheDispatched`` launches for a decode call's shape."""

    build: str
    cta_tile_q: int  # query rows (packed query heads) per CTA
    cta_tile_kv: int  # keys per loop iteration
    warps_q: int  # warps splitting the rows (each reads the whole K/V tile)
    warps_kv: int  # warps splitting the keys
    smem_bytes: int  # dynamic shared memory per CTA
    regs: int  # per thread, as allocated
    sm: int | None = None  # the architecture the JIT built it for (0.6.16; flashinfer_regs.ARCHES)

    @property
    def threads(self) -> int:
        return WARPS * 32

    def ctas_per_sm(self, hw) -> int:
        """cudaOccupancyMaxActiveBlocksPerMultiprocessor: shared memory, registers, threads and the CTA cap; a
        UserError naming the limit where not one CTA is resident."""
        k = min(ctas_by_smem(hw, self.smem_bytes), hw.regs_per_sm // (self.threads * self.regs),
                hw.max_threads_per_sm // self.threads, hw.max_ctas_per_sm)
        if k < 1:
            tile = f"FlashInfer's prefill kernel, tile {self.cta_tile_q}x{self.cta_tile_kv},"
            raise UserError(cta_limit_error(hw, tile, self.threads * self.regs, self.threads) or
                            f"{tile} needs {self.smem_bytes:,} B of shared memory per CTA; {hw.name} has "
                            f"{hw.smem_per_sm_bytes:,} B per SM")
        return k


def cta_tile_q(packed: int, d: int) -> int:
    """FA2DetermineCtaTileQ (utils.cuh, 0.6.16) on sm_80 and later, head dims below 512."""
    if packed > 64 and d < 256:
        return 128
    return 64 if packed > 16 else 16


def prefill_tile(hw, d: int, group: int, b: int, family: str = FAMILY, rows: int | None = None,
                 causal: bool = False, dv: int | None = None, kernel: str | None = None) -> PrefillTile:
    """The prefill kernel's template choice for ``rows`` packed rows (query length x ``group``; one query's by
    default) of ``group`` query heads a KV head (Single- or BatchPrefillWithPagedKVCacheDispatched: the same rule,
    their own registers, as the JIT builds them for ``hw``'s architecture (flashinfer_regs); ``causal``: the causal
    mask mode's) at head dim ``d`` and value head dim ``dv`` (default
    ``d``). ``kernel`` names whose registers: ``single`` (SinglePrefillWithKVCacheKernel), ``ragged`` or ``paged``
    (the batch prefill's kernels); by default the paged one for the batch decode family, else the single one."""
    if family == BATCH_FAMILY and current_build() != FLASHINFER_BUILDS[0]:
        raise UserError(f"{BATCH_FAMILY} is modelled as FlashInfer {FLASHINFER_BUILDS[0]} plans and runs it, not "
                        f"{current_build()} (flashinfer_build)")
    dv = d if dv is None else dv
    if dv != d and current_build() != FLASHINFER_BUILDS[0]:
        raise UserError(f"FlashInfer {current_build()}'s prefill kernel has one head dim for Q, K and V; head dims "
                        f"{d}/{dv} are modelled as {FLASHINFER_BUILDS[0]} runs them (flashinfer_build)")
    kernel = kernel or ("paged" if family == BATCH_FAMILY else "single")
    sm = regs_arch(hw, family) if current_build() == FLASHINFER_BUILDS[0] else None
    return _prefill_tile(current_build(), hw.name, hw.smem_per_sm_bytes, hw.smem_per_block_bytes, d, dv, group,
                         group if rows is None else rows, b, kernel, causal, sm)


def _dims(d: int, dv: int):
    """The register tables' head-dim key: the head dim, or (head dim, value head dim) where they differ."""
    return d if d == dv else (d, dv)


def paged_tile_cycles(tile: PrefillTile, d: int) -> int:
    """SM cycles the paged kernel adds to each key tile: its page arithmetic (PAGED_TILE_INSTRUCTIONS), issued by each
    of the CTA's four warps on its own scheduler, one instruction a cycle, beside the tile's GEMMs and softmax."""
    return PAGED_TILE_INSTRUCTIONS[tile.sm][(d, tile.cta_tile_q, tile.cta_tile_kv // (MMA_ROWS * tile.warps_kv))]


def _alloc(regs: int) -> int:
    return -(-regs // REG_ALLOC_PER_THREAD) * REG_ALLOC_PER_THREAD


@lru_cache(maxsize=64)
def _prefill_tile(build: str, name: str, smem_per_sm: int, smem_per_block: int, d: int, dv: int, group: int,
                  rows: int, b: int, kernel: str, causal: bool, sm: int | None) -> PrefillTile:
    if build == "0.0.1":
        return _prefill_tile_001(name, smem_per_sm, d, group, rows, b, causal)
    tile_q = cta_tile_q(rows, dv)  # FA2DetermineCtaTileQ(packed_qo_len, HEAD_DIM_VO)
    warps_q = 1 if tile_q <= 16 else 4  # get_num_warps_q
    warps_kv = WARPS // warps_q
    mma_q = 2 if tile_q > 64 else 1  # get_num_mma_q
    fixed = tile_q * d * b  # the Q tile
    per_mma_kv = (d + dv) * MMA_ROWS * warps_kv * b  # K and V rows of one NUM_MMA_KV step (kKVSmemPerMmaKV)
    sizing = SIZING_CTAS if smem_per_sm >= SIZING_CTAS * (fixed + per_mma_kv) else 1
    budget = min(smem_per_sm // sizing, smem_per_block)
    max_mma_kv = min((budget - fixed) // per_mma_kv, 8 // mma_q)
    if max_mma_kv < 1:
        raise UserError(f"FlashInfer's prefill kernel at head dim {d} needs {fixed + per_mma_kv:,} B of shared memory "
                        f"per CTA; {name} allows {budget:,} B per CTA")
    mma_kv = next(s for s in MMA_KV_STEPS if s <= max_mma_kv)
    tile_kv = mma_kv * MMA_ROWS * warps_kv
    qkv = fixed + tile_kv * (d + dv) * b
    sync = (warps_kv * tile_q * dv * 4 + warps_kv * tile_q * 8) if warps_kv > 1 else 0  # cta_sync_o/md_smem
    smem = max(qkv, sync, tile_q * dv * b)  # SharedStorageQKVO: a union of these (smem_o)
    regs = PREFILL_REGS[sm][(kernel, causal)][(_dims(d, dv), tile_q, mma_kv)]  # as the JIT builds it for sm_<sm>
    return PrefillTile(build, tile_q, tile_kv, warps_q, warps_kv, smem, _alloc(regs), sm)


def _prefill_tile_001(name: str, smem_per_sm: int, d: int, group: int, rows: int, b: int,
                      causal: bool = False) -> PrefillTile:
    """0.0.1: num_frags_x from the packed rows, num_frags_z from half the SM's smem (capped at 4), 4 warps on rows."""
    if group not in GROUPS_001:
        raise UserError(f"FlashInfer 0.0.1's prefill kernel runs GQA groups of {', '.join(map(str, GROUPS_001))} "
                        f"(utils.cuh SWITCH_GQA_GROUP_SIZE): got group {group}")
    frags_x = 2 if rows > 64 else 1  # 9f49803b prefill.cuh SWITCH_NUM_FRAGS_X((qo_len * GROUP_SIZE > 64 ? 2 : 1), ...)
    per_row_block = MMA_ROWS * d * b
    frags_z = min(((smem_per_sm // SIZING_CTAS) // per_row_block - frags_x * WARPS) // 2, FRAGS_Z_001[0])
    if frags_z not in FRAGS_Z_001:
        raise UserError(f"FlashInfer 0.0.1's prefill kernel at head dim {d} would take num_frags_z {frags_z} "
                        f"on {name}, which its SWITCH_NUM_FRAGS_Z does not dispatch (4 or 2 only)")
    smem = (frags_x * WARPS + frags_z * 2) * per_row_block
    regs = REGS_001[(frags_x, causal)][(group, d, frags_z)]
    return PrefillTile("0.0.1", frags_x * WARPS * MMA_ROWS, frags_z * MMA_ROWS, WARPS, 1, smem, _alloc(regs))


def kernel_config(tile: PrefillTile, group: int) -> KernelConfig:
    """The tile as the fused kernels' tile cost reads it: mma.sync GEMMs with the softmax after them (FA2-style),
    Q re-read from smem for every key tile (compute_qk's ldmatrix), each K/V row read by the warps that split the
    rows, one K/V tile pair in flight."""
    return KernelConfig(family=FAMILY, block_q=tile.cta_tile_q, block_kv=tile.cta_tile_kv, warps=WARPS,
                        readers=tile.warps_q, producer_warps=0, tensor_path="mma_sync", overlap=False,
                        q_from_smem=True, smem_bytes=tile.smem_bytes, regs_per_thread=tile.regs, longest_first=False,
                        pack_gqa=group > 1, kv_stages=1.0)


def plan(hw, wl, tile: PrefillTile, graph: bool, page: int | None = None,
         left: int | None = None) -> tuple[int, int, bool, int]:
    """PrefillSplitQOKVIndptr for ``batch`` requests of ``seq_len`` queries and ``kv_len`` keys on ``page``-token
    pages (default ``page_size(wl)``; 1 for a ragged cache, as BatchPrefillWithRaggedKVCacheWrapper plans it):
    (KV chunks per request, keys per chunk, split, CTAs launched per KV head). The smallest chunk (in pages, at
    least 128 tokens' worth) whose work items fit ``max_batch_size_if_split`` = 2 x SMs / KV heads; split when that
    chunk is shorter than the request, or always under a CUDA graph, whose grid is padded to that size. With a
    sliding window (``left``: window_left) the plan splits each request's effective pages, min(ceil((window_left +
    CTA_TILE_Q) / page), pages) ("the actual needed CTA when considering sliding window"). ``--num-splits 1``
    is plan(disable_split_kv=True): one chunk of the effective pages a request, never split, the graph's grid
    still padded (PrefillSplitQOKVIndptr, since PR #1675 "Batch-size invariant FA2 Prefill & Decode")."""
    page = page or page_size(wl)
    pages = max(math.ceil(wl.kv_len / page), 1)
    if left is not None:
        pages = min(math.ceil((left + tile.cta_tile_q) / page), pages)
    q_tiles = math.ceil(wl.seq_len * wl.group / tile.cta_tile_q)
    fit = PLAN_CTAS_PER_SM * hw.sms // wl.kv_heads
    low, high = max(PLAN_MIN_CHUNK_TOKENS // page, 1), pages
    while low < high:  # PrefillBinarySearchKVChunkSize
        mid = (low + high) // 2
        if wl.batch * q_tiles * math.ceil(pages / mid) > fit:
            low = mid + 1
        else:
            high = mid
    disabled = wl.num_splits == 1  # plan(disable_split_kv=True): one KV chunk a request, no
    if disabled:  # merge, under a CUDA graph too (kv_chunk_size = max; split_kv stays false)
        low = pages
    count = math.ceil(pages / low)
    items = wl.batch * q_tiles * count
    # a graph's plan sizes its grid for any query lengths of the same total (uniform_q_len is 0 for one query a
    # request: decode.py): total_num_tiles_q = ceil(rows x group / CTA_TILE_Q) + batch - 1
    graph_tiles = math.ceil(wl.batch * wl.seq_len * wl.group / tile.cta_tile_q) + wl.batch - 1
    split = not disabled and (graph or low < pages)
    return count, min(low * page, wl.kv_len), split, max(fit, graph_tiles) if graph else items


def chunks(hw, wl, tile: PrefillTile) -> tuple[int, int]:
    """(KV chunks, keys per chunk): the split SinglePrefillWithKVCacheDispatched picks (1: no split, no merge); one
    without a tmp buffer (``--num-splits 1``: ``if (num_chunks <= 1 || tmp == nullptr)``, prefill.cuh, and 0.0.1's
    likewise) runs unsplit."""
    if wl.num_splits == 1:
        return 1, wl.kv_len
    q_tiles = math.ceil(wl.seq_len * wl.group / tile.cta_tile_q)
    max_chunks = tile.ctas_per_sm(hw) * hw.sms // (wl.kv_heads * q_tiles)
    if tile.build == "0.0.1":
        count = min(max_chunks, wl.kv_len // MIN_CHUNK_001)
        return (count, math.ceil(wl.kv_len / count)) if count > 1 else (1, wl.kv_len)
    if max_chunks <= 0:
        return 1, wl.kv_len
    count = math.ceil(wl.kv_len / max(math.ceil(wl.kv_len / max_chunks), MIN_CHUNK))
    # the host counts chunks of at least 256 keys; the kernel then takes max_chunk_size = ceil_div(kv_len, num_chunks)
    return (count, math.ceil(wl.kv_len / count)) if count > 1 else (1, wl.kv_len)


def check(hw, family: str, wl) -> int | None:
    """What the tensor-core decode path refuses or attnsim does not model: exit 2 with the allowed values. Returns
    the call's window_left (``flashinfer_decode.window_left``), None without a window."""
    if wl.seq_len != 1:
        raise UserError(f"{family} is a decode kernel (one query per request): got --seq-len {wl.seq_len}; use 1, "
                        f"or {alternatives(hw, ('flash2', 'flash3', 'flash4'))} for more queries")
    if family == FAMILY and wl.batch != 1:
        raise UserError(f"{family} serves one request (single_decode_with_kv_cache): got --batch {wl.batch}; use "
                        f"{BATCH_FAMILY} for a batch")
    if wl.group > MAX_GROUP:
        raise UserError(f"{family} is modelled for GQA groups up to {MAX_GROUP} (the 16- and 64-row query tiles): "
                        f"got --heads {wl.heads} --kv-heads {wl.kv_heads} (group {wl.group})")
    _check_head_dims(family, wl)
    left = window_left(family, wl)  # every cached key or a sliding window (0.6.16: window_left)
    dram_latency(hw, family)  # the merge kernel's dependent read (and the batch kernel's, and 0.0.1's Q wait)
    return left


def _check_head_dims(family: str, wl) -> None:
    """The head dims of the tensor-core families: the prefill one also runs PREFILL_PAIRS (a contiguous cache)."""
    pairs = PREFILL_PAIRS if family == PREFILL_FAMILY else None
    if why := head_dims_error(family, int(wl.head_dim), int(wl.v_head_dim), pairs):
        raise UserError(why)


def check_prefill(hw, wl) -> bool:
    """What attnsim models of ``single_prefill_with_kv_cache`` (fa2 backend): one request, dense or causal over a
    contiguous cache, as the kernel runs it; exit 2 with the allowed values. Returns whether the call is causal."""
    family = PREFILL_FAMILY
    if wl.batch != 1:
        raise UserError(f"{family} serves one request (single_prefill_with_kv_cache): got --batch {wl.batch}; "
                        "use 1, or flash2/flash3 for a batch")
    from simulator.flashinfer_sm90 import window_error

    if why := window_error(wl, family):  # dense, causal or a window over past keys, as the batch prefill
        raise UserError(why)
    causal = _prefill_causal(family, wl)
    _check_head_dims(family, wl)
    if wl.varlen or wl.scope == "layer":
        raise UserError(f"{family} is one request's kernel call (single_prefill_with_kv_cache): got "
                        + ("--varlen; drop it" if wl.varlen else "--scope layer; use kernel or kernel-warm, or "
                           "flash2/flash3 for a serving engine's prefill"))
    dram_latency(hw, family)
    return causal


def _tile_work(wl, tile: PrefillTile, chunk: int, causal: bool, c: int, j: int, left: int | None = None,
               skip: bool = False, split: bool = True) -> tuple[int, int]:
    """(key tiles, masked key tiles) of query tile ``j`` over KV chunk ``c``: a query tile of a causal call stops
    at its last query's key, bottom-right aligned (the kernel's num_iterations), and masks the tiles from its first
    query's (mask_iteration); a non-causal call masks a chunk's partial last tile. With a sliding window
    (``left``: window_left) the tiles before its last query's window are masked too (window_iteration); the batch
    kernels (``skip``) start the tile's chunks at its first query's window (kv_start_idx, "skip out-of-window kv
    tile"), the single one at key 0 (it loads and computes them). ``split``: the KV range is partitioned."""
    group, rows, n, keys = int(wl.group), tile.cta_tile_q, int(wl.seq_len), int(wl.kv_len)
    first_key = max(0, keys + j * rows // group - n - left) if skip and left is not None else 0
    start = min(c * chunk + first_key, keys)
    end = min((c + 1) * chunk + first_key, keys) if split else keys
    q_lo, q_hi = j * rows // group, min(((j + 1) * rows - 1) // group, n - 1)
    limit = keys - n + q_hi + 1 if causal else keys
    span = max(0, min(end, limit) - start)
    tiles = math.ceil(span / tile.cta_tile_kv)
    first = (max(keys - n + q_lo + 1, start) - start) // tile.cta_tile_kv if causal \
        else span // tile.cta_tile_kv
    masked = max(0, tiles - first)
    if left is not None:  # the window's masked tiles, those not already masked by the causal edge
        masked += max(0, min(_window_iteration(wl, tile, j, left, start), tiles, first))
    return tiles, min(masked, tiles)


def _window_iteration(wl, tile: PrefillTile, j: int, left: int, start: int) -> int:
    """window_iteration of query tile ``j``'s chunk from key ``start`` (prefill.cuh): its key tiles holding a key
    before the window of the tile's last query, counted as the kernel counts, from one past it:
    ceil((kv_len + ceil((j + 1) x CTA_TILE_Q / group) - qo_len - window_left - start) / CTA_TILE_KV)."""
    edge = int(wl.kv_len) + math.ceil((j + 1) * tile.cta_tile_q / int(wl.group)) - int(wl.seq_len) - left - start
    return math.ceil(max(0, edge) / tile.cta_tile_kv)


def _prefill_causal(family: str, wl) -> bool:
    """Whether a prefill call is causal (a window over past keys runs causal: FlashInfer's window_left with its
    causal mask); a causal one needs as many keys as queries (FlashInfer's check)."""
    from simulator.flashinfer_sm90 import causal as fi_causal

    causal = fi_causal(wl)
    if causal and wl.kv_len < wl.seq_len:
        raise UserError(f"{family} with --causal needs --kv-len >= --seq-len (FlashInfer: 'When causal is true, "
                        f"kv_len must be greater than or equal to qo_len'): got {wl.seq_len} queries, {wl.kv_len} keys")
    return causal


def _prefill_work(wl, tile: PrefillTile, n_chunks: int, chunk: int, causal: bool,
                  left: int | None = None) -> list[tuple[int, int]]:
    """(key tiles, masked key tiles) of each CTA of one KV head in launch order (query tile fastest, then chunk:
    SinglePrefillWithKVCacheDispatched's dim3(num_blocks_x, num_chunks, num_kv_heads))."""
    q_tiles = math.ceil(wl.seq_len * wl.group / tile.cta_tile_q)
    return [_tile_work(wl, tile, chunk, causal, c, j, left, split=n_chunks > 1) for c in range(n_chunks)
            for j in range(q_tiles)]


def _batch_prefill_work(wl, tile: PrefillTile, n_chunks: int, chunk: int, causal: bool,
                        left: int | None = None) -> list[tuple[int, int]]:
    """The same per work item of one KV head in the plan's order (PrefillSplitQOKVIndptr: request, then query
    tile, KV chunk fastest), the requests alike; a window's chunks start at each query tile's window."""
    q_tiles = math.ceil(wl.seq_len * wl.group / tile.cta_tile_q)
    return [_tile_work(wl, tile, chunk, causal, c, j, left, skip=True, split=n_chunks > 1) for j in range(q_tiles)
            for c in range(n_chunks)] * wl.batch


def prefill_window(wl) -> int | None:
    """FlashInfer's ``window_left`` for a prefill call's ``--pattern`` (FA's left side: ``window(w)`` is w - 1; a
    window no narrower than the keys is none), None without one."""
    if not wl.pattern or wl.pattern in ("full", "causal"):
        return None
    from simulator.gpu_kernels import fa_window_sides

    sides = fa_window_sides(wl, fa3=True)
    return sides[0] if sides is not None and sides[0] >= 0 else None


def _attended(n: int, keys: int, causal: bool, left: int | None) -> float:
    """Scores a call attends: query q (bottom-right aligned) sees keys up to keys - n + q when causal, and from
    keys - n + q - left on with a window."""
    q = np.arange(n, dtype=np.float64)
    hi = keys - n + q + 1 if causal else np.full(n, float(keys))
    lo = np.maximum(keys - n + q - left, 0) if left is not None else np.zeros(n)
    return float(np.maximum(hi - lo, 0).sum())


def flashinfer_single_prefill(hw, wl) -> Result:
    """Predict ``single_prefill_with_kv_cache(q, k, v, causal=..., backend="fa2")``: the prefill kernel of the
    tensor-core decode (its tile for ``seq_len`` x group packed rows, its KV split and MergeStates), each CTA's
    key tiles, those the causal mask cuts at their masked cost, dispatched in launch order."""
    causal = check_prefill(hw, wl)
    family = PREFILL_FAMILY
    tile = prefill_tile(hw, int(wl.head_dim), int(wl.group), int(wl.dtype_bytes), family,
                        rows=int(wl.seq_len) * int(wl.group), causal=causal, dv=int(wl.v_head_dim))
    n_chunks, chunk = chunks(hw, wl, tile)
    startup = (2 if tile.build == "0.0.1" else 1) * dram_latency(hw, family)
    left = prefill_window(wl)  # the single kernel loads and computes the keys before a window and masks them
    return _prefill_call(hw, wl, family, tile, causal, n_chunks, chunk,
                         _prefill_work(wl, tile, n_chunks, chunk, causal, left), startup,
                         dict(page_size=None, window_left=left, window_skips=False))


def flashinfer_batch_prefill(hw, wl, family: str) -> Result:
    """Predict FlashInfer's batch prefill on its fa2 backend (what ``backend="auto"`` runs off Hopper):
    BatchPrefillWithRaggedKVCacheWrapper (or the paged wrapper: ``--page-size``, ``--scope layer``) plans with
    PrefillPlan (scheduler.cuh): CTA_TILE_Q by FA2DetermineCtaTileQ of the packed query length, the KV split by
    PrefillBinarySearchKVChunkSize (``plan``; a prefill of many query tiles does not split), then runs
    BatchPrefillWith{Ragged,Paged}KVCacheKernel over the work items (request, query tile, KV chunk fastest) x KV
    heads, the same tile as the single prefill's, each CTA first reading its work item and its request's ranges
    (and, paged, the page indices); VariableLengthMergeStates after a split."""
    causal = _prefill_causal(family, wl)  # dtypes, head dims and masks: flashinfer_sm90.error
    dram_latency(hw, family)
    if current_build() == FLASHINFER_BUILDS[0]:  # an arch without registers: refused naming the family asked for,
        regs_arch(hw, family)  # not the single prefill's whose tile rule prefill_tile takes below
    paged = paged_cache(wl)
    tile = prefill_tile(hw, int(wl.head_dim), int(wl.group), int(wl.dtype_bytes), PREFILL_FAMILY,
                        rows=int(wl.seq_len) * int(wl.group), causal=causal, dv=int(wl.v_head_dim),
                        kernel="paged" if paged else "ragged")
    left = prefill_window(wl)  # the batch kernels start each query tile's chunks at its window (kv_start_idx)
    n_chunks, chunk, _, _ = plan(hw, wl, tile, graph=False, page=page_size(wl) if paged else 1, left=left)
    dependent = PLAN_DEPENDENT_LOADS if paged else PLAN_DEPENDENT_LOADS - 1  # no page indices in a ragged cache
    startup = (dependent + 1) * dram_latency(hw, family)
    work = _batch_prefill_work(wl, tile, n_chunks, chunk, causal, left)
    return _prefill_call(hw, wl, family, tile, causal, n_chunks, chunk, work, startup,
                         dict(page_size=page_size(wl) if paged else None, requests=int(wl.batch), backend="fa2",
                              window_left=left, window_skips=True))


def _prefill_call(hw, wl, family: str, tile: PrefillTile, causal: bool, n_chunks: int, chunk: int, work: list,
                  startup: float, extra: dict) -> Result:
    """The prefill kernel's call: ``work`` (key tiles, masked ones) per CTA of one KV head in launch order, the KV
    heads after one another; the K/V stream or the SMs' time, the first loads (``startup``), the last tile, and
    the merge kernel when split."""
    d, dv, b, group = int(wl.head_dim), int(wl.v_head_dim), int(wl.dtype_bytes), int(wl.group)
    clock = hw.sustained_clock_hz
    cfg = kernel_config(tile, group)
    k = tile.ctas_per_sm(hw)
    split = n_chunks > 1
    ctas = len(work) * wl.kv_heads
    resident = resident_ctas(hw, k, ctas)
    full = tile_cycles(cfg, hw, wl, partial=False, resident=resident)
    masked = tile_cycles(cfg, hw, wl, partial=True, resident=resident)
    paged = paged_tile_cycles(tile, d) if extra.get("page_size") else 0
    full, masked = full._replace(cycles=full.cycles + paged), masked._replace(cycles=masked.cycles + paged)
    # a CTA is one work item, not a persistent loop: it loads its Q, waits for its first K/V and writes its O
    # outside the tile loop, as FA2's CTAs do (tile_cost.prologue_parts); its SM's other CTAs compute meanwhile
    pro = prologue_cycles(cfg, hw, wl, min(tile.cta_tile_q, int(wl.seq_len) * group), full, resident)
    period = np.array([(n - m) * full.cycles + m * masked.cycles + pro for n, m in work])
    sm_time = grid_makespan(period, int(wl.kv_heads), hw.sms * resident) * resident / clock
    row_bytes = (d + dv) * b  # one K row and one V row
    n, keys = int(wl.seq_len), int(wl.kv_len)
    left = extra.get("window_left")
    # the keys some query tile loads: a batch kernel skips those before the first query's window
    read_keys = min(keys, n + left) if left is not None and extra.get("window_skips") else keys
    kv = wl.batch * wl.kv_heads * read_keys * row_bytes
    q_bytes, o_bytes = (1.0 * wl.batch * wl.heads * wl.seq_len * width * b for width in (d, dv))
    q_o = q_bytes + o_bytes
    partial = wl.batch * wl.heads * wl.seq_len * n_chunks * (dv * b + PARTIAL_LSE_BYTES) if split else 0
    reads = kv + q_bytes
    writeback = cold_l2_writeback_bytes(hw, wl, reads)
    bw = hw.stream_bw(cp_async=True)  # prefill.cuh produce_kv: cp_async::pred_load
    in_flight = min(tile.cta_tile_kv, chunk) * row_bytes  # K(i+1) and V(i+1) while the CTA waits
    longest = max(n for n, _ in work)
    # the longest CTA's K/V, one tile pair in flight: a round trip an iteration (a chunk shorter than the tile: one)
    cta_bytes = longest * min(tile.cta_tile_kv, chunk) * row_bytes
    hbm, little = reads * (1.0 + writeback / reads) / bw, cta_bytes * hw.hbm_latency_s / in_flight
    stream, stream_bound = (hbm, "hbm") if hbm >= little else (little, "latency")
    tail = full.cycles / clock
    merge, merge_trips = merge_kernel(hw, wl, partial, n_chunks, split)
    tiles_run = sum(n for n, _ in work) * wl.kv_heads
    flops = 2 * tile.cta_tile_q * tile.cta_tile_kv * (d + dv) * tiles_run  # whole tiles: QK^T and PV
    scores = tile.cta_tile_q * tile.cta_tile_kv * tiles_run
    streamed = tiles_run * tile.cta_tile_kv * row_bytes  # every CTA's K/V tiles through L2 (the first from HBM)
    cost = Cost(tensor_flops=flops, hbm_bytes=reads + o_bytes + partial, l2_bytes=streamed + q_o + 2 * partial,
                onchip_bytes=tiles_run * smem_tile_bytes(cfg, *cfg.mma_dims(d, dv), b),  # each tile's, as its term
                exp_ops=scores, fma_ops=3 * scores, launches=2 if split else 1)
    times = _times(hw, wl, cost, startup + max(stream, sm_time) + tail, startup + tail, merge, writeback / bw)
    compute_bound = full.bound if sm_time > stream else stream_bound
    detail = dict(schedule=family, build=tile.build, launched_ctas=ctas, queries=int(wl.seq_len),
                  causal=causal, cta_tile_q=tile.cta_tile_q, cta_tile_kv=tile.cta_tile_kv, warps_q=tile.warps_q,
                  warps_kv=tile.warps_kv, smem_bytes=tile.smem_bytes, regs=tile.regs, ctas_per_sm=k, ctas=ctas,
                  splits=n_chunks, chunk_keys=chunk, iterations=longest,
                  waves=math.ceil(ctas / (hw.sms * k)), in_flight_bytes_per_cta=in_flight, stream_s=stream,
                  stream_bound=stream_bound, tile_cycles=full.cycles, tile_bound=full.bound, prologue_cycles=pro,
                  paged_tile_cycles=paged, sm_s=sm_time,
                  startup_s=startup, tail_s=tail, merge_s=merge,
                  merge_rounds=merge_trips, cold_l2_writeback_bytes=writeback, clock_hz=clock,
                  **extra)
    q_tiles = len(work) // (n_chunks * wl.batch)
    density = min(1.0, sum(n for n, _ in work) * tile.cta_tile_kv / (wl.batch * q_tiles * wl.kv_len))  # key tiles
    attended = _attended(n, keys, causal, left)  # bottom-right: query q sees keys - n + q + 1 (causal)
    return grid_bound(_finish(hw, family, wl, cost, times, compute_bound, DenseCall(attended, density), detail),
                      ctas, hw.sms * k)


def _times(hw, wl, cost, compute: float, fill: float, merge: float, writeback: float) -> dict:
    """The roofs, one launch, the call's compute (first loads, stream or SM time, last tile), the merge kernel and
    the cold L2's write-backs, as gpu_model._finish combines them."""
    times = _roof_times(hw, wl, cost, "mma_sync", cp_async=True)
    times.update(launch=hw.launch_overhead_s, compute=compute, stream_fill=fill, combine=merge, writeback=writeback)
    return times


def flashinfer_tc_decode(hw, family: str, wl) -> Result:
    """Predict one tensor-core FlashInfer decode call (see the module docstring); ``flashinfer-single-prefill``
    is the same kernel on a prefill call (``flashinfer_single_prefill``)."""
    if family == PREFILL_FAMILY:
        return flashinfer_single_prefill(hw, wl)
    left = check(hw, family, wl)
    d, b, clock = int(wl.head_dim), int(wl.dtype_bytes), hw.sustained_clock_hz
    tile = prefill_tile(hw, d, int(wl.group), b, family)
    cfg = kernel_config(tile, int(wl.group))
    k = tile.ctas_per_sm(hw)
    q_tiles = math.ceil(wl.seq_len * wl.group / tile.cta_tile_q)
    # a sliding window: the batch kernel (BatchPrefillWithPagedKVCacheDevice) starts the request's chunks at
    # kv_start_idx = kv_len - qo_len - window_left ("skip out-of-window kv tile"), so it reads the window's
    # window_left + 1 keys, in chunks the plan sized for its effective pages (plan); the single kernel
    # (SinglePrefillWithKVCacheDevice) starts at key 0 and masks the tiles before the window (window_iteration)
    attended = window_keys(int(wl.kv_len), left)
    keys = attended if family == BATCH_FAMILY else int(wl.kv_len)  # the keys the kernel reads
    if family == BATCH_FAMILY:
        n_chunks, chunk, split, launched = plan(hw, wl, tile, graph=wl.scope == "layer", left=left)
        chunk = min(chunk, keys)
        busy = min(n_chunks, math.ceil(keys / chunk))  # a window's last planned chunk may start past the last key
        ctas = wl.batch * q_tiles * busy * wl.kv_heads  # work items with work (a padded grid's rest exit at once)
        launched *= wl.kv_heads
    else:
        n_chunks, chunk = chunks(hw, wl, tile)
        split = n_chunks > 1
        busy = n_chunks
        ctas = launched = wl.kv_heads * q_tiles * n_chunks
    resident = resident_ctas(hw, k, ctas)
    cost_tile = tile_cycles(cfg, hw, wl, partial=False, resident=resident)
    paged = paged_tile_cycles(tile, d) if family == BATCH_FAMILY else 0
    cost_tile = cost_tile._replace(cycles=cost_tile.cycles + paged)
    iterations = math.ceil(chunk / tile.cta_tile_kv)
    row_bytes = 2 * d * b  # one K row and one V row
    kv = wl.batch * wl.kv_heads * keys * row_bytes
    q_o = 2 * wl.batch * wl.heads * d * b
    partial = wl.batch * wl.heads * n_chunks * (d * b + PARTIAL_LSE_BYTES) if split else 0
    page_table = wl.batch * math.ceil(keys / page_size(wl)) * 4 if family == BATCH_FAMILY else 0
    reads = kv + q_o / 2 + page_table
    writeback = cold_l2_writeback_bytes(hw, wl, reads)
    bw = hw.stream_bw(cp_async=True)  # prefill.cuh produce_kv: cp_async::pred_load
    in_flight = min(tile.cta_tile_kv, chunk) * row_bytes  # K(i+1) and V(i+1) while the CTA waits (a short chunk: all)
    cta_bytes = keys / busy * row_bytes
    stream, bound = _stream_seconds(ctas, hw.sms * k, cta_bytes, chunk * row_bytes, in_flight, hw.hbm_latency_s, bw,
                                    1.0 + writeback / reads)
    pro = prologue_cycles(cfg, hw, wl, min(tile.cta_tile_q, int(wl.seq_len) * int(wl.group)), cost_tile, resident)
    if left is not None and family == FAMILY:  # per chunk, its tiles before the window at their masked cost
        masked = tile_cycles(cfg, hw, wl, partial=True, resident=resident).cycles
        period = np.array([(its - w) * cost_tile.cycles + w * masked + pro
                           for its, w in _single_window_tiles(wl, tile, n_chunks, chunk, left)])
        sm_time = grid_makespan(period, int(wl.kv_heads), hw.sms * resident) * resident / clock
    else:
        sm_time = uniform_makespan(ctas, hw.sms * resident, iterations * cost_tile.cycles + pro) * resident / clock
    tail = cost_tile.cycles / clock  # the last tile's compute after its data lands
    # the first K/V round trip (as the CUDA-core kernels count it, flashinfer_decode), after the dependent loads before
    # it: 0.0.1 waits for Q before it issues them; the batch kernel reads its work item, the request's page range and
    # the page indices first
    dependent = PLAN_DEPENDENT_LOADS if family == BATCH_FAMILY else 1 if tile.build == "0.0.1" else 0
    startup = (dependent + 1) * dram_latency(hw, family)
    merge, merge_trips = merge_kernel(hw, wl, partial, n_chunks, split)
    flops = 2 * tile.cta_tile_q * tile.cta_tile_kv * 2 * d * iterations * ctas  # whole tiles: QK^T and PV
    scores = tile.cta_tile_q * tile.cta_tile_kv * iterations * ctas
    cost = Cost(tensor_flops=flops, hbm_bytes=reads + q_o / 2 + partial, l2_bytes=reads + q_o / 2 + 2 * partial,
                onchip_bytes=iterations * ctas * smem_tile_bytes(cfg, *cfg.mma_dims(d, int(wl.v_head_dim)), b),
                exp_ops=scores, fma_ops=3 * scores, launches=2 if split else 1)  # each tile's smem, as its term
    times = _times(hw, wl, cost, startup + max(stream, sm_time) + tail, startup + tail, merge, writeback / bw)
    compute_bound = cost_tile.bound if sm_time > stream else bound
    detail = dict(schedule=family, build=tile.build, launched_ctas=launched,
                  page_size=page_size(wl) if family == BATCH_FAMILY else None, cta_tile_q=tile.cta_tile_q, cta_tile_kv=tile.cta_tile_kv,
                  warps_q=tile.warps_q, warps_kv=tile.warps_kv, smem_bytes=tile.smem_bytes, regs=tile.regs,
                  ctas_per_sm=k, ctas=ctas, splits=n_chunks, chunk_keys=chunk, iterations=iterations,
                  waves=math.ceil(ctas / (hw.sms * k)), in_flight_bytes_per_cta=in_flight, stream_s=stream,
                  stream_bound=bound, tile_cycles=cost_tile.cycles, tile_bound=cost_tile.bound, prologue_cycles=pro,
                  paged_tile_cycles=paged, sm_s=sm_time,
                  startup_s=startup, tail_s=tail, merge_s=merge,
                  merge_rounds=merge_trips, cold_l2_writeback_bytes=writeback, clock_hz=clock, window_left=left,
                  window_keys=keys if left is not None and family == BATCH_FAMILY else None,
                  graph=family == BATCH_FAMILY and wl.scope == "layer")
    result = _finish(hw, family, wl, cost, times, compute_bound, DenseCall(float(attended), keys / wl.kv_len), detail)
    return grid_bound(result, ctas, hw.sms * k)


def _single_window_tiles(wl, tile: PrefillTile, n_chunks: int, chunk: int, left: int) -> list[tuple[int, int]]:
    """(key tiles, those masked) of each chunk of the single kernel's one-query call under a window: the chunk's
    tiles up to its window_iteration (``_window_iteration``, the first query tile; SinglePrefillWithKVCacheDevice)
    take the mask."""
    keys, out = int(wl.kv_len), []
    for c in range(n_chunks):
        its = math.ceil(max(0, min(chunk, keys - c * chunk)) / tile.cta_tile_kv)
        out.append((its, min(_window_iteration(wl, tile, 0, left, c * chunk), its)))
    return out
