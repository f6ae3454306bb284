"""A union of boxes without chunks (``window(w)|sinks(n)``, ``global(n)``, ``causal&window(w)|sinks(n)``) in closed
form: tiles per query-block row and elements, without numba.

For the queries of one row, a box term attends one run of keys per query, and the runs of the row's queries join
into one run of tiles (``_chunk_rows``): the row's visited tiles are the union of its terms' runs. A tile inside
some term's interior (whole for every query of the row) is full; a tile that one term alone touches outside its
interior is partial; the few tiles two terms touch outside every interior are full when their attended elements,
counted by inclusion-exclusion over the boxes the terms share (each a box, summed in closed form), fill them.
"""

import numpy as np

from einsum_cascades.sparsity._chunk_rows import _sum_max, _sum_min
from einsum_cascades.sparsity._fields import AD, AK, CW, DHI, DLO, KHI, KLO, NC, QHI, QLO
from einsum_cascades.sparsity._interval_tiles import MAX_TERMS, union_keys

MAX_SHARED_TILES = 1 << 22  # tiles two terms touch outside every interior, counted here at most


def supported(terms: np.ndarray) -> bool:
    """Up to MAX_TERMS terms without periods, coins or chunks."""
    return 0 < terms.shape[0] <= MAX_TERMS and not (np.any(terms[:, [AD, AK]] != 1) or np.any(terms[:, NC]) or
                                                    np.any(terms[:, CW]))


def shared_boxes(terms: np.ndarray) -> tuple:
    """Per non-empty subset S of the terms (row S - 1 of each array, a column to broadcast against), the bounds
    (dlo, dhi, klo, khi, qlo, qhi) of the box S's terms all attend, the tightest of theirs, and its sign in
    inclusion-exclusion, (-1)^(|S|+1)."""
    subsets = np.arange(1, 1 << terms.shape[0])
    member = (subsets[:, None] >> np.arange(terms.shape[0])[None, :] & 1).astype(bool)
    lows = [np.where(member, terms[:, f], np.iinfo(np.int64).min).max(axis=1)[:, None] for f in (DLO, KLO, QLO)]
    highs = [np.where(member, terms[:, f], np.iinfo(np.int64).max).min(axis=1)[:, None] for f in (DHI, KHI, QHI)]
    sign = np.where(member.sum(axis=1) % 2 == 1, 1, -1)[:, None]
    return (lows[0], highs[0], lows[1], highs[1], lows[2], highs[2]), sign


def box_elements(box, q0, q1, k0, k1):
    """Elements of the boxes (dlo, dhi, klo, khi, qlo, qhi) among queries q0..q1 and keys k0..k1 (all
    broadcasting): per query the keys in [max(k0, klo, q + dlo), min(k1, khi, q + dhi)], a clipped line summed
    in closed form."""
    dlo, dhi, klo, khi, qlo, qhi = box
    kl, kh = np.maximum(k0, klo), np.minimum(k1, khi)
    qs = np.maximum(np.maximum(q0, qlo), kl - dhi)  # a query's run is non-empty from here ...
    qe = np.minimum(np.minimum(q1, qhi), kh - dlo)  # ... to here
    ok = (qs <= qe) & (kl <= kh) & (dlo <= dhi)
    qs, qe = np.where(ok, qs, 1), np.where(ok, qe, 0)
    return _sum_min(kh, dhi, qs, qe) - _sum_max(kl, dlo, qs, qe) + np.maximum(qe - qs + 1, 0)


def union_elements(terms: np.ndarray, seq_len: int, kv_len: int) -> int:
    """Attended elements: the sum over non-empty subsets S of the terms of (-1)^(|S|+1) times the elements of
    S's shared box, each summed in Python ints (a few boxes, where numpy's calls cost more than the sums)."""
    rows, total = terms.tolist(), 0
    for subset in range(1, 1 << len(rows)):
        members = [t for i, t in enumerate(rows) if subset >> i & 1]
        dlo, klo, qlo = (max(t[f] for t in members) for f in (DLO, KLO, QLO))
        dhi, khi, qhi = (min(t[f] for t in members) for f in (DHI, KHI, QHI))
        count = _line_elements(dlo, dhi, max(klo, 0), min(khi, kv_len - 1), max(qlo, 0), min(qhi, seq_len - 1))
        total += count if len(members) % 2 else -count
    return total


