"""FlashInfer's batch prefill (``flashinfer-prefill``): what serving engines call for a prefill through FlashInfer.
On Hopper (an H100, H200, H800 or H20) its ``fa3`` backend, modelled here; elsewhere, and as
``flashinfer-prefill-fa2`` anywhere, its ``fa2`` backend (``runs_fa2``: simulator.flashinfer_tc
``flashinfer_batch_prefill``). ``error`` holds what either refuses (docs/kernels.md D4).

``BatchPrefillWithRaggedKVCacheWrapper`` (and, over a paged cache, ``BatchPrefillWithPagedKVCacheWrapper``) with
``backend="auto"`` run the sm90 kernel wherever ``determine_attention_backend`` finds sm90a, no custom mask and
no positional encoding in the kernel (flashinfer/utils.py): ``PrefillWithKVCacheKernel``
(include/flashinfer/attention/hopper/prefill_sm90.cuh), FlashAttention-3's mainloop ported: one TMA producer
warpgroup (cp.async over a paged cache, ``SparseCollectiveMainloop``), ``CTA_Q / 64`` consumer warpgroups issuing
wgmma, 2-stage K and V pipelines, the consumer warpgroups' GEMMs ordered by named barriers (ping-pong) and the
softmax of one key tile beside the PV GEMM of the next (mainloop_mma.cuh ``mma_f16``). The model runs it on the
fused-kernel schedule FA3 runs on, with FA3's fitted ``wgmma`` figures, and these differences, read at
flashinfer-ai/flashinfer tag nightly-v0.6.16-20260730 (4b964ec4):

- tiles: ragged ``getCTATileSize`` (prefill_sm90.cuh): d=64 192 x 128, d=128 128 x 128 causal and 128 x 192
  otherwise, d=256 128 x 64, (192, 128) 128 x 128; paged (``BatchPrefillWithPagedKVCacheDispatched``): 192 x 96,
  128 x 96, 128 x 32, and no (192, 128) (``cudaErrorNotSupported``);
- no GQA packing: a work tile is CTA_Q queries of one query head (scheduler.cuh ``PrefillSM90Plan``: "our current
  FA3 implementation do not fuse query and group heads"), so K/V of a KV head is streamed once per query head;
- one persistent CTA per SM running the work list the host planned for it (``PrefillSM90Plan``'s min-heap over
  CTAs on its own cost estimates, which do not see a window; tile_scheduler.cuh
  ``BatchPrefillPersistentTileScheduler`` walks the list, no stealing): ``plan_makespan``;
- no KV split, no merge kernel, no scheduler kernel: one launch per ``run()``;
- a sliding window (``window_left``) starts one key tile early: ``get_swa_begin_kv_tile_idx`` (hopper/utils.cuh)
  takes ``(q_tile * CTA_Q + kv_len - qo_len - window_left) / CTA_KV - 1``, so every query tile whose window
  starts at a key tile past the first also loads and computes the tile before it, all masked
  (``window_extra_tiles``; FA3's block.h has no ``- 1``).
"""

from dataclasses import replace

from simulator._numpy import np
from simulator.gpu_kernels import (FUSED_CASCADE, KernelConfig, fa_window_sides, paged_cache, pattern_causal,
                                   pattern_shape, sm_number)
from simulator.kernel_configs import CONSUMER_REGS, FA3_STAGES, WGMMA_ROWS

FAMILY = "flashinfer-prefill"
FA2_FAMILY = "flashinfer-prefill-fa2"  # the same wrappers with backend="fa2", on any GPU (flashinfer_tc)
SOURCE = "flashinfer include/flashinfer/attention/hopper/prefill_sm90.cuh (0.6.16)"
# ragged (TMA) tiles, getCTATileSize: head dim -> (CTA_Q, CTA_KV non-causal, CTA_KV causal)
RAGGED_TILES = {64: (192, 128, 128), 128: (128, 192, 128), 256: (128, 64, 64)}
MLA_SHAPE = (192, 128)  # (head dim, value head dim): getCTATileSize's "hack for deepseek prefill", 128 x 128
# paged (cp.async) tiles, BatchPrefillWithPagedKVCacheDispatched: head dim -> (CTA_Q, CTA_KV)
PAGED_TILES = {64: (192, 96), 128: (128, 96), 256: (128, 32)}
DTYPES = ("fp16", "bf16")  # the fp8 kernels are hopper/quantization/'s, not modelled


