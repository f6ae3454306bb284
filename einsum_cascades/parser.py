"""The cascade text notation, parsed with Python's ``ast`` module and a whitelist — never eval.

One Einsum per line, ``#`` comments. Full-line comments are the header: the first
one that is not a directive is the cascade's summary; the directives are
``# reference: softmax`` (what ``cascade check`` compares with) and
``# extents: M0=4, M2=2`` (defaults for ranks no input fixes).

A right-hand side uses tensors, numbers, ``inf``, ``+ - * /``, unary ``-`` and
the functions ``exp``, ``elu1`` (elu(x) + 1), ``sigmoid``, ``tanh``, two-argument ``max(a, b)``
(element-wise), and, wrapping the whole right side only, the reductions
``max(x)`` and ``sum(x)``; a bare rank name is its index value at the point (``p0``:
a position in a chunk, for decay masks) and a bare extent name its extent (``M0``).
Index forms: ``m`` a rank; ``m1+1`` the next step of an iterative rank;
``m1*M0 + m0`` a partitioned rank (right side, or a left side written back over the
whole rank); ``M1`` the final step of an iterative rank (right side); ``0`` the
initial step (left side of an initialisation line such as ``RM[0,p] = -inf``), and on
the right a fixed position of a rank (``A[0,m,p]``: the first of two maps).

The parser checks syntax only; ``validate`` checks that the lines make sense together.
"""

import ast
import math
import re
import warnings
from dataclasses import dataclass, field

from einsum_cascades.errors import UserError

FUNCTIONS = {"exp": 1, "elu1": 1, "sigmoid": 1, "tanh": 1, "max": 2}  # element-wise functions -> number of arguments
REDUCTIONS = ("max", "sum")  # one-argument calls that may wrap a whole right-hand side
_USAGE = {"exp": "one argument", "elu1": "one argument", "sigmoid": "one argument", "tanh": "one argument",
          "max": "two arguments (element-wise), or one around the whole right side (a reduction)",
          "sum": "one argument, around the whole right side (a reduction)"}
MAX_DEPTH = 64  # deeper syntax trees are rejected, so no later recursion can hit Python's limit
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_ECHO = 60  # characters of source text quoted in an error message
MAX_NAME = 64  # characters of a tensor, rank, extent or reference name (every later error quotes names whole)
MAX_LINES = 1000  # Einsum lines of a cascade (the bundled ones have at most 25): past it, planning one takes minutes


class CascadeParseError(UserError):
    """A malformed cascade: the message names the file, line and column."""


@dataclass(frozen=True, slots=True)
class Index:
    """One index position: ('var', 'm') | ('next', 'm1') | ('final', 'M1') | ('const', 0)
    | ('affine', (('m1', ('M0',)), ('m0', ()))) — a partition, outer rank first."""

    kind: str
    value: object

    def vars(self) -> tuple[str, ...]:
        """The ranks this index walks."""
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
    """A tensor read or written at some indices, e.g. ``RM[m1+1,p]``; ``col`` is where it starts."""

    tensor: str
    indices: tuple[Index, ...]
    col: int = field(default=0, compare=False)

    def __str__(self):
        return f"{self.tensor}[{','.join(map(str, self.indices))}]"


@dataclass(frozen=True, slots=True)
class Num:
    """A constant (``inf`` included)."""

    value: float

    def __str__(self):
        return "inf" if self.value == math.inf else repr(self.value)


@dataclass(frozen=True, slots=True)
class Rank:
    """A rank's index value at the point (``p0``) or a rank's extent (``M0``), as a number."""

    name: str
    col: int = field(default=0, compare=False)

    @property
    def is_extent(self) -> bool:
        return self.name[0].isupper()

    def __str__(self):
        return self.name


@dataclass(frozen=True, slots=True)
class Op:
    """An operator applied to sub-expressions: ``+ - * /``, ``neg``, ``exp``, ``elu1``, ``sigmoid``, ``tanh`` or two-argument
    ``max``."""

    name: str
    args: tuple

    def __str__(self):
        if self.name in _BINOPS.values():
            return f"({self.args[0]} {self.name} {self.args[1]})"
        if self.name == "neg":
            return f"-{self.args[0]}"
        return f"{self.name}({', '.join(map(str, self.args))})"


