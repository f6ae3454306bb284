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

from simulator.columns import is_columns
from simulator.gpu_kernels import out_bytes
from simulator.workload import mla_absorbed

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
_NO_TIME, _NO_BASELINE = dict.fromkeys(TIME_FIELDS), dict.fromkeys(BASELINE_FIELDS)  # what _empty sets


def footprint(algo: str, wl, splits=1) -> dict[str, object]:
    """Bytes each tensor of one call holds in memory (floats, or columns for a columns workload)."""
    b = wl.dtype_bytes
    rows = wl.batch * 1.0 * wl.heads * wl.seq_len  # query rows over all heads
    keys = wl.batch * 1.0 * wl.kv_heads * wl.kv_len
    out_b = out_bytes(b)  # the fp8 kernels (FA3, FA4) write O in 16 bits
    parts = {"Q": rows * wl.head_dim * b, "K": keys * wl.head_dim * b, "V": keys * wl.v_head_dim * b,
             "O": rows * wl.v_head_dim * out_b}
    if algo in ("flashmla", "flash3", NAIVE) and mla_absorbed(wl.head_dim, wl.v_head_dim):
        del parts["V"]  # MLA's absorbed form: V is the first v_head_dim columns of each cached K row
    if algo == "flashmla":
        parts["LSE"] = rows * FP32_BYTES
        # out_accum and lse_accum, allocated for total_num_splits = batch + num_sm_parts splits of every query head's
        # rows whether or not a request splits (dense_decode.h); ``splits`` is that total here (_footprint)
        parts["split partials"] = float(splits) * wl.heads * wl.seq_len * (wl.v_head_dim + 1) * FP32_BYTES
    elif algo == NAIVE:
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
    splits = result.detail.get("total_num_splits" if result.algorithm == "flashmla" else "splits", 1)
    return footprint(result.algorithm, result.workload, splits)


def describe(hw, result) -> str:
    """'naive needs 1.10 TB (S 550 GB, P 550 GB, ...) of HBM; H100 has 85.9 GB' for one point."""
    parts = _footprint(result)
    names, values = list(parts), list(parts.values())
    largest_first = sorted(range(len(values)), key=lambda j: -values[j])
    shown = ", ".join([f"{names[j]} {_gb(values[j])}" for j in largest_first if values[j]])
    return _sentence(result.algorithm, _gb(sum(values)), shown, _has(hw))


def _column_notes(hw, result, n: int, indices: list[int]) -> list[str]:
    """``describe`` of the points ``indices`` of a result's ``n`` rows, a column at a time: numpy orders and labels
    every point's tensors at once ('S 42.9 GB'), each distinct byte count formatted once, so a note costs little
    more than joining its labels."""
    if not indices:
        return []
    parts = {k: np.broadcast_to(v, (n,))[indices] for k, v in _footprint(result).items()}
    values = np.stack(list(parts.values()), axis=1)  # one row of tensors per point
    order = np.argsort(-values, axis=1, kind="stable")  # largest first, ties in the footprint's order
    ranked = np.take_along_axis(values, order, axis=1)
    distinct, inverse = np.unique(ranked, return_inverse=True)
    text = np.array(_gb_column(distinct), dtype=object)[inverse.reshape(ranked.shape)]
    labels = (np.array(list(parts), dtype=object)[order] + " " + text).tolist()
    # describe leaves out the empty tensors: byte counts are never negative (nor NaN), so they come last
    shown = np.count_nonzero(ranked, axis=1).tolist()
    points = values.tolist()
    totals = _gb_column(np.array([sum(point) for point in points]))  # summed in describe's order
    algorithm, has = result.algorithm, _has(hw)
    return [_sentence(algorithm, total, ", ".join(point_labels[:k]), has)
            for total, point_labels, k in zip(totals, labels, shown)]


def _sentence(algorithm: str, total: str, shown: str, has: str) -> str:
    """describe's sentence: ``total`` and ``shown`` (the tensors, largest first) formatted, ``has`` from _has."""
    return f"{algorithm} needs {total} of HBM ({shown}); {has}"


def _has(hw) -> str:
    """The end of describe's sentence: 'NVIDIA H100 SXM5 80GB has 85.9 GB'."""
    return f"{hw.display_name} has {_gb(capacity_bytes(hw))}"


def _gb(n: float) -> str:
    """Decimal units, as the datasheets write HBM: 2.2 TB, 85.9 GB, 134 MB."""
    if n >= 1e12:
        return f"{n / 1e12:.3g} TB"
    if n >= 1e9:
        return f"{n / 1e9:.3g} GB"
    if n >= 1e6:
        return f"{n / 1e6:.3g} MB"
    return f"{n / 1e3:.3g} KB"


_UNITS, _UNIT_NAMES = (1e3, 1e6, 1e9, 1e12), (" KB", " MB", " GB", " TB")  # _gb's, smallest first


def _gb_column(n) -> list[str]:
    """``_gb`` of each of a column of byte counts: numpy picks each one's unit (the count of _gb's thresholds it
    reaches) and divides, so only the number is formatted one by one (as _gb formats it: the same text)."""
    unit = (n >= 1e6).astype(int) + (n >= 1e9) + (n >= 1e12)
    return [f"{x:.3g}{_UNIT_NAMES[u]}" for x, u in zip((n / np.take(_UNITS, unit)).tolist(), unit.tolist())]


