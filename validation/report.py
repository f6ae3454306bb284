"""Predicted vs measured: run the simulator on every measured attention point.

Works on any machine (no GPU, no CuPy): it reads a results file (FORMAT.md),
predicts each point with the simulator on the chosen hardware model and
reports per-point and per-algorithm error, plus the error of predicted
speedups (fused vs naive, sparse vs dense), which is what users act on.
"""

import json
import math
import statistics
from contextlib import ExitStack, contextmanager
from dataclasses import fields
from pathlib import Path

from einsum_cascades.errors import UserError, read_user_text
from gpu_models.devices import device_hardware, no_model_error
from simulator.flashinfer_tc import FLASHINFER_BUILDS, flashinfer_build
from simulator.flashmla import FLASHMLA_BUILDS, flashmla_build
from simulator.permute import NATTEN_BUILDS, natten_build
from simulator.points_file import json_object, key_twice
from simulator.kernel_configs import FA2_BUILDS, FA3_BUILDS, fa2_build, fa3_build
from simulator.workload import Workload
from validation.roofline import floor_time_s, roofline_time_s, under_floor

WORKLOAD_KEYS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "pattern",
                 "sparsity", "page_size", "varlen", "num_splits")
SAME_CALL = ("hardware", *WORKLOAD_KEYS, "dtype")  # points that agree on these timed the same call
MEASURED_FORMAT = "attnsim-measured-points"  # a user's own CSV/JSON, read by validation/measured_file.py
DEFAULT_HARDWARE = "h100"  # attnsim simulate's default (DESIGN.md), for measured points without one
_WORKLOAD_FIELDS = tuple(f.name for f in fields(Workload))


def load_results(path: str) -> dict:
    """A validation results file; UserError if it is missing or not the documented format."""
    if not Path(path).is_file():
        raise UserError(f"no such results file {path!r}")
    try:
        doc = parse_json(read_user_text(path, "results file"), path)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise UserError(f"{path}: JSON nested too deeply") from None
    return check_results(doc, path)


def parse_json(text: str, path: str | None = None):
    """JSON as results files hold it: finite numbers only (NaN, Infinity and 1e999 are UserErrors, naming ``path``
    where given), each key once at the top level (a point giving a key twice is refused by its number, where it is
    read)."""
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=json_object)
    except UserError as err:
        raise (UserError(f"{path}: {err}") if path else err) from None
    if key_twice(doc) is not None:
        raise UserError(f"{path or 'JSON'}: key {key_twice(doc)!r} appears twice at the top level; give each key once")
    return doc


def _no_constant(name: str):
    raise UserError(f"{name} is not a JSON number: results files write null where there is no value "
                    "(validation/FORMAT.md)")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise UserError(f"number {text[:30]} is out of range: results files hold finite numbers (validation/FORMAT.md)")
    return value


def check_results(doc, path: str) -> dict:
    """``doc`` if it is a validation results file (FORMAT.md), else a UserError naming ``path``."""
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
    clock = doc["device"].get("sm_clock_mhz")
    if not _number_or_none(clock) or (clock or 0) < 0:
        raise UserError(f"{path}: device sm_clock_mhz must be a number >= 0 or null, not {clock!r}")
    locked = doc["device"].get("clock_locked_mhz")
    if not _number_or_none(locked) or (locked is not None and locked <= 0):
        raise UserError(f"{path}: device clock_locked_mhz must be a number > 0 or null, not {locked!r}")
    for i, p in enumerate(doc["points"]):
        if not isinstance(p, dict):
            raise UserError(f"{path}: point {i} is {type(p).__name__}, not an object (validation/FORMAT.md)")
        if key_twice(p) is not None:
            raise UserError(f"{path}: point {i}: key {key_twice(p)!r} appears twice; give each field once")
        wrong = next((k for k, kinds in _TYPES.items() if not isinstance(p.get(k), kinds)), None)
        if wrong:
            raise UserError(f"{path}: point {i}: {wrong} must be {_TYPE_NAMES[wrong]} or null, not {p[wrong]!r:.40}")
        if not isinstance(p.get("algorithm"), (str, type(None))) or not isinstance(p.get("kernel", ""), str):
            raise UserError(f"{path}: point {i} needs a 'kernel' string and an 'algorithm' string (or null: a "
                            "kernel attnsim has no family for)")
        measured = p.get("measured_s")
        if not _number_or_none(measured) or (measured or 0) < 0 or not all(_number_or_none(p.get(k)) for k in _NUMBERS):
            raise UserError(f"{path}: point {i}: measured_s (>= 0) and the sizes must be numbers")
        if measured and (why := measured_s_error(measured)):
            raise UserError(f"{path}: point {i}: bad measured_s {measured!r}: {why} (or 0: not timed)")


