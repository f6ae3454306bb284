"""Boxes and coins without numba: a mask's tiles as runs per query-block row, edge tiles counted exactly.

For the queries of one query-block row, a box term (causal, window, sinks, global) attends a contiguous
run of keys: its tiles split into an *interior*, whole for every query of the row, and a few *edge* tiles
(about block_q / block_kv + 1 per bound). A tile in some term's interior is full (for a term with coins,
where its coins keep the tile); every other tile a term touches is settled exactly, query by query, by
inclusion-exclusion over the key intervals of the terms active there (``_interval_tiles.union_keys``); the
rest are empty. The cost is O(rows x subsets) for the interiors, O(edge tiles x block_q x subsets) for the
edges and one coin per interior tile of a term with coins, so each part has a limit beyond which the
numba kernels lower the mask instead; but random_blocks alone (or within a box) flips its coins in one
small kernel of its own at any size. Periodic and selector terms, and chunked ones in a union or with coins,
are left to the kernels (a lone chunked conjunction: ``_chunk_rows``).
"""

import sys
from dataclasses import dataclass

import numpy as np

from einsum_cascades.sparsity._expr import keep_below
from einsum_cascades.sparsity._fields import (AD, AK, C0, CW, DHI, DLO, EMPTY, FULL, KHI, KLO, NC, PARTIAL, QHI,
                                              QLO, TABLE)
from einsum_cascades.sparsity._interval_tiles import MAX_TERMS, union_keys

MAX_COIN_TILES = 1 << 22  # interior tiles of terms with coins flipped here at most
NUMPY_COIN_TILES = 1 << 20  # beyond this many (or once loaded), a lone coin term's tiles go to ``_coin_rows``
COIN_KERNEL = "einsum_cascades.sparsity._coin_rows"
MAX_EDGE_CELLS = 1 << 26  # (edge tile, query, subset) cells counted here at most
CHUNK_CELLS = 1 << 20  # edge cells counted at a time


