"""What a block-sparse kernel pays beyond its tiles: reading the block index of every row it runs.

Which masks read an index. A kernel derives the key blocks of causal and sliding-window rows from the row
number (FlashAttention's n_block_min / n_block_max; FA3's attention_chunk for chunks), of sink + local
"streaming" rows likewise (mit-han-lab/Block-Sparse-Attention @ 49d6c39e, csrc/block_sparse_attn/src/
flash_blockmask.h, ``fwdStreaming::mask_val`` computes each block from sink and local counts), and of
neighborhood attention from the tile's coordinates (NATTEN). Every other mask (top-k, budget, random
blocks, strided, vertical-slash, global tokens, ``--sparsity``) is a list of block indices in memory the
kernel walks: Block-Sparse-Attention's ``fwdBlockmask`` for the FA2-style families, FlashAttention's CuTe
block sparsity (flash_attn/cute/block_sparse_utils.py, ``BlockSparseTensors``: per row a block count and
an int32 index list) for FA3 and FA4, which have no sink or streaming mode.

What reading it costs (L2 hits: the index of a head is small and every CTA of the head reads its own row):
- FA2-style kernels (Block-Sparse-Attention, flash_fwd_kernel.h ``compute_block_attn_1rowblock``, built on
  FA2 2.4.2): before loading Q the row runs ``max_no_larger``, a binary search over its index entries
  (``flash_blockmask.h``): ceil(log2 N) + 1 dependent reads for N key blocks; in the loop each tile reads the
  next index (``blockmask.mask_val(mask_block_idx)`` at the top of the iteration) and needs it only after
  the QK GEMM, for the next K address, so only the latency beyond that GEMM shows. Its causal loop runs
  the ``n_masking_steps`` diagonal iterations whether or not the row keeps their blocks; a skipped one still
  loads a V tile, waits for it and runs the softmax over a cleared tile (the ``is_skip`` branch).
- Warp-specialized kernels (CuTe ``produce_block_sparse_loads`` / ``_sm100``): the producer warp reads the
  row's counts, then its first index, before the row's first K load (two dependent reads); later indices
  are read while it waits for a free pipeline stage, hidden. A persistent kernel issues them while the
  previous row's last stages still compute.
- MInference's vertical-slash kernel (vllm-project/flash-attention csrc/flash_attn/src/flash_fwd_sparse_kernel.h,
  ``sparse_attn_1rowblock``, FA2-style): the row reads its block and column counts, then its first block offset,
  before its first K load; each next offset (``blks_ptr[block_index - 1]``) and each strip's 64 column indices
  are read after the tile's QK GEMM and ``__syncthreads``, right before the next K load is issued, so their
  latency shows; the row's list is consecutive ints, so after the first line they are L1 hits.
Each stall is hidden by the SM's other resident CTAs but for 1/(CTAs per SM) of it, as the prologue's
first-load latency is (tile_cost.prologue_cycles): that first load, now behind the index chain, is the
pipeline fill a row pays however few tiles it keeps.
"""

import math
from dataclasses import dataclass

from simulator._numpy import np

from simulator import tiles as tile_source
from simulator.columns import is_columns
from simulator.gpu_kernels import sm_number

# L2 hit latency in SM cycles: the plateau of a pointer chase whose footprint fits L2 (RRZE-HPC/gpu-benches
# @ 1038c5d0, gpu-latency/a100_80.txt: 205.7 cycles from 0.5 to 16 MB at 1410 MHz; gh200.txt, the 132-SM
# GH100: 280.4 cycles from 0.5 to 25 MB at 1980 MHz). That suite publishes no Blackwell chase: sm_100 takes
# Hopper's, as another suite reads the two alike (markdewing/AI_kernels latency/data/{b200,h100sxm}.dat @ b6bc563: L2
# plateaus of 292.8-299 and 290.4-295 cycles, within 1%; docs/kernels.md D7). Keyed by the lowest sm each applies to.
L2_HIT_CYCLES = {80: 205.7, 90: 280.4}
# L1 hit latency, the same chases' plateau below the L1 size (a100_80.txt: 33.0 cycles; gh200.txt: 32.0 cycles).
L1_HIT_CYCLES = {80: 33.0, 90: 32.0}
VS_ROW_READS = 2  # the vertical-slash kernel: the row's counts (read together), then its first block offset
INDEX_BYTES = 4  # int32 block indices and counts (Block-Sparse-Attention's row_blockmask, CuTe's mask_block_idx)
WS_ROW_READS = 2  # warp-specialized producer: the row's counts, then its first index, before its first K load
# Masks each kind of kernel derives from the row number, never reading an index (see the module docstring).
COMPUTED = {"fa2": {"full", "causal", "window", "sinks", "window2d", "window3d"},
            "ws": {"full", "causal", "window", "window2d", "window3d"}}
