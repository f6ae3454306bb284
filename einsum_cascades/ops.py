"""Symbolic op counts per Einsum and op class (see cascade.py for the convention)."""

import ast

import sympy as sp

OP_CLASSES = ("mac", "add", "max", "exp", "div")


def extent(rank: str) -> sp.Symbol:
    """The extent symbol of a rank: m -> M, m1 -> M1."""
    return sp.Symbol(rank.upper(), positive=True, integer=True)


def _operators(node: ast.AST, counts: dict) -> None:
    """Count operators in an expression tree (one each per iteration point)."""
    if isinstance(node, ast.BinOp):
        cls = {ast.Mult: "mac", ast.Add: "add", ast.Sub: "add", ast.Div: "div"}[type(node.op)]
        counts[cls] = counts.get(cls, 0) + 1
        _operators(node.left, counts)
        _operators(node.right, counts)
    elif isinstance(node, ast.UnaryOp):
        _operators(node.operand, counts)
    elif isinstance(node, ast.Call):
        name = node.func.id
        extra = {"exp": ("exp",), "elu1": ("exp", "add")}.get(name, ())
        if name == "max" and len(node.args) == 2:
            extra = ("max",)
        for cls in extra:
            counts[cls] = counts.get(cls, 0) + 1
        for arg in node.args:
            _operators(arg, counts)


def einsum_ops(e) -> dict[str, sp.Expr]:
    """Op counts of one Einsum: operators per point plus its reduction, times the iteration space."""
    counts: dict[str, int] = {}
    expr = e.line.expr
    top = expr.func.id if isinstance(expr, ast.Call) and len(expr.args) == 1 and expr.func.id in ("max", "sum") else None
    inner = expr.args[0] if top else expr
    _operators(inner, counts)
    if e.reduced:
        if top == "max":
            counts["max"] = counts.get("max", 0) + 1
        elif not (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Mult)):
            counts["add"] = counts.get("add", 0) + 1  # sum(x), or the default sum of a non-product
    points = sp.Mul(*(extent(v) for v in e.vars))
    return {cls: n * points for cls, n in sorted(counts.items(), key=lambda kv: OP_CLASSES.index(kv[0]))}


def op_counts(cascade) -> dict[str, dict[str, sp.Expr]]:
    """Einsum output -> {op class: count}, only classes that occur."""
    return {e.output: einsum_ops(e) for e in cascade.einsums}


def total_ops(cascade) -> dict[str, sp.Expr]:
    total: dict[str, sp.Expr] = {}
    for ops in op_counts(cascade).values():
        for cls, n in ops.items():
            total[cls] = total.get(cls, 0) + n
    return {cls: sp.expand(total[cls]) for cls in OP_CLASSES if cls in total}
