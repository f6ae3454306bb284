"""FlashMLA's dense decoding kernel (``flashmla``): multi-head latent attention's absorbed form, as DeepSeek-V3 and
its successors run decode on Hopper.

In the absorbed form every query head attends one latent KV head: K is the 512-column compressed latent plus the
64-column RoPE key (576), and V is the same latent (K's first 512 columns), so the cache holds one 576-wide row per
token and V costs no bytes of its own. deepseek-ai/FlashMLA (read at 9241ae3e, csrc/api/dense_decode.h,
csrc/sm90/decode/dense/{config.h,traits.h,splitkv_mla.cuh}, csrc/smxx/decode/{get_decoding_sched_meta,combine}):

- sm_90a only ("Dense decode MLA is only supported on SM90a"), bf16 or fp16, head_size_k 576 and head_size_v
  512 (the interface also lets head_size_k 512 through, but the sm90 kernel's launcher, splitkv_mla.cuh
  run_flash_splitkv_mla_kernel, asserts params.d == Config::HEAD_DIM_K, 576, and exits otherwise), pages of 64
  tokens ("Currently page_block_size must be 64"), any number of query heads per KV head; a call's s_q queries
  of a KV head and its query heads are packed into rows (q_seq_per_hk = s_q x h_q / h_k), 64 rows a CTA
  (BLOCK_SIZE_M), num_m_block = ceil(q_seq_per_hk / 64) CTAs per KV head;
- one CTA per SM (launch_bounds 256 threads, 1 block: two warpgroups; Q 64 x 576, two 64 x 576 K buffers and
  P in shared memory, ~225 KiB), grid (num_m_block, h_k, num_sm_parts) with num_sm_parts = max(SMs / h_k /
  num_m_block, 1), so a grid of more tiles and KV heads than SMs runs in waves;
- the scheduler metadata (get_mla_metadata_kernel) hands each SM part a run of (request, 64-key block) work: it
  counts every request's blocks plus 5 blocks of fixed overhead (fixed_overhead_num_blocks), gives each part
  ceil(total / parts) + 5 of them, and splits a request wherever a part's share ends; the split requests'
  partial O (fp32) and log-sum-exp are merged by the combine kernel, launched with programmatic dependent launch
  (its launch overlaps the main kernel's end). Benchmarks and engines compute the metadata once per batch
  (get_mla_metadata), outside the attention call;
- per block, the "seesaw" schedule (docs/20250422-new-kernel-deep-dive.md): warpgroup 0 computes Q K0^T and
  warpgroup 1 Q K1^T (SS wgmma, Q and K from shared memory), each holds half of O (64 x 256) and multiplies both
  blocks' P by its half of V (its own P from registers, the other's through shared memory), the softmax of one
  block beside the other warpgroup's GEMMs; nine 64 x 64 TMA loads per K block, two blocks in flight;
- per request a CTA waits for its first K blocks (loaded, after a block-table read, when the request starts; its
  Q is prefetched during the previous request's end) and stores its O tile (bf16, or fp32 partials when split).

The tile is priced by the fused kernels' tile model (simulator.tile_cost) with FA3's fitted wgmma figures (the
same instruction, the softmax beside the other warpgroup's GEMMs); the SM parts' work by the metadata's own
greedy split; the stream by K's bytes once (the num_m_block CTAs of a part walk the same blocks together, so L2
serves all but the first).

``flashmla_build("2025-02")`` (a published file's ``flashmla_build``) prices the first release instead
(414a2f3 to b31bfe7, February 2025; csrc/flash_fwd_mla_kernel.h ``compute_attn_1rowblock_splitkv_mla`` and
``run_flash_splitkv_fwd_mla`` @ 4edea86), whose scheduler, tiles, one CTA per SM and dependent loads are the same:
per block warpgroup 0 issues Q K^T and waits for it (``flash::gemm`` with wg_wait 0), masks, runs the softmax,
stores P and the rescale factors to shared memory and signals SReady, and only then do both warpgroups multiply P by
their half of V, while warpgroup 1 loads the next K block with cp.async and meets warpgroup 0 at __syncthreads:
nothing overlaps a block's softmax, so a block costs its GEMMs plus its softmax; and the combine kernel is launched
after every call with a plain launch (no programmatic dependent launch), returning at once where no request was
split.
"""

import math
from contextvars import ContextVar
from dataclasses import replace

from einsum_cascades.errors import UserError
from simulator.cta_work import DenseCall
from simulator.gpu_kernels import KernelConfig, pattern_causal
from simulator.cost import Cost
from simulator.kernel_configs import build_switch
from simulator.tile_cost import ops_of, tile_cycles
from simulator.workload import MLA_ABSORBED, mla_absorbed

