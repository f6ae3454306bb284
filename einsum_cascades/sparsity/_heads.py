"""Per-head mixes: ``heads(n1: P1, n2: P2, ...)`` gives the first n1 query heads pattern P1, the next n2 P2.

A head mix is not a mask of one head, so it is never lowered as a whole: ``head_groups`` splits an
expression into consecutive head groups, each with a plain pattern, and every group is lowered on its
own. ``&`` and ``|`` distribute over the groups (``causal&heads(16: full, 16: window(1k))`` is
``heads(16: causal&full, 16: causal&window(1k))``); two mixes combine on the common refinement of their
head ranges; a group may itself be a mix whose counts sum to the group's. Block-Sparse-Attention's
``head_mask_type`` assigns a mask per query head the same way (mit-han-lab/Block-Sparse-Attention,
README "Importantly, we support assigning different patterns for different heads").
"""

from functools import lru_cache

from einsum_cascades.sparsity._expr import Pattern, PatternError

MIX = "heads"


def is_mix(p: Pattern) -> bool:
    """Whether ``p`` holds a heads(...) term anywhere."""
    return p.name == MIX or any(is_mix(x) for x in p.parts)


def declared_heads(p: Pattern) -> int | None:
    """The head count a mix declares (the sum of its outermost counts), None without a mix."""
    if p.name == MIX:
        return sum(p.args)
    counts = [c for c in (declared_heads(x) for x in p.parts) if c is not None]
    return counts[0] if counts else None


def head_groups(p: Pattern, heads: int) -> tuple[tuple[int, Pattern], ...]:
    """Consecutive (query heads, plain pattern) groups of ``p`` over ``heads`` heads; adjacent groups with the
    same pattern are merged. PatternError when a mix's counts do not sum to the heads it spans."""
    groups = []
    for count, part in _groups(p, heads, p, True):
        if groups and str(groups[-1][1]) == str(part):
            groups[-1] = (groups[-1][0] + count, part)
        else:
            groups.append((count, part))
    return tuple(groups)


@lru_cache(maxsize=1024)
def head_groups_text(text: str, heads: int) -> tuple[tuple[int, str], ...]:
    """``head_groups`` of an expression's text, with the groups' patterns as text (cached: sweeps repeat them)."""
    from einsum_cascades.sparsity._parse import parse_pattern

    return tuple((n, str(q)) for n, q in head_groups(parse_pattern(text), heads))


def _groups(p, total, whole, top):
    if p.name == MIX:
        if sum(p.args) != total:
            where = f"--heads is {total}" if top else f"its group has {total}"
            raise PatternError(f"bad pattern {str(whole)!r}: {p} gives {sum(p.args)} heads, but {where}; "
                               f"the counts of heads(n1: P1, n2: P2, ...) must sum to {total}")
        out = []
        for count, part in zip(p.args, p.parts):
            out += _groups(part, count, whole, False)
        return out
    if p.name in ("&", "|") and is_mix(p):
        left, right = (_groups(x, total, whole, top) for x in p.parts)
        return _combine(left, right, p.name)
    return [(total, p)]


def _combine(left, right, op):
    """Groups of ``left op right`` on the common refinement of both sides' head ranges."""
    out, i, j = [], 0, 0
    left, right = [list(g) for g in left], [list(g) for g in right]
    while i < len(left) and j < len(right):
        n = min(left[i][0], right[j][0])
        out.append((n, Pattern(op, parts=(left[i][1], right[j][1]))))
        left[i][0] -= n
        right[j][0] -= n
        i += left[i][0] == 0
        j += right[j][0] == 0
    return out
