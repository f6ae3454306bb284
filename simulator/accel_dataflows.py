"""The loop nests of a cascade's Einsums on an accelerator, and the mapped Einsums they make.

An Einsum's loop nest comes from its ranks by one of four dataflows (written after the FuseMax artifact's
per-Einsum Timeloop mappings: FPSG-UIUC/micro24-fusemax-artifact, workspace/inputs/yamls/proposal/mappings,
baselines/flat-mappings, baselines/softmax-mappings); where its operands live comes from the binding
(``accel_binding``). Access counts follow from both by ``accel_mapping``; nothing here is a count.
Rank roles: ``p`` the query position, the ``m`` family the key position (``m1`` the key tile, ``m0`` a key
in it: M0 is the array dimension), any other rank a feature rank (its extent from the head dims).
"""

import math
from dataclasses import dataclass, field
from functools import lru_cache

from einsum_cascades.errors import UserError
from simulator.accel_mapping import Accesses, Loop, accesses, pes, tile
from simulator.rank_extents import feature_extents, substitutions

# FLAT fuses its row-granularity blocks up to 1024 query rows; its scores-off-chip mapping uses
# 1024-row blocks (FLAT's own mapping search as the artifact runs it: outputs/pregenerated/results/
# flat_validation.csv, column P1, cloud rows 8K-1M).
FLAT_ROW_BLOCK = 1024


@dataclass(frozen=True, slots=True)
class Shape:
    heads: int  # batch x heads, processed one after another
    P: int
    M: int
    E: int
    F: int
    w: int  # bytes per word
    x: dict = field(default_factory=dict, compare=False)  # rank -> extent, every rank of the cascade
    key: tuple = ("m", "m")  # the key family's (tile, key) ranks; a plain m is both
    query: tuple = ("p", "p")


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

@lru_cache(maxsize=64)
def _einsums(cascade_name: str, _version):
    """(name, ranks, out ranks, op functions) of every Einsum that computes, and the cascade's rank families."""
    from einsum_cascades import load_cascade
    from einsum_cascades.passes import families

    from simulator.accel_binding import roles

    cascade = load_cascade(cascade_name)
    subs = substitutions(cascade)
    names = roles(cascade_name).names  # BK, BV (a partition of K, V) compute nothing
    out = []
    for e, ops in zip(cascade.einsums, cascade.op_counts().values()):
        if e.output not in names:
            continue
        fns = {cls: _lambdified(expr.subs(subs)) for cls, expr in ops.items()}
        out.append((e.output, e.vars, frozenset(e.out_vars), fns))
    features = tuple((r, _lambdified(x)) for r, x in sorted(feature_extents(cascade).items()))
    return tuple(out), families(cascade), features


def _lambdified(expr) -> tuple:
    import sympy

    syms = sorted(expr.free_symbols, key=lambda sym: sym.name)
    return tuple(sym.name for sym in syms), sympy.lambdify(syms, expr, "math")


def shape(hw, r, heads: int, P: int, M: int, E: int, F: int, w: int) -> Shape:
    """The extents of every rank of cascade ``r`` (its roles) on ``hw``: queries and keys tiled by the array's
    dimensions."""
    cascade_name = r.name
    _, fam, features = _einsums(r.name, r.version)
    x = {rank: _integer(rank, f(*({"E": E, "F": F}[n] for n in names)), cascade_name) for rank, (names, f) in features}
    key, query = _split(fam, "m", cascade_name), _split(fam, "p", cascade_name)
    for (coarse, fine), n, dim in ((key, M, hw.pe2d_cols), (query, P, hw.pe2d_rows)):
        x[coarse], x[fine] = (math.ceil(n / dim), dim) if coarse != fine else (n, n)
    return Shape(heads, P, M, E, F, w, x, key, query)


def _integer(rank: str, value: float, cascade_name: str) -> int:
    if value != int(value) or value < 1:
        raise UserError(f"{cascade_name}: rank {rank} would have extent {value:g} at this head dim: choose a head "
                        f"dim it divides")
    return int(value)


def _split(fam: dict, family: str, cascade_name: str) -> tuple:
    ranks = sorted((v for v, f in fam.items() if f == family), key=lambda v: (v[-1:].isdigit(), v))
    if len(ranks) > 2:
        parts = [v for v in ranks if v != family]
        if family in ranks and len(parts) == 2:  # the tiles, and Einsums on the untiled rank as well
            raise UserError(f"{cascade_name}: accelerator mappings run every Einsum on one tiling of the {family} "
                            f"rank ({', '.join(sorted(parts, reverse=True))}); this cascade also uses {family} "
                            f"untiled (before its partition): apply that Einsum to the tiles instead")
        raise UserError(f"{cascade_name}: accelerator mappings tile the {family} rank once ({family}1, {family}0); "
                        f"this cascade splits it into {', '.join(ranks)}")
    if len(ranks) == 2:
        return tuple(sorted(ranks, key=lambda v: -int(v[-1])))  # (m1, m0)
    return (ranks[0], ranks[0]) if ranks else (family, family)


