"""numba kernels for the runs of one query-block row: which key blocks each term covers, and how.

A term's run over a row of tiles is its interior (tiles its box covers whole) and its edges.
``row_runs`` lists the runs and ``breakpoints`` cuts the row where the set of covering runs
changes; the helpers here settle a run in closed form where they can (floor sums for periodic
sets, per-tile coins for random blocks, hit-by-hit enumeration for a few periodic sets).
Terms and their fields are those of ``_tile_state``; ``_kernels`` walks the segments.
"""

from einsum_cascades._numba import numba

from einsum_cascades.sparsity._tile_state import (AD, AK, C0, DHI, DLO, FULL, KHI, KLO, NC, PARTIAL, QHI, QLO, TABLE,
                                                  coin_keeps, flat, keep_in_row, row_key, table_bounds, table_rank,
                                                  term_state)

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
def row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs):
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
def breakpoints(runs, n, points):
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
def enum_hits(T, off, t, q0, q1, s, e, nkv, bkv, out_j, out_st):
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
    if nc == 1 and C[c0, 3] == bkv and C[c0, 1] == TABLE:  # one table per tile: count its entries in s..e
        lo, hi = table_bounds(C, C[c0, 0], q0 // C[c0, 2])
        kept = table_rank(C, lo, hi, e + 1) - table_rank(C, lo, hi, s)
        last = lo + table_rank(C, lo, hi, e)
        ragged = e == (nkv - 1) // bkv and last < hi and flat(C, last) == e
        return kept, kept * bkv - ragged * ((e + 1) * bkv - nkv)
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
            every &= coin_keeps(C, c, q0 // C[c, 2], j * bkv // C[c, 3])
        if every:
            kept += 1
            keys += min(nkv, (j + 1) * bkv) - j * bkv
    return kept, keys


@numba.njit(cache=True)
def split_coins(act, kinds, na, coin_terms):
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
def tile_kept(T, C, coin_terms, n_coin, q0, j, bkv):
    """Does some coin-only term keep tile j (its coins all keep it)?"""
    for a in range(n_coin):
        t, every = coin_terms[a], True
        for c in range(T[t, C0], T[t, C0] + T[t, NC]):
            every &= coin_keeps(C, c, q0 // C[c, 2], j * bkv // C[c, 3])
        if every:
            return True
    return False


@numba.njit(cache=True)
def kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv):
    """Tiles s..e some coin-only term keeps: (tiles, their keys)."""
    if n_coin == 1:
        return _coin_run(T, C, coin_terms[0], q0, s, e, nkv, bkv)
    kept, keys = 0, 0
    for j in range(s, e + 1):
        if tile_kept(T, C, coin_terms, n_coin, q0, j, bkv):
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
def periodic_run(T, C, off, t, q0, q1, s, e, nkv, bkv):
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
