"""How the kernels split the KV range of a call (split-KV) and pack GQA heads into tiles, by their own
launch heuristics: FA2's flash_api.cpp (num_splits_heuristic) and FA3's hopper/heuristics.h
(num_splits_heuristic, should_pack_gqa)."""

import math
from dataclasses import replace
from functools import lru_cache

from simulator._numpy import np

from simulator.columns import is_columns
from simulator.gpu_kernels import (FA4_FAST_EX2_SM, fa3_always_packs, fa3_block_q, fa3_pages_without_tma, fa_mask_mode,
                                   fa_window_sides, pack_gqa_columns, pattern_causal, pattern_leaves, pattern_shape,
                                   paged_cache, should_pack_gqa, sm_number, varlen_call, window_sides, windowed)
from simulator.kernel_configs import current_fa2_build, current_fa3_build, fa4_hd256, fa4_split_ring
from simulator.tiles import grid_call

MAX_SPLITS = 128  # flash_api.cpp: num_splits_heuristic(..., 128)
SPLIT_EFFICIENCY_SLACK = 0.85  # flash_api.cpp: first split count within 85% of the best wave efficiency
FULL_WAVE_FRACTION = 0.8  # flash_api.cpp: no split when batch*heads*m_blocks >= 0.8 * SMs
FA2_SPLIT_SMS = {"current": 2, "2.4.2": 1}  # FA2 flash_api.cpp passes multiProcessorCount * 2 from v2.5.7 ("we're
# using 128 threads per block"), multiProcessorCount before (kernel_configs.FA2_BUILDS)
FA3_MIN_SPLIT_BLOCKS = 4  # FA3 hopper/heuristics.h: never split 4 KV blocks or fewer (FA4's heuristic likewise)
FA4_DECODE_ROWS = 128  # FA4 calls whose packed queries fit one 128-row query tile (q_stage 1)


def fa2_num_splits(hw, ctas, n_kv_blocks):
    """Flash-Decoding's split count: FA2's heuristic over twice the SMs (once the SMs before v2.5.7)."""
    return _num_splits(FA2_SPLIT_SMS[current_fa2_build()] * hw.sms, ctas, n_kv_blocks, skip_same_blocks=True)


def fa3_prepares(wl, cfg) -> bool:
    """Whether an FA3 call launches its scheduler kernel first: a decode call (``fa3_layout``) comes through
    flash_attn_with_kvcache with per-sequence cache lengths (cache_seqlens, passed to mha_fwd as seqused_k), which
    makes it varlen (hopper/flash_api.cpp mha_fwd: is_varlen includes seqused_k; use_prepare_varlen = is_varlen),
    so prepare_varlen_num_blocks runs before the attention kernel (hopper/flash_prepare_scheduler.cu) to size each
    sequence's split. Columns of sizes hold no decode calls."""
    decode = fa3_kv_cache_call(wl.seq_len, wl.kv_len, paged_cache(wl))
    if current_fa3_build() == "2024-07":  # prepare_varlen_num_blocks came in 6752d62a (2025-02-24)
        return False
    if engine_scheduler_metadata(wl):  # the engine computed it once for the step: the call skips it
        return False
    return (not is_columns(decode) and bool(decode)) or fa3_varlen_today(wl)


def engine_scheduler_metadata(wl) -> bool:
    """Whether a serving engine hands today's FA3 its scheduler metadata (--scope layer): vLLM's flash_attn backend
    (``aot_schedule``: FA3) calls get_scheduler_metadata once a step in FlashAttentionMetadataBuilder.build and passes
    it to every layer's call (``scheduler_metadata=``), so mha_fwd sets skip_scheduler_metadata_computation and
    run_mha_fwd launches no prepare_varlen_num_blocks (hopper/flash_fwd_launch_template.h: ``if (Varlen &&
    !params.skip_scheduler_metadata_computation)``); one kernel a step over all the layers, which attnsim leaves out
    of a layer's call. The counter is then zeroed by the combine of a split call, else by a fill (mha_fwd:
    ``else if (scheduler_needs_semaphore && params.skip_scheduler_metadata_computation) zero_``)."""
    return wl.scope == "layer" and current_fa3_build() != "2024-07"


