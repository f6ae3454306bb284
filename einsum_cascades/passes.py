"""Pass analysis (reference/fusemax.md, "Passes").

Ranks form families: the ranks of one partition (``m1*M0 + m0``) belong to the
same family as the rank they split. An Einsum *fully reduces* a family when it
reduces over one of its ranks and keeps none on its output. Reading, over a
family rank, anything that depends on a full reduction of that family starts a
new pass; element-wise producers, reductions over a partition and updates
through an iterative rank stay in the same pass. A family's pass count is that
of its finest rank (the one that walks the original elements).
"""

import re


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
    """Pass level of every Einsum over family ``fam`` (0 if it does not walk the family)."""
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
        full = walks and any(fam_of.get(v) == fam for v in e.reduced) and not any(
            fam_of.get(v) == fam for v in e.out_vars)
        done[e.output] = max(level[e.output] if full else 0, after)
    return level


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


def live_footprint(cascade) -> dict:
    """Per query position: values that must stay live for each family.

    Multi-pass: the largest tensor crossing a pass boundary (O(M) per query);
    one pass: the loop-carried running state (e.g. RM, RD, RNV: F + 2). Values are sympy expressions.
    """
    import sympy as sp

    fam_of = families(cascade)
    out = {}
    for fam in sorted(set(fam_of.values())):
        if fam in ("p",):
            continue
        level = pass_levels(cascade, fam, fam_of)
        crossing = [_per_query(cascade.einsum(t), step=True) for e in cascade.einsums for t in
                    (a.tensor for a in e.reads if a.tensor in level)
                    if 0 < level[t] < level[e.output] and _carries(cascade, t, fam, fam_of)
                    and "p" in cascade.einsum(t).out_vars]
        state = [_per_query(e, step=True) for e in cascade.einsums if e.step_rank and fam_of.get(e.step_rank) == fam]
        if crossing:
            out[fam] = max(crossing, key=lambda x: sp.Poly(x).total_degree() if x.free_symbols else 0)
        elif state:
            out[fam] = sp.Add(*state)
    return out


def _per_query(e, step=False):
    import sympy as sp

    from einsum_cascades.ops import extent

    dims = [v for v in e.out_vars if v != "p" and not (step and v == e.step_rank)]
    return sp.Mul(*(extent(v) for v in dims)) if dims else sp.Integer(1)