# a measured call's time in seconds: 1 ns to a day. Past either end it is a unit slip, not a timing, and its ratio
# to the prediction overflows (an error of 1e299 %, a plot's log axis past a float)
MEASURED_S_RANGE = (1e-9, 86_400.0)


def measured_s_error(value: float) -> str | None:
    """Why a positive measured time in seconds is out of ``MEASURED_S_RANGE``; None when it is in it."""
    lo, hi = MEASURED_S_RANGE
    return None if lo <= value <= hi else f"{value:g} s is not a call's time: it must be from 1 ns to a day ({hi:,.0f} s)"


_TYPES = {"causal": (bool, type(None)), "host_in_window": (bool, type(None)),
          **{k: (str, type(None)) for k in ("pattern", "dtype", "hardware", "scope")}}
_TYPE_NAMES = {"causal": "true or false", "host_in_window": "true or false", "pattern": "a string",
               "dtype": "a string", "hardware": "a string", "scope": "a string"}
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
    hw_name = device_hardware(name)
    if hw_name is None:
        raise UserError(f"{no_model_error(name)}: pass --hw NAME or a TOML path")
    return hw_name


def predict(doc: dict, hw: str | None, skipped: list | None = None) -> list[dict]:
    """Every usable point with its prediction, the one-line roofline's, and their relative errors
    (predicted / measured - 1). A point the simulator cannot run is a UserError naming it, or, given a
    ``skipped`` list, goes there with the reason."""
    model_of = _model_chooser(doc, hw)
    clock_mhz = locked_clock_mhz(doc)
    out = []
    with ExitStack() as built:
        try:
            built.enter_context(as_built(doc))
        except UserError as err:  # a build the kernels never had is the file's error, not a point's
            raise UserError(f"{doc.get('file') or 'the results file'}: {err}") from None
        for i, p in enumerate(doc["points"]):
            if not p.get("ok", True) or not p.get("measured_s"):
                continue
            if not p.get("algorithm") and doc.get("format") != MEASURED_FORMAT:  # a kernel with no attnsim family
                if skipped is not None:
                    skipped.append({"point": f"point {i}", "kernel": p.get("kernel"), "algorithm": None,
                                    "reason": f"no attnsim family for kernel {p.get('kernel')!r}"})
                continue
            try:
                out.append(_predict_point(p, model_of(p), clock_mhz))
            except UserError as err:
                where = f"{doc.get('file')} row {p['row']}" if "row" in p else f"point {i}"
                if skipped is None:
                    raise UserError(f"{where}: {err}") from None
                skipped.append({"point": where, "kernel": p.get("kernel"), "algorithm": p.get("algorithm"),
                                "reason": str(err)})
    return out


def _model_chooser(doc: dict, hw: str | None):
    """point -> hardware model name: --hw, else the row's own (measured points: its hardware column, else the
    model its device column names, else simulate's default) or the file's device."""
    if hw or doc.get("format") != MEASURED_FORMAT:
        name = hardware_for(doc, hw)
        return lambda p: name
    return row_model


def row_model(p: dict) -> str:
    """A measured row's model: its hardware column, else the model its device column names (a device attnsim
    has no model of is an error, never another GPU's prediction), else simulate's default."""
    if p.get("hardware"):
        named = device_hardware(str(p["device"])) if p.get("device") and ":" not in str(p["device"]) else None
        base = str(p["hardware"]).partition(":")[0]
        if named and not base.lower().endswith(".toml") and base != named:
            raise UserError(f"hardware {p['hardware']!r} and device {p['device']!r} (the {named} model) disagree: "
                            "keep the one the row was timed on, or give a TOML of your own as its hardware")
        return p["hardware"]
    if p.get("device"):
        if ":" in str(p["device"]):  # no GPU's name holds one: NAME:MHZ, a locked clock, is the hardware column's
            raise UserError(f"device {p['device']!r} holds a ':', which no GPU's name does: give a locked clock as "
                            "the row's hardware (h100:1500) or --clock-locked MHZ")
        hw_name = device_hardware(p["device"])
        if hw_name is None:
            raise UserError(f"{no_model_error(p['device'])}: give the row a hardware column (a model name or a TOML "
                            "path), or pass --hw")
        return hw_name
    return DEFAULT_HARDWARE


