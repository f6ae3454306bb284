"""Lowering a mask to tiles: full / partial / empty counts per query-block row.

The expression is put in disjunctive normal form; each term is a *box*
(intervals on d = k - q, on k and on q: causal, window, sinks and global are
such constraints) and at most a few *sparse sets* (strided, vertical, slash,
random tiles). Per block row, each box gives its full range of key blocks and
its non-empty range in closed form; only boundary tiles and tiles of sparse
terms are examined one by one (numba), and a tile that two partial terms might
jointly cover is settled element by element. So 1M tokens at 64-wide tiles
costs about one operation per block row for structured patterns.
"""

import math
from dataclasses import dataclass
import numpy as np

BIG = 1 << 60
# sparse-set kinds
STRIDED, VERTICAL, SLASH, RANDOM = 1, 2, 3, 4


@dataclass(frozen=True)
class TileCounts:
    """Tile states of a mask lowered at (block_q, block_kv)."""

    seq_len: int
    kv_len: int
    block_q: int
    block_kv: int
    full: int
    partial: int
    empty: int
    row_full: np.ndarray
    row_partial: np.ndarray

    @property
    def n_q_blocks(self) -> int:
        return math.ceil(self.seq_len / self.block_q)

    @property
    def n_kv_blocks(self) -> int:
        return math.ceil(self.kv_len / self.block_kv)

    @property
    def total(self) -> int:
        return self.n_q_blocks * self.n_kv_blocks

    @property
    def block_density(self) -> float:
        return (self.full + self.partial) / self.total


def _dnf(p) -> list[list]:
    """The expression as a list of conjunctions of primitives (global and vertical_slash split in two)."""
    if p.name == "|":
        return _dnf(p.parts[0]) + _dnf(p.parts[1])
    if p.name == "&":
        return [a + b for a in _dnf(p.parts[0]) for b in _dnf(p.parts[1])]
    if p.name == "global":
        return [[("q<", p.args[0])], [("k<", p.args[0])]]
    if p.name == "vertical_slash":
        return [[("vertical", p.args[0])], [("slash", p.args[1])]]
    return [[(p.name, *p.args)]]


def compile_terms(p, seq_len: int, kv_len: int, random_block=(128, 128)):
    """DNF terms as arrays: T[t] = (dlo, dhi, klo, khi, qlo, qhi, n_sparse, first_sparse);
    S[i] = (kind, a, b, rows, cols) where random tiles flip one coin per ``random_block``."""
    off = kv_len - seq_len
    terms, sparse, density = [], [], []
    for conj in _dnf(p):
        box = [-BIG, BIG, 0, BIG, 0, BIG]
        first = len(sparse)
        for atom in conj:
            name, args = atom[0], atom[1:]
            if name == "causal":
                box[1] = min(box[1], off)
            elif name == "window":
                box[0], box[1] = max(box[0], off - args[0] + 1), min(box[1], off)
            elif name == "sinks" or name == "k<":
                box[3] = min(box[3], args[0] - 1)
            elif name == "q<":
                box[5] = min(box[5], args[0] - 1)
            elif name == "strided":
                sparse.append((STRIDED, args[0], 0, 1, 1)), density.append(0.0)
            elif name == "vertical":
                sparse.append((VERTICAL, max(kv_len // args[0], 1), args[0], 1, 1)), density.append(0.0)
            elif name == "slash":
                sparse.append((SLASH, max(seq_len // args[0], 1), args[0], 1, 1)), density.append(0.0)
            elif name == "random_blocks":
                sparse.append((RANDOM, args[1] if len(args) > 1 else 0, 0, *random_block)), density.append(args[0])
        terms.append(box + [len(sparse) - first, first])
    s = np.array(sparse, dtype=np.int64).reshape(-1, 5)
    return np.array(terms, dtype=np.int64), s, np.array(density, dtype=np.float64)


def tile_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """Full / partial / empty tiles of pattern ``p`` at tile shape (block_q, block_kv)."""
    terms, sparse, density = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    row_full, row_partial = _kernel()(seq_len, kv_len, block_q, block_kv, terms, sparse, density)
    n_kv = math.ceil(kv_len / block_kv)
    full, partial = int(row_full.sum()), int(row_partial.sum())
    return TileCounts(seq_len, kv_len, block_q, block_kv, full, partial,
                      row_full.size * n_kv - full - partial, row_full, row_partial)


def brute_force_counts(p, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> TileCounts:
    """The same counts from the whole element mask: the reference every fast path is tested against."""
    q, k = np.arange(seq_len)[:, None], np.arange(kv_len)[None, :]
    m = p.mask(q, k, seq_len, kv_len, block=(block_q, block_kv))
    nq, nk = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    row_full, row_partial = np.zeros(nq, dtype=np.int64), np.zeros(nq, dtype=np.int64)
    for i in range(nq):
        for j in range(nk):
            tile = m[i * block_q:(i + 1) * block_q, j * block_kv:(j + 1) * block_kv]
            row_full[i] += tile.all()
            row_partial[i] += tile.any() and not tile.all()
    full, partial = int(row_full.sum()), int(row_partial.sum())
    return TileCounts(seq_len, kv_len, block_q, block_kv, full, partial, nq * nk - full - partial, row_full, row_partial)


EXACT_ELEMENT_LIMIT = 1 << 20  # above this, patterns with sparse sets estimate density from sampled rows
DENSITY_SAMPLE_ROWS = 64


def element_density(p, seq_len: int, kv_len: int, random_block=(128, 128)) -> float:
    """Fraction of True elements: exact for interval patterns at any size (closed form per row) and for
    everything up to 2**20 elements; beyond that, patterns with sparse sets (strided, vertical/slash,
    random tiles with coins per ``random_block``) are counted on 64 evenly spaced query rows."""
    terms, sparse, density = compile_terms(p, seq_len, kv_len, random_block)
    if not terms[:, 6].any() or seq_len * kv_len <= EXACT_ELEMENT_LIMIT:
        row_full, _ = _kernel()(seq_len, kv_len, 1, 1, terms, sparse, density)
        return row_full.sum() / (float(seq_len) * kv_len)
    keys = np.arange(kv_len)
    rows = np.linspace(0, seq_len - 1, DENSITY_SAMPLE_ROWS).astype(np.int64)
    return float(np.mean([p.mask(q, keys, seq_len, kv_len, block=random_block).mean() for q in rows]))


def tile_grid(p, seq_len: int, kv_len: int, block_q: int, block_kv: int, rows, cols) -> np.ndarray:
    """States (0 empty, 1 partial, 2 full) of the tiles at block rows x block columns given."""
    from einsum_cascades._tile_kernels import states

    terms, sparse, density = compile_terms(p, seq_len, kv_len, (block_q, block_kv))
    return states(seq_len, kv_len, block_q, block_kv, terms, sparse, density,
                  np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))


def _kernel():
    from einsum_cascades._tile_kernels import lower

    return lower
