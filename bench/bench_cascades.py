"""Cost of a compiled cascade point against a built-in family point (prints figures, asserts nothing).

Run: python3 bench/bench_cascades.py

Each line times ``evaluate`` over the same dense workloads (lengths 1k-64k; 2,000 on a GPU, 300 on an
accelerator) for a built-in family and for cascades mapped onto it: the bundled cascade by name, and the same
cascade from a user's .cascade file (a copy of the library file). A cascade's plan (its walk, binding and
schedule) is made once per cascade and reused; a file is parsed once while it is unchanged, so a point pays a
few stats of the file to know that.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import Workload, evaluate, hardware  # noqa: E402

LIBRARY = Path(__file__).resolve().parents[1] / "einsum_cascades" / "library"


def per_point_us(hw_name: str, algos: list, n: int, rounds: int = 7) -> dict:
    """Microseconds per point for each of ``algos``, the best of ``rounds`` rounds that time them in turn over
    the same n workloads (interleaved, so a busy machine slows them alike; the first point plans, untimed)."""
    hw = hardware(hw_name)
    workloads = [Workload(seq_len=1024 * (1 + i % 64), heads=32, head_dim=128) for i in range(n)]
    best = dict.fromkeys(algos, float("inf"))
    for algo in algos:
        evaluate(hw, algo, workloads[0])
    for _ in range(rounds):
        for algo in algos:
            t = time.perf_counter()
            for wl in workloads:
                evaluate(hw, algo, wl)
            best[algo] = min(best[algo], (time.perf_counter() - t) / n * 1e6)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mine = {name: shutil.copy(LIBRARY / f"{name}.cascade", Path(tmp) / f"my-{name}.cascade")
                for name in ("attention-1pass", "attention-3pass")}
        rows = [("h100", "flash3", "attention-1pass@flash3", f"{mine['attention-1pass']}@flash3", 2000),
                ("fusemax", "fusemax", "attention-1pass@fusemax", f"{mine['attention-1pass']}@fusemax", 300),
                ("flat", "flat", "attention-3pass@flat", f"{mine['attention-3pass']}@flat", 300)]
        print(f"{'machine':<9}{'built-in':<10}{'us/point':>9}  {'bundled cascade':<26}{'us/point':>9}  "
              f"{'cascade file':<14}{'us/point':>9}")
        for hw, family, bundled, path, n in rows:
            t = per_point_us(hw, [family, bundled, path], n)
            print(f"{hw:<9}{family:<10}{t[family]:9.1f}  {bundled:<26}{t[bundled]:9.1f}  {'file@' + family:<14}"
                  f"{t[path]:9.1f}")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
