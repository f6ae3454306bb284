"""Sparsity patterns: small mask predicates that compose (STYLE 6), lowered to tiles.

A mask is True where query q may attend key k (q < seq_len, k < kv_len). Causal
masks are bottom-right aligned (FlashAttention >= 2.1): with ``off = kv_len -
seq_len``, query q sees keys k <= q + off. Primitives:

- ``causal``: k - q <= off
- ``window(w)``: the last w keys up to and including the aligned diagonal: off - w < k - q <= off
- ``sinks(n)``: k < n (every query sees the first n keys)
- ``global(n)``: q < n or k < n (global tokens, Longformer / BigBird)
- ``strided(s)``: (q + off - k) % s == 0 (Sparse Transformer, strided heads)
- ``vertical_slash(v, s)``: v key columns at k = i * (kv_len // v) and s diagonals at
  k - q = off - j * (seq_len // s) (MInference-style synthetic pattern; & it with causal)
- ``random_blocks(density[, seed])``: whole tiles kept with probability ``density``
  (a hash of the tile index and seed); the tile is the one it is lowered at,
  128 x 128 for element-level ``mask``
- ``full``: everything

Expressions join them with ``&`` (binds tighter) and ``|`` and parentheses, e.g.
``causal&window(4k)|sinks(128)``. Sizes take k/m suffixes. Parsed, never evaluated.
"""

import re
from dataclasses import dataclass

import numpy as np

from einsum_cascades.errors import UserError
from einsum_cascades.units import parse_size

__all__ = ["PATTERN_NAMES", "Pattern", "PatternError", "TileCounts", "brute_force_counts", "element_density",
           "fit_pattern", "parse_pattern", "tile_counts"]

PATTERN_NAMES = ("causal", "window", "sinks", "global", "strided", "vertical_slash", "random_blocks", "full")
_ARITY = {"causal": (0, 0), "full": (0, 0), "window": (1, 1), "sinks": (1, 1), "global": (1, 1), "strided": (1, 1),
          "vertical_slash": (2, 2), "random_blocks": (1, 2)}
DEFAULT_RANDOM_BLOCK = 128


class PatternError(UserError):
    """A malformed pattern expression: names the bad token and its position."""


@dataclass(frozen=True)
class Pattern:
    """A node of a mask expression: a primitive ``name(args)`` or ``op`` in {'&', '|'} over ``parts``."""

    name: str
    args: tuple = ()
    parts: tuple = ()

    def __and__(self, other):
        return Pattern("&", parts=(self, other))

    def __or__(self, other):
        return Pattern("|", parts=(self, other))

    def __str__(self):
        if self.name in ("&", "|"):
            return self.name.join(f"({p})" if p.name == "|" and self.name == "&" else str(p) for p in self.parts)
        if not self.args:
            return self.name
        return f"{self.name}({','.join(_fmt(a) for a in self.args)})"

    def mask(self, q, k, seq_len: int, kv_len: int, block=(DEFAULT_RANDOM_BLOCK, DEFAULT_RANDOM_BLOCK)) -> np.ndarray:
        """Element mask on broadcasting index arrays (numpy-vectorised)."""
        q, k = np.asarray(q, dtype=np.int64), np.asarray(k, dtype=np.int64)
        if self.name == "&":
            return self.parts[0].mask(q, k, seq_len, kv_len, block) & self.parts[1].mask(q, k, seq_len, kv_len, block)
        if self.name == "|":
            return self.parts[0].mask(q, k, seq_len, kv_len, block) | self.parts[1].mask(q, k, seq_len, kv_len, block)
        off = kv_len - seq_len
        d = k - q
        a = self.args
        if self.name == "full":
            return np.ones(np.broadcast(q, k).shape, dtype=bool)
        if self.name == "causal":
            return d <= off
        if self.name == "window":
            return (d <= off) & (d > off - a[0])
        if self.name == "sinks":
            return np.broadcast_to(k < a[0], np.broadcast(q, k).shape)
        if self.name == "global":
            return (q < a[0]) | (k < a[0])
        if self.name == "strided":
            return (off - d) % a[0] == 0
        if self.name == "vertical_slash":
            col, diag = max(kv_len // a[0], 1), max(seq_len // a[1], 1)
            vertical = (k % col == 0) & (k // col < a[0])
            back = off - d
            slash = (back >= 0) & (back % diag == 0) & (back // diag < a[1])
            return vertical | slash
        density, seed = a[0], (a[1] if len(a) > 1 else 0)
        return _hash_keep(q // block[0], k // block[1], seed, density)


def _fmt(a) -> str:
    if isinstance(a, float):
        return repr(a)
    for suffix, scale in (("m", 1 << 20), ("k", 1 << 10)):
        if a >= scale and a % scale == 0:
            return f"{a // scale}{suffix}"
    return str(a)


def _hash_keep(bi, bj, seed: int, density: float):
    """Deterministic per-tile coin: splitmix64 of (row, col, seed) below ``density``."""
    with np.errstate(over="ignore"):
        return _mix(np.asarray(bi, dtype=np.uint64), np.asarray(bj, dtype=np.uint64), seed, density)


def _mix(bi, bj, seed, density):
    x = (bi * np.uint64(0x9E3779B97F4A7C15)
         ^ bj * np.uint64(0xBF58476D1CE4E5B9) ^ np.uint64(seed) * np.uint64(0x94D049BB133111EB))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)) < density


# ---------------------------------------------------------------- parsing

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_]\w*)|(?P<num>\d+(?:\.\d*)?(?:[kKmM])?|\.\d+)|(?P<op>[&|(),]))")


