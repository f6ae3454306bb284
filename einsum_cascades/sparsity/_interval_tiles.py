"""Unions of key intervals by inclusion-exclusion, the rule ``_box_runs`` counts its edge tiles with.

A term without periods or selectors (boxes: causal, window, sinks, global) attends, for query q, one interval of
keys. A union of terms attends the union of those intervals: by inclusion-exclusion, the sum over non-empty
subsets S of the terms of (-1)^(|S|+1) times the keys in the intersection of S's intervals, itself an interval.
Every tile of any mask is counted per tile in closed form by ``_tile_sums``.
"""

import numpy as np

MAX_TERMS = 6  # 63 subsets


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
