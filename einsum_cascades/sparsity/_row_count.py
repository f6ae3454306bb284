"""Exact attended-key counts of one query row, in closed form, and of runs of rows under boxes alone
(used for element density)."""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._tile_state import (AD, AK, CLS, DHI, DLO, EMPTY, FULL, KHI, KLO, PARTIAL, QHI, QLO,
                                                  UNDECIDED, coin_state, element, live_state, settle_elements)


@numba.njit(cache=True)
def _inverse(a, m):
    """a^-1 modulo m (a and m coprime)."""
    r0, r1, s0, s1 = m, a % m, 0, 1
    while r1:
        quot = r0 // r1
        r0, r1, s0, s1 = r1, r0 - quot * r1, s1, s0 - quot * s1
    return s0 % m


@numba.njit(cache=True)
def _crt(r1, m1, r2, m2):
    """x == r1 (mod m1) and x == r2 (mod m2) as (solvable, r, lcm)."""
    g = np.gcd(m1, m2)
    if (r2 - r1) % g:
        return False, 0, 1
    m2g = m2 // g
    step = ((r2 - r1) // g % m2g) * _inverse(m1 // g % m2g, m2g) % m2g
    return True, (r1 + m1 * step) % (m1 * m2g), m1 * m2g


MAX_CLASSES = 10  # beyond this many distinct periodic sets in one row, its keys are counted one by one


@numba.njit(cache=True)
def _add_interval(ivs, n, lo, hi):
    """Insert [lo, hi] into the sorted disjoint list ivs[:n], merging what it touches; return the new length."""
    pos = 0
    while pos < n and ivs[pos, 1] < lo - 1:
        pos += 1
    end = pos
    while end < n and ivs[end, 0] <= hi + 1:
        lo, hi = min(lo, ivs[end, 0]), max(hi, ivs[end, 1])
        end += 1
    shift = 1 - (end - pos)
    if shift > 0:
        for x in range(n - 1, end - 1, -1):
            ivs[x + 1, 0], ivs[x + 1, 1] = ivs[x, 0], ivs[x, 1]
    elif shift < 0:
        for x in range(end, n):
            ivs[x + shift, 0], ivs[x + shift, 1] = ivs[x, 0], ivs[x, 1]
    ivs[pos, 0], ivs[pos, 1] = lo, hi
    return n + shift


@numba.njit(cache=True)
def _intersect(a, na, b, nb, out):
    """Intersection of two sorted disjoint interval lists into out; return its length."""
    x, y, n = 0, 0, 0
    while x < na and y < nb:
        lo, hi = max(a[x, 0], b[y, 0]), min(a[x, 1], b[y, 1])
        if lo <= hi:
            out[n, 0], out[n, 1] = lo, hi
            n += 1
        if a[x, 1] < b[y, 1]:
            x += 1
        else:
            y += 1
    return n


@numba.njit(cache=True)
def _ap_count(ivs, n, r, m):
    """Points congruent to r modulo m in the intervals ivs[:n]; the last one found."""
    total, last = 0, -1
    for x in range(n):
        first = ivs[x, 0] + (r - ivs[x, 0]) % m
        if first <= ivs[x, 1]:
            total += (ivs[x, 1] - first) // m + 1
            last = first
    return total, last


@numba.njit(cache=True)
def count_row(T, C, off, act, na, q, k_lo, k_hi, cs):
    """Keys in [k_lo, k_hi] that query q attends under the union of terms act[:na] (their coins keep it).

    Terms with the same periods form a class: a set of key intervals and one residue class.
    Inclusion-exclusion runs over classes, depth first, cutting branches that hold no key; the
    periods of a branch combine by the Chinese remainder theorem. ``cs`` is ``_lowering.count_scratch``.
    """
    ivs, n_iv, ap, present, dfs_ivs, dfs_n, frame = cs
    n_cls = n_iv.size
    n_iv[:] = 0
    for a in range(na):
        t = act[a]
        lo, hi = max(k_lo, T[t, KLO], q + T[t, DLO]), min(k_hi, T[t, KHI], q + T[t, DHI])
        if T[t, QLO] <= q <= T[t, QHI] and lo <= hi:
            c = T[t, CLS]
            n_iv[c] = _add_interval(ivs[c], n_iv[c], lo, hi)
    n_present = 0
    for c in range(n_cls):
        if n_iv[c] == 0:
            continue
        t = _class_term(T, act, na, c)
        ok, ap[c, 0], ap[c, 1] = True, 0, 1
        if T[t, AD] > 1 or T[t, AK] > 1:
            ok, ap[c, 0], ap[c, 1] = _crt((q + off) % T[t, AD], T[t, AD], np.int64(0), T[t, AK])
        if ok:
            present[n_present] = c
            n_present += 1
    if n_present == 1:  # one class: no inclusion-exclusion
        c = present[0]
        return _ap_count(ivs[c], n_iv[c], ap[c, 0], ap[c, 1])[0]
    if n_present > MAX_CLASSES:
        total = 0
        for k in range(k_lo, k_hi + 1):
            for a in range(na):
                if element(T, C, off, act[a], q, k):
                    total += 1
                    break
        return total
    total, depth = 0, 0
    dfs_ivs[0, 0, 0], dfs_ivs[0, 0, 1], dfs_n[0] = k_lo, k_hi, 1
    frame[0, 0], frame[0, 1], frame[0, 2] = 0, 1, 0  # residue, period, next class
    while depth >= 0:
        x = frame[depth, 2]
        if x >= n_present:
            depth -= 1
            continue
        frame[depth, 2] += 1
        c = present[x]
        ok, r, m = _crt(frame[depth, 0], frame[depth, 1], ap[c, 0], ap[c, 1])
        if not ok:
            continue
        n = _intersect(dfs_ivs[depth], dfs_n[depth], ivs[c], n_iv[c], dfs_ivs[depth + 1])
        count, last = _ap_count(dfs_ivs[depth + 1], n, r, m)
        if count == 0:
            continue
        total += count if depth % 2 == 0 else -count
        depth += 1
        if m > k_hi - k_lo:  # one key left: keep the period small so products never overflow
            dfs_ivs[depth, 0, 0], dfs_ivs[depth, 0, 1], n, r, m = last, last, 1, 0, 1
        dfs_n[depth], frame[depth, 0], frame[depth, 1], frame[depth, 2] = n, r, m, x + 1
    return total


@numba.njit(cache=True)
def _class_term(T, act, na, c):
    """A term of class c among act[:na] (every term of a class has the same periods)."""
    for a in range(na):
        if T[act[a], CLS] == c:
            return act[a]
    return -1


@numba.njit(cache=True)
def box_scratch(n_terms):
    """Scratch of ``box_rows``: room for every row where a box-only row count may bend, and for a row's spans."""
    return np.zeros(1 + 2 * n_terms + 4 * n_terms * (n_terms + 1), np.int64), np.zeros((n_terms, 2), np.int64)


@numba.njit(cache=True)
def rows_elements(T, C, off, q0, q1, k_lo, k_hi, act, na, cs, cuts, spans):
    """Attended elements of rows q0..q1 in keys k_lo..k_hi under terms act[:na] (no coins)."""
    periodic = False
    for a in range(na):
        periodic |= T[act[a], AD] > 1 or T[act[a], AK] > 1
    if not periodic:
        return box_rows(T, q0, q1, k_lo, k_hi, act, na, cuts, spans)
    if na == 1 and (T[act[0], AD] == 1 or T[act[0], AK] == 1):
        return term_elements(T, off, act[0], q0, q1, k_lo, k_hi)
    if na <= MAX_UNION_TERMS:
        ok, total = _union_elements(T, off, q0, q1, k_lo, k_hi, act, na)
        if ok:
            return total
    total = 0
    for q in range(q0, q1 + 1):
        total += count_row(T, C, off, act, na, q, k_lo, k_hi, cs)
    return total


MAX_UNION_TERMS = 4  # inclusion-exclusion over at most 15 intersections
MAX_PERIOD = 1 << 40  # a combined period beyond this falls back to row counts (no int64 overflow)


@numba.njit(cache=True)
def _union_elements(T, off, q0, q1, k_lo, k_hi, act, na):
    """(ok, elements of the union of terms act[:na]) by inclusion-exclusion over their intersections, each
    one term (its box the boxes' intersection, its periods their least common multiples) counted by
    ``term_elements``; not ok if a combined period grows past MAX_PERIOD."""
    meet = np.empty((1, T.shape[1]), np.int64)
    total = 0
    for subset in range(1, 1 << na):
        meet[0, DLO], meet[0, KLO], meet[0, QLO] = -(1 << 62), 0, 0
        meet[0, DHI], meet[0, KHI], meet[0, QHI] = 1 << 62, 1 << 62, 1 << 62
        meet[0, AD], meet[0, AK] = 1, 1
        sign = -1
        for a in range(na):
            if subset >> a & 1:
                t, sign = act[a], -sign
                for lo in (DLO, KLO, QLO):
                    meet[0, lo] = max(meet[0, lo], T[t, lo])
                for hi in (DHI, KHI, QHI):
                    meet[0, hi] = min(meet[0, hi], T[t, hi])
                for p in (AD, AK):
                    meet[0, p] = meet[0, p] // np.gcd(meet[0, p], T[t, p]) * T[t, p]
                    if meet[0, p] > MAX_PERIOD:
                        return False, 0
        if meet[0, DLO] <= meet[0, DHI] and meet[0, KLO] <= meet[0, KHI] and meet[0, QLO] <= meet[0, QHI]:
            total += sign * term_elements(meet, off, 0, q0, q1, k_lo, k_hi)
    return True, total


@numba.njit(cache=True)
def term_elements(T, off, t, q0, q1, k_lo, k_hi):
    """Elements of term t (no coins) in rows q0..q1, keys k_lo..k_hi: one interval and one residue class per
    row; a diagonal and a column period combine by the Chinese remainder theorem (the inverse once per call)."""
    ad, ak = T[t, AD], T[t, AK]
    both = ad > 1 and ak > 1
    g, m2g, inv, period = 1, 1, 0, max(ad, ak)
    if both:  # k = q + off (mod ad) and k = 0 (mod ak): solvable iff g | q + off, then one class mod ad * ak / g
        g = np.gcd(ad, ak)
        m2g = ak // g
        inv = _inverse(ad // g % m2g, m2g)
        period = ad * m2g
    total = 0
    for q in range(max(q0, T[t, QLO]), min(q1, T[t, QHI]) + 1):
        lo, hi = max(k_lo, T[t, KLO], q + T[t, DLO]), min(k_hi, T[t, KHI], q + T[t, DHI])
        if lo > hi:
            continue
        r = (q + off) % ad if ad > 1 else 0
        if both:
            if r % g:
                continue
            r = (r + ad * ((-r // g) % m2g * inv % m2g)) % period
        first = lo + (r - lo) % period
        total += (hi - first) // period + 1 if first <= hi else 0
    return total


@numba.njit(cache=True)
def _add_cut(cuts, n, c, q0, q1):
    """Insert row c into the sorted distinct list cuts[:n] if q0 < c <= q1; return the new length."""
    if c <= q0 or c > q1:
        return n
    pos = n
    while pos > 0 and cuts[pos - 1] > c:
        pos -= 1
    if pos > 0 and cuts[pos - 1] == c:
        return n
    for x in range(n, pos, -1):
        cuts[x] = cuts[x - 1]
    cuts[pos] = c
    return n + 1


@numba.njit(cache=True)
def box_rows(T, q0, q1, k_lo, k_hi, act, na, cuts, spans):
    """Attended elements of rows q0..q1 in keys k_lo..k_hi under box-only terms act[:na] (no periods, no coins).

    A row's count is the length of a union of key intervals [lo, hi + 1) whose ends are constants (k_lo,
    k_hi + 1, key bounds) or q + a diagonal bound, so it is linear in q between the rows where a diagonal
    end meets a constant end or a term's query range starts or stops. Each such piece of rows is an
    arithmetic series: (first + last) x rows / 2.
    """
    n = 0
    for a in range(na):
        t = act[a]
        n = _add_cut(cuts, n, T[t, QLO], q0, q1)
        n = _add_cut(cuts, n, T[t, QHI] + 1, q0, q1)
        for end in range(2):
            d = T[t, DLO] if end == 0 else T[t, DHI] + 1
            n = _add_cut(cuts, n, k_lo - d, q0, q1)
            n = _add_cut(cuts, n, k_hi + 1 - d, q0, q1)
            for b in range(na):
                n = _add_cut(cuts, n, T[act[b], KLO] - d, q0, q1)
                n = _add_cut(cuts, n, T[act[b], KHI] + 1 - d, q0, q1)
    n = _add_cut(cuts, n, q1 + 1, q0, q1 + 1)
    total, first = 0, q0
    for x in range(n):
        last = cuts[x] - 1
        at_first = _union_length(T, act, na, first, k_lo, k_hi, spans)
        at_last = at_first if last == first else _union_length(T, act, na, last, k_lo, k_hi, spans)
        total += (at_first + at_last) * (last - first + 1) // 2
        first = last + 1
    return total


@numba.njit(cache=True)
def _union_length(T, act, na, q, k_lo, k_hi, spans):
    """Keys in [k_lo, k_hi] that the boxes of terms act[:na] give query q (spans: scratch, sorted by start)."""
    n = 0
    for a in range(na):
        t = act[a]
        lo, hi = max(k_lo, T[t, KLO], q + T[t, DLO]), min(k_hi, T[t, KHI], q + T[t, DHI])
        if T[t, QLO] <= q <= T[t, QHI] and lo <= hi:
            pos = n
            while pos > 0 and spans[pos - 1, 0] > lo:
                spans[pos, 0], spans[pos, 1] = spans[pos - 1, 0], spans[pos - 1, 1]
                pos -= 1
            spans[pos, 0], spans[pos, 1] = lo, hi
            n += 1
    total, reach = 0, k_lo - 1  # keys up to reach are counted
    for x in range(n):
        lo, hi = max(spans[x, 0], reach + 1), spans[x, 1]
        if hi >= lo:
            total += hi - lo + 1
            reach = hi
    return total


@numba.njit(cache=True)
def tile_state(T, C, off, act, na, q0, q1, k0, k1, scratch, cs):
    """State of a tile under the union of terms act[:na]. Terms that must be settled together are counted
    a query row at a time (``count_row``), the tile's first and last rows first (where a mask edge
    crossing the tile shows): the first row neither empty nor whole, or an empty row and a whole one,
    make the tile partial. Only coins that split the tile need its elements one by one."""
    st, n_live = live_state(T, C, off, act, na, q0, q1, k0, k1, scratch)
    if st != UNDECIDED:
        return st
    for a in range(n_live):
        if coin_state(T, C, scratch[a], q0, q1, k0, k1) == 2:
            return settle_elements(T, C, off, scratch, n_live, q0, q1, k0, k1)
    width, seen_full, seen_empty = k1 - k0 + 1, False, False
    for x in range(q1 - q0 + 1):
        q = q0 if x == 0 else q1 if x == 1 else q0 + x - 1
        n = count_row(T, C, off, scratch, n_live, q, k0, k1, cs)
        seen_full |= n == width
        seen_empty |= n == 0
        if (0 < n < width) or (seen_full and seen_empty):
            return PARTIAL
    return FULL if seen_full else EMPTY
