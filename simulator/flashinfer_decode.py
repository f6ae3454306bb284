"""FlashInfer's CUDA-core decode kernels: launch shapes, split rules and benchmark as FlashInfer 0.0.1 has them
(flashinfer-ai/flashinfer @ 9f49803b, 2024-01-24: include/flashinfer/decode.cuh, cascade.cuh;
src/bench_single_decode.cu, src/bench_batch_decode.cu), the loop's instructions, registers and dependent loads as
0.6.16 compiles them (include/flashinfer/attention/decode.cuh @ 8da13a29; the batch kernel's launch shape and split
rule are unchanged since 0.0.1), or as 0.0.1 does where a published file names that build (``flashinfer_build``:
an FMUL more per K element, its registers at GQA 4 and 8, two dependent loads). docs/kernels.md section D has the
source lines.

Two families: ``flashinfer-single-decode`` (``SingleDecodeWithKVCache``: one request, contiguous K/V) and
``flashinfer-decode`` (``BatchDecodeWithPagedKVCacheWrapper``: a batch on a paged KV cache, the call a serving
engine makes). Both run one CTA of (bdx, bdy, bdz) threads per (KV chunk, KV head): bdx threads hold one K/V row
(vec_size elements each), bdy = the GQA group (each K/V row loaded once serves the group's query heads), bdz
slices of rows; K and V tiles stream through 2 shared-memory stages by cp.async, so 2 stages of K and V are in
flight per CTA while it waits. The dot products, the online softmax and the V update run on the CUDA cores
(FMAs, shuffles over bdx lanes, one exp2 per row per lane): no tensor cores. When the grid would not fill the
GPU the KV range is split into chunks (each kernel's own heuristic) and a second kernel merges the chunks'
partial outputs by their log-sum-exp.

Time: the dependent loads before K/V can stream (the paged kernel's request index, indptr and page indices), then
the stream, wave by wave, at the lower of HBM bandwidth and what the waves' CTAs keep in flight over the loaded
latency (Little's law), or the CUDA cores' instruction time where that is longer (a large GQA group: the loop's
instructions at the share of issue slots it fills, ``cuda_core_issue_efficiency``, fitted), then the last
tile's compute; one launch, plus the merge kernel when split. The loop runs at the SMs' clock for work without
tensor instructions (``GPUSpec.cuda_core_clock``: the FP32 peak's clock on the Hopper SXM parts). FlashInfer times its kernels with nvbench's
'cold' measurement, which fills L2 with a memset just before the timed launch, so the kernel's loads also
evict (write back) up to an L2 of dirty lines: counted under ``--scope kernel``, not in a serving layer.
"""

import math
from dataclasses import dataclass

from einsum_cascades.errors import UserError
from simulator.cost import Cost
from simulator.cta_work import DenseCall
from simulator.flashinfer_regs import DECODE_REGS, DECODE_REGS_WINDOW, regs_arch
from simulator.gpu_kernels import alternatives, ctas_by_smem, cta_limit_error, out_bytes
from simulator.gpu_model import (_blend, _finish, _roof_times, cold_l2_writeback_bytes, dram_latency, grid_bound,
                                 overlap_exponent)
from simulator.estimate_kernels import QUEST_PAGE
from simulator.result import Result
from simulator.tile_cost import ISSUE_LANES