def tile(d: int, dv: int, causal: bool, paged: bool) -> tuple[int, int]:
    """(CTA_Q, CTA_KV) of the kernel a call runs."""
    if paged:
        return PAGED_TILES[d]
    if (d, dv) == MLA_SHAPE:
        return 128, 128
    br, bc, bc_causal = RAGGED_TILES[d]
    return br, bc_causal if causal else bc


def config(d: int, dv: int, b: int, causal: bool, paged: bool) -> KernelConfig:
    """The kernel's layout: CTA_Q / 64 consumer warpgroups and a producer warpgroup; shared memory Q, two K stages
    and two V stages that the O tile reuses (kernel_traits.cuh SharedStorageQKVO: ``union{smem_v, smem_o}``); the
    consumers' setmaxnreg 240 (two warpgroups) or 160 (three), as FA3's; QK from smem, P in registers (RS PV)."""
    br, bc = tile(d, dv, causal, paged)
    wgs = br // WGMMA_ROWS
    smem = (br * d + FA3_STAGES * bc * d + max(FA3_STAGES * bc * dv, br * dv)) * b
    return KernelConfig(FAMILY, br, bc, wgs * 4, wgs, 4, "wgmma", True, True, smem, CONSUMER_REGS[wgs],
                        True, False, cascade=FUSED_CASCADE, kv_stages=FA3_STAGES, persistent=True,
                        window_extra_tile=True, cp_async_loads=paged,  # SparseCollectiveMainloop: cp.async
                        host_plan=True)  # PrefillSM90Plan's static lists (plan_makespan)


# PrefillSM90Plan (scheduler.cuh): max_num_works_per_head = ceil_div(total_num_rows, cta_tile_q) + batch_size - 1;
# same_schedule_for_all_heads = max_num_works_per_head > 4096: past this many work items a head, one plan serves every head
PLAN_SAME_SCHEDULE_WORKS = 4096


