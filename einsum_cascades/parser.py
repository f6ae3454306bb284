"""The cascade text notation, parsed with Python's ``ast`` module and a whitelist — never eval.

One Einsum per line, ``#`` comments, header directives ``# reference: softmax`` and
``# extents: M0=4, S=2`` (defaults for ranks no input fixes). Index forms:
``m`` a rank; ``m1+1`` the next step of an iterative rank (left side) or a read of
it (right side); ``m1*M0 + m0`` a partitioned rank; ``M1`` the final step; ``0``
an initialisation step.
"""

import ast
import re
from dataclasses import dataclass

from einsum_cascades.errors import UserError

FUNCTIONS = {"max": (1, 2), "sum": (1, 1), "exp": (1, 1), "elu1": (1, 1)}  # name -> (min, max) arguments
CONSTANT_NAMES = {"inf"}


class CascadeParseError(UserError):
    """A malformed cascade: the message names the file, line and column."""


@dataclass(frozen=True, slots=True)
class Index:
    """One index position: ('var', m) | ('next', m1) | ('final', 'M1') | ('const', 0) | ('affine', ((var, stride-extents), ...))."""

    kind: str
    value: object

    def vars(self) -> tuple[str, ...]:
        if self.kind in ("var", "next"):
            return (self.value,)
        if self.kind == "affine":
            return tuple(v for v, _ in self.value)
        return ()

    def __str__(self):
        if self.kind == "next":
            return f"{self.value}+1"
        if self.kind == "affine":
            return " + ".join("*".join((v, *s)) for v, s in self.value)
        return str(self.value)