SINGLE, BATCH = "flashinfer-single-decode", "flashinfer-decode"
KERNEL_KIND = {BATCH: "batch", SINGLE: "single"}  # the register tables' key (flashinfer_regs)
# the same wrappers with use_tensor_cores=True (the prefill kernel: any group up to flashinfer_tc.MAX_GROUP), which
# vLLM's FlashInfer backend asks for above 4 query heads per KV head (vllm/v1/attention/backends/flashinfer.py
# @ 5314c90d, _get_decode_wrapper: ``use_tensor_cores = ... or (num_qo_heads // num_kv_heads > 4)``)
TC_FOR = {BATCH: "flashinfer-decode-tc", SINGLE: "flashinfer-single-decode-tc"}
FAMILIES = (BATCH, SINGLE)
# The GQA group sizes the CUDA-core decode kernels compile: FlashInfer 0.6.16 include/flashinfer/utils.cuh
# DISPATCH_GQA_GROUP_SIZE (1, 2, 3, 4, 8; 0.0.1's SWITCH_GQA_GROUP_SIZE had 1, 4, 8)
GROUP_SIZES = (1, 2, 3, 4, 8)
# The head dims of every FlashInfer kernel attnsim models (decode.cuh and prefill.cuh; utils.cuh DISPATCH_HEAD_DIM,
# 0.0.1's SWITCH_HEAD_DIM): V as wide as K; 0.6.16's 512 runs a VO-split layout not modelled here
HEAD_DIMS = (64, 128, 256)
NUM_STAGES = 2  # num_stages_smem = 2U (SingleDecodeWithKVCache, BatchDecodeWithPagedKVCacheDispatched)
IN_FLIGHT_GROUPS = 2 * NUM_STAGES  # cp.async groups (K or V of one stage) pending while a CTA waits: wait_group<3>
CP_ASYNC_BYTES = 16  # vec_size = max(16 / sizeof(DTypeIn), HEAD_DIM / 32): one 16-byte cp.async per lane
SINGLE_MIN_CHUNK = 256  # SingleDecodeWithKVCache: no split for seq_len <= 256; kv_chunk_size >= 256
BATCH_MIN_CHUNK_TOKENS = 128  # PartitionPagedKVCacheBinarySearchMinNumPagePerBatch(..., 128 / page_size)
# The page size of the paged KV cache. Assumed: FlashInfer's blog (Fig. 6) does not state it; 16 is the page size
# bench_batch_decode.cu's tensor-core variant fixes and the blog's Fig. 12 finds the page size changes little.
PAGE_SIZE = 16
PARTIAL_LSE_BYTES = 4  # tmp: per chunk and query head, O in DTypeOut and the log-sum-exp in fp32
# CUDA C++ Programming Guide, 'Arithmetic Instructions' throughput table: warp shuffle, 32 results per clock per
# SM for compute capability 5.0 to 9.0.
SHUFFLES_PER_CLK_SM = 32
# The issue width, simulator.tile_cost ISSUE_LANES: 4 warp schedulers per SM, each issuing one warp instruction a
# clock (CUDA C++ Programming Guide, compute capabilities 8.x, 9.0, 10.0): 128 lane-instructions a clock, whatever the
# width of the pipe an instruction runs on
# CUDA-core instructions of FlashInfer 0.6.16's decode loop (include/flashinfer/attention/decode.cuh @ 8da13a29,
# the FlashInfer people run today and the one whose registers DECODE_REGS holds), per element a lane handles, per
# (K/V row, query head): compute_qk converts the K element to fp32 and computes s += q * k (FFMA); update_local_state
# converts the V element and does o += s * v (FFMA). A 16-bit pair converts in one instruction per element (fp16:
# HADD2.F32); bf16 takes 1.5 on sm_90a and sm_100a (__bfloat1622float2: a shift for the low half, a byte permute
# and a shift for the high half), so bf16 adds half an instruction per K and per V element there, and none on
# sm_80, where nvcc builds each conversion as one PRMT (BF16_CONVERT_EXTRA). (0.0.1 @ 9f49803b, the blog's build,
# scaled every product by sm_scale: an FMUL more per K element.)
OPS_PER_ELEMENT = 1 + 1 + 1 + 1
FMAS_PER_ELEMENT = 2  # of which on the FP32 pipe: the two FFMAs (HADD2.F32 is a 16-bit instruction, bf16's a shift and PRMT)
# Instructions per lane and (K/V row, query head) at fp16, d = 128, GQA groups 4 and 8, in the SASS of each build's
# decode.cuh for sm_90a (nvcc 13.0, cuobjdump): 0.6.16 @ 8da13a29 and 0.0.1 @ 9f49803b; taken on every architecture,
# the sm_80 and sm_100a builds' fp16 loops being within 1% of sm_90a's (docs/kernels.md D7)
SASS_LANE_ROW = {"0.6.16": (61.83, 55.85), "0.0.1": (68.58, 62.54)}
# bf16's extra conversion instructions per element, by the architecture the JIT builds for: the batch kernel's loop
# at d = 128, group 8 (nvcc 13.0, the JIT's flags, nvdisasm; 2026-12-06) is 1,049 instructions in bf16 against 919 in
# fp16 on sm_90a (193 SHF, 128 PRMT, 80 IMAD where fp16 has 256 HADD2) and 1,040 against 911 on sm_100a, 914 against
# 915 on sm_80 (256 PRMT)
BF16_CONVERT_EXTRA = {80: 0.0, 90: 0.5, 100: 0.5}
# Per row and lane, besides: one FADD per shuffle step, the scale (one FMUL by sm_scale_log2 after the reduction),
# the bound check's compare and select, the running max, s - m and d += s in compute_qk, and the two LDS.128 that
# read the row's K and V vectors from shared memory; each lane computes the row's exp2 (MUFU) itself.
OPS_PER_ROW = 6
SMEM_LOADS_PER_ROW = 2
# Per lane and pipeline iteration, whatever the rows it covers (tile_size_per_bdx x bdy): O's rescale (vec FMULs),
# exp2 of the max's change and d's rescale, 4 __syncthreads, the K and V cp.async with their commits and waits,
# the page offsets' refresh (uint_fastdiv) and the address and loop arithmetic. 47.8 instructions: the difference
# of the per-row counts at GQA groups 4 and 8 (4 and 8 rows per lane and iteration) in the SASS of 0.6.16's
# decode.cuh built for sm_90a (SASS_LANE_ROW: (61.83 - 55.85) x 8 = 47.84).
ITERATION_OPS = 47.8
# FlashInfer 0.0.1 (decode.cuh @ 9f49803b compute_qk: ``s[j] += q_vec[i] * k_vec[i] * sm_scale``, which nvcc keeps
# as written, (q * k) * sm_scale then the add): an FMUL more per K element, on the FP32 pipe. From its SASS: an
# iteration of (68.58 - 62.54) x 8 = 48.32, and per element what the group-8 count holds beyond 0.6.16's and beyond
# the longer iteration's eighth, over vec_size 8: 0.83 (the FMULs, less the few nvcc folds; group 4 gives the same).
_SASS_001, _SASS_0616 = SASS_LANE_ROW["0.0.1"], SASS_LANE_ROW["0.6.16"]
ITERATION_OPS_001 = (_SASS_001[0] - _SASS_001[1]) * 8
FMUL_001 = ((_SASS_001[1] - _SASS_0616[1]) - (ITERATION_OPS_001 - ITERATION_OPS) / 8) / 8
OPS_PER_ELEMENT_001 = OPS_PER_ELEMENT + FMUL_001
FMAS_PER_ELEMENT_001 = FMAS_PER_ELEMENT + FMUL_001
# Registers per thread of each decode kernel: simulator.flashinfer_regs (DECODE_REGS, DECODE_REGS_WINDOW: ptxas -v
# of FlashInfer 0.6.16's BatchDecodeWithPagedKVCacheDispatched and SingleDecodeWithKVCacheDispatched, instantiated
# as its JIT templates csrc/*_decode_kernel_inst.jinja do, for each architecture the JIT builds for). The occupancy
# query the split heuristics ask (cudaOccupancyMaxActiveBlocksPerMultiprocessor) counts registers as allocated, per
# warp in 256-register units (8 per thread): on sm_90a batch 8-bit kernels hold 72 (7 CTAs of 128 threads), the
# 512-thread single kernel at group 8 two CTAs; on sm_100a the single kernel at group 1 holds 145 where sm_90a's
# holds 90 (d = 128). Where the blog's 0.0.1 (decode.cuh @ 9f49803b, ptxas -v for sm_90a, nvcc 13.0) differs at
# fp16: the batch kernel at d = 128 holds 63 registers at GQA group 4 and 70 at group 8 (docs/kernels.md D1). That
# build's registers are its sm_90a compile's (over the sm_90a 0.6.16 table) on every GPU, its A100 PCIe panels' too:
# at their shapes (groups 1 and 8) an sm_80 compile allocates the same or is held by shared memory (docs D7).
DECODE_REGS_001 = {(BATCH, 128, 4): 63, (BATCH, 128, 8): 70}
DECODE_001_SM = 90  # the register table 0.0.1 takes on every GPU: its sm_90a compile (above)
REG_ALLOC_PER_THREAD = 8  # a warp's registers come in units of 256
# How much faster than measured the model predicts the single-request kernel on a GQA group (negative: slower): the
# lowest and highest of the FlashInfer post's Fig. 8 CUDA-core calls (32/4 heads, flashinfer-decode-{h100,a100-pcie}.json), which
# --explain quotes (tests/test_flashinfer_decode.py recomputes them; docs/kernels.md D1)
SINGLE_GQA_FAST = (-0.01, 0.22)
# A sliding window (``window_left``, flashinfer-ai/flashinfer PR #406, 28cffd36, 2024-07-29; not in 0.0.1): the
# CUDA-core decode kernels compile DefaultAttention with use_sliding_window, whose LogitsMask keeps a key when
# kv_idx + qo_len + window_left >= kv_len + qo_idx, but they still load and score every key of the request's range
# (decode.cuh @ 8da13a29: BatchDecodeWithPagedKVCacheDevice and SingleDecodeWithKVCacheKernel start each chunk at
# kv_chunk_idx x chunk size, the keys before the window masked to -inf in compute_qk; the decode plan,
# DecodePlan in scheduler.cuh, splits the whole request), so a windowed call moves the bytes of a full one and
# issues a little more. The loop body's SASS instructions (a lane; ``#pragma unroll 2``: two iterations of tile x
# GQA group rows), at GQA groups 8 and 4 (d = 128, fp16, 2 smem stages), without and with use_sliding_window,
# instantiated as csrc/{batch,single}_decode_kernel_inst.jinja does, with FlashInfer's pinned CCCL 876867684f, nvcc 13.0
# -arch=sm_90a -O3 -use_fast_math -DNDEBUG, nvdisasm 13.5 (the loop: the back edge whose span holds the FFMAs; counted 2026-12-06). The same
# difference of groups that gives ITERATION_OPS gives per (row, query head) (c8 - c4) / 8 and per iteration
# (2 c4 - c8) / 2: the window adds an IADD3 and an ISETP a row (1.9 and 2.0 instructions: the compare against
# the window's first key and its AND with the chunk's bound check) and 6.0 and 1.0 an iteration.
WINDOW_LOOP_SASS = {BATCH: ((919, 520), (961, 547)), SINGLE: ((877, 474), (911, 492))}


