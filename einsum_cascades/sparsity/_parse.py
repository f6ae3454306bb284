"""Parsing mask expressions (never ``eval``): ``causal&window(4k)|sinks(128)``, ``&`` binding tighter than ``|``."""

import re
from functools import lru_cache

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity._expr import GRIDS, PATTERN_NAMES, SELECTORS, Pattern, PatternError
from einsum_cascades.sparsity._heads import MIX
from einsum_cascades.sparsity._vslash import DEFAULT_PLACE, NAME as VSLASH, PLACES
from einsum_cascades.units import parse_size, short_repr

_ARITY = {"causal": (0, 0), "full": (0, 0), "window": (1, 2), "chunked": (1, 1), "sinks": (1, 1), "global": (1, 1),
          "strided": (1, 1), "vertical_slash": (2, 2), "random_blocks": (1, 2), "topk": (1, 2), "budget": (1, 2),
          "window2d": (4, 4), "window3d": (6, 6)}
_ALIASES = {"dense": "full"}
_TOKEN = re.compile(r"(?P<name>[A-Za-z_]\w*)|(?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[kKmMgG]?)"
                    r"|(?P<op>[&|(),=:])")
_ALLOWED = (f"allowed: {', '.join(PATTERN_NAMES)}, joined with & and |, grouped with ( ), per-head groups "
            f"heads(n1: P1, n2: P2, ...)")
# Bounds on an expression, far past any real mask, so parsing and lowering never recurse deeply or blow up.
MAX_CHARS = 4096
MAX_TERMS = 64  # primitives (names) in one expression
MAX_DEPTH = 16  # nested parentheses (a name's own argument list counts one)
MAX_SEED = (1 << 63) - 1  # random_blocks, topk and budget seeds are int64 in the lowering kernels


def parse_pattern(text: str) -> Pattern:
    """Parse a mask expression such as ``causal&window(4k)|sinks(128)`` (``&`` binds tighter than ``|``).

    >>> str(parse_pattern("sinks(128) | causal & window(4096)"))
    'sinks(128)|causal&window(4k)'
    """
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"empty pattern expression; {_ALLOWED}")
    if len(text) > MAX_CHARS:
        raise PatternError(f"bad pattern {short_repr(text)}: {len(text):,} characters; at most {MAX_CHARS:,}")
    return _parse(text)


@lru_cache(maxsize=1024)
def _parse(text: str) -> Pattern:
    """The parse of a checked string (a Pattern is frozen, so one parse serves every point of a sweep)."""
    tokens = _tokenize(text)
    _check_size(tokens, text)
    pattern, pos = _or(tokens, 0, text)
    if pos != len(tokens):
        _fail(text, tokens[pos], "expected & or | between patterns")
    return pattern


def _check_size(tokens, text) -> None:
    """Refuse expressions past MAX_TERMS primitives or MAX_DEPTH nested parentheses (before parsing recurses)."""
    terms = sum(kind == "name" and value not in ("stride", "place", *PLACES) for kind, value, _ in tokens)
    if terms > MAX_TERMS:
        raise PatternError(f"bad pattern {short_repr(text)}: {terms} primitives; at most {MAX_TERMS}")
    depth = deepest = 0
    for _, value, _ in tokens:
        depth += (value == "(") - (value == ")")
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        raise PatternError(f"bad pattern {short_repr(text)}: parentheses nested {deepest} deep; at most {MAX_DEPTH}")


def _seed(name, text, seed: str) -> tuple:
    """An optional seed: an integer in 0 .. MAX_SEED."""
    if not (seed.isdigit() and len(seed) <= 19 and int(seed) <= MAX_SEED):
        raise PatternError(f"bad pattern {text!r}: {name} seed {seed} must be an integer in 0 .. 2**63-1")
    return (int(seed),)


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
    if token is None or token[1] not in _ARITY and token[1] not in _ALIASES and token[1] not in ("(", MIX):
        _fail(text, token, "expected a pattern name or '('")
    if token[1] == MIX:
        return _mix(tokens, pos + 1, text)
    if token[1] == "(":
        inner, pos = _or(tokens, pos + 1, text)
        if not _at(tokens, pos) or tokens[pos][1] != ")":
            _fail(text, _at(tokens, pos), f"expected ')' closing the '(' at column {token[2] + 1}")
        return inner, pos + 1
    name = _ALIASES.get(token[1], token[1])
    args, stride, pos = _args(tokens, pos + 1, text, name)
    if name == VSLASH:
        args, place = _place(args, stride, text)
    lo, hi = _ARITY[name]
    if not lo <= len(args) <= hi:
        need = str(lo) if lo == hi else f"{lo} or {hi}"
        raise PatternError(f"bad pattern {text!r}: {token[1]} at column {token[2] + 1} takes {need} argument(s), "
                           f"got {len(args)}")
    if name in GRIDS:
        return Pattern(name, _check_grid(name, args, stride or {}, text)), pos
    if name == VSLASH:
        return Pattern(name, _check_args(name, args, text) + (place,)), pos
    return Pattern(name, _check_args(name, args, text)), pos


