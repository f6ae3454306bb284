"""Lowering a pattern to tiles (full / partial / empty per query-block row) and exact element counts.

The expression becomes kernel terms (``_terms``: one per conjunction of its disjunctive normal form),
with its selectors' draws (``_select``) as tables. The numba kernels in ``_kernels`` sweep each
query-block row as runs of key blocks, so structured patterns cost a few operations per row, not per
tile. Neighborhood attention on a grid (window2d, window3d) is lowered apart, on grid patches, in
closed form (``_grid``). Until a process has loaded those kernels, masks of boxes and coins are lowered
in numpy (``_box_runs``), and everything else on grids of moderate size (periodic sets: strided, evenly
placed vertical-slash lines; chunks in unions; selectors: topk, budget) tile by tile in closed form
(``_tile_sums``), with the same counts: a one-off point then
neither loads numba nor, on a fresh install, compiles its kernels. A lone conjunction of boxes
(``window(w)``, ``causal&window(w)``, ``sinks(n)``, ``chunked(w)``, a window inside chunks) is always
lowered in closed form (``_chunk_rows``), and so is a union of boxes without chunks (``window(w)|sinks(n)``,
``global(n)``: ``_box_rows``).
"""

import importlib
import math
import sys
import time
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import _box_rows as box_rows
from einsum_cascades.sparsity import _box_runs as box_runs
from einsum_cascades.sparsity import _chunk_rows as chunk_rows
from einsum_cascades.sparsity import _grid as grid
from einsum_cascades.sparsity import _tile_sums as tile_sums
from einsum_cascades.sparsity import _vslash as vslash
from einsum_cascades.sparsity._expr import DEFAULT_RANDOM_BLOCK, GRIDS, SELECTORS, coin_threshold
from einsum_cascades.sparsity._expr import PatternError
from einsum_cascades.sparsity._fields import CW, DHI, DLO, KHI, KLO, QHI, QLO
from einsum_cascades.sparsity._heads import is_mix
from einsum_cascades.sparsity._limits import check_pattern, check_rows
from einsum_cascades.sparsity._terms import pattern_terms, workspace


@dataclass(frozen=True, eq=False)
class TileCounts:
    """Tile states of a mask lowered at (block_q, block_kv); ragged edge tiles count by their real elements.

    ``layout`` is the grid tiling of window2d / window3d (``_grid.GridTiling``: tiles are grid patches,
    in the kernel's token order), None for the usual 1-D tiles of consecutive tokens.
    """

    seq_len: int
    kv_len: int
    block_q: int
    block_kv: int
    full: int
    partial: int
    empty: int
    row_full: np.ndarray
    row_partial: np.ndarray
    layout: object = None

    def __eq__(self, other):
        return isinstance(other, TileCounts) and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self) if f.name != "layout"
        ) and self.layout == other.layout

    @property
    def n_q_blocks(self) -> int:
        return int(self.row_full.size)

    @property
    def n_kv_blocks(self) -> int:
        if self.layout is not None:
            return math.prod(self.layout.kv_tiles_per_axis)
        return math.ceil(self.kv_len / self.block_kv)

    @property
    def total(self) -> int:
        return self.n_q_blocks * self.n_kv_blocks

    @property
    def block_density(self) -> float:
        """Fraction of tiles a block-sparse kernel visits: (full + partial) / total."""
        return (self.full + self.partial) / self.total


KERNELS = "einsum_cascades.sparsity._kernels"  # the numba lowering kernels' module
NUMPY_SECONDS = 0.25  # numpy lowering a process does before it loads the kernels instead (about their load time)
# the same before numba has compiled them (a one-off 30-50 s on a fresh install): a point or a short sweep never
# compiles, a long sweep compiles once and runs on at the kernels' speed (numpy's lowering is 2-4x slower per point)
COLD_NUMPY_SECONDS = 2.0
NUMPY_ROWS = 1 << 18  # query rows from which a process that has imported numba lowers with the kernels
_numpy_seconds = [0.0]
UNION_KERNEL_ROWS = 512  # query-block rows below which loaded kernels lower a union of boxes (``_box_rows``: ~0.2 ms)
# random_blocks flips one coin per tile (about 0.15 ns each): 2**32 tiles is 4M tokens at 64 x 64 tiles, ~0.6 s
COIN_TILE_LIMIT = 1 << 32


