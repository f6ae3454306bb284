"""Symbolic op counts per Einsum and op class.

Convention: one op per point of the Einsum's iteration space (output ranks times
reduced ranks, each extent the upper-case rank name as a sympy symbol) per operator:
- ``*`` is a ``mac`` (with or without a reduction: ``Q*K`` summed over e, or the
  element-wise ``RD*PRM``), ``+`` and ``-`` an ``add``, ``/`` a ``div``,
  ``exp`` an ``exp``, two-argument ``max`` a ``max``; ``sigmoid`` (1 / (1 + exp(-x))) an ``exp``, an
  ``add`` and a ``div``; ``tanh`` (1 - 2 / (exp(2x) + 1), its factors of 2 folded into the ``exp`` and the
  numerator) an ``exp``, two ``add`` and a ``div``; ``elu1`` (elu(x)+1) is an
  ``exp`` and an ``add``; unary minus and constants are free;
- a reduction adds one ``max`` per point under ``max(x)``, and one ``add`` per point
  for a sum, except a sum of a product, whose accumulate is part of the ``mac``;
- a pure copy or partition (``BK[e,m1,m0] = K[e, m1*M0 + m0]``) costs nothing, and
  initialisation lines (``RM[0,p] = -inf``) are not counted.

>>> from einsum_cascades import load_cascade
>>> load_cascade("attention-1pass").op_counts()["SLN"]
{'add': M0*M1*P, 'exp': M0*M1*P}
"""

import sympy as sp

from einsum_cascades.parser import Num, Op

OP_CLASSES = ("mac", "add", "max", "exp", "div", "rcp")
_OPERATOR_CLASSES = {"*": ("mac",), "+": ("add",), "-": ("add",), "/": ("div",), "exp": ("exp",),
                     "elu1": ("exp", "add"), "sigmoid": ("exp", "add", "rcp"), "tanh": ("exp", "add", "div", "add"),
                     "max": ("max",), "neg": ()}


def extent(rank: str) -> sp.Symbol:
    """The extent symbol of a rank: m -> M, m1 -> M1."""
    return sp.Symbol(rank.upper(), positive=True, integer=True)


def _per_point(node, counts: dict[str, int]) -> None:
    """Add the ops one evaluation of ``node`` performs to ``counts``."""
    if isinstance(node, Op):
        reciprocal = node.name == "/" and node.args[0] == Num(1.0)
        for cls in ("rcp",) if reciprocal else _OPERATOR_CLASSES[node.name]:
            counts[cls] = counts.get(cls, 0) + 1
        for arg in node.args:
            _per_point(arg, counts)


def einsum_ops(e) -> dict[str, sp.Expr]:
    """Op counts of one Einsum: operators per point plus its reduction, times the iteration space."""
    counts: dict[str, int] = {}
    _per_point(e.line.expr, counts)
    if e.reduction == "max":
        counts["max"] = counts.get("max", 0) + 1
    elif e.reduction == "sum" and not (isinstance(e.line.expr, Op) and e.line.expr.name == "*"):
        counts["add"] = counts.get("add", 0) + 1
    points = sp.Mul(*(extent(v) for v in e.vars))
    return {cls: counts[cls] * points for cls in OP_CLASSES if cls in counts}


def op_counts(cascade) -> dict[str, dict[str, sp.Expr]]:
    """Einsum output -> {op class: count}, only classes that occur (a copy maps to {})."""
    return {e.output: einsum_ops(e) for e in cascade.einsums}


def total_ops(cascade) -> dict[str, sp.Expr]:
    """op class -> count summed over every Einsum, expanded."""
    total: dict[str, sp.Expr] = {}
    for ops in op_counts(cascade).values():
        for cls, n in ops.items():
            total[cls] = total.get(cls, 0) + n
    return {cls: sp.expand(total[cls]) for cls in OP_CLASSES if cls in total}
