"""numba kernels behind ``tiles.tile_counts`` (this module is imported only when a mask is lowered).

Term arrays come from ``tiles.compile_terms``: T[t] = (dlo, dhi, klo, khi, qlo,
qhi, n_sparse, first_sparse), S[i] = (kind, a, b), density[i] for random tiles.
Tile states: 0 empty, 1 partial, 2 full, 3 undecided (settle element by element).
"""

import numba
import numpy as np

STRIDED, VERTICAL, SLASH, RANDOM = 1, 2, 3, 4
EMPTY, PARTIAL, FULL, UNDECIDED = 0, 1, 2, 3


@numba.njit(cache=True)
def _keep(bi, bj, seed, density):
    """The per-tile coin of random_blocks (same splitmix64 as sparsity._hash_keep)."""
    x = (np.uint64(bi) * np.uint64(0x9E3779B97F4A7C15)) ^ (np.uint64(bj) * np.uint64(0xBF58476D1CE4E5B9)) \
        ^ (np.uint64(seed) * np.uint64(0x94D049BB133111EB))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return np.float64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0) < density


@numba.njit(cache=True)
def _sparse_any(kind, a, b, off, qc0, qc1, kc0, kc1, dmin, dmax):
    """Does the sparse set hit the clipped tile (rows qc0..qc1, keys kc0..kc1, d in dmin..dmax)?"""
    if kind == STRIDED:
        d0 = dmin + ((off - dmin) % a)
        return d0 <= dmax
    if kind == VERTICAL:  # columns i*a, i < b, with some d in range
        lo, hi = max(kc0, dmin + qc0), min(kc1, dmax + qc1)
        if lo > hi:
            return False
        i_lo = (lo + a - 1) // a
        return i_lo <= min(b - 1, hi // a)
    # SLASH: diagonals d = off - j*a, j < b
    lo, hi = off - dmax, off - dmin
    if hi < 0:
        return False
    j_lo = (max(lo, 0) + a - 1) // a
    return j_lo <= min(b - 1, hi // a)


@numba.njit(cache=True)
def _term_state(t, S, dens, off, i, j, q0, q1, k0, k1):
    dlo, dhi, klo, khi, qlo, qhi, ns, first = t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]
    qc0, qc1, kc0, kc1 = max(q0, qlo), min(q1, qhi), max(k0, klo), min(k1, khi)
    if qc0 > qc1 or kc0 > kc1:
        return EMPTY
    dmin, dmax = max(kc0 - qc1, dlo), min(kc1 - qc0, dhi)
    if dmin > dmax:
        return EMPTY
    box_full = qc0 == q0 and qc1 == q1 and kc0 == k0 and kc1 == k1 and dlo <= k0 - q1 and dhi >= k1 - q0
    if ns == 0:
        return FULL if box_full else PARTIAL
    if ns > 1:
        return UNDECIDED
    kind, a, b = S[first, 0], S[first, 1], S[first, 2]
    if kind == RANDOM:
        rq, rk = S[first, 3], S[first, 4]
        if q0 // rq != q1 // rq or k0 // rk != k1 // rk:
            return UNDECIDED  # the tile spans several random blocks
        return (FULL if box_full else PARTIAL) if _keep(q0 // rq, k0 // rk, a, dens[first]) else EMPTY
    if not _sparse_any(kind, a, b, off, qc0, qc1, kc0, kc1, dmin, dmax):
        return EMPTY
    if q0 == q1 or k0 == k1 or a == 1:  # a line of a tile may lie wholly on the set: count elements
        return UNDECIDED
    return PARTIAL


@numba.njit(cache=True)
def _element(T, S, dens, off, q, k, i, j):
    d = k - q
    for t in range(T.shape[0]):
        if not (T[t, 0] <= d <= T[t, 1] and T[t, 2] <= k <= T[t, 3] and T[t, 4] <= q <= T[t, 5]):
            continue
        ok = True
        for s in range(T[t, 7], T[t, 7] + T[t, 6]):
            kind, a, b = S[s, 0], S[s, 1], S[s, 2]
            if kind == STRIDED:
                ok = (off - d) % a == 0
            elif kind == VERTICAL:
                ok = k % a == 0 and k // a < b
            elif kind == SLASH:
                back = off - d
                ok = back >= 0 and back % a == 0 and back // a < b
            else:
                ok = _keep(q // S[s, 3], k // S[s, 4], a, dens[s])
            if not ok:
                break
        if ok:
            return True
    return False


@numba.njit(cache=True)
def _settle(T, S, dens, off, i, j, q0, q1, k0, k1):
    n_true = 0
    for q in range(q0, q1 + 1):
        for k in range(k0, k1 + 1):
            n_true += _element(T, S, dens, off, q, k, i, j)
    if n_true == 0:
        return EMPTY
    return FULL if n_true == (q1 - q0 + 1) * (k1 - k0 + 1) else PARTIAL


@numba.njit(cache=True)
def _tile_state(T, S, dens, off, i, j, q0, q1, k0, k1):
    partial, undecided = 0, False
    for t in range(T.shape[0]):
        st = _term_state(T[t], S, dens, off, i, j, q0, q1, k0, k1)
        if st == FULL:
            return FULL
        if st == PARTIAL:
            partial += 1
        elif st == UNDECIDED:
            undecided = True
    if undecided or partial > 1:
        return _settle(T, S, dens, off, i, j, q0, q1, k0, k1)
    return PARTIAL if partial == 1 else EMPTY


@numba.njit(cache=True)
def lower(nq, nkv, bq, bkv, T, S, dens):
    """Per block row: number of full and partial tiles.

    Each term first marks its box-full range in closed form (box terms: full;
    random tiles: full where the coin keeps them; other sparse sets: one O(1)
    hit test per tile), counting how many terms call a tile partial; tiles at
    a term's edges, and tiles two terms call partial, take the general path.
    """
    if T[:, 6].sum() == 0:
        return _lower_boxes(nq, nkv, bq, bkv, T, S, dens)
    off = nkv - nq
    n_rows, n_cols = (nq + bq - 1) // bq, (nkv + bkv - 1) // bkv
    row_full = np.zeros(n_rows, dtype=np.int64)
    row_partial = np.zeros(n_rows, dtype=np.int64)
    state = np.zeros(n_cols, dtype=np.int8)  # 0 empty, 1 partial (one term), 2 full, 3 general path
    for i in range(n_rows):
        q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
        state[:] = 0
        for t in range(T.shape[0]):
            _mark_term(T, S, dens, t, off, i, q0, q1, nkv, bkv, n_cols, state)
        for j in range(n_cols):
            if state[j] == 3:
                _tally(T, S, dens, off, i, j, q0, q1, nkv, bkv, row_full, row_partial)
            elif state[j] == FULL:
                row_full[i] += 1
            elif state[j] == PARTIAL:
                row_partial[i] += 1
    return row_full, row_partial


@numba.njit(cache=True)
def _tally(T, S, dens, off, i, j, q0, q1, nkv, bkv, row_full, row_partial):
    """Settle tile (i, j) by the general path and count it."""
    st = _tile_state(T, S, dens, off, i, j, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1)
    if st == FULL:
        row_full[i] += 1
    elif st == PARTIAL:
        row_partial[i] += 1


@numba.njit(cache=True)
def _term_ranges(T, t, q0, q1, nkv, bkv, n_cols):
    """Key-block ranges of term t over query rows q0..q1: (non-empty lo, hi) and (full lo, hi).

    A range with lo > hi is empty; the full range exists only for rows the term does not clip.
    """
    dlo, dhi, klo, khi, qlo, qhi = T[t, 0], T[t, 1], T[t, 2], T[t, 3], T[t, 4], T[t, 5]
    qc0, qc1 = max(q0, qlo), min(q1, qhi)
    kmin, kmax = max(klo, qc0 + dlo, 0), min(khi, qc1 + dhi, nkv - 1)
    if qc0 > qc1 or kmin > kmax:
        return 1, 0, 1, 0
    flo, fhi = 1, 0
    if qc0 == q0 and qc1 == q1:
        kf0, kf1 = max(klo, q1 + dlo, 0), min(khi, q0 + dhi, nkv - 1)
        flo = (kf0 + bkv - 1) // bkv
        fhi = n_cols - 1 if kf1 >= nkv - 1 else (kf1 + 1) // bkv - 1
    return kmin // bkv, kmax // bkv, flo, fhi


@numba.njit(cache=True)
def _mark_term(T, S, dens, t, off, i, q0, q1, nkv, bkv, n_cols, state):
    ns, first = T[t, 6], T[t, 7]
    nlo, nhi, flo, fhi = _term_ranges(T, t, q0, q1, nkv, bkv, n_cols)
    if ns > 1:
        flo, fhi = 1, 0
    kind = S[first, 0] if ns == 1 else 0
    if kind == VERTICAL or kind == SLASH:  # only blocks holding a column / a diagonal can be hit
        for j in range(nlo, nhi + 1):
            if j < flo or j > fhi:
                if state[j] != FULL:
                    state[j] = 3
        if flo <= fhi:
            _mark_lines(S, first, kind, off, q0, q1, nkv, bkv, flo, fhi, state)
        return
    aligned = ns == 1 and S[first, 3] == q1 - q0 + 1 and S[first, 4] == bkv and q0 % S[first, 3] == 0
    for j in range(nlo, nhi + 1):
        if state[j] == FULL or state[j] == 3:
            continue
        if j < flo or j > fhi:
            state[j] = 3  # an edge of this term: general path
        elif ns == 0:
            state[j] = FULL
        elif kind == RANDOM:
            if aligned:  # coins flipped per lowering tile: the coin index is the tile index
                if _keep(i, j, S[first, 1], dens[first]):
                    state[j] = FULL
            else:
                state[j] = 3
        else:
            k0, k1 = j * bkv, min(nkv, (j + 1) * bkv) - 1
            if _sparse_any(kind, S[first, 1], S[first, 2], off, q0, q1, k0, k1, k0 - q1, k1 - q0):
                if state[j] == PARTIAL or q0 == q1 or k0 == k1 or S[first, 1] == 1:
                    state[j] = 3  # two partial terms, a one-line tile or a dense set: settle by elements
                else:
                    state[j] = PARTIAL


@numba.njit(cache=True)
def _lower_boxes(nq, nkv, bq, bkv, T, S, dens):
    """Box-only patterns: per row, full tiles are a union of ranges; only range edges are examined."""
    off = nkv - nq
    n_rows, n_cols = (nq + bq - 1) // bq, (nkv + bkv - 1) // bkv
    n_terms = T.shape[0]
    row_full = np.zeros(n_rows, dtype=np.int64)
    row_partial = np.zeros(n_rows, dtype=np.int64)
    flo, fhi = np.empty(n_terms, dtype=np.int64), np.empty(n_terms, dtype=np.int64)
    edge_lo, edge_hi = np.empty(2 * n_terms, dtype=np.int64), np.empty(2 * n_terms, dtype=np.int64)
    stamp = np.full(n_cols, -1, dtype=np.int64)  # stamp[j] == i: tile j already counted in row i
    for i in range(n_rows):
        q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
        n_edges = 0
        for t in range(n_terms):
            nlo, nhi, flo[t], fhi[t] = _term_ranges(T, t, q0, q1, nkv, bkv, n_cols)
            if nlo > nhi:
                continue
            if flo[t] > fhi[t]:
                edge_lo[n_edges], edge_hi[n_edges] = nlo, nhi
                n_edges += 1
            else:
                edge_lo[n_edges], edge_hi[n_edges] = nlo, flo[t] - 1
                edge_lo[n_edges + 1], edge_hi[n_edges + 1] = fhi[t] + 1, nhi
                n_edges += 2
        row_full[i] = _union_length(flo, fhi)
        for e in range(n_edges):
            for j in range(edge_lo[e], edge_hi[e] + 1):
                if _in_ranges(j, flo, fhi) or stamp[j] == i:
                    continue
                stamp[j] = i
                _tally(T, S, dens, off, i, j, q0, q1, nkv, bkv, row_full, row_partial)
    return row_full, row_partial


@numba.njit(cache=True)
def _in_ranges(j, lo, hi):
    for t in range(lo.size):
        if lo[t] <= j <= hi[t]:
            return True
    return False


@numba.njit(cache=True)
def _union_length(lo, hi):
    order = np.argsort(lo)
    count, reach = 0, -1
    for t in order:
        if lo[t] > hi[t]:
            continue
        start = max(lo[t], reach + 1)
        if start <= hi[t]:
            count += hi[t] - start + 1
            reach = hi[t]
    return count


@numba.njit(cache=True)
def states(nq, nkv, bq, bkv, T, S, dens, rows, cols):
    """Tile states on a grid of chosen block rows and columns (for pictures)."""
    off = nkv - nq
    out = np.zeros((rows.size, cols.size), dtype=np.int8)
    for a in range(rows.size):
        i = rows[a]
        q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
        for b in range(cols.size):
            j = cols[b]
            out[a, b] = _tile_state(T, S, dens, off, i, j, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1)
    return out


@numba.njit(cache=True)
def _mark_lines(S, first, kind, off, q0, q1, nkv, bkv, flo, fhi, state):
    """Mark the box-full blocks flo..fhi that a vertical or slash set hits, visiting only those blocks."""
    a, b = S[first, 1], S[first, 2]
    if kind == VERTICAL:  # columns k = i*a, i < b
        i_lo, i_hi = (flo * bkv + a - 1) // a, min(b - 1, (min(nkv, (fhi + 1) * bkv) - 1) // a)
        last = -1
        for i in range(i_lo, i_hi + 1):
            j = i * a // bkv
            if j != last:
                _mark_hit(S, first, kind, off, q0, q1, nkv, bkv, j, state)
                last = j
        return
    for jd in range(b):  # SLASH: diagonals k - q = off - jd*a
        d = off - jd * a
        lo, hi = max(flo, (q0 + d) // bkv if q0 + d >= 0 else 0), min(fhi, (q1 + d) // bkv if q1 + d >= 0 else -1)
        for j in range(lo, hi + 1):
            _mark_hit(S, first, kind, off, q0, q1, nkv, bkv, j, state)


@numba.njit(cache=True)
def _mark_hit(S, first, kind, off, q0, q1, nkv, bkv, j, state):
    if state[j] == FULL or state[j] == 3:
        return
    k0, k1 = j * bkv, min(nkv, (j + 1) * bkv) - 1
    if _sparse_any(kind, S[first, 1], S[first, 2], off, q0, q1, k0, k1, k0 - q1, k1 - q0):
        if state[j] == PARTIAL or q0 == q1 or k0 == k1 or S[first, 1] == 1:
            state[j] = 3  # two partial terms, a one-line tile or a dense set: settle by elements
        else:
            state[j] = PARTIAL
