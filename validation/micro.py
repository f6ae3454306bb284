"""Microbenchmarks: one achieved rate per roof of the GPU model (kernels/micro.cu, cuBLAS).

Each function returns one ``micro`` entry of a results file (validation/FORMAT.md): the best
rate over its launch configurations as ``value`` in SI units, the timing of that configuration,
and the whole sweep in ``config``. ``calibrate`` turns these into a hardware TOML.
"""

import math
from dataclasses import dataclass

import numpy as np

from validation import gpu, harness
from validation.harness import Timing

THREADS = 256
FLAG = 0x9E3779B9  # a kernel writes its result only when it equals this, which the data never gives
MMA_FLOPS = 2 * 16 * 8 * 16  # one mma.sync m16n8k16
MMA_CHAINS = EXP_CHAINS = FMA_CHAINS = 8  # independent chains per thread/warp in micro.cu
SMEM_UNROLL, SMEM_VEC = 8, 16  # loads per iteration and bytes per load in smem_read
FMA_FLOPS = 2
GEMM_N = 8192  # cuBLAS anchor: an 8192^3 fp16 GEMM
# loop trips of the compute benchmarks: about 1 ms per call on an H100, far above launch overhead
MMA_ITERS, EXP_ITERS, FMA_ITERS = 4096, 4096, 16384
L2_READ_BYTES = 8 << 30  # bytes read per l2_read call, over repeated passes
LAUNCHES, LAUNCH_SAMPLES = 200, 10  # empty kernels per timed sample, samples
SPIN_ITERS = 1 << 21  # one block of fp32_fma this long (~10-20 ms) keeps the GPU busy while launches queue
# mma_exp_overlap (micro.cu: mma_exp_split, mma_exp_mixed): 8 warps per block, 4 blocks per SM
OVL_THREADS, OVL_BLOCKS_PER_SM = 256, 4
OVL_MMA_CHAINS, OVL_EXP_CHAINS = 8, 8  # split: mma per tensor warp, ex2 per exp-warp thread, per iteration
MIX_MMA, MIX_EXP = 8, 4  # mixed: mma per warp and ex2 per thread, per iteration (2 mma per warp-wide ex2: d = 64)
# about 1 ms per single mode on an H100 (>= 0.5 ms even at the peak rates); each half alone takes about as long:
# 2^20 mma (1 clk/SM each at peak) vs 2^19 warp-wide ex2 (2 clk/SM each) per SM
OVL_MMA_ITERS, OVL_EXP_ITERS, MIX_ITERS = 8192, 4096, 4096
OVL_EXP_ITERS_RANGE = (256, 65536)  # the exp half is resized to the tensor half's measured time within these


@dataclass(frozen=True)
class Device:
    """What the benchmarks size themselves by."""

    sms: int
    l2_bytes: int
    quick: bool


def _entry(name, value, unit, timing, config) -> dict:
    return {"name": name, "value": value, "unit": unit, "config": config, **timing.fields()}


def _sweep(timer, name, unit, work, run, blocks_per_sm, dev, flush=False, **config) -> dict:
    """Time ``run(grid)`` for each occupancy; the entry of the fastest, with the sweep in config. No L2 flush by
    default: the HBM benchmarks' buffers are 20-40 times the L2, so a pass finds nothing of the last one there,
    and a flush (256 MB written) would leave the L2 full of dirty lines whose write-back the pass would be
    charged, 2.5-5% of a 1-2 GiB read, which the model adds apart, for a flushed call only
    (gpu_model.cold_l2_writeback_bytes)."""
    runs = []
    for bps in blocks_per_sm:
        t = timer.time(lambda: run(dev.sms * bps), flush=flush)
        runs.append((work / t.median_s, bps, t))
    value, bps, t = max(runs, key=lambda r: r[0])
    sweep = [{"blocks_per_sm": b, "value": v} for v, b, _ in runs]
    return _entry(name, value, unit, t, {"threads": THREADS, "blocks_per_sm": bps, "sweep": sweep, **config})


def _occupancies(dev) -> tuple:
    return (2, 8) if dev.quick else (1, 2, 4, 8, 16)


def _hbm_bytes(dev) -> int:
    return (1 << 30) if dev.quick else (2 << 30)  # >= 1 GB, far beyond any L2


def hbm_read(cp, timer, dev) -> dict:
    n = _hbm_bytes(dev) // 16
    src, sink = cp.full(n * 4, 0x5A5A5A5A, dtype=cp.uint32), cp.zeros(1, dtype=cp.uint32)
    fn = gpu.kernel("micro", "hbm_read")
    return _sweep(timer, "hbm_read", "B/s", n * 16.0,
                  lambda grid: fn((grid,), (THREADS,), (src, np.int64(n), sink, np.uint32(FLAG))),
                  _occupancies(dev), dev, bytes=n * 16)