@dataclass(frozen=True, slots=True)
class Line:
    """One parsed line: ``output = reduce(expr)``; ``reduce`` is 'max', 'sum' or None (implicit sum)."""

    output: Access
    reduce: str | None
    expr: object
    text: str
    lineno: int

    @property
    def is_init(self) -> bool:
        return any(i.kind == "const" for i in self.output.indices)

    def values(self):
        """Every bare rank or extent name on the right side (``p0``, ``M0``)."""
        stack, out = [self.expr], []
        while stack:
            node = stack.pop()
            if isinstance(node, Rank):
                out.append(node)
            elif isinstance(node, Op):
                stack.extend(node.args)
        return out

    def accesses(self):
        """Every tensor read on the right side, left to right."""
        stack = [self.expr]
        out = []
        while stack:
            node = stack.pop()
            if isinstance(node, Access):
                out.append(node)
            elif isinstance(node, Op):
                stack.extend(reversed(node.args))
        return out


@dataclass(frozen=True, slots=True)
class Header:
    """What the full-line comments declare."""

    summary: str = ""
    reference: str | None = None
    extents: tuple[tuple[str, int], ...] = ()


def parse_lines(text: str, source: str = "<string>") -> tuple[list[Line], Header]:
    """Parse cascade text into lines and its header; ``CascadeParseError`` on any syntax problem."""
    lines, comments = [], []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        code, hash_, comment = raw.partition("#")
        if code.strip():
            if len(lines) == MAX_LINES:
                raise CascadeParseError(f"{source}:{lineno}:1: more than {MAX_LINES:,} Einsum lines; a cascade has at "
                                        f"most {MAX_LINES:,}")
            lines.append(_parse_line(code.rstrip(), source, lineno))
        elif hash_ and comment.strip():
            comments.append((lineno, raw.index("#") + 1, comment.strip()))
    if not lines:
        raise CascadeParseError(f"{source}: no Einsums found (write one per line, e.g. QK[m,p] = Q[e,p] * K[e,m])")
    return lines, _header(comments, source)


def _header(comments: list, source: str) -> Header:
    """Summary (the first sentence of the first comment that is not a directive, read on over the comment lines
    right below it: a sentence the file wraps is whole), reference and default extents."""
    reference, extents, paragraph = None, {}, []
    for lineno, col, comment in comments:
        key, sep, value = comment.partition(":")
        key = key.strip().lower()
        if sep and key == "reference":
            reference = value.strip()
            if len(reference) > MAX_NAME:
                raise CascadeParseError(f"{source}:{lineno}:{col}: reference {reference[:_ECHO]!r}... is "
                                        f"{len(reference):,} characters long; a name has at most {MAX_NAME}")
        elif sep and key == "extents":
            extents.update(_extents(value, f"{source}:{lineno}:{col}"))
        elif not paragraph or paragraph[-1][0] == lineno - 1:  # the summary's lines, up to a gap or a directive
            paragraph.append((lineno, comment))
    return Header(summary_of(" ".join(c for _, c in paragraph)), reference, tuple(extents.items()))


SUMMARY_CHARS = 160  # a first sentence longer than this is cut at a clause (listings print it in a table cell)
# a '.' ending these words ends no sentence ("Nayak et al. (2024)", "Sec. 2", "Eq. 1")
_ABBREVIATIONS = ("al", "Sec", "Eq", "Eqs", "Fig", "Figs", "e.g", "i.e", "cf", "vs", "No")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def summary_of(text: str) -> str:
    """The first sentence of ``text``; past ``SUMMARY_CHARS``, cut at its last clause (after a ',', ';' or ':', or
    before a '(' outside parentheses) that fits, with '...'."""
    text = " ".join(text.split())
    end = next((m.end() for m in _SENTENCE_END.finditer(text)
                if not text[:m.start()].endswith(_ABBREVIATIONS)), len(text))
    sentence = text[:end]
    if len(sentence) <= SUMMARY_CHARS:
        return sentence
    cuts, depth = [], 0
    for i, ch in enumerate(sentence[:SUMMARY_CHARS]):
        if ch == "(" and depth == 0 and i:
            cuts.append(i)
        depth += (ch == "(") - (ch == ")")
        if ch in ",;:" and depth == 0:
            cuts.append(i + 1)
    cut = cuts[-1] if cuts else sentence.rfind(" ", 0, SUMMARY_CHARS)
    return sentence[:cut if cut > 0 else SUMMARY_CHARS].rstrip(" ,;:") + " ..."


