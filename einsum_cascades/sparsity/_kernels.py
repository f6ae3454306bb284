"""numba kernels behind the lowering (imported only when a mask is lowered); terms as in ``_tile_state``.

For each query-block row, a term covers a run of key blocks: the tiles its box
covers whole (its *interior*) and the tiles at its edges. The row is cut into
segments where the set of covering runs is constant, and a segment is settled
in closed form where it can be: a box-only interior makes it full; one periodic
set (strided, slash, vertical) alone counts its hit tiles with floor sums;
coins are flipped per tile; a few periodic sets together are enumerated hit by
hit. Only edge tiles and tiles two terms may jointly cover are examined one by
one, and a tile is read element by element only when its terms cannot settle
it (stopping at its first True and False).

Counters handed to other kernels start as ``np.int64(0)``: a literal 0 would compile a second copy.
Kernels that take the workspace tuple and run once per row or segment are inlined (``inline="always"``,
one or two call sites each): a numba call carrying the whole tuple costs more than a typical row's work.
"""

import numba
import numpy as np

from einsum_cascades.sparsity._row_count import box_rows, box_scratch, count_row, rows_elements, term_elements
from einsum_cascades.sparsity._tile_state import (AD, AK, C0, DHI, DLO, FULL, KHI, KLO, NC, PARTIAL,
                                                  QHI, QLO, UNDECIDED, coin_state, keep, keep_in_row, row_key,
                                                  term_state, tile_state)

# how a term's run covers a segment of key blocks
K_FULL, K_CONST, K_ENUM, K_COIN, K_TILE = 0, 1, 2, 3, 4


# ---------------------------------------------------------------- runs of one query-block row

@numba.njit(cache=True)
def _term_ranges(T, t, q0, q1, nkv, bkv, n_cols):
    """Key blocks term t's box touches over rows q0..q1, (nlo, nhi), and those it covers whole, (flo, fhi).

    A range with lo > hi is empty; nothing is covered whole in rows the term's query range clips.
    """
    qc0, qc1 = max(q0, T[t, QLO]), min(q1, T[t, QHI])
    kmin, kmax = max(T[t, KLO], qc0 + T[t, DLO], 0), min(T[t, KHI], qc1 + T[t, DHI], nkv - 1)
    if qc0 > qc1 or kmin > kmax:
        return 1, 0, 1, 0
    flo, fhi = 1, 0
    if qc0 == q0 and qc1 == q1:
        kf0, kf1 = max(T[t, KLO], q1 + T[t, DLO], 0), min(T[t, KHI], q0 + T[t, DHI], nkv - 1)
        flo = (kf0 + bkv - 1) // bkv
        fhi = n_cols - 1 if kf1 >= nkv - 1 else (kf1 + 1) // bkv - 1
    return kmin // bkv, kmax // bkv, flo, fhi


@numba.njit(cache=True)
def _interior_kind(T, C, t, q0, q1, fhi, nkv, bkv, n_cols):
    """How term t's state varies over the tiles its box covers whole (see the K_* codes)."""
    ad, ak = T[t, AD], T[t, AK]
    if T[t, NC] > 0:
        if ad > 1 or ak > 1:
            return K_TILE
        for c in range(T[t, C0], T[t, C0] + T[t, NC]):
            if q0 // C[c, 2] != q1 // C[c, 2] or C[c, 3] % bkv:
                return K_TILE  # a tile may span two coin blocks
        return K_COIN
    if ad == 1 and ak == 1:
        return K_FULL
    if ad > 1 and ak > 1:
        return K_TILE
    narrowest = bkv if fhi < n_cols - 1 else min(bkv, nkv - (n_cols - 1) * bkv)
    if ad > 1:  # a tile sees rows + cols - 1 consecutive diagonals
        return K_CONST if ad <= (q1 - q0 + 1) + narrowest - 1 else K_ENUM
    return K_CONST if ak <= narrowest else K_ENUM


@numba.njit(cache=True)
def _row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs):
    """Fill runs[:n] with (first block, last block, kind, term); return n (at most three per term)."""
    n = 0
    for t in range(T.shape[0]):
        nlo, nhi, flo, fhi = _term_ranges(T, t, q0, q1, nkv, bkv, n_cols)
        if nlo > nhi:
            continue
        if flo > fhi:
            runs[n, 0], runs[n, 1], runs[n, 2], runs[n, 3] = nlo, nhi, K_TILE, t
            n += 1
            continue
        if nlo < flo:
            runs[n, 0], runs[n, 1], runs[n, 2], runs[n, 3] = nlo, flo - 1, K_TILE, t
            n += 1
        runs[n, 0], runs[n, 1], runs[n, 3] = flo, fhi, t
        runs[n, 2] = _interior_kind(T, C, t, q0, q1, fhi, nkv, bkv, n_cols)
        n += 1
        if fhi < nhi:
            runs[n, 0], runs[n, 1], runs[n, 2], runs[n, 3] = fhi + 1, nhi, K_TILE, t
            n += 1
    return n