def plan_makespan(wl, block_q: int, record: dict | None = None):
    """The makespan of the persistent kernel's static work lists, as a function of the query-block rows' true
    works (slot-cycles, first row first), the grids (batch x query heads) and the slots: what
    ``cta_work.compute_cycles`` takes for such a kernel. ``PrefillSM90Plan`` (scheduler.cuh, read at 0.2.0 and in a
    2026 version with ``MinHeap`` and ``packed_causal_kv_end``: the same walk) walks the query heads, then the requests longest first, then each request's query tiles last to first,
    and gives each tile to the CTA whose estimated total is the least (a min-heap over the SMs' CTAs), estimating
    a tile at ``cost_function(CTA_Q, kv)`` = 2 x CTA_Q + the keys up to its causal end (``packed_causal_kv_end``;
    every key without the causal mask). The estimate does not see ``window_left``, so under a window the tiles
    that the plan thinks long and short cost alike, and the lists it balances in estimate run unequal in time.
    Each CTA runs its list back to back (``BatchPrefillPersistentTileScheduler``: no stealing). Past
    ``PLAN_SAME_SCHEDULE_WORKS`` work items a head (``same_schedule_for_all_heads``) the plan covers one head and
    the grid holds a copy of the lists per query head, dispatched in order. ``record``, if given, gets the
    makespan beside a longest-first schedule's of the same works (``--explain`` prints the two)."""
    from simulator.schedule import grid_makespan, plan_totals

    qo, kv, batch = int(wl.seq_len), int(wl.kv_len), int(wl.batch)
    n_rows = -(-qo // block_q)
    rows = np.arange(n_rows)
    if causal(wl):
        end = np.where(rows + 1 == n_rows, kv, np.clip(kv - qo + (rows + 1) * block_q, 0, kv))
    else:
        end = np.full(n_rows, kv)
    est = (2.0 * block_q + end)[::-1]  # the plan's order: last query tile first
    same = -(-batch * qo // block_q) + batch - 1 > PLAN_SAME_SCHEDULE_WORKS

    def makespan(row_work, heads: int, slots: int) -> float:
        true = np.asarray(row_work, dtype=np.float64)[::-1]
        if same:
            span = grid_makespan(plan_totals(est, true, batch, slots), int(wl.heads), slots)
        else:
            span = float(plan_totals(est, true, heads, slots).max())
        if record is not None:
            record.update(planned=span, longest_first=grid_makespan(true, heads, slots, longest_first=True),
                          same_schedule=same)
        return span

    return makespan


def causal(wl) -> bool:
    """Whether FlashInfer runs the call with ``causal=True``: causal, or a window over past keys only (FA's right
    side 0: ``window(w)``, ``window(l, 0)``), which FlashInfer takes as ``window_left`` with its causal mask."""
    if not wl.pattern:
        return pattern_causal(wl)
    sides = fa_window_sides(wl, fa3=True)
    return pattern_causal(wl) or (sides is not None and sides[1] == 0)


def kernel_config(hw, wl) -> KernelConfig:
    return config(int(wl.head_dim), int(wl.v_head_dim), int(wl.dtype_bytes), causal(wl), paged_cache(wl))


def fa3_backend(hw) -> bool:
    """Whether ``backend="auto"`` runs the fa3 backend here (sm90a; flashinfer/utils.py determine_attention_backend);
    elsewhere it runs fa2 (simulator.flashinfer_tc.flashinfer_batch_prefill)."""
    return sm_number(hw.arch) == 90


def runs_fa2(hw, family: str) -> bool:
    """Whether the call runs FlashInfer's fa2 batch prefill: ``flashinfer-prefill-fa2``, or the default off Hopper."""
    return family == FA2_FAMILY or (family == FAMILY and not fa3_backend(hw))


def error(hw, wl, family: str = FAMILY) -> str | None:
    """Why the backend the family runs here cannot run the call as attnsim models it (None if it can)."""
    d, dv = int(wl.head_dim), int(wl.v_head_dim)
    if runs_fa2(hw, family):  # its dtypes are LIMITS'; the kernel's causal rule is flashinfer_tc's
        from simulator.flashinfer_decode import head_dims_error
        from simulator.flashinfer_tc import PREFILL_PAIRS

        family_here = f"{family} on {hw.name} (its fa2 backend)" if family == FAMILY else family
        if why := head_dims_error(family_here, d, dv, PREFILL_PAIRS):
            return why
        if paged_cache(wl) and d != dv:
            return _paged_pair_error(wl, family_here, "page.cuh paged_kv_t has one head dim for K and V")
        return window_error(wl, family_here)
    if wl.dtype not in DTYPES:
        return (f"{FAMILY} models the fp16/bf16 kernel ({SOURCE}); its fp8 kernels (hopper/quantization/) are not "
                f"modelled: got --dtype {wl.dtype}")
    if paged_cache(wl) and d != dv:
        return _paged_pair_error(wl, FAMILY, "BatchPrefillWithPagedKVCacheDispatched returns cudaErrorNotSupported "
                                 "otherwise")
    if not ((d == dv and d in RAGGED_TILES) or (d, dv) == MLA_SHAPE):
        return (f"{FAMILY} runs head dims 64, 128 and 256 (V as wide) and (192, 128) (flashinfer/utils.py "
                f"is_fa3_prefill_head_dim_supported); got --head-dim {d} --v-head-dim {dv}")
    return window_error(wl, FAMILY)


def _paged_pair_error(wl, family: str, why: str) -> str:
    paged = f"--page-size {wl.page_size}" if wl.page_size is not None else "--scope layer: the engine's pages"
    ragged = "drop --page-size" if wl.page_size is not None else "use --scope kernel"
    return (f"--v-head-dim {wl.v_head_dim}: {family} over a paged cache ({paged}) takes equal head dims ({why}); "
            f"{ragged} for a ragged call, or equal head dims")


def window_error(wl, family: str) -> str | None:
    """Why the call's mask is not one FlashInfer's prefill takes: dense, causal or a window over past keys
    (window_left, run with the causal mask), no block sparsity; None if it is. (A lone chunk never gets here: the
    engine's pieces, simulator.flashinfer_chunks, are plain calls.)"""
    if wl.sparsity:
        return f"--sparsity {wl.sparsity:g}: {family} attends dense, causal or a left sliding window; drop it"
    if wl.pattern and wl.pattern not in ("full", "causal"):
        sides = fa_window_sides(wl, fa3=True)
        other = {leaf.name for leaf in pattern_shape(wl.pattern).leaves} - {"window", "causal", "full"}
        if sides is None or sides[1] > 0 or other:  # a strided or block mask needs a custom mask: not FlashInfer's
            return (f"--pattern {wl.pattern}: {family} takes dense, causal, a window over past keys "
                    "(window_left: window(w) or window(l, 0), with or without --causal) or chunked(w) alone or with "
                    "causal (an engine's one request per chunk); use flash3 for others")
    return None


def extra_tiles(wl, block_q: int, block_kv: int, n_rows: int):
    """Per query tile, 1 where ``get_swa_begin_kv_tile_idx``'s ``- 1`` adds a key tile before its window: the
    window (``window_left``) starts at a key tile past the first; None without a window."""
    sides = fa_window_sides(wl, fa3=True) if wl.pattern else None
    if sides is None or sides[0] < 0:
        return None
    start = np.arange(n_rows) * block_q + int(wl.kv_len) - int(wl.seq_len) - sides[0]
    return (start >= block_kv).astype(np.int64)


def window_extra_tiles(tiles, wl, block_q: int, block_kv: int):
    """``tiles`` with the masked key tile ``extra_tiles`` adds before each query tile's window; unchanged
    without a window."""
    extra = extra_tiles(wl, block_q, block_kv, tiles.n_rows)
    if extra is None or not extra.any():
        return tiles
    visited = int(tiles.visited + extra.sum())
    # the first query tile's extra tile lies before every key its window, or a later tile's, reaches: a block
    # loaded that no row of the mask reads (a later tile's extra one is its predecessor's window, already read)
    blocks_read = min(tiles.kv_blocks_read + int(extra[0]), tiles.n_kv_blocks)
    return replace(tiles, row_partial=np.asarray(tiles.row_partial) + extra, visited=visited, uniform=False,
                   block_density=tiles.block_density * visited / max(tiles.visited, 1), kv_blocks_read=blocks_read)


def explain_lines(wl, cfg, n_rows: int, plan: dict | None = None) -> list[str]:
    """What ``--explain`` says of the kernel beside the tile formulas."""
    loads = ("paged KV cache (BatchPrefillWithPagedKVCacheWrapper): K/V by cp.async through the page table "
             "(SparseCollectiveMainloop), any page size" if paged_cache(wl) else
             "ragged K/V (BatchPrefillWithRaggedKVCacheWrapper) by TMA (CollectiveMainloop)")
    lines = [f"FlashInfer's batch prefill, fa3 backend (sm90, {SOURCE}): {loads}; one query head a tile (no GQA "
             "packing); one persistent CTA per SM over the work list the host planned for it; one kernel (no KV "
             "split, no merge)"]
    extra = extra_tiles(wl, cfg.block_q, cfg.block_kv, n_rows)
    if extra is not None and extra.any():
        lines.append(f"window_left: {int(extra.sum())} of {n_rows} query tiles also load and compute the masked key "
                     "tile before their window (get_swa_begin_kv_tile_idx's - 1)")
    if plan:
        window = " (the window not seen)" if extra is not None else ""
        lines.append(f"host plan (PrefillSM90Plan): each CTA's work list fixed before the launch, a query tile "
                     f"estimated at 2 x {cfg.block_q} + the keys to its causal end{window}; the longest list "
                     f"{plan['planned'] / max(plan['longest_first'], 1e-30) - 1:+.1%} over a longest-first schedule "
                     "of the same tiles" + (", one plan for every head" if plan["same_schedule"] else ""))
    return lines
