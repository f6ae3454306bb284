"""Boxes and periods without numba: every tile's attended elements in closed form (numpy).

A conjunction of boxes (``DLO <= k - q <= DHI``, ``KLO <= k <= KHI``, ``QLO <= q <= QHI``) and a diagonal
period (strided, slash: ``k - q == off (mod AD)``) attends, for query q of a tile, the distances d = k - q in an
interval whose ends are constant or move by one per query, congruent to off modulo the period P. Their number
is ``floor((hi - off) / P) - floor((lo - 1 - off) / P)``, and over the tile's queries each floor sums in closed
form (``_floor_sum``: sum of floor(x / P) over consecutive x) on at most two pieces per end. With a column
period too (vertical: ``k == 0 (mod AK)``) the sum runs over the tile's columns instead, each floor then
falling by AK / P per column (``_linear_floor_sum``, a Euclid-like reduction). A union of terms
is counted by inclusion-exclusion over the non-empty subsets of its terms (an intersection keeps the finest
box, the least common multiple of the periods, and every coin); coins and selection tables keep or drop a
whole tile; a chunk (k // w == (q + off) // w) splits a tile into the boxes of the chunks its queries meet.
The cost is O(tiles x subsets x chunks met), no compile: below ``MAX_CELLS`` a one-off point lowers strided,
topk, budget, evenly placed vertical-slash lines, chunks in unions and their combinations in milliseconds, where the numba kernels would first
compile for tens of seconds.
"""

import math

import numpy as np

from einsum_cascades.sparsity._expr import keep_below
from einsum_cascades.sparsity._fields import AD, AK, C0, CW, DHI, DLO, KHI, KLO, NC, QHI, QLO, TABLE
from einsum_cascades.sparsity._interval_tiles import MAX_TERMS

MAX_CELLS = 1 << 22  # (tile, term subset) cells counted here at most (100-300 ns each)
CHUNK_TILES = 1 << 18  # tiles counted at a time (bounds the temporaries to a few MB each)


def supported(terms: np.ndarray, coins: np.ndarray, block_q: int, block_kv: int) -> bool:
    """Chunk widths that nest (each divides the next), coins flipped (and tables drawn) per tile."""
    if terms.shape[0] > MAX_TERMS:
        return False
    widths = sorted({int(w) for w in terms[:, CW] if w})
    if any(b % a for a, b in zip(widths, widths[1:])):
        return False
    used = np.concatenate([np.arange(t[C0], t[C0] + t[NC]) for t in terms] or [np.zeros(0, np.int64)])
    c = coins[used.astype(np.int64)]
    return bool(np.all(c[:, 2] == block_q) and np.all(c[:, 3] == block_kv))