@dataclass(frozen=True)
class Runs:
    """A mask lowered at one tile shape: per row its whole tiles (``full``; ``last_full``: is the ragged last
    column one of them), and the flat indices (row * columns + column) of the tiles full by a coin
    (``coin_full``) and of the edge tiles, with their attended elements; every other tile is empty.
    ``interiors``: per term without coins, its (first, last) interior tile per row. A lone coin term counted
    by the ``_coin_rows`` kernel leaves ``coin_full`` empty and keeps (term, coins, interior) in ``lone``,
    so that ``states`` can flip its coins when asked."""

    seq_len: int
    kv_len: int
    block_q: int
    block_kv: int
    full: np.ndarray
    last_full: np.ndarray
    interiors: list
    coin_full: np.ndarray
    edges: np.ndarray
    edge_elements: np.ndarray
    lone: tuple | None = None

    @classmethod
    def from_elements(cls, elements: np.ndarray, seq_len: int, kv_len: int, block_q: int, block_kv: int):
        """Every attended tile of a per-tile element count as an edge tile."""
        flat = np.flatnonzero(elements)
        n_rows = elements.shape[0]
        return cls(seq_len, kv_len, block_q, block_kv, np.zeros(n_rows, np.int64), np.zeros(n_rows, bool), [],
                   np.zeros(0, np.int64), flat, elements.ravel()[flat])

    @property
    def n_cols(self) -> int:
        return -(-self.kv_len // self.block_kv)

    def row_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Full and partial tiles per query-block row."""
        row, area = self._edge_areas()
        n = self.full.size
        whole = self.edge_elements == area
        partial = (self.edge_elements > 0) & ~whole
        return (self.full + np.bincount(row[whole], minlength=n), np.bincount(row[partial], minlength=n))

    def elements(self) -> int:
        """Attended elements."""
        heights = np.minimum(np.arange(1, self.full.size + 1) * self.block_q, self.seq_len) - \
            np.arange(self.full.size) * self.block_q
        ragged = self.block_kv - (self.kv_len - (self.n_cols - 1) * self.block_kv)
        whole = heights * (self.full * self.block_kv - self.last_full * ragged)
        return int(whole.sum()) + int(self.edge_elements.sum())

    def states(self) -> np.ndarray:
        """Tile states (EMPTY, PARTIAL, FULL) as a query-block x key-block grid."""
        n_rows, n_cols = self.full.size, self.n_cols
        marks = np.zeros((n_rows, n_cols + 1), dtype=np.int64)  # +1 at each interior's start, -1 past its end
        rows = np.arange(n_rows)
        for first, last in self.interiors:
            inner = first <= last
            np.add.at(marks, (rows[inner], first[inner]), 1)
            np.add.at(marks, (rows[inner], last[inner] + 1), -1)
        states = np.where(np.cumsum(marks, axis=1)[:, :n_cols] > 0, FULL, EMPTY).astype(np.int8)
        flat = states.reshape(-1)
        flat[self.coin_full] = FULL
        if self.lone is not None:
            t, coins, first, last = self.lone
            row, col = _expand(first, last, flat.size)
            kept = _kept(t, coins, row, col)
            flat[row[kept] * n_cols + col[kept]] = FULL
        _, area = self._edge_areas()
        flat[self.edges] = np.where(self.edge_elements == area, FULL,
                                    np.where(self.edge_elements > 0, PARTIAL, EMPTY))
        return states

    def _edge_areas(self):
        row, col = self.edges // self.n_cols, self.edges % self.n_cols
        height = np.minimum((row + 1) * self.block_q, self.seq_len) - row * self.block_q
        width = np.minimum((col + 1) * self.block_kv, self.kv_len) - col * self.block_kv
        return row, height * width


def supported(terms: np.ndarray, coins: np.ndarray, block_q: int, block_kv: int) -> bool:
    """Box terms (no chunk, no period), with coins flipped once per (block_q, block_kv) tile if any."""
    if not 0 < terms.shape[0] <= MAX_TERMS or np.any(terms[:, [AD, AK]] != 1) or np.any(terms[:, CW] != 0):
        return False
    used = np.concatenate([np.arange(t[C0], t[C0] + t[NC]) for t in terms]).astype(np.int64)
    c = coins[used]
    return bool(np.all(c[:, 1] != TABLE) and np.all(c[:, 2] == block_q) and np.all(c[:, 3] == block_kv))


def lower(terms, coins, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> Runs | None:
    """The mask's ``Runs``, or None when some part would pass its limit."""
    grid = _Grid(seq_len, kv_len, block_q, block_kv)
    runs = [_term_runs(t, grid) for t in terms]
    plain = [r[2:] for t, r in zip(terms, runs) if t[NC] == 0]
    full = _union_length(plain, grid.n_rows)
    last_full = np.zeros(grid.n_rows, dtype=bool)
    for first, last in plain:
        last_full |= (first <= last) & (last == grid.n_cols - 1)
    if len(terms) == 1 and terms[0][NC] == 1 and (_size(*runs[0][2:]) > NUMPY_COIN_TILES or COIN_KERNEL in sys.modules):
        full, last_full = _lone_coin(terms[0], coins, runs[0][2:], grid)
        coin_full, lone = np.zeros(0, np.int64), (terms[0], coins, *runs[0][2:])
    else:
        coin_full, lone = _coin_full(terms, coins, runs, plain, grid), None
        if coin_full is None:
            return None
        full = full + np.bincount(coin_full // grid.n_cols, minlength=grid.n_rows)
        last_full[coin_full[coin_full % grid.n_cols == grid.n_cols - 1] // grid.n_cols] = True
    edges = _edges(runs, plain, coin_full, grid)
    if edges is None or edges.size * block_q * ((1 << len(terms)) - 1) > MAX_EDGE_CELLS:
        return None
    step = max(1, CHUNK_CELLS // block_q)
    counted = [_count(terms, coins, edges[i:i + step], grid) for i in range(0, edges.size, step)]
    return Runs(seq_len, kv_len, block_q, block_kv, full, last_full, plain, coin_full, edges,
                np.concatenate(counted or [np.zeros(0, np.int64)]), lone)


class _Grid:
    """Tile shape and the first and last query of every query-block row."""

    def __init__(self, seq_len, kv_len, block_q, block_kv):
        self.seq_len, self.kv_len, self.block_q, self.block_kv = seq_len, kv_len, block_q, block_kv
        self.n_rows, self.n_cols = -(-seq_len // block_q), -(-kv_len // block_kv)
        rows = np.arange(self.n_rows, dtype=np.int64)
        self.q0, self.q1 = rows * block_q, np.minimum(rows * block_q + block_q, seq_len) - 1


def _term_runs(t, g: _Grid):
    """Per row: the first and last tile term t touches, and the first and last of its interior (first > last:
    none). A row's queries with a key in the term are qa..qb; their keys lo(q)..hi(q) grow with q, so the
    row touches lo(qa)..hi(qb), and every query attends lo(qb)..hi(qa) when all of the row's queries are in."""
    k_lo, k_hi = max(t[KLO], 0), min(t[KHI], g.kv_len - 1)
    qa = np.maximum(np.maximum(g.q0, t[QLO]), k_lo - t[DHI])
    qb = np.minimum(np.minimum(g.q1, t[QHI]), k_hi - t[DLO])
    present = (qa <= qb) & (k_lo <= k_hi) & (t[DLO] <= t[DHI])
    lo_a, hi_a = np.maximum(k_lo, qa + t[DLO]), np.minimum(k_hi, qa + t[DHI])
    lo_b, hi_b = np.maximum(k_lo, qb + t[DLO]), np.minimum(k_hi, qb + t[DHI])
    whole = present & (qa == g.q0) & (qb == g.q1) & (lo_b <= hi_a)
    inner_first = -(-lo_b // g.block_kv)
    inner_last = np.where(hi_a == g.kv_len - 1, g.n_cols - 1, (hi_a + 1) // g.block_kv - 1)
    return (np.where(present, lo_a // g.block_kv, 1), np.where(present, hi_b // g.block_kv, 0),
            np.where(whole, inner_first, 1), np.where(whole, inner_last, 0))


def _union_length(ranges, n_rows: int) -> np.ndarray:
    """Per row, the tiles in the union of the ranges (per-row first and last arrays)."""
    if not ranges:
        return np.zeros(n_rows, dtype=np.int64)
    return union_keys(ranges, 0, np.iinfo(np.int64).max - 1)


def _lone_coin(t, coins, interior, g: _Grid):
    """A term with one coin and nothing else (random_blocks, perhaps within a box) on a large grid: its kept
    interior tiles per row by a small numba kernel (``_coin_rows``), and whether the last column is one."""
    from einsum_cascades.sparsity._lowering import kernel

    seed, threshold = coins[t[C0], 0], coins[t[C0], 1]
    first, last = (np.ascontiguousarray(a, dtype=np.int64) for a in interior)
    full = kernel("kept_per_row", "coin_rows")(first, last, seed, threshold)
    rows, end = np.arange(g.n_rows), g.n_cols - 1
    last_full = (first <= end) & (end <= last) & keep_below(rows, end, int(seed), int(threshold))
    return full, last_full


def _size(first, last) -> int:
    return int(np.maximum(last - first + 1, 0).sum())


def _coin_full(terms, coins, runs, plain, g: _Grid):
    """Flat indices of the interior tiles of terms with coins that the coins keep and no plain interior holds;
    None past MAX_COIN_TILES."""
    found = [np.zeros(0, np.int64)]
    for t, r in zip(terms, runs):
        if t[NC] == 0:
            continue
        row, col = _expand(r[2], r[3], MAX_COIN_TILES)
        if row is None:
            return None
        keep = _kept(t, coins, row, col) & ~_inside(row, col, plain)
        found.append(row[keep] * g.n_cols + col[keep])
    return _sorted_set(np.concatenate(found))


def _edges(runs, plain, coin_full, g: _Grid):
    """Flat indices of the tiles some term touches outside its interior and outside every interior that makes
    them full; None past MAX_EDGE_CELLS."""
    found = [np.zeros(0, np.int64)]
    for first, last, inner_first, inner_last in runs:
        has_inner = inner_first <= inner_last
        for lo, hi in ((first, np.where(has_inner, inner_first - 1, last)),
                       (np.where(has_inner, inner_last + 1, 1), np.where(has_inner, last, 0))):
            row, col = _expand(lo, hi, MAX_EDGE_CELLS // g.block_q)
            if row is None:
                return None
            found.append(row * g.n_cols + col)
    flat = _sorted_set(np.concatenate(found))
    row, col = flat // g.n_cols, flat % g.n_cols
    return flat[~(_inside(row, col, plain) | _member(flat, coin_full))]


def _count(terms, coins, flat, g: _Grid) -> np.ndarray:
    """Attended elements of the tiles ``flat``: per query, the union of the key intervals of the terms active
    there (in the term's rows and, with coins, in a tile its coins keep)."""
    row, col = flat // g.n_cols, flat % g.n_cols
    q = g.q0[row][:, None] + np.arange(g.block_q, dtype=np.int64)
    real = q <= g.q1[row][:, None]  # the last row may be ragged
    first = (col * g.block_kv)[:, None]
    last = np.minimum(first + g.block_kv, g.kv_len) - 1
    intervals = []
    for t in terms:
        active = real & (q >= t[QLO]) & (q <= t[QHI])
        if t[NC]:
            active &= _kept(t, coins, row, col)[:, None]
        lo = np.maximum(np.maximum(t[KLO], q + t[DLO]), 0)
        hi = np.minimum(np.minimum(t[KHI], q + t[DHI]), g.kv_len - 1)
        intervals.append((np.where(active, lo, 1), np.where(active, hi, 0)))
    return union_keys(intervals, first, last).sum(axis=1)


def _kept(t, coins, row, col) -> np.ndarray:
    """Does every coin of term t keep tile (row, col)?"""
    keep = np.ones(np.shape(row), dtype=bool)
    for seed, threshold, _, _ in coins[t[C0]:t[C0] + t[NC]]:
        keep &= keep_below(row, col, int(seed), int(threshold))
    return keep


def _inside(row, col, interiors) -> np.ndarray:
    """Is tile (row, col) inside one of the interiors (per-row first and last arrays)?"""
    hit = np.zeros(np.shape(row), dtype=bool)
    for inner_first, inner_last in interiors:
        hit |= (inner_first[row] <= col) & (col <= inner_last[row])
    return hit


def _sorted_set(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted (np.unique's hashing is slower on millions of integers)."""
    values = np.sort(values)
    return values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Is each value in ``sorted_set``?"""
    if sorted_set.size == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[at] == values


def _expand(lo, hi, limit):
    """(rows, cols) of every tile in the per-row ranges lo[i]..hi[i]; (None, None) past ``limit`` tiles."""
    length = np.maximum(hi - lo + 1, 0)
    total = int(length.sum())
    if total > limit:
        return None, None
    row = np.repeat(np.arange(lo.size, dtype=np.int64), length)
    start = np.repeat(np.cumsum(length) - length, length)
    return row, np.repeat(lo, length) + np.arange(total, dtype=np.int64) - start
