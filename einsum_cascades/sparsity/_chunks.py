"""Chunked terms (``chunked(w)``: query and key in the same block of w positions) as boxes, row by row.

Over the query rows of one query-block row, ``k // w == (q + off) // w`` is a union of a few boxes,
one per chunk those rows meet: queries ``c*w - off .. c*w + w - 1 - off`` against keys
``c*w .. c*w + w - 1``. The kernels lower a row from its expanded terms, so every closed form for
boxes applies inside a chunk (``chunked(8k)`` at 128-row tiles is one box per row).
"""

from einsum_cascades._numba import numba

from einsum_cascades.sparsity._fields import CW, KHI, KLO, QHI, QLO


@numba.njit(cache=True)
def expand_chunks(T, off, q0, q1, out):
    """Terms of query rows q0..q1 into out[:n], each chunked term replaced by one term per chunk those
    rows meet (its rows and keys narrowed to the chunk's, CW cleared); return n."""
    n = 0
    for t in range(T.shape[0]):
        w = T[t, CW]
        if w == 0:
            out[n, :] = T[t, :]
            n += 1
            continue
        qa, qb = max(q0, T[t, QLO]), min(q1, T[t, QHI])
        if qa > qb:
            continue
        for c in range((qa + off) // w, (qb + off) // w + 1):  # floor division, as in Python
            klo, khi = max(T[t, KLO], c * w), min(T[t, KHI], c * w + w - 1)
            if klo > khi:
                continue
            out[n, :] = T[t, :]
            out[n, QLO], out[n, QHI] = max(qa, c * w - off), min(qb, c * w + w - 1 - off)
            out[n, KLO], out[n, KHI], out[n, CW] = klo, khi, 0
            n += 1
    return n
