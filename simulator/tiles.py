"""Where the simulator gets its tiles: the workload's mask lowered to block counts.

Dense attention takes a closed form (no pattern machinery, the hot path of
sweeps); anything masked goes through ``einsum_cascades.sparsity`` and is
cached, since sweeps revisit the same (mask, sizes, tile) many times.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, replace
from functools import lru_cache

from simulator._numpy import np

RANDOM_SEED = 0  # --sparsity alone: seeded random empty tiles, so runs repeat exactly
# --sparsity alone on a grid this large lowers the points' other sparsities with it (numba's coin kernel); on a grid
# of FAMILY_LOADED_TILES once the process has loaded numba (a sweep's CTA scheduling does), else numpy lowers it
FAMILY_MIN_TILES, FAMILY_LOADED_TILES = 1 << 20, 1 << 14
PENDING = 128  # sibling counts kept until asked for (a sweep asks for them in its next chunks of points)
ELEMENT_TILE = (128, 128)  # coin and selector block of a kernel that does not tile (naive)


@dataclass(frozen=True, slots=True)
class TileRows:
    """Per query-block row: how many key tiles are full and partial; plus totals."""

    row_full: np.ndarray
    row_partial: np.ndarray
    n_kv_blocks: int
    attended: float  # attended score elements per head
    block_density: float
    pattern: str | None  # the expression actually lowered (after fitting), None when dense
    n_rows: int = 0
    visited: int = 0  # tiles visited per head (full + partial)
    uniform: bool = False  # every row has the same full count and no partial tiles (dense)
    kv_blocks_read: int = 0  # key blocks some query row visits: the K/V a block-sparse kernel loads at all
    # window2d / window3d: tiles are grid patches (einsum_cascades.sparsity.GridTiling); the kernel runs on
    # tokens permuted into tile order (Q, K, V in; O and its LSE back out), padded to whole patches
    layout: object = None
    # keys a whole last key tile holds past the last key, where a mask reads that ragged block but not every block:
    # loads stop at the last key, so the keys read are kv_blocks_read * block_kv less these (_ragged_unread)
    ragged_unread: int = 0


@dataclass(frozen=True, slots=True)
class Packing:
    """How a kernel packs the ``group`` query heads of a KV head into its tiles: position-major rows (position i,
    head h is row i x group + h) cut into tiles of ``block_rows``, ceil(seq_len x group / block_rows) of them a KV
    head, whose rows run across position boundaries (FA3's and FA4's PackGQA m-blocks: ``packed_rows``)."""

    group: int
    block_rows: int


def tile_rows(wl, block_q: int, block_kv: int, packing: Packing | None = None) -> TileRows:
    """Lower the workload's mask (and sparsity target) at the kernel's tile shape: ``block_q`` query positions a
    row, or, with ``packing``, lowered there and given the packed tiles' rows (``packed_rows``)."""
    if not wl.mask_expr and wl.sparsity == 0:
        return _dense(wl.seq_len, wl.kv_len, block_q, block_kv, packing)
    if packing is None:
        return _masked(wl.mask_expr, wl.pattern, wl.causal, wl.sparsity, wl.seq_len, wl.kv_len, block_q, block_kv)
    return _packed(wl.mask_expr, wl.pattern, wl.causal, wl.sparsity, wl.seq_len, wl.kv_len, block_q, block_kv, packing)


def dense_counts(wl) -> TileRows:
    """Element-level view for kernels that do not tile (naive): attended elements only."""
    if not wl.mask_expr and wl.sparsity == 0:
        return _dense(wl.seq_len, wl.kv_len, wl.seq_len, wl.kv_len)
    return _masked(wl.mask_expr, wl.pattern, wl.causal, wl.sparsity, wl.seq_len, wl.kv_len, *ELEMENT_TILE)


def grid_call(wl) -> bool:
    """Whether the call's mask holds neighborhood attention on a token grid (window2d / window3d)."""
    return bool(wl.pattern) and ("window2d" in wl.pattern or "window3d" in wl.pattern)