def _place(args, keyword, text):
    """vertical_slash's sizes and its placement (``place=log`` or ``place=even``; default log)."""
    if keyword is None:
        return args, DEFAULT_PLACE
    if len(keyword) != 1 or keyword[0] not in PLACES:
        raise PatternError(f"bad pattern {text!r}: vertical_slash place={','.join(keyword)}; allowed "
                           f"place={' or place='.join(PLACES)}")
    return args, keyword[0]


def _mix(tokens, pos, text):
    """``heads(n1: P1, n2: P2, ...)`` after its name: counts >= 1, each with the pattern of its heads."""
    token = _at(tokens, pos)
    if token is None or token[1] != "(":
        _fail(text, token, "heads takes (n1: P1, n2: P2, ...)")
    counts, parts = [], []
    while True:
        token = _at(tokens, pos + 1)
        if token is None or token[0] != "num" or _at(tokens, pos + 2) is None or tokens[pos + 2][1] != ":":
            _fail(text, token, "heads( expects a head count and ':' before each pattern, as in heads(16: full, 16: "
                               "window(1k))")
        counts.append(_sizes("heads", [token[1]], text, "head counts >= 1 before each ':'")[0])
        part, pos = _or(tokens, pos + 3, text)
        parts.append(part)
        token = _at(tokens, pos)
        if token is None or token[1] not in ",)":
            _fail(text, token, "expected ',' or ')' in heads(...)")
        if token[1] == ")":
            return Pattern(MIX, tuple(counts), tuple(parts)), pos + 1


GRID_KEYWORDS = ("stride", "q_tile", "kv_tile")  # window2d / window3d's keyword tuples, after their numbers


def _args(tokens, pos, text, name):
    """The numbers inside ``name(...)`` and, for a grid, the numbers of its last keyword tuples (``stride=(...)``,
    ``q_tile=(...)``, ``kv_tile=(...)``, each at most once, in any order: a dict by keyword); for vertical_slash, the
    name of a last ``place=...``; none when no '(' follows."""
    if not _at(tokens, pos) or tokens[pos][1] != "(":
        return [], None, pos
    args, pos = [], pos + 1
    while True:
        token = _at(tokens, pos)
        if name in GRIDS and token is not None and token[1] in GRID_KEYWORDS:
            keywords = {}
            while True:
                key = token[1]
                if key in keywords:
                    _fail(text, token, f"{key}=(...) given twice in {name}(...)")
                keywords[key], pos = _keyword_numbers(tokens, pos + 1, text, name, key)
                token = _at(tokens, pos)
                if token is None or token[1] not in ",)":
                    _fail(text, token, f"expected ',' or ')' after {key}=(...) in {name}(...)")
                if token[1] == ")":
                    return args, keywords, pos + 1
                token = _at(tokens, pos + 1)
                if token is None or token[1] not in GRID_KEYWORDS:
                    _fail(text, token, f"expected {'=(...), '.join(GRID_KEYWORDS)}=(...) in {name}(...)")
                pos += 1
        if name == VSLASH and token is not None and token[1] == "place":
            value = _at(tokens, pos + 2)
            if _at(tokens, pos + 1) is None or tokens[pos + 1][1] != "=" or value is None or value[0] != "name":
                _fail(text, value, f"expected place={' or place='.join(PLACES)} in {name}(...)")
            if _at(tokens, pos + 3) is None or tokens[pos + 3][1] != ")":
                _fail(text, _at(tokens, pos + 3), f"expected ')' after place=... in {name}(...)")
            return args, [value[1]], pos + 4
        if token is None or token[0] != "num":
            _fail(text, token, f"{name}( expects a number" + (" or stride=(...), q_tile=(...), kv_tile=(...)"
                                                               if name in GRIDS else "")
                  + (" or place=..." if name == VSLASH else ""))
        args.append(token[1])
        token = _at(tokens, pos + 1)
        if token is None or token[1] not in ",)":
            _fail(text, token, f"expected ',' or ')' in {name}(...)")
        pos += 2
        if token[1] == ")":
            return args, None, pos


