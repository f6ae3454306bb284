"""How well does the model know a kernel on a GPU? Its errors on the bundled published timings.

Every file in validation/published/ (published figures, not measured by attnsim) is predicted on its hardware model
as `attnsim validate report` does, per file and algorithm, with the one-line roofline beside it (validation/roofline.py)
and each row's role: ``fit`` where a bundled hardware figure was fitted from its points (a figure whose source in
gpu_models/specs names the file in its `attnsim calibrate --kernels` command, of the kind, mma_sync, wgmma, tcgen05,
unfused or cuda_core, those points are, and among the points that command's fit takes: validation.kernel_fit's
fit_points on the file's hardware), ``fit k/n`` where k of the n were, ``dev`` for issue 10's development sets no
figure is fitted from (the mechanisms were built against them), ``held out`` for the rest. bench/accuracy.py prints
the rows; `attnsim validate evidence` and `simulate --explain` pool them per (hardware model, algorithm), counting
only the points no figure was fitted from as evidence (a fitted point shows the fit, not the model's reach).
"""

import re
import statistics
import tomllib
from functools import lru_cache
from pathlib import Path

from einsum_cascades.errors import UserError
from validation.report import BUILD_KEYS, MEASURED_FORMAT, hardware_for, locked_clock_mhz, point_stats, predict

PUBLISHED = Path(__file__).resolve().parent / "published"
SPECS = Path(__file__).resolve().parent.parent / "gpu_models" / "specs"
TIE = 0.0005  # medians closer than this (0.05 points of error) print as a tie
DEVELOPMENT = ("flashinfer-decode-h100.json",)  # issue 10's development sets that no figure is fitted from
KINDS = ("mma_sync", "wgmma", "tcgen05", "unfused", "cuda_core")  # kernel_fit's targets, a figure's name prefix
FIT_COMMAND = re.compile(r"fitted by `attnsim calibrate --kernels([^`]*)`")
DECODE_MAX_QUERIES = 16  # a call of at most this many queries a request is a decode step (speculative ones included)
PHASES = ("decode", "prefill")
PRECISIONS = ("8-bit", "16-bit", "32-bit")  # of the inputs: fp8; fp16 and bf16; fp32


def phase_of(seq_len: int) -> str:
    """``decode`` for a call of at most DECODE_MAX_QUERIES queries a request (one generation step, or a speculative
    one's few), ``prefill`` for more: the two regimes bind on different units (the KV stream against the tiles'
    compute), so evidence for one says little of the other.

    >>> phase_of(1), phase_of(16), phase_of(17)
    ('decode', 'decode', 'prefill')
    """
    return "decode" if seq_len <= DECODE_MAX_QUERIES else "prefill"


def precision_of(dtype: str) -> str:
    """The inputs' width, ``8-bit`` (fp8), ``16-bit`` (fp16, bf16) or ``32-bit``: 8-bit inputs run other kernels
    (FA3's fp8 path, FlashInfer's 8-bit caches) and halve the bytes, so their errors are not a 16-bit call's.

    >>> precision_of("bf16"), precision_of("fp8")
    ('16-bit', '8-bit')
    """
    from simulator.workload import DTYPE_BYTES

    return f"{8 * DTYPE_BYTES[dtype]}-bit"


def published_files() -> list[Path]:
    """The bundled published sets, by name."""
    return sorted(p for p in PUBLISHED.iterdir() if p.suffix.lower() in (".json", ".csv"))


def fitted() -> set:
    """(file name, kind) of every bundled figure fitted by ``attnsim calibrate --kernels``."""
    out = set()
    for toml in SPECS.glob("*.toml"):
        for name, entry in tomllib.loads(toml.read_text()).items():
            source = entry.get("source", "") if isinstance(entry, dict) else ""
            kind = next((k for k in KINDS if name.startswith(k + "_")), None)
            for command in FIT_COMMAND.findall(source):
                words = command.split()
                only = words[words.index("--only") + 1].split(",") if "--only" in words else KINDS
                if kind in only:
                    out |= {(Path(w).name, kind) for w in words if w.startswith("validation/published/")}
    return out