def fa3_varlen_today(wl) -> bool:
    """A varlen call (``varlen_call``) on today's FA3: mha_fwd's ``use_prepare_varlen = is_varlen`` launches the
    scheduler kernel first, which also zeroes the tile counter, and get_pack_gqa packs the GQA heads
    (hopper/heuristics.h should_pack_gqa: ``if (varlen_q) return true``). The 2024 builds had neither: their varlen
    call runs the single-tile scheduler (kernel_config). (Builds of 7a802796 to 6752d62a, January-February 2025,
    packed and ran the persistent varlen scheduler but zeroed the counter with torch::zeros: one small kernel
    either way.) A grid call is NATTEN's kernel, which has no varlen entry point (refused in limits)."""
    return varlen_call(wl) and current_fa3_build() != "2024-07" and not grid_call(wl)


def fa3_zeroes_semaphore(hw, wl, splits, prepare: bool, split_launch: bool = False) -> bool:
    """Whether an FA3 call zeroes its tile scheduler's semaphore with a fill kernel of its own before the attention
    kernel. The dynamic persistent scheduler hands out work tiles through an atomic counter, which mha_fwd zeroes
    with ``tile_count_semaphore.zero_()`` when the call needs one and has no scheduler kernel to do it
    (hopper/flash_api.cpp mha_fwd: ``scheduler_needs_semaphore`` = on sm90 (causal or local) and one split, or
    varlen; on sm80 causal and not varlen; ``if (scheduler_needs_semaphore && !use_prepare_varlen) zero_()``). The
    July 2024 builds allocate it with ``torch::zeros`` when causal (hopper/flash_api.cpp @ 74b0761f mha_fwd).
    A varlen call's scheduler kernel zeroes the counter (flash_prepare_scheduler.cu: ``if (threadIdx.x == 0 &&
    tile_count_semaphore) { *tile_count_semaphore = 0; }``); a serving engine's call, which passes the step's
    scheduler metadata (``engine_scheduler_metadata``), has it zeroed by its combine when the call launches the
    Split kernel (``split_launch``) and by a fill otherwise, on sm90 (where a varlen call always needs the
    counter; on sm80 only a split one does)."""
    if engine_scheduler_metadata(wl) and not is_columns(splits):
        return sm_number(hw.arch) >= 90 and not split_launch
    if prepare or varlen_call(wl) or is_columns(splits) or splits > 1 or grid_call(wl):  # a grid: NATTEN's
        return False  # (a 2024 varlen call: the single-tile scheduler, no counter)
    mode = fa_mask_mode(wl, fa3=True)
    if sm_number(hw.arch) < 90 or current_fa3_build() == "2024-07":
        return mode == "causal"
    return mode != "full"


