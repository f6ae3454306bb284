"""Whether a point's tensors fit the machine's memory, and the rows of points that do not.

A GPU holds Q, K, V and O in HBM, plus what the kernel allocates around them: the fused kernels'
fp32 log-sum-exp per query row and, when they split the KV range, every split's fp32 partial
output; standard attention (``naive``) its score and probability matrices. A point that does not
fit has no time: its row keeps its shape with ``fits: false`` and a note saying what it needs.
The accelerator TOMLs give no DRAM capacity: the FuseMax paper states none, and its artifact's Timeloop
architecture gives DRAM no depth (FPSG-UIUC/micro24-fusemax-artifact, accel_fusemax/arch.yaml), so there
is no check there (``fits`` is None).
"""

from simulator._numpy import np

from simulator.columns import is_columns, ndim
from simulator.gpu_kernels import out_bytes

FP32_BYTES = 4
# FlashAttention allocates softmax_lse (batch, heads, seqlen_q) in fp32, and with num_splits > 1
# softmax_lse_accum (splits, batch, heads, seqlen_q) and out_accum (splits, batch, heads, seqlen_q,
# head_dim) in fp32 (flash-attention csrc/flash_attn/flash_api.cpp: mha_fwd, set_params_splitkv;
# hopper/flash_api.cpp: mha_fwd). FA3's and FA4's fp8 paths write their output in bf16 (gpu_kernels.out_bytes).
FUSED = ("flash1", "flash2", "flash3", "flash4", "flash-decoding")
# Standard attention writes S = QK^T and P = softmax(S) to HBM (FA1 paper, arXiv 2205.14135, Algorithm 0),
# and a mask is one more Nq x Nkv tensor added to S.
NAIVE = "naive"
TIME_FIELDS = ("time_s", "tflops", "speedup", "bound", "energy_j")  # emptied when a point does not fit
BASELINE_FIELDS = ("baseline_time_s", "speedup", "baseline_energy_j")


def footprint(algo: str, wl, splits=1) -> dict[str, object]:
    """Bytes each tensor of one call holds in memory (floats, or columns for a columns workload)."""
    b = wl.dtype_bytes
    rows = wl.batch * 1.0 * wl.heads * wl.seq_len  # query rows over all heads
    keys = wl.batch * 1.0 * wl.kv_heads * wl.kv_len
    out_b = out_bytes(b)  # the fp8 kernels (FA3, FA4) write O in 16 bits
    parts = {"Q": rows * wl.head_dim * b, "K": keys * wl.head_dim * b, "V": keys * wl.v_head_dim * b,
             "O": rows * wl.v_head_dim * out_b}
    if algo == NAIVE:
        scores = rows * wl.kv_len * b
        parts.update(S=scores, P=scores)
        if wl.mask_expr:
            parts["mask"] = wl.seq_len * 1.0 * wl.kv_len * b
    elif algo.startswith("flashinfer") and np.any(np.asarray(splits) > 1):
        # FlashInfer's tmp: per chunk and query head, O in the output type and the log-sum-exp in fp32
        # (decode.cuh, SingleDecodeWithKVCacheWorkEstimation / BatchDecodeWithPagedKVCacheWorkEstimation tmp_size)
        parts["split partials"] = splits * rows * (wl.v_head_dim * out_b + FP32_BYTES)
    elif algo in FUSED:
        parts["LSE"] = rows * FP32_BYTES
        if is_columns(splits):
            parts["split partials"] = np.where(splits > 1, splits * rows * (wl.v_head_dim + 1) * FP32_BYTES, 0.0)
        else:
            parts["split partials"] = float(splits * rows * (wl.v_head_dim + 1) * FP32_BYTES) if splits > 1 else 0.0
    return parts


def capacity_bytes(hw) -> float | None:
    """The memory a point's tensors must fit in: HBM on a GPU; None where the spec gives no capacity."""
    return hw.hbm_bytes if hw.kind == "gpu" else None


def need(hw, result):
    """(bytes needed, bytes available or None) for one result (or columns of them)."""
    parts = _footprint(result)
    return sum(parts.values()), capacity_bytes(hw)


def _footprint(result) -> dict:
    """The result's tensors and their bytes (columns where the result's sizes are)."""
    return footprint(result.algorithm, result.workload, result.detail.get("splits", 1))


def describe(hw, result) -> str:
    """'naive needs 1.10 TB (S 550 GB, P 550 GB, ...) of HBM; H100 has 85.9 GB' for one point."""
    parts = _footprint(result)
    names, values = list(parts), list(parts.values())
    largest_first = sorted(range(len(values)), key=lambda j: -values[j])
    return _sentence(hw, result.algorithm, names, values, largest_first, _Decimal())


def _column_notes(hw, result, n: int, indices: list[int]) -> dict[int, str]:
    """``describe`` of the points ``indices`` of a result's ``n`` rows (by index), a column at a time: numpy orders
    every point's tensors at once, and each byte count is formatted once for all the notes."""
    if not indices:
        return {}
    parts = {k: np.broadcast_to(v, (n,))[indices] for k, v in _footprint(result).items()}
    names, values = list(parts), np.stack(list(parts.values()), axis=1)  # one row of tensors per point
    order = np.argsort(-values, axis=1, kind="stable").tolist()  # largest first, ties in the footprint's order
    gb = _Decimal()
    return {i: _sentence(hw, result.algorithm, names, point, largest_first, gb)
            for i, point, largest_first in zip(indices, values.tolist(), order)}