def cannot_fit(hw, wl) -> bool:
    """Whether Q, K, V and O alone (at the workload's dtype; MLA's absorbed form without V, which the kernels that
    run it read from K's own columns) overflow the machine's memory: every kernel's ``footprint`` holds at least
    these, so ``mark_rows`` then marks the point as not fitting whatever runs it (float sums of non-negative bytes
    only grow). Counting V there had left an absorbed call between the two sizes untimed and unmarked: time nan."""
    have = capacity_bytes(hw)
    if have is None or is_columns(wl.seq_len):
        return False
    parts = footprint("", wl)
    if mla_absorbed(wl.head_dim, wl.v_head_dim):
        del parts["V"]
    return sum(parts.values()) > have


def mark_rows(rows: list[dict], hw, result, base_hw, base) -> list[dict]:
    """Add ``fits``, ``memory_bytes`` and ``baseline_fits`` to the row of a one-point result; empty its times if it
    does not fit and its speedup if its baseline does not, with a note. (run_points gives its columns' records
    their ``column_marks``, then ``mark_columns``.)"""
    needed, have = need(hw, result)
    base_fits = None
    if base is not None:
        base_needed, base_have = need(base_hw, base)
        base_fits = None if base_have is None else bool(base_needed <= base_have)
    fits = None if have is None else bool(needed <= have)
    return [_mark(rows[0], fits, needed, base_fits, lambda: describe(hw, result), lambda: describe(base_hw, base))]


def column_marks(hw, result, base_hw, base, n: int) -> dict:
    """``fits``, ``memory_bytes`` and ``baseline_fits`` of a columns result's ``n`` points, in the order mark_rows
    adds them: each a numpy column, or one value for every point (None: no capacity or no baseline; True: all
    fit), which every row then takes with its record. ``mark_columns`` then empties the unfit points."""
    needed, have = need(hw, result)
    return {"fits": _fits(needed, have, n), "memory_bytes": np.broadcast_to(needed, (n,)).astype(float),
            "baseline_fits": None if base is None else _fits(*need(base_hw, base), n)}


def mark_columns(record: dict, hw, result, base_hw, base, n: int) -> list[int]:
    """Empty, in the record of a columns result's ``n`` points (``to_row``'s with its ``column_marks``, each value a
    column or one for every point), the times of the points that do not fit and the speedup of those whose
    baseline does not, with a note, as ``_empty`` does a row's; returns the points that do not fit (their rows'
    utilization is then empty)."""
    no_room, no_base_room = _false(record["fits"], n), _false(record["baseline_fits"], n)
    base_only = no_base_room & ~no_room  # _empty's second note
    if not (no_room.any() or base_only.any()):
        return []
    emptied = dict.fromkeys(BASELINE_FIELDS, no_base_room)  # no baseline time either way, also where the point
    for name in TIME_FIELDS:  # itself does not fit
        emptied[name] = emptied.get(name, False) | no_room
    for name, points in emptied.items():
        if points.any() and record[name] is not None:  # masked: None in the rows (numpy's tolist), the values kept
            record[name] = np.ma.masked_array(np.broadcast_to(record[name], (n,)), mask=points)  # until then
    unfit, base_unfit = np.flatnonzero(no_room).tolist(), np.flatnonzero(base_only).tolist()
    note = np.full(n, record["note"], dtype=object)
    note[unfit] = [f"does not fit: {why}" for why in _column_notes(hw, result, n, unfit)]
    note[base_unfit] = [f"baseline does not fit: {why}" for why in _column_notes(base_hw, base, n, base_unfit)]
    record["note"] = note
    return unfit


def _mark(row: dict, fits, needed, base_fits, why, base_why) -> dict:
    """One row's marks; ``why`` and ``base_why`` describe the footprint that does not fit (called only then)."""
    row.update(fits=fits, memory_bytes=float(needed), baseline_fits=base_fits)
    row.setdefault("note", None)
    return _empty(row, fits, base_fits, why, base_why)


def _empty(row: dict, fits, base_fits, why, base_why) -> dict:
    """Empty the times of a marked row that does not fit, or its speedup where its baseline does not, and say why
    (``why`` and ``base_why``, as for ``_mark``)."""
    if base_fits is False:  # no baseline time either way, also where the point itself does not fit
        row.update(_NO_BASELINE)
    if fits is False:
        row.update(_NO_TIME, utilization={}, note=f"does not fit: {why()}")
    elif base_fits is False:
        row["note"] = f"baseline does not fit: {base_why()}"
    return row


def _fits(needed, have, n: int):
    """Whether each of ``n`` points fits (a bool column); None if there is no capacity, True if all fit."""
    if have is None:
        return None
    fits = np.broadcast_to(np.asarray(needed) <= have, (n,))
    return True if fits.all() else fits


def _false(marks, n: int):
    """The points (a bool column) whose mark is False: a column's False entries; every point or none otherwise."""
    if isinstance(marks, np.ndarray):
        return ~marks
    return np.full(n, marks is False)
