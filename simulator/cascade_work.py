"""The walker: a cascade's work per pass over the keys, by unit, from its Einsums and a lowering table.

Ranks have roles: ``p`` is the query position, the family of ``m`` the key position (``m1`` the key
tile and ``m0`` a key within it when the cascade partitions m), ``e`` and ``f`` the feature ranks of
Q/K and V. Each Einsum's ops (einsum_cascades.ops: operators per point and its reduction) are placed by
the ranks of its iteration space:
- score: a query and a single key (``p`` with ``m`` or ``m0``): per score element of a tile;
- row_tile: a query and a key tile (``p``, ``m1``): per query row per key tile; its ops over ``f``
  are kept apart (``output_tile``: per element of O per key tile, the accumulator rescale);
- row: a query only, after the key loop (the final division);
- key: a key without a query (linear attention's K^T V).
Feature extents multiply a class's counts symbolically (E, F; a split feature rank in terms of them: E0 = E/2
when ``# extents: G=2`` splits e in two). The pass over the keys each Einsum
belongs to comes from the cascade's pass analysis.
"""

from dataclasses import dataclass, field
import sympy as sp

from einsum_cascades.ops import extent
from einsum_cascades.parser import Access, Num, Op
from einsum_cascades.passes import einsum_passes, families
from simulator.lowering import GPU, Lowering, OpCost
from simulator.rank_extents import substitutions, value_features

CLASSES = ("score", "row_tile", "output_tile", "row", "key")
UNITS = ("tensor", "sfu", "fp32", "cvt", "mufu")
E, F = extent("e"), extent("f")


@dataclass(frozen=True, slots=True)
class PassWork:
    """One pass over the keys: unit -> sympy count per point of each class (in E and F)."""

    level: int
    work: dict = field(default_factory=dict)  # (class, unit) -> sympy expression
    reads_v: bool = False  # the pass streams V as well as K
    recompute: dict = field(default_factory=dict)  # (class, unit) -> work to recompute earlier passes' scores
    stored_reads: int = 0  # score tensors of earlier passes it reads (from HBM, if they are stored)
    stored_writes: int = 0  # score tensors it writes for later passes (if they are stored, not recomputed)

    def count(self, cls: str, unit: str, e: int, f: int) -> float:
        expr = self.work.get((cls, unit), 0)
        return float(expr.subs({E: e, F: f})) if isinstance(expr, sp.Expr) else float(expr)


@dataclass(frozen=True, slots=True)
class CascadeWork:
    """A cascade's work per pass, the tensors later passes read from earlier ones (score-class ones have
    to be recomputed or materialised by a fused mapping), and where each Einsum went."""

    name: str
    passes: tuple[PassWork, ...]
    crossing: tuple[tuple[str, int, int], ...]  # (tensor, produced in pass, read in pass), score-class only
    placement: dict  # Einsum output -> (class, pass)
    einsums: dict = field(default_factory=dict)  # Einsum output -> {(class, unit): count per point of the class}


_CACHE: dict = {}


def cascade_work(cascade, lowering: Lowering = GPU) -> CascadeWork:
    """Walk ``cascade`` with ``lowering`` (cached per cascade object, then per text and table: a plan is made once;
    einsum_cascades.load_cascade hands out one object per cascade while its file is unchanged)."""
    known = _BY_OBJECT.get((id(cascade), lowering.name))
    if known is not None and known[0] is cascade:
        return known[1]
    key = (cascade.name, str(cascade), lowering.name)
    if key not in _CACHE:
        _CACHE[key] = _walk(cascade, lowering)
    _BY_OBJECT[(id(cascade), lowering.name)] = (cascade, _CACHE[key])  # the object is kept: its id stays its own
    return _CACHE[key]


_BY_OBJECT: dict = {}


def _walk(cascade, lowering: Lowering) -> CascadeWork:
    fam_of = families(cascade)
    subs = substitutions(cascade)  # split feature ranks in E and F (differential attention: E0 = E/2)
    key_ranks = {v for v, f in fam_of.items() if f == fam_of.get("m", "m")}
    v_features = value_features(cascade)
    level = einsum_passes(cascade, "m")
    classes = {e.output: _class(e, key_ranks) for e in cascade.einsums}
    contraction = {e.output for e in cascade.einsums if _is_contraction(e)}
    n_passes = max([lv for lv in level.values()] + [1])
    work = {k: {} for k in range(1, n_passes + 1)}
    reads_v = {k: False for k in work}
    per_einsum = {}
    for e in cascade.einsums:
        if _is_copy(e) or classes[e.output] is None:
            continue
        lv = max(level[e.output], 1)  # a per-key Einsum (a V scaled for P V) sits in its readers' pass already
        per_einsum[e.output] = {k: sp.sympify(n).subs(subs) for k, n in
                                _einsum_work(e, classes[e.output], lowering, contraction, key_ranks, cascade,
                                             v_features).items()}
        _add(work[lv], per_einsum[e.output])
        reads_v[lv] |= any(_source(cascade, a.tensor) == "V" for a in e.reads)
    crossing = _crossing(cascade, level, key_ranks)
    passes = tuple(PassWork(k, _expand(work[k]), reads_v[k], _expand(_recompute(cascade, crossing, k, per_einsum,
                                                                                   level, key_ranks)),
                            len({t for t, _, read in crossing if read == k}),
                            len({t for t, made, _ in crossing if made == k})) for k in work)
    return CascadeWork(cascade.name, passes, crossing, {e.output: (classes[e.output], level[e.output])
                                                       for e in cascade.einsums}, _expand_all(per_einsum))


