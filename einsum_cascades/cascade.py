"""``Einsum`` and ``Cascade``: a networkx DAG of Einsums with passes, op counts and an executor.

Conventions (the Extended Einsum notation of the FuseMax paper, Nayak et al., MICRO 2024, arXiv 2406.10491):
- a rank's extent is its upper-case name (m -> M, m1 -> M1);
- ranks on the right but absent on the left are reduced: by max under ``max(x)``,
  by sum under ``sum(x)`` and by default (so ``A[m,p] * V[f,m]`` sums over m);
- ``RM[m1+1,p] = f(RM[m1,p], ...)`` makes m1 an iterative rank: the read of the
  previous step is loop-carried, not a DAG edge; ``RM[0,p] = -inf`` initialises it
  and ``RM[M1,p]`` reads the final step;
- op counting lives in ``ops``, pass analysis in ``passes``, execution in ``executor``.
"""

from dataclasses import dataclass

from einsum_cascades.parser import Access, CascadeParseError, Header, Line, parse_lines
from einsum_cascades.validate import pair_lines


@dataclass(frozen=True, slots=True)
class Einsum:
    """One compute line, its initialisation line (iterative tensors only) and the accesses it reads."""

    line: Line
    init: Line | None
    reads: tuple[Access, ...]

    @property
    def output(self) -> str:
        """The tensor it writes (``RM`` for ``RM[m1+1,p] = ...``)."""
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
    def reduction(self) -> str | None:
        """'max' or 'sum' when the Einsum reduces ranks, else None."""
        return (self.line.reduce or "sum") if self.reduced else None

    @property
    def step_rank(self) -> str | None:
        """The iterative rank this Einsum advances (``X[m1+1,...]``), if any."""
        return next((i.value for i in self.line.output.indices if i.kind == "next"), None)

    def __str__(self):
        return self.text if self.init is None else f"{self.init.text}\n{self.text}"

    def __repr__(self):
        return f"Einsum({self.text!r})"


