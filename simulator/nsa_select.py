"""NSA's selected-attention kernel (``--algo nsa-select``) and its KV-outer loop order (``nsa-select@kv-outer``).

Each query token attends the ``topk(k)`` key blocks it selects itself (blocks of ``--block-size`` keys, default
64, at or before the token; its own block always, as NSA's top-k forces it: ``parallel_nsa_kernel_topk`` gives
the current block score 1). Not a tile mask: tokens of one query tile select different blocks.

- ``nsa-select`` (NSA, Yuan et al., arXiv 2502.11089, Sec. 3.4; fla-org/native-sparse-attention @ bd67af59,
  native_sparse_attention/ops/parallel.py, ``parallel_nsa_fwd_kernel``): one program per (token, KV head), its
  query group's G heads as the MMA rows ([G, BK] Q kept on chip), looping over the token's own selected blocks:
  each loads that block's K and V ([BK, BS], [BS, BV]) and computes [G, BS] scores. No K/V is shared across a
  query tile, so every (token, block) pair streams its block from L2. tl.dot needs 16 rows and powers of two:
  the rows are padded to max(16, next power of two of G).
- ``nsa-select@kv-outer`` (Flash Sparse Attention, Yan et al., arXiv 2508.18224; Relaxed-System-Lab/
  Flash-Sparse-Attention fsa/ops/FSA_topk_sparse_attention.py): per (selected block, query head) the tokens that
  chose it are gathered into tiles of 32 rows, 8 tiles per CTA sharing one load of the block's K/V
  (``qkv_kernel_cuda``: BLOCK_SIZE_Q 32, num_q_blocks 8); ``qk_kernel`` first computes every tile's row maxima
  (a QK pass); each (token, block, head) writes an fp32 partial output with its max and sum, and ``reduce_kernel``
  merges a token's k partials. With blocks past 128 keys (MoBA's 4096-key chunks) the kernels are MoBA's two
  FlashAttention-2 varlen calls (MoBA @ 61e456bc, moba/moba_efficient.py, ``_flash_attn_varlen_forward``): each
  chunk's own queries over it causally, and each chunk's gathered later queries over it, at FA2's own tile, the
  two outputs merged by a log-sum-exp combine (``_moba_calls``).

A token's k - 1 other blocks are drawn evenly among its earlier blocks (attnsim draws; a model's scores pick
them): a block's expected selectors give the KV-outer tiles, and tokens in flight miss L2 as their union of
blocks (a KV head's keys so far) exceeds it.
"""

import math

import numpy as np

from einsum_cascades.errors import UserError
from simulator.cost import Cost
from simulator.gpu_kernels import KernelConfig
from simulator.kernel_configs import compiled_head_dims
from simulator.schedule import grid_makespan, resident_ctas
from simulator.tile_cost import prologue_cycles, tensor_dtype, tile_cycles

FAMILIES = ("nsa-select", "nsa-select@kv-outer")
NSA_BLOCK = 64  # parallel_nsa: block_size = 64
MMA_MIN_ROWS = 16  # mma.sync m16n8k16, the smallest tl.dot
WARPS = 4  # the autotuner's largest num_warps (1, 2, 4)
STAGES = 3  # triton.Config's default num_stages
REGS = 128  # registers per thread a small Triton attention kernel takes
FSA_Q_TILE, FSA_Q_TILES_PER_CTA = 32, 8  # FSA qkv_kernel_cuda: BLOCK_SIZE_Q, num_q_blocks
PARTIAL_BYTES = 4  # fp32 partial outputs, maxima and sums
TRITON_LIMIT = {80: 128, 90: 256}  # BK = min(128, next_pow2(K)) below sm90, 256 from it; one K tile (NK == 1)