FAMILY = "flashmla"
BLOCK_M = 64  # Config::BLOCK_SIZE_M: packed query rows per CTA
BLOCK_N = 64  # Config::PAGE_BLOCK_SIZE: keys per block, and the only page size
# Config::HEAD_DIM_K (what run_flash_splitkv_mla_kernel asserts params.d is, and its tiles' width) and
# Config::HEAD_DIM_V: MLA's absorbed form, 576 and 512
HEAD_DIM_K, HEAD_DIM_V = MLA_ABSORBED
WARPS = 8  # Traits::NUM_THREADS = 256: two warpgroups
REGS = 255  # __launch_bounds__(256, 1): the whole register file for one CTA, capped per thread
FIXED_OVERHEAD_BLOCKS = 5  # get_decoding_sched_meta: a request's fixed cost, in blocks
KV_STAGES = 2  # sK0 and sK1: two K blocks in flight
DEPENDENT_LOADS = 2  # a request's block-table entry, then its first K block (Q is prefetched)
PARTIAL_BYTES = 4  # oaccum and lse_accum are fp32
# traits.h SharedMemoryPlan beside sQ, sK0, sK1 and sP0: fp32 per row sM, sL_reduction_wksp (2), sScale0, sScale1;
# barriers_K0 and barriers_K1 (HEAD_DIM_K / 64 each) and barrier_Q, 64-bit mbarriers (TMABarrier = cutlass::arch::ClusterTransactionBarrier)
ROW_STAT_FLOATS = 5
TMA_BARRIERS = 2 * HEAD_DIM_K // 64 + 1
BARRIER_BYTES = 8
# FlashMLA by build: "2025-04", the kernel of the 2025-04-22 performance update (c2067be) and later, as read at
# 9241ae3e; "2025-02", the first release (the module docstring says what differs)
FLASHMLA_BUILDS = ("2025-04", "2025-02")
_build: ContextVar[str] = ContextVar("flashmla_build", default=FLASHMLA_BUILDS[0])


def current_build() -> str:
    """The FlashMLA build predictions run as here."""
    return _build.get()


def flashmla_build(build: str | None):
    """Predict FlashMLA as the given build runs inside this block (a published file's ``flashmla_build``); None
    keeps today's kernel."""
    return build_switch(_build, FLASHMLA_BUILDS, "flashmla_build", build)


def error(hw, wl) -> str | None:
    """Why FlashMLA's dense decoding kernel cannot run the call (None if it can)."""
    if not mla_absorbed(wl.head_dim, wl.v_head_dim):
        return (f"{FAMILY} runs MLA's absorbed form: --head-dim {HEAD_DIM_K} (512 latent + 64 RoPE columns) with "
                f"--v-head-dim {HEAD_DIM_V}, V being K's first 512 columns (FlashMLA's sm90 kernel asserts both, "
                f"splitkv_mla.cuh): got --head-dim {wl.head_dim} --v-head-dim {wl.v_head_dim}")
    if wl.page_size is not None and wl.page_size != BLOCK_N:
        return (f"--page-size {wl.page_size}: {FAMILY} reads a paged cache of {BLOCK_N}-token blocks only "
                "(\"Currently page_block_size must be 64\"); use 64 or drop it")
    if wl.sparsity or (wl.pattern and wl.pattern.replace(" ", "") not in ("full", "causal")):
        given = f"--pattern {wl.pattern}" if wl.sparsity == 0 else f"--sparsity {wl.sparsity:g}"
        return (f"{given}: {FAMILY} is FlashMLA's dense decoding kernel (every cached key; causal among a call's "
                "own queries); its sparse (DSA, top-k) kernels are not modelled: drop it")
    if wl.block_size:
        return f"--block-size {wl.block_size}: {FAMILY} runs FlashMLA's own 64 x 64 tiles; drop it"
    if wl.seq_len > wl.kv_len:
        return (f"--seq-len {wl.seq_len} with --kv-len {wl.kv_len}: {FAMILY} decodes a few queries against a longer "
                "cache (the cache holds the call's own tokens); use --kv-len >= --seq-len")
    return None


def config(b: int) -> KernelConfig:
    """The CTA as the tile model sees it: 64 rows x 64 keys at (576, 512), two consumer warpgroups, no producer
    warpgroup (the consumer threads issue the TMA loads), each block's K and V read once by the MMAs (one
    warpgroup's QK, the two halves of V), Q re-read from shared memory every block, one P a block through shared
    memory, V inside K."""
    smem = ((BLOCK_M * HEAD_DIM_K + KV_STAGES * BLOCK_N * HEAD_DIM_K + BLOCK_M * BLOCK_N) * b
            + ROW_STAT_FLOATS * BLOCK_M * 4 + TMA_BARRIERS * BARRIER_BYTES)
    return KernelConfig(FAMILY, BLOCK_M, BLOCK_N, WARPS, 1, 0, "wgmma", True, True, smem, REGS, False, True,
                        p_through_smem=True, kv_stages=KV_STAGES, persistent=True, v_in_k=True)


