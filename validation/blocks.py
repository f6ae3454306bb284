"""Block lists of the block-sparse fused kernel: a mask lowered to the tiles the kernel visits.

Per query block, a CSR list of the key blocks that hold at least one attended element, and per
entry either "full" (-1: no element mask) or the index of a ``block_q x block_kv`` uint8 element
mask (1 = attend) of that partial tile. Keys past kv_len are masked by the kernel itself, so a
ragged edge tile whose in-range elements are all attended counts as full. Tile states come from
the pattern machinery (``einsum_cascades.sparsity.tile_states``) at the kernel's tile shape, with
``random_blocks`` coins flipped per kernel tile, the way the simulator lowers the same pattern.
"""

import math
from dataclasses import dataclass

import numpy as np

FULL = -1  # mask_idx of a tile visited without an element mask
PARTIAL_CHUNK = 4096  # partial tiles whose element masks are evaluated in one numpy call


@dataclass(frozen=True)
class BlockList:
    """Tiles to visit per query block (CSR over block rows) and the element masks of partial ones."""

    seq_len: int
    kv_len: int
    block_q: int
    block_kv: int
    row_ptr: np.ndarray  # int32 [n_q_blocks + 1]
    col_idx: np.ndarray  # int32 [nnz]: key block of each entry
    mask_idx: np.ndarray  # int32 [nnz]: FULL or an index into masks
    masks: np.ndarray  # uint8 [n_partial, block_q, block_kv]

    @property
    def n_q_blocks(self) -> int:
        return math.ceil(self.seq_len / self.block_q)

    @property
    def n_kv_blocks(self) -> int:
        return math.ceil(self.kv_len / self.block_kv)

    @property
    def block_density(self) -> float:
        """Visited tiles over all tiles (1.0 for dense attention)."""
        return len(self.col_idx) / (self.n_q_blocks * self.n_kv_blocks)

    @property
    def n_partial(self) -> int:
        return len(self.masks)

    def tiles(self, qb: int):
        """(key block, mask index) of every tile query block ``qb`` visits, in visiting order."""
        lo, hi = self.row_ptr[qb], self.row_ptr[qb + 1]
        return zip(self.col_idx[lo:hi].tolist(), self.mask_idx[lo:hi].tolist())

    def element_mask(self) -> np.ndarray:
        """The [seq_len, kv_len] mask the kernel applies (True = attend): for tests, small sizes only."""
        bq, bkv = self.block_q, self.block_kv
        out = np.zeros((self.n_q_blocks * bq, self.n_kv_blocks * bkv), dtype=bool)
        for qb in range(self.n_q_blocks):
            for kb, mi in self.tiles(qb):
                out[qb * bq:(qb + 1) * bq, kb * bkv:(kb + 1) * bkv] = True if mi == FULL else self.masks[mi] != 0
        return out[:self.seq_len, :self.kv_len]


def block_list(pattern, seq_len: int, kv_len: int, block_q: int, block_kv: int) -> BlockList:
    """Lower ``pattern`` (an ``einsum_cascades.sparsity.Pattern``; None = dense) to a BlockList."""
    nqb, nkb = math.ceil(seq_len / block_q), math.ceil(kv_len / block_kv)
    if pattern is None:
        states = np.full((nqb, nkb), 2, dtype=np.int64)
    else:
        from einsum_cascades.sparsity import tile_states

        states = np.asarray(tile_states(pattern, seq_len, kv_len, block_q, block_kv))
    rows, cols = np.nonzero(states)  # row-major: each block row's tiles in key order
    partial = states[rows, cols] == 1
    mask_idx = np.full(len(rows), FULL, dtype=np.int32)
    mask_idx[partial] = np.arange(int(partial.sum()), dtype=np.int32)
    row_ptr = np.zeros(nqb + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=nqb), out=row_ptr[1:])
    masks = _tile_masks(pattern, rows[partial], cols[partial], seq_len, kv_len, block_q, block_kv)
    return BlockList(seq_len, kv_len, block_q, block_kv, row_ptr, cols.astype(np.int32), mask_idx, masks)


def _tile_masks(pattern, rows, cols, seq_len, kv_len, bq, bkv) -> np.ndarray:
    """Element masks of the tiles (rows[i], cols[i]), in-range elements only, as uint8."""
    out = np.zeros((len(rows), bq, bkv), dtype=np.uint8)
    for lo in range(0, len(rows), PARTIAL_CHUNK):
        r, c = rows[lo:lo + PARTIAL_CHUNK], cols[lo:lo + PARTIAL_CHUNK]
        q = (r[:, None] * bq + np.arange(bq))[:, :, None]
        k = (c[:, None] * bkv + np.arange(bkv))[:, None, :]
        inside = (q < seq_len) & (k < kv_len)
        out[lo:lo + len(r)] = pattern.mask(q, k, seq_len, kv_len, block=(bq, bkv)) & inside
    return out


def element_mask_rows(pattern, rows, seq_len: int, kv_len: int, block=(64, 64)):
    """The pattern's mask of query ``rows`` against every key ([len(rows), kv_len] bool; None = dense)."""
    if pattern is None:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    return np.asarray(pattern.mask(rows[:, None], np.arange(kv_len)[None, :], seq_len, kv_len, block=block))