def _extents(value: str, where: str) -> dict[str, int]:
    """``M0=4, M2=2`` -> {'M0': 4, 'M2': 2}."""
    out = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, sep, number = (s.strip() for s in part.partition("="))
        if not (sep and name.isidentifier() and name.isascii() and name[0].isupper() and len(name) <= MAX_NAME
                and number.isdigit() and int(number) > 0):
            raise CascadeParseError(f"{where}: bad extent {part[:_ECHO]!r}: write NAME=positive integer, e.g. M0=4 "
                                    f"(a NAME of at most {MAX_NAME} characters)")
        out[name] = int(number)
    return out


class _At:
    """Where a piece of text sits: source, line, and the column its first character has."""

    def __init__(self, source: str, lineno: int, col0: int):
        self.source, self.lineno, self.col0 = source, lineno, col0

    def col(self, node) -> int:
        return self.col0 + getattr(node, "col_offset", 0)

    def error(self, node, message: str) -> CascadeParseError:
        return CascadeParseError(f"{self.source}:{self.lineno}:{self.col(node)}: {message}")


def _parse_line(code: str, source: str, lineno: int) -> Line:
    bad = next((i for i, ch in enumerate(code) if not (ch.isascii() and (ch.isprintable() or ch == "\t"))), None)
    if bad is not None:
        raise CascadeParseError(f"{source}:{lineno}:{bad + 1}: character {code[bad]!r} not allowed: "
                                f"cascades are plain ASCII")
    if code.count("=") == 0:
        raise CascadeParseError(f"{source}:{lineno}:1: expected one '=' in {code.strip()[:_ECHO]!r} "
                                f"(an Einsum is OUT[ranks] = expression)")
    if code.count("=") > 1:
        second = code.index("=", code.index("=") + 1)
        raise CascadeParseError(f"{source}:{lineno}:{second + 1}: a second '=' in {code.strip()[:_ECHO]!r}: an Einsum "
                                f"is OUT[ranks] = expression, whose expression takes no keyword argument (key=1), "
                                f"assignment (:=) or comparison (==, <=, >=, !=)")
    lhs_text, rhs_text = code.split("=")
    lhs_at = _At(source, lineno, len(lhs_text) - len(lhs_text.lstrip()) + 1)
    lhs = _parse_expr(lhs_text.strip(), lhs_at)
    if not isinstance(lhs, ast.Subscript):
        raise lhs_at.error(lhs, f"the left side must be a tensor like QK[m,p], got {lhs_text.strip()[:_ECHO]!r}")
    rhs_at = _At(source, lineno, len(lhs_text) + 2 + len(rhs_text) - len(rhs_text.lstrip()))
    reduce, expr = _rhs(_parse_expr(rhs_text.strip(), rhs_at), rhs_at)
    return Line(_access(lhs, lhs_at, left=True), reduce, expr, code.strip(), lineno)


def _parse_expr(text: str, at: _At) -> ast.AST:
    try:
        with warnings.catch_warnings():  # Python only warns of "1if" and "0x1for": a syntax error here, not a stderr line
            warnings.simplefilter("error", SyntaxWarning)
            node = ast.parse(text, mode="eval").body
    except SyntaxError as err:
        col = at.col0 + max((err.offset or 1) - 1, 0)
        raise CascadeParseError(f"{at.source}:{at.lineno}:{col}: syntax error in {text[:_ECHO]!r}: {err.msg}") from None
    except (RecursionError, MemoryError):
        raise CascadeParseError(f"{at.source}:{at.lineno}:{at.col0}: expression nested too deeply") from None
    if _depth(node) > MAX_DEPTH:
        raise at.error(node, f"expression nested more than {MAX_DEPTH} levels deep")
    long = next((n for n in ast.walk(node) if isinstance(n, ast.Name) and len(n.id) > MAX_NAME), None)
    if long is not None:
        raise at.error(long, f"name {long.id[:_ECHO]!r}... is {len(long.id):,} characters long; at most {MAX_NAME}")
    return node


