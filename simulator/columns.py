"""Many dense points at once: the same model formulas over numpy columns.

Sweeps evaluate tens of thousands of dense points that differ only in their
sizes. Instead of a second, vectorised copy of the model, the model's formulas
are written with the few helpers below, which act on Python scalars (one point,
the scalar path) and on numpy arrays (a column per workload field) alike. A
``Workload`` whose size fields are arrays is built by ``workload_columns``; the
GPU model then returns one ``Result`` whose fields are columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator._numpy import np

from simulator.workload import DTYPE_BYTES, MAX_SIZES, MAX_TENSOR_BYTES, SCOPES, Workload

SIZE_FIELDS = ("batch", "heads", "kv_heads", "seq_len", "kv_len")


_PLAIN = frozenset((int, float, bool, str, type(None)))  # never columns, and told so without importing numpy


def is_columns(x) -> bool:
    return type(x) not in _PLAIN and isinstance(x, np.ndarray)


def vmax(*xs):
    """Element-wise max; Python ``max`` when every argument is a scalar (first maximum wins either way)."""
    for x in xs:  # a plain loop: the scalar path is the hot one (a generator in any() costs more than max)
        if type(x) not in _PLAIN and isinstance(x, np.ndarray):
            return np.maximum.reduce(np.broadcast_arrays(*xs)) if len(xs) > 2 else np.maximum(*xs)
    return max(xs)


def vmin(*xs):
    for x in xs:
        if type(x) not in _PLAIN and isinstance(x, np.ndarray):
            return np.minimum.reduce(np.broadcast_arrays(*xs)) if len(xs) > 2 else np.minimum(*xs)
    return min(xs)


def vceil(x):
    return np.ceil(x) if is_columns(x) else math.ceil(x)


def where(cond, a, b):
    """``a if cond else b``, element-wise when ``cond`` is a column."""
    if is_columns(cond):
        return np.where(cond, a, b)
    return a if cond else b


def argname(values: dict):
    """The key of the largest value (the first on ties), per element when the values are columns."""
    if not any(is_columns(v) for v in values.values()):
        return max(values, key=values.get)
    stacked = np.stack(np.broadcast_arrays(*values.values()))
    return np.array(list(values), dtype=object)[np.argmax(stacked, axis=0)]


def pick(choices: dict, key):
    """``choices[key]``, per element when ``key`` is a column of names."""
    if not is_columns(key):
        return choices[key]
    out = np.empty(key.shape, dtype=object)
    for name, value in choices.items():
        mask = key == name
        out[mask] = value[mask] if isinstance(value, np.ndarray) else value
    return out


def workload_columns(head_dim: int, dtype: str, block_size, v_head_dim=None, scope="kernel", **sizes) -> Workload | None:
    """A dense, non-causal ``Workload`` whose size fields are int64 columns; None if any value is invalid
    (the caller then evaluates point by point, which names the bad value)."""
    cols = {k: np.asarray(sizes[k], dtype=np.int64) for k in SIZE_FIELDS}
    if dtype not in DTYPE_BYTES or scope not in SCOPES or any((c <= 0).any() for c in cols.values()) \
            or (cols["heads"] % cols["kv_heads"]).any():
        return None
    dim = max(head_dim, v_head_dim or head_dim)
    tensor = cols["batch"] * 1.0 * cols["heads"] * np.maximum(cols["seq_len"], cols["kv_len"]) * dim * DTYPE_BYTES[dtype]
    if dim > MAX_SIZES["head_dim"] or any((c > MAX_SIZES[k]).any() for k, c in cols.items()) \
            or (tensor > MAX_TENSOR_BYTES).any():
        return None
    wl = object.__new__(Workload)
    for name, value in dict(cols, head_dim=head_dim, v_head_dim=v_head_dim or head_dim, scope=scope, causal=False, dtype=dtype, pattern=None, sparsity=0.0,
                            block_size=block_size, estimate=None, page_size=None, varlen=False,
                            num_splits=None).items():
        object.__setattr__(wl, name, value)
    return wl


@dataclass(frozen=True, slots=True)
class DenseTiles:
    """Tile counts of dense attention for columns of sizes (the fields ``TileRows`` has for uniform grids)."""

    n_rows: np.ndarray
    n_kv_blocks: np.ndarray
    visited: np.ndarray
    attended: np.ndarray
    kv_blocks_read: np.ndarray
    block_density: float = 1.0
    ragged_unread: int = 0  # dense: every key block read, the keys capped at the length (TileRows.ragged_unread)
    pattern: None = None  # dense: no mask
    uniform: bool = True


def dense_tiles(nq, nkv, bq, bkv, packing=None) -> DenseTiles:
    """Columns of dense tile counts at ``bq`` query positions a row, or with ``packing`` (``tiles.Packing``, its
    group maybe a column) ceil(nq x group / block_rows) packed rows (``tiles.packed_count``)."""
    from simulator.tiles import packed_count

    n_rows = -(-nq // bq) if packing is None else packed_count(nq, packing)
    n_kv = -(-nkv // bkv)
    return DenseTiles(n_rows, n_kv, n_rows * n_kv, nq.astype(np.float64) * nkv, n_kv)
