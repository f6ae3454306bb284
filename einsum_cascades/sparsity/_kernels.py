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

Every row is lowered from its own terms (``_chunks.expand_chunks``: chunked terms become boxes),
kept in the workspace's last entry.

Counters handed to other kernels start as ``np.int64(0)``: a literal 0 would compile a second copy.
Kernels that take the workspace tuple and run once per row or segment are inlined (``inline="always"``,
one or two call sites each): a numba call carrying the whole tuple costs more than a typical row's work.
"""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._chunks import expand_chunks
from einsum_cascades.sparsity._row_count import (box_rows, box_scratch, rows_elements, term_elements,
                                                  tile_state)
from einsum_cascades.sparsity._runs import (K_CONST, K_ENUM, K_FULL, K_TILE, breakpoints, enum_hits, kept_run,
                                            periodic_run, row_runs, split_coins, tile_kept)
from einsum_cascades.sparsity._tile_state import AD, AK, CW, FULL, NC, PARTIAL, UNDECIDED, coin_state


@numba.njit(cache=True, inline="always")
def _sparse_union(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws):
    """Segment covered only by enumerable sets and at most one set hitting every tile: (full, partial).

    Tiles hit by one set take that set's state; tiles two sets meet on are settled.
    """
    _, _, _, _, scratch, _, hit_j, hit_st, uniq, stamp, first_st, _, generation, _ = ws
    generation[0] += 1  # a new stamp: tiles stamped with it were hit in this segment
    gen, n_uniq, n_const = generation[0], 0, 0
    for a in range(na):
        if kinds[a] == K_CONST:
            n_const += 1
            continue
        for x in range(enum_hits(T, off, act[a], q0, q1, s, e, nkv, bkv, hit_j, hit_st)):
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
            st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch, ws[5])
        full += st == FULL
        partial += st == PARTIAL
    return full, partial


@numba.njit(cache=True, inline="always")
def _segment_tiles(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws):
    """(full, partial) tiles among key blocks s..e, covered by the runs of terms act[:na]."""
    kind = kinds[0]
    if na == 1 and (kind == K_CONST or kind == K_ENUM):
        return periodic_run(T, C, off, act[0], q0, q1, s, e, nkv, bkv)
    coin_terms = ws[11]
    n_coin, other, other_kind, n_other = split_coins(act, kinds, na, coin_terms)
    if n_coin > 0 and n_other <= 1 and other_kind != K_TILE:  # kept tiles are full; the rest is the other's
        kept = kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv)[0]
        if n_other == 0:
            return kept, 0
        if other_kind == K_CONST:
            return kept, e - s + 1 - kept
        hit_j, hit_st = ws[6], ws[7]
        full, partial = kept, 0
        for x in range(enum_hits(T, off, other, q0, q1, s, e, nkv, bkv, hit_j, hit_st)):
            if not tile_kept(T, C, coin_terms, n_coin, q0, hit_j[x], bkv):
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
        st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch, ws[5])
        full += st == FULL
        partial += st == PARTIAL
    return full, partial


@numba.njit(cache=True, inline="always")
def _other_in_kept(T, C, off, t, kind, coin_terms, n_coin, q0, q1, s, e, nkv, bkv, ws):
    """Elements of periodic term t inside tiles s..e that a coin keeps (only its hit tiles can hold any)."""
    hit_j, hit_st = ws[6], ws[7]
    total, n = 0, e - s + 1
    if kind == K_ENUM:
        n = enum_hits(T, off, t, q0, q1, s, e, nkv, bkv, hit_j, hit_st)
    for x in range(n):
        j = hit_j[x] if kind == K_ENUM else s + x
        if tile_kept(T, C, coin_terms, n_coin, q0, j, bkv):
            total += term_elements(T, off, t, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1)
    return total


@numba.njit(cache=True, inline="always")
def _segment_elements(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws, cuts, spans):
    """Attended elements in key blocks s..e where some term has coins: tile by tile."""
    scratch, cs, coin_terms = ws[4], ws[5], ws[11]
    n_coin, other, other_kind, n_other = split_coins(act, kinds, na, coin_terms)
    if n_coin > 0 and n_other <= 1 and other_kind != K_TILE:  # kept tiles are whole; the rest is the other's
        total = (q1 - q0 + 1) * kept_run(T, C, coin_terms, n_coin, q0, s, e, nkv, bkv)[1]
        if n_other == 1:  # the other's elements, less those in kept tiles
            total += term_elements(T, off, other, q0, q1, s * bkv, min(nkv, (e + 1) * bkv) - 1)
            total -= _other_in_kept(T, C, off, other, other_kind, coin_terms, n_coin, q0, q1, s, e, nkv, bkv, ws)
        return total
    total = 0
    for j in range(s, e + 1):
        k0, k1 = j * bkv, min(nkv, (j + 1) * bkv) - 1
        st = tile_state(T, C, off, act, na, q0, q1, k0, k1, scratch, ws[5])
        if st == FULL:
            total += (q1 - q0 + 1) * (k1 - k0 + 1)
        elif st == PARTIAL:  # the terms whose coins keep this tile (a tile is one coin block here)
            kept = np.int64(0)
            for a in range(na):
                if coin_state(T, C, act[a], q0, q1, k0, k1) == 1:
                    scratch[kept] = act[a]
                    kept += 1
            total += rows_elements(T, C, off, q0, q1, k0, k1, scratch, kept, cs, cuts, spans)
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
    n = row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
    m = breakpoints(runs, n, points)
    full, partial = 0, 0
    for x in range(m - 1):
        s, e = points[x], points[x + 1] - 1
        na, whole = _segment_terms(runs, n, s, act, kinds)
        if whole:
            full += e - s + 1
        elif na == 1 and kinds[0] == K_TILE:  # one term's edge tiles, the common case: settled directly
            for j in range(s, e + 1):
                st = tile_state(T, C, off, act, na, q0, q1, j * bkv, min(nkv, (j + 1) * bkv) - 1, scratch, ws[5])
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
    n = row_runs(T, C, q0, q1, nkv, bkv, n_cols, runs)
    m = breakpoints(runs, n, points)
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
            total += _segment_elements(T, C, off, q0, q1, s, e, nkv, bkv, act, kinds, na, ws, cuts, spans)
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
def row_terms(T, nq, nkv, bq, i, ws):
    """The terms of query-block row i (chunked terms expanded), a view of the workspace's buffer."""
    buf = ws[13]
    return buf[:expand_chunks(T, nkv - nq, i * bq, min(nq, (i + 1) * bq) - 1, buf)]