def rows_overridden(doc: dict, hw: str) -> int:
    """How many measured rows ``--hw`` predicts on another model than their own: a hardware column, or a device that
    names a bundled model, other than ``hw`` (a device with no model has none of its own to override)."""
    if doc.get("format") != MEASURED_FORMAT:
        return 0
    own = (str(p["hardware"]) if p.get("hardware") else device_hardware(str(p["device"])) if p.get("device") else None
           for p in doc["points"])
    return sum(1 for name in own if name is not None and name.lower() != hw.lower())


BUILD_KEYS = ("fa3_build", "fa2_build", "flashinfer_build", "flashmla_build", "natten_build")  # a file's kernel builds
BUILD_LABELS = {"fa3_build": "FA3", "fa2_build": "FA2", "flashinfer_build": "FlashInfer", "flashmla_build": "FlashMLA",
                "natten_build": "NATTEN"}
BUILD_DEFAULTS = {"fa3_build": FA3_BUILDS[0], "fa2_build": FA2_BUILDS[0], "flashinfer_build": FLASHINFER_BUILDS[0],
                  "flashmla_build": FLASHMLA_BUILDS[0], "natten_build": NATTEN_BUILDS[0]}


@contextmanager
def as_built(builds: dict):
    """Predict inside this block as the kernels named in ``builds`` (a published file, or a dict of its
    ``BUILD_KEYS``) were built; a key that is absent keeps today's code."""
    with fa3_build(builds.get("fa3_build")), fa2_build(builds.get("fa2_build")), \
            flashinfer_build(builds.get("flashinfer_build")), flashmla_build(builds.get("flashmla_build")), \
            natten_build(builds.get("natten_build")):
        yield


def locked_clock_mhz(doc: dict) -> float | None:
    """The SM clock the file's kernels ran at when the benchmark locked it (device ``clock_locked_mhz``,
    ``nvidia-smi --lock-gpu-clocks``); None: free clocks, predicted at the model's sustained clock."""
    return (doc.get("device") or {}).get("clock_locked_mhz")


def at_clock(spec, clock_mhz: float | None):
    """``spec`` with its SMs at ``clock_mhz`` (a GPU's cycle counts become times at that clock; HBM keeps
    its bandwidth); unchanged without a clock or off a GPU."""
    if not clock_mhz or spec.kind != "gpu":
        return spec
    from gpu_models.loader import split_clock
    from gpu_models.spec import locked_clock

    locked = split_clock(spec.name)[1]
    if locked is None:
        return locked_clock(spec, float(clock_mhz))
    if locked != float(clock_mhz):
        raise UserError(f"hardware {spec.name} locks the SMs at {locked:g} MHz, and the results say "
                        f"{float(clock_mhz):g} MHz (their device clock_locked_mhz or --clock-locked): give one")
    return spec


def _predict_point(p: dict, hw_name: str, clock_mhz: float | None = None) -> dict:
    from simulator.api import default_algorithm, evaluate, hardware
    from simulator.gpu_model import stream_ratio

    spec = hardware(hw_name)
    if clock_mhz and spec.kind != "gpu":
        raise UserError(f"a locked SM clock ({clock_mhz:g} MHz) applies to a GPU model; {spec.name} is an "
                        f"{spec.kind}")
    spec = at_clock(spec, clock_mhz)
    algo = p.get("algorithm") or default_algorithm(spec)
    given = {k: p[k] for k in _WORKLOAD_FIELDS if p.get(k) is not None}
    if p.get("block_q") and p.get("block_q") == p.get("block_kv") and (p.get("kernel") or "").startswith("attnsim"):
        given["block_size"] = p["block_q"]  # our own kernels: model the tile they really use
    wl = Workload(**given)
    result = evaluate(spec, algo, wl)
    predicted = result.time_s
    roofline = roofline_time_s(spec, wl) if spec.kind == "gpu" else None
    floor = floor_time_s(spec, wl, algo, result.flops) if spec.kind == "gpu" else None
    measured = p["measured_s"]
    labels = {k: p[k] for k in ("device", "row") if k in p}
    return {"kernel": p.get("kernel") or algo, "algorithm": algo, "hardware": hw_name,
            **{k: getattr(wl, k) for k in (*WORKLOAD_KEYS, "dtype", "scope")}, **labels,
            "measured_s": measured, "predicted_s": predicted, "error": predicted / measured - 1.0,
            "roofline_s": roofline, "roofline_error": None if roofline is None else roofline / measured - 1.0,
            "stream_ratio": stream_ratio(result) if spec.kind == "gpu" else None,
            "floor_s": floor and floor[0], "floor_bound": floor and floor[1],
            "below_floor": under_floor(measured, floor)}