def _symbols(s: Shape) -> dict:
    return {**{r.upper(): n for r, n in s.x.items()}, "M": s.M, "P": s.P, "E": s.E, "F": s.F}


def mapped(r, hw, s, b, nest) -> list[MappedEinsum]:
    """Every computing Einsum of cascade ``r`` (its roles) with its array, operands (binding ``b``) and loop nest
    (``nest(name, ranks, array, out_ranks)``)."""
    einsums, _, _ = _einsums(r.name, r.version)
    x = _symbols(s)
    return [MappedEinsum(name, b.on[name], tuple(nest(name, ranks, b.on[name], out_ranks)), b.operands[name],
                         {cls: float(f(*(x[n] for n in names))) for cls, (names, f) in fns.items()})
            for name, ranks, out_ranks, fns in einsums]


# ---------------------------------------------------------------- loop nests

def _features(s: Shape, ranks) -> list:
    return [r for r in ranks if r not in (*s.key, *s.query)]


def _widest(s: Shape, ranks) -> list:
    """The feature ranks, the longest first (the one an array dimension takes: e0 of 64 before g of 2)."""
    return sorted(_features(s, ranks), key=lambda r: -s.x[r])


def tiled(hw, s: Shape, chunks: int, tiles: int):
    """K and V stream in M0-key tiles under chunks of ``tiles`` x rows queries (FuseMax's mapping, Unfused's
    GEMMs): DRAM walks chunks then key tiles; the buffer the query tiles then the feature ranks; the 2D array
    P0 x M0 (P0 x a feature rank for an Einsum without keys), the 1D array P0 (walking M0 in time). An Einsum
    without the query rank: ``spread``."""
    rows, cols = hw.pe2d_rows, hw.pe2d_cols
    mo, mi = s.key

    def nest(name, ranks, array, out):
        if "p" not in ranks:
            return spread(hw, s)(name, ranks, array, out)
        p_pes = rows if array == "array2d" else min(rows, hw.pe1d_count)
        features = _features(s, ranks)
        across = _widest(s, ranks)[0] if array == "array2d" and mi not in ranks and features else None
        loops = [Loop("p", chunks, "dram")]
        if mo in ranks:
            loops.append(Loop(mo, math.ceil(s.M / cols), "dram"))
        loops.append(Loop("p", tiles * math.ceil(rows / p_pes), "gb"))
        if mi in ranks and array == "array1d":
            loops.append(Loop(mi, cols, "gb"))
        loops += [Loop(r, math.ceil(s.x[r] / cols) if r == across else s.x[r], "gb") for r in features]
        loops.append(Loop("p", p_pes, "array"))
        if mi in ranks and array == "array2d":
            loops.append(Loop(mi, cols, "array"))
        if across:  # NUM[f,p] = FQ[e,p] * KV[e,f]: queries down the rows, a feature across the columns
            loops.append(Loop(across, min(s.x[across], cols), "array"))
        return [lp for lp in loops if lp.extent > 1 or lp.level != "gb" or lp.rank != across]
    return nest


def spread(hw, s: Shape):
    """Any other Einsum over an array: the 2D array's rows take a query rank (else a feature rank), its
    columns a key of the tile (else another feature rank); the 1D array's PEs a query, a key or a feature
    rank, in that order of preference. Tiles of the query and key ranks stream at DRAM (linear attention's
    per-key state, chunked queries); the rest walks in time at the buffer."""
    def nest(name, ranks, array, out):
        features = _widest(s, ranks)
        queries = [r for r in ranks if r == s.query[1]]
        keys = [r for r in ranks if r == s.key[1]]
        if array == "array2d":
            spatial = ((queries or features[:1]) + (keys or [f for f in features if f not in queries + features[:1]]
                                                    [:1]))[:2]
            dims = (hw.pe2d_rows, hw.pe2d_cols)
        else:
            spatial, dims = (queries + keys + features)[:1], (hw.pe1d_count,)
        positions = {*s.key, *s.query}
        coarse = [Loop(r, s.x[r], "dram") for r in ranks if r in (s.key[0], s.query[0]) and r not in spatial
                  and r not in (s.key[1], s.query[1])]
        loops = coarse + [Loop(r, math.ceil(s.x[r] / d), "dram") for r, d in zip(spatial, dims) if r in positions]
        loops += [Loop(r, math.ceil(s.x[r] / d), "gb") for r, d in zip(spatial, dims) if r not in positions]
        loops += [Loop(r, s.x[r], "gb") for r in ranks if r not in spatial and all(lp.rank != r for lp in coarse)]
        loops += [Loop(r, min(s.x[r], d), "array") for r, d in zip(spatial, dims)]
        return [lp for lp in loops if lp.extent > 1 or lp.level == "array"]
    return nest


