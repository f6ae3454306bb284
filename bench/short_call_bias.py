"""How much longer do published short calls run than predicted? (run: python bench/short_call_bias.py [--json]
[--under US])

Every point of every file in validation/published/ (published figures, not measured by attnsim) timed with an
L2 flush before each call (scope kernel: nvbench's cold measurement, Triton's do_bench, ...) whose predicted
time is under ``--under`` microseconds (default: simulator.gpu_model.SHORT_CALL_S) is predicted as
`attnsim validate report` does. Per file and family, and over all of them: the measured minus the predicted time
in microseconds. A call this short is mostly its fixed costs (launches, first loads, the merge kernel), and
the gap is what the published timings hold beyond them: an event pair around one call after a flush kernel,
cold instruction and TLB caches, which attnsim does not model (docs/kernels.md, "What a short call's time
also holds"). `--explain` quotes the quartiles on such a call. Prints figures, asserts nothing.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from bench._published import predicted_points  # noqa: E402  (after the path set-up above)
from simulator.gpu_model import SHORT_CALL_S  # noqa: E402
from validation.evidence import quartiles  # noqa: E402  (the inclusive quartiles evidence rows carry)


def short_points(under_s: float = SHORT_CALL_S) -> list[dict]:
    """Every published flushed (scope kernel) point predicted under ``under_s``, with its file's name and its
    gap (measured - predicted, seconds)."""
    return [{**p, "gap_s": p["measured_s"] - p["predicted_s"]} for p in predicted_points()
            if p.get("predicted_s") is not None and p["scope"] == "kernel" and p["predicted_s"] < under_s]


def summary(points: list[dict]) -> dict:
    """Per (file, family) and over all points: n, the gaps' quartiles and range, in microseconds."""
    groups = {}
    for p in points:
        groups.setdefault((p["file"], p["algorithm"]), []).append(p["gap_s"] * 1e6)
    rows = [_row(gaps, file=f, algorithm=a) for (f, a), gaps in sorted(groups.items())]
    return {"groups": rows, "all": _row([p["gap_s"] * 1e6 for p in points]) if points else None}


def _row(gaps: list[float], **key) -> dict:
    q1, q2, q3 = quartiles(gaps)
    return {**key, "n": len(gaps), "q1_us": q1, "median_us": q2, "q3_us": q3, "min_us": min(gaps), "max_us": max(gaps)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Measured minus predicted time of the published flushed calls "
                                                 "predicted under a few tens of microseconds.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--under", type=float, default=SHORT_CALL_S * 1e6,
                        help=f"predicted time below which a call counts as short, us (default {SHORT_CALL_S * 1e6:g})")
    args = parser.parse_args(argv)
    if not 0 < args.under <= 1e6:
        parser.error(f"--under {args.under:g}: must be > 0 and <= 1000000 (microseconds)")
    result = summary(short_points(args.under * 1e-6))
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return 0
    print(f"published flushed calls (scope kernel) predicted under {args.under:g} us: measured - predicted, us")
    print(f"  {'file':<40} {'algorithm':<28} {'n':>3} {'q1':>6} {'median':>7} {'q3':>6} {'min':>6} {'max':>6}")
    for r in result["groups"] + ([dict(result["all"], file="all", algorithm="")] if result["all"] else []):
        print(f"  {r['file']:<40} {r['algorithm']:<28} {r['n']:>3} {r['q1_us']:>6.1f} {r['median_us']:>7.1f} "
              f"{r['q3_us']:>6.1f} {r['min_us']:>6.1f} {r['max_us']:>6.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