def _line_elements(dlo: int, dhi: int, kl: int, kh: int, qa: int, qb: int) -> int:
    """Sum over q in [qa, qb] of the keys in [max(kl, q + dlo), min(kh, q + dhi)]: the queries whose run is
    non-empty, qs..qe, each attending min(kh, q + dhi) - max(kl, q + dlo) + 1 keys, a clipped line on each side."""
    qs, qe = max(qa, kl - dhi), min(qb, kh - dlo)
    if qs > qe or kl > kh or dlo > dhi:
        return 0
    top = min(max(kh - dhi, qs - 1), qe)  # q + dhi up to here, kh after
    bottom = min(max(kl - dlo, qs - 1), qe)  # kl up to here, q + dlo after
    highs = _line(qs, top) + dhi * (top - qs + 1) + kh * (qe - top)
    lows = kl * (bottom - qs + 1) + _line(bottom + 1, qe) + dlo * (qe - bottom)
    return highs - lows + qe - qs + 1


def _line(a: int, b: int) -> int:
    """Sum of q over [a, b] (0 where b < a)."""
    return (a + b) * (b - a + 1) // 2 if b >= a else 0


def row_tiles(terms: np.ndarray, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """(full, partial) tiles per query-block row, or None past MAX_SHARED_TILES."""
    n_cols = -(-kv_len // block_kv)
    q0 = np.arange(0, seq_len, block_q, dtype=np.int64)
    q1 = np.minimum(q0 + block_q, seq_len) - 1
    first, last, inner_first, inner_last = _runs(terms, q0, q1, kv_len, block_kv, n_cols)
    top = np.iinfo(np.int64).max - 1
    visited = union_keys(list(zip(first, last)), 0, top)
    full = union_keys(list(zip(inner_first, inner_last)), 0, top)
    row, col = _shared_tiles(first, last, inner_first, inner_last, n_cols)
    if row is None:
        return None
    if row.size == 0:
        return full.astype(np.int64), (visited - full).astype(np.int64)
    c0 = col * block_kv
    c1 = np.minimum(c0 + block_kv, kv_len) - 1
    box, sign = shared_boxes(terms)
    filled = (sign * box_elements(box, q0[row], q1[row], c0, c1)).sum(axis=0)
    whole = filled == (q1[row] - q0[row] + 1) * (c1 - c0 + 1)
    full = full + np.bincount(row[whole], minlength=q0.size)
    return full.astype(np.int64), (visited - full).astype(np.int64)


def _runs(terms, q0, q1, kv_len: int, block_kv: int, n_cols: int):
    """Per term and row (arrays terms x rows): the first and last tile the term touches, and the first and last of
    its interior (first > last: none); as ``_chunk_rows.row_tiles`` finds them for one segment."""
    dlo, dhi, klo, khi, qlo, qhi = (terms[:, f][:, None] for f in (DLO, DHI, KLO, KHI, QLO, QHI))
    kl, kh = np.maximum(klo, 0), np.minimum(khi, kv_len - 1)
    qa, qb = np.maximum(q0, qlo), np.minimum(q1, qhi)
    qs, qe = np.maximum(qa, kl - dhi), np.minimum(qb, kh - dlo)
    lo, hi = np.maximum(kl, qs + dlo), np.minimum(kh, qe + dhi)
    ok = (qa <= qb) & (qs <= qe) & (kl <= kh) & (dlo <= dhi) & (lo <= hi)
    a, b = np.maximum(kl, q1 + dlo), np.minimum(kh, q0 + dhi)  # the last query's first key, the first's last
    whole = ok & (qa == q0) & (qb == q1) & (a <= b)
    f_first = -(-a // block_kv)
    f_last = np.where(b >= kv_len - 1, n_cols - 1, (b + 1) // block_kv - 1)
    return (np.where(ok, lo // block_kv, 1), np.where(ok, hi // block_kv, 0),
            np.where(whole, f_first, 1), np.where(whole, f_last, 0))


def _shared_tiles(first, last, inner_first, inner_last, n_cols: int):
    """(rows, columns) of the distinct tiles two terms touch outside every interior (``_runs``' arrays); (None,
    None) past MAX_SHARED_TILES."""
    found, total = [], 0
    for i in range(first.shape[0]):
        for j in range(i):
            lo, hi = np.maximum(first[i], first[j]), np.minimum(last[i], last[j])
            length = np.maximum(hi - lo + 1, 0)
            size = int(length.sum())
            total += size
            if total > MAX_SHARED_TILES:
                return None, None
            if size:
                row = np.repeat(np.arange(lo.size, dtype=np.int64), length)
                start = np.repeat(np.cumsum(length) - length, length)
                found.append(row * n_cols + np.repeat(lo, length) + np.arange(size, dtype=np.int64) - start)
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    flat = np.unique(np.concatenate(found))
    row, col = flat // n_cols, flat % n_cols
    inside = ((inner_first[:, row] <= col) & (col <= inner_last[:, row])).any(axis=0)
    return row[~inside], col[~inside]
