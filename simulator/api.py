"""The Python API the CLI is a thin shell over.

>>> from simulator import simulate
>>> row = simulate(hw="h100", algo="flash2", seq_len=32768, sparsity=0.9)   # doctest: +SKIP
>>> row["speedup"], row["bound"]                                             # doctest: +SKIP
"""

from dataclasses import replace
from functools import lru_cache

from einsum_cascades.errors import UserError
from simulator.accel_model import ACCEL_FAMILIES, simulate_accel
from simulator.gpu_kernels import GPU_FAMILIES
from simulator.gpu_model import simulate_gpu
from simulator.result import Result
from simulator.workload import Workload

ALGORITHMS = GPU_FAMILIES + ACCEL_FAMILIES
WORKLOAD_FIELDS = ("batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "causal", "dtype", "pattern",
                   "sparsity", "block_size")


@lru_cache(maxsize=64)
def hardware(name: str):
    """A bundled machine by name, or a user's TOML by path (cached)."""
    from gpu_models import load_hardware

    return load_hardware(name)


def default_algorithm(hw) -> str:
    """The best kernel family for the machine (DESIGN: flash3 on Hopper+, flash2 before; fusemax / flat)."""
    if hw.kind == "accelerator":
        return "fusemax" if "max" in hw.pe2d_ops else "flat"
    return "flash3" if int(hw.arch[3:]) >= 90 else "flash2"


def default_baseline(hw, algo: str, wl: Workload) -> tuple[str, Workload]:
    """Dense run of the same algorithm for sparse workloads, else the machine's unfused baseline."""
    if wl.is_sparse:
        return algo, replace(wl, pattern=None, sparsity=0.0)
    return ("naive" if hw.kind == "gpu" else "unfused"), wl


def evaluate(hw, algo: str, wl: Workload) -> Result:
    """One algorithm on one machine for one workload."""
    if algo not in ALGORITHMS:
        raise UserError(f"unknown algorithm {algo!r}: allowed {', '.join(ALGORITHMS)}")
    if hw.kind == "gpu":
        return simulate_gpu(hw, algo, wl)
    return simulate_accel(hw, algo, wl)


def simulate(hw="h100", algo: str | None = None, baseline: str | None = None, **workload) -> dict:
    """Predict one point and its speedup over the baseline; returns a row (see ``to_row``)."""
    spec = hardware(hw) if isinstance(hw, str) else hw
    wl = Workload(**workload)
    algo = algo or default_algorithm(spec)
    result = evaluate(spec, algo, wl)
    if baseline:
        base_algo, _, base_hw = baseline.partition("@")
        base_spec = hardware(base_hw) if base_hw else spec
        base = evaluate(base_spec, base_algo, replace(wl, pattern=None, sparsity=0.0) if wl.is_sparse else wl)
    else:
        base = evaluate(spec, *default_baseline(spec, algo, wl))
    return to_row(result, base)


def run_points(points, **defaults) -> list[dict]:
    """Evaluate many points (dicts of DESIGN column names) in input order."""
    rows = []
    for point in points:
        merged = {**defaults, **{k: v for k, v in point.items() if v is not None}}
        hw_name = merged.pop("hardware", "h100")
        algo = merged.pop("algorithm", None)
        baseline = merged.pop("baseline", None)
        rows.append(simulate(hw_name, algo, baseline, **{k: merged[k] for k in WORKLOAD_FIELDS if k in merged}))
    return rows


def to_row(r: Result, base: Result) -> dict:
    """The JSON/CSV record of one point (keys as DESIGN.md lists them, plus a few more)."""
    wl = r.workload
    return {
        "hardware": r.hardware, "algorithm": r.algorithm,
        "baseline": base.algorithm if base.hardware == r.hardware else f"{base.algorithm}@{base.hardware}",
        "batch": wl.batch, "heads": wl.heads, "kv_heads": wl.kv_heads, "head_dim": wl.head_dim,
        "seq_len": wl.seq_len, "kv_len": wl.kv_len, "causal": wl.causal, "dtype": wl.dtype,
        "pattern": wl.pattern, "sparsity": wl.sparsity, "block_size": wl.block_size,
        "block_density": r.block_density,
        "time_s": r.time_s, "baseline_time_s": base.time_s, "speedup": base.time_s / r.time_s,
        "bound": r.bound, "flops": r.flops, "tflops": r.tflops, "hbm_bytes": r.cost.hbm_bytes,
        "onchip_bytes": r.cost.onchip_bytes, "energy_j": r.energy_j,
        "baseline_energy_j": base.energy_j, "utilization": dict(r.utilization),
    }
