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

from einsum_cascades.errors import UserError

MAX_DNF_TERMS = 256  # conjunctions after expanding & over | (each is a kernel term)
MAX_STEPS = 1 << 28  # about 3 s of kernel time
ROW_STEPS = 64  # one term on one query-block row (causal at 1g tokens in 128-row tiles: 0.8 us a row)
COLUMN_HIT_STEPS = 4  # a vertical column crossing a row beside slash diagonals (vertical_slash(4k,4k): ~50 ns)
COIN_TILES_PER_STEP = 64  # a coin tile of a term without a period (2**30 of them take about 0.2 s)
PERIODIC_COIN_TILE_STEPS = 25  # lowering a coin tile of a term with a period (strided&random_blocks: ~300 ns)
PERIODIC_COIN_ELEMENT_ROW_STEPS = 8  # counting one element row of such a tile (~100 ns)
_UNBOUNDED = 1 << 59  # half of _lowering's open interval end: a d bound past it is open


def check_terms(count: int, pattern) -> None:
    """Refuse an expression whose disjunctive normal form has more than MAX_DNF_TERMS conjunctions."""
    if count > MAX_DNF_TERMS:
        raise UserError(f"bad pattern {_short(pattern)}: it expands to {count:,} terms (an | of &s); at most "
                        f"{MAX_DNF_TERMS}")


def lowering_steps(terms, seq_len: int, kv_len: int, block_q: int, block_kv: int, elements: bool = False) -> float:
    """Estimated steps to sweep every query-block row of ``terms`` (``_lowering.compile_terms``); ``elements``:
    an exact element count (``element_density``) rather than tile states."""
    rows, cols = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    table = terms.tolist()
    slash = any(t[6] > 1 and -_UNBOUNDED < t[0] and t[1] < _UNBOUNDED for t in table)  # a bounded diagonal period
    per_row = 0.0
    for _, _, klo, khi, _, _, ad, ak, n_coins, *_ in table:
        per_row += ROW_STEPS
        if slash and ak > block_kv:  # the columns k = 0 mod ak in [klo, khi], one run each
            per_row += COLUMN_HIT_STEPS * min(cols, (min(khi, kv_len - 1) - max(klo, 0)) // ak + 1)
        if n_coins and (ad > 1 or ak > 1):
            per_row += cols * (PERIODIC_COIN_ELEMENT_ROW_STEPS * block_q if elements else PERIODIC_COIN_TILE_STEPS)
        elif n_coins:
            per_row += cols / COIN_TILES_PER_STEP
    return rows * per_row


def check_work(terms, seq_len: int, kv_len: int, block_q: int, block_kv: int, pattern, calls: int = 1,
               elements: bool = False) -> None:
    """Refuse a lowering (``calls`` of them, for a fit) estimated past MAX_STEPS; name what would fit."""
    steps = lowering_steps(terms, seq_len, kv_len, block_q, block_kv, elements) * calls
    if steps > MAX_STEPS:
        raise UserError(f"pattern {_short(pattern)} at {seq_len:,} x {kv_len:,} tokens in {block_q}x{block_kv} tiles "
                        f"needs about {steps:.2g} lowering steps; at most {MAX_STEPS:.2g} (2**28, a few seconds): "
                        f"use larger tiles or shorter sequences")


def _short(pattern) -> str:
    text = str(pattern)
    return repr(text) if len(text) <= 60 else repr(text[:55] + "...")
