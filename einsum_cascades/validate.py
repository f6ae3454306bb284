"""Checks that parsed lines form a cascade: the rules the syntax alone cannot enforce.

Every failure is a ``CascadeParseError`` naming file, line and column, so a user's
file is rejected up front instead of failing later inside the executor.

- a tensor is computed once, and has the same number of indices everywhere;
- an output names each rank once and advances at most one iterative step (``m1+1``);
- an iterative tensor (``RM[m1+1,p] = ...``) has exactly one initialisation line
  (``RM[0,p] = -inf``, a constant) and is read at that position only as ``m1``
  (previous step), ``m1+1`` (this step) or ``M1`` (the final step); other tensors are
  never read with ``+1`` or a final step (a constant index picks one position of a rank: ``A[0,m,p]``);
- a bare name on a right side is a rank of that Einsum (its index value) or the extent of a rank of the
  cascade (``M0``);
- a tensor reads itself only as the previous step of its iterative rank;
- a partition is mixed-radix: in ``m2*M1*M0 + m1*M0 + m0`` each rank's stride is the
  product of the extents of the ranks after it.

``separate_sums_error`` is a rule ``load_cascade`` applies to attention cascades, after their Q, K and V reads.
"""

from dataclasses import dataclass

from einsum_cascades.errors import listed
from einsum_cascades.parser import Access, CascadeParseError, Index, Line, Op, Rank


@dataclass(frozen=True, slots=True)
class Step:
    """Where an iterative tensor advances: index position and rank (``RM[m1+1,p]`` -> 0, 'm1')."""

    pos: int
    rank: str


def pair_lines(lines: list[Line], source: str) -> list[tuple[Line, Line | None]]:
    """Compute lines in file order, each with its initialisation line (or None), all rules checked."""
    computes, inits = _split(lines, source)
    steps = {line.output.tensor: _step(line, source) for line in computes}
    pairs = [(line, inits.pop(line.output.tensor, None)) for line in computes]
    if inits:
        init = next(iter(inits.values()))
        raise _error(source, init, init.output, f"{init.output.tensor} is initialised but never computed")
    ranks = {v for line in lines for acc in (line.output, *line.accesses()) for idx in acc.indices for v in idx.vars()}
    for line, init in pairs:
        _check_init(line, init, steps[line.output.tensor], source)
        for acc in line.accesses():
            _check_read(line, acc, steps, source)
        _check_values(line, ranks, source)
    _check_arity(lines, source)
    return pairs


def _error(source: str, line: Line, acc: Access, message: str) -> CascadeParseError:
    return CascadeParseError(f"{source}:{line.lineno}:{acc.col or 1}: {message}")


def _split(lines: list[Line], source: str) -> tuple[list[Line], dict[str, Line]]:
    computes, inits, seen = [], {}, set()
    for line in lines:
        out = line.output
        if line.is_init:
            if sum(i.kind == "const" for i in out.indices) > 1 or any(i.kind == "next" for i in out.indices):
                raise _error(source, line, out, f"an initialisation line sets one step: write e.g. {out.tensor}[0,p]")
            if out.tensor in inits:
                raise _error(source, line, out, f"{out.tensor} is initialised twice")
            inits[out.tensor] = line
        else:
            if out.tensor in seen:
                raise _error(source, line, out, f"{out.tensor} is defined twice")
            seen.add(out.tensor)
            computes.append(line)
    return computes, inits


def _step(line: Line, source: str) -> Step | None:
    out = line.output
    ranks = [v for idx in out.indices for v in idx.vars()]
    repeated = next((v for v in ranks if ranks.count(v) > 1), None)
    if repeated:
        raise _error(source, line, out, f"rank {repeated!r} appears twice in {out}: name each output rank once")
    steps = [Step(i, idx.value) for i, idx in enumerate(out.indices) if idx.kind == "next"]
    if len(steps) > 1:
        raise _error(source, line, out, f"{out} advances more than one step: at most one index may be rank+1")
    return steps[0] if steps else None


def _check_init(line: Line, init: Line | None, step: Step | None, source: str) -> None:
    tensor = line.output.tensor
    if init is None:
        if step:
            expected = _init_form(line.output, step)
            raise _error(source, line, line.output, f"{line.output} needs an initial value: add a line {expected} = ...")
        return
    if step is None:
        raise _error(source, init, init.output, f"{init.output} initialises {tensor}, which is not iterative "
                                                f"(an iterative tensor is written as {tensor}[m1+1,...])")
    expected = _init_form(line.output, step)
    if str(init.output) != expected:
        raise _error(source, init, init.output, f"{init.output} does not match {line.output}: write {expected}")
    if init.accesses() or init.reduce:
        raise _error(source, init, init.output, "an initial value must be a constant such as 0 or -inf")


def _init_form(out: Access, step: Step) -> str:
    indices = [str(idx) if i != step.pos else "0" for i, idx in enumerate(out.indices)]
    return f"{out.tensor}[{','.join(indices)}]"


