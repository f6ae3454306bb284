"""Does the model earn its keep? Per published set and family, its median |error| beside the one-line
roofline's (run: python bench/accuracy.py [--json]).

For every file in validation/published/ (published figures, not measured by attnsim), every point
is predicted on the file's hardware model, as `attnsim validate report` does, and by the one-line
roofline (validation/roofline.py): max(FLOPs / 60% of the tensor peak, Q/K/V/O bytes / 90% of HBM).
Per file and algorithm: n, both median |predicted / measured - 1|, and which is lower. A point
attnsim cannot run (an algorithm it does not model yet, a shape it rejects) is skipped, and the
reason printed. Prints figures, asserts nothing.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from cli._measured_file import load  # noqa: E402  (after the path set-up above)
from einsum_cascades.errors import UserError  # noqa: E402
from validation.report import point_stats, predict  # noqa: E402

PUBLISHED = ROOT / "validation" / "published"
TIE = 0.0005  # medians closer than this (0.05 points of error) print as a tie


def accuracy(path: Path) -> dict:
    """One file's rows (per algorithm) and skipped points; a file attnsim cannot read at all is skipped whole."""
    skipped = []
    try:
        points = predict(load(str(path)), None, skipped)
    except UserError as err:
        return {"file": path.name, "rows": [], "skipped": [{"point": "all", "reason": str(err)}]}
    by_algo = {}
    for p in points:
        by_algo.setdefault(p["algorithm"], []).append(p)
    rows = [{"algorithm": algo, **_row(point_stats(ps))} for algo, ps in by_algo.items()]
    return {"file": path.name, "rows": rows, "skipped": skipped}


def _row(stats: dict) -> dict:
    model, roof = stats["median_abs_error"], stats["roofline_median_abs_error"]
    if roof is None:
        wins = "-"
    else:
        wins = "tie" if abs(model - roof) < TIE else "model" if model < roof else "roofline"
    return {"n": stats["n"], "model_median_abs_error": model, "roofline_median_abs_error": roof, "wins": wins}


def print_table(results: list[dict]) -> None:
    header = ("file", "algorithm", "n", "model", "roofline", "wins")
    lines = [(r["file"], row["algorithm"], str(row["n"]), _pct(row["model_median_abs_error"]),
              _pct(row["roofline_median_abs_error"]), row["wins"]) for r in results for row in r["rows"]]
    widths = [max(len(x) for x in column) for column in zip(header, *lines)]
    print("median |predicted / measured - 1| per published set and algorithm")
    for line in (header, *lines):
        cells = (x.ljust(w) if i in (0, 1, 5) else x.rjust(w) for i, (x, w) in enumerate(zip(line, widths)))
        print("  ".join(cells).rstrip())
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
    results = [accuracy(p) for p in files]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