def head_groups(wl) -> tuple[tuple[int, str], ...] | None:
    """The (query heads, mask) groups of a heads(...) mix, ``--causal`` distributed over them; None without one."""
    if not wl.pattern or "heads" not in wl.pattern:
        return None
    from einsum_cascades.sparsity import head_groups_text

    return head_groups_text(wl.mask_expr, wl.heads)


def group_rows(mask: str, nq: int, nkv: int, block_q: int, block_kv: int, packing: Packing | None = None) -> TileRows:
    """One head group's mask lowered at the kernel's tile shape (dense in closed form), as ``tile_rows``."""
    if mask in ("full", "dense"):
        return _dense(nq, nkv, block_q, block_kv, packing)
    if packing is None:
        return _masked(mask, mask, False, 0.0, nq, nkv, block_q, block_kv)
    return _packed(mask, mask, False, 0.0, nq, nkv, block_q, block_kv, packing)


@lru_cache(maxsize=4096)
def _dense(nq: int, nkv: int, bq: int, bkv: int, packing: Packing | None = None) -> TileRows:
    n_rows, n_kv = math.ceil(nq / bq) if packing is None else packed_count(nq, packing), math.ceil(nkv / bkv)
    return TileRows(Filled(n_rows, n_kv), Filled(n_rows, 0), n_kv, float(nq) * nkv, 1.0, None,
                    n_rows, n_rows * n_kv, True, n_kv)