def _add(into: dict, work: dict) -> None:
    for key, n in work.items():
        into[key] = into.get(key, 0) + n


def _expand_all(per_einsum: dict) -> dict:
    return {name: _expand(work) for name, work in per_einsum.items()}


def _expand(work: dict) -> dict:
    return {key: sp.expand(v) for key, v in work.items()}


def _recompute(cascade, crossing: tuple, k: int, per_einsum: dict, level: dict, key_ranks: set) -> dict:
    """The score work pass ``k`` redoes to rebuild the earlier passes' score tensors it reads: their producers
    and, back through score tensors of earlier passes, theirs (a per-row value such as a max is kept)."""
    fine = key_ranks - _tile_ranks(key_ranks)
    todo = [t for t, _, read in crossing if read == k]
    needed = set()
    while todo:
        e = cascade.einsum(todo.pop())
        if e.output in needed or not 0 < level.get(e.output, 0) < k:
            continue
        needed.add(e.output)
        for a in e.reads:
            producer = _producer(cascade, a)
            if producer is not None and not _is_copy(producer) and set(producer.out_vars) & fine \
                    and "p" in producer.out_vars:
                todo.append(producer.output)
    out = {}
    for name in needed:
        _add(out, {key: n for key, n in per_einsum.get(name, {}).items() if key[0] == "score"})
    return out


def _class(e, key_ranks: set) -> str | None:
    """Where an Einsum's points sit: per score, per row and key tile, per row, per key (None: neither)."""
    return _ranks_class(set(e.vars), key_ranks)


def _read_class(access, key_ranks: set) -> str | None:
    """The class of the elements an operand access reads: that of the ranks its indices use (a running sum read at
    its last key tile, RD[m2, M1, p], is per split and row; a sum over a tile's keys is per row and tile, though its
    Einsum iterates per score)."""
    return _ranks_class({v for idx in access.indices for v in idx.vars()}, key_ranks)


def _ranks_class(ranks: set, key_ranks: set) -> str | None:
    """The class of points over ``ranks`` (a chunked cascade's p0 is no query rank here: its points are per key)."""
    fine = ranks & (key_ranks - _tile_ranks(key_ranks))
    if "p" in ranks:
        return "score" if fine else "row_tile" if ranks & key_ranks else "row"
    return "key" if ranks & key_ranks else None


def _tile_ranks(key_ranks: set) -> set:
    """The key-tile rank of a partitioned key family (m1 of m1, m0), none for a plain m."""
    numbered = sorted(r for r in key_ranks if r[-1:].isdigit())
    return {numbered[-1]} if len(numbered) >= 2 else set()


def _is_copy(e) -> bool:
    return isinstance(e.line.expr, Access) and not e.reduced


def _is_contraction(e) -> bool:
    return bool(e.reduced) and isinstance(e.line.expr, Op) and e.line.expr.name == "*"


def _einsum_work(e, cls: str, lowering: Lowering, contraction: set, key_ranks: set, cascade,
                 v_features: frozenset) -> dict:
    """(class, unit) -> count per point of the Einsum's class."""
    per_point = _per_class_extent(e, key_ranks)
    costs: list[tuple[OpCost, object, str | None]] = []  # (cost, count per point of the class, class if other)
    if e.output in contraction:
        costs.append((lowering.contraction, per_point, None))
        for a in e.line.expr.args:
            producer = _producer(cascade, a)
            if producer is not None and not _is_copy(producer) and (
                    producer.output not in contraction or _class(producer, key_ranks) == "score"):
                # its elements converted to the MMA's input type once each, in the producer's own class: P per
                # score, a scaled Q per query row, a scaled K per key (a Q*c fed to QK was charged its whole row
                # per score: E converts a score)
                own = _read_class(a, key_ranks)
                costs.append((lowering.convert, _per_class_extent(producer, key_ranks, written=True),
                              None if own == cls else own))
    else:
        _expr_costs(e.line.expr, lowering, contraction, cascade, e, per_point, key_ranks, costs)
        if e.reduction:
            costs.append((lowering.ops["reduce_max" if e.reduction == "max" else "reduce_sum"], per_point, None))
    out = {}
    for cost, n, other in costs:
        target = other or ("output_tile" if cls == "row_tile" and v_features & set(e.vars) else cls)
        for unit in UNITS:
            c = getattr(cost, unit)
            if c:
                out[(target, unit)] = out.get((target, unit), 0) + c * n
    return out


