"""numba kernels of MInference's vertical-slash index (``_vslash``).

``convert_vertical_slash_indexes_kernel`` (microsoft/MInference @ fb56c917, csrc/vertical_slash_index.cu; the same
loop as vLLM's and SGLang's ``convert_vertical_slash_indexes``) builds, for each block of M query rows ending at
key position e, the row's slash blocks and its vertical columns. Slashes (distances x behind the diagonal, taken
in descending order) give ranges of keys [s - M, s) with s = max(e - x, M): a slash whose end lies more than M
past the open range's end starts a new range, one past its end extends it by M. Every range is saved as blocks
of N keys from its start. A vertical column is kept for the column loop when no range covers it and it lies
before the last range's end.

In distances from e that process does not depend on the row: a range is the distance interval (db, da], and a
slash x starts a new range when x < db - M, extends it (db -= M) when x < db. So the slashes are cut into
*chains* at gaps of more than 2M (where a new range always starts, since db > x_prev - M); a chain wholly below
the row's first slash is processed the same in every row and is counted once (``chain_ranges``). Only the chain
a row starts in (where the row's start clips it) is simulated per row (``row_counts``).
"""

from einsum_cascades._numba import numba
import numpy as np


@numba.njit(cache=True)
def _simulate(x, start, stop, db0, m, ranges, r0):
    """The range process over slashes x[start:stop] (descending) from an open range (db0, db0 + m]; the ranges go
    into ranges[r0:] as (db, da); returns the number of ranges written."""
    db, da, r = db0, db0 + m, r0
    for j in range(start, stop):
        if x[j] < db - m:
            ranges[r, 0], ranges[r, 1] = db, da
            r += 1
            db, da = x[j], x[j] + m
        elif x[j] < db:
            db -= m
    ranges[r, 0], ranges[r, 1] = db, da
    return r + 1


@numba.njit(cache=True)
def chain_ranges(x, chain_start, m, n, max_dist):
    """Each chain's ranges processed from its own first slash: (ranges as rows (db, da, chain), per-chain block
    counts, per-chain final db, and the chain covering each distance -m..max_dist (at index distance + m; the last
    range may reach m keys past the row's end), -1 where none)."""
    n_x = x.size
    ranges = np.empty((n_x + 1, 3), np.int64)
    work = np.empty((n_x + 1, 2), np.int64)
    n_chains = chain_start.size
    blocks = np.zeros(n_chains, np.int64)
    last_db = np.zeros(n_chains, np.int64)
    cover = np.full(max_dist + m + 1, -1, np.int32)
    total = 0
    for c in range(n_chains):
        lo = chain_start[c]
        hi = chain_start[c + 1] if c + 1 < n_chains else n_x
        k = _simulate(x, lo + 1, hi, x[lo], m, work, 0)
        for i in range(k):
            db, da = work[i, 0], work[i, 1]
            ranges[total, 0], ranges[total, 1], ranges[total, 2] = db, da, c
            total += 1
            blocks[c] += (da - db + n - 1) // n
            for y in range(max(db + 1, -m), min(da, max_dist) + 1):
                cover[y + m] = c
        last_db[c] = work[k - 1, 0]
    return ranges[:total], blocks, last_db, cover


@numba.njit(cache=True)
def row_counts(x, chain_of, chain_start, suffix_blocks, chain_last_db, cover, v, n_rows, m, n, off):
    """Per block of m query rows: (slash blocks, vertical columns kept). Rows end at key e = (i + 1) m + off."""
    n_x, n_v = x.size, v.size
    blocks = np.zeros(n_rows, np.int64)
    columns = np.zeros(n_rows, np.int64)
    own = np.empty((n_x + 2, 2), np.int64)
    n_chains = chain_start.size
    for i in range(n_rows):
        e = (i + 1) * m + off
        # first slash at or below e - m (x descending), and whether one lies in (e - m, e): it clamps to [0, m)
        lo, hi = 0, n_x
        while lo < hi:
            mid = (lo + hi) // 2
            if x[mid] > e - m:
                lo = mid + 1
            else:
                hi = mid
        j0 = lo
        clamped = j0 > 0 and x[j0 - 1] < e
        if not clamped and j0 == n_x:
            for t in range(n_v):  # no slash reaches the row: no range to skip its columns
                if v[t] < e:
                    columns[i] += 1
            continue
        db0, first = (e - m, j0) if clamped else (x[j0], j0 + 1)
        stop = first
        while stop < n_x and not (stop > j0 and chain_start[chain_of[stop]] == stop):
            stop += 1
        k = _simulate(x, first, stop, db0, m, own, 0)
        rest = chain_of[stop] if stop < n_x else n_chains
        count = 0
        for r in range(k):
            count += (own[r, 1] - own[r, 0] + n - 1) // n
        if rest < n_chains:
            count += suffix_blocks[rest]
            end = e - chain_last_db[n_chains - 1]
        else:
            end = e - own[k - 1, 0]
        blocks[i] = count
        kept = 0
        for t in range(n_v):
            if v[t] >= end:
                break
            y = e - v[t]
            if 0 <= y + m < cover.size and cover[y + m] >= rest:
                continue
            lo, hi = 0, k  # the first own range with db < y (own ranges: db descending)
            while lo < hi:
                mid = (lo + hi) // 2
                if own[mid, 0] < y:
                    hi = mid
                else:
                    lo = mid + 1
            if lo == k or y > own[lo, 1]:
                kept += 1
        columns[i] = kept
    return blocks, columns


@numba.njit(cache=True)
def row_index(x, v, e, m, n, ranges):
    """The kernel's loop for one row (the reference): ranges (in keys [a, b)) into ``ranges``; returns (ranges,
    kept columns). Slashes x descending, columns v ascending."""
    n_x, n_v = x.size, v.size
    s = 0
    while s < n_x and x[s] >= e:
        s += 1
    if s == n_x:
        kept = 0
        for t in range(n_v):
            kept += v[t] < e
        return 0, kept
    b = max(e - x[s], m)
    a, r, kept, t = b - m, 0, 0, 0
    s += 1
    while True:
        if t < n_v and v[t] < b:
            if v[t] < a:
                kept += 1
            t += 1
        elif s < n_x:
            sb = max(e - x[s], m)
            s += 1
            if sb > b + m:
                ranges[r, 0], ranges[r, 1] = a, b
                r += 1
                a, b = sb - m, sb
            elif sb > b:
                b += m
        else:
            ranges[r, 0], ranges[r, 1] = a, b
            return r + 1, kept