FA3_CHUNK = "chunked"  # FA3 sm90's attention_chunk bounds a chunk's blocks arithmetically too


def style(cfg) -> str:
    """'ws' for warp-specialized kernels (a producer warp loads K/V: FA3 on Hopper, FA4), else 'fa2'."""
    return "ws" if cfg.overlap else "fa2"


def index_style(cfg, mask: str | None) -> str:
    """How a call walks its index: 'vs' for MInference's vertical-slash kernel (causal&vertical_slash alone), else
    the kernel's style."""
    if mask and "vertical_slash" in mask:
        from einsum_cascades.sparsity import parse_pattern
        from einsum_cascades.sparsity._vslash import resolve

        if resolve(parse_pattern(mask)) is not None:
            return "vs"
    return style(cfg)


def reads_index(cfg, arch: str, mask: str | None, sparsity: float) -> bool:
    """Whether a call of this kernel walks a block index for ``mask`` (random blocks when ``sparsity`` > 0)."""
    if sparsity > 0:
        return True
    if not mask:
        return False
    from einsum_cascades.sparsity import parse_pattern

    computed = set(COMPUTED[style(cfg)])
    if cfg.family == "flash3" and sm_number(arch) >= 90:
        computed.add(FA3_CHUNK)
    return not {leaf.name for leaf in parse_pattern(mask).leaves()} <= computed


def l2_hit_cycles(arch: str, table: dict = L2_HIT_CYCLES) -> float:
    sm = sm_number(arch)
    return table[max((k for k in table if k <= sm), default=min(table))]


@dataclass(frozen=True)
class RowIndexCost:
    """SM cycles a row of an index-reading call pays besides its tiles, given its full and partial tiles:
    ``fixed`` (index reads before its first load), ``per_tile`` (each tile's read, beyond what hides it), and
    ``skip_step`` for each masked step of the FA2-style loop the row's mask leaves out: under causal, its
    ``diagonal`` tiles (each row's partial tiles under plain causal) less those it keeps (kept diagonal tiles
    stay partial); else the one step on the row's last key block, kept as often as the row keeps any block."""

    fixed: float
    per_tile: float
    skip_step: float = 0.0
    masking_steps: int = 0
    diagonal: object = None
    n_kv_blocks: int = 1
    split_diagonal: object = None  # FA2's split-KV kernel: each split's own diagonal tiles [rows, splits]
    split_blocks: object = None  # and its own key blocks [splits]: its loop's masked steps are its own

    def __call__(self, full, partial):
        n = full + partial
        split = np.ndim(partial) == 2 and self.split_blocks is not None  # [rows, splits]
        if self.diagonal is not None:
            diagonal = self.diagonal if np.ndim(partial) < 2 else (
                self.split_diagonal if split else self.diagonal[:, None])
            skipped = np.maximum(diagonal - partial, 0)
        elif split:
            blocks = self.split_blocks
            skipped = np.minimum(self.masking_steps, blocks) * (1.0 - np.minimum(n / np.maximum(blocks, 1), 1.0))
        else:
            skipped = min(self.masking_steps, self.n_kv_blocks) * (1.0 - np.minimum(n / self.n_kv_blocks, 1.0))
        return self.fixed + n * self.per_tile + skipped * self.skip_step


