"""Mask expressions: the ``Pattern`` tree, its element mask, and the parser (never ``eval``)."""

import re
from dataclasses import dataclass

import numpy as np

from einsum_cascades.errors import UserError
from einsum_cascades.units import format_size, parse_size, short_repr

PATTERN_NAMES = ("causal", "window", "sinks", "global", "strided", "vertical_slash", "random_blocks", "full", "dense")
_ARITY = {"causal": (0, 0), "full": (0, 0), "window": (1, 1), "sinks": (1, 1), "global": (1, 1), "strided": (1, 1),
          "vertical_slash": (2, 2), "random_blocks": (1, 2)}
_ALIASES = {"dense": "full"}
DEFAULT_RANDOM_BLOCK = (128, 128)  # coin block of random_blocks when an element mask is asked without a tile shape


class PatternError(UserError):
    """A malformed pattern expression: names the bad token, its column and what is allowed."""


@dataclass(frozen=True)
class Pattern:
    """A node of a mask expression: a primitive ``name(args)``, or ``name`` in {'&', '|'} over two ``parts``."""

    name: str
    args: tuple = ()
    parts: tuple = ()

    def __and__(self, other):
        return Pattern("&", parts=(self, other))

    def __or__(self, other):
        return Pattern("|", parts=(self, other))

    def __str__(self):
        if self.name in ("&", "|"):  # operators associate left: a right operand of the same or lower rank needs ()
            left, right = self.parts
            left_text = f"({left})" if left.name == "|" and self.name == "&" else str(left)
            return f"{left_text}{self.name}({right})" if right.name in ("&", "|") and (
                right.name == self.name or self.name == "&") else f"{left_text}{self.name}{right}"
        if self.name == "random_blocks":  # density and seed print as plain numbers
            return f"{self.name}({','.join(repr(a) for a in self.args)})"
        return f"{self.name}({','.join(format_size(a) for a in self.args)})" if self.args else self.name

    def mask(self, q, k, seq_len: int, kv_len: int, block=DEFAULT_RANDOM_BLOCK) -> np.ndarray:
        """Element mask (True = attended) on broadcasting query / key index arrays.

        ``block`` binds the coin block of ``random_blocks``: one coin per ``block[0] x block[1]``
        tile; lowering passes its own tile shape, so coins are flipped per lowered tile.
        """
        q, k = np.asarray(q, dtype=np.int64), np.asarray(k, dtype=np.int64)
        if self.name in ("&", "|"):
            left, right = (p.mask(q, k, seq_len, kv_len, block) for p in self.parts)
            return left & right if self.name == "&" else left | right
        shape = np.broadcast(q, k).shape
        return np.broadcast_to(_primitive_mask(self.name, self.args, q, k, seq_len, kv_len, block), shape)


