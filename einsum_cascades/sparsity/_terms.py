"""An expression as kernel terms: its disjunctive normal form, one term row per conjunction.

Each conjunction becomes a *term* (fields in ``_tile_state``): a box of intervals on d = k - q, on k
and on q (causal, window, sinks, global and the bounds of vertical_slash are such intervals), at most
one diagonal period (strided and slash: d = off mod p), at most one column period (vertical:
k = 0 mod p), at most one chunk width (chunked), and its coins: random_blocks hashes, and the
selection tables of topk and budget (``_select``), one per selector of the expression.
"""

import math
from functools import lru_cache

import numpy as np

from einsum_cascades.sparsity._expr import (DEFAULT_RANDOM_BLOCK, PatternError, SELECTORS, coin_threshold,
                                            slash_spacing, vertical_spacing)
from einsum_cascades.sparsity._fields import CLS, CW, N_FIELDS, TABLE
from einsum_cascades.sparsity._limits import check_terms

UNBOUNDED = 1 << 60
_NO_COINS = np.zeros((0, 4), dtype=np.int64)


def dnf(p) -> list[list[tuple]]:
    """The expression as a list of conjunctions of atoms (global and vertical_slash split in two).

    A selector atom carries its number among the expression's selectors in preorder, the order
    ``Pattern.mask`` meets them in: ("topk", k, seed, index), ("budget", n, seed, index).
    """
    counter = [0]

    def walk(node):
        if node.name in ("&", "|"):
            left, right = walk(node.parts[0]), walk(node.parts[1])
            check_terms(len(left) * len(right) if node.name == "&" else len(left) + len(right), node)
            return [a + b for a in left for b in right] if node.name == "&" else left + right
        if node.name == "global":
            return [[("q<", node.args[0])], [("k<", node.args[0])]]
        if node.name == "vertical_slash":  # only evenly placed lines are periodic terms (_vslash.resolve)
            if node.args[2] != "even":
                raise PatternError(f"pattern {node}: clustered vertical_slash lines are no periodic mask; "
                                   f"write causal&{node} alone, or place=even")
            return [[("vertical", node.args[0])], [("slash", node.args[1])]]
        if node.name in SELECTORS:
            counter[0] += 1
            return [[(node.name, node.args[0], node.args[1] if len(node.args) > 1 else 0, counter[0] - 1)]]
        return [[(node.name, *node.args)]]

    return walk(p)


def term(conj, seq_len, kv_len, coin_block, coins, tables=None) -> list[int] | None:
    """One conjunction as a kernel term row less its class (appending its coins to ``coins``); None if empty.

    Selector atoms become table coins when ``tables`` (selector index -> table) is given, and are left
    out otherwise (the term then bounds what the selector may keep); budget is causal either way.
    """
    off = kv_len - seq_len
    lo = {"d": -UNBOUNDED, "k": 0, "q": 0}
    hi = {"d": UNBOUNDED, "k": UNBOUNDED, "q": UNBOUNDED}
    period, chunk = {"d": 1, "k": 1}, [0]
    first_coin = len(coins)

    def bound(axis, a, b):
        lo[axis], hi[axis] = max(lo[axis], a), min(hi[axis], b)

    for name, *args in conj:
        if name in ("causal", "budget"):
            bound("d", -UNBOUNDED, off)
        elif name == "window" and len(args) == 2:  # l keys before the aligned diagonal, r after it
            bound("d", off - args[0], off + args[1])
        elif name == "window":
            bound("d", off - args[0] + 1, off)
        elif name == "chunked":
            chunk[0] = _finer_chunk(chunk[0], args[0])
        elif name in ("sinks", "k<"):
            bound("k", 0, args[0] - 1)
        elif name == "q<":  # a global query: its aligned position q + off is one of the first n
            bound("q", 0, args[0] - 1 - off)
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
        if name in ("topk", "budget") and tables is not None:
            coins.append(("table", args[2], *coin_block))
    if any(lo[a] > hi[a] for a in lo):
        del coins[first_coin:]
        return None
    # A period beyond every reachable distance leaves one residue: shrink it so the kernels' products stay small.
    ad = period["d"] if period["d"] <= max(seq_len, kv_len) else max(seq_len, kv_len) + 1
    ak = min(period["k"], kv_len)
    return [lo["d"], hi["d"], lo["k"], hi["k"], lo["q"], hi["q"], ad, ak, len(coins) - first_coin, first_coin, chunk[0]]


