"""One small numba kernel: random_blocks coins kept per query-block row, for grids too large for numpy.

Alone in its module so that a first run compiles it in well under a second, not the whole lowering
(``_kernels``); the hash is ``_tile_state``'s, the one every lowering path flips.
"""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._tile_state import keep_in_row, row_key


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