def _depth(root: ast.AST) -> int:
    """Nesting depth of a syntax tree, found without recursion (the tree may be very deep)."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _rhs(node: ast.AST, at: _At) -> tuple[str | None, object]:
    """Split off a reduction wrapping the whole right side: ``max(x)`` or ``sum(x)``."""
    if _call_name(node) in REDUCTIONS and len(node.args) == 1 and not node.keywords:
        return node.func.id, _expr(node.args[0], at)
    return None, _expr(node, at)


def _call_name(node: ast.AST) -> str | None:
    return node.func.id if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) else None


def _expr(node: ast.AST, at: _At):
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return Op(_BINOPS[type(node.op)], (_expr(node.left, at), _expr(node.right, at)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return Op("neg", (_expr(node.operand, at),))
    if isinstance(node, ast.Call):
        return Op(_function(node, at), tuple(_expr(a, at) for a in node.args))
    if isinstance(node, ast.Subscript):
        return _access(node, at, left=False)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Num(float(node.value))
    if isinstance(node, ast.Name) and node.id == "inf":
        return Num(math.inf)
    if isinstance(node, ast.Name) and node.id.isidentifier() and node.id[0].isalpha():
        return Rank(node.id, at.col(node))  # validate checks it names a rank (or an extent) of the cascade
    raise at.error(node, f"not allowed here: {_unparse(node)!r} (use tensors, numbers, inf, + - * /, "
                         f"{', '.join(FUNCTIONS)}, and max(x) or sum(x) around a whole right side)")


def _function(node: ast.Call, at: _At) -> str:
    name = _call_name(node)
    if name not in _USAGE or node.keywords:
        raise at.error(node, f"unknown function {_unparse(node.func)!r}: allowed {', '.join(FUNCTIONS)} "
                             f"(and the reductions {', '.join(REDUCTIONS)})")
    starred = next((a for a in node.args if isinstance(a, ast.Starred)), None)
    if starred:
        raise at.error(starred, f"not allowed here: {_unparse(starred)!r}")
    if name in REDUCTIONS and len(node.args) == 1:
        raise at.error(node, f"{name}(x) is a reduction: it may only wrap the whole right side")
    if len(node.args) != FUNCTIONS.get(name):
        raise at.error(node, f"{name}() takes {_USAGE[name]}, got {len(node.args)}")
    return name


def _access(node: ast.Subscript, at: _At, left: bool) -> Access:
    if not isinstance(node.value, ast.Name):
        raise at.error(node, f"a tensor name must come before '[', got {_unparse(node.value)!r}")
    items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
    return Access(node.value.id, tuple(_index(item, at, left) for item in items), at.col(node))


def _index(node: ast.AST, at: _At, left: bool) -> Index:
    if isinstance(node, ast.Name) and node.id[0].islower():
        return Index("var", node.id)
    if isinstance(node, ast.Name) and not left:
        return Index("final", node.id)
    if left and isinstance(node, ast.Constant) and type(node.value) is int and node.value == 0:
        return Index("const", 0)
    if not left and isinstance(node, ast.Constant) and type(node.value) is int and node.value >= 0:
        return Index("const", node.value)
    if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Name)
            and node.left.id[0].islower() and isinstance(node.right, ast.Constant)
            and type(node.right.value) is int and node.right.value == 1):
        return Index("next", node.left.id)
    terms = _affine_terms(node)
    if terms and len(terms) > 1 or (terms and not left):
        return Index("affine", tuple(terms))
    side = "a rank (m), its next step (m1+1), 0 (initial step) or a partition (p1*P0 + p0)" if left else \
        "a rank (m), a step (m1+1), a final step (M1), a partition (m1*M0 + m0) or a position (0, 1, ...)"
    raise at.error(node, f"bad index {_unparse(node)!r} on the {'left' if left else 'right'}: use {side}")


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


def _unparse(node: ast.AST) -> str:
    return ast.unparse(node)[:_ECHO]
