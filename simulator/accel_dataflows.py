"""The mappings of the accelerator configurations: each Einsum of the cascade placed on an array,
in a loop nest, with the storage levels that keep each of its operands.

Loop nests come from the Einsum's ranks (the cascade IR) by one of four dataflows; where operands
live is each configuration's binding, written below as tables in the manner of the FuseMax
artifact's per-Einsum Timeloop mappings (FPSG-UIUC/micro24-fusemax-artifact,
workspace/inputs/yamls/proposal/mappings/*.yaml, proposal/flat_pe_mappings/*.yaml,
baselines/flat-mappings/*.yaml, baselines/softmax-mappings/*.yaml). Access counts follow from
both by ``accel_mapping``; nothing here is a count.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades.errors import UserError
from simulator.accel_mapping import Accesses, Loop, Operand, accesses, pes, tile

ONE_PASS = "attention-1pass"  # Cascade 5
THREE_PASS = "attention-3pass"  # Cascade 4
# FLAT fuses its row-granularity blocks up to 1024 query rows; its scores-off-chip mapping uses
# 1024-row blocks (FLAT's own mapping search as the artifact runs it: outputs/pregenerated/results/
# flat_validation.csv, column P1, cloud rows 8K-1M).
FLAT_ROW_BLOCK = 1024

# Operand homes per Einsum: {Einsum: ({input: levels}, output levels)}, levels outer to inner;
# an operand not listed stays in the PEs (registers, or forwarded from the array that made it).
_IO = "dram gb"  # an attention input staged through the global buffer
# FuseMax (+Binding, +Architecture): Q, K and V tiles and the running state RM, RD, RNV live in the
# buffer (FuseMax paper; artifact proposal/mappings: L3 keeps Q, BK, BV, RM, RD, RNV); vectors passing
# between the arrays (LM, SLD, SLNV one way, RM the other) use the staging buffer (reg_file_1d).
FUSEMAX = {
    "BQK": ({"Q": _IO, "BK": _IO}, ""), "LM": ({}, "stage"), "RM": ({"LM": "stage", "RM": "gb"}, "gb"),
    "SLN": ({"RM": "gb stage"}, ""), "SLD": ({}, "stage"), "SLNV": ({"BV": _IO}, "stage"), "PRM": ({}, ""),
    "SPD": ({"RD": "gb"}, ""), "RD": ({"SLD": "stage"}, "gb"), "SPNV": ({"RNV": "gb"}, ""),
    "RNV": ({"SLNV": "stage"}, "gb"), "AV": ({"RNV": "gb", "RD": "gb"}, "dram"),
}
# +Cascade on FLAT's hardware, which has no staging buffer: the 1D array takes what the 2D array
# drains (LM its scores, RNV its SLNV), but SLN must wait for RM and re-read the scores, and the 2D
# array's SLNV reads SLN back: both go through the buffer (artifact proposal/flat_pe_mappings).
CASCADE_ON_FLAT = {
    "BQK": ({"Q": _IO, "BK": _IO}, "gb"), "RM": ({"RM": "gb"}, "gb"), "SLN": ({"BQK": "gb"}, "gb"),
    "SLNV": ({"SLN": "gb", "BV": _IO}, ""), "SPD": ({"RD": "gb"}, ""), "RD": ({}, "gb"),
    "SPNV": ({"RNV": "gb"}, ""), "RNV": ({}, "gb"), "AV": ({"RNV": "gb", "RD": "gb"}, "dram"),
}
# The 3-pass softmax one query row at a time: the row sits in the buffer for the max and the
# exponentials; SD sums SN as it is made (artifact baselines/softmax-mappings).
_SOFTMAX = {"GM": ({"QK": _IO}, "gb"), "SN": ({"QK": "gb", "GM": "gb"}, "gb"), "SD": ({}, "gb"),
            "A": ({"SN": "gb", "SD": "gb"}, "dram")}
# FLAT with the scores on chip: Q, K, V streamed from DRAM for every 256 x 256 tile, QK, SN and A kept
# in the buffer (flat_validation.csv: Q, K, V off chip, QK and A on chip, 1K-64K).
FLAT_ONCHIP = {"QK": ({"Q": "dram", "K": "dram"}, "gb"), "GM": ({"QK": "gb"}, "gb"),
               "SN": ({"QK": "gb", "GM": "gb"}, "gb"), "SD": ({}, "gb"), "A": ({"SN": "gb", "SD": "gb"}, "gb"),
               "AV": ({"A": "gb", "V": "dram"}, "dram")}
# FLAT with the scores off chip (256K on): Q and the AV accumulators in the buffer, K and V stationary in
# the PEs for a row block, scores and A through DRAM (flat_validation.csv: Q, AV on chip; weight stationary).
FLAT_OFFCHIP = {"QK": ({"Q": _IO, "K": "dram"}, "dram"), **_SOFTMAX, "AV": ({"A": "dram", "V": "dram"}, _IO)}
# Unfused: three phases with DRAM between them; its GEMMs keep K and V tiles and a block of Q (or of
# AV accumulators) in the buffer (artifact baselines/unfused-constraints, mapper-found).
UNFUSED = {"QK": ({"Q": _IO, "K": _IO}, "dram"), **_SOFTMAX, "AV": ({"A": "dram", "V": _IO}, _IO)}


@dataclass(frozen=True, slots=True)
class Shape:
    heads: int  # batch x heads, processed one after another
    P: int
    M: int
    E: int
    F: int
    w: int  # bytes per word


@dataclass(frozen=True, slots=True)
class MappedEinsum:
    """One Einsum as the accelerator runs it: array, loop nest, operands; ops per head by class."""

    name: str
    array: str  # "array2d" or "array1d"
    loops: tuple
    operands: tuple
    ops: dict

    @property
    def pes(self) -> int:
        return pes(self.loops)

    def accesses(self) -> Accesses:
        return sum((accesses(self.loops, op) for op in self.operands), Accesses())


# ---------------------------------------------------------------- the cascade's Einsums

@lru_cache(maxsize=8)
def _einsums(cascade_name: str):
    """(name, ranks, reads {tensor: ranks}, output ranks, op functions) of every Einsum that computes."""
    import sympy

    from einsum_cascades import load_cascade

    cascade = load_cascade(cascade_name)
    out = []
    for e, ops in zip(cascade.einsums, cascade.op_counts().values()):
        if not ops:  # BK, BV: a partition of K, V, not a computation
            continue
        reads = {}
        for a in e.reads:  # PRM reads RM twice (steps m1 and m1+1): one operand
            reads[a.tensor] = reads.get(a.tensor, frozenset()) | {v for i in a.indices for v in i.vars()}
        fns = {}
        for cls, expr in ops.items():
            syms = sorted(expr.free_symbols, key=lambda sym: sym.name)
            fns[cls] = (tuple(sym.name for sym in syms), sympy.lambdify(syms, expr, "math"))
        out.append((e.output, e.vars, reads, frozenset(e.out_vars), fns))
    return tuple(out)


def _extents(hw, s: Shape) -> dict:
    m0 = hw.pe2d_cols  # M0 = the array dimension: K and V stream in M0-key tiles
    return {"M": s.M, "P": s.P, "E": s.E, "F": s.F, "M0": m0, "M1": math.ceil(s.M / m0)}


def mapped(cascade_name, hw, s, binding, homes, nest) -> list[MappedEinsum]:
    """Every computing Einsum of the cascade with its array (``binding``), operands' homes and loop nest."""
    einsums, x = _einsums(cascade_name), _extents(hw, s)
    _check_homes(cascade_name, einsums, homes)
    out = []
    for name, ranks, reads, out_ranks, fns in einsums:
        ins, out_home = homes.get(name, ({}, ""))
        operands = tuple(Operand(t, r, tuple(ins.get(t, "").split())) for t, r in reads.items()) + \
            (Operand(name, out_ranks, tuple(out_home.split()), output=True),)
        ops = {cls: float(f(*(x[n] for n in names))) for cls, (names, f) in fns.items()}
        array = "array2d" if name in binding else "array1d"
        out.append(MappedEinsum(name, array, tuple(nest(name, ranks, array)), operands, ops))
    return out


