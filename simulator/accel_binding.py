"""Any cascade bound to a FuseMax-style accelerator: which array runs each Einsum, and which storage levels
keep each operand, per configuration. The FuseMax paper's bindings of Cascades 4 and 5 (Nayak et al.,
"FuseMax", MICRO 2024) written as rules over the cascade's structure (its Einsums' classes, passes and
dependencies), so that they bind any cascade; applied to the bundled cascades the rules give the
artifact's per-Einsum Timeloop mappings (FPSG-UIUC/micro24-fusemax-artifact, workspace/inputs/yamls/
proposal/mappings, proposal/flat_pe_mappings, baselines/flat-mappings, baselines/softmax-mappings;
tests/test_accel_binding.py holds those tables and checks it).

Arrays: FuseMax and +Architecture put the contractions and every Einsum over a query and a key of the tile
on the 2D array (where its ops run there: exp as MACs, a division by Newton-Raphson, simulator.lowering), the
per-row work on the 1D array, one PE per query row; +Cascade, FLAT and Unfused put only the contractions on
their MAC-only 2D array.

Homes (levels outer to inner, "" = the PEs' registers), by style:
- ``fusemax`` (a staging buffer between the arrays): attention inputs staged through the buffer (once a pass:
  a second reader finds them there); running
  state (an iterative tensor: RM, RD, RNV) in the buffer, read from it by the first 1D Einsum of a tile to
  touch it and through the staging buffer by the 2D array; vectors between the arrays through the staging
  buffer; the rest stays in the PEs; the output goes to DRAM (accumulated in the buffer first when it sums
  over the key tiles: attention-3pass's AV);
- ``cascade`` (no staging buffer): as ``fusemax``, but the 1D array takes what the 2D array drains only if it
  needs nothing else first (else the tensor waits in the buffer), and the 2D array reads 1D results from it;
- ``flat`` (scores on chip): inputs streamed from DRAM (one that two Einsums of a pass read staged through the
  buffer by the first, read from it by the second: linear attention's K, read by K^T V and by the sum of K),
  every intermediate in the buffer, a reduction of the tensor made just before it on the same array fused with
  its producer;
- ``offchip`` and ``unfused`` (phases split at the contractions): a contraction reads inputs staged through
  the buffer (``offchip``: only those with a query rank; the others stream into the PEs) and intermediates
  from DRAM, and writes its result to DRAM (the final output: staged); the row-wise phases read a phase
  input once staged, then from the buffer, and write to DRAM what a later phase reads.
A score tensor a later pass reads (a multi-pass cascade on a FuseMax-style mapping) is held in the buffer
for the query chunk, or, if no chunk of one row tile fits, spilled: written to DRAM and read back.
"""

from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades import load_cascade
from einsum_cascades.errors import UserError
from einsum_cascades.library import cascade_version
from einsum_cascades.passes import families
from simulator.lowering import accel_actions
from simulator.rank_extents import value_features

IO = "dram gb"  # an operand staged through the global buffer
STYLES = {"fusemax": "fusemax", "fusemax-arch": "fusemax", "fusemax-cascade": "cascade"}


@dataclass(frozen=True, slots=True)
class Roles:
    """What the bindings read of a cascade: its computing Einsums in order and their structure."""

    name: str
    version: object  # the cascade file's version (None: bundled); plans key on (name, version)
    names: tuple  # computing Einsums (copies and partitions left out), cascade order
    cls: dict  # Einsum -> score | row_tile | output_tile | row | key | None (simulator.cascade_work)
    level: dict  # Einsum -> pass over the keys
    reads: dict  # Einsum -> {tensor: ranks it is read over}
    ranks: dict  # Einsum -> its iteration space
    out_ranks: dict  # Einsum -> its output's ranks
    ops: dict  # Einsum -> op classes it performs
    inputs: frozenset  # attention inputs and their copies (BK, BV)
    state: frozenset  # iterative tensors (RM[m1+1,p] = ...)
    contraction: frozenset
    crossing: frozenset  # score tensors a later pass reads
    final: str
    family: dict  # rank -> p (queries), m (keys) or its own feature family
    ancestors: dict  # Einsum -> the Einsums it depends on (loop-carried reads not counted)
    reduction: dict  # Einsum -> True when it reduces ranks
    tile: frozenset  # Einsums over a query and a key of the tile (a score element: BQK, SLN, ...)
    v_features: frozenset  # the ranks of V's features (f, whatever the cascade names it)

    def producer(self, tensor: str) -> str | None:
        return tensor if tensor in self.cls else None

    def consumers(self, tensor: str) -> list:
        return [n for n in self.names if tensor in self.reads[n] and n != tensor]

    def has_f(self, name: str) -> bool:
        """Whether the Einsum walks V's feature rank (the product with V and the output's updates)."""
        return any(r in self.v_features for r in self.ranks[name])


def roles(cascade_name: str) -> Roles:
    """The structure of a bundled cascade or cascade file (cached per name and file version: a plan is made
    once)."""
    return _roles(cascade_name, cascade_version(cascade_name))


