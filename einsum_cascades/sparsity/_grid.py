"""Neighborhood attention over a token grid (``window2d``, ``window3d``), lowered on the grid tiles of
NATTEN's fused kernels.

Tokens are a row-major grid (T x) H x W. Along each axis of length L with kernel K and stride S, a query
at i attends the keys start(i) .. start(i) + K - 1, where (NATTEN's reference mask,
csrc/include/natten/cuda/reference/mask.hpp, ``get_win_start``, non-causal branch)

    leader   = min((i // S) * S + S // 2, L - 1)          # the stride group's leader
    start(i) = clamp(leader - K // 2, 0, L - K)

so the window is shifted, not cut, at the borders and every query sees exactly prod(K) keys. S > 1 is
Generalized Neighborhood Attention (Hassani et al., arXiv 2504.16922): the S queries of a group share
their leader's window. A token attends a key iff it does so along every axis.

Fused kernels (NATTEN's Hopper and Blackwell FNA, natten/backends/{hopper,blackwell}_fna.py) permute the
tokens so that a tile is a patch of the grid, padding every axis to a multiple of the tile shape
(natten/token_permute/torch_impl.py, ``_maybe_pad``), run a 1-D attention kernel over the patches and
permute the output back. The mask being a product over axes, a (query patch, key patch) tile is full
iff it is full along every axis and empty iff it is empty along some axis: per axis, a patch of queries
i0..i1 touches keys start(i0) .. start(i1) + K - 1 (start is monotone and steps by at most S <= K), and
covers start(i1) .. start(i0) + K - 1 whole. Every count is a product of per-axis closed forms.
"""

import math
from dataclasses import dataclass

import numpy as np

from einsum_cascades.sparsity._expr import GRIDS, Pattern, PatternError

# The patch shape of a tile of 2**n tokens: NATTEN's default forward tiles, per rank and tokens
# (natten/backends/configs/cutlass_hopper/__init__.py HOPPER_FORWARD_CONFIGS, first entry per head dim:
# 2-D 64 -> (8, 8), 128 -> (16, 8); 3-D 64 -> (4, 4, 4), 128 -> (4, 4, 8); and
# cutlass_blackwell/__init__.py _get_default_tile_shapes_forward: 2-D 256 -> (16, 16), 3-D 256 -> (8, 4, 8)).
# They double one axis at a time in this order, which ``tile_shape`` follows for other powers of two.
NATTEN_TILES = {2: {64: (8, 8), 128: (16, 8), 256: (16, 16)}, 3: {64: (4, 4, 4), 128: (4, 4, 8), 256: (8, 4, 8)}}
_DOUBLING = {2: (0, 1), 3: (2, 0, 1)}  # the axis each doubling grows, in turn (64 -> 128 -> 256 above)


def tile_shape(rank: int, tokens: int) -> tuple:
    """The grid patch of a ``tokens``-token tile: NATTEN's shape where it has one; another power of two grows
    from all-ones by doubling the axes in NATTEN's order; any other size (no NATTEN kernel has one) takes
    the squarest factorisation, larger factors first (attnsim's choice)."""
    if tokens in NATTEN_TILES[rank]:
        return NATTEN_TILES[rank][tokens]
    if tokens & (tokens - 1) == 0:
        shape = [1] * rank
        for n in range(tokens.bit_length() - 1):
            shape[_DOUBLING[rank][n % rank]] *= 2
        return tuple(shape)
    return max(_factorisations(tokens, rank), key=lambda f: sorted(f))