def _check_homes(cascade_name, einsums, homes) -> None:
    """A homes table names only Einsums of the cascade and tensors they read (a typo would leave an
    operand in the PEs unnoticed)."""
    reads = {name: set(r) for name, _, r, _, _ in einsums}
    for name, (ins, _) in homes.items():
        if name not in reads or set(ins) - reads[name]:
            raise ValueError(f"homes for {cascade_name}: {name} {sorted(ins)} is not an Einsum and what it reads")


# ---------------------------------------------------------------- loop nests

def _m_ranks(ranks):
    """The (outer, inner) names of the key rank: Cascade 5 partitions it (m1, m0), Cascade 4 does not."""
    return ("m1", "m0") if "m0" in ranks or "m1" in ranks else ("m", "m")


def tiled(hw, s: Shape, chunks: int, tiles: int):
    """K and V stream in M0-key tiles under chunks of ``tiles`` x rows queries (FuseMax's mapping, Unfused's
    GEMMs): DRAM walks chunks then key tiles; the buffer the query tiles then E or F; the 2D array P0 x M0,
    the 1D array P0 (walking M0 in time)."""
    rows = hw.pe2d_rows

    def nest(name, ranks, array):
        mo, mi = _m_ranks(ranks)
        p_pes = rows if array == "array2d" else min(rows, hw.pe1d_count)
        loops = [Loop("p", chunks, "dram")]
        if mo in ranks:
            loops.append(Loop(mo, math.ceil(s.M / hw.pe2d_cols), "dram"))
        loops.append(Loop("p", tiles * math.ceil(rows / p_pes), "gb"))
        if mi in ranks and array == "array1d":
            loops.append(Loop(mi, hw.pe2d_cols, "gb"))
        loops += [Loop(r, n, "gb") for r, n in (("e", s.E), ("f", s.F)) if r in ranks]
        loops.append(Loop("p", p_pes, "array"))
        if mi in ranks and array == "array2d":
            loops.append(Loop(mi, hw.pe2d_cols, "array"))
        return loops
    return nest