def accuracy(path: Path, fits: set = frozenset()) -> dict:
    """One file's rows (per algorithm) and skipped points; a file attnsim cannot read at all is skipped whole."""
    from validation.measured_file import load  # a published set, or measured points in a user's CSV / JSON layout

    skipped = []
    try:
        doc = load(str(path))
        points = predict(doc, None, skipped)
    except UserError as err:
        return {"file": path.name, "rows": [], "skipped": [{"point": "all", "reason": str(err)}]}
    by_algo = {}
    for p in points:
        by_algo.setdefault(p["algorithm"], []).append(p)
    used = _fit_counts(path.name, doc, fits)
    rows = [{"algorithm": algo, "hardware": ",".join(dict.fromkeys(p["hardware"] for p in ps)),
             **_row(point_stats(ps)), "model_median_error": statistics.median(p["error"] for p in ps),
             "role": _role(path.name, used.get(algo, 0), len(ps)),
             "errors": [(p["error"], p["roofline_error"]) for p in ps], "phases": [phase_of(p["seq_len"]) for p in ps],
             "precisions": [precision_of(p["dtype"]) for p in ps]}
            for algo, ps in by_algo.items()]
    return {"file": path.name, "rows": rows, "skipped": skipped}


def overall(results: list[dict]) -> list[dict]:
    """Every point's |error| pooled by its row's role (a row partly fitted counts as fitted): per role n, the
    model's and the roofline's median |error| over the points that have both, and how many points each puts
    within 10%."""
    pooled: dict = {}
    for r in results:
        for row in r["rows"]:
            pooled.setdefault(pooled_role(row), []).extend(e for e in row["errors"] if e[1] is not None)
    return [{"role": role, **_pooled_stats(pooled[role])} for role in ("held out", "dev", "fit") if pooled.get(role)]


def by_family(results: list[dict], role: str = "held out") -> list[dict]:
    """The points of the rows of one pooled role (``pooled_role``), pooled per kernel family over every set: n, the
    model's and the roofline's median |error| over the points that have both, and how many each puts within 10%;
    the family with the highest model median first. Issue 10's bar for held-out sets is per family (10%)."""
    pooled: dict = {}
    for r in results:
        for row in r["rows"]:
            if pooled_role(row) == role:
                pooled.setdefault(row["algorithm"], []).extend(e for e in row["errors"] if e[1] is not None)
    out = [{"algorithm": algo, **_pooled_stats(pts)} for algo, pts in pooled.items() if pts]
    return sorted(out, key=lambda o: (-o["model_median_abs_error"], o["algorithm"]))


def by_phase(results: list[dict], role: str = "held out") -> list[dict]:
    """The points of the rows of one pooled role, pooled per phase (``phase_of``) over every set and family: n, the
    model's and the roofline's median |error| over the points that have both, and how many each puts within 10%."""
    return _pooled_by(results, role, "phases", "phase", PHASES)


def by_precision(results: list[dict], role: str = "held out") -> list[dict]:
    """As ``by_phase``, per input width (``precision_of``)."""
    return _pooled_by(results, role, "precisions", "precision", PRECISIONS)


def _pooled_by(results: list[dict], role: str, field: str, name: str, order: tuple) -> list[dict]:
    pooled: dict = {}
    for r in results:
        for row in r["rows"]:
            if pooled_role(row) == role:
                for e, key in zip(row["errors"], row[field]):
                    if e[1] is not None:
                        pooled.setdefault(key, []).append(e)
    return [{name: key, **_pooled_stats(pooled[key])} for key in order if pooled.get(key)]


def _pooled_stats(pts: list[tuple]) -> dict:
    """n, the model's and the roofline's median |error|, and how many each puts within 10%, of (model, roofline)
    error pairs."""
    model, roof = [abs(m) for m, _ in pts], [abs(x) for _, x in pts]
    return {"n": len(pts), "model_median_abs_error": statistics.median(model),
            "roofline_median_abs_error": statistics.median(roof), "model_within_10pct": sum(m <= 0.1 for m in model),
            "roofline_within_10pct": sum(x <= 0.1 for x in roof)}


def pooled_role(row: dict) -> str:
    """A row's role when points are pooled: a row partly fitted counts as fitted."""
    return "fit" if row["role"].startswith("fit") else row["role"]


@lru_cache(maxsize=1)
def _fits() -> frozenset:
    return frozenset(fitted())


@lru_cache(maxsize=None)
def _result(path: Path) -> dict:
    return accuracy(path, _fits())


@lru_cache(maxsize=None)
def _file_hardware(path: Path) -> str | None:
    """The hardware model a published file's points are predicted on (its device's), None for a measured file."""
    from validation.measured_file import load

    try:
        doc = load(str(path))
    except UserError:
        return None
    return None if doc.get("format") == MEASURED_FORMAT else hardware_for(doc, None)