def _factorisations(n: int, rank: int):
    """Every way to write n as ``rank`` factors, in non-increasing order."""
    if rank == 1:
        yield (n,)
        return
    for f in range(n, 0, -1):
        if n % f == 0 and f ** rank >= n:
            for rest in _factorisations(n // f, rank - 1):
                if rest[0] <= f:
                    yield (f,) + rest


@dataclass(frozen=True)
class GridTiling:
    """How a grid pattern is tiled: what the simulator needs to charge the token permutation.

    Queries are permuted into ``q_tile`` patches and keys/values into ``kv_tile`` patches, each axis padded
    to a multiple of the patch; the output (and its log-sum-exp) is permuted back. Tiles are numbered
    with the first axis fastest, as NATTEN's Hopper/Blackwell kernels order them (flip_tiled_dims=True).
    """

    grid: tuple
    kernel: tuple
    stride: tuple
    q_tile: tuple
    kv_tile: tuple

    @property
    def q_tiles_per_axis(self) -> tuple:
        return tuple(-(-g // t) for g, t in zip(self.grid, self.q_tile))

    @property
    def kv_tiles_per_axis(self) -> tuple:
        return tuple(-(-g // t) for g, t in zip(self.grid, self.kv_tile))

    @property
    def padded_q_tokens(self) -> int:
        """Query tokens after padding to whole patches: what the permuted Q and O hold."""
        return math.prod(self.q_tiles_per_axis) * math.prod(self.q_tile)

    @property
    def padded_kv_tokens(self) -> int:
        """Key tokens after padding to whole patches: what the permuted K and V hold."""
        return math.prod(self.kv_tiles_per_axis) * math.prod(self.kv_tile)

    @property
    def needs_permute(self) -> bool:
        """False only when every patch is a run of whole rows (then row-major order is tile order)."""
        return any(t != g for tiles in (self.q_tile, self.kv_tile) for t, g in zip(tiles[1:], self.grid[1:]))


def resolve(p):
    """``p`` with ``full`` simplified away around any window2d / window3d: the grid leaf itself, or an
    expression without one (``full|window2d(...)`` is ``full``). PatternError when a grid is combined with
    anything else: its tiles are patches of its own grid."""
    if not any(leaf.name in GRIDS for leaf in p.leaves()):
        return p
    q = _without_full(p)
    if q is None:
        return Pattern("full")
    if q.name in GRIDS or not any(leaf.name in GRIDS for leaf in q.leaves()):
        return q
    raise PatternError(f"pattern {p}: window2d / window3d are neighborhood attention lowered on grid patches "
                       f"and combine with nothing but full (no causal, & or |); allowed e.g. window2d(64,64,7,7)")


def _without_full(p):
    """``p`` with ``full & x`` -> x and ``full | x`` -> full (None stands for full)."""
    if p.name == "full":
        return None
    if p.name not in ("&", "|"):
        return p
    left, right = (_without_full(x) for x in p.parts)
    if p.name == "&":
        return right if left is None else left if right is None else left & right
    return None if left is None or right is None else left | right


def tiling(leaf, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> GridTiling:
    """The grid tiling of a window2d / window3d leaf at (block_q, block_kv)-token tiles; PatternError when
    the grid does not hold exactly the queries and the keys."""
    rank = GRIDS[leaf.name]
    grid, kernel, stride = leaf.args[:rank], leaf.args[rank:2 * rank], leaf.args[2 * rank:3 * rank]
    tokens = math.prod(grid)
    if seq_len != tokens or kv_len != tokens:
        raise PatternError(f"pattern {leaf}: its grid {'x'.join(map(str, grid))} holds {tokens} tokens, but seq-len is "
                           f"{seq_len} and kv-len {kv_len}; both must be {tokens}")
    stated = leaf.args[3 * rank:]
    if not stated:
        return GridTiling(grid, kernel, stride, tile_shape(rank, block_q), tile_shape(rank, block_kv))
    q_tile, kv_tile = stated[:rank], stated[rank:]
    if math.prod(q_tile) != block_q or math.prod(kv_tile) != block_kv:
        raise PatternError(f"pattern {leaf}: its q_tile holds {math.prod(q_tile)} tokens and its kv_tile "
                           f"{math.prod(kv_tile)}, but the kernel's tile is {block_q} queries x {block_kv} keys; "
                           f"allowed: tile shapes of {block_q} and {block_kv} tokens (NATTEN fills its kernel's tile)")
    return GridTiling(grid, kernel, stride, q_tile, kv_tile)


def window_start(i, length: int, kernel: int, stride: int):
    """First key of query i's window along one axis (NATTEN's ``get_win_start``, non-causal)."""
    i = np.asarray(i, dtype=np.int64)
    leader = np.minimum(i // stride * stride + stride // 2, length - 1)
    return np.clip(leader - kernel // 2, 0, length - kernel)


def grid_mask(args, rank: int, q, k):
    """Element mask of window2d / window3d on row-major token indices q and k."""
    grid, kernel, stride = args[:rank], args[rank:2 * rank], args[2 * rank:3 * rank]
    out = np.ones((), dtype=bool)
    for axis in range(rank - 1, -1, -1):  # the last axis varies fastest in row-major order
        length = grid[axis]
        qi, ki = q % length, k % length
        q, k = q // length, k // length
        start = window_start(qi, length, kernel[axis], stride[axis])
        out = out & (ki >= start) & (ki < start + kernel[axis])
    return out


def axis_ranges(length, kernel, stride, q_tile, kv_tile):
    """Per query patch along one axis: key patches touched (lo, hi) and covered whole (flo, fhi; none when
    flo > fhi)."""
    first = np.arange(0, length, q_tile)
    last = np.minimum(first + q_tile, length) - 1
    s0, s1 = window_start(first, length, kernel, stride), window_start(last, length, kernel, stride)
    n_kv = -(-length // kv_tile)
    lo, hi = s0 // kv_tile, (s1 + kernel - 1) // kv_tile
    flo = -(-s1 // kv_tile)
    fhi = np.where(s0 + kernel >= length, n_kv - 1, (s0 + kernel) // kv_tile - 1)
    return lo, hi, flo, fhi


def _ranges(t: GridTiling):
    return [axis_ranges(g, k, s, tq, tk) for g, k, s, tq, tk in zip(t.grid, t.kernel, t.stride, t.q_tile, t.kv_tile)]


def _outer(per_axis) -> np.ndarray:
    """Product over axes of per-axis counts, flattened with the first axis fastest."""
    out = np.ones(1, dtype=np.int64)
    for counts in per_axis:
        out = np.multiply.outer(np.asarray(counts, dtype=np.int64), out).ravel()
    return out


def row_counts(t: GridTiling) -> tuple[np.ndarray, np.ndarray]:
    """(full, partial) key tiles of every query tile, in tile order."""
    ranges = _ranges(t)
    full = _outer([np.maximum(fhi - flo + 1, 0) for _, _, flo, fhi in ranges])
    touched = _outer([hi - lo + 1 for lo, hi, _, _ in ranges])
    return full, touched - full


def element_count(t: GridTiling) -> int:
    """Attended elements: every query sees exactly prod(kernel) keys (the window is shifted at borders)."""
    return math.prod(t.grid) * math.prod(t.kernel)


def reached(t: GridTiling, first_q_tile: int) -> int:
    """Key tiles that the query tiles from ``first_q_tile`` on (in tile order) attend some key of.

    The tiles from there on are at most ``rank`` boxes of tile coordinates; a box reaches a product of
    per-axis key-patch ranges (contiguous and monotone), and the boxes' reaches are united by
    inclusion-exclusion.
    """
    n = t.q_tiles_per_axis
    if first_q_tile >= math.prod(n):
        return 0
    coord, rest = [], max(first_q_tile, 0)
    for size in n:
        coord.append(rest % size)
        rest //= size
    boxes = []  # box j: axes above j at their coordinate, axis j past it (axis 0: from it), axes below j free
    for j in range(len(n)):
        first = coord[j] + (j > 0)
        if first < n[j]:
            boxes.append([(0, n[a] - 1) for a in range(j)] + [(first, n[j] - 1)] + [(c, c) for c in coord[j + 1:]])
    ranges = _ranges(t)
    reach = [[(ranges[a][0][b[0]], ranges[a][1][b[1]]) for a, b in enumerate(box)] for box in boxes]
    total = 0
    for subset in range(1, 1 << len(reach)):
        members = [r for i, r in enumerate(reach) if subset >> i & 1]
        size = 1
        for axis in range(len(n)):
            lo, hi = max(m[axis][0] for m in members), min(m[axis][1] for m in members)
            size *= max(hi - lo + 1, 0)
        total += size if len(members) % 2 else -size
    return total


def pooled_states(t: GridTiling, pool: int, pool_states) -> np.ndarray:
    """Highest tile state (0 empty, 1 partial, 2 full) in each pool x pool group of tiles, tiles in tile order
    (``pool_states``: ``_grid_kernels.pool_states``, which visits every touched tile)."""
    rank = len(t.grid)  # a missing third axis: one patch, touched and covered whole
    r = [np.array(x, dtype=np.int64) for x in _ranges(t)] + [np.zeros((4, 1), np.int64)] * (3 - rank)
    m = t.kv_tiles_per_axis + (1,) * (3 - rank)
    n_q, n_kv = math.prod(t.q_tiles_per_axis), math.prod(t.kv_tiles_per_axis)
    out = np.zeros((-(-n_q // pool), -(-n_kv // pool)), np.int8)
    return pool_states(r[0], r[1], r[2], m[0], m[1], out, pool)