def _expr_costs(node, lowering, contraction, cascade, e, per_point, key_ranks, costs) -> None:
    if not isinstance(node, Op):
        return
    if node.name == "+" and any(_accumulated(cascade, a, contraction, key_ranks) for a in node.args):
        costs.append((lowering.accumulate, per_point, None))  # O += P V: the MMA accumulates
    elif node.name == "/":
        costs.append((lowering.ops["/"], per_point, None))
        divisor = node.args[1]
        ranks = {v for a in _accesses(divisor) for idx in a.indices for v in idx.vars()}
        hoisted = "row" if "p" in ranks and not ranks & key_ranks and set(e.vars) & key_ranks else None
        costs.append((lowering.rcp, per_point / _extent_missing(e, divisor, key_ranks), hoisted))
    elif not (node.name == "exp" and _scaled_sum(node.args[0])):
        costs.append((lowering.ops[node.name], per_point, None))
    else:  # exp(c * (x - m)): the scale folds into the subtraction's FFMA (x * c - m * c), as FlashAttention's
        # softmax scale does (scale_apply_exp2); the product is free, the '-' pays the FFMA
        costs.append((lowering.ops["exp"], per_point, None))
        scaled = node.args[0]
        _expr_costs(scaled.args[1] if isinstance(scaled.args[0], Num) else scaled.args[0], lowering, contraction,
                    cascade, e, per_point, key_ranks, costs)
        return
    for a in node.args:
        _expr_costs(a, lowering, contraction, cascade, e, per_point, key_ranks, costs)


def _scaled_sum(node) -> bool:
    """Whether ``node`` is a number times a sum or difference: c * (x - m) or (x - m) * c."""
    return (isinstance(node, Op) and node.name == "*" and len(node.args) == 2
            and any(isinstance(a, Num) for a in node.args)
            and any(isinstance(a, Op) and a.name in ("+", "-") for a in node.args))


def _per_class_extent(e, key_ranks: set, written: bool = False):
    """Points of the Einsum per point of its class: the extents of its feature ranks (E, F, ...); ``written``:
    the elements it writes instead, its output's feature ranks alone (a contraction's scores are one per score,
    whatever rank it summed over)."""
    return sp.Mul(*(extent(v) for v in (e.out_vars if written else e.vars) if not _is_query(v) and v not in key_ranks))


def _is_query(rank: str) -> bool:
    """The query position p, or a part of it in a chunked cascade (p1, p0)."""
    return rank == "p" or (rank[:1] == "p" and rank[1:].isdigit())


def _extent_missing(e, node, key_ranks: set):
    """Extent of the feature ranks of ``e`` that ``node`` does not index (a divisor's values repeat over them)."""
    present = {v for a in _accesses(node) for idx in a.indices for v in idx.vars()}
    return sp.Mul(*(extent(v) for v in e.vars if not _is_query(v) and v not in key_ranks and v not in present))


def _accesses(node):
    if isinstance(node, Access):
        yield node
    elif isinstance(node, Op):
        for a in node.args:
            yield from _accesses(a)


def _producer(cascade, node):
    if isinstance(node, Access) and node.tensor in cascade.graph.nodes and "einsum" in cascade.graph.nodes[node.tensor]:
        return cascade.einsum(node.tensor)
    return None


def _accumulated(cascade, node, contraction: set, key_ranks: set) -> bool:
    """Whether ``node`` is a contraction over keys (P V over a key tile), whose sum the MMA accumulates into the
    running output for free; a contraction over features (Q K^T's scores) added to something is an FADD (S +
    sigmoid(S), a bias on the scores were taken as free)."""
    producer = _producer(cascade, node)
    return producer is not None and producer.output in contraction and bool(set(producer.reduced) & key_ranks)


def _producer_is(cascade, node, outputs: set) -> bool:
    producer = _producer(cascade, node)
    return producer is not None and producer.output in outputs


def _source(cascade, tensor: str) -> str:
    """The input a tensor copies (BV -> V), or itself."""
    producer = _producer(cascade, Access(tensor, ()))
    if producer is not None and _is_copy(producer):
        return producer.line.expr.tensor
    return tensor


def _crossing(cascade, level: dict, key_ranks: set) -> tuple:
    """Score tensors (a value per query and key) a later pass reads from an earlier one: a fused mapping
    recomputes or stores them. Per-row values (a max, a sum) cross passes in registers."""
    fine = key_ranks - _tile_ranks(key_ranks)
    out = []
    for e in cascade.einsums:
        for a in e.reads:
            lv_a = level.get(a.tensor, 0)
            producer = _producer(cascade, a)
            if producer is None or not 0 < lv_a < level[e.output]:
                continue
            if "p" in producer.out_vars and set(producer.out_vars) & fine:
                out.append((a.tensor, lv_a, level[e.output]))
    return tuple(dict.fromkeys(out))

