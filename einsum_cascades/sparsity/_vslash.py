"""MInference's vertical-slash pattern, placed as its estimate finds it and lowered as its kernel runs it.

``vertical_slash(v, s[, place=log|even])``: v vertical key columns and s slash diagonals (distances behind the
aligned diagonal).

Placement. MInference (Jiang et al., arXiv 2407.02490, Sec. 3, "Vertical-Slash" heads) picks the lines per head
from the last 64 queries' attention: ``vertical_and_slash_kernel`` (microsoft/MInference @ fb56c917,
minference/modules/minference_forward.py) always keeps the first 30 columns (``vertical[...,:30] = inf``) and the
100 diagonals nearest the main one (``slash[...,-100:] = inf``), then the top-v columns and top-s diagonals of
the summed scores. In real models those lie where attention is heavy: columns near the start of the sequence
(attention sinks) and diagonals near the main one (locality), thinning with distance (the paper's Fig. 3 shows
the lines' spatial clustering). attnsim cannot know a model's scores, so ``place=log`` (the default) is its
model of that clustering: the forced lines, then the rest at equal numbers per doubling of distance (line
density falling as 1 / distance), reaching the far end with the last one. ``place=even`` spreads them evenly
(columns k = i * (kv_len // v), diagonals j * (seq_len // s)), the uniform synthetic pattern.

Lowering. ``causal&vertical_slash(v, s)`` standing alone is lowered as MInference's kernel runs it: the index of
``convert_vertical_slash_indexes`` (``_vslash_kernels``: slash segments merged into ranges covered by M x N blocks,
M x N the kernel's 64 x 64 tile) and the columns no range covers gathered N at a time into strips
(vllm-project/flash-attention csrc/flash_attn/src/flash_fwd_sparse_kernel.h, ``sparse_attn_1rowblock``: one pass
over the block list, then ``num_cols_block = ceil(num_cols / kBlockN)`` gathered K/V tiles). A row's tiles are
its blocks and strips; the kernel masks its first ``n_masking_steps`` blocks and last strips (the partial ones).
With ``place=even`` the pattern also combines with others (lowered as a mask on aligned tiles).
"""

import math
import sys
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from einsum_cascades.sparsity import _vslash_rows as vslash_rows
from einsum_cascades.sparsity._expr import Pattern, PatternError

NAME = "vertical_slash"
PLACES = ("log", "even")
DEFAULT_PLACE = "log"
FORCED_COLUMNS = 30  # minference_forward.py vertical_and_slash_kernel: vertical[..., :30] = torch.inf
FORCED_DIAGONALS = 100  # slash[..., -100:] = torch.inf: the 100 diagonals nearest the main one
VSLASH_KERNELS = "einsum_cascades.sparsity._vslash_kernels"


