"""Mask expressions: the ``Pattern`` tree and its element mask (the parser is ``_parse``)."""

from dataclasses import dataclass

import numpy as np

from einsum_cascades.errors import UserError
from einsum_cascades.units import format_size

PATTERN_NAMES = ("causal", "window", "chunked", "sinks", "global", "strided", "vertical_slash", "random_blocks",
                 "topk", "budget", "window2d", "window3d", "full", "dense")
SELECTORS = ("topk", "budget")  # keep key blocks chosen per query-block row (``_select``)
FULL = ("full", "dense")  # every key: the unit of & and the zero of |
GRIDS = {"window2d": 2, "window3d": 3}  # neighborhood attention over a token grid of this rank (``_grid``)
DEFAULT_RANDOM_BLOCK = (128, 128)  # coin block of random_blocks when an element mask is asked without a tile shape


class PatternError(UserError):
    """A malformed pattern expression: names the bad token, its column and what is allowed."""


@dataclass(frozen=True)
class Pattern:
    """A node of a mask expression: a primitive ``name(args)``, or ``name`` in {'&', '|'} over two ``parts``."""

    name: str
    args: tuple = ()
    parts: tuple = ()

    def __and__(self, other):  # A & A is A: the same mask, so the same kernel path (causal&causal ran apart)
        if self.name in FULL or other.name in FULL:  # full & A is A
            return other if self.name in FULL else self
        if self.name == other.name == "window":  # two bands about the diagonal: the band of the tighter sides
            return _window_band(self, other, min)
        absorbs = other.name == "|" and self in other.parts or self.name == "|" and other in self.parts
        if absorbs and _plain(self, other):
            return self if other.name == "|" else other  # absorption: A & (A | B) is A
        return self if self == other else Pattern("&", parts=(self, other))

    def __or__(self, other):  # A | A is A
        if self.name in FULL or other.name in FULL:  # full | A is full
            return self if self.name in FULL else other
        if self.name == other.name == "window":  # two bands about the diagonal: the band of the wider sides, one
            return _window_band(self, other, max)  # window FlashAttention runs as its own (not a union's kernel)
        absorbs = other.name == "&" and self in other.parts or self.name == "&" and other in self.parts
        if absorbs and _plain(self, other):
            return self if other.name == "&" else other  # absorption: A | (A & B) is A
        common = [x for x in self.parts if x in other.parts] if self.name == other.name == "&" else []
        if common and _plain(self, other):
            a = common[0]  # A & B | A & C is A & (B | C): causal&window(4k)|causal&window(2k) is causal&window(4k)
            rest = [next(x for x in p.parts if x != a) if p.parts.count(a) == 1 else a for p in (self, other)]
            return a & (rest[0] | rest[1])
        return self if self == other else Pattern("|", parts=(self, other))

    def __str__(self):
        if self.name in ("&", "|"):  # operators associate left: a right operand of the same or lower rank needs ()
            left, right = self.parts
            left_text = f"({left})" if left.name == "|" and self.name == "&" else str(left)
            return f"{left_text}{self.name}({right})" if right.name in ("&", "|") and (
                right.name == self.name or self.name == "&") else f"{left_text}{self.name}{right}"
        if self.name == "heads":  # per-head groups: count, then the group's pattern
            return f"heads({','.join(f'{n}:{part}' for n, part in zip(self.args, self.parts))})"
        if self.name == "random_blocks":  # density and seed print as plain numbers
            return f"{self.name}({','.join(repr(a) for a in self.args)})"
        if self.name == "vertical_slash":  # sizes, then the placement when it is not the default
            sizes = ",".join(format_size(a) for a in self.args[:2])
            return f"{self.name}({sizes}" + (f",place={self.args[2]})" if self.args[2] != "log" else ")")
        if self.name in SELECTORS:  # the seed prints as a plain number
            return f"{self.name}({','.join([format_size(self.args[0])] + [str(a) for a in self.args[1:]])})"
        if self.name in GRIDS:  # sizes, then the stride when it is not all ones, then the tiles if stated
            rank = GRIDS[self.name]
            text, stride = ",".join(format_size(a) for a in self.args[:2 * rank]), self.args[2 * rank:3 * rank]
            tiles = self.args[3 * rank:]
            extra = ([f"stride=({','.join(map(str, stride))})"] if set(stride) != {1} else []) + \
                ([f"q_tile=({','.join(map(str, tiles[:rank]))})", f"kv_tile=({','.join(map(str, tiles[rank:]))})"]
                 if tiles else [])
            return f"{self.name}({','.join([text] + extra)})"
        return f"{self.name}({','.join(format_size(a) for a in self.args)})" if self.args else self.name

    def leaves(self):
        """The primitives of the expression, left to right (preorder)."""
        if self.name in ("&", "|", "heads"):
            for part in self.parts:
                yield from part.leaves()
        else:
            yield self

    def _nodes(self):
        yield self
        for part in self.parts:
            yield from part._nodes()

    def mask(self, q, k, seq_len: int, kv_len: int, block=DEFAULT_RANDOM_BLOCK) -> np.ndarray:
        """Element mask (True = attended) on broadcasting query / key index arrays.

        ``block`` binds the coin block of ``random_blocks`` and the key blocks topk and budget keep:
        one coin or choice per ``block[0] x block[1]`` tile; lowering passes its own tile shape.
        """
        if any(node.name == "heads" for node in self._nodes()):
            raise PatternError(f"pattern {self}: heads(...) gives each head group its own mask; take the mask of a "
                               f"group (head_groups), not of the mix")
        q, k = np.asarray(q, dtype=np.int64), np.asarray(k, dtype=np.int64)
        picks = iter(())
        if any(leaf.name in SELECTORS for leaf in self.leaves()):
            from einsum_cascades.sparsity._select import selection_masks

            picks = iter(selection_masks(self, q, k, seq_len, kv_len, block))
        return self._mask(q, k, seq_len, kv_len, block, picks)

    def _mask(self, q, k, seq_len, kv_len, block, picks):
        if self.name in ("&", "|"):
            left, right = (p._mask(q, k, seq_len, kv_len, block, picks) for p in self.parts)
            return left & right if self.name == "&" else left | right
        shape = np.broadcast(q, k).shape
        if self.name in SELECTORS:  # the key blocks chosen for it, in the order the leaves come
            return np.broadcast_to(next(picks), shape)
        return np.broadcast_to(_primitive_mask(self.name, self.args, q, k, seq_len, kv_len, block), shape)