@numba.njit(cache=True)
def lower(nq, nkv, bq, bkv, T, C, ws):
    """Full and partial tiles of every query-block row at tile shape (bq, bkv); ``ws`` from ``workspace``."""
    n_rows = (nq + bq - 1) // bq
    row_full, row_partial = np.zeros(n_rows, np.int64), np.zeros(n_rows, np.int64)
    for i in range(n_rows):
        row_full[i], row_partial[i] = _row_tiles(row_terms(T, nq, nkv, bq, i, ws), C, nq, nkv, bq, bkv, i, ws)
    return row_full, row_partial


@numba.njit(cache=True)
def count_elements(nq, nkv, bq, bkv, T, C, ws):
    """Attended elements, exactly; (bq, bkv) must be the coin block of every coin in C.

    Boxes alone (no period, no coin, no chunk in any term) are counted over all rows at once in closed form.
    """
    n = ws[13].shape[0]
    flags, pending, total = np.zeros(n, np.int64), np.zeros(n, np.int64), 0
    cuts, spans = box_scratch(n)
    boxes = T.shape[0] > 0  # no term has a period or a coin: sum every term's box (pending: all terms) in one go
    for t in range(T.shape[0]):
        pending[t] = t
        boxes &= T[t, AD] == 1 and T[t, AK] == 1 and T[t, NC] == 0 and T[t, CW] == 0
    if boxes:
        return box_rows(T, 0, nq - 1, 0, nkv - 1, pending, T.shape[0], cuts, spans)
    for i in range((nq + bq - 1) // bq):
        total += _row_elements(row_terms(T, nq, nkv, bq, i, ws), C, nq, nkv, bq, bkv, i, ws, flags, pending, cuts,
                               spans)
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
        Ti = row_terms(T, nq, nkv, bq, i, ws)
        n = row_runs(Ti, C, q0, q1, nkv, bkv, n_cols, runs)
        m = breakpoints(runs, n, points)
        for x in range(m - 1):
            s, e = points[x], points[x + 1] - 1
            na, whole = _segment_terms(runs, n, s, act, kinds)
            for c in range(s // pool, e // pool + 1):
                if na == 0 or cells[c] == FULL:
                    continue
                if whole:
                    cells[c] = FULL
                    continue
                f, p = _segment_tiles(Ti, C, off, q0, q1, max(s, c * pool), min(e, (c + 1) * pool - 1), nkv, bkv,
                                      act, kinds, na, ws)
                cells[c] = FULL if f else max(cells[c], PARTIAL if p else 0)
    return out
