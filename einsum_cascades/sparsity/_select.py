"""Selectors: key blocks kept per query-block row by a seeded draw, as dynamic sparse methods keep them.

- ``topk(k[, seed])``: each query-block row keeps exactly min(k, candidates) key blocks, drawn among
  the tiles that the rest of its conjunction leaves non-empty (SeerAttention, MoBA and MInference's
  block-sparse heads pick top-k blocks of estimated scores; attnsim draws them instead). In
  ``(causal|sinks(64))&topk(8)`` the candidates are the tiles of ``causal|sinks(64)``: one draw per
  ``topk`` of the expression, over every conjunction it appears in.
- ``budget(n[, seed])``: decode's token budget (Quest, SeerAttention-R): each query-block row reads
  ceil(n / block) more key blocks at or before its queries (it is causal), drawn among those the rest of
  the expression does not already attend whole, so ``sinks(64)|window(1k)|budget(4k)`` reads the sinks,
  the window and 4k keys more. One budget per expression.

A block is the lowering tile (``--block-size`` or the kernel's), bound like random_blocks' coins. The
draws (``_select_kernels``) become tables the kernels read like coins, so every count stays exact.
"""

import math
import sys
from functools import lru_cache

import numpy as np

from einsum_cascades.sparsity import _tile_sums as tile_sums
from einsum_cascades.sparsity._expr import SELECTORS, PatternError, hash53
from einsum_cascades.sparsity._terms import conj_terms, dnf, workspace


SELECT_KERNELS = "einsum_cascades.sparsity._select_kernels"  # once it or the lowering kernels are loaded, draws
# are made there (milliseconds, not numpy's tenths)


def check_selectors(p, conjs=None) -> None:
    """PatternError unless every conjunction has at most one selector and there is at most one budget."""
    conjs = dnf(p) if conjs is None else conjs
    for conj in conjs:
        if sum(atom[0] in SELECTORS for atom in conj) > 1:
            raise PatternError(f"pattern {p}: at most one topk or budget may be intersected in a conjunction; "
                               f"allowed e.g. causal&topk(8)|sinks(64), sinks(64)|window(1k)|budget(4k)")
    if sum(leaf.name == "budget" for leaf in p.leaves()) > 1:
        raise PatternError(f"pattern {p}: one budget per expression; allowed e.g. sinks(64)|window(1k)|budget(4k)")


@lru_cache(maxsize=16)  # a table holds up to k key blocks per row: a few MB at 1M tokens
def tables(p, seq_len: int, kv_len: int, block: tuple) -> dict:
    """Selector index (preorder) -> (row starts, kept key blocks) at tile shape ``block``; topk draws first,
    then the budget (whose candidates leave out what the rest, topk included, attends whole)."""
    conjs = dnf(p)
    check_selectors(p, conjs)
    atoms = {a[3]: a for conj in conjs for a in conj if a[0] in SELECTORS}
    out = {}
    for index in sorted(atoms, key=lambda i: atoms[i][0] == "budget"):
        name, count, seed, _ = atoms[index]
        mine = [[a for a in conj if a[0] not in SELECTORS] for conj in conjs if any(
            a[0] in SELECTORS and a[3] == index for a in conj)]
        if name == "topk":
            out[index] = _draw(mine, [], count, seed, seq_len, kv_len, block, out)
        else:
            others = [conj for conj in conjs if not any(a[0] == "budget" for a in conj)]
            out[index] = _draw([c + [("causal",)] for c in mine], others, math.ceil(count / block[1]), seed,
                               seq_len, kv_len, block, out)
    for row_ptr, cols in out.values():
        row_ptr.flags.writeable = cols.flags.writeable = False
    return out


def _draw(candidates, exclude, m, seed, seq_len, kv_len, block, drawn):
    from einsum_cascades.sparsity._lowering import KERNELS, kernel

    t1, c1 = conj_terms(candidates, seq_len, kv_len, block)
    t2, c2 = conj_terms(exclude, seq_len, kv_len, block, drawn)
    if SELECT_KERNELS not in sys.modules and KERNELS not in sys.modules and all(
            tile_sums.supported(t, c, *block) and tile_sums.cells(t, seq_len, kv_len, *block) <= tile_sums.MAX_CELLS
            for t, c in ((t1, c1), (t2, c2))):
        return _draw_numpy(t1, c1, t2, c2, m, seed, seq_len, kv_len, block)
    n_cols = math.ceil(kv_len / block[1])
    return kernel("select_rows", "select_kernels")(t1, c1, t2, c2, seq_len, kv_len, *block, m, seed,
                                         workspace(t1, n_cols, block[0]), workspace(t2, n_cols, block[0]))


def _draw_numpy(t1, c1, t2, c2, m, seed, seq_len, kv_len, block):
    """``_select_kernels.select_rows`` in numpy, the same draw: per row, Floyd's picks among the non-empty
    tiles of t1 less the tiles t2 covers whole, from the same hashes."""
    bq, bkv = block
    candidate = tile_sums.tile_elements(t1, c1, seq_len, kv_len, bq, bkv) > 0
    if t2.shape[0]:
        heights = np.minimum(np.arange(1, candidate.shape[0] + 1) * bq, seq_len) - np.arange(candidate.shape[0]) * bq
        widths = np.minimum(np.arange(1, candidate.shape[1] + 1) * bkv, kv_len) - np.arange(candidate.shape[1]) * bkv
        candidate &= tile_sums.tile_elements(t2, c2, seq_len, kv_len, bq, bkv) != heights[:, None] * widths[None, :]
    n = candidate.sum(axis=1)
    picked = np.arange(candidate.shape[1])[None, :] < np.minimum(n, m)[:, None]  # ranks; all where m >= n
    rows = np.flatnonzero(m < n)
    if rows.size:
        picked[rows] = False
        for j in range(-m, 0):  # step j draws from [0, n - m + j] with the hash of (row, n - m + j, seed)
            top = n[rows] + j
            t = (hash53(rows, top, seed) % (top + 1).astype(np.uint64)).astype(np.int64)
            picked[rows, np.where(picked[rows, t], top, t)] = True
    pick_rows, ranks = np.nonzero(picked)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    cols = np.nonzero(candidate)[1].astype(np.int64)[starts[pick_rows] + ranks]
    return np.concatenate([[0], np.cumsum(picked.sum(axis=1))]).astype(np.int64), cols


def selection_masks(p, q, k, seq_len: int, kv_len: int, block) -> list:
    """Element masks of the expression's selectors in preorder: a topk keeps its drawn blocks, a budget the
    causal part of its drawn blocks."""
    block = tuple(block)
    drawn = tables(p, seq_len, kv_len, block)
    out = []
    for index, leaf in enumerate(x for x in p.leaves() if x.name in SELECTORS):
        kept = _lookup(drawn[index], q // block[0], k // block[1])
        out.append(kept & (k <= q + (kv_len - seq_len)) if leaf.name == "budget" else kept)
    return out


def _lookup(table, bi, bj) -> np.ndarray:
    """Is block (bi, bj) in the table? Vectorised over broadcasting bi, bj."""
    row_ptr, cols = table
    return tile_sums.listed(np.repeat(np.arange(len(row_ptr) - 1, dtype=np.int64), np.diff(row_ptr)), cols, bi, bj)