def _plain(*patterns) -> bool:
    """Whether no topk or budget is in the patterns: which key blocks a selector draws depends on what it is
    intersected with, so the rewrites that move terms (absorption, factoring) leave an expression holding one as
    written."""
    return not any(leaf.name in SELECTORS for p in patterns for leaf in p.leaves())


def _window_band(a: "Pattern", b: "Pattern", pick) -> "Pattern":
    """``a & b`` (pick min) or ``a | b`` (pick max) of two windows as one window: each is the band of keys from l
    before the query's aligned position to r after it, ``window(w)`` being (w - 1, 0), and both hold the diagonal,
    so their intersection and their union are bands too, of the tighter and of the wider sides."""
    if len(a.args) == len(b.args) == 1:
        return Pattern("window", (pick(a.args[0], b.args[0]),))
    (la, ra), (lb, rb) = (p.args if len(p.args) == 2 else (p.args[0] - 1, 0) for p in (a, b))
    return Pattern("window", (pick(la, lb), pick(ra, rb)))


def _primitive_mask(name, a, q, k, seq_len, kv_len, block):
    """One primitive on index arrays; ``back`` = (q + kv_len - seq_len) - k is the distance behind the diagonal."""
    back = q + (kv_len - seq_len) - k
    if name == "full":
        return np.ones((), dtype=bool)
    if name == "causal":
        return back >= 0
    if name == "window" and len(a) == 2:  # l keys before the query's aligned position, r after it
        return (back >= -a[1]) & (back <= a[0])
    if name == "window":
        return (back >= 0) & (back < a[0])
    if name == "chunked":  # the query's aligned position and the key in the same block of w positions
        return k // a[0] == (q + (kv_len - seq_len)) // a[0]
    if name in GRIDS:
        from einsum_cascades.sparsity._grid import grid_mask

        return grid_mask(a, GRIDS[name], q, k)
    if name == "sinks":
        return k < a[0]
    if name == "global":  # the first n positions, a query's aligned as causal's (the queries end the sequence)
        return (q + (kv_len - seq_len) < a[0]) | (k < a[0])
    if name == "strided":
        return back % a[0] == 0
    if name == "vertical_slash":
        from einsum_cascades.sparsity._vslash import mask

        return mask(a, q, k, seq_len, kv_len)
    return keep_blocks(q // block[0], k // block[1], a[1] if len(a) > 1 else 0, a[0])


def vertical_spacing(kv_len: int, v: int) -> int:
    """Key distance between the v vertical columns of vertical_slash(v, s, place=even): evenly spread from key 0."""
    return max(kv_len // v, 1)


def slash_spacing(seq_len: int, s: int) -> int:
    """Distance between the s slash diagonals of vertical_slash(v, s, place=even), behind the aligned diagonal."""
    return max(seq_len // s, 1)


# splitmix64 finaliser constants (Steele et al., "Fast splittable pseudorandom number generators", 2014)
_GOLDEN, _MIX1, _MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def coin_threshold(density: float) -> int:
    """A tile is kept when its 53-bit hash is below this: exactly ``density * 2**53`` rounded up."""
    return int(np.ceil(density * float(1 << 53)))


def keep_blocks(bi, bj, seed: int, density: float) -> np.ndarray:
    """The random_blocks coin of block (bi, bj): a splitmix64 hash of (bi, bj, seed) below ``density``."""
    return keep_below(bi, bj, seed, coin_threshold(density))


def keep_below(bi, bj, seed: int, threshold: int) -> np.ndarray:
    """The coin of block (bi, bj) whose 53-bit hash must be below ``threshold`` (see ``coin_threshold``)."""
    return hash53(bi, bj, seed) < np.uint64(threshold)


def hash53(bi, bj, seed: int) -> np.ndarray:
    """53 random bits of (bi, bj, seed), broadcast: the splitmix64 finaliser of the numba kernels'
    ``_tile_state.hash53(row_key(bi, seed), bj)``."""
    u = np.uint64
    with np.errstate(over="ignore"):
        bi, bj = np.asarray(bi).astype(u), np.asarray(bj).astype(u)
        x = bi * u(_GOLDEN) ^ bj * u(_MIX1) ^ u(seed) * u(_MIX2)
        x = (x ^ (x >> u(30))) * u(_MIX1)
        x = (x ^ (x >> u(27))) * u(_MIX2)
        x = x ^ (x >> u(31))
    return x >> u(11)
