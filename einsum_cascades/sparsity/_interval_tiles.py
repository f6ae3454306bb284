"""Small grids without numba: attended elements per tile from each query's key intervals (numpy).

A term without periods or selectors (boxes: causal, window, sinks, global, chunked; coins: random_blocks
flipped per tile) attends, for query q, one interval of keys, kept or dropped whole per tile by its coins.
A union of terms attends the union of those intervals: by inclusion-exclusion, the sum over non-empty
subsets S of the terms of (-1)^(|S|+1) times the keys in the intersection of S's intervals, itself an
interval, in tiles every coin of S keeps. Summed over each tile's queries that is the tile's attended
element count, exactly, at a cost of queries x key tiles x subsets: below ``MAX_CELLS`` cheaper than
loading the numba kernels (about 0.4 s) for a one-off point.
"""

import numpy as np

from einsum_cascades.sparsity._expr import keep_below
from einsum_cascades.sparsity._fields import AD, AK, C0, CW, DHI, DLO, KHI, KLO, NC, QHI, QLO, TABLE

MAX_CELLS = 1 << 22  # query rows x key tiles x term subsets evaluated here at most
MAX_TERMS = 6  # 63 subsets


def cells(terms: np.ndarray, seq_len: int, kv_len: int, block_kv: int) -> int:
    """How many (query, key tile, subset) cells ``tile_elements`` evaluates."""
    return seq_len * -(-kv_len // block_kv) * ((1 << terms.shape[0]) - 1)


def supported(terms: np.ndarray, coins: np.ndarray, block_q: int, block_kv: int) -> bool:
    """Terms whose rows are key intervals: no period, coins flipped once per (block_q, block_kv) tile."""
    if terms.shape[0] > MAX_TERMS or np.any(terms[:, AD] != 1) or np.any(terms[:, AK] != 1):
        return False
    used = np.concatenate([np.arange(t[C0], t[C0] + t[NC]) for t in terms] or [np.zeros(0, np.int64)])
    c = coins[used.astype(np.int64)]
    return bool(np.all(c[:, 1] != TABLE) and np.all(c[:, 2] == block_q) and np.all(c[:, 3] == block_kv))


def tile_elements(terms, coins, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> np.ndarray:
    """Attended elements of every tile: (query-block rows x key-block columns), int64."""
    q = np.arange(seq_len, dtype=np.int64)[:, None]
    n_rows, n_cols = -(-seq_len // block_q), -(-kv_len // block_kv)
    first = np.arange(n_cols, dtype=np.int64) * block_kv
    last = np.minimum(first + block_kv, kv_len) - 1
    intervals = []
    for t in terms:
        lo, hi = _interval(t, q, seq_len, kv_len)
        if t[NC]:  # dropped where a coin of the term drops the query's tile
            kept = _kept(t, coins, n_rows, n_cols)[q[:, 0] // block_q]
            lo, hi = np.where(kept, lo, 1), np.where(kept, hi, 0)
        intervals.append((lo, hi))
    keys = union_keys(intervals, first[None, :], last[None, :])
    return np.add.reduceat(np.broadcast_to(keys, (seq_len, n_cols)), np.arange(0, seq_len, block_q), axis=0)


def union_keys(intervals, first, last):
    """Keys in the union of the intervals [lo, hi] (a list of broadcasting (lo, hi) arrays; lo > hi: empty)
    within [first, last], by inclusion-exclusion over the non-empty subsets of the intervals."""
    total = 0
    for subset in range(1, 1 << len(intervals)):
        a, b, members = first, last, 0
        for i, (lo, hi) in enumerate(intervals):
            if subset >> i & 1:
                a, b, members = np.maximum(a, lo), np.minimum(b, hi), members + 1
        size = np.maximum(b - a + 1, 0)
        total = total + size if members % 2 else total - size
    return total


def _interval(t, q, seq_len: int, kv_len: int):
    """First and last key term t attends for each query (first > last: none)."""
    lo = np.maximum(np.maximum(t[KLO], q + t[DLO]), 0)
    hi = np.minimum(np.minimum(t[KHI], q + t[DHI]), kv_len - 1)
    if t[CW]:  # the query's chunk of keys: k // w == (q + off) // w
        start = (q + (kv_len - seq_len)) // t[CW] * t[CW]
        lo, hi = np.maximum(lo, start), np.minimum(hi, start + t[CW] - 1)
    outside = (q < t[QLO]) | (q > t[QHI])
    return np.where(outside, 1, lo), np.where(outside, 0, hi)


def _kept(t, coins, n_rows: int, n_cols: int) -> np.ndarray:
    """Does every coin of term t keep the tile? (query-block rows x key-block columns)"""
    keep = np.ones((n_rows, n_cols), dtype=bool)
    bi, bj = np.arange(n_rows)[:, None], np.arange(n_cols)[None, :]
    for seed, threshold, _, _ in coins[t[C0]:t[C0] + t[NC]]:
        keep &= keep_below(bi, bj, int(seed), int(threshold))
    return keep