def _keyword_numbers(tokens, pos, text, name, key):
    """The numbers of ``=(a, b, ...)`` after ``key`` (stride, q_tile or kv_tile)."""
    for want in "=(":
        token = _at(tokens, pos)
        if token is None or token[1] != want:
            _fail(text, token, f"expected {key}=(...) in {name}(...)")
        pos += 1
    values = []
    while True:
        token = _at(tokens, pos)
        if token is None or token[0] != "num":
            _fail(text, token, f"{key}=( in {name} expects a number")
        values.append(token[1])
        token = _at(tokens, pos + 1)
        if token is None or token[1] not in ",)":
            _fail(text, token, f"expected ',' or ')' in {key}=(...)")
        pos += 2
        if token[1] == ")":
            return values, pos


def _sizes(name, args, text, what="positive sizes such as 128, 4k or 1m", zero=False):
    try:
        return tuple(0 if zero and a == "0" else parse_size(a) for a in args)
    except UserError:
        raise PatternError(f"bad pattern {text!r}: {name} takes {what}, got {', '.join(args)}") from None


def _check_args(name, args, text):
    if name == "window" and len(args) == 2:  # l before, r after: 0 allowed on either side
        return _sizes(name, args, text, "sizes >= 0 (l keys before, r after), such as 0, 128 or 4k", zero=True)
    if name in SELECTORS:
        what = "k >= 1 key blocks" if name == "topk" else "n >= 1 keys"
        count = _sizes(name, args[:1], text, f"{what} (and an optional integer seed >= 0)")
        return count + (_seed(name, text, args[1]) if len(args) > 1 else ())
    if name != "random_blocks":
        return _sizes(name, args, text)
    try:
        density = float(args[0])
    except ValueError:
        density = -1.0
    if not 0 < density <= 1:
        raise PatternError(f"bad pattern {text!r}: random_blocks density {args[0]} must be a number in (0, 1]")
    return (density,) + (_seed(name, text, args[1]) if len(args) > 1 else ())


def _check_grid(name, args, keywords, text):
    """Grid sizes, kernel sizes and stride of window2d / window3d, checked as NATTEN checks them: a kernel
    no larger than its grid axis, a stride no larger than its kernel (natten/utils/checks.py,
    check_args_against_input); then the query and key tile shapes where the call states them (NATTEN's
    ``q_tile_shape`` / ``kv_tile_shape``, its profiler's --q-tile / --kv-tile), both or neither: a pattern's
    arguments are grid + kernel + stride (+ q_tile + kv_tile)."""
    rank = GRIDS[name]
    dims = ("T", "H", "W")[3 - rank:]
    grid, kernel = _sizes(name, args[:rank], text), _sizes(name, args[rank:], text)
    given = {}
    for key in GRID_KEYWORDS:
        if key in keywords:
            letter = {"stride": "s", "q_tile": "q", "kv_tile": "kv"}[key]
            given[key] = _sizes(name, keywords[key], text, f"{key}=({','.join(letter + d.lower() for d in dims)}) "
                                                           "of positive integers")
            if len(given[key]) != rank:
                raise PatternError(f"bad pattern {text!r}: {name} {key} takes {rank} numbers, got {len(given[key])}")
    if ("q_tile" in given) != ("kv_tile" in given):
        raise PatternError(f"bad pattern {text!r}: {name} takes q_tile=(...) and kv_tile=(...) together (NATTEN's "
                           "query and key tile shapes), or neither (NATTEN's default tiles)")
    stride = given.get("stride", (1,) * rank)
    for d, g, k, s in zip(dims, grid, kernel, stride):
        if k > g:
            raise PatternError(f"bad pattern {text!r}: {name} kernel k{d.lower()}={k} is larger than the grid "
                               f"({d}={g}); allowed 1..{g}")
        if s > k:
            raise PatternError(f"bad pattern {text!r}: {name} stride s{d.lower()}={s} is larger than its kernel "
                               f"(k{d.lower()}={k}); allowed 1..{k}")
    return grid + kernel + stride + given.get("q_tile", ()) + given.get("kv_tile", ())
