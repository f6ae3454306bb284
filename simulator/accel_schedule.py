"""How FuseMax's binding overlaps its two arrays, for any cascade: the artifact's latency rule for Cascade 5
(FPSG-UIUC/micro24-fusemax-artifact, workspace/src/accel/proposal.py, Proposal.eval; stall_proposal.py,
StallProposal.eval) written over the cascade's dependencies instead of its Einsums' names.

Per pass over the keys, per tile:
- *sync*: 1D Einsums a 2D Einsum of the tile waits for (the running max RM): both arrays wait on them;
- *head*: the 2D Einsums before the sync (BQK, LM); they overlap the previous tile's *tail*: the 1D Einsums
  that wait for the 2D array's later results (RD, RNV) and the per-row Einsums after the key loop (AV);
- then the 2D Einsums after the sync beside the remaining 1D Einsums (PRM, SPD, SPNV), in two steps: those
  without V's feature rank (SLN, SLD | PRM, SPD), then those with it (SLNV | SPNV).
+Architecture's stall: the array dimension per tile the 2D array takes.
FuseMax (+Binding): ``max(head, tail) + sync + max(2D, 1D) + max(2D_f, 1D_f)``; the artifact's
``max(BQK+LM, RD+RNV+AV) + RM + max(SLN+SLD, PRM+SPD) + max(SLNV, SPNV)`` for Cascade 5.
+Architecture (no interleaving): a fill/drain stall of the array dimension per tile, and the tail's updates
with V's feature rank in series with the 1D array's second step:
``max(head, tail without f) + stall + sync + max(2D, 1D) + max(2D_f, 1D_f + tail_f)``.
A cascade without a sync runs its 2D Einsums as the head, against the tail (sigmoid attention).
"""

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Stages:
    """One pass's Einsums by their place in the tile's schedule."""

    head: tuple
    tail: tuple
    after: tuple
    sync: tuple
    post: tuple
    mid: tuple


def stages(r, on: dict, level: int) -> Stages:
    """The Einsums of pass ``level`` (roles ``r``, arrays ``on``) in the tile schedule."""
    names = [n for n in r.names if r.level[n] == level]
    two = [n for n in names if on[n] == "array2d"]
    body = [n for n in names if on[n] == "array1d" and r.cls[n] != "row"]
    after = tuple(n for n in names if on[n] == "array1d" and r.cls[n] == "row")
    sync = tuple(n for n in body if any(n in r.ancestors[m] for m in two))
    late = [n for n in two if any(s in r.ancestors[n] for s in sync)] if sync else two
    head = tuple(n for n in two if n not in late) if sync else tuple(two)
    post = tuple(late) if sync else ()
    tail = tuple(n for n in body if n not in sync and any(x in r.ancestors[n] for x in late))
    mid = tuple(n for n in body if n not in sync and n not in tail)
    return Stages(head, tail, after, sync, post, mid)


def levels(r) -> list[int]:
    return sorted(set(r.level.values()))


_PLANS: dict = {}


def plan(r, on: dict, arch: bool = False) -> tuple[tuple, str]:
    """Per pass, the terms of the rule, each a tuple of groups of Einsums (the term is the longest group's sum;
    "stall" stands for +Architecture's fill/drain), and the rule as text. Cached per cascade and binding."""
    key = (r.name, r.version, tuple(sorted(on.items())), arch)
    if key not in _PLANS:
        def f(names, with_f):
            return tuple(n for n in names if r.has_f(n) == with_f)
        passes = []
        for level in levels(r):
            st = stages(r, on, level)
            tail = f(st.tail, False) if arch else st.tail
            last_1d = f(st.mid, True) + (f(st.tail, True) if arch else ())
            terms = [(st.head, tail + st.after), "stall" if arch else None, (st.sync,),
                     (f(st.post, False), f(st.mid, False)), (f(st.post, True), last_1d)]
            passes.append((level, tuple(t for t in terms if t is not None)))
        text = ", then ".join(" + ".join(x for x in (_text(t) for t in terms) if x) for _, terms in passes)
        _PLANS[key] = (tuple(passes), text)
    return _PLANS[key]


def _text(term) -> str:
    if term == "stall":
        return "stall"
    sums = ["+".join(g) for g in term if g]
    return sums[0] if len(sums) == 1 else f"max({', '.join(sums)})" if sums else ""


def fusemax_cycles(passes: tuple, c: dict, stall: dict | None = None) -> float:
    """Compute cycles of the whole call under a ``plan``: the passes one after another; ``stall``: +Architecture's
    fill/drain cycles per pass."""
    total = 0.0
    for level, terms in passes:
        cycles = [stall[level] if t == "stall" else max(sum(c[n] for n in g) for g in t) for t in terms]
        level_sum = cycles[0]
        for x in cycles[1:]:
            level_sum += x
        total += level_sum
    return total


def stall_cycles(hw, s, r, maps) -> dict:
    """+Architecture's fill/drain per pass: the array dimension in cycles for every tile the 2D array takes, the
    tiles of the pass's most tiled 2D Einsum over the query and key ranks (Cascade 5: query tile x key tile)."""
    positions = {*s.key, *s.query}
    out = {}
    for level in levels(r):
        tiles = [math.prod(lp.extent for lp in m.loops if lp.level != "array" and lp.rank in positions)
                 for m in maps if m.array == "array2d" and r.level[m.name] == level]
        out[level] = s.heads * max(tiles, default=0) * hw.pe2d_rows
    return out