def _primitive_mask(name, a, q, k, seq_len, kv_len, block):
    """One primitive on index arrays; ``back`` = (q + kv_len - seq_len) - k is the distance behind the diagonal."""
    back = q + (kv_len - seq_len) - k
    if name == "full":
        return np.ones((), dtype=bool)
    if name == "causal":
        return back >= 0
    if name == "window":
        return (back >= 0) & (back < a[0])
    if name == "sinks":
        return k < a[0]
    if name == "global":
        return (q < a[0]) | (k < a[0])
    if name == "strided":
        return back % a[0] == 0
    if name == "vertical_slash":
        col, diag = vertical_spacing(kv_len, a[0]), slash_spacing(seq_len, a[1])
        return ((k % col == 0) & (k // col < a[0])) | ((back >= 0) & (back % diag == 0) & (back // diag < a[1]))
    return keep_blocks(q // block[0], k // block[1], a[1] if len(a) > 1 else 0, a[0])


def vertical_spacing(kv_len: int, v: int) -> int:
    """Key distance between the v vertical columns of vertical_slash: evenly spread from key 0."""
    return max(kv_len // v, 1)


def slash_spacing(seq_len: int, s: int) -> int:
    """Distance between the s slash diagonals of vertical_slash, behind the aligned diagonal."""
    return max(seq_len // s, 1)


# splitmix64 finaliser constants (Steele et al., "Fast splittable pseudorandom number generators", 2014)
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def coin_threshold(density: float) -> int:
    """A tile is kept when its 53-bit hash is below this: exactly ``density * 2**53`` rounded up."""
    return int(np.ceil(density * float(1 << 53)))


def keep_blocks(bi, bj, seed: int, density: float) -> np.ndarray:
    """The random_blocks coin of block (bi, bj): a splitmix64 hash of (bi, bj, seed) below ``density``."""
    u = np.uint64
    with np.errstate(over="ignore"):
        bi, bj = np.asarray(bi).astype(u), np.asarray(bj).astype(u)
        x = bi * u(_GOLDEN) ^ bj * u(_MIX1) ^ u(seed) * u(_MIX2)
        x = (x ^ (x >> u(30))) * u(_MIX1)
        x = (x ^ (x >> u(27))) * u(_MIX2)
        x = x ^ (x >> u(31))
    return (x >> u(11)) < u(coin_threshold(density))


# ---------------------------------------------------------------- parsing

_TOKEN = re.compile(r"(?P<name>[A-Za-z_]\w*)|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[kKmMgG]?)|(?P<op>[&|(),])")
# Bounds on an expression, far past any real mask, so parsing and lowering never recurse deeply or blow up.
MAX_CHARS = 4096
MAX_TERMS = 64  # primitives (names) in one expression
MAX_DEPTH = 16  # nested parentheses (a name's own argument list counts one)
MAX_SEED = (1 << 63) - 1  # random_blocks seeds are int64 in the lowering kernels
_ALLOWED = f"allowed: {', '.join(PATTERN_NAMES)}, joined with & and |, grouped with ( )"


def parse_pattern(text: str) -> Pattern:
    """Parse a mask expression such as ``causal&window(4k)|sinks(128)`` (``&`` binds tighter than ``|``).

    >>> str(parse_pattern("sinks(128) | causal & window(4096)"))
    'sinks(128)|causal&window(4k)'
    """
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"empty pattern expression; {_ALLOWED}")
    if len(text) > MAX_CHARS:
        raise PatternError(f"bad pattern {short_repr(text)}: {len(text):,} characters; at most {MAX_CHARS:,}")
    tokens = _tokenize(text)
    _check_size(tokens, text)
    pattern, pos = _or(tokens, 0, text)
    if pos != len(tokens):
        _fail(text, tokens[pos], "expected & or | between patterns")
    return pattern


def _check_size(tokens, text) -> None:
    """Refuse expressions past MAX_TERMS primitives or MAX_DEPTH nested parentheses (before parsing recurses)."""
    terms = sum(kind == "name" for kind, _, _ in tokens)
    if terms > MAX_TERMS:
        raise PatternError(f"bad pattern {short_repr(text)}: {terms} primitives; at most {MAX_TERMS}")
    depth = deepest = 0
    for _, value, _ in tokens:
        depth += (value == "(") - (value == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise PatternError(f"bad pattern {short_repr(text)}: parentheses nested {deepest} deep; at most {MAX_DEPTH}")


def _tokenize(text: str) -> list:
    """(kind, value, column) triples; a character no token starts with is an error."""
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if not m:
            raise PatternError(f"bad pattern {text!r}: unexpected {text[i]!r} at column {i + 1}; {_ALLOWED}")
        out.append((m.lastgroup, m.group(), i))
        i = m.end()
    return out


def _fail(text, token, why):
    if token is None:
        raise PatternError(f"bad pattern {text!r}: it ends early ({why}); {_ALLOWED}")
    raise PatternError(f"bad pattern {text!r}: unexpected {token[1]!r} at column {token[2] + 1} ({why}); {_ALLOWED}")


def _at(tokens, pos):
    return tokens[pos] if pos < len(tokens) else None


def _or(tokens, pos, text):
    left, pos = _and(tokens, pos, text)
    while _at(tokens, pos) and tokens[pos][1] == "|":
        right, pos = _and(tokens, pos + 1, text)
        left = left | right
    return left, pos


def _and(tokens, pos, text):
    left, pos = _atom(tokens, pos, text)
    while _at(tokens, pos) and tokens[pos][1] == "&":
        right, pos = _atom(tokens, pos + 1, text)
        left = left & right
    return left, pos


def _atom(tokens, pos, text):
    token = _at(tokens, pos)
    if token is None or token[1] not in _ARITY and token[1] not in _ALIASES and token[1] != "(":
        _fail(text, token, "expected a pattern name or '('")
    if token[1] == "(":
        inner, pos = _or(tokens, pos + 1, text)
        if not _at(tokens, pos) or tokens[pos][1] != ")":
            _fail(text, _at(tokens, pos), f"expected ')' closing the '(' at column {token[2] + 1}")
        return inner, pos + 1
    name = _ALIASES.get(token[1], token[1])
    args, pos = _args(tokens, pos + 1, text, token[1])
    lo, hi = _ARITY[name]
    if not lo <= len(args) <= hi:
        need = str(lo) if lo == hi else f"{lo} or {hi}"
        raise PatternError(f"bad pattern {text!r}: {token[1]} at column {token[2] + 1} takes {need} argument(s), "
                           f"got {len(args)}")
    return Pattern(name, _check_args(name, args, text)), pos


def _args(tokens, pos, text, name):
    """The numbers inside ``name(...)``; none when no '(' follows."""
    if not _at(tokens, pos) or tokens[pos][1] != "(":
        return [], pos
    args, pos = [], pos + 1
    while True:
        token = _at(tokens, pos)
        if token is None or token[0] != "num":
            _fail(text, token, f"{name}( expects a number")
        args.append(token[1])
        token = _at(tokens, pos + 1)
        if token is None or token[1] not in ",)":
            _fail(text, token, f"expected ',' or ')' in {name}(...)")
        pos += 2
        if token[1] == ")":
            return args, pos


def _check_args(name, args, text):
    if name != "random_blocks":
        try:
            return tuple(parse_size(a) for a in args)
        except UserError:
            raise PatternError(f"bad pattern {text!r}: {name} takes positive sizes such as 128, 4k or 1m, "
                               f"got {', '.join(args)}") from None
    try:
        density = float(args[0])
    except ValueError:
        density = -1.0
    if not 0 < density <= 1:
        raise PatternError(f"bad pattern {text!r}: random_blocks density {args[0]} must be a number in (0, 1]")
    if len(args) > 1 and not (args[1].isdigit() and len(args[1]) <= 19 and int(args[1]) <= MAX_SEED):
        raise PatternError(f"bad pattern {text!r}: random_blocks seed {args[1]} must be an integer in 0 .. 2**63-1")
    return (density,) + ((int(args[1]),) if len(args) > 1 else ())
