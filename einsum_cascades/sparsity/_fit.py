"""Solving an expression's size parameters for a target block sparsity."""

import math

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity._expr import GRIDS, SELECTORS, Pattern, PatternError
from einsum_cascades.sparsity import _vslash as vslash
from einsum_cascades.sparsity._limits import check_pattern
from einsum_cascades.sparsity._lowering import TileCounts, tile_counts
from einsum_cascades.sparsity._parse import parse_pattern

LOG2_SCALE_RANGE = 20.0  # sizes are scaled by 2**-20 .. 2**20
FIT_STEPS = 60  # bisection steps on log2 of the scale (stops early once a tile's worth away)
FIT_CALLS = 32  # lowerings a fit takes, for its work bound (24 to 37 measured on typical masks)


ANCHORS = ("sinks", "global")  # token counts a method fixes (StreamingLLM's 4 sinks, BigBird's global tokens)


def scaled(p: Pattern, alpha: float, lines: int | None = None, fixed: tuple = ()) -> Pattern:
    """Every size of ``p`` times ``alpha``: widths and counts grow, strides shrink, densities cap at 1;
    a window side of 0 stays 0, seeds and grids stay; vertical-slash line counts stop at ``lines`` (the keys:
    more lines than keys is every line, and 16,384 slashes scaled 2**20 times had asked for 2**34); the primitives
    named in ``fixed`` stay as written."""
    if p.name in fixed:
        return p
    if p.name in ("&", "|"):
        return Pattern(p.name, parts=tuple(scaled(x, alpha, lines, fixed) for x in p.parts))
    if p.name == "random_blocks":
        return Pattern(p.name, (min(1.0, p.args[0] * alpha),) + p.args[1:])
    if p.name == "strided":
        return Pattern(p.name, (max(1, round(p.args[0] / alpha)),))
    if p.name == "vertical_slash":  # the line counts grow, the placement stays
        return Pattern(p.name, tuple(min(lines or math.inf, max(1, round(a * alpha))) for a in p.args[:2])
                       + p.args[2:])
    if p.name in SELECTORS:  # the count grows, the seed stays
        return Pattern(p.name, (max(1, round(p.args[0] * alpha)),) + p.args[1:])
    if p.name in GRIDS:  # the kernel grows up to the grid; the grid stays, the stride stays within the kernel
        rank = GRIDS[p.name]
        grid = p.args[:rank]
        kernel = tuple(min(g, max(1, round(k * alpha))) for g, k in zip(grid, p.args[rank:2 * rank]))
        return Pattern(p.name, grid + kernel + tuple(min(s, k) for s, k in zip(p.args[2 * rank:3 * rank], kernel))
                       + p.args[3 * rank:])  # stated tiles stay
    return Pattern(p.name, tuple(0 if a == 0 else max(1, round(a * alpha)) for a in p.args))


def _has_size(p: Pattern, skip: tuple = ()) -> bool:
    if p.name in skip:
        return False
    return any(_has_size(x, skip) for x in p.parts) if p.parts else bool(p.args)


def _lowerable_top(lowered, lo: float, hi: float) -> float | None:
    """None where the largest scale lowers; else the largest scale between ``lo`` and ``hi`` that does, by bisection
    (MInference's vertical_slash at 128k queries: the search's top probe, vertical_slash(131072,131072), walks more
    lines than a lowering may, and the user's --sparsity had failed on a pattern they never wrote). ``lo``
    failing too: its own error, the pattern as scaled there."""
    try:
        lowered(hi)
        return None
    except PatternError:
        pass
    lowered(lo)  # raises if even the smallest scale cannot lower: nothing to solve over
    good, bad = lo, hi
    for _ in range(FIT_STEPS):
        mid = (good + bad) / 2
        try:
            lowered(mid)
            good = mid
        except PatternError:
            bad = mid
    return good


def fit_pattern(text: str, sparsity: float, seq_len: int, kv_len: int, block_q: int,
                block_kv: int) -> tuple[Pattern, TileCounts]:
    """Scale every size in ``text`` by one factor so the block sparsity (1 - block density) gets as
    close as it can to ``sparsity``; bisection on the factor (block density grows with it). Sink and global token
    counts stay as written where another size is there to scale (a method fixes them: StreamingLLM's sinks beside
    the window it sizes); alone, they are the size.

    UserError if the expression has no size, or the target lies outside the reachable range (named).
    """
    base = parse_pattern(text)
    if not _has_size(base):
        raise UserError(f"pattern {text!r} has no size to solve for sparsity {sparsity}: "
                        f"give it one, e.g. causal&window(4k), sinks(128)|window(1k), random_blocks(0.1)")
    fixed = ANCHORS if _has_size(base, skip=ANCHORS) else ()  # the anchors stay where another size scales
    if vslash.resolve(base) is None:  # causal&vertical_slash(...) alone is MInference's index, not periodic terms:
        # tile_counts bounds its rows itself (check_rows), as for the pattern given
        check_pattern(scaled(base, 2.0 ** LOG2_SCALE_RANGE, kv_len, fixed), seq_len, kv_len, block_q, block_kv,
                      calls=FIT_CALLS)
    target, memo = 1.0 - sparsity, {}

    def lowered(log2_alpha):
        p = scaled(base, 2.0 ** log2_alpha, kv_len, fixed)
        if p not in memo:
            memo[p] = tile_counts(p, seq_len, kv_len, block_q, block_kv)
        return p, memo[p]

    lo, hi = -LOG2_SCALE_RANGE, LOG2_SCALE_RANGE
    capped = _lowerable_top(lowered, lo, hi)  # the search's own top probe may pass a lowering's work limit
    hi = capped if capped is not None else hi
    d_lo, d_hi = lowered(lo)[1].block_density, lowered(hi)[1].block_density
    tile = 1.0 / lowered(lo)[1].total
    if not d_lo - tile / 2 <= target <= d_hi + tile / 2:
        raise UserError(f"pattern {text!r} cannot reach sparsity {sparsity} at seq-len {seq_len}, kv-len {kv_len}, "
                        f"{block_q}x{block_kv} tiles: its block sparsity ranges over [{1 - d_hi:.4f}, {1 - d_lo:.4f}]"
                        + (" (its sizes capped where lowering them passes the work limit)" if capped is not None
                           else ""))
    for _ in range(FIT_STEPS):
        mid = (lo + hi) / 2
        if lowered(mid)[1].block_density < target:
            lo = mid
        else:
            hi = mid
        if min(abs(lowered(x)[1].block_density - target) for x in (lo, hi)) <= tile / 2:
            break
    return min((lowered(lo), lowered(hi)), key=lambda pt: abs(pt[1].block_density - target))