def softmax_rows(hw, s: Shape):
    """The 3-pass softmax on the 1D array one query row at a time, keys across the PEs
    (artifact baselines/softmax-mappings: DRAM walks P, the buffer M1, the PEs M0)."""
    n1d = hw.pe1d_count
    return lambda name, ranks, array: [Loop("p", s.P, "dram"), Loop("m", math.ceil(s.M / n1d), "gb"),
                                       Loop("m", n1d, "array")]


def flat_gemms(hw, s: Shape, block: int, stationary: str):
    """FLAT's GEMMs in blocks of ``block`` query rows, ``stationary`` "output" (the output's ranks spread
    over the array, the reduction walked in the PEs) or "weight" (K or V held in the PEs while the block's
    queries stream past) (artifact src/accel/flat.py, __update_qk/__update_av; baselines/flat-mappings)."""
    rows, cols = hw.pe2d_rows, hw.pe2d_cols
    blocks = math.ceil(s.P / block)

    def nest(name, ranks, array):
        other = "e" if "e" in ranks else "f"  # QK's head dim, or AV's
        depth = s.E if other == "e" else s.F
        if stationary == "weight":  # spatial: the weight's ranks; the block's queries innermost in time
            return [Loop("p", blocks, "dram"), Loop("m", math.ceil(s.M / cols), "gb"),
                    Loop(other, math.ceil(depth / rows), "gb"), Loop("p", block, "gb"),
                    Loop(other, min(depth, rows), "array"), Loop("m", cols, "array")]
        loops = [Loop("p", blocks, "dram"), Loop("p", math.ceil(block / rows), "gb")]
        if other == "e":  # QK[m,p]: keys x queries across the array, E summed in the PEs
            return loops + [Loop("m", math.ceil(s.M / cols), "gb"), Loop("e", s.E, "gb"),
                            Loop("m", cols, "array"), Loop("p", rows, "array")]
        return loops + [Loop("f", math.ceil(s.F / cols), "gb"), Loop("m", s.M, "gb"),  # AV[f,p]: M summed in the PEs
                        Loop("f", min(s.F, cols), "array"), Loop("p", rows, "array")]
    return nest


def per_einsum(default, **nests):
    """A nest builder that uses ``nests[name]`` for the Einsums it names and ``default`` for the rest."""
    return lambda name, ranks, array: nests.get(name, default)(name, ranks, array)


# ---------------------------------------------------------------- sizing against the buffer

def footprint(maps: list[MappedEinsum], w: int) -> float:
    """Bytes the buffer holds while these Einsums run together: each tensor's largest tile, once."""
    held = {}
    for m in maps:
        for op in m.operands:
            if "gb" in op.homes:
                held[op.tensor] = max(held.get(op.tensor, 0), tile(m.loops, op.ranks, "gb"))
    return sum(held.values()) * w


def chunked(hw, s: Shape, build) -> tuple[list[MappedEinsum], int]:
    """The mapping ``build(chunks, tiles)`` with the fewest query chunks whose buffer footprint fits;
    chunks divide the query tiles evenly (artifact src/accel/proposal.py: P1 is a factor of P / PE_dim)."""
    total = math.ceil(s.P / hw.pe2d_rows)
    for chunks in (c for c in range(1, total + 1) if total % c == 0):
        maps = build(chunks, total // chunks)
        if footprint(maps, s.w) <= hw.global_buffer_bytes:
            return maps, chunks
    raise UserError(f"{hw.name}: the global buffer cannot hold one {hw.pe2d_rows}-query tile at head dim {s.E}")
