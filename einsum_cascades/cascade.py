"""``Einsum`` and ``Cascade``: a networkx DAG of Einsums with passes and op counts.

Conventions (reference/fusemax.md):
- a rank's extent is its upper-case name (m -> M, m1 -> M1);
- ranks on the right but absent on the left are reduced: ``max(x)`` by max,
  ``sum(x)`` and any other expression by sum (a product summed is one MAC);
- op counts: one op per point of the Einsum's iteration space per operator:
  ``*`` mac, ``+``/``-`` add, ``/`` div, ``exp`` exp, ``max(a, b)`` max, ``elu1``
  exp + add; a reduction adds one max (``max(x)``) or add (``sum(x)``, or the sum
  of anything but a product) per point; pure copies and partitions cost nothing;
- ``RM[m1+1,p] = f(RM[m1,p], ...)`` makes m1 an iterative rank: the read of the
  previous step is loop-carried, not a DAG edge.
"""

import ast
from dataclasses import dataclass, field

from einsum_cascades.parser import Access, CascadeParseError, Line, parse_lines

OP_CLASSES = ("mac", "add", "max", "exp", "div")
_BINOP = {ast.Mult: "mac", ast.Add: "add", ast.Sub: "add", ast.Div: "div"}


@dataclass(frozen=True, slots=True)
class Einsum:
    """One compute line (``line``) and its initialisation line, if any."""

    line: Line
    init: Line | None = None
    reads: tuple[Access, ...] = field(default=())

    @property
    def output(self) -> str:
        return self.line.output.tensor

    @property
    def text(self) -> str:
        return self.line.text

    @property
    def out_vars(self) -> tuple[str, ...]:
        return tuple(v for i in self.line.output.indices for v in i.vars())

    @property
    def vars(self) -> tuple[str, ...]:
        """The iteration space: output ranks first, then reduced ranks in order of appearance."""
        seen = list(self.out_vars)
        for acc in self.reads:
            for idx in acc.indices:
                seen += [v for v in idx.vars() if v not in seen]
        return tuple(seen)

    @property
    def reduced(self) -> tuple[str, ...]:
        return tuple(v for v in self.vars if v not in self.out_vars)

    @property
    def step_rank(self) -> str | None:
        """The iterative rank this Einsum advances (``X[m1+1,...]``), if any."""
        return next((i.value for i in self.line.output.indices if i.kind == "next"), None)

    def __repr__(self):
        return f"Einsum({self.text!r})"


class Cascade:
    """A named cascade of Einsums: DAG, inputs/outputs, passes, op counts, executor."""

    def __init__(self, name: str, lines: list[Line], header: dict):
        import networkx as nx

        self.name, self.reference = name, header.get("reference")
        self.summary, self.default_extents = header.get("summary") or "", dict(header.get("extents", {}))
        self.einsums = _einsums(name, lines)
        produced = {e.output for e in self.einsums}
        self.graph = nx.DiGraph()
        for e in self.einsums:
            self.graph.add_node(e.output, einsum=e)
        for e in self.einsums:
            for acc in e.reads:
                if acc.tensor in produced and not _loop_carried(acc, self._producer(acc.tensor)):
                    if acc.tensor != e.output:
                        self.graph.add_edge(acc.tensor, e.output)
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = " -> ".join(a for a, _ in nx.find_cycle(self.graph))
            raise CascadeParseError(f"{name}: the Einsums form a cycle ({cycle}); only iterative ranks may refer back")
        order = list(nx.lexicographical_topological_sort(self.graph, key=self._position))
        self.einsums = [self.graph.nodes[n]["einsum"] for n in order]
        read = {a.tensor for e in self.einsums for a in e.reads}
        self.inputs = tuple(dict.fromkeys(a.tensor for e in self.einsums for a in e.reads if a.tensor not in produced))
        self.outputs = tuple(e.output for e in self.einsums if e.output not in read)

    def _producer(self, tensor: str) -> Einsum:
        return next(e for e in self.einsums if e.output == tensor)

    def _position(self, name: str) -> int:
        return next(e.line.lineno for e in self.einsums if e.output == name)

    def __repr__(self):
        return f"Cascade({self.name!r}, {len(self.einsums)} einsums, inputs={self.inputs}, outputs={self.outputs})"

    def __str__(self):
        return "\n".join([f"# {self.name}"] + [e.text for e in self.einsums])

    def einsum(self, output: str) -> Einsum:
        return self.graph.nodes[output]["einsum"]

    def passes(self) -> dict[str, int]:
        from einsum_cascades.passes import count_passes

        return count_passes(self)

    def footprint(self) -> dict:
        from einsum_cascades.passes import live_footprint

        return live_footprint(self)

    def op_counts(self) -> dict:
        from einsum_cascades.ops import op_counts

        return op_counts(self)

    def total_ops(self) -> dict:
        from einsum_cascades.ops import total_ops

        return total_ops(self)

    def run(self, inputs: dict, extents: dict | None = None) -> dict:
        from einsum_cascades.executor import run

        return run(self, inputs, {**self.default_extents, **(extents or {})})


def _einsums(name: str, lines: list[Line]) -> list[Einsum]:
    inits = {l.output.tensor: l for l in lines if l.is_init}
    computes = [l for l in lines if not l.is_init]
    seen = set()
    out = []
    for line in computes:
        tensor = line.output.tensor
        if tensor in seen:
            raise CascadeParseError(f"{name}:{line.lineno}:1: {tensor} is defined twice")
        seen.add(tensor)
        out.append(Einsum(line, inits.pop(tensor, None), tuple(_reads(line.expr))))
    if inits:
        tensor, line = next(iter(inits.items()))
        raise CascadeParseError(f"{name}:{line.lineno}:1: {tensor} is initialised but never computed")
    return out


def _reads(node: ast.AST):
    from einsum_cascades.parser import _access, _Where

    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript):
            yield _access(sub, _Where("", 0), left=False)


def _loop_carried(acc: Access, producer: Einsum) -> bool:
    """A read of the previous step of an iterative tensor (``RM[m1,p]`` where RM is written at m1+1)."""
    step = producer.step_rank
    if step is None:
        return False
    pos = next(i for i, idx in enumerate(producer.line.output.indices) if idx.kind == "next")
    return acc.indices[pos].kind == "var" and acc.indices[pos].value == step


def parse_cascade(text: str, name: str = "<string>") -> Cascade:
    """Parse cascade text into a ``Cascade``; ``CascadeParseError`` on anything malformed."""
    lines, header = parse_lines(text, name)
    return Cascade(name, lines, header)
