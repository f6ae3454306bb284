"""Lowering a pattern to tiles (full / partial / empty per query-block row) and exact element counts.

The expression is put in disjunctive normal form. Each conjunction becomes a
*term*: a box of intervals on d = k - q, on k and on q (causal, window, sinks,
global and the bounds of vertical_slash are such intervals), at most one
diagonal period (strided and slash: d = off mod p), at most one column period
(vertical: k = 0 mod p) and the coins of random_blocks. The numba kernels in
``_kernels`` sweep each query-block row as runs of key blocks, so structured
patterns cost a few operations per row, not per tile.
"""

import math
from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np

from einsum_cascades.sparsity._expr import DEFAULT_RANDOM_BLOCK, coin_threshold, slash_spacing, vertical_spacing
from einsum_cascades.sparsity._limits import check_terms, check_work

_UNBOUNDED = 1 << 60
_NO_COINS = np.zeros((0, 4), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class TileCounts:
    """Tile states of a mask lowered at (block_q, block_kv); ragged edge tiles count by their real elements."""

    seq_len: int
    kv_len: int
    block_q: int
    block_kv: int
    full: int
    partial: int
    empty: int
    row_full: np.ndarray
    row_partial: np.ndarray

    def __eq__(self, other):
        return isinstance(other, TileCounts) and all(
            np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    @property
    def n_q_blocks(self) -> int:
        return math.ceil(self.seq_len / self.block_q)

    @property
    def n_kv_blocks(self) -> int:
        return math.ceil(self.kv_len / self.block_kv)

    @property
    def total(self) -> int:
        return self.n_q_blocks * self.n_kv_blocks

    @property
    def block_density(self) -> float:
        """Fraction of tiles a block-sparse kernel visits: (full + partial) / total."""
        return (self.full + self.partial) / self.total


def _dnf(p) -> list[list[tuple]]:
    """The expression as a list of conjunctions of atoms (global and vertical_slash split in two)."""
    if p.name in ("&", "|"):
        left, right = _dnf(p.parts[0]), _dnf(p.parts[1])
        check_terms(len(left) * len(right) if p.name == "&" else len(left) + len(right), p)
        return [a + b for a in left for b in right] if p.name == "&" else left + right
    if p.name == "global":
        return [[("q<", p.args[0])], [("k<", p.args[0])]]
    if p.name == "vertical_slash":
        return [[("vertical", p.args[0])], [("slash", p.args[1])]]
    return [[(p.name, *p.args)]]


def _term(conj, seq_len, kv_len, coin_block, coins) -> list[int] | None:
    """One conjunction as a kernel term row (appending its coins to ``coins``); None if it is empty."""
    off = kv_len - seq_len
    lo = {"d": -_UNBOUNDED, "k": 0, "q": 0}
    hi = {"d": _UNBOUNDED, "k": _UNBOUNDED, "q": _UNBOUNDED}
    period = {"d": 1, "k": 1}
    first_coin = len(coins)

    def bound(axis, a, b):
        lo[axis], hi[axis] = max(lo[axis], a), min(hi[axis], b)

    for name, *args in conj:
        if name == "causal":
            bound("d", -_UNBOUNDED, off)
        elif name == "window":
            bound("d", off - args[0] + 1, off)
        elif name in ("sinks", "k<"):
            bound("k", 0, args[0] - 1)
        elif name == "q<":
            bound("q", 0, args[0] - 1)
        elif name == "strided":
            period["d"] = math.lcm(period["d"], args[0])
        elif name == "vertical":
            col = vertical_spacing(kv_len, args[0])
            bound("k", 0, (args[0] - 1) * col)
            period["k"] = math.lcm(period["k"], col)
        elif name == "slash":
            diag = slash_spacing(seq_len, args[0])
            bound("d", off - (args[0] - 1) * diag, off)
            period["d"] = math.lcm(period["d"], diag)
        elif name == "random_blocks":
            coins.append((args[1] if len(args) > 1 else 0, coin_threshold(args[0]), *coin_block))
    if any(lo[a] > hi[a] for a in lo):
        del coins[first_coin:]
        return None
    # A period beyond every reachable distance leaves one residue: shrink it so the kernels' products stay small.
    ad = period["d"] if period["d"] <= max(seq_len, kv_len) else max(seq_len, kv_len) + 1
    ak = min(period["k"], kv_len)
    return [lo["d"], hi["d"], lo["k"], hi["k"], lo["q"], hi["q"], ad, ak, len(coins) - first_coin, first_coin]


def compile_terms(p, seq_len: int, kv_len: int, coin_block=DEFAULT_RANDOM_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Kernel arrays of pattern ``p``: terms (n x 11) and coins (m x 4: seed, threshold, block rows, block cols)."""
    coins: list[tuple] = []
    terms = [t for conj in _dnf(p) if (t := _term(conj, seq_len, kv_len, coin_block, coins)) is not None]
    classes: dict[tuple, int] = {}  # terms with the same (diagonal, column) periods share a class
    terms = [t + [classes.setdefault((t[6], t[7]), len(classes))] for t in terms]
    return (np.array(terms, dtype=np.int64).reshape(-1, 11),
            np.array(coins, dtype=np.int64).reshape(-1, 4) if coins else _NO_COINS)


def key_blocks_reached(p, seq_len: int, kv_len: int, block_kv: int, first_query: int = 0) -> int:
    """Key blocks holding a key that some query from ``first_query`` on may attend: every term's reachable
    keys (those k with a query q in its rows and k - q in its diagonal band), united. Exact for boxes
    (causal, window, sinks, global and their combinations); a periodic set or coins may leave a reached
    block without an attended key, so with those it is an upper bound."""
    terms, _ = compile_terms(p, seq_len, kv_len)
    spans = []
    for dlo, dhi, klo, khi, qlo, qhi, *_ in terms.tolist():
        q0, q1 = max(qlo, first_query, 0), min(qhi, seq_len - 1)
        k0, k1 = max(klo, q0 + dlo, 0), min(khi, q1 + dhi, kv_len - 1)
        if q0 <= q1 and k0 <= k1:
            spans.append((k0 // block_kv, k1 // block_kv))
    blocks, end = 0, -1
    for first, last in sorted(spans):
        blocks += max(0, last - max(first, end + 1) + 1)
        end = max(end, last)
    return blocks


def count_scratch(n_terms: int, n_classes: int) -> tuple:
    """Scratch of ``_row_count.count_row``: per class its intervals, their number, its residue and period,
    the classes present; per depth of the search its intervals, their number, residue, period and next class."""
    z = np.zeros
    return (z((n_classes, n_terms, 2), np.int64), z(n_classes, np.int64), z((n_classes, 2), np.int64),
            z(n_classes, np.int64), z((n_classes + 1, n_terms, 2), np.int64), z(n_classes + 1, np.int64),
            z((n_classes + 1, 3), np.int64))


def workspace(terms: np.ndarray, n_cols: int) -> tuple:
    """Scratch the kernels reuse for every row: runs, breakpoints, active terms and kinds, settle list, counting
    scratch, enumerated hits and their states, distinct hit tiles, their stamps and first states, coin terms,
    the last stamp."""
    n, z = terms.shape[0], np.zeros
    n_classes = int(terms[:, 10].max()) + 1 if n else 0
    return (z((3 * n, 4), np.int64), z(6 * n + 1, np.int64), z(n, np.int64), z(n, np.int64), z(n, np.int64),
            count_scratch(n, n_classes), z(n_cols, np.int64), z(n_cols, np.int64), z(n_cols, np.int64),
            np.full(n_cols, -1, np.int64), z(n_cols, np.int64), z(n, np.int64), z(1, np.int64))


@lru_cache(maxsize=1)
def _kernels():
    from einsum_cascades.sparsity._numba_cache import drop_stale_cache

    drop_stale_cache()  # before numba loads anything from its cache
    from einsum_cascades.sparsity import _kernels

    return _kernels


def tile_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """Full / partial / empty tiles of ``p`` at tile shape (block_q, block_kv); random_blocks flips
    one coin per tile of this shape."""
    terms, coins = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    check_work(terms, seq_len, kv_len, block_q, block_kv, p)
    ws = workspace(terms, math.ceil(kv_len / block_kv))
    row_full, row_partial = _kernels().lower(seq_len, kv_len, block_q, block_kv, terms, coins, ws)
    return _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial)


def _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial) -> TileCounts:
    full, partial = int(row_full.sum()), int(row_partial.sum())
    empty = row_full.size * math.ceil(kv_len / block_kv) - full - partial
    return TileCounts(seq_len, kv_len, block_q, block_kv, full, partial, empty, row_full, row_partial)


def brute_force_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """The same counts from the whole element mask: the reference every fast path is tested against."""
    mask = p.mask(np.arange(seq_len)[:, None], np.arange(kv_len)[None, :], seq_len, kv_len, (block_q, block_kv))
    rows, cols = np.arange(0, seq_len, block_q), np.arange(0, kv_len, block_kv)

    def per_tile(a):
        return np.add.reduceat(np.add.reduceat(a.astype(np.int64), rows, axis=0), cols, axis=1)

    true, area = per_tile(mask), per_tile(np.ones_like(mask))
    row_full = (true == area).sum(axis=1)
    row_partial = ((true > 0) & (true < area)).sum(axis=1)
    return _counts(seq_len, kv_len, block_q, block_kv, row_full, row_partial)


def element_density(p, seq_len: int, kv_len: int, random_block=DEFAULT_RANDOM_BLOCK) -> float:
    """Exact fraction of attended elements, with random_blocks coins flipped per ``random_block`` tile.

    Boxes alone (causal, window, sinks, global) are summed over all rows at once: a row's count is
    piecewise linear in the row. Periodic terms (strided, vertical_slash) are counted query row by
    query row in closed form (inclusion-exclusion over the terms): O(seq_len x terms); with
    random_blocks, coin blocks the terms cover only in part are counted row by row, so
    strided&random_blocks at 1M tokens takes seconds.
    """
    terms, coins = compile_terms(p, seq_len, kv_len, random_block)
    check_work(terms, seq_len, kv_len, *random_block, p, elements=True)
    ws = workspace(terms, math.ceil(kv_len / random_block[1]))
    return _kernels().count_elements(seq_len, kv_len, *random_block, terms, coins, ws) / (float(seq_len) * kv_len)


def tile_states(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, pool: int = 1) -> np.ndarray:
    """Tile states (0 empty, 1 partial, 2 full) as a query-block x key-block grid; with ``pool`` > 1,
    each cell is the highest state among its pool x pool tiles (exact, for pictures of long sequences)."""
    terms, coins = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    check_work(terms, seq_len, kv_len, block_q, block_kv, p)
    ws = workspace(terms, math.ceil(kv_len / block_kv))
    return _kernels().pooled_states(seq_len, kv_len, block_q, block_kv, terms, coins, ws, pool)