def window_ops(family: str) -> tuple[float, float]:
    """(instructions a lane per (K/V row, query head), per loop iteration) that use_sliding_window adds to the
    CUDA-core decode loop (WINDOW_LOOP_SASS)."""
    (c8, c4), (w8, w4) = WINDOW_LOOP_SASS[family]
    return ((w8 - w4) - (c8 - c4)) / 8, ((2 * w4 - w8) - (2 * c4 - c8)) / 2


def window_left(family: str, wl) -> int | None:
    """FlashInfer's ``window_left`` for a decode call's ``--pattern``: keys from kv_len - 1 - window_left on (FA's
    left side: ``window(w)`` is w - 1, ``window(l, r)`` l; a decode query has no keys to its right); None without
    a window (dense or causal: one query sees every cached key). Exit 2 for any other mask, a block sparsity, or
    a window on 0.0.1, whose decode took no mask."""
    from simulator.gpu_kernels import pattern_shape, window_sides

    if wl.sparsity:
        raise UserError(f"{family} attends every cached key or a sliding window of them: got --sparsity "
                        f"{wl.sparsity:g}; drop it")
    if not wl.pattern or wl.pattern in ("full", "causal"):
        return None
    shape = pattern_shape(wl.pattern)
    windows = [leaf for leaf in shape.leaves if leaf.name == "window"]
    other = {leaf.name for leaf in shape.leaves} - {"window", "causal", "full"}
    if shape.union or other or len(windows) != 1:
        raise UserError(f"{family} takes every cached key, a sliding window over them (window_left: window(w) or "
                        f"window(l, r)) or chunked(w) alone or with causal (the query's chunk): got --pattern "
                        f"{wl.pattern}; use flash3 for other masks")
    from simulator.flashinfer_tc import current_build  # flashinfer_tc imports this module

    if current_build() == "0.0.1":
        raise UserError(f"{family}: FlashInfer 0.0.1's decode takes no mask (window_left came with PR #406, "
                        f"2024-07-29): got --pattern {wl.pattern}; drop it")
    return int(window_sides(windows[0])[0])