def published_results(hardware: tuple[str, ...] | None = None) -> list[dict]:
    """accuracy() of the bundled published sets (each computed once a process), only those predicted on these
    hardware models if given (a measured-format file, whose rows name their own, is always read)."""
    return [_result(p) for p in published_files()
            if not hardware or _file_hardware(p) is None or _file_hardware(p) in hardware]


def evidence(hardware: tuple[str, ...] | None = None, algorithms: tuple[str, ...] | None = None,
             phase: str | None = None, precision: str | None = None) -> list[dict]:
    """Per (hardware model, algorithm) of the bundled published sets, optionally only these: the points no bundled
    figure was fitted from (held out and dev) with the model's median, quartiles, signed median (bias) and largest
    |error|,
    how many fall within 10%, the roofline's median |error| on them, the sets they come from, and apart the points
    a figure was fitted from (not evidence of the model's reach). ``phase`` (``phase_of``: decode or prefill) and
    ``precision`` (``precision_of``: 8-bit, 16-bit or 32-bit inputs) keep only those points, and a pair with none
    of them has no row; every row says its phase and precision (``all`` where not asked). Sorted by hardware, then
    algorithm."""
    groups: dict = {}
    for r in published_results(hardware):
        for row in r["rows"]:
            if (hardware and row["hardware"] not in hardware) or (algorithms and row["algorithm"] not in algorithms):
                continue
            keep = [i for i, (ph, pr) in enumerate(zip(row["phases"], row["precisions"]))
                    if phase in (None, ph) and precision in (None, pr)]
            if not keep:
                continue
            g = groups.setdefault((row["hardware"], row["algorithm"]), {"errors": [], "sets": [], "fitted": 0,
                                                                        "fitted_sets": []})
            if pooled_role(row) == "fit":
                g["fitted"] += len(keep)
                g["fitted_sets"].append(r["file"])
            else:
                g["errors"] += [row["errors"][i] for i in keep]
                g["sets"].append(r["file"])
    out = []
    for (hw, algo), g in sorted(groups.items()):
        model = [m for m, _ in g["errors"]]
        roof = [x for _, x in g["errors"]]
        size = [abs(m) for m in model]
        q1, _, q3 = quartiles(size) if model else (None, None, None)
        out.append({"hardware": hw, "algorithm": algo, "phase": phase or "all", "precision": precision or "all",
                    "n": len(model),
                    "model_median_abs_error": statistics.median(size) if model else None,
                    "model_median_error": statistics.median(model) if model else None,
                    "model_max_abs_error": max(size, default=None),
                    "model_abs_error_quartiles": [q1, q3] if model else None,
                    "model_within_10pct": sum(m <= 0.1 for m in size),
                    "roofline_median_abs_error": (statistics.median(abs(x) for x in roof)
                                                  if model and None not in roof else None),
                    "sets": g["sets"], "fitted_points": g["fitted"], "fitted_sets": g["fitted_sets"]})
    return out


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(lower quartile, median, upper quartile) of ``values`` (the 'inclusive' method: within their range); one value
    is all three."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _fit_counts(name: str, doc: dict, fits: set) -> dict:
    """Algorithm -> how many of the file's points a bundled figure's fit took."""
    from simulator.api import hardware
    from validation.kernel_fit import fit_points

    kinds = tuple(kind for file, kind in fits if file == name)
    if not kinds or doc.get("format") == MEASURED_FORMAT:
        return {}
    builds = {k: doc.get(k) for k in BUILD_KEYS}
    points = {**doc, "points": [{**p, **builds, "clock_locked_mhz": locked_clock_mhz(doc)} for p in doc["points"]]}
    counts: dict = {}
    for taken in fit_points(points, hardware(hardware_for(doc, None)), kinds).values():
        for point in taken:
            counts[point[1]] = counts.get(point[1], 0) + 1
    return counts


def _role(name: str, used: int, n: int) -> str:
    if used:
        return "fit" if used >= n else f"fit {used}/{n}"
    return "dev" if name in DEVELOPMENT else "held out"


def _row(stats: dict) -> dict:
    model, roof = stats["median_abs_error"], stats["roofline_median_abs_error"]
    if roof is None:
        wins = "-"
    else:
        wins = "tie" if abs(model - roof) < TIE else "model" if model < roof else "roofline"
    return {"n": stats["n"], "model_median_abs_error": model, "roofline_median_abs_error": roof, "wins": wins}
