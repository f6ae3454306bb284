"""Throughput of the simulator: prints figures, asserts nothing (run: python bench/bench_simulate.py).

- dense and masked GPU points per second through the Python API, `attnsim simulate --from` and `attnsim sweep`;
- a 7,260-point sparse sweep (`SPARSE_SWEEP`);
- single-point latency of a whole `attnsim simulate` process: warm (caches on disk), and cold, from a fresh
  copy of the sources without numba's cache, as on a fresh install;
- one 1M-token sparse point (pattern lowering + CTA scheduling);
- the whole FuseMax reproduction (5 configurations x 4 models x 6 lengths).
"""

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere, against this checkout

from simulator import run_points, simulate  # noqa: E402  (after the path set-up above)
from simulator.presets import MODELS, PAPER_MODELS  # noqa: E402


def dense_points(n):
    """n distinct dense GPU points: four GPUs, two head dims, varied lengths, batches and heads."""
    hws, dims = ("a100", "h100", "h200", "b200"), (64, 128)
    return [dict(hardware=hws[i % 4], head_dim=dims[i // 4 % 2], seq_len=512 + 64 * (i // 8 % 1000),
                 batch=1 + i // 8000 % 8, heads=8 * (1 + i // 64000 % 4)) for i in range(n)]


def masked_points(n, extra=0):
    """n distinct masked GPU points: causal or a pattern, 1k..64k tokens (plus ``extra``), varied batches and heads."""
    hws, patterns = ("a100", "h100", "h200", "b200"), (None, "window(1k)", "causal&window(4k)|sinks(64)", None)
    return [dict(hardware=hws[i % 4], causal=i % 3 == 0, pattern=patterns[i // 4 % 4],
                 seq_len=1024 * (1 + i // 16 % 64) + extra, batch=1 + i // 1024 % 4, heads=8 * (1 + i // 4096 % 4))
            for i in range(n)]


def bench_masked(n=2000):
    """Steady state: other masked points first load the numba kernels (a process lowers its first masks and
    schedules its first CTAs in numpy and heapq, and loads numba once that work would pay for it)."""
    points = masked_points(n)
    run_points(masked_points(1000, extra=512))  # other sizes: nothing lowered here is reused below
    t = time.perf_counter()
    run_points(points)
    return n / (time.perf_counter() - t)


def bench_api(n=20000, runs=5):
    """(median, best) points/s of ``runs`` runs over the same n distinct points (nothing per point is cached
    between runs; the spread is the machine's noise)."""
    points = dense_points(n)
    run_points(points[:100])  # warm imports and the bundled hardware files
    rates = []
    for _ in range(runs):
        t = time.perf_counter()
        run_points(points)
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates), max(rates)


# Child processes write and reuse bytecode as on a user's machine, even where this shell says not to (some
# sandboxes set PYTHONDONTWRITEBYTECODE, which makes every process compile ~50 modules: 0.06-0.1 s).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _cli_seconds(args, cwd=ROOT):
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   cwd=cwd, env=CHILD_ENV)
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


SPARSE_SWEEP = ["--hw", "h100,h200", "--algo", "flash2,flash3", "--seq-len", "1k..1m", "--sparsity", "0.5..0.95:11",
                "--batch", "64,1,8,2,32", "--heads", "16,8,4"]  # 2 x 2 x 11 x 11 x 5 x 3 = 7,260 sparse points


SPARSE_TO_DENSE = 0.008  # the sparse sweep's points/s against run_points' dense ones below which a slowdown is likely


def bench_sparse_sweep(*extra):
    """Points/s of the 7,260-point sparse `attnsim sweep` to CSV, start-up included (numba's cache warm); on every
    usable core unless ``extra`` says --jobs 1."""
    with tempfile.TemporaryDirectory() as tmp:
        seconds = _cli_seconds(["sweep", *SPARSE_SWEEP, "-o", os.path.join(tmp, "sparse.csv"), *extra])
        return 7260 / seconds


DENSE_POINT = ["simulate", "--hw", "h100", "--seq-len", "32k"]
MASKED_POINT = ["simulate", "--hw", "h100", "--algo", "flash2", "--seq-len", "32k", "--sparsity", "0.9"]  # README's
PERIODIC_POINT = ["simulate", "--hw", "h100", "--seq-len", "32k", "--pattern", "causal&strided(64)"]  # numpy's _tile_sums
METHOD_POINT = ["simulate", "--hw", "h100", "--seq-len", "32k", "--method", "minference"]  # numpy's _vslash_rows
LARGE_POINT = ["simulate", "--hw", "h100", "--seq-len", "1m", "--pattern", "causal&(strided(256)|window(1k))"]  # numba
PACKAGES = ("cli", "einsum_cascades", "gpu_models", "simulator", "validation")


def bench_latency(runs=5):
    """Median seconds of a whole process for one warm dense and masked point (numba's cache and bytecode on
    disk)."""
    for args in (DENSE_POINT, MASKED_POINT):
        _cli_seconds(args)  # writes what a first run writes
    return tuple(statistics.median(_cli_seconds(args) for _ in range(runs)) for args in (DENSE_POINT, MASKED_POINT))


def bench_cold():
    """Seconds of the first masked points from a fresh copy of the sources (no numba cache, no bytecode): the
    README's first command, a periodic pattern and MInference (numpy lowers both), then a 1M-token periodic
    pattern, past numpy's limits (the numba kernels compile once), and that point again."""
    with tempfile.TemporaryDirectory() as tmp:
        for name in PACKAGES:
            shutil.copytree(ROOT / name, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__"))
        return tuple(_cli_seconds(args, cwd=tmp) for args in (MASKED_POINT, PERIODIC_POINT, METHOD_POINT, LARGE_POINT,
                                                              LARGE_POINT))


def bench_sparse_1m():
    """Seconds of three 1M-token points in a process that has loaded the numba kernels (a process lowers its
    first masks in numpy and dispatches its first CTAs on heapq: see the whole-process latencies)."""
    from einsum_cascades.sparsity._lowering import kernels

    kernels()  # once loaded, every mask goes to the kernels: load (or compile) them on a small point
    simulate("h100", "flash3", seq_len=4096, pattern="causal&strided(64)")
    simulate("h100", "flash3", seq_len=1 << 18, batch=64, causal=True)  # and the dispatch kernels (2M CTAs)
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
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    median_rate, best_rate = bench_api()
    print(f"dense points/s via run_points (20,000 distinct points, 5 runs): median {median_rate:,.0f}, "
          f"best {best_rate:,.0f}")
    print(f"masked points/s via run_points (2,000 distinct causal / windowed points): {bench_masked():,.0f}")
    sparse_rate = bench_sparse_sweep()
    print(f"sparse points/s via `attnsim sweep` to CSV (7,260 points, incl. start-up): {sparse_rate:,.0f} "
          f"(--jobs 1: {bench_sparse_sweep('--jobs', '1'):,.0f})")
    if sparse_rate < SPARSE_TO_DENSE * median_rate:  # both move with the machine's speed; their ratio hardly does
        print(f"  CHECK: the sparse sweep runs at {sparse_rate / median_rate:.2%} of the dense rate, under "
              f"{SPARSE_TO_DENSE:.0%}: 1.8% on 2026-12-07, 0.19% while a speedup note mapped every tile (2897f3c)")
    dense_s, masked_s = bench_latency()
    print(f"one point, whole process, warm: dense {dense_s:.2f} s, masked (README's first command) {masked_s:.2f} s")
    readme_s, periodic_s, method_s, large_s, large_again_s = bench_cold()
    print(f"one point, whole process, fresh copy: README's masked command {readme_s:.2f} s; causal&strided(64) "
          f"{periodic_s:.2f} s, --method minference {method_s:.2f} s (numpy); 1M-token causal&(strided(256)|window(1k)) "
          f"{large_s:.2f} s (numba compiles its kernels), then {large_again_s:.2f} s")
    rate, one = bench_cli()
    print(f"dense points/s via `attnsim simulate --from` (100,000 points, incl. start-up): {rate:,.0f}; "
          f"one point: {one:.2f} s")
    print(f"dense points/s via `attnsim sweep` to CSV (100,352 points, incl. start-up): {bench_sweep():,.0f}")
    pattern_s, random_s, periodic_s = bench_sparse_1m()
    print(f"1M-token sparse point, numba kernels loaded: causal&(window(64k)|sinks(128)) {pattern_s:.3f} s, random 90% {random_s:.3f} s, "
          f"flash2 causal&(strided(256)|window(1k)) {periodic_s:.3f} s")
    print(f"FuseMax reproduction (120 points incl. baselines): {bench_fusemax():.3f} s")
