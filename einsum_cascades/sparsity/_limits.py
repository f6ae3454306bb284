"""Bounds on the work of lowering a pattern, checked before the numba kernels start.

A numba loop cannot be interrupted by Ctrl-C, so a lowering that would run for minutes is refused
up front, naming the sizes that would fit, instead of hanging. The estimate counts *steps* of
about 12 ns, with costs measured on this project's 2-core machine (tile_counts and
element_density at 64k to 1g tokens): every term costs a fixed part per query-block row; the
columns of vertical cost per row only beside a bounded diagonal period (vertical_slash); coins
(random_blocks) cost a little per tile, and much more per tile when the term also has a period,
since then each tile is settled element row by element row.
"""

import math
from functools import lru_cache

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity._fields import AD, AK, CW, DHI, DLO, KHI, KLO, NC

MAX_DNF_TERMS = 256  # conjunctions after expanding & over | (each is a kernel term)
MAX_STEPS = 1 << 28  # about 3 s of kernel time
ROW_STEPS = 64  # one term on one query-block row (causal at 1g tokens in 128-row tiles: 0.8 us a row)
COLUMN_HIT_STEPS = 4  # a vertical column crossing a row beside slash diagonals (vertical_slash(4k,4k): ~50 ns)
COIN_TILES_PER_STEP = 64  # a coin tile of a term without a period (2**30 of them take about 0.2 s)
PERIODIC_COIN_TILE_STEPS = 25  # lowering a coin tile of a term with a period (strided&random_blocks: ~300 ns)
PERIODIC_COIN_ELEMENT_ROW_STEPS = 8  # counting one element row of such a tile (~100 ns)
MIXED_COIN_TILE_STEPS = 8  # a coin tile of one of several coin terms of a union, settled tile by tile (~60 ns)
_UNBOUNDED = 1 << 59  # half of _lowering's open interval end: a d bound past it is open


MAX_ROWS = 1 << 24  # query-block rows lowered at most (1g tokens in 64-row tiles): each path keeps per-row arrays


def check_rows(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> None:
    """Refuse a grid whose query-block rows or key-block columns pass MAX_ROWS, before any path (numpy's closed
    forms included) allocates its per-row arrays."""
    rows, cols = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    if max(rows, cols) > MAX_ROWS:
        raise UserError(f"pattern {_short(p)} at {seq_len:,} x {kv_len:,} tokens in {block_q}x{block_kv} tiles has "
                        f"{max(rows, cols):,} tile {'rows' if rows >= cols else 'columns'}; at most {MAX_ROWS:,} "
                        "(2**24): use larger tiles or shorter sequences")


def check_terms(count: int, pattern) -> None:
    """Refuse an expression whose disjunctive normal form has more than MAX_DNF_TERMS conjunctions."""
    if count > MAX_DNF_TERMS:
        raise UserError(f"bad pattern {_short(pattern)}: it expands to {count:,} terms (an | of &s); at most "
                        f"{MAX_DNF_TERMS}")


def lowering_steps(terms, seq_len: int, kv_len: int, block_q: int, block_kv: int, elements: bool = False,
                   coin_terms: int | None = None) -> float:
    """Estimated steps to sweep every query-block row of ``terms`` (``_terms.conj_terms``); ``elements``:
    an exact element count (``element_density``) rather than tile states; ``coin_terms``: terms drawing
    coins or selections (default: those of ``terms``), two or more of which settle their tiles one by one."""
    rows, cols = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    slash = any(t[AD] > 1 and -_UNBOUNDED < t[DLO] and t[DHI] < _UNBOUNDED for t in terms)  # a bounded diagonal period
    mixed = (sum(t[NC] > 0 for t in terms) if coin_terms is None else coin_terms) >= 2
    per_row = 0.0
    for t in terms:
        copies = 1 if t[CW] == 0 else -(-block_q // int(t[CW])) + 1  # a chunked term: one per chunk the row meets
        cost = ROW_STEPS
        if slash and t[AK] > block_kv:  # the columns k = 0 mod ak in [klo, khi], one run each
            cost += COLUMN_HIT_STEPS * min(cols, (min(int(t[KHI]), kv_len - 1) - max(int(t[KLO]), 0)) // int(t[AK]) + 1)
        if t[NC] and (t[AD] > 1 or t[AK] > 1):
            cost += cols * (PERIODIC_COIN_ELEMENT_ROW_STEPS * block_q if elements else PERIODIC_COIN_TILE_STEPS)
        elif t[NC]:
            cost += cols * MIXED_COIN_TILE_STEPS if mixed else cols / COIN_TILES_PER_STEP
        per_row += copies * cost
    return rows * per_row


def selector_steps(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, mixed: bool = False) -> float:
    """Steps of topk and budget: each draws its key blocks row by row (its k, or its n keys in blocks) and
    is read like coins in every tile of the row (tile by tile beside other coin terms: ``mixed``)."""
    rows, cols = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    steps = 0.0
    for leaf in _selectors(p):
        drawn = leaf.args[0] if leaf.name == "topk" else math.ceil(leaf.args[0] / block_kv)
        steps += rows * (ROW_STEPS + min(drawn, cols) + cols * (MIXED_COIN_TILE_STEPS if mixed
                                                                else 1 / COIN_TILES_PER_STEP))
    return steps


def _selectors(p) -> list:
    return [leaf for leaf in p.leaves() if leaf.name in ("topk", "budget")]


def check_pattern(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, calls: int = 1,
                  elements: bool = False) -> None:
    """Refuse lowering ``p`` (``calls`` times, for a fit) when its estimated steps pass MAX_STEPS; checked
    before anything is drawn or allocated, and naming what would fit."""
    steps = _pattern_steps(p, seq_len, kv_len, block_q, block_kv, elements) * calls
    if steps > MAX_STEPS:
        raise UserError(f"pattern {_short(p)} at {seq_len:,} x {kv_len:,} tokens in {block_q}x{block_kv} tiles "
                        f"needs about {steps:.2g} lowering steps; at most {MAX_STEPS:.2g} (2**28, a few seconds): "
                        f"use larger tiles or shorter sequences")


@lru_cache(maxsize=1024)  # a point's lowering checks its pattern at each step, and its baseline's again
def _pattern_steps(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, elements: bool) -> float:
    """Estimated steps of lowering ``p`` once: its terms' sweep and its selectors' draws."""
    from einsum_cascades.sparsity._terms import pattern_terms

    terms = pattern_terms(p, seq_len, kv_len, (block_q, block_kv))[0].tolist()  # selectors left out: counted apart
    coin_terms = sum(t[NC] > 0 for t in terms) + len(_selectors(p))
    return (lowering_steps(terms, seq_len, kv_len, block_q, block_kv, elements, coin_terms)
            + selector_steps(p, seq_len, kv_len, block_q, block_kv, coin_terms >= 2))


def _short(pattern) -> str:
    text = str(pattern)
    return repr(text) if len(text) <= 60 else repr(text[:55] + "...")