@lru_cache(maxsize=64)
def _roles(cascade_name: str, version) -> Roles:
    from simulator.cascade_work import _is_contraction, _is_copy, cascade_work  # loads sympy: a plan's first use

    cascade = load_cascade(cascade_name)
    work = cascade_work(cascade)
    copies = {e.output for e in cascade.einsums if _is_copy(e)} - set(cascade.outputs)
    computing = [e for e in cascade.einsums if e.output not in copies]  # a final copy (AV = RNV[f,M1,p]) writes O
    reads = {}
    for e in computing:
        reads[e.output] = {}
        for a in e.reads:
            reads[e.output][a.tensor] = reads[e.output].get(a.tensor, frozenset()) | {v for i in a.indices
                                                                                      for v in i.vars()}
    import networkx as nx  # a cascade's plan is made once per version; a dense GPU point never loads networkx

    names = tuple(e.output for e in computing)
    graph, ops, fam = cascade.graph, cascade.op_counts(), families(cascade)  # once: not once per Einsum
    return Roles(
        name=cascade_name, version=version, names=names,
        cls={n: work.placement[n][0] for n in names}, level={n: max(work.placement[n][1], 1) for n in names},
        reads=reads, ranks={e.output: tuple(e.vars) for e in computing},
        out_ranks={e.output: frozenset(e.out_vars) for e in computing},
        ops={e.output: frozenset(ops[e.output]) for e in computing},
        inputs=frozenset(cascade.inputs) | copies,
        state=frozenset(e.output for e in computing if e.step_rank),
        contraction=frozenset(e.output for e in computing if _is_contraction(e)),
        crossing=frozenset(t for t, _, _ in work.crossing), final=cascade.outputs[0], family=fam,
        ancestors={n: frozenset(nx.ancestors(graph, n)) & set(names) for n in names},
        reduction={e.output: bool(e.reduced) for e in computing},
        tile=frozenset(e.output for e in computing if _over_tile(e.vars, fam)), v_features=value_features(cascade),
    )


def _over_tile(ranks, fam: dict) -> bool:
    """Over a query (p, or a query of a chunk: p0) and a single key (m, or a key of a tile: m0)."""
    keys = sorted((v for v, f in fam.items() if f == "m"), key=len)
    fine = [v for v in keys if not v[-1:].isdigit() or v.endswith("0")]
    return any(fam.get(v) == "p" for v in ranks) and bool(set(ranks) & set(fine))


# ---------------------------------------------------------------- arrays

def arrays(hw, r: Roles, config: str) -> dict:
    """Einsum -> "array2d" | "array1d": the configuration's choice where the Einsum's ops run there, else the
    other array."""
    out = {}
    for n in r.names:
        wants_2d = n in r.contraction or (config in ("fusemax", "fusemax-arch") and n in r.tile)
        order = ("array2d", "array1d") if wants_2d else ("array1d", "array2d")
        runs = [a for a in order if accel_actions(hw, dict.fromkeys(r.ops[n], 1.0), _ops(hw, a)) is not None]
        if not runs:
            raise UserError(f"{hw.name}: no PE array runs {n} of {r.name} (its ops: {', '.join(sorted(r.ops[n]))}; "
                            f"2D: {', '.join(hw.pe2d_ops)}; 1D: {', '.join(hw.pe1d_ops)})")
        out[n] = runs[0]
    return out


def _ops(hw, array: str) -> tuple:
    return hw.pe2d_ops if array == "array2d" else hw.pe1d_ops


# ---------------------------------------------------------------- the plan of one mapping

@dataclass(frozen=True, slots=True)
class Binding:
    """A cascade bound by one configuration on one machine: planned once, used for every point."""

    on: dict  # Einsum -> array
    table: dict  # Einsum -> ({tensor: levels}, output levels)
    operands: dict  # Einsum -> (Operand, ...) its reads and its output, with their homes
    actions: dict  # Einsum -> {op class: ((PE action, per op), ...)} on its array (simulator.lowering)


_BINDINGS: dict = {}


def binding(hw, r: Roles, config: str, style: str, held: bool = True) -> Binding:
    """The arrays, homes, operands and PE actions of ``r`` under ``config`` (cached per cascade, machine's PE
    ops and style)."""
    key = (r.name, r.version, config, style, held, hw.pe2d_ops, hw.pe1d_ops, tuple(sorted(hw.exp_cost.items())))
    if key not in _BINDINGS:
        from simulator.accel_mapping import Operand

        on = arrays(hw, r, config)
        table = homes(r, on, style, held)
        operands = {n: tuple(Operand(t, ranks, tuple(table[n][0].get(t, "").split()))
                             for t, ranks in r.reads[n].items())
                    + (Operand(n, r.out_ranks[n], tuple(table[n][1].split()), output=True),) for n in r.names}
        actions = {n: {cls: tuple(accel_actions(hw, {cls: 1.0}, _ops(hw, on[n])).items()) for cls in r.ops[n]}
                   for n in r.names}
        _BINDINGS[key] = Binding(on, table, operands, actions)
    return _BINDINGS[key]


