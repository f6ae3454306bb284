"""Pass analysis: passes as the FuseMax paper counts them (Nayak et al., MICRO 2024, arXiv 2406.10491).

Ranks form families: the ranks of one partition (``m1*M0 + m0``) belong to the
same family as the rank they split. An Einsum *fully reduces* a family when it
reduces over one of its ranks and keeps none on its output. Reading, over a
family rank, anything that depends on a full reduction of that family starts a
new pass; element-wise producers, reductions over a partition and updates
through an iterative rank stay in the same pass. A family's pass count is that
of its finest rank (the one that walks the original elements). An Einsum whose
readers all run in a later pass runs there too where that holds nothing more
(scores recomputed where they are used, not held across the boundary).
"""

import re

from einsum_cascades.errors import UserError, listed


def families(cascade) -> dict[str, str]:
    """rank -> family name; partition ranks share a family (m1, m0 -> m)."""
    parent = {}

    def find(v):
        while parent.setdefault(v, v) != v:
            v = parent[v]
        return v

    for e in cascade.einsums:
        for v in e.vars:
            find(v)
        for acc in (e.line.output, *e.reads):
            for idx in acc.indices:
                members = idx.vars()
                for v in members[1:]:
                    parent[find(v)] = find(members[0])
    groups = {}
    for v in parent:
        groups.setdefault(find(v), []).append(v)
    out = {}
    for members in groups.values():
        name = _family_name(members)
        out.update({v: name for v in members})
    return out


def _family_name(members: list[str]) -> str:
    stems = {re.sub(r"\d+$", "", v) for v in members}
    return stems.pop() if len(stems) == 1 else sorted(members)[0]


def _finest(cascade, members: set[str]) -> str:
    """The family rank that walks single elements: a plain rank, or the stride-1 term of a partition."""
    for e in cascade.einsums:
        for acc in e.reads:
            for idx in acc.indices:
                if idx.kind == "affine" and idx.value[0][0] in members:
                    return next(v for v, strides in idx.value if not strides)
    return sorted(members, key=len)[0]


def pass_levels(cascade, fam: str, fam_of: dict) -> dict[str, int]:
    """Pass level of every Einsum over family ``fam`` (0 if it does not walk the family): its earliest pass, or
    later where that holds less (``_latest``)."""
    return _latest(cascade, _earliest(cascade, fam, fam_of), fam, fam_of)


def _earliest(cascade, fam: str, fam_of: dict) -> dict[str, int]:
    """The first pass each Einsum can run in: after every full reduction it depends on."""
    level, done = {}, {}
    for e in cascade.einsums:
        inputs = [a.tensor for a in e.reads if a.tensor in level and a.tensor != e.output]
        walks = any(fam_of.get(v) == fam for v in e.vars)
        after = max((done[t] for t in inputs), default=0)
        if walks:
            same = max((level[t] for t in inputs if _carries(cascade, t, fam, fam_of)), default=1)
            level[e.output] = max(1, same, after + 1 if after else 0)
        else:
            level[e.output] = 0
        done[e.output] = max(level[e.output] if _fully_reduces(e, fam, fam_of) else 0, after)
    return level


def _latest(cascade, level: dict, fam: str, fam_of: dict) -> dict[str, int]:
    """``level`` with each Einsum that need not run early placed in the pass of its first reader: one whose
    readers all sit in later passes and whose query-dependent operands go there with it (or are per-row values,
    inputs, or key-side tensors re-read at no hold). Recomputing the scores in the pass that uses them
    (QK2[m,p] = Q[e,p] * K[e,m] read only in pass 2) then holds no fiber of M scores per query across the pass
    boundary. A full reduction stays put (its readers wait for it), as do iterative tensors."""
    readers = {e.output: [] for e in cascade.einsums}
    for o in cascade.einsums:
        for t in dict.fromkeys(a.tensor for a in o.reads):
            if t in readers and t != o.output:
                readers[t].append(o.output)
    movable = {e.output for e in cascade.einsums if level[e.output] and readers[e.output] and not e.step_rank
               and not _fully_reduces(e, fam, fam_of)}
    while True:  # each round pins one Einsum whose operands stay behind it, until none is left
        placed = dict(level)
        for e in reversed(cascade.einsums):  # readers first
            if e.output in movable:
                placed[e.output] = max(level[e.output], min(placed[r] for r in readers[e.output]))
        stuck = next((e.output for e in cascade.einsums if placed[e.output] > level[e.output]
                      and any(placed[t] < placed[e.output] for t in _held_reads(cascade, e, level, fam, fam_of))),
                     None)
        if stuck is None:
            return placed
        movable.discard(stuck)


