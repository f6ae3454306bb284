"""Does the model earn its keep? Per published set and family, its median |error| beside the one-line
roofline's (run: python bench/accuracy.py [--json]).

For every file in validation/published/ (published figures, not measured by attnsim), every point
is predicted on the file's hardware model, as `attnsim validate report` does, and by the one-line
roofline (validation/roofline.py): max(FLOPs / 60% of the tensor peak, Q/K/V/O bytes / 90% of HBM).
Per file and algorithm: n, both median |predicted / measured - 1|, the model's bias (the signed median of
predicted / measured - 1: + where it predicts longer than measured, - shorter), which median is lower, and the
points' role:
`fit` where a bundled hardware figure was fitted from them (a figure whose source in gpu_models/specs names
the file in its `attnsim calibrate --kernels` command, of the kind, mma_sync, wgmma, tcgen05, unfused or
cuda_core, those points are, and among the points that command's fit takes: validation.kernel_fit's
fit_points on the file's hardware), `fit k/n` where k of the n were, `dev` for the issue's development sets
no figure is fitted from (the mechanisms were built against them), `held out` for the rest. A point attnsim
cannot run (an algorithm it does not model yet, a shape it rejects) is skipped, and the reason printed.
After the table, every point pooled by its row's role: the model's and the roofline's median |error| and how
many points each puts within 10%. Prints figures, asserts nothing.
"""

import argparse
import json
import re
import statistics
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from cli._measured_file import load  # noqa: E402  (after the path set-up above)
from einsum_cascades.errors import UserError  # noqa: E402
from simulator.api import hardware  # noqa: E402
from validation.kernel_fit import fit_points  # noqa: E402
from validation.report import (BUILD_KEYS, MEASURED_FORMAT, hardware_for, locked_clock_mhz, point_stats,  # noqa: E402
                               predict)

PUBLISHED = ROOT / "validation" / "published"
SPECS = ROOT / "gpu_models" / "specs"
TIE = 0.0005  # medians closer than this (0.05 points of error) print as a tie
DEVELOPMENT = ("flashinfer-decode-h100.json",)  # issue 10's development sets that no figure is fitted from
KINDS = ("mma_sync", "wgmma", "tcgen05", "unfused", "cuda_core")  # kernel_fit's targets, a figure's name prefix
FIT_COMMAND = re.compile(r"fitted by `attnsim calibrate --kernels([^`]*)`")


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
    rows = [{"algorithm": algo, **_row(point_stats(ps)), "model_median_error": statistics.median(p["error"] for p in ps),
             "role": _role(path.name, used.get(algo, 0), len(ps)),
             "errors": [(p["error"], p["roofline_error"]) for p in ps]}
            for algo, ps in by_algo.items()]
    return {"file": path.name, "rows": rows, "skipped": skipped}


def overall(results: list[dict]) -> list[dict]:
    """Every point's |error| pooled by its row's role (a row partly fitted counts as fitted): per role n, the
    model's and the roofline's median |error| over the points that have both, and how many points each puts
    within 10%."""
    pooled: dict = {}
    for r in results:
        for row in r["rows"]:
            role = "fit" if row["role"].startswith("fit") else row["role"]
            pooled.setdefault(role, []).extend(e for e in row["errors"] if e[1] is not None)
    out = []
    for role in ("held out", "dev", "fit"):
        pts = pooled.get(role, [])
        if pts:
            model, roof = sorted(abs(m) for m, _ in pts), sorted(abs(r) for _, r in pts)
            out.append({"role": role, "n": len(pts), "model_median_abs_error": statistics.median(model),
                        "roofline_median_abs_error": statistics.median(roof),
                        "model_within_10pct": sum(m <= 0.1 for m in model),
                        "roofline_within_10pct": sum(r <= 0.1 for r in roof)})
    return out


def _fit_counts(name: str, doc: dict, fits: set) -> dict:
    """Algorithm -> how many of the file's points a bundled figure's fit took."""
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


def print_table(results: list[dict]) -> None:
    header = ("file", "algorithm", "n", "model", "bias", "roofline", "wins", "role")
    lines = [(r["file"], row["algorithm"], str(row["n"]), _pct(row["model_median_abs_error"]),
              f"{row['model_median_error']:+.1%}", _pct(row["roofline_median_abs_error"]), row["wins"], row["role"])
             for r in results for row in r["rows"]]
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    print("median |predicted / measured - 1| per published set and algorithm (bias: the model's signed median, "
          "+ slow, - fast)")
    for line in (header, *lines):
        cells = (x.ljust(w) if i in (0, 1, 6, 7) else x.rjust(w) for i, (x, w) in enumerate(zip(line, widths)))
        print("  ".join(cells).rstrip())
    print("all points pooled by role (|predicted / measured - 1|):")
    for o in overall(results):
        print(f"  {o['role']:<8}  {o['n']:4d} points  model median {_pct(o['model_median_abs_error'])}, "
              f"{o['model_within_10pct']} within 10%;  roofline median {_pct(o['roofline_median_abs_error'])}, "
              f"{o['roofline_within_10pct']} within 10%")
    for r in results:
        reasons = {}
        for s in r["skipped"]:
            reasons.setdefault(s["reason"], []).append(s)
        for reason, points in reasons.items():
            kernels = ", ".join(dict.fromkeys(str(s.get("kernel")) for s in points))
            what = "the whole file" if points[0]["point"] == "all" else f"{len(points)} point{'s' * (len(points) != 1)} of kernel {kernels}"
            print(f"skipped {r['file']}, {what}: {reason}")


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="files to report on (default: every file in "
                        "validation/published/)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    files = args.files or sorted(p for p in PUBLISHED.iterdir() if p.suffix.lower() in (".json", ".csv"))
    fits = fitted()
    results = [accuracy(p, fits) for p in files]
    if args.json:
        for r in results:
            for row in r["rows"]:
                row.pop("errors")
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