def fa3_layout(hw, wl, cfg):
    """FA3's split count, GQA packing and whether it launches its split kernel (and the combine after it):
    (splits, cfg, split_launch). A decode call (new queries against a longer or paged KV cache,
    ``fa3_kv_cache_call``) goes through FA3's KV-cache entry point, whose num_splits = 0 asks for the split heuristic
    (hopper/flash_api.cpp get_num_splits, with the group's query heads packed: a split call always packs
    them); any other call is flash_attn_func's, num_splits = 1. The heuristic's count picks the kernel (Split)
    and the combine; the scheduler kernel then splits each sequence by its own count (``_fa3_decode_splits``).
    Unsplit calls pack by should_pack_gqa, but a serving engine's call (--scope layer: K/V from a paged cache
    without TMA) and any call below sm_90 always pack (flash_api.cpp get_pack_gqa).
    Columns of sizes hold no decode calls (run_points sends those one by one)."""
    decode = fa3_kv_cache_call(wl.seq_len, wl.kv_len, paged_cache(wl))
    # flash_attn_varlen_func takes no page table and defaults to num_splits = 1; the 2024 builds' varlen call had no
    # split at all (flash_fwd_launch_template.h @ 478ee666: static_assert(!(Is_split && UseVarSeqLen)))
    unsplit = bool(wl.varlen) and (not paged_cache(wl) or current_fa3_build() == "2024-07")
    cap = 1
    if is_columns(decode):
        if decode.any():
            raise ValueError("a column of FA3 points holds decode calls")
        splits = 1
    elif unsplit:
        splits = 1
    elif decode and sm_number(hw.arch) < 90 and not wl.block_size:  # the sm80 tile follows the Split kernel
        split_tile = _fa3_sm80_varlen(hw, wl, split=True)  # get_num_splits sizes with it; a split call runs it
        cap, splits = _fa3_decode_splits(hw, wl, split_tile)
        cfg = _with_tile(cfg, split_tile if cap > 1 else _fa3_sm80_varlen(hw, wl, split=False))
    elif decode:
        cap, splits = _fa3_decode_splits(hw, wl, cfg)
    else:
        splits = 1
    if varlen_call(wl) and current_fa3_build() == "2024-07":  # hopper/seq_len.h @ 478ee666: no GQA packing, VarSeqLen
        pack = False
    elif cap > 1 or fa3_always_packs(hw.arch, fa3_pages_without_tma(hw, wl)) or fa3_varlen_today(wl):
        # a column's points share their packing (run_points groups them so)
        pack = np.all(wl.group > 1) if is_columns(wl.group) else wl.group > 1
    else:
        pack = should_pack_gqa(wl.seq_len, wl.group, _host_block_q(hw, wl, cfg))
    return splits, cfg if cfg.pack_gqa == bool(pack) else _packed(cfg, bool(pack)), cap > 1


def _host_block_q(hw, wl, cfg) -> int:
    """The query tile rows FA3's GQA-packing heuristic reckons with (``fa3_block_q``); a --block-size sets both.
    (get_num_splits sees that tile too; attnsim's split count keeps the kernel's, which differs only at d <= 64
    with dv in (64, 192].)"""
    return cfg.block_q if wl.block_size else fa3_block_q(hw.arch, int(wl.head_dim), int(wl.v_head_dim))


@lru_cache(maxsize=256)
def _with_tile(cfg, tile):
    """``cfg`` (its cascade, pass and family fields kept) at the tile, warps, stages and scheduler of ``tile``."""
    return replace(cfg, block_q=tile.block_q, block_kv=tile.block_kv, warps=tile.warps, readers=tile.readers,
                   q_from_smem=tile.q_from_smem, smem_bytes=tile.smem_bytes, kv_stages=tile.kv_stages,
                   persistent=tile.persistent, longest_first=tile.longest_first,
                   max_ctas_per_sm=tile.max_ctas_per_sm)


@lru_cache(maxsize=256)
def _packed(cfg, pack: bool):
    """``cfg`` with GQA packing set (a frozen config: one copy per config, not one per point)."""
    return replace(cfg, pack_gqa=pack)


def fa3_column_pack(arch: str, head_dim: int, block_size, seq_len, heads, kv_heads, kv_len, scope: str = "kernel",
                    v_head_dim: int | None = None):
    """FA3's GQA packing of a dense point evaluated over columns, or None for a decode call (which may
    split its KV range): those are evaluated one by one. For columns of sizes, a column of them."""
    block_q = block_size or fa3_block_q(arch, head_dim, v_head_dim)
    group = heads // kv_heads
    decode = fa3_kv_cache_call(seq_len, kv_len, scope == "layer")  # no --page-size in columns
    if is_columns(decode):
        pack = (group > 1) & (fa3_always_packs(arch) | pack_gqa_columns(seq_len, group, block_q))
        return np.where(decode, None, pack)
    if decode:
        return None
    if group == 1:  # one query head per KV head: nothing to pack, whatever the arch and scope
        return False
    return fa3_always_packs(arch) or should_pack_gqa(seq_len, group, block_q)  # (a layer call is a KV-cache one)