def softmax_rows(hw, s: Shape):
    """The 3-pass softmax on the 1D array one query row at a time, keys across the PEs (artifact
    baselines/softmax-mappings: DRAM walks P, the buffer M1, the PEs M0); an Einsum without a key of the
    row: one PE per query row; without the query rank: ``spread``."""
    n1d = hw.pe1d_count
    mo, mi = s.key

    def nest(name, ranks, array, out):
        if "p" not in ranks:
            return spread(hw, s)(name, ranks, array, out)
        features = [Loop(r, s.x[r], "gb") for r in _features(s, ranks)]
        if mi not in ranks:
            tile_loop = [Loop(mo, s.x[mo], "gb")] if mo in ranks else []
            return [Loop("p", math.ceil(s.P / n1d), "dram"), *tile_loop, *features, Loop("p", min(s.P, n1d), "array")]
        keys = s.x[mi]
        outer = [Loop(mo, s.x[mo], "gb")] if mo != mi and mo in ranks else []
        return [Loop("p", s.P, "dram"), *outer, Loop(mi, math.ceil(keys / n1d), "gb"), *features,
                Loop(mi, min(keys, n1d), "array")]
    return nest


def flat_gemms(hw, s: Shape, block: int, stationary: str):
    """FLAT's GEMMs in blocks of ``block`` query rows, ``stationary`` "output" (the output's ranks spread
    over the array, the reduction walked in the PEs) or "weight" (K or V held in the PEs while the block's
    queries stream past) (artifact src/accel/flat.py, __update_qk/__update_av; baselines/flat-mappings).
    A contraction without both a query and a key rank: ``spread``."""
    rows, cols = hw.pe2d_rows, hw.pe2d_cols
    blocks = math.ceil(s.P / block)
    mo, mi = s.key

    def nest(name, ranks, array, out):
        features = _features(s, ranks)
        if "p" not in ranks or mi not in ranks or not features:
            return spread(hw, s)(name, ranks, array, out)
        qk = not set(features) & out  # QK[m,p] sums over E; AV[f,p] sums over the keys
        other = _widest(s, ranks)[0]
        rest = [Loop(r, s.x[r], "gb") for r in features if r != other]
        depth = s.x[other]
        keys = [Loop(mo, s.x[mo], "gb"), Loop(mi, s.x[mi], "gb")] if mo != mi else [Loop("m", s.M, "gb")]
        if stationary == "weight":  # spatial: the weight's ranks; the block's queries innermost in time
            return [Loop("p", blocks, "dram"), Loop(mo, math.ceil(s.M / cols), "gb"), *rest,
                    Loop(other, math.ceil(depth / rows), "gb"), Loop("p", block, "gb"),
                    Loop(other, min(depth, rows), "array"), Loop(mi, cols, "array")]
        loops = [Loop("p", blocks, "dram"), Loop("p", math.ceil(block / rows), "gb"), *rest]
        if qk:  # QK[m,p]: keys x queries across the array, E summed in the PEs
            return loops + [Loop(mo, math.ceil(s.M / cols), "gb"), Loop(other, depth, "gb"),
                            Loop(mi, cols, "array"), Loop("p", rows, "array")]
        return loops + [Loop(other, math.ceil(depth / cols), "gb"), *keys,  # AV[f,p]: M summed in the PEs
                        Loop(other, min(depth, cols), "array"), Loop("p", rows, "array")]
    return nest


def per_einsum(default, **nests):
    """A nest builder that uses ``nests[name]`` for the Einsums it names and ``default`` for the rest."""
    return lambda name, ranks, array, out: nests.get(name, default)(name, ranks, array, out)


# ---------------------------------------------------------------- sizing against the buffer

def footprint(maps: list[MappedEinsum], w: int, whole: frozenset = frozenset()) -> float:
    """Bytes the buffer holds while these Einsums run together: each tensor's largest tile, once; a tensor in
    ``whole`` (a score tensor a later pass reads) is held over all its keys."""
    held = {}
    for m in maps:
        for op in m.operands:
            if "gb" in op.homes:
                level = "dram" if op.tensor in whole else "gb"
                chunks = math.prod(lp.extent for lp in m.loops if lp.level == "dram" and lp.rank in op.ranks
                                   and lp.rank == "p") if op.tensor in whole else 1
                held[op.tensor] = max(held.get(op.tensor, 0), tile(m.loops, op.ranks, level) / chunks)
    return sum(held.values()) * w


def chunked(hw, s: Shape, build, whole: frozenset = frozenset()) -> tuple[list[MappedEinsum], int]:
    """The mapping ``build(chunks, tiles)`` with the fewest query chunks whose buffer footprint fits;
    chunks divide the query tiles evenly (artifact src/accel/proposal.py: P1 is a factor of P / PE_dim)."""
    total = math.ceil(s.P / hw.pe2d_rows)
    for chunks in (c for c in range(1, total + 1) if total % c == 0):
        maps = build(chunks, total // chunks)
        if (held := footprint(maps, s.w, whole)) <= hw.global_buffer_bytes:
            return maps, chunks
    raise UserError(f"{hw.name}: the global buffer cannot hold one {hw.pe2d_rows}-query tile at head dim {s.E}: it "
                    f"needs {held:,.0f} B, global_buffer_bytes is {hw.global_buffer_bytes:,.0f} B")
