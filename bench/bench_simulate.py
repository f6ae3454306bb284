"""Throughput of the simulator: prints figures, asserts nothing (run: python bench/bench_simulate.py).

- dense GPU points per second through the Python API and through `attnsim simulate --from`;
- one 1M-token sparse point (pattern lowering + CTA scheduling);
- the whole FuseMax reproduction (5 configurations x 4 models x 6 lengths).
"""

import csv
import os
import subprocess
import sys
import tempfile
import time

from simulator import run_points, simulate
from simulator.presets import MODELS, PAPER_MODELS


def dense_points(n):
    hws, dims = ("a100", "h100", "h200", "b200"), (64, 128)
    return [dict(hardware=hws[i % 4], seq_len=512 << (i % 8), head_dim=dims[i % 2], batch=1 + i % 4) for i in range(n)]


def bench_api(n=20000):
    points = dense_points(n)
    run_points(points[:100])  # warm caches and imports
    t = time.perf_counter()
    run_points(points)
    return n / (time.perf_counter() - t)


def bench_cli(n=20000):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "points.csv")
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["hardware", "seq_len", "head_dim", "batch"])
            w.writeheader()
            w.writerows(dense_points(n))
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cli", "simulate", "--from", path, "--format", "csv"],
                       check=True, stdout=subprocess.DEVNULL)
        return n / (time.perf_counter() - t)


def bench_sparse_1m():
    simulate("h100", "flash3", seq_len=4096, sparsity=0.5, causal=True)  # compile numba once
    t = time.perf_counter()
    simulate("h100", "flash3", seq_len=1 << 20, pattern="window(64k)|sinks(128)", causal=True)
    first = time.perf_counter() - t
    t = time.perf_counter()
    simulate("h100", "flash3", seq_len=1 << 20, sparsity=0.9, heads=8)
    return first, time.perf_counter() - t


def bench_fusemax():
    t = time.perf_counter()
    for algo in ("unfused", "flat", "fusemax-cascade", "fusemax-arch", "fusemax"):
        for model in PAPER_MODELS:
            shape = MODELS[model]
            for n in (1 << 10, 1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20):
                simulate("fusemax" if algo.startswith("fusemax") and algo != "fusemax-cascade" else "flat",
                         algo, seq_len=n, **shape)
    return time.perf_counter() - t


if __name__ == "__main__":
    print(f"dense points/s via run_points: {bench_api():,.0f}")
    print(f"dense points/s via `attnsim simulate --from` (incl. start-up): {bench_cli():,.0f}")
    pattern_s, random_s = bench_sparse_1m()
    print(f"1M-token sparse point: causal&(window(64k)|sinks(128)) {pattern_s:.3f} s, random 90% {random_s:.3f} s")
    print(f"FuseMax reproduction (120 points incl. baselines): {bench_fusemax():.3f} s")
