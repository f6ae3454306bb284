"""MInference's vertical-slash index without numba: ``_vslash_kernels.chain_ranges`` and ``row_counts`` in Python
and numpy, the same process step for step (see that module), for a one-off point.

The slash process is sequential, so it runs as a Python loop once over every chain (``chain_ranges``), then over
the slashes for all rows at once in numpy (``row_counts``). ``WORK_LIMIT`` bounds the element steps (slashes x
rows); past it the numba kernels count the rows (a one-off compile of some 3 s).
"""

import numpy as np

WORK_LIMIT = 1 << 25  # slash x row steps taken here at most (about 0.5 s)


def work(x: np.ndarray, chain_start: np.ndarray, n_rows: int) -> int:
    """Element steps of ``row_counts`` here: every slash for every row, and every run of a later chain per row."""
    return (x.size + 1) * n_rows * 2


def _simulate(x, start: int, stop: int, db0: int, m: int) -> list:
    """The range process over slashes x[start:stop] (descending) from an open range (db0, db0 + m]: its ranges
    (db, da)."""
    db, da, out = db0, db0 + m, []
    for xj in x[start:stop].tolist():
        if xj < db - m:
            out.append((db, da))
            db, da = xj, xj + m
        elif xj < db:
            db -= m
    out.append((db, da))
    return out


def chain_ranges(x, chain_start, m: int, n: int, max_dist: int):
    """As ``_vslash_kernels.chain_ranges``: (ranges (db, da, chain), per-chain blocks, per-chain final db, the
    chain covering each distance -m..max_dist at index distance + m, -1 where none)."""
    n_x, n_chains = x.size, chain_start.size
    ranges, blocks, last_db = [], np.zeros(n_chains, np.int64), np.zeros(n_chains, np.int64)
    cover = np.full(max_dist + m + 1, -1, np.int32)
    for c in range(n_chains):
        lo = int(chain_start[c])
        hi = int(chain_start[c + 1]) if c + 1 < n_chains else n_x
        own = _simulate(x, lo + 1, hi, int(x[lo]), m)
        for db, da in own:
            ranges.append((db, da, c))
            blocks[c] += (da - db + n - 1) // n
            cover[max(db + 1, -m) + m:min(da, max_dist) + 1 + m] = c
        last_db[c] = own[-1][0]
    return np.array(ranges, np.int64).reshape(-1, 3), blocks, last_db, cover


def row_counts(x, chain_of, chain_start, suffix_blocks, chain_last_db, cover, v, n_rows: int, m: int, n: int,
               off: int):
    """As ``_vslash_kernels.row_counts``: per block of m query rows, (slash blocks, vertical columns kept).

    Every row's own chain is processed in lockstep, slash by slash over all rows at once. A row keeps the columns
    before its end that no range of its own and none of the later chains (those ``cover`` gives) covers; the
    ranges are disjoint (a chain's last range ends above the next chain's first, over 2m lower), so the covered
    columns are counted range by range with ``searchsorted`` and subtracted.
    """
    n_x, n_chains = x.size, chain_start.size
    ends = (np.arange(n_rows, dtype=np.int64) + 1) * m + off
    j0 = np.searchsorted(-x, -(ends - m), side="left")  # first slash at or below e - m (x descending)
    clamped = (j0 > 0) & (x[np.maximum(j0 - 1, 0)] < ends) if n_x else np.zeros(n_rows, bool)
    bare = ~clamped & (j0 == n_x)  # no slash reaches the row: no range to skip its columns
    db = np.where(clamped, ends - m, x[np.minimum(j0, n_x - 1)] if n_x else 0)
    first = np.where(clamped, j0, j0 + 1)
    at = np.searchsorted(chain_start, np.maximum(first, j0 + 1), side="left")
    stop = np.where(at < n_chains, chain_start[np.minimum(at, n_chains - 1)], n_x)
    rest = np.where(stop < n_x, chain_of[np.minimum(stop, n_x - 1)], n_chains) if n_x else np.full(n_rows, n_chains)
    da, blocks, covered = db + m, np.zeros(n_rows, np.int64), np.zeros(n_rows, np.int64)
    live = ~bare
    lo = int(first[live].min()) if live.any() else 0
    hi = int(stop[live].max()) if live.any() else 0
    for j in range(lo, hi):
        xj = int(x[j])
        step = live & (first <= j) & (j < stop)
        new = step & (xj < db - m)
        if new.any():
            blocks += np.where(new, (da - db + n - 1) // n, 0)
            covered += np.where(new, _columns_in(v, ends - da, ends - db), 0)
            db, da = np.where(new, xj, db), np.where(new, xj + m, da)
        db = np.where(step & ~new & (xj < db), db - m, db)
    blocks += np.where(live, (da - db + n - 1) // n, 0)  # the last open range
    covered += np.where(live, _columns_in(v, ends - da, ends - db), 0)
    later = live & (rest < n_chains)
    blocks += np.where(later, suffix_blocks[np.minimum(rest, n_chains - 1)] if n_chains else 0, 0)
    end = np.where(later, ends - (chain_last_db[-1] if n_chains else 0), ends - db)
    covered += _later_cover(cover, rest, later, ends, v, m)
    columns = np.searchsorted(v, np.where(bare, ends, end), side="left") - np.where(bare, 0, covered)
    return np.where(bare, 0, blocks), columns


def _columns_in(v, a, b):
    """Columns v in [a, b) (v ascending), per row."""
    return np.searchsorted(v, b, side="left") - np.searchsorted(v, a, side="left")


def _later_cover(cover, rest, rows, ends, v, m: int) -> np.ndarray:
    """Per row, the columns v < e that distances e - v covered by a chain at or past the row's ``rest`` reach."""
    out = np.zeros(rest.size, np.int64)
    if not rows.any():
        return out
    y = np.arange(cover.size, dtype=np.int64) - m  # distances, with the chain covering each (-1: none)
    chain = cover.astype(np.int64)
    edge = np.flatnonzero(np.diff(np.concatenate([[-1], chain, [-1]])) != 0)  # runs of one chain
    start, stop = edge[:-1], edge[1:]
    run_chain = chain[start]
    keep = run_chain >= 0
    start, stop, run_chain = start[keep], stop[keep], run_chain[keep]
    for i in np.flatnonzero(rows):  # runs of distances [y[start], y[stop - 1]] -> columns [e - y_hi, e - y_lo]
        mine = run_chain >= rest[i]
        out[i] = np.sum(_columns_in(v, ends[i] - y[stop[mine] - 1], ends[i] - y[start[mine]] + 1))
    return out


def row_ranges(x: list, e: int, m: int) -> list:
    """As ``_vslash_kernels.row_index``'s ranges, in Python: the row ending at key e, its slashes x (descending)
    taken in order, each s = max(e - x, m) starting a new range [s - m, s) past the open one's end by more than m or
    extending it by m past its end; the ranges as keys [a, b)."""
    j = 0
    while j < len(x) and x[j] >= e:
        j += 1
    if j == len(x):
        return []
    b = max(e - x[j], m)
    a, out = b - m, []
    for xj in x[j + 1:]:
        sb = max(e - xj, m)
        if sb > b + m:
            out.append((a, b))
            a, b = sb - m, sb
        elif sb > b:
            b += m
    out.append((a, b))
    return out