@numba.njit(cache=True)
def _breakpoints(runs, n, points):
    """Sorted distinct run starts and ends + 1 in points[:m]; return m (insertion: a row has few runs)."""
    m = 0
    for x in range(2 * n):
        v = runs[x // 2, x % 2] + x % 2
        pos = m
        while pos > 0 and points[pos - 1] > v:
            pos -= 1
        if pos > 0 and points[pos - 1] == v:
            continue
        for y in range(m, pos, -1):
            points[y] = points[y - 1]
        points[pos] = v
        m += 1
    return m


@numba.njit(cache=True)
def _enum_hits(T, off, t, q0, q1, s, e, nkv, bkv, out_j, out_st):
    """Tiles s..e (inside term t's interior) its sparse periodic set hits, in order; return their number."""
    k_lo, k_hi = s * bkv, min(nkv, (e + 1) * bkv) - 1
    n, last = 0, s - 1
    if T[t, AD] > 1:  # diagonals d = off (mod AD) pass tiles (q0 + d) // bkv .. (q1 + d) // bkv
        ad = T[t, AD]
        d, d_end = k_lo - q1 + (off - (k_lo - q1)) % ad, k_hi - q0
        while d <= d_end:
            for j in range(max(last + 1, (q0 + d) // bkv), min(e, (q1 + d) // bkv) + 1):
                width = min(nkv, (j + 1) * bkv) - j * bkv
                out_j[n], out_st[n] = j, FULL if q0 == q1 and width == 1 else PARTIAL
                n += 1
                last = j
            d += ad
        return n
    ak = T[t, AK]  # columns k = 0 (mod AK)
    c = (k_lo + ak - 1) // ak * ak
    while c <= k_hi:
        j = c // bkv
        width = min(nkv, (j + 1) * bkv) - j * bkv
        out_j[n], out_st[n] = j, FULL if width == 1 else PARTIAL
        n += 1
        c = ((j + 1) * bkv + ak - 1) // ak * ak  # the first column of a later tile
    return n


# ---------------------------------------------------------------- segments of one query-block row

@numba.njit(cache=True)
def _coin_run(T, C, t, q0, s, e, nkv, bkv):
    """Tiles s..e of a coin-only interior that every coin keeps: (tiles, their keys)."""
    c0, nc = T[t, C0], T[t, NC]
    if nc == 1 and C[c0, 3] == bkv:  # one coin per tile: the hot loop of random_blocks
        key, thr, kept = row_key(q0 // C[c0, 2], C[c0, 0]), C[c0, 1], 0
        for j in range(s, e + 1):
            kept += keep_in_row(key, j, thr)
        ragged = e == (nkv - 1) // bkv and keep_in_row(key, e, thr)
        return kept, kept * bkv - ragged * ((e + 1) * bkv - nkv)
    kept, keys = 0, 0
    for j in range(s, e + 1):
        every = True
        for c in range(c0, c0 + nc):
            every &= keep(q0 // C[c, 2], j * bkv // C[c, 3], C[c, 0], C[c, 1])
        if every:
            kept += 1
            keys += min(nkv, (j + 1) * bkv) - j * bkv
    return kept, keys


@numba.njit(cache=True)
def _split_coins(act, kinds, na, coin_terms):
    """Move the coin-only interiors among act[:na] to coin_terms; return (their number, the other term or -1,
    the other's kind, how many others)."""
    n_coin, other, other_kind, n_other = 0, -1, -1, 0
    for a in range(na):
        if kinds[a] == K_COIN:
            coin_terms[n_coin] = act[a]
            n_coin += 1
        else:
            other, other_kind, n_other = act[a], kinds[a], n_other + 1
    return n_coin, other, other_kind, n_other


@numba.njit(cache=True)
def _kept(T, C, coin_terms, n_coin, q0, j, bkv):
    """Does some coin-only term keep tile j (its coins all keep it)?"""
    for a in range(n_coin):
        t, every = coin_terms[a], True
        for c in range(T[t, C0], T[t, C0] + T[t, NC]):
            every &= keep(q0 // C[c, 2], j * bkv // C[c, 3], C[c, 0], C[c, 1])
        if every:
            return True
    return False


@numba.njit(cache=True)
def _kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv):
    """Tiles s..e some coin-only term keeps: (tiles, their keys)."""
    if n_coin == 1:
        return _coin_run(T, C, coin_terms[0], q0, s, e, nkv, bkv)
    kept, keys = 0, 0
    for j in range(s, e + 1):
        if _kept(T, C, coin_terms, n_coin, q0, j, bkv):
            kept += 1
            keys += min(nkv, (j + 1) * bkv) - j * bkv
    return kept, keys


@numba.njit(cache=True)
def _floor_sum(n, m, a, b):
    """sum(floor((a*i + b) / m) for i in range(n)) in O(log m), for a >= 0 and any b (AtCoder Library)."""
    total = n * (b // m)
    b %= m
    while True:
        if a >= m:
            total += n * (n - 1) // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b, m, a = y_max // m, y_max % m, a, m


@numba.njit(cache=True)
def _periodic_run(T, C, off, t, q0, q1, s, e, nkv, bkv):
    """(full, partial) tiles s..e inside term t's interior, t having one period and no coins.

    A full-width tile holds rows + bkv - 1 consecutive diagonals (bkv columns): when the period is
    larger, a tile holds at most one point of the set, and the tiles that do are counted by two
    floor sums (points up to the tile's end minus points before its start). A ragged last tile is
    looked at alone.
    """
    ragged = e == (nkv - 1) // bkv and nkv % bkv != 0
    n = e - s + 1 - ragged
    if T[t, AD] > 1:
        period, span, single = T[t, AD], (q1 - q0 + 1) + bkv - 1, q0 == q1 and bkv == 1
        first, last = bkv * s - q1 - 1 - off, bkv * s + bkv - 1 - q0 - off  # d - off before / at tile s's ends
    else:
        period, span, single = T[t, AK], bkv, bkv == 1
        first, last = bkv * s - 1, bkv * s + bkv - 1
    hits = n if period <= span else _floor_sum(n, period, bkv, last) - _floor_sum(n, period, bkv, first)
    full, partial = (hits, 0) if single else (0, hits)
    if ragged:
        st = term_state(T, C, off, t, q0, q1, e * bkv, nkv - 1)
        full += st == FULL
        partial += st == PARTIAL
    return full, partial


@numba.njit(cache=True, inline="always")
def _sparse_union(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws):
    """Segment covered only by enumerable sets and at most one set hitting every tile: (full, partial).

    Tiles hit by one set take that set's state; tiles two sets meet on are settled.
    """
    _, _, _, _, scratch, _, hit_j, hit_st, uniq, stamp, first_st, _, generation = ws
    generation[0] += 1  # a new stamp: tiles stamped with it were hit in this segment
    gen, n_uniq, n_const = generation[0], 0, 0
    for a in range(na):
        if kinds[a] == K_CONST:
            n_const += 1
            continue
        for x in range(_enum_hits(T, off, act[a], q0, q1, s, e, nkv, bkv, hit_j, hit_st)):
            j = hit_j[x]
            if stamp[j] == gen:
                first_st[j] = UNDECIDED
            else:
                stamp[j], first_st[j], uniq[n_uniq] = gen, hit_st[x], j
                n_uniq += 1
    full, partial = 0, (e - s + 1 - n_uniq) * n_const
    for x in range(n_uniq):
        j = uniq[x]
        st = first_st[j] if n_const == 0 else UNDECIDED
        if st == UNDECIDED:
            st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch)
        full += st == FULL
        partial += st == PARTIAL
    return full, partial


@numba.njit(cache=True, inline="always")
def _segment_tiles(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws):
    """(full, partial) tiles among key blocks s..e, covered by the runs of terms act[:na]."""
    kind = kinds[0]
    if na == 1 and (kind == K_CONST or kind == K_ENUM):
        return _periodic_run(T, C, off, act[0], q0, q1, s, e, nkv, bkv)
    coin_terms = ws[11]
    n_coin, other, other_kind, n_other = _split_coins(act, kinds, na, coin_terms)
    if n_coin > 0 and n_other <= 1 and other_kind != K_TILE:  # kept tiles are full; the rest is the other's
        kept = _kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv)[0]
        if n_other == 0:
            return kept, 0
        if other_kind == K_CONST:
            return kept, e - s + 1 - kept
        hit_j, hit_st = ws[6], ws[7]
        full, partial = kept, 0
        for x in range(_enum_hits(T, off, other, q0, q1, s, e, nkv, bkv, hit_j, hit_st)):
            if not _kept(T, C, coin_terms, n_coin, q0, hit_j[x], bkv):
                full += hit_st[x] == FULL
                partial += hit_st[x] == PARTIAL
        return full, partial
    n_sparse, n_const = 0, 0
    for a in range(na):
        n_sparse += kinds[a] == K_ENUM
        n_const += kinds[a] == K_CONST
    if n_sparse > 0 and n_sparse + n_const == na and n_const <= 1:
        return _sparse_union(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws)
    full, partial, scratch = 0, 0, ws[4]
    for j in range(s, e + 1):
        st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch)
        full += st == FULL
        partial += st == PARTIAL
    return full, partial


@numba.njit(cache=True, inline="always")
def _other_in_kept(T, C, off, t, kind, coin_terms, n_coin, q0, q1, s, e, nkv, bkv, ws):
    """Elements of periodic term t inside tiles s..e that a coin keeps (only its hit tiles can hold any)."""
    hit_j, hit_st = ws[6], ws[7]
    total, n = 0, e - s + 1
    if kind == K_ENUM:
        n = _enum_hits(T, off, t, q0, q1, s, e, nkv, bkv, hit_j, hit_st)
    for x in range(n):
        j = hit_j[x] if kind == K_ENUM else s + x
        if _kept(T, C, coin_terms, n_coin, q0, j, bkv):
            total += term_elements(T, off, t, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1)
    return total


@numba.njit(cache=True, inline="always")
def _segment_elements(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws):
    """Attended elements in key blocks s..e where some term has coins: tile by tile."""
    scratch, cs, coin_terms = ws[4], ws[5], ws[11]
    n_coin, other, other_kind, n_other = _split_coins(act, kinds, na, coin_terms)
    if n_coin > 0 and n_other <= 1 and other_kind != K_TILE:  # kept tiles are whole; the rest is the other's
        total = (q1 - q0 + 1) * _kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv)[1]
        if n_other == 1:  # the other's elements, less those in kept tiles
            total += term_elements(T, off, other, q0, q1, s * bkv, min(nkv, (e + 1) * bkv) - 1)
            total -= _other_in_kept(T, C, off, other, other_kind, coin_terms, n_coin, q0, q1, s, e, nkv, bkv, ws)
        return total
    total = 0
    for j in range(s, e + 1):
        k0, k1 = j * bkv, min(nkv, (j + 1) * bkv) - 1
        st = tile_state(T, C, off, act, na, q0, q1, k0, k1, scratch)
        if st == FULL:
            total += (q1 - q0 + 1) * (k1 - k0 + 1)
        elif st == PARTIAL:  # the terms whose coins keep this tile (a tile is one coin block here)
            kept = np.int64(0)
            for a in range(na):
                if coin_state(T, C, act[a], q0, q1, k0, k1) == 1:
                    scratch[kept] = act[a]
                    kept += 1
            for q in range(q0, q1 + 1):
                total += count_row(T, C, off, scratch, kept, q, k0, k1, cs)
    return total


@numba.njit(cache=True)
def _segment_terms(runs, n, s, act, kinds):
    """Terms (act) and run kinds (kinds) covering the segment starting at block s; (their number, any K_FULL)."""
    na, whole = 0, False
    for r in range(n):
        if runs[r, 0] <= s <= runs[r, 1]:
            act[na], kinds[na] = runs[r, 3], runs[r, 2]
            whole |= runs[r, 2] == K_FULL
            na += 1
    return na, whole


@numba.njit(cache=True, inline="always")
def _row_tiles(T, C, nq, nkv, bq, bkv, i, ws):
    """Full and partial tiles of query-block row i."""
    runs, points, act, kinds, scratch = ws[0], ws[1], ws[2], ws[3], ws[4]
    n_cols, off = (nkv + bkv - 1) // bkv, nkv - nq
    q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
    n = _row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
    m = _breakpoints(runs, n, points)
    full, partial = 0, 0
    for x in range(m - 1):
        s, e = points[x], points[x + 1] - 1
        na, whole = _segment_terms(runs, n, s, act, kinds)
        if whole:
            full += e - s + 1
        elif na == 1 and kinds[0] == K_TILE:  # one term's edge tiles, the common case: settled directly
            for j in range(s, e + 1):
                st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch)
                full += st == FULL
                partial += st == PARTIAL
        elif na > 0:
            f, p = _segment_tiles(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws)
            full += f
            partial += p
    return full, partial


@numba.njit(cache=True, inline="always")
def _row_elements(T, C, nq, nkv, bq, bkv, i, ws, flags, pending, cuts, spans):
    """Attended elements of query-block row i. Whole segments count by area; neighbouring coin-free
    segments are merged (their terms flagged in ``flags``) and counted once per query row."""
    runs, points, act, kinds, cs = ws[0], ws[1], ws[2], ws[3], ws[5]
    n_cols, off = (nkv + bkv - 1) // bkv, nkv - nq
    q0, q1 = i * bq, min(nq, (i + 1) * bq) - 1
    n = _row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
    m = _breakpoints(runs, n, points)
    total, start, merging = 0, 0, False
    for x in range(m):
        s, na, whole, coins = points[x], 0, False, False
        if x < m - 1:
            na, whole = _segment_terms(runs, n, s, act, kinds)
            for a in range(na):
                coins |= T[act[a], NC] > 0
        if merging and (whole or coins or x == m - 1):  # count the merged segments before block s
            total += rows_elements(T, C, off, q0, q1, start * bkv, min(nkv, s * bkv) - 1, pending,
                                   _take_flagged(flags, pending), cs, cuts, spans)
            merging = False
        if na == 0:
            continue
        e = points[x + 1] - 1
        if whole:
            total += (q1 - q0 + 1) * (min(nkv, (e + 1) * bkv) - s * bkv)
        elif coins:
            total += _segment_elements(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws)
        else:
            start, merging = start if merging else s, True
            for a in range(na):
                flags[act[a]] = 1
    return total


@numba.njit(cache=True)
def _take_flagged(flags, out):
    """Move the flagged indices to out[:n], clearing the flags; return n."""
    n = 0
    for t in range(flags.size):
        if flags[t]:
            out[n], flags[t] = t, 0
            n += 1
    return n


# ---------------------------------------------------------------- entry points

@numba.njit(cache=True)
def lower(nq, nkv, bq, bkv, T, C, ws):
    """Full and partial tiles of every query-block row at tile shape (bq, bkv); ``ws`` from ``workspace``."""
    n_rows = (nq + bq - 1) // bq
    row_full, row_partial = np.zeros(n_rows, np.int64), np.zeros(n_rows, np.int64)
    for i in range(n_rows):
        row_full[i], row_partial[i] = _row_tiles(T, C, nq, nkv, bq, bkv, i, ws)
    return row_full, row_partial


@numba.njit(cache=True)
def count_elements(nq, nkv, bq, bkv, T, C, ws):
    """Attended elements, exactly; (bq, bkv) must be the coin block of every coin in C.

    Boxes alone (no period, no coin in any term) are counted over all rows at once in closed form.
    """
    n = T.shape[0]
    flags, pending, total = np.zeros(n, np.int64), np.zeros(n, np.int64), 0
    cuts, spans = box_scratch(n)
    boxes = n > 0  # no term has a period or a coin: sum every term's box (pending: all terms) in one go
    for t in range(n):
        pending[t] = t
        boxes &= T[t, AD] == 1 and T[t, AK] == 1 and T[t, NC] == 0
    if boxes:
        return box_rows(T, 0, nq - 1, 0, nkv - 1, pending, n, cuts, spans)
    for i in range((nq + bq - 1) // bq):
        total += _row_elements(T, C, nq, nkv, bq, bkv, i, ws, flags, pending, cuts, spans)
    return total


@numba.njit(cache=True)
def pooled_states(nq, nkv, bq, bkv, T, C, ws, pool):
    """The highest tile state (EMPTY < PARTIAL < FULL) in each pool x pool group of tiles (pool 1: every tile).

    Each segment of a row is cut at group edges and each piece counted like ``lower`` does.
    """
    n_rows, n_cols, off = (nq + bq - 1) // bq, (nkv + bkv - 1) // bkv, nkv - nq
    out = np.zeros(((n_rows + pool - 1) // pool, (n_cols + pool - 1) // pool), np.int8)
    runs, points, act, kinds = ws[0], ws[1], ws[2], ws[3]
    for i in range(n_rows):
        q0, q1, cells = i * bq, min(nq, (i + 1) * bq) - 1, out[i // pool]
        n = _row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
        m = _breakpoints(runs, n, points)
        for x in range(m - 1):
            s, e = points[x], points[x + 1] - 1
            na, whole = _segment_terms(runs, n, s, act, kinds)
            for c in range(s // pool, e // pool + 1):
                if na == 0 or cells[c] == FULL:
                    continue
                if whole:
                    cells[c] = FULL
                    continue
                f, p = _segment_tiles(T, C, off, q0, q1, max(s, c * pool), min(e, (c + 1) * pool - 1), nkv, bkv,
                                      act, kinds, na, ws)
                cells[c] = FULL if f else max(cells[c], PARTIAL if p else 0)
    return out
