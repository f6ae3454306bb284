"""One term, or a union of terms, on one tile: the states every lowering path agrees with.

A term (one conjunction of the expression's DNF, built by ``_terms.conj_terms``)
is a row of ``T``: a *box* (``DLO <= k - q <= DHI``, ``KLO <= k <= KHI``,
``QLO <= q <= QHI``), a diagonal period ``AD`` (``k - q == off (mod AD)``, off =
kv_len - seq_len), a column period ``AK`` (``k == 0 (mod AK)``), ``NC`` coins
from row ``C0`` of ``C`` = (seed, threshold, block rows, block cols), its class ``CLS``
(terms with the same two periods share a class) and a chunk width ``CW`` (0: none; else
``k // CW == (q + off) // CW``, which ``_chunks.expand_chunks`` turns into one box per chunk
before a row is lowered, so the kernels here never see CW > 0).

A coin with threshold ``TABLE`` is a selection table (topk, budget): its seed is the flat offset in ``C``
of a per-block-row list of kept key blocks, stored in ``C``'s rows after the coins (see ``table_has``).
"""

from einsum_cascades._numba import numba
import numpy as np

from einsum_cascades.sparsity._fields import (  # noqa: F401  (the kernels import the fields from here)
    AD, AK, C0, CLS, CW, DHI, DLO, EMPTY, FULL, KHI, KLO, NC, PARTIAL, QHI, QLO, TABLE, UNDECIDED)

_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)


@numba.njit(cache=True)
def row_key(bi, seed):
    """The part of a coin's hash shared by a block row."""
    return (np.uint64(bi) * _GOLDEN) ^ (np.uint64(seed) * _MIX2)


@numba.njit(cache=True)
def hash53(key, bj):
    """53 random bits for column bj in the block row with hash part ``key`` (splitmix64 finaliser)."""
    x = key ^ (np.uint64(bj) * _MIX1)
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    x = x ^ (x >> _S31)
    return x >> _S11


@numba.njit(cache=True)
def keep_in_row(key, bj, thr):
    """Coin of column bj in the block row with hash part ``key``."""
    return hash53(key, bj) < np.uint64(thr)


@numba.njit(cache=True)
def keep(bi, bj, seed, thr):
    """The random_blocks coin of block (bi, bj); same splitmix64 as ``_expr.keep_blocks``."""
    return keep_in_row(row_key(bi, seed), bj, thr)


@numba.njit(cache=True)
def flat(C, i):
    """Entry i of C read as one flat array (C has 4 columns)."""
    return C[i >> 2, i & 3]


@numba.njit(cache=True)
def table_bounds(C, base, bi):
    """Flat offsets [lo, hi) of block row bi's kept key blocks in the table at ``base``.

    Layout from ``base``: the number of block rows n, then n + 1 row starts (flat offsets), then the
    kept key blocks of each row in increasing order.
    """
    if bi >= flat(C, base):
        return 0, 0
    return flat(C, base + 1 + bi), flat(C, base + 2 + bi)


@numba.njit(cache=True)
def table_rank(C, lo, hi, bj):
    """How many of the kept key blocks in flat offsets [lo, hi) are below bj (binary search)."""
    a, b = lo, hi
    while a < b:
        mid = (a + b) >> 1
        if flat(C, mid) < bj:
            a = mid + 1
        else:
            b = mid
    return a - lo


@numba.njit(cache=True)
def table_has(C, base, bi, bj):
    """Does the selection table at ``base`` keep key block bj in block row bi?"""
    lo, hi = table_bounds(C, base, bi)
    r = lo + table_rank(C, lo, hi, bj)
    return r < hi and flat(C, r) == bj


@numba.njit(cache=True)
def coin_keeps(C, c, bi, bj):
    """Does coin c keep block (bi, bj): a hash below its threshold, or a table that lists it."""
    if C[c, 1] == TABLE:
        return table_has(C, C[c, 0], bi, bj)
    return keep(bi, bj, C[c, 0], C[c, 1])