class Cascade:
    """A named cascade of Einsums in topological order, with its DAG, inputs and outputs."""

    def __init__(self, name: str, pairs: list[tuple[Line, Line | None]], header: Header = Header(),
                 source: str | None = None):
        self.name, self.source = name, source or name
        self._passes = None
        self.summary, self.reference, self.default_extents = header.summary, header.reference, dict(header.extents)
        einsums = [Einsum(line, init, tuple(line.accesses())) for line, init in pairs]
        self.graph = _graph(einsums)
        self._check_acyclic()
        order = _topological(self.graph)
        self.einsums = [self.graph.nodes[n]["einsum"] for n in order if self.graph.nodes[n]["kind"] == "einsum"]
        self.inputs = tuple(n for n in order if self.graph.nodes[n]["kind"] == "input")
        read_by_others = {a.tensor for e in self.einsums for a in e.reads if a.tensor != e.output}
        self.outputs = tuple(e.output for e in self.einsums if e.output not in read_by_others)
        if len(self.step_ranks()) == 1:
            self.phases()  # rejects an Einsum in the step loop that needs the loop's end

    def __repr__(self):
        return f"Cascade({self.name!r}, {len(self.einsums)} einsums, inputs={self.inputs}, outputs={self.outputs})"

    def __str__(self):
        """The cascade as text that parses back to the same cascade: header comments, then one Einsum a line."""
        header = [f"# {self.summary or self.name}"]
        if self.reference:
            header.append(f"# reference: {self.reference}")
        if self.default_extents:
            header.append("# extents: " + ", ".join(f"{k}={v}" for k, v in self.default_extents.items()))
        return "\n".join(header + [str(e) for e in self.einsums])

    def einsum(self, output: str) -> Einsum:
        """The Einsum that writes tensor ``output``."""
        return self.graph.nodes[output]["einsum"]

    def step_ranks(self) -> tuple[str, ...]:
        """The iterative ranks (``m1`` in ``RM[m1+1,p]``), in order of first use."""
        return tuple(dict.fromkeys(e.step_rank for e in self.einsums if e.step_rank))

    def loop_carried(self) -> list[tuple[str, str]]:
        """(producer, consumer) reads of a previous step: dependencies across steps, not DAG edges."""
        return [(a.tensor, e.output) for e in self.einsums for a in e.reads
                if _carried(a, self.graph.nodes[a.tensor].get("einsum"), e)]

    def phases(self) -> tuple[list[Einsum], list[Einsum], list[Einsum]]:
        """(before, inside, after) the loop over the one iterative rank; inside = outputs carrying that rank."""
        import networkx as nx

        (rank,) = self.step_ranks()
        inside = [e for e in self.einsums if rank in e.out_vars]
        later = set().union(*(nx.descendants(self.graph, e.output) for e in inside)) - {e.output for e in inside}
        for e in inside:
            blocked = sorted(nx.ancestors(self.graph, e.output) & later)
            final = next((a for a in e.reads if any(i.kind == "final" for i in a.indices)), None)
            if blocked or final:
                what = f"reads the final step {final}" if final else \
                    f"depends on {blocked[0]}, which needs every step first"
                raise CascadeParseError(f"{self.source}:{e.line.lineno}:{final.col if final else 1}: {e.output} is "
                                        f"computed step by step over {rank} but {what}")
        before = [e for e in self.einsums if e not in inside and e.output not in later]
        return before, inside, [e for e in self.einsums if e.output in later]

    def passes(self) -> dict[str, int]:
        """rank -> number of passes over it (FuseMax paper, arXiv 2406.10491), for every rank the cascade walks."""
        from einsum_cascades.passes import count_passes

        if self._passes is None:  # counted once: a listing labels every Einsum's pass with it
            self._passes = count_passes(self)
        return dict(self._passes)

    def footprint(self, rank: str = "m"):
        """Values that must stay live per query row while walking ``rank`` (a sympy expression)."""
        from einsum_cascades.passes import live_footprint

        return live_footprint(self, rank)

    def op_counts(self) -> dict:
        """Einsum output -> {op class: sympy count}, only the classes that occur."""
        from einsum_cascades.ops import op_counts

        return op_counts(self)

    def total_ops(self) -> dict:
        """op class -> sympy count summed over the Einsums."""
        from einsum_cascades.ops import total_ops

        return total_ops(self)

    def run(self, inputs: dict, extents: dict | None = None) -> dict:
        """Every tensor (name -> float64 array) after executing on ``inputs``; ``extents`` like {"M0": 4}."""
        from einsum_cascades.executor import run

        return run(self, inputs, {**self.default_extents, **(extents or {})})

    def _check_acyclic(self) -> None:
        import networkx as nx

        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = [a for a, _ in nx.find_cycle(self.graph)]
            line = self.graph.nodes[cycle[0]]["einsum"].line.lineno
            raise CascadeParseError(f"{self.source}:{line}:1: the Einsums form a cycle "
                                    f"({' -> '.join(cycle + cycle[:1])}); only an iterative rank may refer back")


def _graph(einsums: list[Einsum]):
    """Tensors as nodes (kind 'input' or 'einsum'), an edge from each tensor to every Einsum reading it."""
    import networkx as nx

    graph = nx.DiGraph()
    for e in einsums:
        graph.add_node(e.output, kind="einsum", einsum=e, position=(1, e.line.lineno))
    for e in einsums:
        for acc in e.reads:
            if acc.tensor not in graph:
                graph.add_node(acc.tensor, kind="input", position=(0, e.line.lineno, acc.col))
            if acc.tensor != e.output and not _carried(acc, graph.nodes[acc.tensor].get("einsum"), e):
                graph.add_edge(acc.tensor, e.output)
    return graph


def _topological(graph) -> list[str]:
    import networkx as nx

    return list(nx.lexicographical_topological_sort(graph, key=lambda n: graph.nodes[n]["position"]))


def _carried(acc: Access, producer: Einsum | None, consumer: Einsum) -> bool:
    """A step-by-step read of the previous step: ``RM[m1,p]`` (RM written at m1+1) by an Einsum whose
    output carries m1. A reader without m1 on its output (a reduction over m1) needs every step."""
    if producer is None or producer.step_rank not in consumer.out_vars:
        return False
    pos = next(i for i, idx in enumerate(producer.line.output.indices) if idx.kind == "next")
    return acc.indices[pos].kind == "var"


def parse_cascade(text: str, name: str = "<string>", source: str | None = None) -> Cascade:
    """Parse cascade text into a ``Cascade``; ``CascadeParseError`` (file:line:col) on anything malformed."""
    source = source or name
    lines, header = parse_lines(text, source)
    return Cascade(name, pair_lines(lines, source), header, source)