def window_keys(kv_len: int, left: int | None) -> int:
    """The keys a decode query attends: the last window_left + 1 of the cache, or all of them without a window."""
    return kv_len if left is None else min(kv_len, left + 1)


@dataclass(frozen=True, slots=True)
class DecodeConfig:
    """The thread block a FlashInfer decode kernel launches for a head dim, GQA group and element size."""

    family: str
    vec: int  # elements of a K/V row per lane (one 16-byte cp.async at 16 bits)
    bdx: int  # lanes per K/V row
    bdy: int  # query heads per KV head (the GQA group)
    bdz: int  # slices of rows
    tile: int  # tile_size_per_bdx: rows per lane and slice per stage
    smem_bytes: int
    bf16: bool = False  # bf16 K/V (converted to fp32 in more instructions than fp16)
    fp8: bool = False  # 8-bit K/V
    build: str = "0.6.16"  # the FlashInfer build whose loop runs (simulator.flashinfer_tc FLASHINFER_BUILDS)
    window: bool = False  # use_sliding_window: the loop masks keys before window_left (WINDOW_LOOP_SASS)
    sm: int = 90  # the architecture the JIT builds it for (flashinfer_regs.ARCHES): whose registers it holds

    @property
    def loop_ops(self) -> tuple[float, float, float]:
        """(instructions per element, of them on the FP32 pipe, fixed instructions per iteration) of the build's
        decode loop: 0.0.1 scales each product by sm_scale (an FMUL per K element), 0.6.16 after the reduction."""
        if self.build == "0.0.1":
            return OPS_PER_ELEMENT_001, FMAS_PER_ELEMENT_001, ITERATION_OPS_001
        return OPS_PER_ELEMENT, FMAS_PER_ELEMENT, ITERATION_OPS

    @property
    def threads(self) -> int:
        return self.bdx * self.bdy * self.bdz

    @property
    def rows_per_stage(self) -> int:
        """K (or V) rows one pipeline stage holds: tile x bdy x bdz."""
        return self.tile * self.bdy * self.bdz

    @property
    def regs(self) -> int:
        """Registers per thread as allocated (DECODE_REGS, or DECODE_REGS_WINDOW for the sliding-window variant, at the
        build's architecture, rounded up to REG_ALLOC_PER_THREAD)."""
        table = (DECODE_REGS_WINDOW if self.window else DECODE_REGS)[self.sm]
        by_group = table[(KERNEL_KIND[self.family], self.vec * self.bdx)][GROUP_SIZES.index(self.bdy)]
        used = by_group[2 if self.fp8 else 1 if self.bf16 else 0]
        if self.build == "0.0.1" and not (self.fp8 or self.bf16):
            used = DECODE_REGS_001.get((self.family, self.vec * self.bdx, self.bdy), used)
        return -(-used // REG_ALLOC_PER_THREAD) * REG_ALLOC_PER_THREAD

    def ctas_per_sm(self, hw) -> int:
        """Resident CTAs per SM (what cudaOccupancyMaxActiveBlocksPerMultiprocessor returns), from shared memory,
        registers as allocated (the kernels set no launch bound), threads and the CTA cap."""
        by_regs = hw.regs_per_sm // (self.threads * self.regs)
        return min(ctas_by_smem(hw, self.smem_bytes), by_regs, hw.max_threads_per_sm // self.threads,
                   hw.max_ctas_per_sm)


def page_size(wl) -> int:
    """Tokens per page of the batch kernel's paged cache: --page-size, else PAGE_SIZE."""
    return wl.page_size or PAGE_SIZE


def decode_config(family: str, d: int, group: int, b: int, bf16: bool = False, build: str | None = None,
                  window: bool = False, *, sm: int) -> DecodeConfig:
    """SingleDecodeWithKVCache / BatchDecodeWithPagedKVCacheDispatched's template parameters (``build``: the
    FlashInfer build, default the one predictions run as, ``flashinfer_tc.current_build``; ``window``: the
    use_sliding_window variant; ``sm``: the architecture it is built for, flashinfer_regs.regs_arch)."""
    vec = max(CP_ASYNC_BYTES // b, d // 32)
    bdx, bdy = d // vec, group
    if family == SINGLE:  # get_heuristic_num_threads: 512 (256 at 8 bits) for group 8, else 128
        threads = max((256 if b == 1 else 512) if group == 8 else 128, bdx * bdy)
        tile = (2 if b == 1 else 8) if group == 1 else 1
    else:
        threads = max(128, bdx * bdy)
        tile = (2 if b == 1 else 4) if group == 1 else 1
    bdz = threads // (bdx * bdy)
    stages = 2 * NUM_STAGES * tile * bdy * bdz * d * b  # K and V, 2 stages each
    if family == SINGLE:
        smem = stages + 2 * bdy * bdz * 4  # smem_md: m and d per (ty, tz)
    else:
        smem = stages + max(tile * threads * 8, 2 * bdy * bdz * 4)  # K page pointers, or m/d
    if build is None:
        from simulator.flashinfer_tc import current_build  # flashinfer_tc imports this module

        build = current_build()
    if build == "0.0.1":  # the blog's build: its registers are its sm_90a compile's on every GPU (DECODE_REGS_001)
        sm = DECODE_001_SM
    return DecodeConfig(family, vec, bdx, bdy, bdz, tile, smem, bf16, b == 1, build, window, sm)


def check(family: str, hw, wl) -> int | None:
    """What FlashInfer's decode kernels refuse: exit 2 with the allowed values. Returns the call's window_left
    (``window_left``), None without a window."""
    if wl.seq_len != 1:
        raise UserError(f"{family} is a decode kernel (one query per request): got --seq-len {wl.seq_len}; use 1, "
                        f"or {alternatives(hw, ('flash2', 'flash3', 'flash4'))} for more queries")
    if wl.group not in GROUP_SIZES:
        raise UserError(f"{family} runs GQA groups of {', '.join(map(str, GROUP_SIZES))} query heads per KV head "
                        f"(FlashInfer 0.6.16 utils.cuh, DISPATCH_GQA_GROUP_SIZE): got --heads {wl.heads} "
                        f"--kv-heads {wl.kv_heads} (group {wl.group}); use {TC_FOR[family]} (use_tensor_cores=True: groups "
                        "up to 64; vLLM's FlashInfer backend picks it above 4 query heads per KV head)")
    if why := head_dims_error(family, int(wl.head_dim), int(wl.v_head_dim)):
        raise UserError(why)
    left = window_left(family, wl)  # dense, causal (one query sees every cached key) or a sliding window
    if family == SINGLE and wl.batch != 1:
        raise UserError(f"{SINGLE} serves one request (SingleDecodeWithKVCache): got --batch {wl.batch}; use "
                        f"{BATCH} for a batch")
    dram_latency(hw, family)
    return left


def head_dims_error(family: str, d: int, dv: int, pairs: dict | None = None) -> str | None:
    """Why a FlashInfer kernel does not run head dims ``d``/``dv`` as attnsim models it (None if it does): HEAD_DIMS
    with V as wide, and ``pairs`` ((head dim, value head dim) -> what runs it: the prefill families' own pairs)."""
    pairs = pairs or {}
    if d == dv and d in HEAD_DIMS or (d, dv) in pairs:
        return None
    also = "".join(f" and {pair} ({what})" for pair, what in pairs.items())
    return (f"{family} runs head dims {', '.join(map(str, HEAD_DIMS))} with V of the same width{also} (FlashInfer "
            f"utils.cuh DISPATCH_HEAD_DIM; 0.6.16's 512 is not modelled): got --head-dim {d} --v-head-dim {dv}")


def chunks(family: str, hw, wl, cfg: DecodeConfig) -> tuple[int, int]:
    """(KV chunks per request, keys per chunk) by the kernel's own heuristic; 1 chunk: no split, no merge kernel
    (except the single-request kernel, which merges whenever kv_len > 256 and it has a tmp buffer: without one,
    ``--num-splits 1``, decode.cuh SingleDecodeWithKVCacheDispatched runs ``if (seq_len <= 256 || tmp == nullptr)``
    one CTA a KV head over all its keys)."""
    max_grid = cfg.ctas_per_sm(hw) * hw.sms
    n = wl.kv_len
    if family == SINGLE and wl.num_splits == 1:  # SingleDecodeWithKVCache(..., tmp = nullptr): no partition
        return 1, n
    if family == SINGLE:  # SingleDecodeWithKVCache
        if n <= SINGLE_MIN_CHUNK:
            return 1, n
        size = max(math.ceil(n / max(max_grid // wl.kv_heads, 1)), SINGLE_MIN_CHUNK)
        return math.ceil(n / size), size
    if wl.batch * wl.kv_heads >= max_grid:  # BatchDecodeWithPagedKVCacheWorkEstimation: no split
        return 1, n
    page = page_size(wl)
    pages = math.ceil(n / page)
    per_chunk = _min_pages_per_chunk(pages, wl.batch, wl.kv_heads, max_grid, max(BATCH_MIN_CHUNK_TOKENS // page, 1))
    count = math.ceil(max(pages, 1) / per_chunk)
    return count, min(per_chunk * page, n)


def _min_pages_per_chunk(pages: int, batch: int, kv_heads: int, max_grid: int, low: int) -> int:
    """PartitionPagedKVCacheBinarySearchMinNumPagePerBatch for ``batch`` requests of ``pages`` pages each: the
    fewest pages per chunk (at least ``low``) whose chunks x KV heads fit ``max_grid``."""
    high = max(pages, low)
    while low < high:
        mid = (low + high) // 2
        if batch * math.ceil(pages / mid) * kv_heads > max_grid:
            low = mid + 1
        else:
            high = mid
    return low


def row_cycles(cfg: DecodeConfig, hw) -> float:
    """SM cycles of CUDA-core work per (K/V row, query head): all lanes' instructions (conversions and FMAs,
    shuffles, exp2, shared-memory loads and each iteration's fixed work over the rows a lane covers) at the SM's
    issue width, its 4 warp schedulers' one warp instruction a clock (ISSUE_LANES), times the share of issue
    slots the loop fills (``GPUSpec.issue_efficiency``: dependent shuffles, __syncthreads and cp.async waits leave
    some empty); or the FP32 pipe's rate for the instructions it runs (the FFMAs, the reduction's FADDs and the row's
    bookkeeping), where it is narrower than the issue width (64 lanes a clock on an A100, 128 on Hopper and
    Blackwell); or the shuffle or MUFU rate, whichever is slowest."""
    shuffles = cfg.bdx * math.log2(cfg.bdx)  # compute_qk: the xor-shuffle reduction over bdx lanes
    exps = cfg.bdx  # ptx_exp2 per row in every lane
    fp32 = cfg.bdx * lane_fp32_ops(cfg)
    other = cfg.bdx * (SMEM_LOADS_PER_ROW + cfg.loop_ops[2] / (cfg.tile * cfg.bdy))
    if cfg.window:  # the window's integer compare a row and its per-iteration set-up: issue slots, not the FP32 pipe
        per_row, per_iteration = window_ops(cfg.family)
        other += cfg.bdx * (per_row + per_iteration / (cfg.tile * cfg.bdy))
    fp32_pipe = cfg.bdx * lane_fp32_pipe_ops(cfg)
    issue = ISSUE_LANES * hw.issue_efficiency
    return max((fp32 + shuffles + exps + other) / issue, fp32_pipe / hw.fp32_fma_per_clk_sm,
               shuffles / SHUFFLES_PER_CLK_SM, exps / hw.sfu_ops_per_clk_sm)


def lane_fp32_ops(cfg: DecodeConfig) -> float:
    """Arithmetic instructions of one lane per (K/V row, query head), whatever pipe runs them: its elements'
    conversions and FMAs, an FADD per shuffle step of the row's reduction, and the row's softmax bookkeeping."""
    convert = 2 * BF16_CONVERT_EXTRA[cfg.sm] if cfg.bf16 else 0.0  # per element of K and of V
    return cfg.vec * (cfg.loop_ops[0] + convert) + math.log2(cfg.bdx) + OPS_PER_ROW


def lane_fp32_pipe_ops(cfg: DecodeConfig) -> float:
    """Those of ``lane_fp32_ops`` the FP32 pipe runs (``GPUSpec.fp32_fma_per_clk_sm`` lanes a clock): the two
    FFMAs per element, the reduction's FADDs and the row's bookkeeping; not the conversions (fp16's HADD2.F32 is a
    16-bit instruction, bf16's shifts and PRMT integer ones). The call's ``fma`` roof counts these, so the time,
    which the issue width or this pipe bounds (``row_cycles``), never undercuts it."""
    return cfg.vec * cfg.loop_ops[1] + math.log2(cfg.bdx) + OPS_PER_ROW


# Quest's page-sparse decode (mit-han-lab/Quest @ ade6f7c, its fork of FlashInfer's batch decode): the estimate picks
# ``budget / 16`` pages per head (quest/ops/csrc/topk.cu), and the attention runs BatchDecodeWithPagedKVCache over
# that compacted page list (quest/ops/csrc/approx_attn.cu: paged_kv_indices of (num_qo_heads, page_budget), one
# request: ``constexpr size_t batch_size = 1``), FlashInfer 0.0.1's loop (kernels/include/decode/decode_attn.cuh
# compute_qk scales each product by sm_scale) and its KV partition (decode_handler.cuh BeginForward ->
# BatchDecodeWithPagedKVCacheWorkEstimation); one page list per query head, so BeginForward asserts
# ``num_qo_heads == num_kv_heads`` ("Need to modify page layout for general cases"). Pages of QUEST_PAGE tokens.


def quest_budget(family: str, wl) -> int | None:
    """The token budget of a ``budget(n)`` decode call that ``family`` runs as Quest's fork does, None for any other
    call; exit 2 where Quest's kernels do not run it (GQA, several requests, another FlashInfer kernel)."""
    if not wl.pattern or "budget" not in wl.pattern:
        return None
    from einsum_cascades.sparsity import parse_pattern

    tree = parse_pattern(wl.pattern)
    leaves = list(tree.leaves())
    if not any(leaf.name == "budget" for leaf in leaves):
        return None
    if family != BATCH or tree.name != "budget" and not (
            tree.name == "&" and {leaf.name for leaf in leaves} <= {"budget", "causal", "full"}):
        raise UserError(f"{family} takes a page budget only as Quest runs it: flashinfer-decode with --pattern "
                        f"budget(n) alone (a compacted page list per head): got --algo {family} --pattern "
                        f"{wl.pattern}; use flash-decoding or flash3 for a block-sparse budget")
    if wl.heads != wl.kv_heads or wl.batch != 1:
        raise UserError(f"{family} runs budget(n) as Quest's fork of FlashInfer does, one request of MHA heads "
                        "(mit-han-lab/Quest decode_handler.cuh: assert(num_qo_heads == num_kv_heads); approx_attn.cu: "
                        f"batch_size = 1): got --batch {wl.batch} --heads {wl.heads} --kv-heads {wl.kv_heads}; use "
                        "--batch 1 and --kv-heads equal to --heads (--model llama2-7b), or --algo flash-decoding for "
                        "a block-sparse budget on FA2's split-KV kernel")
    if wl.sparsity:
        raise UserError(f"{family}: a budget(n) call's keys are its budget's pages, which no --sparsity resizes: "
                        f"got --sparsity {wl.sparsity:g} (a sparsity sweep or plot sets one); drop it, or sweep "
                        "the budget (--pattern 'budget(n)')")
    if wl.page_size is not None and wl.page_size != QUEST_PAGE:
        raise UserError(f"{family} runs budget(n) on Quest's {QUEST_PAGE}-token pages (quest/utils/controller.py "
                        f"page_size=16, the page its min/max bounds are kept for): got --page-size {wl.page_size}; "
                        f"use {QUEST_PAGE} or leave it out")
    leaf = next(leaf for leaf in leaves if leaf.name == "budget")
    return int(leaf.args[0])


def flashinfer_decode(hw, family: str, wl) -> Result:
    """Predict one FlashInfer decode call (see the module docstring); a ``budget(n)`` call as Quest runs it: the
    kernel over its compacted pages (``quest_budget``)."""
    budget = quest_budget(family, wl) if wl.seq_len == 1 else None
    if budget is not None:
        from dataclasses import replace

        from simulator.flashinfer_tc import flashinfer_build

        keys = min(-(-budget // QUEST_PAGE) * QUEST_PAGE, int(wl.kv_len))  # whole pages: topk picks pages
        with flashinfer_build("0.0.1"):
            inner = flashinfer_decode(hw, family, replace(wl, kv_len=keys, pattern=None, page_size=QUEST_PAGE))
        return replace(inner, workload=wl, block_density=keys / wl.kv_len,
                       detail={**inner.detail, "quest_budget": budget, "quest_keys": keys})
    left = check(family, hw, wl)
    # the 0.6.16 build's registers are its JIT's compile for this arch (flashinfer_regs), the 0.0.1 build's its sm_90a
    # compile's on every GPU (decode_config), so only the former refuses an arch whose compile is not tabulated, as
    # flashinfer_tc.prefill_tile does (Quest's fork, 0.0.1, runs on an sm_86 or sm_89 GPU as on an A100)
    from simulator.flashinfer_tc import FLASHINFER_BUILDS, current_build

    sm = regs_arch(hw, family) if current_build() == FLASHINFER_BUILDS[0] else DECODE_001_SM
    cfg = decode_config(family, wl.head_dim, wl.group, wl.dtype_bytes, wl.dtype == "bf16", window=left is not None,
                        sm=sm)
    k = cfg.ctas_per_sm(hw)
    who = f"{family} at head dim {wl.head_dim}"
    if k < 1 and (why := cta_limit_error(hw, who, cfg.threads * cfg.regs, cfg.threads)):
        raise UserError(why)
    if k < 1:
        raise UserError(f"{family} at head dim {wl.head_dim} needs {cfg.smem_bytes:,} B of shared memory per CTA; "
                        f"{hw.name} has {hw.smem_per_sm_bytes:,} B per SM")
    n_chunks, chunk = chunks(family, hw, wl, cfg)
    split = n_chunks > 1 or (family == SINGLE and wl.kv_len > SINGLE_MIN_CHUNK and wl.num_splits != 1)
    clock, d, b = hw.cuda_core_clock, wl.head_dim, wl.dtype_bytes  # no tensor work: the SMs' non-tensor clock
    ctas = wl.batch * wl.kv_heads * n_chunks
    slots = hw.sms * k
    row_bytes = 2 * d * b  # one K row and one V row
    kv = wl.batch * wl.kv_heads * wl.kv_len * row_bytes
    q_bytes = wl.batch * wl.heads * d * b
    o_bytes = wl.batch * wl.heads * d * out_bytes(b)  # O in 16 bits over an 8-bit cache (the post's Fig. 11: half)
    partial = wl.batch * wl.heads * n_chunks * (d * b + PARTIAL_LSE_BYTES) if split else 0
    page_table = wl.batch * math.ceil(wl.kv_len / page_size(wl)) * 4 if family == BATCH else 0  # int32 page indices
    reads = kv + q_bytes + page_table
    writeback = cold_l2_writeback_bytes(hw, wl, reads)  # the dirty lines nvbench's cold L2 flush leaves
    bw = hw.stream_bw(cp_async=True)  # decode.cuh loads K/V rows by cp_async::pred_load
    in_flight = IN_FLIGHT_GROUPS * cfg.rows_per_stage * d * b  # bytes one CTA keeps requested while it waits
    cta_bytes = wl.kv_len / n_chunks * row_bytes  # a request's keys over its chunks (the last may be short)
    stream, bound = _stream_seconds(ctas, slots, cta_bytes, chunk * row_bytes, in_flight, hw.hbm_latency_s, bw,
                                    1.0 + writeback / reads)
    per_row = row_cycles(cfg, hw) * cfg.bdy
    # the loop's instructions are SM throughput: an SM issues its CTAs' rows at its rate however many it holds at
    # once, so it takes ceil(CTAs / SMs) CTAs' work; a last partial wave of r CTAs shares each SM among ceil(r / SMs)
    # of them, not k (counting it as a whole wave of k overcharged a 2.25-wave grid a third)
    cuda = math.ceil(ctas / hw.sms) * chunk * per_row / clock
    # the paged kernel reads request_indices, then indptr, then the page indices into smem, before it can issue its
    # first K/V load (0.6.16; 0.0.1 read no request_indices; the Q load overlaps them; the single-request kernel
    # issues its K/V right away); then the first K/V round trip
    dependent = (2 if cfg.build == "0.0.1" else 3) if family == BATCH else 0
    startup = (dependent + 1) * dram_latency(hw, family)
    tail = cfg.rows_per_stage * per_row / clock  # the last stage's compute after its data lands
    body = _loop_time(hw, stream, cuda)
    merge, merge_trips = merge_kernel(hw, wl, partial, n_chunks, split)
    lane_rows = wl.batch * wl.heads * wl.kv_len * cfg.bdx  # (K/V row, query head) pairs x the lanes of a row
    cost = Cost(hbm_bytes=reads + o_bytes + partial, l2_bytes=reads + o_bytes + 2 * partial,
                onchip_bytes=kv * (1.0 + cfg.bdy),  # cp.async writes each K/V row, the bdy query heads read it
                fma_ops=lane_rows * lane_fp32_pipe_ops(cfg),
                exp_ops=lane_rows, launches=2 if split else 1)
    times = _roof_times(hw, wl, cost, "mma_sync", cp_async=True)
    # the loop's every lane instruction, not only its FP32 ones, takes an issue slot of the CUDA-core pipe: its roof
    # (and the 'fma' bound's utilization) is that issue time over every SM, not the FP32 operations' alone (``cuda``
    # is the busiest SM's: its ceil(CTAs / SMs) CTAs; the GPU's pipe holds CTAs / SMs of them on average)
    times["fma"] = max(times["fma"], cuda * ctas / (hw.sms * math.ceil(ctas / hw.sms)))
    times["launch"] = hw.launch_overhead_s
    times["compute"] = startup + body + tail
    times["stream_fill"] = startup + tail
    times["combine"] = merge
    times["writeback"] = writeback / bw  # on the K/V it reads (the Little's-law stream above carries them too)
    compute_bound = "fma" if cuda > stream else bound
    detail = dict(schedule="flashinfer-decode", build=cfg.build, lane_ops=lane_fp32_ops(cfg), loop_s=body,
                  block=(cfg.bdx, cfg.bdy, cfg.bdz), vec_size=cfg.vec,
                  tile_size_per_bdx=cfg.tile, rows_per_stage=cfg.rows_per_stage, smem_bytes=cfg.smem_bytes,
                  ctas_per_sm=k, ctas=ctas, splits=n_chunks, chunk_keys=chunk, waves=math.ceil(ctas / slots),
                  in_flight_bytes_per_cta=in_flight, stream_s=stream, cuda_core_s=cuda, row_head_cycles=per_row / cfg.bdy,
                  startup_s=startup, tail_s=tail, merge_s=merge,
                  merge_rounds=merge_trips, cold_l2_writeback_bytes=writeback,
                  page_size=page_size(wl) if family == BATCH else None, clock_hz=clock, window_left=left,
                  window_ops=window_ops(family) if left is not None else None)
    attended = window_keys(int(wl.kv_len), left)  # the rest are loaded, scored and masked
    return grid_bound(_finish(hw, family, wl, cost, times, compute_bound, DenseCall(float(attended), 1.0), detail),
                      ctas, slots)


def _loop_time(hw, stream: float, cuda: float) -> float:
    """The loop's time from its stream and its CUDA-core time: the warps that compute also issue the next stages'
    cp.async and wait for them (``wait_group<2 x stages - 1>``), so, as in the mma.sync kernels
    (``gpu_model.blend_weight``), the two overlap least where they take equal time: (C^p + S^p)^(1/p) with the
    GPU's ``stream_overlap_loss`` (``gpu_model.overlapped``), the larger of the two where it is not given. Until
    2026-12-05 the larger of the two."""
    p = overlap_exponent(hw)
    top, low = max(stream, cuda), min(stream, cuda)
    return top if math.isinf(p) else _blend(top, low, p)


def _stream_seconds(ctas: int, slots: int, cta_bytes: float, longest: float, in_flight: float, latency: float,
                    bw: float, traffic: float) -> tuple[float, str]:
    """Seconds to stream every CTA's K/V, wave by wave: a wave of A resident CTAs, ``cta_bytes`` each on average,
    moves its bytes (times ``traffic``, the write-backs they cause) at HBM bandwidth, and no faster than its longest
    CTA's ``longest`` bytes at ``in_flight`` bytes per loaded ``latency`` (Little's law: the CTAs run side by side,
    so a short last chunk does not shorten the others). Returns the seconds and 'hbm' or 'latency', whichever
    bounded more of them."""
    full, last = divmod(ctas, slots)
    total, limited = 0.0, {"hbm": 0.0, "latency": 0.0}
    for active, waves in ((slots, full), (last, 1 if last else 0)):
        if not waves:
            continue
        by_bw = active * cta_bytes * traffic / bw
        by_latency = longest * latency / in_flight
        seconds = waves * max(by_bw, by_latency)
        total += seconds
        limited["hbm" if by_bw >= by_latency else "latency"] += seconds
    return total, max(limited, key=limited.get)


MERGE_THREADS = 128  # cascade.cuh MergeStates / VariableLengthMergeStates: num_threads = 128 a CTA (one query head)
MERGE_STAGES = 4  # num_smem_stages: cp.async groups of bdy chunks' partial O in flight
PARTIAL_O_BYTES = 2  # tmp's partial O is DTypeOut (fp16 / bf16, fp8 calls included): 16 / its size = 8 a vector


def merge_rounds(n_chunks: int, v_head_dim: int) -> int:
    """Dependent round trips of MergeStatesLargeNumIndexSetsKernel (0.0.1 and later) and
    VariableLengthMergeStatesKernel (cascade.cuh, the same loop): each CTA of ``MERGE_THREADS`` threads reads bdy =
    MERGE_THREADS / bdx chunks' partial rows an iteration (bdx = head dim / vec_size, vec_size = max(16 / 2 bytes,
    head dim / 32)), keeping ``MERGE_STAGES`` iterations' cp.async groups in flight; iteration i waits for group i,
    issued when iteration i - MERGE_STAGES ended, so the last of ceil(chunks / bdy) groups lands after
    ceil(iterations / MERGE_STAGES) round trips (d = 128: 32 chunks a round trip)."""
    vec = max(16 // PARTIAL_O_BYTES, v_head_dim // 32)
    bdy = max(MERGE_THREADS // max(v_head_dim // vec, 1), 1)
    return max(math.ceil(math.ceil(n_chunks / bdy) / MERGE_STAGES), 1)


def merge_kernel(hw, wl, partial_bytes: float, n_chunks: int, split: bool) -> tuple[float, int]:
    """MergeStates / VariableLengthMergeStates (cascade.cuh) after a KV split: (seconds, dependent round trips). A
    second launch that reads every chunk's partial O and log-sum-exp (``merge_rounds`` round trips: one up to 32
    chunks at d = 128) and writes O (one row per query and head); (0, 0) without a split."""
    if not split:
        return 0.0, 0
    moved = partial_bytes + wl.batch * wl.heads * wl.seq_len * wl.v_head_dim * out_bytes(wl.dtype_bytes)
    rounds = merge_rounds(int(n_chunks), int(wl.v_head_dim))
    return hw.launch_overhead_s + rounds * hw.dram_latency_s + moved / (hw.hbm_bw_bytes_s * hw.hbm_efficiency), rounds
