"""Predicted vs measured: run the simulator on every measured attention point.

Works on any machine (no GPU, no CuPy): it reads a results file (FORMAT.md),
predicts each point with the simulator on the chosen hardware model and
reports per-point and per-algorithm error, plus the error of predicted
speedups (fused vs naive, sparse vs dense), which is what users act on.
"""

import json
import math
import statistics
from pathlib import Path

from einsum_cascades.errors import UserError, read_user_text

WORKLOAD_KEYS = ("batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "causal", "pattern", "sparsity")
_DEVICE_HW = (("H200", "h200"), ("H100", "h100"), ("A100", "a100"), ("B200", "b200"))


def load_results(path: str) -> dict:
    """A validation results file; UserError if it is missing or not the documented format."""
    if not Path(path).is_file():
        raise UserError(f"no such results file {path!r}")
    try:
        doc = json.loads(read_user_text(path, "results file"))
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list) or not isinstance(doc.get("device"), dict):
        raise UserError(f"{path}: not an attnsim validation file (needs a 'device' object and a 'points' list; "
                        "see validation/FORMAT.md)")
    _check_entries(path, doc)
    return doc


def _check_entries(path: str, doc: dict) -> None:
    """Every point and microbenchmark an object with the fields report and calibrate read, of their types."""
    micro = doc.get("micro", [])
    if not isinstance(micro, list) or not isinstance(doc.get("errors", []), list):
        raise UserError(f"{path}: 'micro' and 'errors' must be lists (validation/FORMAT.md)")
    for i, m in enumerate(micro):
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not _number_or_none(m.get("value")):
            raise UserError(f"{path}: micro entry {i} must be an object with a 'name' and a numeric 'value'")
    for i, p in enumerate(doc["points"]):
        if not isinstance(p, dict):
            raise UserError(f"{path}: point {i} is {type(p).__name__}, not an object (validation/FORMAT.md)")
        if not isinstance(p.get("algorithm"), str) or not isinstance(p.get("kernel", ""), str):
            raise UserError(f"{path}: point {i} needs 'kernel' and 'algorithm' strings")
        measured = p.get("measured_s")
        if not _number_or_none(measured) or (measured or 0) < 0 or not all(_number_or_none(p.get(k)) for k in _NUMBERS):
            raise UserError(f"{path}: point {i}: measured_s (>= 0) and the sizes must be numbers")


_NUMBERS = ("batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "sparsity", "block_q", "block_kv")


def _number_or_none(value) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value))


def hardware_for(doc: dict, hw: str | None) -> str:
    """The hardware model to predict with: --hw, else the file's attnsim_hw, else from the device name."""
    if hw:
        return hw
    device = doc.get("device") or {}
    if device.get("attnsim_hw"):
        return device["attnsim_hw"]
    name = str(device.get("name", ""))
    for needle, hw_name in _DEVICE_HW:
        if needle in name:
            return hw_name
    raise UserError(f"cannot tell which hardware model fits device {name!r}: pass --hw NAME or a TOML path")


def predict(doc: dict, hw: str) -> list[dict]:
    """Every usable point with its prediction and relative error (predicted / measured - 1)."""
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    spec = hardware(hw)
    out = []
    for i, p in enumerate(doc["points"]):
        if not p.get("ok", True) or not p.get("measured_s"):
            continue
        fields = {k: p[k] for k in WORKLOAD_KEYS if p.get(k) is not None}
        if p.get("block_q") and p.get("block_q") == p.get("block_kv") and p.get("kernel", "").startswith("attnsim"):
            fields["block_size"] = p["block_q"]  # our own kernels: model the tile they really use
        try:
            predicted = evaluate(spec, p["algorithm"], Workload(dtype=p.get("dtype", "fp16"), **fields)).time_s
        except UserError as err:
            raise UserError(f"point {i}: {err}") from None
        out.append({**{k: p.get(k) for k in ("kernel", "algorithm", *WORKLOAD_KEYS)},
                    "measured_s": p["measured_s"], "predicted_s": predicted,
                    "error": predicted / p["measured_s"] - 1.0})
    return out


def speedup_errors(points: list[dict]) -> list[dict]:
    """Predicted vs measured speedups: each fused point over each naive kernel of its shape (attnsim's own
    and PyTorch's standard attention, where both ran), each sparse point over its dense twin."""
    def key(p, **override):
        q = {**{k: p.get(k) for k in WORKLOAD_KEYS}, **override}
        return tuple(q[k] for k in WORKLOAD_KEYS)

    naive = {}
    for p in points:
        if p["algorithm"] == "naive":
            naive.setdefault(key(p), []).append(p)
    dense = {(p["kernel"], key(p)): p for p in points if not p.get("sparsity") and not p.get("pattern")}
    out = []
    for p in points:
        if p["algorithm"] != "naive":
            out += [_pair("fused_vs_naive", p, base) for base in naive.get(key(p), ())]
        twin = dense.get((p["kernel"], key(p, sparsity=0.0, pattern=None)))
        if (p.get("sparsity") or p.get("pattern")) and twin:
            out.append(_pair("sparse_vs_dense", p, twin))
    return out


def _pair(kind, fast, slow) -> dict:
    measured = slow["measured_s"] / fast["measured_s"]
    predicted = slow["predicted_s"] / fast["predicted_s"]
    return {"kind": kind, "kernel": fast["kernel"], "baseline_kernel": slow["kernel"], "seq_len": fast["seq_len"],
            "measured": measured, "predicted": predicted, "error": predicted / measured - 1.0}


def summarize(points: list[dict], speedups: list[dict]) -> dict:
    """Median and max |error| overall, per algorithm, per kernel, and for each kind of speedup."""
    def stats(errors):
        a = [abs(e) for e in errors]
        return {"n": len(a), "median_abs_error": statistics.median(a) if a else None, "max_abs_error": max(a, default=None)}

    by_algo, by_kernel = {}, {}
    for p in points:
        by_algo.setdefault(p["algorithm"], []).append(p["error"])
        by_kernel.setdefault(p["kernel"], []).append(p["error"])
    by_kind = {}
    for s in speedups:
        by_kind.setdefault(s["kind"], []).append(s["error"])
    return {"overall": stats([p["error"] for p in points]),
            "per_algorithm": {a: stats(e) for a, e in by_algo.items()},
            "per_kernel": {k: stats(e) for k, e in by_kernel.items()},
            "speedups": {k: stats(e) for k, e in by_kind.items()}}


def report(path: str, hw: str | None = None) -> dict:
    """The whole report as JSON-ready data: device, hardware model, points, speedups, summary."""
    doc = load_results(path)
    hw_name = hardware_for(doc, hw)
    points = predict(doc, hw_name)
    speedups = speedup_errors(points)
    return {"device": doc["device"], "source": doc.get("source"), "hardware": hw_name, "points": points,
            "speedups": speedups, "summary": summarize(points, speedups)}