def call_key(p: dict) -> tuple:
    """What one timed call is: its kernel and the fields of SAME_CALL (rows with equal keys timed the same call)."""
    return (p["kernel"], *(p.get(k) for k in SAME_CALL))


def speedup_errors(points: list[dict]) -> list[dict]:
    """Predicted vs measured speedups: each fused point over each naive kernel of its shape (attnsim's own
    and PyTorch's standard attention, where both ran), each sparse point over its dense twin. A call timed in
    several rows (the same kernel and shape) pairs once, by its first row: repeats are no more speedups."""
    def key(p, **override):
        q = {**{k: p.get(k) for k in SAME_CALL}, **override}
        return tuple(q[k] for k in SAME_CALL)

    naive = {}
    for p in points:
        if p["algorithm"] == "naive":
            naive.setdefault(key(p), {}).setdefault(p["kernel"], p)
    naive = {k: list(v.values()) for k, v in naive.items()}
    dense = {}
    for p in points:
        if not p.get("sparsity") and not p.get("pattern"):
            dense.setdefault((p["kernel"], key(p)), p)
    out, seen = [], set()
    for p in points:
        if call_key(p) in seen:
            continue
        seen.add(call_key(p))
        if p["algorithm"] != "naive":
            # standard attention has no varlen entry (a varlen call's baseline ran the batch padded) and no split count
            out += [_pair("fused_vs_naive", p, base) for base in naive.get(key(p, varlen=False, num_splits=None), ())]
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
    """Median and max |error| overall, per algorithm, per kernel, and for each kind of speedup; beside
    each group of points the one-line roofline's median |error| on the same points."""
    by_algo, by_kernel = {}, {}
    for p in points:
        by_algo.setdefault(p["algorithm"], []).append(p)
        by_kernel.setdefault(p["kernel"], []).append(p)
    by_kind = {}
    for s in speedups:
        by_kind.setdefault(s["kind"], []).append(s["error"])
    return {"overall": point_stats(points),
            "per_algorithm": {a: point_stats(ps) for a, ps in by_algo.items()},
            "per_kernel": {k: point_stats(ps) for k, ps in by_kernel.items()},
            "speedups": {k: _stats(e) for k, e in by_kind.items()}}


def point_stats(points: list[dict]) -> dict:
    """n, the model's median and max |error|, and the roofline's median |error| (None unless every
    point has a roofline time, so that both medians are over the same points)."""
    roofline = [p["roofline_error"] for p in points]
    return {**_stats([p["error"] for p in points]),
            "roofline_median_abs_error": _median_abs(roofline) if None not in roofline else None}


def _stats(errors: list[float]) -> dict:
    return {"n": len(errors), "median_abs_error": _median_abs(errors),
            "max_abs_error": max((abs(e) for e in errors), default=None)}


def _median_abs(errors: list[float]) -> float | None:
    return statistics.median(abs(e) for e in errors) if errors else None


def report(path: str, hw: str | None = None) -> dict:
    """The whole report of a validation results file (FORMAT.md) as JSON-ready data."""
    return report_doc(load_results(path), hw)


def report_doc(doc: dict, hw: str | None = None) -> dict:
    """The report of a results file or of a user's measured points (already read): device, hardware
    model(s), points, speedups, summary."""
    points = predict(doc, hw)
    speedups = speedup_errors(points)
    if hw or doc.get("format") != MEASURED_FORMAT:
        hw_name = hardware_for(doc, hw)
    else:
        hw_name = ", ".join(dict.fromkeys(p["hardware"] for p in points))
    with as_built(doc):
        from simulator.api import current_builds

        builds = dict(zip(BUILD_KEYS, current_builds()))  # the kernel builds the points were predicted as
    return {"device": doc["device"], "source": doc.get("source"), "hardware": hw_name, "builds": builds,
            "points": points, "speedups": speedups, "summary": summarize(points, speedups)}