def parse_pattern(text: str) -> Pattern:
    """Parse a mask expression; ``PatternError`` naming the bad token and position."""
    if not isinstance(text, str) or not text.strip():
        raise PatternError(f"empty pattern expression: use {', '.join(PATTERN_NAMES)} joined with & and |")
    tokens = _tokenize(text)
    pattern, pos = _or(tokens, 0, text)
    if pos != len(tokens):
        raise PatternError(f"bad pattern {text!r}: unexpected {tokens[pos][1]!r} at column {tokens[pos][2] + 1}")
    return pattern


def _tokenize(text: str) -> list:
    out, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if not m or m.end() == i:
            raise PatternError(f"bad pattern {text!r}: unexpected {text[i]!r} at column {i + 1}")
        kind = m.lastgroup
        out.append((kind, m.group(kind), m.start(kind)))
        i = m.end()
    return out


def _or(tokens, pos, text):
    left, pos = _and(tokens, pos, text)
    while pos < len(tokens) and tokens[pos][1] == "|":
        right, pos = _and(tokens, pos + 1, text)
        left = left | right
    return left, pos


def _and(tokens, pos, text):
    left, pos = _atom(tokens, pos, text)
    while pos < len(tokens) and tokens[pos][1] == "&":
        right, pos = _atom(tokens, pos + 1, text)
        left = left & right
    return left, pos


def _atom(tokens, pos, text):
    if pos >= len(tokens):
        raise PatternError(f"bad pattern {text!r}: expression ends early; expected a pattern name or '('")
    kind, value, col = tokens[pos]
    if value == "(":
        inner, pos = _or(tokens, pos + 1, text)
        if pos >= len(tokens) or tokens[pos][1] != ")":
            raise PatternError(f"bad pattern {text!r}: missing ')' for '(' at column {col + 1}")
        return inner, pos + 1
    if kind != "name" or value not in _ARITY:
        raise PatternError(f"bad pattern {text!r}: unknown {value!r} at column {col + 1}; allowed {', '.join(PATTERN_NAMES)}")
    args, pos = _args(tokens, pos + 1, text, value)
    lo, hi = _ARITY[value]
    if not lo <= len(args) <= hi:
        need = f"{lo}" if lo == hi else f"{lo} or {hi}"
        raise PatternError(f"bad pattern {text!r}: {value} takes {need} argument(s), got {len(args)}")
    return Pattern(value, _check_args(value, args, text)), pos