# ---------------------------------------------------------------- homes

def homes(r: Roles, on: dict, style: str, held: bool = True) -> dict:
    """{Einsum: ({tensor read: levels}, output levels)} under ``style``; ``held``: the crossing score tensors
    stay in the buffer (else they spill to DRAM)."""
    read = {n: {t: _read_home(r, on, style, n, t, held) for t in r.reads[n]} for n in r.names}
    table = {}
    for n in r.names:
        table[n] = ({t: h for t, h in read[n].items() if h}, _out_home(r, on, style, n, held, read))
    return table


def _read_home(r: Roles, on: dict, style: str, n: str, t: str, held: bool) -> str:
    if style in ("offchip", "unfused"):
        return _phase_read(r, on, style, n, t)
    if t in r.inputs:  # staged once a pass: a later reader in the pass finds it in the buffer
        earlier = r.names[:r.names.index(n)]
        if any(t in r.reads[o] and r.level[o] == r.level[n] for o in earlier):
            return "gb"
        if style == "flat":  # streamed into the PEs, unless a later reader in the pass reads it again
            later = r.names[r.names.index(n) + 1:]
            return IO if any(t in r.reads[o] and r.level[o] == r.level[n] for o in later) else "dram"
        return IO
    if style == "flat":
        return "" if _fused(r, on, n, t) else "gb"
    if t in r.crossing and r.level[t] < r.level[n]:
        return "gb" if held else "dram"
    if t in r.state:
        if on[n] == "array2d":
            return "gb stage" if style == "fusemax" else "gb"
        return "" if _touched_before(r, on, n, t) else "gb"
    if on[t] == on[n]:
        return ""
    if style == "fusemax":
        return "stage"
    if on[t] == "array1d":  # no staging buffer: the 2D array is fed from the buffer
        return "gb"
    waits = any(c != n and c in r.ancestors[n] for c in r.consumers(t))
    return "gb" if waits else ""  # drained straight into the 1D array, unless it must wait for another reader


def _out_home(r: Roles, on: dict, style: str, n: str, held: bool, read: dict) -> str:
    if style in ("offchip", "unfused"):
        return _phase_out(r, style, n)
    if n == r.final:  # an output summed over the key tiles accumulates in the buffer
        return IO if style != "flat" and _reduces_keys(r, n) else "dram"
    if style == "flat":
        return "gb"
    if n in r.state:
        return "gb"
    if n in r.crossing:
        return "gb" if held else "dram"
    consumers = r.consumers(n)
    if style == "fusemax":
        return "stage" if any(on[c] != on[n] for c in consumers) else ""
    return "gb" if any(read[c][n] == "gb" for c in consumers) else ""


def _reduces_keys(r: Roles, n: str) -> bool:
    return any(r.family.get(v) == "m" for v in r.ranks[n] if v not in r.out_ranks[n])


def _touched_before(r: Roles, on: dict, n: str, t: str) -> bool:
    """Whether an earlier Einsum of the tile loop on the same array read or wrote state ``t`` (it is in its PEs)."""
    if r.cls[n] == "row":  # after the key loop: the state is read back from the buffer
        return False
    for other in r.names[:r.names.index(n)]:
        same_loop = on[other] == on[n] and r.level[other] == r.level[n] and r.cls[other] != "row"
        if same_loop and (other == t or t in r.reads[other]):
            return True
    return False


def _fused(r: Roles, on: dict, n: str, t: str) -> bool:
    """A reduction of the tensor made just before it, on the same array over the same ranks: summed as it is made."""
    i = r.names.index(n)
    return (r.reduction[n] and i > 0 and r.names[i - 1] == t and on[t] == on[n]
            and set(r.ranks[n]) == set(r.ranks[t]))


def phases(r: Roles) -> list[tuple[str, ...]]:
    """The Einsums split at the contractions: each contraction alone, the runs between them together."""
    out, run = [], []
    for n in r.names:
        if n in r.contraction:
            out += [tuple(run)] if run else []
            out.append((n,))
            run = []
        else:
            run.append(n)
    return out + ([tuple(run)] if run else [])


def _phase_of(r: Roles) -> dict:
    return {n: i for i, names in enumerate(phases(r)) for n in names}


def _phase_read(r: Roles, on: dict, style: str, n: str, t: str) -> str:
    if n in r.contraction:
        if t in r.inputs:
            query = any(r.family.get(v) == "p" for v in r.reads[n][t])
            return IO if style == "unfused" or query else "dram"
        return "dram"
    if t in r.inputs:
        return IO
    phase = _phase_of(r)
    if phase[t] != phase[n]:
        first = next(c for c in r.consumers(t) if phase[c] == phase[n])
        return IO if first == n else "gb"
    return "" if _fused(r, on, n, t) else "gb"


def _phase_out(r: Roles, style: str, n: str) -> str:
    if n in r.contraction:
        return IO if n == r.final else "dram"
    phase = _phase_of(r)
    if n == r.final or any(phase[c] != phase[n] for c in r.consumers(n)):
        return "dram"
    return "gb"