@lru_cache(maxsize=1024)
def pattern_terms(p, seq_len: int, kv_len: int,
                  coin_block: tuple = DEFAULT_RANDOM_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """``conj_terms(dnf(p), ...)`` without selector tables, cached: one lowering asks for them at each of its steps
    (the step estimate, the tile counts, the element count, the keys reached). The arrays are shared: never write
    to them."""
    return conj_terms(dnf(p), seq_len, kv_len, coin_block)


def _finer_chunk(a: int, b: int) -> int:
    """Two chunk widths in one conjunction: the finer when it divides the other (its chunks nest)."""
    if a == 0 or b % a == 0:
        return b if a == 0 else a
    if a % b == 0:
        return b
    raise PatternError(f"chunked({a})&chunked({b}): one chunk width must divide the other")


def conj_terms(conjs, seq_len: int, kv_len: int, coin_block=DEFAULT_RANDOM_BLOCK,
               tables=None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel arrays of a list of conjunctions: terms (n x N_FIELDS) and coins (rows of 4: seed, threshold,
    block rows, block cols), the selection tables serialised after the coin rows."""
    coins: list[tuple] = []
    rows = []
    for conj in conjs:
        t = term(conj, seq_len, kv_len, coin_block, coins, tables)
        if t is not None:
            rows.append(t)
    classes: dict[tuple, int] = {}  # terms with the same (diagonal, column) periods share a class
    rows = [t[:10] + [classes.setdefault((t[6], t[7]), len(classes)), t[10]] for t in rows]
    terms = np.array(rows, dtype=np.int64).reshape(-1, N_FIELDS)
    return terms, _coin_array(coins, tables)


def _coin_array(coins, tables) -> np.ndarray:
    """Coin rows, then each table they name serialised (see ``_tile_state.table_bounds``)."""
    if not coins:
        return _NO_COINS
    flat_tables, bases, at = [], {}, 4 * len(coins)
    for c in coins:
        if c[0] == "table" and c[1] not in bases:
            row_ptr, cols = tables[c[1]]
            n = len(row_ptr) - 1
            bases[c[1]] = at
            starts = at + 2 + n + np.asarray(row_ptr, dtype=np.int64)
            flat_tables.append(np.concatenate([[n], starts, np.asarray(cols, dtype=np.int64)]))
            at += flat_tables[-1].size
    rows = [(bases[c[1]], TABLE, c[2], c[3]) if c[0] == "table" else c for c in coins]
    flat = np.concatenate([np.array(rows, dtype=np.int64).ravel(), *flat_tables])
    return np.concatenate([flat, np.zeros(-flat.size % 4, np.int64)]).reshape(-1, 4)


def expanded_rows(terms: np.ndarray, block_q: int) -> int:
    """Most terms a block of ``block_q`` query rows expands to (``_chunks.expand_chunks``): a chunk of
    width w meets at most ceil(block_q / w) + 1 chunks of those rows."""
    return int(sum(1 if w == 0 else -(-block_q // int(w)) + 1 for w in terms[:, CW]))


def count_scratch(n_terms: int, n_classes: int) -> tuple:
    """Scratch of ``_row_count.count_row``: per class its intervals, their number, its residue and period,
    the classes present; per depth of the search its intervals, their number, residue, period and next class."""
    z = np.zeros
    return (z((n_classes, n_terms, 2), np.int64), z(n_classes, np.int64), z((n_classes, 2), np.int64),
            z(n_classes, np.int64), z((n_classes + 1, n_terms, 2), np.int64), z(n_classes + 1, np.int64),
            z((n_classes + 1, 3), np.int64))


def workspace(terms: np.ndarray, n_cols: int, block_q: int) -> tuple:
    """Scratch the kernels reuse for every row, sized for the terms a row of ``block_q`` queries expands
    to: runs, breakpoints, active terms and kinds, settle list, counting scratch, enumerated hits and their
    states, distinct hit tiles, their stamps and first states, coin terms, the last stamp, the row's terms."""
    n, z = expanded_rows(terms, block_q), np.zeros
    n_classes = int(terms[:, CLS].max()) + 1 if terms.shape[0] else 0
    return (z((3 * n, 4), np.int64), z(6 * n + 1, np.int64), z(n, np.int64), z(n, np.int64), z(n, np.int64),
            count_scratch(n, n_classes), z(n_cols, np.int64), z(n_cols, np.int64), z(n_cols, np.int64),
            np.full(n_cols, -1, np.int64), z(n_cols, np.int64), z(n, np.int64), z(1, np.int64),
            z((n, N_FIELDS), np.int64))