def _check_read(line: Line, acc: Access, steps: dict, source: str) -> None:
    step = steps.get(acc.tensor)
    if step and step.pos >= len(acc.indices):
        raise _error(source, line, acc, f"{acc.tensor} is iterative over {step.rank} at index {step.pos + 1}: read it "
                                        f"with that index too, not {acc}")
    for pos, idx in enumerate(acc.indices):
        if step and pos == step.pos:
            allowed = {("var", step.rank), ("next", step.rank), ("final", step.rank.upper())}
            if (idx.kind, idx.value) not in allowed:
                raise _error(source, line, acc, f"{acc.tensor} is iterative over {step.rank}: read index {pos + 1} "
                                                f"as {step.rank} (previous step), {step.rank}+1 or {step.rank.upper()} "
                                                f"(final), not {idx}")
        elif idx.kind not in ("var", "affine", "const"):
            raise _error(source, line, acc, f"bad index {idx} in {acc}: a step ({idx.kind}) only indexes the "
                                            f"iterative position of a tensor written as T[m1+1,...]")
        elif idx.kind == "affine":
            _check_partition(line, acc, idx, source)
    if acc.tensor == line.output.tensor and not (step and acc.indices[step.pos].kind == "var"):
        raise _error(source, line, acc, f"{acc.tensor} reads itself: only an iterative tensor may, "
                                        f"and only its previous step")


def _check_values(line: Line, ranks: set, source: str) -> None:
    own = {v for acc in (line.output, *line.accesses()) for idx in acc.indices for v in idx.vars()}
    for value in line.values():
        known = own if not value.is_extent else {r.upper() for r in ranks}
        if value.name not in known:
            what = "ranks" if not value.is_extent else "rank extents"
            raise CascadeParseError(f"{source}:{line.lineno}:{value.col or 1}: bare name {value.name!r}: not one of "
                                    f"the {what} here ({listed(sorted(known), empty='none')}); write a tensor with "
                                    f"its indices, e.g. {value.name}[m,p], a rank of this Einsum (its index value) "
                                    f"or an extent such as M0")


def _check_partition(line: Line, acc: Access, idx, source: str) -> None:
    ranks = [v for v, _ in idx.value]
    if len(set(ranks)) != len(ranks):
        raise _error(source, line, acc, f"partition {idx} names a rank twice")
    for k, (rank, strides) in enumerate(idx.value):
        expected = sorted(v.upper() for v in ranks[k + 1:])
        if sorted(strides) != expected:
            want = "*".join(expected) or "1 (no stride)"
            raise _error(source, line, acc, f"partition {idx}: the stride of {rank} must be {want}, "
                                            f"the extents of the ranks after it")


def _check_arity(lines: list[Line], source: str) -> None:
    first: dict[str, Access] = {}
    for line in lines:
        for acc in (line.output, *line.accesses()):
            seen = first.setdefault(acc.tensor, acc)
            if len(seen.indices) != len(acc.indices):
                raise _error(source, line, acc, f"{acc} has {len(acc.indices)} indices but {seen} has "
                                                f"{len(seen.indices)}: a tensor keeps its rank count")


def separate_sums_error(line: Line, source: str) -> str | None:
    """Why a product (or quotient) is two independent sums multiplied: ``Q[e,p] * K[x,m]`` sums e over Q alone and
    x over K alone, a mistyped rank (``K[e,m]`` meant); None where at most one factor sums a rank no other factor
    reads: ``A[m,p] * C[p]`` (C times the sum of A) is exact and allowed."""
    out = {v for idx in line.output.indices for v in idx.vars()}
    factors = _factors(line.expr)
    alone = []
    for k, factor in enumerate(factors):
        others = {v for j, f in enumerate(factors) if j != k for v in _ranks(f)}
        own = [v for v in dict.fromkeys(_ranks(factor)) if v not in out and v not in others]
        if own:
            alone.append((factor, own[0]))
    if len(alone) < 2:
        return None
    (first, kept), (second, typo) = alone[0], alone[1]
    a, b = _reading(first, kept), _reading(second, typo)
    return (f"{source}:{line.lineno}:{b.col or 1}: {line.output.tensor} sums {kept} over {a} alone and {typo} over "
            f"{b} alone, a product of separate sums: did you mean {_renamed(b, typo, kept)} (or {_renamed(a, kept, typo)})? A "
            "product contracts a rank both factors read; write separate sums as Einsums of their own")


def _factors(expr) -> list:
    """The operands of a product or quotient chain (``A * B / C`` -> A, B, C), unary minus looked through."""
    if isinstance(expr, Op) and expr.name in ("*", "/", "neg"):
        return [f for arg in expr.args for f in _factors(arg)]
    return [expr]


def _ranks(expr) -> list[str]:
    """The ranks an expression walks: its tensor reads' indices and its bare rank values (not extents)."""
    if isinstance(expr, Access):
        return [v for idx in expr.indices for v in idx.vars()]
    if isinstance(expr, Rank):
        return [] if expr.is_extent else [expr.name]
    if isinstance(expr, Op):
        return [v for arg in expr.args for v in _ranks(arg)]
    return []


def _reading(expr, rank: str) -> Access:
    """The first tensor read in ``expr`` that walks ``rank``."""
    stack = [expr]
    while stack:
        node = stack.pop(0)
        if isinstance(node, Access) and rank in _ranks(node):
            return node
        if isinstance(node, Op):
            stack.extend(node.args)
    raise AssertionError(f"no read of {rank} in {expr}")


def _renamed(acc: Access, old: str, new: str) -> Access:
    """``acc`` with rank ``old`` written as ``new`` (K[x,m] -> K[e,m])."""
    def index(idx: Index) -> Index:
        if idx.kind in ("var", "next"):
            return Index(idx.kind, new if idx.value == old else idx.value)
        if idx.kind == "affine":
            return Index("affine", tuple((new if v == old else v, strides) for v, strides in idx.value))
        return idx

    return Access(acc.tensor, tuple(index(i) for i in acc.indices), acc.col)