@dataclass(frozen=True, slots=True)
class Access:
    tensor: str
    indices: tuple[Index, ...]

    def __str__(self):
        return f"{self.tensor}[{','.join(map(str, self.indices))}]"


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed line: ``output = expr`` where expr is a whitelisted ast node."""

    output: Access
    expr: ast.AST
    text: str
    lineno: int

    @property
    def is_init(self) -> bool:
        return any(i.kind == "const" for i in self.output.indices)


def parse_lines(text: str, source: str = "<string>") -> tuple[list[Line], dict]:
    """Parse cascade text into lines and header directives ({'reference': ..., 'extents': {...}})."""
    lines, header = [], {"reference": None, "extents": {}, "summary": None}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code, _, comment = raw.partition("#")
        _directive(comment.strip(), header, source, lineno, raw.find("#") + 1, code.strip())
        if code.strip():
            lines.append(_parse_line(code.rstrip(), source, lineno))
    if not lines:
        raise CascadeParseError(f"{source}: no Einsums found")
    return lines, header


def _directive(comment: str, header: dict, source: str, lineno: int, col: int, code: str) -> None:
    if not comment or code:
        return
    if header["summary"] is None:
        header["summary"] = comment
    key, sep, value = comment.partition(":")
    key = key.strip().lower()
    if not sep or key not in ("reference", "extents"):
        return
    if key == "reference":
        header["reference"] = value.strip()
        return
    for part in filter(None, (p.strip() for p in value.split(","))):
        m = re.fullmatch(r"([A-Z][A-Z0-9]*)\s*=\s*(\d+)", part)
        if not m:
            raise CascadeParseError(f"{source}:{lineno}:{col}: bad extent {part!r}: write NAME=integer, e.g. M0=4")
        header["extents"][m.group(1)] = int(m.group(2))


def _parse_line(code: str, source: str, lineno: int) -> Line:
    if code.count("=") != 1:
        raise CascadeParseError(f"{source}:{lineno}:1: expected one '=' in {code.strip()!r}")
    lhs_text, rhs_text = code.split("=")
    rhs_col = len(lhs_text) + 2
    where = _Where(source, lineno)
    lhs = _parse_expr(lhs_text.strip(), where, 1)
    if not isinstance(lhs, ast.Subscript):
        raise CascadeParseError(f"{where}:1: the left side must be a tensor like QK[m,p], got {lhs_text.strip()!r}")
    output = _access(lhs, where, left=True)
    rhs = _parse_expr(rhs_text.strip(), where, rhs_col)
    _check_rhs(rhs, where, rhs_col)
    return Line(output, rhs, code.strip(), lineno)


class _Where:
    def __init__(self, source, lineno):
        self.source, self.lineno = source, lineno

    def __str__(self):
        return f"{self.source}:{self.lineno}"


def _parse_expr(text: str, where, col0: int) -> ast.AST:
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError as err:
        col = col0 + max((err.offset or 1) - 1, 0)
        raise CascadeParseError(f"{where}:{col}: syntax error in {text!r}: {err.msg}") from None


def _check_rhs(node: ast.AST, where, col0: int) -> None:
    col = col0 + getattr(node, "col_offset", 0)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        _check_rhs(node.left, where, col0)
        _check_rhs(node.right, where, col0)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        _check_rhs(node.operand, where, col0)
    elif isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in FUNCTIONS or node.keywords:
            raise CascadeParseError(f"{where}:{col}: unknown function {ast.unparse(node.func)!r}: allowed {', '.join(FUNCTIONS)}")
        lo, hi = FUNCTIONS[name]
        if not lo <= len(node.args) <= hi:
            raise CascadeParseError(f"{where}:{col}: {name}() takes {lo if lo == hi else f'{lo} or {hi}'} argument(s)")
        for arg in node.args:
            _check_rhs(arg, where, col0)
    elif isinstance(node, ast.Subscript):
        _access(node, where, left=False)
    elif isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        pass
    elif isinstance(node, ast.Name) and node.id in CONSTANT_NAMES:
        pass
    else:
        raise CascadeParseError(f"{where}:{col}: not allowed here: {ast.unparse(node)!r} (use tensors, numbers, inf, "
                                f"+ - * /, and {', '.join(FUNCTIONS)})")


def _access(node: ast.Subscript, where, left: bool) -> Access:
    col = node.col_offset + 1
    if not isinstance(node.value, ast.Name):
        raise CascadeParseError(f"{where}:{col}: a tensor name must come before '[', got {ast.unparse(node.value)!r}")
    items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    indices = tuple(_index(item, where, left) for item in items)
    return Access(node.value.id, indices)


def _index(node: ast.AST, where, left: bool) -> Index:
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Name):
        name = node.id
        if name.islower() or name[0].islower():
            return Index("var", name)
        if not left:
            return Index("final", name)
    elif isinstance(node, ast.Constant) and isinstance(node.value, int) and node.value == 0:
        return Index("const", 0)
    elif (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Name)
          and isinstance(node.right, ast.Constant) and node.right.value == 1 and node.left.id[0].islower()):
        return Index("next", node.left.id)
    elif not left and isinstance(node, ast.BinOp):
        terms = _affine_terms(node)
        if terms:
            return Index("affine", tuple(terms))
    raise CascadeParseError(f"{where}:{col}: bad index {ast.unparse(node)!r}: use a rank (m), its next step (m1+1), "
                            f"a final step (M1), 0 for initialisation, or a partition (m1*M0 + m0)")


def _affine_terms(node: ast.AST):
    """``m1*M0 + m0`` -> [('m1', ('M0',)), ('m0', ())]; None if the expression is not of that form."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _affine_terms(node.left), _affine_terms(node.right)
        return left + right if left is not None and right is not None else None
    names = _product_names(node)
    if names is None:
        return None
    lower = [n for n in names if n[0].islower()]
    upper = tuple(n for n in names if not n[0].islower())
    return [(lower[0], upper)] if len(lower) == 1 else None


def _product_names(node: ast.AST):
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        left, right = _product_names(node.left), _product_names(node.right)
        return left + right if left is not None and right is not None else None
    return None