def _held_reads(cascade, e, level: dict, fam: str, fam_of: dict) -> list[str]:
    """The tensors ``e`` reads that would be held per query across a pass boundary were they read in a later
    pass: computed over the family and a query rank (QK[m,p], LM[m1,p]), not inputs, copies of K or V, per-row
    results of full reductions or tensors before the passes."""
    return [a.tensor for a in e.reads if a.tensor != e.output and level.get(a.tensor, 0)
            and _carries(cascade, a.tensor, fam, fam_of)
            and any(fam_of.get(v) == fam_of.get("p", "p") for v in cascade.einsum(a.tensor).out_vars)]


def _fully_reduces(e, fam: str, fam_of: dict) -> bool:
    """Reduces over a rank of the family and keeps none of its ranks (GM[p] = max(QK[m,p]))."""
    return any(fam_of[v] == fam for v in e.reduced) and not any(fam_of[v] == fam for v in e.out_vars)


def _carries(cascade, tensor: str, fam: str, fam_of: dict) -> bool:
    return any(fam_of.get(v) == fam for v in cascade.einsum(tensor).out_vars)


def count_passes(cascade) -> dict[str, int]:
    """rank -> passes, for every rank; each family also under its own name (m for m1, m0)."""
    fam_of = families(cascade)
    out = {}
    for fam in sorted(set(fam_of.values())):
        members = {v for v, f in fam_of.items() if f == fam}
        level = pass_levels(cascade, fam, fam_of)
        per_rank = {v: max((level[e.output] for e in cascade.einsums if v in e.vars), default=1) or 1 for v in members}
        out.update(per_rank)
        out[fam] = per_rank[_finest(cascade, members)]
    return dict(sorted(out.items()))


def _family(fam_of: dict, rank: str) -> str | None:
    """The family a rank or family name belongs to (m1 -> m, m -> m), None if the cascade lacks it."""
    return fam_of.get(rank, rank if rank in fam_of.values() else None)


def einsum_passes(cascade, rank: str = "m") -> dict[str, int]:
    """Einsum output -> the pass over ``rank``'s family it belongs to (0: it does not walk that family)."""
    fam_of = families(cascade)
    fam = _family(fam_of, rank)
    if fam is None:
        return {e.output: 0 for e in cascade.einsums}
    return pass_levels(cascade, fam, fam_of)


def pass_label(cascade, level: int, rank: str = "m") -> str:
    """'2' for a pass within ``rank``'s count, else the family ranks it walks: '2 (m2)' for split-KV's combine."""
    passes = cascade.passes()
    if level <= passes.get(rank, 0):
        return str(level)
    fam_of = families(cascade)
    fam = _family(fam_of, rank)
    return f"{level} ({','.join(v for v, f in fam_of.items() if f == fam and passes[v] >= level)})"


def live_footprint(cascade, rank: str = "m"):
    """Values that must stay live per query row while walking the family of ``rank``.

    Multi-pass: the largest query-dependent tensor crossing a pass boundary (e.g.
    M for Cascade 4: a whole fiber per query, or it spills and is re-read); K/V
    copies do not count, they can be re-read. One pass: the running state, i.e.
    the loop-carried tensors without their step rank (RM, RD, RNV: F + 2) plus the
    results of full reductions over the family (linear attention: E*F + E).
    Returns a sympy expression (sympy is imported here, so pass counting stays light).
    """
    import sympy as sp

    fam_of = families(cascade)
    fam = _family(fam_of, rank)
    if fam is None:
        raise UserError(f"{cascade.name}: no rank {rank!r}: its ranks are {listed(sorted(fam_of))}")
    level = pass_levels(cascade, fam, fam_of)
    crossing = [_per_query(cascade.einsum(a.tensor)) for e in cascade.einsums for a in e.reads
                if 0 < level.get(a.tensor, 0) < level[e.output] and _carries(cascade, a.tensor, fam, fam_of)
                and "p" in cascade.einsum(a.tensor).out_vars]
    if crossing:
        return max(crossing, key=_degree)
    state = [_per_query(e) for e in cascade.einsums
             if (e.step_rank and fam_of[e.step_rank] == fam) or _fully_reduces(e, fam, fam_of)]
    return sp.Add(*state)


def _degree(expr) -> int:
    import sympy as sp

    return sp.Poly(expr).total_degree() if expr.free_symbols else 0


def _per_query(e):
    """Size of one query row of an Einsum's output (p dropped, and the step rank of an iterative tensor)."""
    import sympy as sp

    from einsum_cascades.ops import extent

    return sp.Mul(*(extent(v) for v in e.out_vars if v not in ("p", e.step_rank)))
