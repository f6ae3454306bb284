"""Throughput of the simulator: prints figures, asserts nothing (run: python bench/bench_simulate.py).

- dense GPU points per second through the Python API, `attnsim simulate --from` and `attnsim sweep`;
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
    """n distinct dense GPU points: four GPUs, two head dims, varied lengths, batches and heads."""
    hws, dims = ("a100", "h100", "h200", "b200"), (64, 128)
    return [dict(hardware=hws[i % 4], head_dim=dims[i // 4 % 2], seq_len=512 + 64 * (i // 8 % 1000),
                 batch=1 + i // 8000 % 8, heads=8 * (1 + i // 64000 % 4)) for i in range(n)]


def bench_api(n=20000):
    points = dense_points(n)
    run_points(points[:100])  # warm imports and the bundled hardware files
    t = time.perf_counter()
    run_points(points)
    return n / (time.perf_counter() - t)


def _cli_seconds(args):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def bench_cli(n=100000):
    """(points/s, seconds for one point) through `attnsim simulate --from FILE.csv --format csv`, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "points.csv")
        for name, rows in (("points.csv", dense_points(n)), ("one.csv", dense_points(1))):
            with open(os.path.join(tmp, name), "w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=["hardware", "seq_len", "head_dim", "batch", "heads"])
                w.writeheader()
                w.writerows(rows)
        many = _cli_seconds(["simulate", "--from", path, "--format", "csv"])
        one = _cli_seconds(["simulate", "--from", os.path.join(tmp, "one.csv"), "--format", "csv"])
        return n / many, one


SWEEP = ["--hw", "a100,h100,h200,b200", "--seq-len", "128..1m", "--batch", "1..128", "--heads", "8,16,32,64",
         "--head-dim", "64,96,128,256", "--kv-len", "1k..64k", "--kv-heads", "1,8"]  # 100,352 dense points


def bench_sweep():
    """Points/s of a 100,352-point `attnsim sweep` to CSV, start-up included."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _cli_seconds(["sweep", *SWEEP, "-o", os.path.join(tmp, "sweep.csv")])
        return 100352 / seconds


def bench_sparse_1m():
    simulate("h100", "flash3", seq_len=4096, sparsity=0.5, causal=True)  # compile numba once
    t = time.perf_counter()
    simulate("h100", "flash3", seq_len=1 << 20, pattern="window(64k)|sinks(128)", causal=True)
    first = time.perf_counter() - t
    t = time.perf_counter()
    simulate("h100", "flash3", seq_len=1 << 20, sparsity=0.9, heads=8)
    random = time.perf_counter() - t
    t = time.perf_counter()  # a periodic set and a box on FA2's 128 x 64 tiles (d = 128)
    simulate("h100", "flash2", seq_len=1 << 20, pattern="causal&(strided(256)|window(1k))")
    return first, random, time.perf_counter() - t


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
    print(f"dense points/s via run_points (20,000 distinct points): {bench_api():,.0f}")
    rate, one = bench_cli()
    print(f"dense points/s via `attnsim simulate --from` (100,000 points, incl. start-up): {rate:,.0f}; "
          f"one point: {one:.2f} s")
    print(f"dense points/s via `attnsim sweep` to CSV (100,352 points, incl. start-up): {bench_sweep():,.0f}")
    pattern_s, random_s, periodic_s = bench_sparse_1m()
    print(f"1M-token sparse point: causal&(window(64k)|sinks(128)) {pattern_s:.3f} s, random 90% {random_s:.3f} s, "
          f"flash2 causal&(strided(256)|window(1k)) {periodic_s:.3f} s")
    print(f"FuseMax reproduction (120 points incl. baselines): {bench_fusemax():.3f} s")