def cells(terms: np.ndarray, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> int:
    """(tile, subset) cells ``tile_elements`` evaluates at most: each subset's tiles within its box's reach (past
    MAX_CELLS rows, the rows: a per-row count would allocate more than numpy could then count)."""
    n_rows = -(-seq_len // block_q)
    if n_rows > MAX_CELLS:
        return n_rows
    q0 = np.arange(n_rows, dtype=np.int64) * block_q
    q1 = np.minimum(q0 + block_q, seq_len) - 1
    return sum(int(_reach(box, q0, q1, kv_len, block_kv)[2].sum()) * _slots(box, block_q)
               for _, box, _ in _subsets(terms, seq_len, kv_len) if box is not None)


def _slots(box, block_q: int) -> int:
    """Chunks a tile's queries meet at most (1 without a chunk)."""
    return -(-block_q // box[7]) + 1 if box[7] else 1


def tile_elements(terms, coins, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> np.ndarray:
    """Attended elements of every tile: (query-block rows x key-block columns), int64."""
    n_rows, n_cols = -(-seq_len // block_q), -(-kv_len // block_kv)
    out = np.zeros(n_rows * n_cols, np.int64)
    tables = _Tables(coins)
    step = max(1, CHUNK_TILES // n_cols)
    for members, box, sign in _subsets(terms, seq_len, kv_len):
        if box is None:
            continue
        table = next((int(c[0]) for t in members for c in coins[terms[t, C0]:terms[t, C0] + terms[t, NC]]
                      if c[1] == TABLE), None)
        for r in range(0, n_rows, step):
            q0 = np.arange(r, min(n_rows, r + step), dtype=np.int64) * block_q
            q1 = np.minimum(q0 + block_q, seq_len) - 1
            bi, bj = _cells(box, q0, q1, r, kv_len, block_kv, None if table is None else tables.entries(table))
            ql, kl = bi * block_q, bj * block_kv
            count = _chunked_count(box, ql, np.minimum(ql + block_q, seq_len) - 1, kl,
                                   np.minimum(kl + block_kv, kv_len) - 1, kv_len - seq_len, block_q)
            for t in members:
                count = count * _kept(terms[t], coins, tables, bi, bj)
            out[bi * n_cols + bj] += sign * count  # each tile once per subset
    return out.reshape(n_rows, n_cols)


def _subsets(terms, seq_len: int, kv_len: int) -> list:
    return [_intersection(terms, s, seq_len, kv_len) for s in range(1, 1 << terms.shape[0])]


def _reach(box, q0, q1, kv_len: int, block_kv: int):
    """Per query-block row [q0, q1]: the first and last key block the box reaches from it, and their number."""
    dlo, dhi, klo, khi, qlo, qhi = box[:6]
    qa, qb = np.maximum(q0, qlo), np.minimum(q1, qhi)
    ka, kb = np.maximum(np.maximum(qa + dlo, klo), 0), np.minimum(np.minimum(qb + dhi, khi), kv_len - 1)
    first, last = ka // block_kv, kb // block_kv
    return first, last, np.where((qa <= qb) & (ka <= kb), last - first + 1, 0)


def _cells(box, q0, q1, row0: int, kv_len: int, block_kv: int, table):
    """(row, column) of the tiles of rows row0.. that the box reaches (only those a selection table keeps)."""
    first, last, width = _reach(box, q0, q1, kv_len, block_kv)
    if table is not None:
        rows, cols = table
        inside = (rows >= row0) & (rows < row0 + q0.size)
        rows, cols = rows[inside], cols[inside]
        keep = (cols >= first[rows - row0]) & (cols <= last[rows - row0])
        return rows[keep], cols[keep]
    rows = np.repeat(np.arange(q0.size, dtype=np.int64), width)
    starts = np.cumsum(width) - width
    return rows + row0, first[rows] + np.arange(rows.size, dtype=np.int64) - starts[rows]


class _Tables:
    """The selection tables serialised in ``coins`` (see ``_tile_state.table_bounds``), read once each."""

    def __init__(self, coins):
        self.flat, self._read = coins.ravel(), {}

    def entries(self, base: int):
        """(block row, key block) of every kept tile, in row order."""
        if base not in self._read:
            n = int(self.flat[base])
            starts = self.flat[base + 1:base + 2 + n]
            rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(starts))
            self._read[base] = rows, self.flat[starts[0]:starts[n]].astype(np.int64)
        return self._read[base]

    def keeps(self, base: int, bi, bj) -> np.ndarray:
        """Does the table keep tile (bi[x], bj[x])?"""
        return listed(*self.entries(base), bi, bj)


def listed(rows, cols, bi, bj) -> np.ndarray:
    """Is tile (bi, bj) among the tiles (rows[i], cols[i]) (in row, then column order)? Broadcast over bi, bj."""
    keys = rows << 32 | cols
    want = np.asarray(bi, dtype=np.int64) << 32 | np.asarray(bj, dtype=np.int64)
    if keys.size == 0:
        return np.zeros(np.shape(want), dtype=bool)
    pos = np.minimum(np.searchsorted(keys, want), keys.size - 1)
    return keys[pos] == want


def _intersection(terms, subset: int, seq_len: int, kv_len: int):
    """(member terms, box, sign) of a subset of the terms; box (dlo, dhi, klo, khi, qlo, qhi, period, chunk
    width or 0, column period) is None when empty. d bounds are clipped just past the reachable d, periods past every distance."""
    members = [t for t in range(terms.shape[0]) if subset >> t & 1]
    rows = terms[members]
    dlo, dhi = max(int(rows[:, DLO].max()), -seq_len), min(int(rows[:, DHI].min()), kv_len)
    klo, khi = int(rows[:, KLO].max()), min(int(rows[:, KHI].min()), kv_len - 1)
    qlo, qhi = int(rows[:, QLO].max()), min(int(rows[:, QHI].min()), seq_len - 1)
    period, column, widths = 1, 1, [int(w) for w in rows[:, CW] if w]
    for t in rows:
        period = min(math.lcm(period, int(t[AD])), seq_len + kv_len)  # past seq+kv only d == off is reachable
        column = min(math.lcm(column, int(t[AK])), kv_len)  # past kv_len only k == 0 is reachable
    sign = 1 if len(members) % 2 else -1
    if dlo > dhi or klo > khi or qlo > qhi:
        return members, None, sign
    return members, (dlo, dhi, klo, khi, qlo, qhi, period, min(widths, default=0), column), sign  # nested chunks


def _chunked_count(box, q0, q1, k0, k1, off: int, block_q: int) -> np.ndarray:
    """``_box_count`` of each tile, within the chunks of the box's width w: k // w == (q + off) // w keeps, for
    the tile's queries in chunk c, the keys [c * w, c * w + w - 1]; a tile's queries meet ``_slots`` chunks."""
    w = box[7]
    if not w:
        return _box_count(box, q0, q1, k0, k1, off)
    first = np.floor_divide(q0 + off, w)
    count = 0
    for c in range(_slots(box, block_q)):
        start = (first + c) * w
        count = count + _box_count(box, np.maximum(q0, start - off), np.minimum(q1, start + w - 1 - off),
                                   np.maximum(k0, start), np.minimum(k1, start + w - 1), off)
    return count


def _box_count(box, q0, q1, k0, k1, off: int) -> np.ndarray:
    """Elements (q, k) of each tile [q0, q1] x [k0, k1] in the box, on its period's residue."""
    dlo, dhi, klo, khi, qlo, qhi, period, _, column = box
    qa, qb = np.maximum(q0, qlo), np.minimum(q1, qhi)
    ka, kb = np.maximum(k0, klo), np.minimum(k1, khi)
    if column > 1:
        return _column_count(dlo, dhi, qa, qb, ka, kb, off, period, column)
    qs, qe = np.maximum(qa, ka - dhi), np.minimum(qb, kb - dlo)  # queries with some key of the tile in the band
    qe = np.where(ka <= kb, qe, qs - 1)
    # x = d in [max(dlo, ka - q), min(dhi, kb - q)], d == off (mod period)
    high = _const_sum(qs, np.minimum(qe, kb - dhi - 1), dhi - off, period) + \
        _ramp_sum(np.maximum(qs, kb - dhi), qe, kb - off, -1, period)
    low = _ramp_sum(qs, np.minimum(qe, ka - dlo), ka - 1 - off, -1, period) + \
        _const_sum(np.maximum(qs, ka - dlo + 1), qe, dlo - 1 - off, period)
    return high - low


def _column_count(dlo, dhi, qa, qb, ka, kb, off: int, period: int, column: int) -> np.ndarray:
    """Elements of each tile on the columns k == 0 (mod column) and the diagonals k - q == off (mod period):
    over the tile's columns k = column * t, the queries in [max(qa, k - dhi), min(qb, k - dlo)] on the residue,
    floor((hi - k + off) / period) - floor((lo - 1 - k + off) / period), each end constant or falling by
    column / period per column (``_linear_floor_sum``)."""
    ks, ke = np.maximum(ka, qa + dlo), np.minimum(kb, qb + dhi)  # columns with a query of the tile in the band
    t0 = -np.floor_divide(-ks, column)
    t1 = np.where(qa <= qb, np.floor_divide(ke, column), t0 - 1)
    bend = np.floor_divide(qb + dlo, column)  # the last column whose band reaches past qb
    high = np.maximum(np.minimum(t1, bend) - t0 + 1, 0) * ((off - dlo) // period) + \
        _falling_sum(np.maximum(t0, bend + 1), t1, qb + off, column, period)
    bend = -np.floor_divide(-(qa + dhi), column)  # the first column whose band starts at or past qa
    low = _falling_sum(t0, np.minimum(t1, bend - 1), qa - 1 + off, column, period) + \
        np.maximum(t1 - np.maximum(t0, bend) + 1, 0) * ((off - dhi - 1) // period)
    return high - low


def _falling_sum(a, b, c, column: int, period: int):
    """Sum over t in [a, b] of floor((c - column * t) / period); 0 where a > b."""
    n = np.maximum(b - a + 1, 0)
    return _linear_floor_sum(n, period, column, c - column * np.maximum(b, a - 1))  # t = b - j, j = 0..n-1


def _linear_floor_sum(n, m: int, a: int, b):
    """Sum over j in [0, n) of floor((a * j + b) / m), element-wise over n >= 0 and b, for integers a >= 0 and
    m >= 1: the Euclid-like reduction of AtCoder Library's floor_sum (math.hpp), on arrays; (a, m) are the same
    for every element, so every element takes the same O(log m) steps."""
    n, b = np.asarray(n, np.int64), np.asarray(b, np.int64)
    q = np.floor_divide(b, m)
    total, b = n * q, b - q * m
    while True:
        if a >= m:
            total = total + (n * (n - 1) >> 1) * (a // m)
            a %= m
        q = b // m
        total, b = total + n * q, b - q * m
        y = a * n + b
        live = y >= m
        if not live.any():
            return total
        n, b = np.where(live, y // m, 0), np.where(live, y % m, 0)
        m, a = a, m


def _const_sum(a, b, x, period: int):
    """Sum over q in [a, b] of floor(x / period), x constant (per tile)."""
    return np.maximum(b - a + 1, 0) * _floor_div(x, period)


def _ramp_sum(a, b, base, slope: int, period: int):
    """Sum over q in [a, b] of floor((base + slope * q) / period), slope +1 or -1; 0 where a > b."""
    b = np.maximum(b, a - 1)  # an empty range sums to S(lo) - S(lo)
    lo, hi = (base + a, base + b) if slope > 0 else (base - b, base - a)
    return _floor_sum(hi + 1, period) - _floor_sum(lo, period)


def _floor_sum(n, period: int):
    """Sum of floor(x / period) over x in [0, n) (minus the sum over [n, 0) for n < 0): S(n + 1) - S(n) is
    floor(n / period) for every integer n."""
    if period == 1:
        return n * (n - 1) >> 1
    m = _floor_div(n, period)
    return (period * m * (m - 1) >> 1) + (n - period * m) * m  # m * (m - 1) >= 0 and even


def _floor_div(n, period: int):
    """floor(n / period), through float64: exact for |n| < 2**53 (a quotient that is not an integer is at
    least 1 / period from one, far more than the rounding error |n| / period * 2**-53)."""
    if period == 1:
        return n
    return np.floor(np.asarray(n) / period).astype(np.int64)


def _kept(t, coins, tables: _Tables, bi, bj) -> np.ndarray:
    """Does every coin and table of term t keep tile (bi[x], bj[x])? (1 or 0)"""
    keep = np.ones(bi.shape, dtype=np.int64)
    for seed, threshold, _, _ in coins[t[C0]:t[C0] + t[NC]]:
        if threshold == TABLE:
            keep &= tables.keeps(int(seed), bi, bj)
        else:
            keep &= keep_below(bi, bj, int(seed), int(threshold))
    return keep