def selection(wl) -> tuple[int, int]:
    """(k, block) of the call: its pattern must be causal&topk(k) (NSA's selection is causal)."""
    from einsum_cascades.sparsity import parse_pattern

    leaves = [leaf for leaf in parse_pattern(wl.mask_expr).leaves()] if wl.mask_expr else []
    names = sorted(leaf.name for leaf in leaves)
    if names != ["causal", "topk"] or "|" in wl.mask_expr or "heads" in wl.mask_expr:
        raise UserError(f"bad pattern {wl.mask_expr or '(none)'} for nsa-select: each token attends the topk(k) "
                        f"blocks it selects, causally; use --causal --pattern 'topk(k)' (NSA: topk(16) of 64-key blocks; "
                        f"MoBA: topk(12) of 4096-key chunks)")
    if np.any(wl.sparsity):
        raise UserError(f"nsa-select keeps the topk(k) blocks of its pattern a token, which no --sparsity resizes: got "
                        f"--sparsity {float(np.max(wl.sparsity)):g} (a sparsity sweep or plot sets one); drop it and set k in "
                        "--pattern 'topk(k)'")
    block = wl.block_size or NSA_BLOCK
    if block < MMA_MIN_ROWS or block & (block - 1):
        raise UserError(f"bad block-size {block} for nsa-select: Triton blocks are powers of two of at least 16")
    return next(leaf for leaf in leaves if leaf.name == "topk").args[0], block


MAX_BLOCKS = 1 << 24  # key blocks a call may have (its per-block counts are arrays of that many)


