"""numba kernels of the selectors (topk, budget): per query-block row, the key blocks a draw may pick
from, and a seeded draw of exactly min(m, candidates) of them.

A row's tiles are read as runs of one state (``row_state_runs``) from the same segments the lowering
walks, so a causal row is two runs, not a tile per key block; the draw is Floyd's algorithm (Bentley
and Floyd, "Programming pearls: a sample of brilliance", CACM 30(9), 1987): m distinct ranks from m
hashes, whatever the number of candidates.
"""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._kernels import _segment_terms, row_terms
from einsum_cascades.sparsity._row_count import tile_state
from einsum_cascades.sparsity._runs import K_CONST, K_ENUM, breakpoints, enum_hits, row_runs
from einsum_cascades.sparsity._tile_state import AD, FULL, PARTIAL, hash53, row_key


@numba.njit(cache=True)
def _put(out, r, s, e, st):
    out[r, 0], out[r, 1], out[r, 2] = s, e, st
    return r + 1


@numba.njit(cache=True)
def row_state_runs(T, C, nq, nkv, bq, bkv, i, ws, out):
    """Non-empty tiles of query-block row i under terms T (already this row's) as runs (first, last, state)
    of one state, in key order, into out; return their number."""
    runs, points, act, kinds, scratch, cs = ws[0], ws[1], ws[2], ws[3], ws[4], ws[5]
    hit_j, hit_st = ws[6], ws[7]
    n_cols, off = (nkv + bkv - 1) // bkv, nkv - nq
    q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
    n = row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
    m = breakpoints(runs, n, points)
    r = 0
    for x in range(m - 1):
        s, e = points[x], points[x + 1] - 1
        na, whole = _segment_terms(runs, n, s, act, kinds)
        if na == 0:
            continue
        if whole:
            r = _put(out, r, s, e, FULL)
            continue
        if na == 1 and kinds[0] == K_ENUM:
            for h in range(enum_hits(T, off, act[0], q0, q1, s, e, nkv, bkv, hit_j, hit_st)):
                r = _put(out, r, hit_j[h], hit_j[h], hit_st[h])
            continue
        last = e
        if na == 1 and kinds[0] == K_CONST:  # a hit in every whole-width tile (see _runs.periodic_run)
            ragged = e == n_cols - 1 and nkv % bkv != 0
            single = bkv == 1 and (q0 == q1 or T[act[0], AD] == 1)
            if e - ragged >= s:
                r = _put(out, r, s, e - ragged, FULL if single else PARTIAL)
            s = e - ragged + 1
        for j in range(s, last + 1):
            st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch, cs)
            if st != 0:
                r = _put(out, r, j, j, st)
    return r


@numba.njit(cache=True)
def _minus_full(a, na, b, nb, out):
    """Runs a[:na] less the tiles of b[:nb]'s full runs (both in key order) into out; return their number."""
    r, y = 0, 0
    for x in range(na):
        s, e = a[x, 0], a[x, 1]
        while s <= e:
            while y < nb and (b[y, 1] < s or b[y, 2] != FULL):
                y += 1
            if y == nb or b[y, 0] > e:
                r = _put(out, r, s, e, a[x, 2])
                break
            if b[y, 0] > s:
                r = _put(out, r, s, b[y, 0] - 1, a[x, 2])
            s = b[y, 1] + 1
    return r


@numba.njit(cache=True)
def _insert(table, mask, v):
    """Add v to the open-addressing set table[:mask + 1] (-1 = free); False if it was there."""
    h = (v * 0x9E3779B1) & mask
    while table[h] != -1:
        if table[h] == v:
            return False
        h = (h + 1) & mask
    table[h] = v
    return True


DENSE_DRAW = 32  # candidates per pick below which the draw marks ranks in a byte map instead of hashing and sorting


@numba.njit(cache=True)
def draw(row, n, m, seed, table, marks, picks):
    """Floyd's sample of min(m, n) distinct ranks in [0, n), sorted, into picks; return how many.

    The j-th step draws from [0, j] with the hash of (row, j, seed): the same seed gives the same picks.
    Few candidates per pick: the ranks are marked in ``marks`` and read back in order; else they go in the
    open-addressing set ``table`` and are sorted.
    """
    if m >= n:
        for x in range(n):
            picks[x] = x
        return n
    key = row_key(row, seed)
    if n <= DENSE_DRAW * m:
        marks[:n] = 0
        for j in range(n - m, n):
            t = np.int64(hash53(key, j) % np.uint64(j + 1))
            marks[j if marks[t] else t] = 1
        x = 0
        for r in range(n):
            if marks[r]:
                picks[x] = r
                x += 1
        return m
    size = 1
    while size < 2 * m:
        size *= 2
    table[:size] = -1
    for x, j in enumerate(range(n - m, n)):
        t = np.int64(hash53(key, j) % np.uint64(j + 1))
        picks[x] = t if _insert(table, size - 1, t) else j
        if picks[x] == j:
            _insert(table, size - 1, j)
    picks[:m].sort()
    return m


@numba.njit(cache=True)
def select_rows(T1, C1, T2, C2, nq, nkv, bq, bkv, m, seed, ws1, ws2):
    """Key blocks kept per query-block row: min(m, candidates) drawn among the tiles T1 leaves non-empty,
    less those T2 covers whole (T2 may have no terms). Returns (row starts, key blocks) in CSR form."""
    n_rows, n_cols = (nq + bq - 1) // bq, (nkv + bkv - 1) // bkv
    cand, full, left = np.empty((n_cols, 3), np.int64), np.empty((n_cols, 3), np.int64), np.empty((2 * n_cols, 3),
                                                                                                  np.int64)
    most = min(m, n_cols)
    table, picks, marks = np.empty(4 * most + 2, np.int64), np.empty(most, np.int64), np.zeros(n_cols, np.uint8)
    row_ptr, cols = np.zeros(n_rows + 1, np.int64), np.empty(max(most, 16), np.int64)
    for i in range(n_rows):
        nc = row_state_runs(row_terms(T1, nq, nkv, bq, i, ws1), C1, nq, nkv, bq, bkv, i, ws1, cand)
        runs = cand
        if T2.shape[0] > 0:
            nf = row_state_runs(row_terms(T2, nq, nkv, bq, i, ws2), C2, nq, nkv, bq, bkv, i, ws2, full)
            nc, runs = _minus_full(cand, nc, full, nf, left), left
        total = 0
        for x in range(nc):
            total += runs[x, 1] - runs[x, 0] + 1
        k = draw(i, total, m, seed, table, marks, picks)
        at = row_ptr[i]
        if at + k > cols.size:
            grown = np.empty(max(2 * cols.size, at + k), np.int64)
            grown[:at] = cols[:at]
            cols = grown
        x, base = 0, 0  # walk the runs with the sorted ranks
        for p in range(k):
            while picks[p] >= base + runs[x, 1] - runs[x, 0] + 1:
                base += runs[x, 1] - runs[x, 0] + 1
                x += 1
            cols[at + p] = runs[x, 0] + picks[p] - base
        row_ptr[i + 1] = at + k
    return row_ptr, cols[:row_ptr[n_rows]].copy()