def columns(v: int, kv_len: int, place: str) -> np.ndarray:
    """The vertical lines' keys, ascending."""
    if place == "even":
        return _even(v, max(kv_len // v, 1), kv_len)
    return _log_spread(v, kv_len, FORCED_COLUMNS)


def diagonals(s: int, seq_len: int, kv_len: int, place: str) -> np.ndarray:
    """The slash lines' distances behind the aligned diagonal (0 = the diagonal itself), ascending."""
    if place == "even":
        return _even(s, max(seq_len // s, 1), kv_len)
    return _log_spread(s, kv_len, FORCED_DIAGONALS)


def _even(count: int, spacing: int, length: int) -> np.ndarray:
    """``count`` positions ``spacing`` apart from 0, those before ``length`` (never more than fit: a sparsity
    target scales the count up to 2**20 times, which had asked numpy for 2**34 positions)."""
    pos = np.arange(min(count, -(-length // max(spacing, 1))), dtype=np.int64) * spacing
    return pos[pos < length]


def _log_spread(count: int, length: int, forced: int) -> np.ndarray:
    """``count`` distinct positions in [0, length): the first min(count, forced) contiguous, then
    p_j = j + floor((length - count + 1) ** t_j) - 1 with t_j = (j - forced + 1) / (count - forced): geometric
    spacing (equal numbers of lines per doubling of distance), strictly increasing, the last at length - 1."""
    count = min(count, length)
    f = min(count, forced)
    j = np.arange(count, dtype=np.int64)
    if count == f:
        return j
    t = np.clip((j - f + 1) / (count - f), 0.0, 1.0)
    grow = np.floor(np.power(float(length - count + 1), t)).astype(np.int64) - 1
    return j + np.where(j < f, 0, grow)


@dataclass(frozen=True)
class VSlash:
    """A vertical-slash call: its line counts and placement."""

    v: int
    s: int
    place: str

    def lines(self, seq_len: int, kv_len: int) -> tuple[np.ndarray, np.ndarray]:
        return columns(self.v, kv_len, self.place), diagonals(self.s, seq_len, kv_len, self.place)


def resolve(p: Pattern) -> VSlash | None:
    """The call when ``p`` is causal&vertical_slash(...) alone (``full`` terms dropped), lowered as MInference's
    kernel; None when ``p`` has no vertical_slash or only evenly placed ones combined with other terms (a mask).
    PatternError for a clustered (place=log) vertical_slash anywhere else."""
    leaves = list(p.leaves())
    if not any(leaf.name == NAME for leaf in leaves):
        return None
    names = [leaf.name for leaf in leaves if leaf.name not in ("full", "dense")]
    vs = [leaf for leaf in leaves if leaf.name == NAME]
    if sorted(names) == ["causal", NAME] and _only_and(p):
        return VSlash(vs[0].args[0], vs[0].args[1], vs[0].args[2])
    if all(leaf.args[2] == "even" for leaf in vs):
        return None
    raise PatternError(f"pattern {p}: vertical_slash places its lines as MInference's estimate finds them "
                       f"(place=log) and is lowered as its causal kernel: write causal&vertical_slash(v,s) alone "
                       f"(--causal), or vertical_slash(v,s,place=even) for evenly spread lines in any expression")


def _only_and(p: Pattern) -> bool:
    return p.name != "|" and all(_only_and(x) for x in p.parts)


def masking_steps(block_q: int, block_kv: int) -> int:
    """Blocks (and strips) the kernel masks: flash_fwd_sparse_kernel.h ``n_masking_steps`` for a causal call,
    ceil(kBlockM / kBlockN) + 1 (its launch sets Is_even_MN false)."""
    return -(-block_q // block_kv) + 1


@lru_cache(maxsize=64)
def _chains(vs: VSlash, seq_len: int, kv_len: int, m: int, n: int):
    """Slashes descending, their chain (cut at gaps over 2m), the chains' first indices, blocks from each chain on,
    each chain's last range end and the chain covering each distance."""
    if kv_len + 3 * m + 1 > MAX_DISTANCES:  # the chains' distance map (``cover``): 4 bytes per key
        raise PatternError(f"vertical_slash({vs.v},{vs.s}) at {kv_len:,} keys maps every key distance to its "
                           f"slash chain, 4 bytes each; at most {MAX_DISTANCES:,} keys (2**28, 1 GiB): use a "
                           f"shorter sequence")
    cols, diags = vs.lines(seq_len, kv_len)
    x = np.ascontiguousarray(diags[::-1])
    cut = np.concatenate([[True], x[:-1] - x[1:] > 2 * m]) if x.size else np.zeros(0, bool)
    chain_of = np.cumsum(cut) - 1
    chain_start = np.flatnonzero(cut).astype(np.int64)
    max_dist = int(kv_len + 2 * m)
    _, blocks, last_db, cover = _index_code(x, chain_start, math.ceil(seq_len / m)).chain_ranges(
        x, chain_start, m, n, max_dist)
    suffix = np.concatenate([np.cumsum(blocks[::-1])[::-1], [0]]).astype(np.int64)
    return cols, x, chain_of.astype(np.int64), chain_start, suffix, last_db, cover


def index_counts(vs: VSlash, seq_len: int, kv_len: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block of m query rows: (slash blocks, kept columns) of the kernel's index."""
    cols, x, chain_of, chain_start, suffix, last_db, cover = _chains(vs, seq_len, kv_len, m, n)
    _check_work(vs, seq_len, m, chain_start, x.size)
    n_rows = math.ceil(seq_len / m)
    blocks, kept = _index_code(x, chain_start, n_rows).row_counts(x, chain_of, chain_start, suffix, last_db, cover,
                                                                  cols, n_rows, m, n, kv_len - seq_len)
    # a row's last range may reach m keys past its end key (i + 1) m + kv_len - seq_len: the last rows' ranges can
    # pass the last key (a short last row block's end lies past it already)
    first = max(0, seq_len // m - 1)  # the first row whose end + m can pass kv_len
    if first < n_rows:
        blocks = blocks.copy()
        for i in range(first, n_rows):
            blocks[i] = _clipped_blocks(x, cols, (i + 1) * m + kv_len - seq_len, m, n, kv_len)
    return blocks, kept


def _clipped_blocks(x, cols, end: int, m: int, n: int, kv_len: int) -> int:
    """Slash blocks of the row block ending at key ``end``, its ranges cut at the last key as vLLM's
    ``convert_vertical_slash_indexes`` cuts them (``save_blocks``: a range starting at or past kv_seqlen saves no
    block, one reaching past it stops there); MInference's own index, written for queries = keys, does not, and a
    row block of fewer queries than its rows (a decode step, or a short last block) had visited more tiles than the
    dense call ("25 of 8 tiles")."""
    if VSLASH_KERNELS in sys.modules:
        from einsum_cascades.sparsity._lowering import kernel

        ranges = np.zeros((x.size + 1, 2), np.int64)
        r, _ = kernel("row_index", "vslash_kernels")(x, cols, end, m, n, ranges)
        ranges = ranges[:r]
    else:  # the same ranges without loading numba (a first MInference point had compiled the kernels: 3.6 s)
        ranges = np.array(vslash_rows.row_ranges(x.tolist(), end, m), np.int64).reshape(-1, 2)
    return _cut_blocks(ranges, n, kv_len)


def _cut_blocks(ranges, n: int, kv_len: int) -> int:
    """Blocks of n keys the ranges [a, b) save once cut at the last key (``save_blocks``)."""
    a, b = ranges[:, 0], np.minimum(ranges[:, 1], kv_len)
    return int(np.sum(np.where(a < kv_len, -(-(b - a) // n), 0)))


class _Kernels:
    """The numba kernels' ``chain_ranges`` and ``row_counts``, said before a first compile."""

    @staticmethod
    def chain_ranges(*args):
        from einsum_cascades.sparsity._lowering import kernel

        return kernel("chain_ranges", "vslash_kernels")(*args)

    @staticmethod
    def row_counts(*args):
        from einsum_cascades.sparsity._lowering import kernel

        return kernel("row_counts", "vslash_kernels")(*args)


def _index_code(x, chain_start, n_rows: int):
    """Where the index is counted: in Python and numpy (``_vslash_rows``, the same steps) while the numba kernels
    are not loaded and its loops are short, else in the kernels."""
    if VSLASH_KERNELS not in sys.modules and vslash_rows.work(x, chain_start, n_rows) <= vslash_rows.WORK_LIMIT:
        return vslash_rows
    return _Kernels


MAX_STEPS = 1 << 28  # as _limits.MAX_STEPS: a few seconds of kernel time
MAX_DISTANCES = 1 << 28  # key distances the chains' map holds at most (1 GiB of int32)


def _check_work(vs, seq_len, m, chain_start, n_x) -> None:
    """Refuse a lowering whose rows would each walk more than a few seconds' worth of lines in total."""
    longest = int(np.max(np.diff(np.concatenate([chain_start, [n_x]])))) if n_x else 0
    steps = math.ceil(seq_len / m) * (longest + vs.v)
    if steps > MAX_STEPS:
        raise PatternError(f"vertical_slash({vs.v},{vs.s}) at {seq_len:,} queries in {m}-row blocks walks about "
                           f"{steps:.2g} lines; at most {MAX_STEPS:.2g}: use fewer lines or larger blocks")


def row_tiles(vs: VSlash, seq_len: int, kv_len: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(full, partial) tiles per row: its slash blocks and column strips, the masked ones partial."""
    blocks, cols = index_counts(vs, seq_len, kv_len, m, n)
    strips = -(-cols // n)
    steps = masking_steps(m, n)
    partial = np.minimum(blocks, steps) + np.minimum(strips, steps)
    return blocks + strips - partial, partial


def brute_force_rows(vs: VSlash, seq_len: int, kv_len: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(slash blocks, kept columns) per row from the kernel's own loop, row by row (the reference), each range cut at
    the last key as vLLM's ``save_blocks`` cuts it (``_clipped_blocks``)."""
    from einsum_cascades.sparsity._lowering import kernel

    cols, diags = vs.lines(seq_len, kv_len)
    x = np.ascontiguousarray(diags[::-1])
    ranges = np.zeros((x.size + 1, 2), np.int64)
    rows = math.ceil(seq_len / m)
    blocks, kept = np.zeros(rows, np.int64), np.zeros(rows, np.int64)
    for i in range(rows):
        r, kept[i] = kernel("row_index", "vslash_kernels")(x, cols, (i + 1) * m + kv_len - seq_len, m, n, ranges)
        blocks[i] = _cut_blocks(ranges[:r], n, kv_len)
    return blocks, kept


def element_count(vs: VSlash, seq_len: int, kv_len: int) -> float:
    """Attended elements of causal&vertical_slash: per query at key p, the columns <= p and the diagonals <= p, less
    the elements on both (column v and diagonal x meet at p = v + x)."""
    cols, diags = vs.lines(seq_len, kv_len)
    p0, p1 = kv_len - seq_len, kv_len - 1  # the aligned key positions of the first and last query

    def below(lines):  # sum over p of the lines at or before p
        return float(np.sum(np.maximum(0, p1 - np.maximum(lines, p0) + 1)))

    both = np.searchsorted(cols, p1 - diags, side="right") - np.searchsorted(cols, p0 - diags, side="left")
    return below(cols) + below(diags) - float(np.sum(np.maximum(both, 0)))


def mask(args, q, k, seq_len: int, kv_len: int):
    """Element mask on index arrays: a column, or a diagonal at or behind the aligned one."""
    vs = VSlash(*args)
    cols, diags = vs.lines(seq_len, kv_len)
    back = q + (kv_len - seq_len) - k
    return _member(k, cols) | ((back >= 0) & _member(back, diags))


def _member(values, sorted_set: np.ndarray):
    if sorted_set.size == 0:
        return np.zeros(np.shape(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), sorted_set.size - 1)
    return sorted_set[pos] == values


def reached(vs: VSlash, seq_len: int, kv_len: int, n: int, first_query: int, m: int) -> int:
    """Key blocks of N keys the queries from ``first_query`` on may load: the columns' blocks and every block
    the slash ranges of their rows cover (each distance x sweeps keys [e0 - x - m, e1 - x))."""
    cols, diags = vs.lines(seq_len, kv_len)
    off = kv_len - seq_len
    e0 = (first_query // m + 1) * m + off
    e1 = math.ceil(seq_len / m) * m + off
    if first_query >= seq_len:
        return 0
    lo = np.clip(e0 - diags - m, 0, kv_len - 1)
    hi = np.clip(e1 - diags - 1, 0, kv_len - 1)
    firsts = np.concatenate([lo // n, cols[cols < e1] // n])
    lasts = np.concatenate([hi // n, cols[cols < e1] // n])
    from einsum_cascades.sparsity._lowering import _union_size

    return _union_size(firsts, lasts)


def tile_states(vs: VSlash, seq_len: int, kv_len: int, m: int, n: int, pool: int = 1) -> np.ndarray:
    """Aligned m x n tiles the kernel's blocks and strips touch, as states (1 partial: a block or column crosses
    the tile; its elements are the mask's): for pictures, pooled by the densest state per pool x pool cell."""
    from einsum_cascades.sparsity._lowering import kernel

    cols, diags = vs.lines(seq_len, kv_len)
    x = np.ascontiguousarray(diags[::-1])
    n_rows, n_cols = math.ceil(seq_len / m), math.ceil(kv_len / n)
    out = np.zeros((-(-n_rows // pool), -(-n_cols // pool)), np.int8)
    ranges = np.zeros((x.size + 1, 2), np.int64)
    for i in range(n_rows):
        e = (i + 1) * m + kv_len - seq_len
        r, _ = kernel("row_index", "vslash_kernels")(x, cols, e, m, n, ranges)
        row = out[i // pool]
        for a, b in ranges[:r]:
            row[max(a, 0) // n // pool: min(b - 1, kv_len - 1) // n // pool + 1] = 1
        row[cols[cols < e] // n // pool] = 1
    return out
