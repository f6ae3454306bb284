"""Where is the model biased? The fused prefill kernels' time blends their compute and HBM stream per call
((C^p + S^p)^(1/p), gpu_model.overlapped; the larger of the two until 2026-12-05); this prints the published
prefill points' errors binned by the ratio of the two (run: python bench/stream_bias.py [--json] [--bin 0.1]
[--scope kernel|kernel-warm]).

Every point of every file in validation/published/ (published figures, not measured by attnsim) that a
fused prefill family (flash1, flash2, flash3, flash4) runs with more than one query is predicted as
`attnsim validate report` does; its `stream_ratio` is the call's HBM stream (bytes, first byte and last
tile, the cold L2's write-backs) over its compute time. Per bin of that ratio: n, the median and mean of
predicted / measured - 1, and how many points the model predicts fast. The FP8 points (the FA3 paper's
pre-release FP8 kernel) are binned apart: README, "Where it is still off". Prints figures, asserts
nothing.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from bench._published import predicted_points  # noqa: E402  (after the path set-up above)
from simulator.gpu_model import PREFILL_FAMILIES  # noqa: E402


def prefill_points() -> list[dict]:
    """Every published prefill point of a fused family, predicted, with its file's name."""
    return [p for p in predicted_points()
            if p["algorithm"] in PREFILL_FAMILIES and p["seq_len"] > 1 and p.get("stream_ratio") is not None]


def bins(points: list[dict], width: float) -> list[dict]:
    """Per ratio bin [lo, lo + width): n, median and mean error, points predicted fast."""
    groups = {}
    for p in points:
        groups.setdefault(int(p["stream_ratio"] / width), []).append(p["error"])
    return [{"ratio_from": round(k * width, 6), "ratio_to": round((k + 1) * width, 6), "n": len(errs),
             "median_error": statistics.median(errs), "mean_error": statistics.fmean(errs),
             "fast": sum(e < 0 for e in errs)} for k, errs in sorted(groups.items())]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Bin the published prefill points' errors (predicted / measured - 1) "
                                                 "by the ratio of their HBM stream to their compute time.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--bin", type=float, default=0.1, help="bin width of the stream / compute ratio")
    parser.add_argument("--scope", choices=("kernel", "kernel-warm"),
                        help="only the points timed so: kernel (an L2 flush before each call, its dirty lines written "
                             "back by the call) or kernel-warm (calls repeated without a flush); default both")
    args = parser.parse_args(argv)
    if not 0 < args.bin <= 10:
        parser.error(f"--bin {args.bin:g}: must be > 0 and <= 10")
    points = [p for p in prefill_points() if args.scope in (None, p["scope"])]
    groups = {"16-bit": [p for p in points if p["dtype"] != "fp8"], "fp8": [p for p in points if p["dtype"] == "fp8"]}
    result = {name: bins(ps, args.bin) for name, ps in groups.items()}
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        print()
        return 0
    print("published prefill points (flash1-4, more than one query" + (f", scope {args.scope}" if args.scope else "")
          + "): predicted / measured - 1 by HBM stream / compute")
    for name, rows in result.items():
        print(f"{name} ({sum(r['n'] for r in rows)} points)")
        print(f"  {'stream/compute':>14}  {'n':>4}  {'median':>7}  {'mean':>7}  {'fast':>5}")
        for r in rows:
            span = f"{r['ratio_from']:.2f}-{r['ratio_to']:.2f}"
            print(f"  {span:>14}  {r['n']:>4}  {r['median_error']:+7.1%}  {r['mean_error']:+7.1%}  {r['fast']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
