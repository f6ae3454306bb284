"""numba kernel of the grid lowering (``_grid``): the tile-state map of a grid pattern, pooled."""

from einsum_cascades._numba import numba


@numba.njit(cache=True)
def pool_states(r0, r1, r2, m0, m1, out, pool):
    """Visit every touched tile: query tile (a0, a1, a2) against key tiles in the product of its ranges."""
    n0, n1, n2 = r0.shape[1], r1.shape[1], r2.shape[1]
    for a2 in range(n2):
        for a1 in range(n1):
            for a0 in range(n0):
                row = (a0 + n0 * (a1 + n1 * a2)) // pool
                for b2 in range(r2[0, a2], r2[1, a2] + 1):
                    f2 = r2[2, a2] <= b2 <= r2[3, a2]
                    for b1 in range(r1[0, a1], r1[1, a1] + 1):
                        f1 = f2 and r1[2, a1] <= b1 <= r1[3, a1]
                        for b0 in range(r0[0, a0], r0[1, a0] + 1):
                            st = 2 if f1 and r0[2, a0] <= b0 <= r0[3, a0] else 1
                            col = (b0 + m0 * (b1 + m1 * b2)) // pool
                            if out[row, col] < st:
                                out[row, col] = st
    return out
