"""Does the model earn its keep? Per published set and family, its median |error| beside the one-line
roofline's (run: python bench/accuracy.py [--json]).

For every file in validation/published/ (published figures, not measured by attnsim), every point
is predicted on the file's hardware model, as `attnsim validate report` does, and by the one-line
roofline (validation/roofline.py): max(FLOPs / 60% of the tensor peak, Q/K/V/O bytes / 90% of HBM).
Per file and algorithm: n, both median |predicted / measured - 1|, the model's bias (the signed median of
predicted / measured - 1: + where it predicts longer than measured, - shorter), which median is lower, and the
points' role, `fit`, `fit k/n`, `dev` or `held out` (validation/evidence.py says how each is told). A point attnsim
cannot run (an algorithm it does not model yet, a shape it rejects) is skipped, and the reason printed.
After the table, every point pooled by its row's role: the model's and the roofline's median |error| and how
many points each puts within 10%; then the held-out points pooled by kernel family over every set (issue 10 asks
held-out sets within 10% per family), the worst family first, by phase (decode or prefill calls) and by input
width (8- or 16-bit). Prints figures, asserts nothing.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from validation.evidence import (  # noqa: E402  (after the path set-up)
    DECODE_MAX_QUERIES, accuracy, by_family, by_phase, by_precision, fitted, overall, published_files)


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
    families = by_family(results)
    if families:
        width = max(len(f["algorithm"]) for f in families)
        print("held-out points pooled by kernel family over the sets above (the bar: 10% per family):")
        for f in families:
            mark = "  over 10%" if f["model_median_abs_error"] > 0.1 else ""
            print(_pooled(f["algorithm"], width, f) + mark)
    phases = by_phase(results)
    if phases:
        print(f"held-out points pooled by phase (decode: at most {DECODE_MAX_QUERIES} queries a request; "
              "prefill: more):")
        for f in phases:
            print(_pooled(f["phase"], 8, f))
    widths = by_precision(results)
    if widths:
        print("held-out points pooled by input width (8-bit: fp8; 16-bit: fp16 and bf16):")
        for f in widths:
            print(_pooled(f["precision"], 8, f))
    for r in results:
        reasons = {}
        for s in r["skipped"]:
            reasons.setdefault(s["reason"], []).append(s)
        for reason, points in reasons.items():
            kernels = ", ".join(dict.fromkeys(str(s.get("kernel")) for s in points))
            what = "the whole file" if points[0]["point"] == "all" else f"{len(points)} point{'s' * (len(points) != 1)} of kernel {kernels}"
            print(f"skipped {r['file']}, {what}: {reason}")


def _pooled(label: str, width: int, f: dict) -> str:
    """One pooled line: n, the model's and the roofline's median |error| and how many each puts within 10%."""
    return (f"  {label:<{width}}  {f['n']:4d} points  model median {_pct(f['model_median_abs_error']):>5}, "
            f"{f['model_within_10pct']:3d} within 10%;  roofline median {_pct(f['roofline_median_abs_error']):>6}, "
            f"{f['roofline_within_10pct']:3d} within 10%")


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="files to report on (default: every file in "
                        "validation/published/)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    files = args.files or published_files()
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