def fa4_layout(hw, wl, cfg):
    """FA4's split count and config. Its flash_attn_func defaults to one split; a decode call (``fa4_decode``: the
    queries of a KV head, packed, fit one query tile, against a longer or paged cache) is taken to ask for the
    heuristic, as FA4's own benchmark does (flash_attn/cute/interface.py, num_splits_heuristic: none for 4 key blocks or
    fewer, else min(SMs // m-blocks, 128, key blocks)); a call that passes a count runs it, and one that passes 0
    (``--num-splits 0``: num_splits=0, as NVIDIA/cudnn-frontend's SDPA benchmark has passed since its PR #607)
    runs the heuristic, prefill calls too (the split-KV kernel serves any call on sm_100). A split call with a V
    head dim of its own (192/128) would overflow shared memory with its fp32 partial O, so _get_fwd_config narrows
    its key tile to 64 and splits again where it has at least 64 key blocks, and does not split otherwise; a split
    call sizes its K/V ring for its own tile and fp32 O, and runs no 2-CTA MMA (``fa4_split_ring``). The (256,
    256) kernel (sm100_hd256_2cta_fmha_forward.py: ``assert not is_split_kv``) runs one split. FA4's own benchmark
    asks for the heuristic by default (benchmarks/benchmark_attn.py: ``--num-splits`` default 0, "0 = auto"). On
    Hopper (flash_fwd_sm90.py) FA4 never splits: interface.py asserts "SplitKV not supported on SM 9.0", so 0 runs
    there where its heuristic gives 1 (``fa4_sm90_splits``) and is refused where it would fail."""
    if sm_number(hw.arch) < 100:
        return 1, cfg
    decode = fa4_decode(wl.seq_len, wl.group, wl.kv_len, paged_cache(wl))
    if is_columns(decode):
        if decode.any():
            raise ValueError("a column of FA4 points holds decode calls")
        return 1, cfg
    if fa4_hd256(wl.head_dim, wl.v_head_dim) or not (decode or wl.num_splits is not None):
        return 1, cfg  # the hd256 kernel has no split-KV; flash_attn_func's default is one split
    splits = wl.num_splits or _fa4_splits(hw, wl, cfg.block_kv)  # _get_fwd_config: the heuristic when < 1
    block_kv = cfg.block_kv
    if splits > 1 and wl.head_dim != wl.v_head_dim:
        if math.ceil(_fa4_loaded(wl) / cfg.block_kv) < FA4_SPLIT_DIFF_DIM_BLOCKS:
            return 1, cfg
        block_kv = FA4_SPLIT_DIFF_DIM_TILE
        splits = _fa4_splits(hw, wl, block_kv)
    if block_kv == cfg.block_kv and splits == 1:
        return 1, cfg
    if splits == 1:  # the narrowed tile, unsplit after all: O in the input dtype
        return 1, replace(cfg, block_kv=block_kv)
    return splits, fa4_split_ring(cfg, int(wl.head_dim), int(wl.v_head_dim), int(wl.dtype_bytes), block_kv,
                                  fast_ex2=sm_number(hw.arch) >= FA4_FAST_EX2_SM)


FA4_SPLIT_DIFF_DIM_BLOCKS, FA4_SPLIT_DIFF_DIM_TILE = 64, 64  # _get_fwd_config: "num_n_blocks >= 64", "tile_n = 64"