def sm_parts(hw, wl) -> tuple[int, int]:
    """(num_m_block, num_sm_parts) of dense_attn_decode_interface."""
    m_blocks = math.ceil(wl.seq_len * wl.group / BLOCK_M)
    return m_blocks, max(hw.sms // wl.kv_heads // m_blocks, 1)


def schedule(batch: int, blocks: int, parts: int) -> tuple[list[tuple[int, int, int]], int]:
    """Per SM part, (blocks, request segments, split segments) as get_mla_metadata_kernel assigns them to a batch
    of requests of ``blocks`` key blocks each: payload = ceil(total / parts) + 5 units a part, a request costing
    its blocks + 5, split where a part's payload ends (a part keeps a request's remaining blocks only when the
    payload covers them and the 5); and the most parts one request spans (its splits)."""
    out, most, _ = _schedule(batch, blocks, parts)
    return out, most


def _schedule(batch: int, blocks: int, parts: int) -> tuple[list[tuple[int, int, int]], int, int]:
    """``schedule``'s parts and most parts a request spans, and how many requests it splits over more than one part
    (their O is the combine's)."""
    total = batch * (blocks + FIXED_OVERHEAD_BLOCKS)
    payload = -(-total // parts) + FIXED_OVERHEAD_BLOCKS
    req, done, out, pieces, most, tails = 0, 0, [], 0, 1, 0
    for _ in range(parts):
        remain, got, segments, split = payload, 0, 0, 0
        while req < batch:
            left = blocks - done
            if remain >= left + FIXED_OVERHEAD_BLOCKS:
                got += left
                segments += 1
                split += done > 0  # the request's tail: it started on an earlier part
                tails += done > 0
                most = max(most, pieces + 1)
                remain -= left + FIXED_OVERHEAD_BLOCKS
                req, done, pieces = req + 1, 0, 0
            else:
                if remain - FIXED_OVERHEAD_BLOCKS > 0:
                    take = remain - FIXED_OVERHEAD_BLOCKS
                    got += take
                    segments += 1
                    split += 1
                    done += take
                    pieces += 1
                break
        out.append((got, segments, split))
    return out, most, tails


def simulate(hw, wl):
    """Predict one FlashMLA dense decoding call (see the module docstring)."""
    from simulator.gpu_model import (_finish, _roof_times, cold_l2_writeback_bytes, dram_latency, grid_bound,
                                     merge_bytes_seconds)

    if why := error(hw, wl):
        raise UserError(why)
    cfg = config(wl.dtype_bytes)
    if cfg.ctas_per_sm(hw) < 1:
        raise UserError(f"{FAMILY} needs {cfg.smem_bytes:,} B of shared memory per CTA; {hw.name} allows "
                        f"{hw.smem_per_block_bytes:,}")
    clock, b, d, dv = hw.sustained_clock_hz, wl.dtype_bytes, wl.head_dim, wl.v_head_dim
    m_blocks, parts = sm_parts(hw, wl)
    blocks = math.ceil(wl.kv_len / BLOCK_N)
    per_part, splits, n_split = _schedule(wl.batch, blocks, parts)
    tile = tile_cycles(cfg, hw, wl, partial=False, resident=1)
    first_release = current_build() == "2025-02"
    if first_release:  # a block's GEMMs, then its softmax: nothing hides the softmax, the first block's included
        tile = tile._replace(cycles=max(tile.cycles, tile.gemm + tile.softmax), hidden=0.0)
    split_segments = sum(p[2] for p in per_part)
    rows = wl.seq_len * wl.group  # real rows of a KV head's tiles
    tile_rows = min(rows, BLOCK_M)  # the rows a CTA stores (store_o writes num_valid_seq_q of them)
    l2_per_clk = hw.l2_bw_bytes_s / hw.sms / clock
    latency = dram_latency(hw, FAMILY)

    def segment_cycles(split: bool) -> float:
        """A request's start and end on a CTA: its block-table read and first K block (dependent round trips),
        the first block's softmax that no GEMM hides, and its O rows out (fp32 when split)."""
        o_bytes = tile_rows * (dv * (PARTIAL_BYTES if split else b) + 4)
        return DEPENDENT_LOADS * latency * clock + tile.hidden + o_bytes / l2_per_clk

    part_cycles = [got * tile.cycles + (seg - split) * segment_cycles(False) + split * segment_cycles(True)
                   for got, seg, split in per_part]
    longest = max(part_cycles)
    # one CTA an SM: a grid of more CTAs than SMs (parts = 1 once the tiles and KV heads outnumber the SMs, s_q x h_q
    # / h_k over 64 x SMs rows) runs in waves, each CTA its part's whole run (the m-blocks of a KV head run alike)
    waves = -(-m_blocks * wl.kv_heads * parts // hw.sms)
    compute = waves * longest / clock
    heads_k = wl.batch * wl.kv_heads
    k_bytes = heads_k * wl.kv_len * d * b  # V is K's first dv columns: no bytes of its own
    q_bytes = wl.batch * wl.heads * wl.seq_len * d * b
    o_bytes = wl.batch * wl.heads * wl.seq_len * dv * b
    partial = split_segments * wl.kv_heads * rows * (dv + 1) * PARTIAL_BYTES  # the valid rows' O and LSE
    table = wl.batch * blocks * 4  # int32 block-table entries
    reads = k_bytes + q_bytes + table
    # the main kernel writes O (bf16) of the requests it does not split and the split ones' fp32 partials, which
    # stay in L2 for the combine while they fit (as the fused families' split partials, gpu_model._split_partials);
    # the combine reads them and writes the split requests' O (its time below)
    o_split = o_bytes * n_split / wl.batch
    spill = max(partial - hw.l2_bytes, 0.0)
    hbm = reads + o_bytes - o_split + spill
    tiles_run = wl.kv_heads * m_blocks * wl.batch * blocks
    scores = tiles_run * BLOCK_M * BLOCK_N  # whole tiles, as the MMAs run them
    ops = ops_of(cfg, d, dv)
    cost = Cost(hbm_bytes=hbm, l2_bytes=m_blocks * k_bytes + q_bytes + o_bytes - o_split + partial + table,
                onchip_bytes=tiles_run * BLOCK_N * (cfg.kv_width(d, dv) + cfg.kv_load_width(d, dv)) * b,
                tensor_flops=scores * ops.tensor_per_score + tiles_run * BLOCK_M * ops.tensor_per_row,
                fma_ops=scores * ops.fp32_poly(0.0, 0) + tiles_run * BLOCK_M * ops.fp32_per_row,
                exp_ops=scores * ops.sfu_poly(0.0) + tiles_run * BLOCK_M * ops.sfu_per_row,
                launches=2 if split_segments or first_release else 1)
    times = _roof_times(hw, wl, cost, "wgmma")
    # the combine's bytes (its seconds below): the split requests' O, and the partials L2 did not hold read back
    cost = replace(cost, hbm_bytes=hbm + o_split + spill)
    bw = hw.hbm_bw_bytes_s * hw.hbm_efficiency
    # the combine kernel (smxx/decode/combine): launched under programmatic dependent launch, so its launch hides
    # behind the main kernel's end; it reads the split requests' partials (one round trip), at L2 bandwidth as far
    # as L2 holds them, and writes their O, as the fused families' combine (gpu_model._combine_seconds)
    merge = latency + merge_bytes_seconds(hw, partial, o_split)
    combine = merge if split_segments else 0.0
    if first_release:  # a plain launch after every call; where nothing was split it reads the split counts and exits
        combine = hw.launch_overhead_s + merge
    times["launch"] = hw.launch_overhead_s
    times["compute"] = compute
    times["stream_fill"] = hw.hbm_latency_s + tile.cycles / clock
    times["combine"] = combine
    times["writeback"] = cold_l2_writeback_bytes(hw, wl, reads) / bw
    detail = dict(schedule=FAMILY, build=current_build(), block_q=BLOCK_M, block_kv=BLOCK_N, packed_gqa=True,
                  ctas_per_sm=1,
                  splits=splits, total_num_splits=wl.batch + parts, m_blocks=m_blocks, sm_parts=parts,
                  split_segments=split_segments, split_requests=n_split,
                  partial_bytes=partial, partial_spill_bytes=spill, combine_s=combine,
                  part_blocks=[p[0] for p in per_part], tile_cycles=tile.cycles, tile_bound=tile.bound,
                  segment_cycles=segment_cycles(False), split_segment_cycles=segment_cycles(True),
                  longest_part_cycles=longest, waves=waves, clock_hz=clock,
                  tile_fill=rows / (m_blocks * BLOCK_M))
    bound = "hbm" if tile.bound == "latency" else tile.bound
    causal = pattern_causal(wl) and wl.seq_len > 1
    attended = wl.seq_len * wl.kv_len - (wl.seq_len * (wl.seq_len - 1) / 2 if causal else 0)
    result = _finish(hw, FAMILY, wl, cost, times, bound, DenseCall(float(attended), 1.0), detail)
    return grid_bound(result, m_blocks * wl.kv_heads * parts, hw.sms)  # one CTA an SM
