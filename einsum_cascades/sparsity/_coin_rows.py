"""One small numba kernel: random_blocks coins kept per query-block row, for grids too large for numpy.

Alone in its module so that a first run compiles it in well under a second, not the whole lowering
(``_kernels``); the hash is ``_tile_state``'s, the one every lowering path flips.
"""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._tile_state import hash53, keep_in_row, row_key


@numba.njit(cache=True, nogil=True)
def kept_per_row(first, last, seed, threshold):
    """Per row i, the tiles first[i]..last[i] whose coin (seed, threshold) keeps them."""
    out = np.zeros(first.size, np.int64)
    for i in range(first.size):
        key, kept = row_key(i, seed), 0
        for j in range(first[i], last[i] + 1):
            kept += keep_in_row(key, j, threshold)
        out[i] = kept
    return out


@numba.njit(cache=True, nogil=True)
def kept_per_row_thresholds(n_rows, n_cols, seed, thresholds):
    """Per threshold k and row i, the tiles 0..n_cols-1 of row i whose coin (seed, thresholds[k]) keeps them:
    every coin is hashed once for all the thresholds (a sweep over --sparsity lowers them all at once), and only
    the coins under the largest threshold are compared with the others (53-bit hashes as int64: vector compares)."""
    out = np.zeros((thresholds.size, n_rows), np.int64)
    if thresholds.size == 0:
        return out
    low = np.empty(n_cols, np.int64)  # the row's hashes under the largest threshold
    top = thresholds.max()
    for i in range(n_rows):
        key, m = row_key(i, seed), 0
        for j in range(n_cols):
            h = np.int64(hash53(key, j))
            low[m] = h
            m += h < top
        for k in range(thresholds.size):
            threshold, kept = thresholds[k], 0
            for j in range(m):
                kept += low[j] < threshold
            out[k, i] = kept
    return out