def packed_count(nq, packing: Packing):
    """Packed tiles a KV head: ceil(nq x group / block_rows) (FA3's num_m_blocks, FA4's num_m_blocks)."""
    return -(-(nq * packing.group) // packing.block_rows)


@lru_cache(maxsize=1024)
def _packed(mask_expr, pattern, causal, sparsity, nq, nkv, bq, bkv, packing) -> TileRows:
    return packed_rows(_masked(mask_expr, pattern, causal, sparsity, nq, nkv, bq, bkv), nq, packing, bq)


def packed_rows(lowered: TileRows, nq: int, packing: Packing, per_row: int) -> TileRows:
    """The packed tiles' rows of a mask ``lowered`` at ``per_row`` query positions a row. Packed tile j holds rows
    [j Bm, (j+1) Bm), the positions floor(j Bm / g) .. floor(((j+1) Bm - 1) / g), and the kernel walks the key
    range from its first position's lower end to its last position's upper end (FA3 hopper/block.h
    get_n_block_min_max, FA4 flash_attn/cute/block_info.py: m_idx_min and m_idx_max divided by the group). Each
    tile takes the full and partial key tiles of the lowered row holding its last position, a row about as long
    as the tile's span: against the union over each tile's own positions, a causal 8k call at group 5 (128 rows)
    visits 0.6% more tiles, window(1k) 2%; the union of every lowered row a tile spans took 4% more for the window,
    and the most kept of two rows of --sparsity's independent coins had raised its share kept. Attended elements,
    key blocks read and the lowered pattern are the mask's own."""
    n = packed_count(nq, packing)
    if lowered.uniform:
        full = lowered.visited // max(lowered.n_rows, 1)
        return replace(lowered, row_full=Filled(n, full), row_partial=Filled(n, 0), n_rows=n, visited=n * full)
    j = np.arange(n, dtype=np.int64)
    last = np.minimum(np.minimum(((j + 1) * packing.block_rows - 1) // packing.group, nq - 1) // per_row,
                      lowered.n_rows - 1)
    full, partial = np.asarray(lowered.row_full)[last], np.asarray(lowered.row_partial)[last]
    visited = int(full.sum() + partial.sum())
    return replace(lowered, row_full=full, row_partial=partial, n_rows=n, visited=visited,
                   block_density=visited / max(n * lowered.n_kv_blocks, 1),
                   uniform=bool(partial.max() == 0 and full.min() == full.max()))


class Filled:
    """``np.full(n, value, dtype=np.int64)``, built on first use: a dense grid's per-row tile counts, which the
    closed-form schedule of a uniform grid never reads (so a dense point does not import numpy for them)."""

    __slots__ = ("n", "value", "_array")

    def __init__(self, n: int, value: int):
        self.n, self.value, self._array = n, value, None

    def __array__(self, dtype=None, copy=None):
        if self._array is None:
            self._array = np.full(self.n, self.value, dtype=np.int64)
        return self._array if dtype is None else self._array.astype(dtype)

    def __getattr__(self, name):
        return getattr(self.__array__(), name)

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return self.__array__()[index]

    def __iter__(self):
        return iter(self.__array__())

    def __eq__(self, other):
        return self.__array__() == other

    __hash__ = None


def _delegate(name):
    def op(self, *args):
        return getattr(self.__array__(), name)(*(a.__array__() if isinstance(a, Filled) else a for a in args))
    op.__name__ = name
    return op


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
              "__floordiv__", "__rfloordiv__", "__neg__", "__lt__", "__le__", "__gt__", "__ge__", "__ne__"):
    setattr(Filled, _name, _delegate(_name))


@lru_cache(maxsize=4096)
def _masked(mask_expr, pattern, causal, sparsity, nq, nkv, bq, bkv) -> TileRows:
    from einsum_cascades.sparsity import element_density, fit_pattern, parse_pattern, tile_counts

    if sparsity > 0 and pattern:
        pat, tc = fit_pattern(mask_expr, sparsity, nq, nkv, bq, bkv)
    else:
        expr = mask_expr
        if sparsity > 0:
            expr = f"random_blocks({1.0 - sparsity!r},{RANDOM_SEED})" + ("&causal" if causal else "")
        pat = parse_pattern(expr)
        tc = _random_counts(pat, sparsity, nq, nkv, bq, bkv) if sparsity > 0 and not causal else \
            tile_counts(pat, nq, nkv, bq, bkv)
    n_kv = tc.n_kv_blocks
    if tc.partial == 0 and tc.layout is None and nkv % bkv == 0:  # every visited tile whole: the full tiles' area
        attended = float(_full_area(np.asarray(tc.row_full), nq, nkv, bq, bkv))
    elif sparsity > 0 and not pattern and not causal and tc.partial == 0:  # coins alone, the last key tile ragged
        # through the density and back, as the element_density path below rounds it: the same float to the last bit
        attended = _coin_elements(pat, np.asarray(tc.row_full), nq, nkv, bq, bkv) / (float(nq) * nkv) * nq * nkv
    else:
        attended = element_density(pat, nq, nkv, (bq, bkv)) * nq * nkv
    row_full, row_partial = np.asarray(tc.row_full, dtype=np.int64), np.asarray(tc.row_partial, dtype=np.int64)
    uniform = bool(row_partial.max() == 0 and row_full.min() == row_full.max())
    visited = int(row_full.sum() + row_partial.sum())
    blocks_read = _kv_blocks_read(pat, tc, visited)
    return TileRows(row_full, row_partial, n_kv, attended, tc.block_density, str(pat),
                    int(row_full.size), visited, uniform, blocks_read, tc.layout,
                    _ragged_unread(pat, tc, blocks_read))


_sparsities: list = [()]  # the --sparsity values (without a pattern) of the points being evaluated
_pending: dict = {}  # (nq, nkv, bq, bkv, sparsity) -> counts lowered beside another sparsity, not yet asked for


def expect_sparsities(values) -> None:
    """The --sparsity values (without a pattern) that the points about to be evaluated ask for (``run_points``):
    on a large grid, the first of them lowered at a tile shape lowers the others there too, every coin hashed
    once for all of them; each gets the counts it would get alone. ``()``: none expected."""
    _sparsities[0] = tuple(sorted(set(values)))


def _random_counts(pat, sparsity, nq, nkv, bq, bkv):
    """``tile_counts`` of ``random_blocks(1 - sparsity, RANDOM_SEED)`` (``pat``), with the expected sparsities'."""
    from einsum_cascades.sparsity import random_tile_counts, tile_counts

    key = (nq, nkv, bq, bkv, sparsity)
    if key in _pending:
        return _pending.pop(key)
    family, n_tiles = _sparsities[0], math.ceil(nq / bq) * math.ceil(nkv / bkv)
    if len(family) < 2 or sparsity not in family or \
            n_tiles < (FAMILY_LOADED_TILES if "numba" in sys.modules else FAMILY_MIN_TILES):
        return tile_counts(pat, nq, nkv, bq, bkv)
    lowered = random_tile_counts(pat, nq, nkv, bq, bkv, RANDOM_SEED, [1.0 - s for s in family])
    _pending.update(((nq, nkv, bq, bkv, s), tc) for s, tc in zip(family, lowered) if s != sparsity)
    while len(_pending) > PENDING:  # the oldest first (dicts keep insertion order)
        del _pending[next(iter(_pending))]
    return lowered[family.index(sparsity)]


@lru_cache(maxsize=4096)
def key_blocks_reached(pattern: str, nq: int, nkv: int, bkv: int, last_queries: int, bq: int | None = None) -> int:
    """Key blocks the last ``last_queries`` query rows can reach under the lowered ``pattern``: the K/V
    that the CTAs in flight together at the end of a head's grid read. On a grid pattern the rows are
    counted in the kernel's tile order, in query tiles of ``bq`` tokens (default ``bkv``)."""
    from einsum_cascades.sparsity import key_blocks_reached as reached, parse_pattern

    return reached(parse_pattern(pattern), nq, nkv, bkv, max(0, nq - last_queries), bq)


SPLIT_MAP_CELLS = 1 << 22  # beyond this many tiles the per-split counts are not mapped (splits spread evenly)


@lru_cache(maxsize=1024)
def split_counts(pattern: str, nq: int, nkv: int, bq: int, bkv: int, splits: int):
    """(full, partial) tiles per query-block row and KV split, each [rows, splits]: split s takes key blocks
    s*ceil(n/splits) on, as FlashAttention's split-KV kernels do, so a window's tiles fall in the few splits
    its keys lie in. None when the tile map would be too large."""
    from einsum_cascades.sparsity import parse_pattern, tile_grid, tile_states
    from einsum_cascades.sparsity._tile_state import FULL, PARTIAL

    p = parse_pattern(pattern)
    n_rows, n_kv, _ = tile_grid(p, nq, nkv, bq, bkv)
    if n_rows * n_kv > SPLIT_MAP_CELLS:
        return None
    states = np.asarray(tile_states(p, nq, nkv, bq, bkv))
    edges = np.arange(0, n_kv, math.ceil(n_kv / splits))
    full = np.add.reduceat(states == FULL, edges, axis=1)
    partial = np.add.reduceat(states == PARTIAL, edges, axis=1)
    pad = splits - full.shape[1]  # splits past the last key block have nothing to do
    return np.pad(full, ((0, 0), (0, pad))), np.pad(partial, ((0, 0), (0, pad)))


def last_column_tiles(pattern: str | None, nq: int, nkv: int, bq: int, bkv: int) -> int | None:
    """How many tiles of the last key column the lowered ``pattern`` visits, where the key length is not a multiple
    of the key tile: those tiles hold ``nkv % bkv`` keys, all a kernel loads there (TMA and predicated cp.async
    fetch nothing past the last key). None when the length is a multiple of the tile, for a grid pattern's
    permuted tiles, and where the tile map would be too large."""
    from einsum_cascades.sparsity import parse_pattern, tile_grid, tile_states

    if not nkv % bkv or not pattern:
        return None
    p = parse_pattern(pattern)
    n_rows, n_kv, layout = tile_grid(p, nq, nkv, bq, bkv)
    if layout is not None or n_rows * n_kv > SPLIT_MAP_CELLS:
        return None
    return int((np.asarray(tile_states(p, nq, nkv, bq, bkv))[:, -1] != 0).sum())


def _kv_blocks_read(pat, tc, visited: int) -> int:
    """Key blocks that some query row visits: with one query-block row (decode), its visited tiles; else
    the key blocks the mask can reach at all (exact for boxes such as windows and sinks, and for grids; at
    most that for periodic sets, coins and selectors), and never more than the tiles visited."""
    from einsum_cascades.sparsity import key_blocks_reached

    if tc.n_q_blocks == 1:
        return visited
    return min(visited, key_blocks_reached(pat, tc.seq_len, tc.kv_len, tc.block_kv, 0, tc.block_q))


def _ragged_unread(pat, tc, blocks_read: int) -> int:
    """Keys a whole last key tile would hold past the last key, where the mask reads that (ragged) block but not
    every block: a kernel's loads stop at the last key (TMA and predicated cp.async fetch nothing past it), so the
    keys it reads are ``blocks_read * block_kv`` less these. 0 when the key length is a multiple of the tile, when
    every block is read (the keys read are then capped at the length) or none is (a random mask that kept no block of
    a one-key call had read -127 keys: negative HBM bytes), on a grid and for vertical-slash (not worked out there). One query tile (decode) reads its visited tiles, so its own last tile is looked up; more
    reach the last block where some query may attend a key of it (exact for boxes)."""
    from einsum_cascades.sparsity import last_key_block_reached, tile_states

    ragged = tc.kv_len % tc.block_kv
    if not ragged or tc.layout is not None or not 0 < blocks_read < tc.n_kv_blocks:
        return 0
    if tc.n_q_blocks == 1:
        reached = bool(np.asarray(tile_states(pat, tc.seq_len, tc.kv_len, tc.block_q, tc.block_kv))[0, -1])
    else:
        reached = last_key_block_reached(pat, tc.seq_len, tc.kv_len, tc.block_kv)
    return tc.block_kv - ragged if reached else 0


def _coin_elements(pat, row_kept, nq: int, nkv: int, bq: int, bkv: int) -> int:
    """Elements of ``pat``, random_blocks alone at its coin tile (``bq`` x ``bkv``), from the tiles each row keeps
    (``row_kept``): a coin keeps a whole tile, the ragged last key tile with its ``nkv % bkv`` keys, so a row holds
    its kept tiles' keys less the keys that tile lacks where its coin keeps it, times the row's real height. The
    count ``element_density`` gets by hashing every coin again (numba's count_elements: 18 ms a 1M-token call at
    FA3's 128 x 176 tiles, every --sparsity of a sweep apart), from one hash a row; the coin is the lowering's own
    (its term's seed and threshold, hashed by ``_expr.keep_below``, the numba kernels' splitmix64)."""
    from einsum_cascades.sparsity._expr import keep_below
    from einsum_cascades.sparsity._terms import pattern_terms

    _, coins = pattern_terms(pat, nq, nkv, (bq, bkv))
    (seed, threshold, _, _), = coins.tolist()
    n_rows, n_cols = row_kept.size, -(-nkv // bkv)
    last_kept = keep_below(np.arange(n_rows, dtype=np.int64), n_cols - 1, seed, threshold)
    heights = np.full(n_rows, bq, dtype=np.int64)
    heights[-1] = nq - bq * (n_rows - 1)
    keys = row_kept.astype(np.int64) * bkv - last_kept * (n_cols * bkv - nkv)
    return int((heights * keys).sum())


def _full_area(row_full, nq, nkv, bq, bkv) -> float:
    """Elements of the full tiles, counting a ragged last row tile by its real height. Exact only where the keys
    fill whole column tiles (``_masked`` takes the mask's element density otherwise: a ragged last column tile
    counted whole made a 129-key window over 2,049 cached keys 256 keys a query, its FLOPs twice the real ones,
    until 2026-12-07)."""
    heights = np.full(row_full.size, bq, dtype=np.float64)
    heights[-1] = nq - bq * (row_full.size - 1)
    return float((heights * np.minimum(row_full * bkv, nkv)).sum())


# Passes over m of the 3-pass cascade a standalone softmax kernel runs (FuseMax paper, Nayak et al., MICRO
# 2024, Cascade 4: max, then exp and sum, then divide). A constant, so that a dense point does not import
# the cascade IR (networkx) to count them; tests/test_simulator_invariants.py checks it against the pass
# analysis of the bundled attention-3pass cascade.
SOFTMAX_PASSES = 3


def softmax_passes() -> int:
    """Passes over m of the 3-pass cascade that a standalone softmax kernel runs."""
    return SOFTMAX_PASSES