def row_cycles(cfg, hw, wl, tile, ctas_per_sm: int, n_kv_blocks: int, block_q: int, kind: str = "",
               packing=None, splits=1) -> RowIndexCost:
    """The fixed SM cycles of a row of an index-reading call (stalls count 1/ctas_per_sm: the SM's other CTAs
    fill them; a skipped step's softmax does not hide); ``kind`` 'vs': MInference's vertical-slash kernel;
    ``packing`` (``tiles.Packing``): the rows are a packed kernel's tiles; ``splits``: FA2's split-KV kernel's
    splits of the whole key range (and FA3's of a row's own range, the whole range without causal), each CTA a split
    of a row whose loop runs its own masked steps (the diagonal tiles that fall in the split; else the one step on
    the split's last key block), not its row's."""
    lat = l2_hit_cycles(hw.arch)
    if kind == "vs":  # counts and first offset before the first load; each next index after the QK GEMM
        return RowIndexCost(VS_ROW_READS * lat / ctas_per_sm, l2_hit_cycles(hw.arch, L1_HIT_CYCLES) / ctas_per_sm)
    if style(cfg) == "ws":
        chain = WS_ROW_READS * lat
        if cfg.persistent:  # the producer reads it while the previous row's last stages compute
            chain = max(0.0, chain - cfg.kv_stages * tile.cycles)
        return RowIndexCost(chain / ctas_per_sm, 0.0)
    search = (math.ceil(math.log2(max(n_kv_blocks, 1))) + 1) * lat  # max_no_larger, then the first mask_val
    kd, kdv = cfg.mma_dims(wl.head_dim, wl.v_head_dim)  # the GEMMs run at the compiled head dims
    per_tile = max(0.0, lat - tile.gemm * kd / (kd + kdv))  # beyond the QK GEMM
    diagonal = split_diagonal = split_blocks = None
    if wl.causal:
        diagonal = tile_source.group_rows("causal", wl.seq_len, wl.kv_len, block_q, cfg.block_kv, packing).row_partial
    if (cfg.split_kernel or not wl.causal) and not is_columns(splits) and splits > 1:  # pieces of the key range
        # (FA3's and FA4's of each row's own range, which is the whole range without causal)
        piece = -(-max(n_kv_blocks, 1) // splits)
        split_blocks = np.clip(max(n_kv_blocks, 1) - np.arange(splits) * piece, 0, piece)
        if wl.causal:
            counts = tile_source.split_counts("causal", wl.seq_len, wl.kv_len, block_q, cfg.block_kv, splits)
            split_diagonal = None if counts is None else counts[1]
            split_blocks = None if counts is None else split_blocks
    return RowIndexCost(search / ctas_per_sm, per_tile / ctas_per_sm,
                        tile.softmax + hw.hbm_latency_s * hw.sustained_clock_hz / ctas_per_sm,
                        masking_steps(cfg, wl, block_q), diagonal, max(n_kv_blocks, 1), split_diagonal, split_blocks)


def masking_steps(cfg, wl, block_q: int) -> int:
    """Iterations of the FA2-style loop's masked part, run whether or not the mask keeps their blocks
    (compute_block_attn_1rowblock: ``n_masking_steps``; a skipped one still loads its V, waits for it and runs
    the softmax over a cleared tile): 1 without causal, else ceil(kBlockM / kBlockN), one more unless both
    lengths are whole tiles (Is_even_MN)."""
    if not wl.causal:
        return 1
    even = wl.seq_len % block_q == 0 and wl.kv_len % cfg.block_kv == 0
    return -(-cfg.block_q // cfg.block_kv) + (0 if even else 1)


def index_bytes(cfg, tiles, heads: int) -> float:
    """Index bytes the call reads: every row's visited entries and its end mark (FA2-style) or its two counts
    (warp-specialized), per head. The binary search's reads land on the same rows' entries."""
    per_row = 1 if style(cfg) == "fa2" else WS_ROW_READS
    return INDEX_BYTES * heads * (tiles.visited + per_row * tiles.n_rows)