def hbm_write(cp, timer, dev) -> dict:
    n = _hbm_bytes(dev) // 16
    dst = cp.empty(n * 4, dtype=cp.uint32)
    fn = gpu.kernel("micro", "hbm_write")
    return _sweep(timer, "hbm_write", "B/s", n * 16.0,
                  lambda grid: fn((grid,), (THREADS,), (dst, np.int64(n), np.uint32(7))), _occupancies(dev), dev,
                  bytes=n * 16)


def hbm_copy(cp, timer, dev) -> dict:
    n = _hbm_bytes(dev) // 32  # source and destination together span the HBM buffer size
    src, dst = cp.full(n * 4, 0x5A5A5A5A, dtype=cp.uint32), cp.empty(n * 4, dtype=cp.uint32)
    fn = gpu.kernel("micro", "hbm_copy")
    return _sweep(timer, "hbm_copy", "B/s", 2 * n * 16.0,
                  lambda grid: fn((grid,), (THREADS,), (src, dst, np.int64(n))), _occupancies(dev), dev,
                  bytes_read=n * 16, bytes_written=n * 16)


def l2_read(cp, timer, dev) -> dict:
    n = dev.l2_bytes // 4 // 16  # a quarter of the L2: resident after the warm-up call
    reps = max(1, L2_READ_BYTES // (n * 16))
    src, sink = cp.full(n * 4, 0x5A5A5A5A, dtype=cp.uint32), cp.zeros(1, dtype=cp.uint32)
    fn = gpu.kernel("micro", "l2_read")
    return _sweep(timer, "l2_read", "B/s", reps * n * 16.0,
                  lambda grid: fn((grid,), (THREADS,), (src, np.int64(n), np.int32(reps), sink, np.uint32(FLAG))),
                  (2, 4, 8), dev, flush=False, bytes=n * 16, passes=reps)


def smem_read(cp, timer, dev) -> dict:
    iters, bps = (1024 if dev.quick else 2048), 4  # 4 x 32 KB of static shared memory per SM
    sink = cp.zeros(1, dtype=cp.uint32)
    fn = gpu.kernel("micro", "smem_read")
    work = dev.sms * bps * THREADS * iters * SMEM_UNROLL * SMEM_VEC
    return _sweep(timer, "smem_read", "B/s", float(work),
                  lambda grid: fn((grid,), (THREADS,), (sink, np.int32(iters), np.uint32(FLAG))), (bps,), dev,
                  flush=False, iters=iters, bytes_per_load=SMEM_VEC)


def tensor_mma_sync_fp16(cp, timer, dev) -> dict:
    iters, bps = MMA_ITERS, 4
    sink = cp.zeros(1, dtype=cp.float32)
    fn = gpu.kernel("micro", "mma_sync_fp16")
    warps = dev.sms * bps * THREADS // 32
    work = float(warps) * iters * MMA_CHAINS * MMA_FLOPS
    half_pair = np.uint32(0x2C002C00)  # two fp16 0.0625s
    return _sweep(timer, "tensor_mma_sync_fp16", "FLOP/s", work,
                  lambda grid: fn((grid,), (THREADS,), (sink, np.int32(iters), half_pair, half_pair, np.float32(-1))),
                  (bps,), dev, flush=False, iters=iters, chains=MMA_CHAINS, instruction="mma.sync.m16n8k16.f32.f16")


def tensor_cublas_fp16(cp, timer, dev) -> dict:
    a, b = (gpu.random16(cp, (GEMM_N, GEMM_N), "fp16", seed) for seed in (1, 2))
    c = cp.empty((GEMM_N, GEMM_N), dtype=cp.float16)
    t = timer.time(lambda: cp.matmul(a, b, out=c), flush=False)  # as GEMM benchmarks run: back to back, no flush
    return _entry("tensor_cublas_fp16", 2.0 * GEMM_N ** 3 / t.median_s, "FLOP/s", t,
                  {"m": GEMM_N, "n": GEMM_N, "k": GEMM_N, "dtype": "fp16", "call": "cupy.matmul (2-D)"})


def sfu_exp2(cp, timer, dev) -> dict:
    iters, bps = EXP_ITERS, 8
    sink = cp.zeros(1, dtype=cp.float32)
    fn = gpu.kernel("micro", "sfu_exp2")
    work = float(dev.sms * bps * THREADS) * iters * EXP_CHAINS
    return _sweep(timer, "sfu_exp2", "ops/s", work,
                  lambda grid: fn((grid,), (THREADS,), (sink, np.int32(iters), np.float32(0.5), np.float32(-1))),
                  (bps,), dev, flush=False, iters=iters, chains=EXP_CHAINS, instruction="ex2.approx.ftz.f32")


def fp32_fma(cp, timer, dev) -> dict:
    iters, bps = FMA_ITERS, 8
    sink = cp.zeros(1, dtype=cp.float32)
    fn = gpu.kernel("micro", "fp32_fma")
    work = float(dev.sms * bps * THREADS) * iters * FMA_CHAINS * FMA_FLOPS
    return _sweep(timer, "fp32_fma", "FLOP/s", work,
                  lambda grid: fn((grid,), (THREADS,), (sink, np.int32(iters), np.float32(0.999), np.float32(1e-3),
                                                       np.float32(-1))),
                  (bps,), dev, flush=False, iters=iters, chains=FMA_CHAINS)


def launch(cp, timer, dev) -> dict:
    """Seconds per kernel launch, back to back: the launches are queued behind a busy kernel, so the
    GPU's launch interval is measured, not Python's (CuPy takes microseconds to issue each)."""
    empty, spin = gpu.kernel("micro", "empty_kernel"), gpu.kernel("micro", "fp32_fma")
    sink = cp.zeros(1, dtype=cp.float32)
    spin_args = (sink, np.int32(SPIN_ITERS), np.float32(0.999), np.float32(1e-3), np.float32(-1))

    def burst():
        for _ in range(LAUNCHES):
            empty((1,), (1,), ())

    samples = [timer.once(burst, flush=False, before=lambda: spin((1,), (THREADS,), spin_args))
               for _ in range(LAUNCH_SAMPLES + 1)][1:]  # the first sample loads the module
    t = Timing.of([s / LAUNCHES for s in samples])
    return _entry("launch", t.median_s, "s", t, {"launches_per_sample": LAUNCHES, "grid": 1, "threads": 1,
                                               "queued_behind": f"fp32_fma, 1 block, {SPIN_ITERS} iterations"})


def overlap(t_tensor: float, t_exp: float, t_both: float) -> float | None:
    """(t_tensor + t_exp - t_both) / min(t_tensor, t_exp): 1 when the two run concurrently (t_both =
    max), 0 when their times add, below 0 when together they are slower still. None without two
    positive single times."""
    if not (t_tensor > 0 and t_exp > 0 and math.isfinite(t_both)):
        return None
    return (t_tensor + t_exp - t_both) / min(t_tensor, t_exp)


def balanced_exp_iters(exp_iters: int, t_tensor: float, t_exp: float) -> int:
    """The exp half's trip count that makes it take as long as the tensor half (a multiple of 16)."""
    want = exp_iters * t_tensor / t_exp if t_exp > 0 and t_tensor > 0 else exp_iters
    lo, hi = OVL_EXP_ITERS_RANGE
    return int(min(max(round(want / 16) * 16, lo), hi))


def _interleaved(timer, fns: dict) -> dict:
    """Timing per mode, the modes' calls interleaved (A B C A B C ...) so that clock and power drift
    falls on all of them alike; ~TARGET_S of GPU time in all."""
    for fn in fns.values():
        fn(), fn()  # warm-up: load the module, settle the clocks
    samples = {k: [timer.once(fn, flush=False)] for k, fn in fns.items()}
    n = int(np.clip(harness.TARGET_S / max(sum(s[0] for s in samples.values()), 1e-7),
                    harness.MIN_ITERS, harness.MAX_ITERS))
    for _ in range(n - 1):
        for k, fn in fns.items():
            samples[k].append(timer.once(fn, flush=False))
    return {k: Timing.of(v) for k, v in samples.items()}


def mma_exp_overlap(cp, timer, dev) -> dict:
    """Do tensor-core mma.sync and MUFU ex2.approx run concurrently on an SM, or do their times add?

    ``value`` is the overlap of different warps (half the warps of each block run mma, half ex2,
    launched together), ``config.overlap_same_warp`` that of one warp interleaving both, each from
    the medians of its single modes and of both together; ``overlap_cycles`` is the same from SM
    cycles (clock64 per block), immune to the clock dropping when both units draw power."""
    sink, grid = cp.zeros(1, dtype=cp.float32), dev.sms * OVL_BLOCKS_PER_SM
    cycles = cp.zeros(grid, dtype=cp.int64)
    split, mixed = gpu.kernel("micro", "mma_exp_split"), gpu.kernel("micro", "mma_exp_mixed")
    half_pair, seed, flag = np.uint32(0x2C002C00), np.float32(0.5), np.float32(-1)
    warps = OVL_THREADS // 32
    block_cycles = {}

    def launcher(name, fn, *args):
        def run():
            fn((grid,), (OVL_THREADS,), (sink, cycles, *(np.int32(a) for a in args), half_pair, half_pair, seed, flag))
        return name, run

    def run_modes(launches):
        times = _interleaved(timer, dict(launches))
        for k, fn in launches:  # one more call each for its blocks' SM cycles (read outside any timed window)
            fn()
            c = cp.asnumpy(cycles)
            block_cycles[k] = float(np.median(c)) if len(c) else 0.0
        return times

    # split: size the exp half to the tensor half's time on this GPU, then time all three modes
    mma_iters, exp_iters = OVL_MMA_ITERS, OVL_EXP_ITERS
    probe = _interleaved(timer, dict([launcher("tensor", split, mma_iters, 0), launcher("exp", split, 0, exp_iters)]))
    exp_iters = balanced_exp_iters(exp_iters, probe["tensor"].median_s, probe["exp"].median_s)
    times = run_modes([launcher("tensor", split, mma_iters, 0), launcher("exp", split, 0, exp_iters),
                       launcher("both", split, mma_iters, exp_iters)])
    times.update(run_modes([launcher("mixed_tensor", mixed, MIX_ITERS, 1), launcher("mixed_exp", mixed, MIX_ITERS, 2),
                            launcher("mixed_both", mixed, MIX_ITERS, 3)]))

    mma_split = float(grid * (warps // 2)) * mma_iters * OVL_MMA_CHAINS
    exp_split = float(grid * (OVL_THREADS // 2)) * exp_iters * OVL_EXP_CHAINS
    mma_mixed, exp_mixed = float(grid * warps) * MIX_ITERS * MIX_MMA, float(grid * OVL_THREADS) * MIX_ITERS * MIX_EXP
    work = {"tensor": (mma_split, 0.0), "exp": (0.0, exp_split), "both": (mma_split, exp_split),
            "mixed_tensor": (mma_mixed, 0.0), "mixed_exp": (0.0, exp_mixed), "mixed_both": (mma_mixed, exp_mixed)}
    modes = {}
    for k, t in times.items():
        mma, ex2 = work[k]
        modes[k] = {**t.fields(), "block_cycles": block_cycles[k], "mma": mma, "ex2": ex2,
                    **({"tensor_flop_s": mma * MMA_FLOPS / t.median_s} if mma else {}),
                    **({"exp_per_s": ex2 / t.median_s} if ex2 else {})}

    def ov(prefix, key):
        return overlap(*(modes[f"{prefix}{m}"][key] for m in ("tensor", "exp", "both")))

    config = {"threads": OVL_THREADS, "blocks_per_sm": OVL_BLOCKS_PER_SM,
              "overlap_same_warp": ov("mixed_", "median_s"),
              "overlap_cycles": ov("", "block_cycles"), "overlap_same_warp_cycles": ov("mixed_", "block_cycles"),
              "instructions": "mma.sync.m16n8k16.f32.f16 (HMMA), ex2.approx.ftz.f32 (MUFU.EX2)",
              "split": {"tensor_warps": warps // 2, "exp_warps": warps // 2, "mma_iters": mma_iters,
                        "mma_chains": OVL_MMA_CHAINS, "exp_iters": exp_iters, "exp_chains": OVL_EXP_CHAINS},
              "mixed": {"warps": warps, "iters": MIX_ITERS, "mma_per_iter": MIX_MMA, "ex2_per_iter": MIX_EXP},
              "modes": modes}
    return _entry("mma_exp_overlap", ov("", "median_s"), "fraction", times["both"], config)


def sane(entry: dict) -> bool:
    """A plausible entry: a positive finite rate; for mma_exp_overlap every mode's time positive and finite."""
    if entry["name"] == "mma_exp_overlap":
        return all(math.isfinite(m["median_s"]) and m["median_s"] > 0 for m in entry["config"]["modes"].values())
    return entry["value"] is not None and math.isfinite(entry["value"]) and entry["value"] > 0


BENCHMARKS = {f.__name__: f for f in (hbm_read, hbm_write, hbm_copy, l2_read, smem_read, tensor_cublas_fp16,
                                     tensor_mma_sync_fp16, sfu_exp2, fp32_fma, launch, mma_exp_overlap)}
