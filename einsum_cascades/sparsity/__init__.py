"""Sparsity patterns: small mask predicates that compose (STYLE 6), lowered to full / partial / empty tiles.

A mask is True where query q (0 <= q < seq_len) may attend key k (0 <= k < kv_len).
Masks are bottom-right aligned like FlashAttention >= 2.1: with off = kv_len - seq_len,
query q sits on key q + off, and ``back = q + off - k`` is how far key k lies behind it.

- ``causal``: back >= 0 (square: k <= q; decode, seq_len 1: every key)
- ``window(w)``: 0 <= back < w, a local band of the last w keys up to and including the
  aligned diagonal; it is already causal (``causal&window(w)`` == ``window(w)``)
- ``window(l, r)``: -r <= back <= l, l keys before the aligned diagonal and r after it
  (bidirectional encoders; cut at the sequence ends: ``window(w)`` is ``window(w - 1, 0)``)
- ``chunked(w)``: k // w == (q + off) // w, query and key in the same block of w positions
  (block-diagonal; Llama 4's chunked local attention is ``causal&chunked(8k)``)
- ``sinks(n)``: k < n, the first n keys for every query (attention sinks)
- ``global(n)``: q < n or k < n (global tokens, Longformer / BigBird)
- ``strided(s)``: back % s == 0, both sides of the diagonal (Sparse Transformer strided
  heads); ``causal&strided(s)`` for the causal one
- ``vertical_slash(v, s[, place=log|even])``: MInference's vertical-slash heads: v key columns and s slash
  diagonals behind the aligned one (j = 0 is the diagonal itself). ``place=log`` (default) clusters them as
  MInference's estimate finds them in real models: its forced first 30 columns and 100 nearest diagonals, then
  equal numbers per doubling of distance; ``causal&vertical_slash(v, s)`` stands alone and is lowered as
  MInference's kernel runs it (slash ranges in 64x64 blocks, columns gathered in strips: ``_vslash``).
  ``place=even`` spreads them evenly (k = i * (kv_len // v), back = j * (seq_len // s)) and combines freely
- ``random_blocks(density[, seed])``: whole blocks kept with probability ``density`` by a
  deterministic hash of (block row, block column, seed). The block is the tile the
  pattern is lowered at: ``tile_counts(p, ..., 128, 64)`` flips one coin per 128x64 tile;
  element-level ``mask`` and ``element_density`` take the block as an argument
  (default 128x128), so both can be bound to the same tile
- ``topk(k[, seed])``: each query-block row keeps exactly min(k, candidates) key blocks, drawn
  (seeded) among the tiles of what it is intersected with (``causal&topk(8)``), block-sparse
  methods' top-k blocks; ``budget(n[, seed])``: decode's token budget, ceil(n / block) more causal
  key blocks per query-block row beyond what the rest attends whole (``sinks(64)|window(1k)|budget(4k)``).
  Blocks are the lowering tile, like random_blocks' coins (``_select``)
- ``window2d(H, W, kh, kw[, stride=(sh, sw)])``, ``window3d(T, H, W, kt, kh, kw[, stride=(st, sh, sw)])``:
  NATTEN's neighborhood attention on a row-major grid of seq_len tokens (window shifted at the
  borders, GNA stride), lowered on grid patches as NATTEN's kernels tile it (its default tile shapes, or
  the ones stated as ``q_tile=(...), kv_tile=(...)``, NATTEN's q_tile_shape / kv_tile_shape, whose sizes
  must be the kernel's tile); it stands alone (``_grid``; ``TileCounts.layout`` says how the tokens are
  permuted into tiles)
- ``full`` (alias ``dense``): everything
- ``heads(n1: P1, n2: P2, ...)``: per-head groups, the first n1 query heads use P1, the next n2 P2, ...
  (DuoAttention's full and streaming heads); not one mask: ``head_groups`` splits it into groups, ``&`` and
  ``|`` distributing over them, and each group is lowered on its own (``_heads``)

Expressions join them with ``&`` (binds tighter) and ``|``, with parentheses:
``causal&window(4k)|sinks(128)``. Sizes take k/m suffixes (k = 1024). Parsed, never evaluated.
"""

from einsum_cascades.sparsity._expr import PATTERN_NAMES, Pattern, PatternError
from einsum_cascades.sparsity._parse import parse_pattern
from einsum_cascades.sparsity._fit import fit_pattern
from einsum_cascades.sparsity._grid import GridTiling
from einsum_cascades.sparsity._heads import declared_heads, head_groups, head_groups_text, is_mix
from einsum_cascades.sparsity._lowering import (TileCounts, brute_force_counts, element_density, key_blocks_reached,
                                               last_key_block_reached, random_tile_counts, tile_counts, tile_grid,
                                               tile_states)

__all__ = ["PATTERN_NAMES", "GridTiling", "Pattern", "PatternError", "TileCounts", "brute_force_counts",
           "declared_heads", "element_density", "fit_pattern", "head_groups", "head_groups_text", "is_mix",
           "key_blocks_reached", "last_key_block_reached", "parse_pattern", "random_tile_counts", "tile_counts",
           "tile_grid", "tile_states"]