@lru_cache(maxsize=None)
def kernels(name: str = "kernels"):
    """A numba kernel module of this package (``_kernels``, ``_select_kernels``, ``_grid_kernels``), imported after
    the numba cache is checked against the sources."""
    _stale_checked()
    return importlib.import_module(f"einsum_cascades.sparsity._{name}")


def kernel(name: str, module: str = "kernels"):
    """The jitted function ``name`` of a kernel module (``kernels``), saying first if numba must compile it."""
    from einsum_cascades.compiling import notify_if_cold

    jitted = getattr(kernels(module), name)
    notify_if_cold(jitted, "mask lowering")
    return jitted


@lru_cache(maxsize=1)
def _compiled() -> bool:
    from einsum_cascades.sparsity._numba_cache import kernels_compiled

    return kernels_compiled()


@lru_cache(maxsize=1)
def _stale_checked():
    from einsum_cascades.sparsity._numba_cache import drop_stale_cache

    drop_stale_cache()  # before numba loads anything from its cache


def compile_terms(p, seq_len: int, kv_len: int, coin_block=DEFAULT_RANDOM_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Kernel arrays of pattern ``p``: terms (n x N_FIELDS) and coins, with its selectors' tables at the
    coin block."""
    if any(leaf.name in SELECTORS for leaf in p.leaves()):
        from einsum_cascades.sparsity._select import tables
        from einsum_cascades.sparsity._terms import conj_terms, dnf

        return conj_terms(dnf(p), seq_len, kv_len, coin_block, tables(p, seq_len, kv_len, tuple(coin_block)))
    return pattern_terms(p, seq_len, kv_len, tuple(coin_block))


@lru_cache(maxsize=1024)  # a lowering plans its pattern at each step (tile counts, element count, keys reached)
def _plan(p, seq_len, kv_len, block_q, block_kv):
    """(expression to lower on 1-D tiles, None, None), (None, grid tiling, None) for window2d / window3d (alone, or
    with full around it), or (None, None, vertical-slash call) for causal&vertical_slash(...) alone, lowered as
    MInference's index (``_vslash``). A heads(...) mix is lowered group by group (``head_groups``), never whole.
    UserError if random_blocks would flip more than COIN_TILE_LIMIT coins."""
    _not_a_mix(p)
    p = grid.resolve(p)
    if p.name in GRIDS:
        return None, grid.tiling(p, seq_len, kv_len, block_q, block_kv), None
    vs = vslash.resolve(p)
    if vs is not None:
        return None, None, vs
    tiles = math.ceil(seq_len / block_q) * math.ceil(kv_len / block_kv)
    if tiles > COIN_TILE_LIMIT and any(leaf.name == "random_blocks" for leaf in p.leaves()):
        raise UserError(f"random_blocks at seq-len {seq_len}, kv-len {kv_len} flips one coin per {block_q}x{block_kv} "
                        f"tile: {tiles:,} tiles is over the limit of {COIN_TILE_LIMIT:,}; use larger tiles "
                        f"(--block-size) or a shorter sequence")
    return p, None, None


def _not_a_mix(p):
    if is_mix(p):
        raise PatternError(f"pattern {p}: heads(...) gives each head group its own pattern; lower the groups one by "
                           f"one (head_groups), not the mix as one mask")


def key_blocks_reached(p, seq_len: int, kv_len: int, block_kv: int, first_query: int = 0,
                       block_q: int | None = None) -> int:
    """Key blocks holding a key that some query from ``first_query`` on may attend: every term's reachable
    keys (those k with a query q in its rows and k - q in its diagonal band, within its chunk), united.
    Exact for boxes (causal, window, chunked, sinks, global and their combinations); a periodic set, coins
    or a selector may leave a reached block without an attended key, so with those it is an upper bound.
    On a grid (window2d / window3d) ``first_query`` counts in the kernel's token order, whose query tiles
    hold ``block_q`` tokens (default ``block_kv``); exact."""
    p, layout, vs = _plan(p, seq_len, kv_len, block_q or block_kv, block_kv)
    if layout is not None:
        return grid.reached(layout, first_query // math.prod(layout.q_tile))
    if vs is not None:
        return vslash.reached(vs, seq_len, kv_len, block_kv, first_query, block_q or block_kv)
    return _union_size(*_reached_ranges(p, seq_len, kv_len, block_kv, first_query))


def last_key_block_reached(p, seq_len: int, kv_len: int, block_kv: int) -> bool | None:
    """Whether some query may attend a key of the last key block (the ragged one where ``kv_len`` is not a
    multiple of ``block_kv``): exact for boxes, as ``key_blocks_reached``; None on a grid (window2d / window3d)
    or a vertical-slash pattern, whose reach is not worked out per block here."""
    p, layout, vs = _plan(p, seq_len, kv_len, block_kv, block_kv)
    if layout is not None or vs is not None:
        return None
    _, lasts = _reached_ranges(p, seq_len, kv_len, block_kv, 0)
    return bool(lasts.size) and int(lasts.max()) == (kv_len - 1) // block_kv


def _reached_ranges(p, seq_len: int, kv_len: int, block_kv: int, first_query: int) -> tuple:
    """(first, last) key block of each box some query from ``first_query`` on may attend, for a planned pattern
    of boxes (not a grid, not vertical-slash)."""
    terms, _ = pattern_terms(p, seq_len, kv_len)
    firsts, lasts = [], []
    for t in terms.tolist():  # Python ints: a box or two a term, where numpy's calls cost more than the sums
        q0, q1 = max(t[QLO], first_query, 0), min(t[QHI], seq_len - 1)
        if q0 > q1:
            continue
        if not t[CW]:
            k0, k1 = max(t[KLO], q0 + t[DLO], 0), min(t[KHI], q1 + t[DHI], kv_len - 1)
            if k0 <= k1:
                firsts.append(k0 // block_kv)
                lasts.append(k1 // block_kv)
            continue
        w, off = t[CW], kv_len - seq_len  # one box per chunk the rows meet
        chunk = np.arange((q0 + off) // w, (q1 + off) // w + 1, dtype=np.int64)
        q_lo, q_hi = np.maximum(q0, chunk * w - off), np.minimum(q1, chunk * w + w - 1 - off)
        k_lo, k_hi = np.maximum(t[KLO], chunk * w), np.minimum(t[KHI], chunk * w + w - 1)
        k0 = np.maximum(np.maximum(k_lo, q_lo + t[DLO]), 0)
        k1 = np.minimum(np.minimum(k_hi, q_hi + t[DHI]), kv_len - 1)
        keep = (q_lo <= q_hi) & (k0 <= k1)
        firsts.extend((k0[keep] // block_kv).tolist())
        lasts.extend((k1[keep] // block_kv).tolist())
    return np.array(firsts, dtype=np.int64), np.array(lasts, dtype=np.int64)


def _union_size(first: np.ndarray, last: np.ndarray) -> int:
    """Integers in the union of the ranges first[i]..last[i]."""
    if first.size == 0:
        return 0
    order = np.argsort(first, kind="stable")
    first, last = first[order].astype(np.int64), last[order].astype(np.int64)
    reach = np.concatenate([[-1], np.maximum.accumulate(last)[:-1]])  # highest block counted before range i
    return int(np.maximum(0, last - np.maximum(first, reach + 1) + 1).sum())


def tile_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """Full / partial / empty tiles of ``p`` at tile shape (block_q, block_kv); random_blocks flips one coin
    and a selector draws per tile of this shape; a grid pattern is tiled in grid patches of as many tokens."""
    check_rows(p, seq_len, kv_len, block_q, block_kv)
    p, layout, vs = _plan(p, seq_len, kv_len, block_q, block_kv)
    if layout is not None:
        row_full, row_partial = grid.row_counts(layout)
        return _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial, layout)
    if p is not None and p.name == "causal":  # the commonest mask, in closed form (within the same limits)
        check_pattern(p, seq_len, kv_len, block_q, block_kv)
        return _counts(seq_len, kv_len, block_q, block_kv, *causal_rows(seq_len, kv_len, block_q, block_kv))
    if vs is not None:
        return _counts(seq_len, kv_len, block_q, block_kv, *vslash.row_tiles(vs, seq_len, kv_len, block_q, block_kv))
    check_pattern(p, seq_len, kv_len, block_q, block_kv)  # before numpy too: its per-row arrays scale alike
    box = _lone_box(p, seq_len, kv_len, block_q, block_kv)
    if box is not None:
        return _counts(seq_len, kv_len, block_q, block_kv, *chunk_rows.row_tiles(box, seq_len, kv_len, block_q,
                                                                                block_kv))
    # a union of boxes in closed form, but where loaded kernels (about 0.5 us a row) are quicker than numpy's calls
    kernels_quicker = KERNELS in sys.modules and math.ceil(seq_len / block_q) < UNION_KERNEL_ROWS
    union = None if kernels_quicker else _box_union(p, seq_len, kv_len, block_q, block_kv)
    rows = None if union is None else box_rows.row_tiles(union, seq_len, kv_len, block_q, block_kv)
    if rows is not None:
        return _counts(seq_len, kv_len, block_q, block_kv, *rows)
    lowered = _by_numpy(p, seq_len, kv_len, block_q, block_kv)
    if lowered is not None:
        return _counts(seq_len, kv_len, block_q, block_kv, *lowered.row_counts())
    terms, coins = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    ws = workspace(terms, math.ceil(kv_len / block_kv), block_q)
    row_full, row_partial = kernel("lower")(seq_len, kv_len, block_q, block_kv, terms, coins, ws)
    return _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial)


def random_tile_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, seed: int,
                       densities) -> list[TileCounts]:
    """``tile_counts`` of ``random_blocks(d, seed)`` alone for each density d, every coin hashed once for all of
    them (a sweep over --sparsity); ``p`` is one of these patterns, refused as ``tile_counts`` refuses it. Every
    kept tile is full: a coin keeps a whole tile, ragged edge tiles included."""
    check_rows(p, seq_len, kv_len, block_q, block_kv)
    _plan(p, seq_len, kv_len, block_q, block_kv)
    n_rows, n_cols = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    thresholds = np.array([coin_threshold(d) for d in densities], dtype=np.int64)
    kept = kernel("kept_per_row_thresholds", "coin_rows")(n_rows, n_cols, seed, thresholds)
    none = np.zeros(n_rows, dtype=np.int64)
    return [_counts(seq_len, kv_len, block_q, block_kv, row, none) for row in kept]


def causal_rows(seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """(full, partial) tiles per query-block row of ``causal``: query q sees keys k <= q + kv_len - seq_len. A
    row's tile is full when its last key is within reach of the row's first query, visited when its first key
    is within reach of the row's last query."""
    off = kv_len - seq_len
    n_kv = -(-kv_len // block_kv)
    q0 = np.arange(0, seq_len, block_q, dtype=np.int64)
    q1 = np.minimum(q0 + block_q, seq_len) - 1
    full = np.where(q0 + off >= kv_len - 1, n_kv, np.clip((q0 + off + 1) // block_kv, 0, n_kv))
    visited = np.where(q1 + off < 0, 0, np.clip((q1 + off) // block_kv + 1, 0, n_kv))
    return full.astype(np.int64), (visited - full).astype(np.int64)


@lru_cache(maxsize=1024)  # asked at each step of a lowering, as _plan
def _lone_box(p, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """The term array of a pattern that is one conjunction of boxes (chunked or not) without periods or coins
    (``_chunk_rows`` lowers it in closed form, no kernels to compile), else None. The caller has checked the work
    (``check_pattern``)."""
    terms = _box_terms(p, seq_len, kv_len, block_q, block_kv)
    return terms if terms is not None and chunk_rows.supported(terms, seq_len, block_q) else None


@lru_cache(maxsize=1024)
def _box_union(p, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """The term array of a pattern that is a union of boxes without chunks, periods or coins (``_box_rows``
    lowers it in closed form), else None."""
    terms = _box_terms(p, seq_len, kv_len, block_q, block_kv)
    return terms if terms is not None and box_rows.supported(terms) else None


def _box_terms(p, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    if p is None or any(leaf.name in SELECTORS for leaf in p.leaves()):  # a selector's table is a coin: no box
        return None
    return pattern_terms(p, seq_len, kv_len, (block_q, block_kv))[0]


@lru_cache(maxsize=64)
def _by_numpy(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> box_runs.Runs | None:
    """The mask lowered by numpy until a process has spent NUMPY_SECONDS on it (COLD_NUMPY_SECONDS while numba
    has not compiled the kernels) or loaded the numba kernels (about 0.4 s to load, and a one-off compile of
    30-50 s): box terms as runs (``_box_runs``), anything else (periodic sets, chunks, selectors drawn in numpy
    too) tile by tile in closed form (``_tile_sums``); None where the kernels lower it. The caller has checked
    the work (``check_pattern``). Once the process has
    imported numba (for any kernel), a long sequence goes to the kernels at once: loading them from numba's
    cache then costs about what numpy spends on NUMPY_ROWS query rows, and each such call afterwards takes
    milliseconds where numpy takes tenths of a second."""
    if KERNELS in sys.modules or _numpy_seconds[0] > (NUMPY_SECONDS if _compiled() else COLD_NUMPY_SECONDS):
        return None
    if seq_len >= NUMPY_ROWS and "numba" in sys.modules:
        return None
    start = time.perf_counter()
    try:
        return _numpy_lowering(p, seq_len, kv_len, block_q, block_kv)
    finally:
        _numpy_seconds[0] += time.perf_counter() - start


def _numpy_lowering(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> box_runs.Runs | None:
    block = (block_q, block_kv)
    terms, coins = pattern_terms(p, seq_len, kv_len, block)  # selectors left out: they bound what is drawn
    selectors = any(leaf.name in SELECTORS for leaf in p.leaves())
    if not selectors and box_runs.supported(terms, coins, block_q, block_kv):
        runs = box_runs.lower(terms, coins, seq_len, kv_len, block_q, block_kv)
        if runs is not None:
            return runs
    if not tile_sums.supported(terms, coins, *block) or \
            tile_sums.cells(terms, seq_len, kv_len, *block) > tile_sums.MAX_CELLS:
        return None
    if selectors:  # drawn as tables
        terms, coins = compile_terms(p, seq_len, kv_len, block)
        if not tile_sums.supported(terms, coins, *block):
            return None
    elements = tile_sums.tile_elements(terms, coins, seq_len, kv_len, block_q, block_kv)
    return box_runs.Runs.from_elements(elements, seq_len, kv_len, block_q, block_kv)


def _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial, layout=None) -> TileCounts:
    full, partial = int(row_full.sum()), int(row_partial.sum())
    n_kv = math.prod(layout.kv_tiles_per_axis) if layout else math.ceil(kv_len / block_kv)
    # tiles a row leaves out; MInference's vertical-slash kernel may run more tiles than a row has (its blocks start
    # where slash ranges start, unaligned, and its gathered column strips come on top): none empty in such a row
    empty = int(np.maximum(n_kv - row_full - row_partial, 0).sum())
    return TileCounts(seq_len, kv_len, block_q, block_kv, full, partial, empty, row_full, row_partial, layout)


def brute_force_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """The same counts from the whole element mask: the reference every fast path is tested against.
    A grid pattern's mask is reduced over grid patches (each token's tile in the kernel's order); a vertical-slash
    call's tiles are its kernel's index built row by row by the kernel's own loop."""
    mask = p.mask(np.arange(seq_len)[:, None], np.arange(kv_len)[None, :], seq_len, kv_len, (block_q, block_kv))
    p, layout, vs = _plan(p, seq_len, kv_len, block_q, block_kv)
    if vs is not None:
        blocks, cols = vslash.brute_force_rows(vs, seq_len, kv_len, block_q, block_kv)
        strips, steps = -(-cols // block_kv), vslash.masking_steps(block_q, block_kv)
        partial = np.minimum(blocks, steps) + np.minimum(strips, steps)
        return _counts(seq_len, kv_len, block_q, block_kv, blocks + strips - partial, partial)
    if layout is not None:
        q_tile, kv_tile = _patch_of_tokens(layout, layout.q_tile), _patch_of_tokens(layout, layout.kv_tile)
        n_q, n_kv = math.prod(layout.q_tiles_per_axis), math.prod(layout.kv_tiles_per_axis)
        true, area = np.zeros((n_q, n_kv), np.int64), np.zeros((n_q, n_kv), np.int64)
        np.add.at(true, (q_tile[:, None], kv_tile[None, :]), mask.astype(np.int64))
        np.add.at(area, (q_tile[:, None], kv_tile[None, :]), 1)
    else:
        rows, cols = np.arange(0, seq_len, block_q), np.arange(0, kv_len, block_kv)

        def per_tile(a):
            return np.add.reduceat(np.add.reduceat(a.astype(np.int64), rows, axis=0), cols, axis=1)

        true, area = per_tile(mask), per_tile(np.ones_like(mask))
    row_full = (true == area).sum(axis=1)
    row_partial = ((true > 0) & (true < area)).sum(axis=1)
    return _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial, layout)


def _patch_of_tokens(layout, tile) -> np.ndarray:
    """The tile (in the kernel's order: first axis fastest) of every row-major token of the grid."""
    coords = np.unravel_index(np.arange(math.prod(layout.grid)), layout.grid)
    counts = [-(-g // t) for g, t in zip(layout.grid, tile)]
    index, scale = np.zeros(math.prod(layout.grid), np.int64), 1
    for c, t, n in zip(coords, tile, counts):
        index += (c // t) * scale
        scale *= n
    return index


def element_density(p, seq_len: int, kv_len: int, random_block=DEFAULT_RANDOM_BLOCK) -> float:
    """Exact fraction of attended elements, with random_blocks coins flipped and selectors drawn per
    ``random_block`` tile.

    Boxes alone (causal, window, sinks, global) are summed over all rows at once: a row's count is
    piecewise linear in the row (a union by inclusion-exclusion, ``_box_rows.union_elements``). Periodic terms (strided, vertical_slash) and chunks are counted query
    block by query block in closed form (inclusion-exclusion over the terms): O(seq_len x terms); with
    random_blocks, coin blocks the terms cover only in part are counted row by row, so
    strided&random_blocks at 1M tokens takes seconds. A grid pattern: every query sees prod(kernel) keys.
    """
    check_rows(p, seq_len, kv_len, *random_block)
    p, layout, vs = _plan(p, seq_len, kv_len, *random_block)
    if layout is not None:
        return grid.element_count(layout) / (float(seq_len) * kv_len)
    if vs is not None:
        return vslash.element_count(vs, seq_len, kv_len) / (float(seq_len) * kv_len)
    if p.name == "causal":  # query q sees its q + kv_len - seq_len + 1 first keys (none before the first)
        check_pattern(p, seq_len, kv_len, *random_block, elements=True)
        behind = max(0, kv_len - seq_len)
        return (kv_len * (kv_len + 1) // 2 - behind * (behind + 1) // 2) / (float(seq_len) * kv_len)
    check_pattern(p, seq_len, kv_len, *random_block, elements=True)
    union = _box_union(p, seq_len, kv_len, *random_block)
    if union is not None:
        return box_rows.union_elements(union, seq_len, kv_len) / (float(seq_len) * kv_len)
    box = _lone_box(p, seq_len, kv_len, *random_block)
    if box is not None:
        return chunk_rows.elements(box, seq_len, kv_len, random_block[0]) / (float(seq_len) * kv_len)
    lowered = _by_numpy(p, seq_len, kv_len, *random_block)
    if lowered is not None:
        return lowered.elements() / (float(seq_len) * kv_len)
    terms, coins = compile_terms(p, seq_len, kv_len, random_block)
    ws = workspace(terms, math.ceil(kv_len / random_block[1]), random_block[0])
    return kernel("count_elements")(seq_len, kv_len, *random_block, terms, coins, ws) / (float(seq_len) * kv_len)


def tile_states(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, pool: int = 1) -> np.ndarray:
    """Tile states (0 empty, 1 partial, 2 full) as a query-block x key-block grid; with ``pool`` > 1,
    each cell is the highest state among its pool x pool tiles (exact, for pictures of long sequences).
    A grid pattern's tiles are in the kernel's order."""
    check_rows(p, seq_len, kv_len, block_q, block_kv)
    p, layout, vs = _plan(p, seq_len, kv_len, block_q, block_kv)
    if layout is not None:
        return grid.pooled_states(layout, pool, kernel("pool_states", "grid_kernels"))
    if vs is not None:
        return vslash.tile_states(vs, seq_len, kv_len, block_q, block_kv, pool)
    check_pattern(p, seq_len, kv_len, block_q, block_kv)
    lowered = _by_numpy(p, seq_len, kv_len, block_q, block_kv)
    if lowered is not None and lowered.full.size * lowered.n_cols <= tile_sums.MAX_CELLS:
        return _pooled(lowered.states(), pool)
    terms, coins = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    ws = workspace(terms, math.ceil(kv_len / block_kv), block_q)
    return kernel("pooled_states")(seq_len, kv_len, block_q, block_kv, terms, coins, ws, pool)


def _pooled(states: np.ndarray, pool: int) -> np.ndarray:
    """The highest state in each pool x pool group of tiles."""
    rows, cols = -(-states.shape[0] // pool), -(-states.shape[1] // pool)
    padded = np.zeros((rows * pool, cols * pool), dtype=np.int8)
    padded[:states.shape[0], :states.shape[1]] = states
    return padded.reshape(rows, pool, cols, pool).max(axis=(1, 3))


def tile_grid(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> tuple:
    """(query tiles, key tiles, grid tiling or None) of ``p`` lowered at (block_q, block_kv), without lowering."""
    p, layout, _ = _plan(p, seq_len, kv_len, block_q, block_kv)
    if layout is not None:
        return math.prod(layout.q_tiles_per_axis), math.prod(layout.kv_tiles_per_axis), layout
    return math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv), None