@numba.njit(cache=True)
def coin_state(T, C, t, q0, q1, k0, k1):
    """0: a coin drops the whole tile; 1: every coin keeps it; 2: the tile spans several coin blocks."""
    split = False
    for c in range(T[t, C0], T[t, C0] + T[t, NC]):
        rq, rk = C[c, 2], C[c, 3]
        if q0 // rq != q1 // rq or k0 // rk != k1 // rk:
            split = True
        elif not coin_keeps(C, c, q0 // rq, k0 // rk):
            return 0
    return 2 if split else 1


@numba.njit(cache=True)
def _ap_hits(lo, hi, r, m):
    """Is some x in [lo, hi] congruent to r modulo m?"""
    return lo + (r - lo) % m <= hi


@numba.njit(cache=True)
def term_state(T, C, off, t, q0, q1, k0, k1):
    """EMPTY / PARTIAL / FULL of term t on a tile, or UNDECIDED when only its elements can tell."""
    qc0, qc1 = max(q0, T[t, QLO]), min(q1, T[t, QHI])
    ka, kb = max(k0, T[t, KLO]), min(k1, T[t, KHI])
    dmin, dmax = max(T[t, DLO], ka - qc1), min(T[t, DHI], kb - qc0)
    if qc0 > qc1 or ka > kb or dmin > dmax:
        return EMPTY
    coins = coin_state(T, C, t, q0, q1, k0, k1)
    ad, ak = T[t, AD], T[t, AK]
    if coins == 0 or (ad > 1 and not _ap_hits(dmin, dmax, off, ad)):
        return EMPTY
    if ak > 1 and not _ap_hits(max(ka, qc0 + T[t, DLO]), min(kb, qc1 + T[t, DHI]), np.int64(0), ak):
        return EMPTY
    if coins == 2 or (ad > 1 and ak > 1):
        return UNDECIDED
    box_full = (qc0 == q0 and qc1 == q1 and ka == k0 and kb == k1
                and T[t, DLO] <= k0 - q1 and T[t, DHI] >= k1 - q0)
    # a periodic set with period >= 2 covers a whole tile only if the tile is one element (diagonals)
    # or one column (columns)
    if box_full and (ad == 1 or (q0 == q1 and k0 == k1)) and (ak == 1 or k0 == k1):
        return FULL
    return PARTIAL


@numba.njit(cache=True)
def element(T, C, off, t, q, k):
    """Does term t hold at element (q, k)?"""
    d = k - q
    if not (T[t, DLO] <= d <= T[t, DHI] and T[t, KLO] <= k <= T[t, KHI] and T[t, QLO] <= q <= T[t, QHI]):
        return False
    if (off - d) % T[t, AD] != 0 or k % T[t, AK] != 0:
        return False
    for c in range(T[t, C0], T[t, C0] + T[t, NC]):
        if not coin_keeps(C, c, q // C[c, 2], k // C[c, 3]):
            return False
    return True


@numba.njit(cache=True)
def settle_elements(T, C, off, act, na, q0, q1, k0, k1):
    """A tile's state from its elements under the union of terms act[:na]; stops once it has seen both."""
    seen_true, seen_false = False, False
    for q in range(q0, q1 + 1):
        for k in range(k0, k1 + 1):
            hit = False
            for a in range(na):
                if element(T, C, off, act[a], q, k):
                    hit = True
                    break
            seen_true |= hit
            seen_false |= not hit
            if seen_true and seen_false:
                return PARTIAL
    return FULL if seen_true else EMPTY


@numba.njit(cache=True)
def live_state(T, C, off, act, na, q0, q1, k0, k1, scratch):
    """State of a tile under the union of terms act[:na] as far as each term alone tells: (state, n) with
    state FULL, PARTIAL or EMPTY, or UNDECIDED when the n terms left in scratch[:n] must be settled
    together (several partial terms, or one that only its elements can tell)."""
    n_live, undecided = np.int64(0), False
    for a in range(na):
        st = term_state(T, C, off, act[a], q0, q1, k0, k1)
        if st == FULL:
            return FULL, n_live
        if st != EMPTY:
            scratch[n_live] = act[a]
            n_live += 1
            undecided |= st == UNDECIDED
    if undecided or n_live > 1:
        return UNDECIDED, n_live
    return (PARTIAL if n_live == 1 else EMPTY), n_live