def _sentence(hw, algorithm: str, names: list, values: list, largest_first: list, gb) -> str:
    """describe's sentence for one point's tensors (``names``, their ``values`` in bytes) listed in the order
    ``largest_first`` (indices), without the empty ones; ``gb``: a ``_Decimal``."""
    shown = ", ".join([f"{names[j]} {gb[values[j]]}" for j in largest_first if values[j]])
    return f"{algorithm} needs {gb[sum(values)]} of HBM ({shown}); {hw.display_name} has {gb[capacity_bytes(hw)]}"


class _Decimal(dict):
    """``_gb`` of each byte count asked for, formatted once: the notes of a column of points repeat their
    machine's capacity and, point by point, Q's bytes in K, V and O (self-attention) and S's in P."""

    def __missing__(self, n: float) -> str:
        self[n] = text = _gb(n)
        return text


def _gb(n: float) -> str:
    """Decimal units, as the datasheets write HBM: 2.2 TB, 85.9 GB, 134 MB."""
    if n >= 1e12:
        return f"{n / 1e12:.3g} TB"
    if n >= 1e9:
        return f"{n / 1e9:.3g} GB"
    if n >= 1e6:
        return f"{n / 1e6:.3g} MB"
    return f"{n / 1e3:.3g} KB"


def cannot_fit(hw, wl) -> bool:
    """Whether Q, K, V and O alone (at the workload's dtype) overflow the machine's memory: every kernel's
    ``footprint`` holds at least these, so ``mark_rows`` then marks the point as not fitting whatever runs it
    (float sums of non-negative bytes only grow)."""
    have = capacity_bytes(hw)
    return have is not None and not is_columns(wl.seq_len) and sum(footprint("", wl).values()) > have


def mark_rows(rows: list[dict], hw, result, base_hw, base) -> list[dict]:
    """Add ``fits``, ``memory_bytes`` and ``baseline_fits`` to rows of ``result`` (columns or one point); empty
    the times of a point that does not fit and the speedup of one whose baseline does not, with a note."""
    needed, have = need(hw, result)
    if _one_point(rows, needed, result):  # no columns: nothing to broadcast
        base_fits = None
        if base is not None:
            base_needed, base_have = need(base_hw, base)
            base_fits = None if base_have is None else bool(base_needed <= base_have)
        fits = None if have is None else bool(needed <= have)
        return [_mark(rows[0], fits, needed, base_fits, lambda: describe(hw, result), lambda: describe(base_hw, base))]
    n = len(rows)
    fits = _fits(needed, have, n)
    base_fit = _fits(*need(base_hw, base), n) if base is not None else [None] * n
    memory = np.broadcast_to(needed, (n,)).astype(float).tolist()
    for row, row_fits, row_needs, base_fits in zip(rows, fits, memory, base_fit):  # to_rows' rows have a note
        row["fits"], row["memory_bytes"], row["baseline_fits"] = row_fits, row_needs, base_fits
    unfit = [i for i, row_fits, base_fits in zip(range(n), fits, base_fit) if row_fits is False or base_fits is False]
    why = _column_notes(hw, result, n, [i for i in unfit if fits[i] is False])
    base_why = _column_notes(base_hw, base, n, [i for i in unfit if fits[i] is not False])  # _empty's second note
    for i in unfit:
        _empty(rows[i], fits[i], base_fit[i], lambda: why[i], lambda: base_why[i])
    return rows


def _one_point(rows, needed, result) -> bool:
    """One row of a one-point result (no columns)."""
    return len(rows) == 1 and not ndim(needed) and not ndim(result.time_s)


def _mark(row: dict, fits, needed, base_fits, why, base_why) -> dict:
    """One row's marks; ``why`` and ``base_why`` describe the footprint that does not fit (called only then)."""
    row.update(fits=fits, memory_bytes=float(needed), baseline_fits=base_fits)
    row.setdefault("note", None)
    return _empty(row, fits, base_fits, why, base_why)


def _empty(row: dict, fits, base_fits, why, base_why) -> dict:
    """Empty the times of a marked row that does not fit, or its speedup where its baseline does not, and say why
    (``why`` and ``base_why``, as for ``_mark``)."""
    if base_fits is False:  # no baseline time either way, also where the point itself does not fit
        row.update(dict.fromkeys(BASELINE_FIELDS))
    if fits is False:
        row.update(dict.fromkeys(TIME_FIELDS), utilization={}, note=f"does not fit: {why()}")
    elif base_fits is False:
        row["note"] = f"baseline does not fit: {base_why()}"
    return row


def _fits(needed, have, n: int) -> list:
    if have is None:
        return [None] * n
    return np.broadcast_to(np.asarray(needed) <= have, (n,)).tolist()