def _fa4_heuristic(sms: int, m_blocks: int, n_blocks: int) -> int:
    """flash_attn/cute/interface.py num_splits_heuristic: none for 4 key blocks or fewer, else min(SMs // m-blocks,
    128, key blocks), at least one."""
    return 1 if n_blocks <= FA3_MIN_SPLIT_BLOCKS else max(1, min(sms // m_blocks, MAX_SPLITS, n_blocks))


def _fa4_splits(hw, wl, block_kv: int) -> int:
    """num_splits_heuristic over total_mblocks = batch x KV heads x query blocks of q_stage x 128 packed rows."""
    packed = wl.seq_len * wl.group
    n_blocks = math.ceil(_fa4_loaded(wl) / block_kv)
    m_blocks = wl.batch * wl.kv_heads * _m_blocks(wl, (2 if packed > FA4_DECODE_ROWS else 1) * FA4_DECODE_ROWS)
    return _fa4_heuristic(hw.sms, m_blocks, n_blocks)


def fa4_sm90_splits(hw, wl, cfg) -> int:
    """What num_splits=0 resolves to on FA4's Hopper path: interface.py's _get_fwd_config runs num_splits_heuristic
    on sm_90 too, over query blocks of the sm90 tile (q_stage 1) and key blocks of its tile_n; the sm90 branch then
    asserts ``not is_split_kv`` ("SplitKV not supported on SM 9.0"), so a count above 1 is a failed call. ``cfg`` is
    the call's ``fa4_sm90`` config."""
    rows = wl.seq_len * (wl.group if cfg.pack_gqa else 1)
    m_blocks = wl.batch * wl.kv_heads * -(-rows // cfg.block_q)
    return _fa4_heuristic(hw.sms, m_blocks, math.ceil(_fa4_loaded(wl, cfg.block_q) / cfg.block_kv))


def _fa4_loaded(wl, tile_m: int = FA4_DECODE_ROWS) -> int:
    """The keys FA4's split heuristic counts: a local call's ``seqlen_k_loaded`` = min(seqlen_k, (right or
    seqlen_k) + (left or seqlen_k) + 1 + tile_m) (flash_attn/cute/interface.py _get_fwd_config; Python's ``or``
    reads a side of 0, such as a causal window's right = 0, as the whole sequence). window(w) is FA's (w - 1, 0);
    a causal call's right side is 0."""
    windows = [leaf for leaf in pattern_leaves(wl.pattern) if leaf.name == "window"] if wl.pattern else []
    if len(windows) != 1:
        return wl.kv_len
    left, right = window_sides(windows[0])
    right = 0 if pattern_causal(wl) else right  # _resolve_causal_local_window: causal sets right = 0
    return max(0, min(wl.kv_len, (right or wl.kv_len) + (left or wl.kv_len) + 1 + tile_m))


def _fa3_sm80_varlen(hw, wl, split: bool):
    """FA3's sm80 config of a decode call (varlen: flash_attn_with_kvcache passes cache_seqlens). get_num_splits
    sizes its heuristic with the varlen tile (hopper/flash_api.cpp: "we need to pass in (varlen &&
    params.num_splits > 1) but num_splits has not been set here"); the kernel then runs the split or unsplit one."""
    from simulator.gpu_kernels import fa3_keeps_causal, fa3_sm86_or_89, paged_cache
    from simulator.kernel_configs import fa3_sm80

    return fa3_sm80(int(wl.head_dim), int(wl.v_head_dim), int(wl.dtype_bytes), fa3_keeps_causal(wl), windowed(wl),
                    paged_cache(wl), varlen=True, split=split, sm86_or_89=fa3_sm86_or_89(hw.arch))


# vLLM's FlashAttention backend under full CUDA graphs (vllm/v1/attention/backends/flash_attn.py @ 0084b783, docs
# E's VB; since 8acb4bade, 2025-07-01): FlashAttentionMetadataBuilder sets max_num_splits =
# _DEFAULT_MAX_NUM_SPLITS_FOR_CUDA_GRAPH (16) and passes it as FA3's num_splits for a batch of at most
# max_cudagraph_size tokens (the largest capture size, 512 by default), else 0 (FA3's heuristic); newer vLLM makes it
# the config flash_attn_max_num_splits_for_cuda_graph (32 by 2026: --num-splits 32 states that), and
# VLLM_BATCH_INVARIANT sets 1 (--num-splits 1)
VLLM_GRAPH_NUM_SPLITS = 16
VLLM_MAX_CUDAGRAPH_TOKENS = 512


def engine_num_splits(wl) -> int | None:
    """The num_splits a serving engine passes FA3 for this call (--scope layer): vLLM's graph-captured one for a
    batch of at most VLLM_MAX_CUDAGRAPH_TOKENS new tokens; None for a larger (eager) one, outside --scope layer, and
    for the 2024 builds (vLLM ran FA3 from 2025)."""
    if engine_scheduler_metadata(wl) and wl.batch * wl.seq_len <= VLLM_MAX_CUDAGRAPH_TOKENS:
        return VLLM_GRAPH_NUM_SPLITS
    return None


def _fa3_decode_splits(hw, wl, cfg) -> tuple[int, int]:
    """(the split heuristic's count, each sequence's split count) of an FA3 decode call. mha_fwd's get_num_splits
    runs the heuristic over the key blocks a local call loads, ``seqlen_k_loaded`` = min(seqlen_k, right + left +
    1 + kBlockM), with ``total_mblocks`` counted for one sequence when the scheduler kernel splits dynamically
    (``num_splits_dynamic_ptr ? 1 : b``, hopper/flash_api.cpp); that count picks the Split kernel and the
    combine, and caps the count prepare_varlen_num_blocks then sets per sequence from all its key blocks
    (hopper/flash_prepare_scheduler.cu, since 2025-02-24: blocks_per_sm = ceil(total blocks x 1.1 x KV heads
    / SMs), splits = ceil(key blocks / blocks_per_sm), at least 1 and at most the cap; past 992 sequences it runs
    several CTAs and splits none, which the formula gives anyway: blocks_per_sm is then at least the blocks).
    The July 2024 builds have neither."""
    n_blocks = math.ceil(wl.kv_len / cfg.block_kv)
    loaded = wl.kv_len
    if windowed(wl) and (sides := _fa3_local_sides(wl)) is not None:  # a union loads as much as it may
        left, right = sides
        loaded = max(0, min(wl.kv_len, right + left + 1 + cfg.block_q))
    dynamic = current_fa3_build() != "2024-07"
    m_blocks = _m_blocks(wl, cfg.block_q)
    # num_splits = N (flash_attn_with_kvcache) is the cap itself: mha_fwd runs get_num_splits only for N <= 0, and
    # prepare_varlen_num_blocks takes N as "an upper bound on splits" (flash_prepare_scheduler.cu); a serving
    # engine's graph-captured call passes its own N (engine_num_splits)
    cap = wl.num_splits or engine_num_splits(wl) or _num_splits(
        hw.sms, (1 if dynamic else wl.batch) * wl.kv_heads * m_blocks, math.ceil(loaded / cfg.block_kv),
        FA3_MIN_SPLIT_BLOCKS)
    if cap == 1 or not dynamic:
        return cap, cap
    per_sm = math.ceil(float(np.float32(wl.batch * m_blocks * n_blocks) * np.float32(1.1) * np.float32(wl.kv_heads)
                             / np.float32(hw.sms)))
    return cap, max(min(-(-n_blocks // per_sm), cap), 1)


def _fa3_local_sides(wl) -> tuple | None:
    """FA3's window sides of a local call as the kernel receives them: a dropped side bounds at the sequence
    (left seqlen_k - 1, right seqlen_q - 1) and ``attention_chunk`` clips both to chunk - 1 (hopper/flash_api.cpp
    mha_fwd). None for a mask of several chunks, a chunk beside a window, or a union."""
    sides = fa_window_sides(wl, fa3=True)
    chunk = None
    if sides is None:  # a chunk, alone or with causal
        shape = pattern_shape(wl.pattern)
        chunks = [leaf.args[0] for leaf in shape.leaves if leaf.name == "chunked"]
        if shape.union or len(chunks) != 1 or wl.sparsity or any(leaf.name == "window" for leaf in shape.leaves):
            return None
        chunk = chunks[0]
        sides = (-1, 0 if pattern_causal(wl) else -1)
    left, right = (wl.kv_len - 1 if sides[0] < 0 else sides[0]), (wl.seq_len - 1 if sides[1] < 0 else sides[1])
    if chunk:
        left, right = min(left, chunk - 1), min(right, chunk - 1)
    return left, right


def fa3_row_range_splits(row_full, row_partial, splits: int):
    """(full, partial) tiles per query-block row and split when FA3 or FA4 splits a call: each row's own key-block
    range [n_block_min, n_block_max) in pieces of ceil(n / splits) blocks, the last ones short or empty
    (hopper/block.h and flash_attn/cute/block_info.py, get_n_block_min_max with Split). A row's masked tiles are
    spread over its pieces in proportion."""
    n = np.asarray(row_full) + np.asarray(row_partial)
    piece = -(-n // splits)
    tiles = np.clip(n[:, None] - np.arange(splits)[None, :] * piece[:, None], 0, piece[:, None])
    full_share = np.divide(row_full, n, out=np.zeros(n.shape), where=n > 0)[:, None]
    return tiles * full_share, tiles * (1 - full_share)


def fa3_kv_cache_call(seq_len, kv_len, paged: bool = False):
    """A call through FA3's KV-cache entry point: new queries against a longer KV cache, or a paged one
    (flash_attn_with_kvcache, num_splits = 0: get_num_splits has no condition on the query length, so 9 or 64
    speculative or chunked queries split as one does). A call whose keys are its own
    queries (kv_len <= seq_len, no pages) is flash_attn_func's however short: one split and no scheduler kernel,
    so 16 tokens cost no more than 64."""
    return (kv_len > seq_len) | paged


def fa4_decode(seq_len, group, kv_len, paged: bool = False):
    """A decode call for FA4, which has no KV-cache entry point: a call whose queries of a KV head, packed, fit
    its 128-row tile (or one query whose KV head packs more heads than that) against a longer or paged cache,
    as benchmark_attn.py times it with num_splits = 0; a column of them for columns of sizes."""
    return ((seq_len * group <= FA4_DECODE_ROWS) | (seq_len == 1)) & ((kv_len > seq_len) | paged)


def _m_blocks(wl, block_q: int) -> int:
    """Query blocks of one packed KV head: ceil(seqlen_q x group / kBlockM) (get_num_splits' num_m_blocks)."""
    return -(-wl.seq_len * wl.group // block_q)


def _num_splits(num_sms: int, ctas: int, n_kv_blocks: int, min_blocks: int = 0, skip_same_blocks=False) -> int:
    """The split-KV count of FlashAttention's num_splits_heuristic (FA2 flash_api.cpp, FA3 hopper/heuristics.h):
    none when the CTAs nearly fill ``num_sms``, else the fewest splits within 85% of the best wave efficiency.
    FA2 skips a count that leaves as many blocks per split as the count before (``skip_same_blocks``);
    FA3's version has no such rule. FA3's extra clause for KV heads over 50 MB (long prefill) is left out."""
    if is_columns(ctas):  # one heuristic run per distinct (CTAs, KV blocks) pair that may split
        ctas, n_kv_blocks = np.broadcast_arrays(np.asarray(ctas), np.asarray(n_kv_blocks))
        out = np.ones(ctas.shape, dtype=np.int64)
        open_ = (ctas < FULL_WAVE_FRACTION * num_sms) & (n_kv_blocks > min_blocks)
        if open_.any():
            pairs, index = np.unique(np.stack([ctas[open_], n_kv_blocks[open_]]), axis=1, return_inverse=True)
            out[open_] = np.array([_num_splits(num_sms, int(c), int(n), min_blocks, skip_same_blocks)
                                   for c, n in pairs.T])[index.reshape(-1)]
        return out
    if ctas >= FULL_WAVE_FRACTION * num_sms or n_kv_blocks <= min_blocks:
        return 1
    limit = min(MAX_SPLITS, num_sms, n_kv_blocks)
    eff = {}
    for s in range(1, limit + 1):
        if skip_same_blocks and s > 1 and math.ceil(n_kv_blocks / s) == math.ceil(n_kv_blocks / (s - 1)):
            continue
        # in float as the kernels' C++ computes it (float n_waves, eff and max_efficiency; 0.85 * max in double)
        waves = np.float32(np.float32(ctas * s) / np.float32(num_sms))
        eff[s] = float(np.float32(waves / np.float32(math.ceil(waves))))
    best = max(eff.values())
    return min(s for s, e in eff.items() if e >= SPLIT_EFFICIENCY_SLACK * best)