def _args(tokens, pos, text, name):
    if pos >= len(tokens) or tokens[pos][1] != "(":
        return [], pos
    args, pos = [], pos + 1
    while True:
        if pos >= len(tokens) or tokens[pos][0] != "num":
            where = f"column {tokens[pos][2] + 1}" if pos < len(tokens) else "the end"
            raise PatternError(f"bad pattern {text!r}: {name}( expects a number at {where}")
        args.append(tokens[pos][1])
        pos += 1
        if pos < len(tokens) and tokens[pos][1] == ",":
            pos += 1
            continue
        if pos < len(tokens) and tokens[pos][1] == ")":
            return args, pos + 1
        raise PatternError(f"bad pattern {text!r}: missing ')' after {name}(")


def _check_args(name, args, text):
    if name == "random_blocks":
        density = float(args[0])
        if not 0 < density <= 1:
            raise PatternError(f"bad pattern {text!r}: random_blocks density {args[0]} must be in (0, 1]")
        return (density,) + ((int(args[1]),) if len(args) > 1 else ())
    return tuple(parse_size(a, f"{name} size") for a in args)


# ---------------------------------------------------------------- lowering (re-exported) and fitting

from einsum_cascades.tiles import TileCounts, brute_force_counts, element_density, tile_counts  # noqa: E402

FIT_STEPS = 60  # bisection steps on the log of the scale factor


def _scaled(p: Pattern, alpha: float) -> Pattern:
    """Every size parameter scaled by ``alpha`` (strides by 1/alpha, densities capped at 1)."""
    if p.name in ("&", "|"):
        return Pattern(p.name, parts=tuple(_scaled(x, alpha) for x in p.parts))
    if p.name == "random_blocks":
        return Pattern(p.name, (min(1.0, p.args[0] * alpha),) + p.args[1:])
    if p.name == "strided":
        return Pattern(p.name, (max(1, round(p.args[0] / alpha)),))
    return Pattern(p.name, tuple(max(1, round(a * alpha)) for a in p.args))


def _has_size(p: Pattern) -> bool:
    return any(_has_size(x) for x in p.parts) if p.parts else bool(p.args)


def fit_pattern(text: str, sparsity: float, seq_len: int, kv_len: int, block_q: int, block_kv: int):
    """Scale the expression's sizes so its block sparsity gets as close as it can to ``sparsity``.

    Returns the fitted pattern and its tile counts; UserError if nothing can be scaled or the
    target is outside what the expression reaches (the message gives that range).
    """
    base = parse_pattern(text)
    if not _has_size(base):
        raise UserError(f"pattern {text!r} has no size to solve for --sparsity {sparsity}: "
                        f"use e.g. window(w), sinks(n), random_blocks(d)")
    target = 1.0 - sparsity

    def density(alpha):
        tc = tile_counts(_scaled(base, alpha), seq_len, kv_len, block_q, block_kv)
        return tc.block_density, tc

    lo, hi = -20.0, 20.0  # log2 of alpha
    d_lo, d_hi = density(2.0 ** lo)[0], density(2.0 ** hi)[0]
    if not d_lo - 1e-12 <= target <= d_hi + 1e-12:
        raise UserError(f"pattern {text!r} cannot reach sparsity {sparsity} at seq-len {seq_len}: "
                        f"its block sparsity ranges over [{1 - d_hi:.4f}, {1 - d_lo:.4f}]")
    for _ in range(FIT_STEPS):
        mid = (lo + hi) / 2
        if density(2.0 ** mid)[0] < target:
            lo = mid
        else:
            hi = mid
    candidates = [density(2.0 ** x) + (x,) for x in (lo, hi)]
    best = min(candidates, key=lambda c: abs(c[0] - target))
    return _scaled(base, 2.0 ** best[2]), best[1]
