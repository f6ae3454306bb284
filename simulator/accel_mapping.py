"""How often each operand of a mapped Einsum moves between an accelerator's storage levels.

A mapping places every rank of an Einsum in a loop nest over the levels (DRAM, the global
buffer, the PE array's spatial fan-out) and names the storage levels that keep each operand.
The counts follow Timeloop's reuse rules (Parashar et al., "Timeloop: A Systematic Approach to
DNN Accelerator Evaluation", ISPASS 2019), which the FuseMax artifact reads per level as scalar
reads, updates and fills (FPSG-UIUC/micro24-fusemax-artifact, workspace/src/accel/cascade.py):

- a level's tile of an operand spans the loops at and below that level over the operand's ranks;
- the tile moves again for every iteration of the loops above the level, except loops over ranks
  the operand lacks that sit directly above it: there the tile stays (temporal reuse);
- a spatial loop over a rank the operand lacks multicasts an input (one read feeds all the PEs
  along it) and reduces an output (the array adds the partial results up on the way out).

>>> nest = (Loop("m", 4, "gb"), Loop("p", 256, "array"), Loop("m", 256, "array"))
>>> accesses(nest, Operand("K", frozenset("m"), ("dram", "gb"))).reads["gb"]  # K[m]: one read per key
1024
"""

import math
from dataclasses import dataclass, field

STORAGE = ("dram", "gb", "stage")  # levels that may keep an operand above the PEs, outer to inner
_OWN = {"dram": 0, "gb": 1, "stage": 1.5, "pe": 3}  # where a storage level sits among the loop levels
_LOOP = {"dram": 0, "gb": 1, "array": 2}  # loop levels: DRAM's and the buffer's temporal loops, the array's fan-out


@dataclass(frozen=True, slots=True)
class Loop:
    """One loop of a nest: ``rank`` (a split rank keeps its name: p walked by chunks, tiles, PEs), its
    extent, and ``level``: dram or gb (that level's temporal loops) or array (spatial, over the PEs)."""

    rank: str
    extent: int
    level: str

    def __post_init__(self):
        if self.level not in _LOOP or self.extent < 1:
            raise ValueError(f"bad loop {self}")


@dataclass(frozen=True, slots=True)
class Operand:
    """A tensor an Einsum reads (or, with ``output``, writes), its ranks in this Einsum, and the
    storage levels that keep it, outer to inner (the PEs' registers always do)."""

    tensor: str
    ranks: frozenset
    homes: tuple = ()
    output: bool = False

    def __post_init__(self):
        if any(h not in STORAGE for h in self.homes) or list(self.homes) != sorted(self.homes, key=_OWN.get):
            raise ValueError(f"{self.tensor}: homes must be levels of {STORAGE}, outer to inner, got {self.homes}")


@dataclass(frozen=True, slots=True)
class Accesses:
    """Words read from and written to each storage level (writes: fills from above and updates from below)."""

    reads: dict = field(default_factory=dict)
    writes: dict = field(default_factory=dict)

    def __add__(self, other: "Accesses") -> "Accesses":
        return Accesses(_add(self.reads, other.reads), _add(self.writes, other.writes))

    def scaled(self, k: float) -> "Accesses":
        return Accesses({lv: n * k for lv, n in self.reads.items()}, {lv: n * k for lv, n in self.writes.items()})


def _add(a: dict, b: dict) -> dict:
    return {lv: a.get(lv, 0) + b.get(lv, 0) for lv in dict.fromkeys([*a, *b])}


def tile(loops, ranks, level: str) -> int:
    """Words of an operand over ``ranks`` that one tile at ``level`` holds."""
    return math.prod(lp.extent for lp in loops if _LOOP[lp.level] >= _OWN[level] and lp.rank in ranks)


def trips(loops, ranks, level: str) -> int:
    """How many times the tile at ``level`` moves, as seen from the level above it."""
    n, held = 1, True
    for lp in reversed([lp for lp in loops if _LOOP[lp.level] < _OWN[level]]):
        relevant = lp.rank in ranks
        if lp.level == "array":
            n *= lp.extent if relevant else 1  # multicast (input) or spatial reduction (output)
        elif relevant or not held:
            held = False
            n *= lp.extent
    return n


def accesses(loops, op: Operand) -> Accesses:
    """Reads and writes the operand causes at each level that keeps it."""
    chain = (*op.homes, "pe")
    reads, writes = {}, {}
    if not op.output:
        for parent, child in zip(chain, chain[1:]):
            moved = tile(loops, op.ranks, child) * trips(loops, op.ranks, child)
            reads[parent] = reads.get(parent, 0) + moved
            if child != "pe":
                writes[child] = writes.get(child, 0) + moved  # fill
        return Accesses(reads, writes)
    size = math.prod(lp.extent for lp in loops if lp.rank in op.ranks)
    up_chain = chain[::-1]
    for child, parent in zip(up_chain, up_chain[1:]):
        moved = tile(loops, op.ranks, child) * trips(loops, op.ranks, child)
        writes[parent] = writes.get(parent, 0) + moved  # update
        reads[parent] = reads.get(parent, 0) + max(0, moved - size)  # partial sums fetched back to accumulate
        if child != "pe":
            reads[child] = reads.get(child, 0) + moved  # drained to the parent
    return Accesses(reads, writes)


def pes(loops) -> int:
    """PEs the nest keeps busy: the product of its spatial loops."""
    return math.prod(lp.extent for lp in loops if lp.level == "array")