def counts(wl, k: int, block: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per key block J: (query tokens whose own block it is, the blocks each of them keeps, the expected tokens
    selecting block J). The token at key p sees n = p // block + 1 blocks and keeps min(k, n): its own and
    min(k, n) - 1 of the n - 1 earlier ones, evenly."""
    n_blocks = math.ceil(wl.kv_len / block)
    if n_blocks > MAX_BLOCKS:
        raise UserError(f"nsa-select at kv-len {wl.kv_len:,} in blocks of {block} has {n_blocks:,} blocks; at most "
                        f"{MAX_BLOCKS:,} (2**24): use larger blocks or a shorter call")
    first, start = wl.kv_len - wl.seq_len, np.arange(n_blocks, dtype=np.int64) * block
    tokens = np.maximum(0, np.minimum(start + block, wl.kv_len) - np.maximum(start, first))
    kept = np.minimum(k, np.arange(n_blocks) + 1)
    share = tokens * np.where(start > 0, (kept - 1) / np.maximum(np.arange(n_blocks), 1), 0.0)  # per earlier block
    later = np.concatenate([np.cumsum(share[::-1])[::-1][1:], [0.0]])  # summed over the tokens of later blocks
    return tokens, kept, tokens + later


def touched_keys(wl, selectors, block: int) -> float:
    """Keys of one KV head's cache whose block some query token reads: each block with at least one expected
    selector read whole, one with fewer in that share (a decode step's one token reads its own block and k - 1 of
    the earlier ones, not the cache; a prefill's tokens between them read every block)."""
    start = np.arange(selectors.size, dtype=np.int64) * block
    return float(np.dot(np.minimum(1.0, selectors), np.minimum(start + block, wl.kv_len) - start))


def _pow2(x: int) -> int:
    return 1 << (x - 1).bit_length()


def config(hw, wl, rows: int, kv: int) -> KernelConfig:
    """A Triton tile of ``rows`` x ``kv``: mma.sync (no wgmma or tcgen05 at 16 rows), no warp specialisation,
    STAGES K/V loads in flight. Its K and V blocks are BK = next_pow2(K), BV = next_pow2(V) wide (one tile,
    TRITON_LIMIT), masked beyond the head dims: the MMAs and smem tiles span the padded widths."""
    kd, kdv = _pow2(wl.head_dim), _pow2(wl.v_head_dim)
    smem = (rows * kd + STAGES * kv * (kd + kdv)) * wl.dtype_bytes
    return KernelConfig("nsa-select", rows, kv, WARPS, 1, 0, "mma_sync", False, True, smem, REGS, False, False,
                        kv_stages=STAGES, head_dims=compiled_head_dims(wl.head_dim, wl.v_head_dim, kd, kdv))


def check(hw, wl) -> None:
    from simulator.gpu_kernels import sm_number

    limit = TRITON_LIMIT[90 if sm_number(hw.arch) >= 90 else 80]
    if max(wl.head_dim, wl.v_head_dim) > limit:
        raise UserError(f"nsa-select's Triton kernel loads one K tile of at most {limit} channels on {hw.name} "
                        f"(parallel_nsa_fwd: NK == 1); got head dims {wl.head_dim}/{wl.v_head_dim}")
    if wl.dtype not in ("fp16", "bf16"):
        raise UserError(f"nsa-select has no {wl.dtype} kernel: use fp16 or bf16")


def simulate(hw, algo: str, wl):
    """The call's Result (``gpu_model._finish``): the main kernel under its roofs, the extra kernels after it."""
    from simulator.gpu_model import _finish, _roof_times, _stream_fill, grid_bound

    check(hw, wl)
    k, block = selection(wl)
    tokens, kept, selectors = counts(wl, k, block)
    kv_outer = algo.endswith("kv-outer")
    main, extra, detail = (_kv_outer if kv_outer else _q_outer)(hw, wl, tokens, kept, selectors, block)
    times = _roof_times(hw, wl, main["cost"], "mma_sync")
    times["compute"] = main["cycles"] / hw.sustained_clock_hz
    times["stream_fill"] = _stream_fill(hw, main["tile"])
    times["combine"] = sum(extra.values())
    cost = main["cost"] + Cost(launches=len(extra))
    times["launch"] = cost.launches * hw.launch_overhead_s
    pairs = float(np.dot(tokens, kept))  # (token, block) pairs of one head
    # the own block is causal, for each token that has one (bottom-right: of more queries than keys, the first see
    # none; counting every query had made a 4,096-query call over 256 keys attend a negative number of keys)
    attended = pairs * block - float(np.sum(tokens)) * (block - 1) / 2
    tiles = _Tiles(attended, pairs / (wl.seq_len * math.ceil(wl.kv_len / block)))
    detail.update(selected_blocks=k, select_block=block, extra_kernels=extra,
                  loop="kv-outer" if kv_outer else "q-outer",
                  loads_in_mma_warps=True)  # a Triton kernel's warps load their own blocks (gpu_model.blend_weight)
    return grid_bound(_finish(hw, algo, wl, cost, times, main["bound"], tiles, detail), detail["ctas"],
                      hw.sms * detail["resident_ctas"])


class _Tiles:
    def __init__(self, attended, density):
        self.attended, self.block_density = attended, density


def _q_outer(hw, wl, tokens, kept, selectors, block):
    """NSA's loop: a program per (token, KV head), its group's rows, its own blocks one after another."""
    b, d, dv = wl.dtype_bytes, wl.head_dim, wl.v_head_dim
    rows = max(MMA_MIN_ROWS, _pow2(wl.group))
    cfg = config(hw, wl, rows, block)
    programs = wl.batch * wl.kv_heads
    occupancy = cfg.ctas_per_sm(hw)
    slots_per_sm = resident_ctas(hw, occupancy, int(np.sum(tokens)) * programs)  # grid (T, NV, B x Hkv)
    tile = tile_cycles(cfg, hw, wl, partial=True, resident=slots_per_sm)
    pro = prologue_cycles(cfg, hw, wl, wl.group, tile, slots_per_sm)
    # grid (T, NV, B x Hkv): tokens fastest, every KV head's tokens alike
    cycles = _schedule(pro + kept * tile.cycles, tokens, programs, hw.sms * slots_per_sm) * slots_per_sm
    pairs = float(np.dot(tokens, kept)) * programs  # (token, KV head, block) loads
    kv_tile = block * (d + dv) * b
    l2 = pairs * kv_tile + programs * wl.seq_len * wl.group * (d + dv) * b
    keys = touched_keys(wl, selectors, block)
    compulsory = wl.batch * (wl.heads * wl.seq_len * (d + dv) + wl.kv_heads * keys * (d + dv)) * b
    working_set = keys * (d + dv) * b  # tokens in flight are consecutive tokens of one KV head
    hbm = compulsory + max(0.0, 1.0 - hw.l2_bytes / working_set) * max(l2 - compulsory, 0.0)
    scores = pairs * rows * block
    cost = _work(cfg, wl, scores, pairs, rows, l2, hbm)
    return dict(cost=cost, cycles=cycles, tile=tile.cycles, bound=tile.bound), {}, dict(
        block_q=rows, block_kv=block, ctas_per_sm=occupancy, resident_ctas=slots_per_sm, splits=1,
        tile_cycles=tile.cycles, partial_tile_cycles=tile.cycles, tile_bound=tile.bound, clock_hz=hw.sustained_clock_hz,
        packed_gqa=True, ctas=int(np.sum(tokens)) * programs)


def _moba_calls(hw, wl, tokens, selectors, block):
    """MoBA's two FlashAttention-2 varlen calls (MoonshotAI/MoBA @ 61e456bc, moba/moba_efficient.py,
    ``MixedAttention.forward``): each chunk's own queries over that chunk, causal (``self_attn_cu_seqlen`` = the
    chunks, ``causal=True``), then each chunk's gathered queries from later chunks over the whole chunk, not causal;
    a log-sum-exp merge of the two outputs after. Where no token selects an earlier chunk (one chunk, or topk(1):
    ``need_moba_attn`` false) ``moba_attn_varlen`` returns one causal ``flash_attn_varlen_func`` call, no gate, no
    merge. Both run FA2's own kernel for the head dims (``kernel_config``: its tile, warps and occupancy).
    Returns (that config, the key tiles of each own-chunk CTA, the key tiles of each gathered-query CTA)."""
    from dataclasses import replace

    from simulator.gpu_kernels import kernel_config

    cfg = kernel_config("flash2", hw, replace(wl, pattern=None, sparsity=0.0, block_size=None, causal=True,
                                             estimate=None, varlen=True))
    q_tile, kv = cfg.block_q, cfg.block_kv
    n_blocks = tokens.size
    chunk_len = np.minimum(block, wl.kv_len - np.arange(n_blocks, dtype=np.int64) * block)
    own = []  # key tiles of each own-chunk CTA: its rows' causal reach into the chunk
    for c in np.flatnonzero(tokens):
        first = int(chunk_len[c] - tokens[c])  # the chunk's first query (its keys before are the cache's)
        ends = np.minimum(np.arange(first + q_tile, first + int(tokens[c]) + q_tile, q_tile), chunk_len[c])
        own.append(np.ceil(ends / kv).astype(np.int64))
    own_tiles = np.concatenate(own) if own else np.zeros(0, np.int64)
    gathered = np.ceil(np.maximum(selectors - tokens, 0) / q_tile).astype(np.int64)  # later chunks' queries
    other_tiles = np.repeat(np.ceil(chunk_len / kv).astype(np.int64), gathered)
    return cfg, own_tiles, other_tiles


def _kv_outer(hw, wl, tokens, kept, selectors, block):
    """FSA's loop: per (block, query head) the tokens that chose it (MoBA's varlen calls past 128-key blocks:
    ``_moba``)."""
    if block > 128:
        return _moba(hw, wl, tokens, selectors, block)
    b, d, dv, clock = wl.dtype_bytes, wl.head_dim, wl.v_head_dim, hw.sustained_clock_hz
    q_tile, per_cta, kv = FSA_Q_TILE, FSA_Q_TILES_PER_CTA, block
    cfg = config(hw, wl, q_tile, kv)
    q_tiles = np.ceil(selectors / q_tile).astype(np.int64)
    ctas = -(-q_tiles // per_cta)
    kv_tiles = block // kv
    heads = wl.batch * wl.heads
    occupancy = cfg.ctas_per_sm(hw)
    slots_per_sm = resident_ctas(hw, occupancy, int(np.sum(ctas)) * heads)
    tile = tile_cycles(cfg, hw, wl, partial=True, resident=slots_per_sm)
    pro = prologue_cycles(cfg, hw, wl, q_tile, tile, slots_per_sm)
    rem = q_tiles % per_cta  # a block's CTAs hold per_cta query tiles each, the last one what is left
    work = np.concatenate([np.repeat(np.full(q_tiles.size, per_cta), q_tiles // per_cta), rem[rem > 0]])
    cycles = _schedule(pro + work * kv_tiles * tile.cycles, None, heads, hw.sms * slots_per_sm) * slots_per_sm
    pairs = float(np.dot(tokens, kept)) * heads  # (token, head, block) partial outputs
    n_tiles = float(np.sum(q_tiles)) * heads * kv_tiles
    kv_loads = float(np.sum(ctas)) * heads * kv * (d + dv) * b  # one load of the block a CTA
    q_loads = pairs * d * b
    partial = pairs * (dv + 2) * PARTIAL_BYTES
    l2 = kv_loads + q_loads + partial
    compulsory = wl.batch * wl.kv_heads * touched_keys(wl, selectors, block) * (d + dv) * b
    hbm = compulsory + q_loads + partial  # gathered Q and the partials have no reuse L2 can hold
    scores = n_tiles * q_tile * kv
    cost = _work(cfg, wl, scores, n_tiles, q_tile, l2, hbm)
    extra = {"merge partials": _stream(hw, 2 * partial + heads * wl.seq_len * dv * b)}
    # qk_kernel: each tile's row maxima before the main pass
    flops = n_tiles * q_tile * kv * 2 * cfg.mma_dims(d, dv)[0]
    rate = hw.sms * hw.path_flops_per_clk_sm("mma_sync", tensor_dtype(hw, wl)) * clock * hw.mma_path("mma_sync")[0]
    extra["row maxima (qk_kernel)"] = (max(flops / rate, (kv_loads + q_loads) / hw.l2_bw_bytes_s)
                                       + hw.launch_overhead_s)
    most = float(np.max(kept[tokens > 0]))
    extra["block -> tokens"] = _stream(hw, wl.batch * wl.kv_heads * wl.seq_len * most * 8)
    return dict(cost=cost, cycles=cycles, tile=tile.cycles, bound=tile.bound), extra, dict(
        block_q=q_tile, block_kv=kv, ctas_per_sm=occupancy, resident_ctas=slots_per_sm, splits=1, tile_cycles=tile.cycles,
        partial_tile_cycles=tile.cycles, tile_bound=tile.bound, clock_hz=clock, packed_gqa=False,
        ctas=int(np.sum(ctas)) * heads)


def _moba(hw, wl, tokens, selectors, block):
    """MoBA's calls (``_moba_calls``) on every query head: the CTAs' key tiles at FA2's tile, the merge after."""
    b, d, dv, clock = wl.dtype_bytes, wl.head_dim, wl.v_head_dim, hw.sustained_clock_hz
    cfg, own_tiles, other_tiles = _moba_calls(hw, wl, tokens, selectors, block)
    q_tile, kv = cfg.block_q, cfg.block_kv
    heads = wl.batch * wl.heads
    works_tiles = np.concatenate([own_tiles, other_tiles])
    occupancy = cfg.ctas_per_sm(hw)
    slots_per_sm = resident_ctas(hw, occupancy, int(works_tiles.size) * heads)
    tile = tile_cycles(cfg, hw, wl, partial=True, resident=slots_per_sm)
    pro = prologue_cycles(cfg, hw, wl, q_tile, tile, slots_per_sm)
    cycles = _schedule(pro + works_tiles * tile.cycles, None, heads, hw.sms * slots_per_sm) * slots_per_sm
    n_tiles = float(np.sum(works_tiles)) * heads
    ctas = float(works_tiles.size) * heads
    kv_loads = n_tiles * kv * (d + dv) * b
    mixed = other_tiles.size > 0  # gathered queries: the second call and the merge
    gathered = float(np.sum(np.maximum(selectors - tokens, 0))) * heads if mixed else 0.0
    q_loads = (heads * wl.seq_len + gathered) * d * b
    partial = (heads * wl.seq_len + gathered) * (dv + 2) * PARTIAL_BYTES if mixed else 0.0
    l2 = kv_loads + q_loads + partial
    compulsory = wl.batch * wl.kv_heads * wl.kv_len * (d + dv) * b + heads * wl.seq_len * (d + dv) * b
    hbm = compulsory + (gathered * d * b + partial if mixed else 0.0)  # gathered Q and the partials: no reuse
    cost = _work(cfg, wl, n_tiles * q_tile * kv, n_tiles, q_tile, l2, hbm)
    extra = {"merge partials": _stream(hw, 2 * partial + heads * wl.seq_len * dv * b)} if mixed else {}
    return dict(cost=cost, cycles=cycles, tile=tile.cycles, bound=tile.bound), extra, dict(
        block_q=q_tile, block_kv=kv, ctas_per_sm=occupancy, resident_ctas=slots_per_sm, splits=1,
        tile_cycles=tile.cycles, partial_tile_cycles=tile.cycles, tile_bound=tile.bound, clock_hz=clock,
        packed_gqa=False, moba_calls=2 if mixed else 1, ctas=int(ctas))


EXACT_CTAS = 1 << 20  # past this many CTAs the grid is scheduled in waves of its longest CTA


def _schedule(works: np.ndarray, counts, repeats: int, slots: int) -> float:
    """Slot-cycles of ``repeats`` copies of the CTA works in order (``works[i]`` repeated ``counts[i]`` times, or once):
    greedy in-order dispatch (schedule.grid_makespan), or past EXACT_CTAS, waves of the longest CTA holding the total work
    (the same when the works are equal, and within a wave of it when only a few are shorter, as here: the first
    tokens' and the last blocks' CTAs)."""
    counts = np.ones(works.size, np.int64) if counts is None else counts
    n = int(counts.sum()) * repeats
    if n <= EXACT_CTAS:
        return grid_makespan(np.repeat(works, counts), repeats, slots)
    longest = float(works[counts > 0].max())
    return max(longest, math.ceil(repeats * float(np.dot(works, counts)) / (slots * longest)) * longest)


def _work(cfg, wl, scores, tiles, rows, l2, hbm) -> Cost:
    from simulator.tile_cost import EXP_POLY_FP32_OPS, MASK_FP32_PER_SCORE, ops_of

    kd, kdv = cfg.mma_dims(wl.head_dim, wl.v_head_dim)  # the padded BK / BV blocks
    ops = ops_of(cfg, kd, kdv)
    kv_tile = cfg.block_kv * (kd + kdv) * wl.dtype_bytes
    return Cost(hbm_bytes=hbm, l2_bytes=l2, onchip_bytes=tiles * 2 * kv_tile,
                tensor_flops=scores * ops.tensor_per_score + tiles * rows * ops.tensor_per_row,
                exp_ops=scores * ops.sfu_per_score + tiles * rows * ops.sfu_per_row,
                fma_ops=scores * (ops.fp32_poly(0.0, EXP_POLY_FP32_OPS) + MASK_FP32_PER_SCORE)
                + tiles * rows * ops.fp32_per_row, launches=1)


def _stream(hw, moved: float) -> float:
    """A memory-bound PyTorch or Triton kernel: its bytes at the element-wise streaming rate, plus a launch."""
    return moved / (hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency) + hw.launch_overhead_s
