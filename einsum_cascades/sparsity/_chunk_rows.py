"""A lone conjunction of boxes (``window(w)``, ``causal&window(w)``, ``sinks(n)``, ``chunked(w)``, a window inside
chunks ...) without numba, in closed form.

Over the queries of one query-block row, ``k // w == (q + off) // w`` splits the row into segments, one per chunk
the row meets (``_chunks.expand_chunks`` does the same inside the kernels), and inside a segment the term is a
box: keys in ``[max(klo, c*w), min(khi, c*w + w - 1)]`` within ``[q + dlo, q + dhi]``. Both ends of a query's
key interval grow by at most one per query and its emptiness is concave in q, so a segment's keys form one run
``[lo(first non-empty q), hi(last non-empty q)]``: the row's visited tiles are the union of its segments' tile
runs. A tile is full only when one segment covers the whole row and every query of it reaches the tile's keys.
Everything is per (row, segment) in numpy: O(rows x (block_q / w + 2)), no compile. A conjunction without chunks
(width 0) is one segment per row; a union of those: ``_box_rows``.
"""

import numpy as np

from einsum_cascades.sparsity._fields import AD, AK, CW, DHI, DLO, KHI, KLO, NC, QHI, QLO

MAX_CELLS = 1 << 24  # (row, segment) pairs handled here at most; more go to the kernels


def supported(terms: np.ndarray, seq_len: int, block_q: int) -> bool:
    """One term without periods or coins (chunked or not), on few enough (row, segment) pairs."""
    if terms.shape[0] != 1 or not _boxes(terms):
        return False
    return -(-seq_len // block_q) * _segments(block_q, int(terms[0, CW])) <= MAX_CELLS


def _boxes(terms: np.ndarray) -> bool:
    return not (np.any(terms[:, CW] < 0) or np.any(terms[:, [AD, AK]] != 1) or np.any(terms[:, NC]))


def _segments(block_q: int, w: int) -> int:
    return 1 if w == 0 else -(-block_q // w) + 1


def _segment_boxes(t, seq_len: int, kv_len: int, block_q: int):
    """Per (row, segment): the row's first and last query, the segment's queries [qa, qb] and keys [kl, kh]
    (the chunk's keys within the term's), its non-empty queries [qs, qe], and ``ok`` where it has any."""
    w, off = int(t[CW]), kv_len - seq_len
    dlo, dhi = int(t[DLO]), int(t[DHI])
    q0 = np.arange(0, seq_len, block_q, dtype=np.int64)[:, None]
    q1 = np.minimum(q0 + block_q, seq_len) - 1
    qa0, qb0 = np.maximum(q0, int(t[QLO])), np.minimum(q1, int(t[QHI]))
    if w == 0:  # no chunks: the row is one segment, its keys the term's
        qa, qb = qa0, qb0
        kl, kh = np.full_like(q0, max(int(t[KLO]), 0)), np.full_like(q0, min(int(t[KHI]), kv_len - 1))
    else:
        c = np.floor_divide(qa0 + off, w) + np.arange(_segments(block_q, w), dtype=np.int64)[None, :]
        qa = np.maximum(qa0, c * w - off)
        qb = np.minimum(qb0, c * w + w - 1 - off)
        kl = np.maximum(np.maximum(int(t[KLO]), c * w), 0)
        kh = np.minimum(np.minimum(int(t[KHI]), c * w + w - 1), kv_len - 1)
    qs = np.maximum(qa, kl - dhi)  # a query's interval is non-empty from here ...
    qe = np.minimum(qb, kh - dlo)  # ... to here
    ok = (qa0 <= qb0) & (qa <= qb) & (qs <= qe) & (kl <= kh) & (dlo <= dhi)
    return q0, q1, qa, qb, kl, kh, qs, qe, ok


def row_tiles(terms: np.ndarray, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """(full, partial) tiles per query-block row."""
    t = terms[0]
    dlo, dhi = int(t[DLO]), int(t[DHI])
    n_cols = -(-kv_len // block_kv)
    q0, q1, qa, qb, kl, kh, qs, qe, ok = _segment_boxes(t, seq_len, kv_len, block_q)
    lo, hi = np.maximum(kl, qs + dlo), np.minimum(kh, qe + dhi)
    ok &= lo <= hi
    first, last = np.where(ok, lo // block_kv, 0), np.where(ok, hi // block_kv, -1)
    # the union of the segments' tile runs (segments run left to right): each adds the tiles past the last seen
    seen = np.maximum.accumulate(np.where(ok, last, -1), axis=1)
    before = np.concatenate([np.full((seen.shape[0], 1), -1, np.int64), seen[:, :-1]], axis=1)
    visited = np.where(ok, np.maximum(last - np.maximum(first, before + 1) + 1, 0), 0).sum(axis=1)
    # full: one segment holding the whole row, every query of it reaching the tile's keys
    whole = ok[:, 0] & (qa[:, 0] == q0[:, 0]) & (qb[:, 0] == q1[:, 0])
    a = np.maximum(kl[:, 0], q1[:, 0] + dlo)  # the last query's first key
    b = np.minimum(kh[:, 0], q0[:, 0] + dhi)  # the first query's last key
    f_first = -(-a // block_kv)
    f_last = np.where(b >= kv_len - 1, n_cols - 1, (b + 1) // block_kv - 1)
    full = np.where(whole & (a <= b), np.maximum(f_last - f_first + 1, 0), 0)
    return full.astype(np.int64), (visited - full).astype(np.int64)


def elements(terms: np.ndarray, seq_len: int, kv_len: int, block_q: int) -> int:
    """Attended elements: per segment, the sum over its non-empty queries of min(kh, q + dhi) -
    max(kl, q + dlo) + 1, each a clipped line summed in closed form."""
    t = terms[0]
    dlo, dhi = int(t[DLO]), int(t[DHI])
    _, _, _, _, kl, kh, qs, qe, ok = _segment_boxes(t, seq_len, kv_len, block_q)
    qs, qe = np.where(ok, qs, 1), np.where(ok, qe, 0)  # empty ranges sum to nothing
    return int((_sum_min(kh, dhi, qs, qe) - _sum_max(kl, dlo, qs, qe) + np.maximum(qe - qs + 1, 0)).sum())


def _sum_line(a, b):
    """Sum of q over [a, b] (0 where b < a)."""
    n = np.maximum(b - a + 1, 0)
    return np.where(n > 0, (a + b) * n // 2, 0)


def _sum_min(h, d, qs, qe):
    """Sum over q in [qs, qe] of min(h, q + d): q + d up to q = h - d, h after."""
    split = np.clip(h - d, qs - 1, qe)
    return _sum_line(qs, split) + d * np.maximum(split - qs + 1, 0) + h * np.maximum(qe - split, 0)


def _sum_max(lo, d, qs, qe):
    """Sum over q in [qs, qe] of max(lo, q + d): lo up to q = lo - d, q + d after."""
    split = np.clip(lo - d, qs - 1, qe)
    return lo * np.maximum(split - qs + 1, 0) + _sum_line(split + 1, qe) + d * np.maximum(qe - split, 0)
