"""Strict TOML loading: every figure is ``{ value, unit, source }``; unknown keys, missing
fields, bad units and non-positive values are errors naming the file and the key."""

import tomllib
from dataclasses import fields
from importlib import resources
from pathlib import Path

from gpu_models.spec import AcceleratorSpec, GPUSpec, HardwareError

# unit -> (dimension, factor to SI)
UNITS = {
    "Hz": ("freq", 1.0), "kHz": ("freq", 1e3), "MHz": ("freq", 1e6), "GHz": ("freq", 1e9),
    "B": ("bytes", 1), "KB": ("bytes", 1e3), "KiB": ("bytes", 1 << 10), "MB": ("bytes", 1e6),
    "MiB": ("bytes", 1 << 20), "GB": ("bytes", 1e9), "GiB": ("bytes", 1 << 30),
    "B/s": ("bw", 1.0), "GB/s": ("bw", 1e9), "GiB/s": ("bw", float(1 << 30)), "TB/s": ("bw", 1e12),
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6), "ns": ("time", 1e-9),
    "pJ": ("energy", 1.0), "fraction": ("fraction", 1.0), "count": ("count", 1),
    "flop/clk/SM": ("rate", 1), "ops/clk/SM": ("rate", 1), "B/clk/SM": ("rate", 1),
}
_GPU_DIMS = {
    "sms": "count", "boost_clock_hz": "freq", "tensor_clock_hz": "freq", "sustained_clock_hz": "freq",
    "tensor_flops_per_clk_sm": "rate", "fp32_fma_per_clk_sm": "rate", "sfu_ops_per_clk_sm": "rate",
    "smem_per_sm_bytes": "bytes", "smem_per_block_bytes": "bytes", "regs_per_sm": "count",
    "max_threads_per_sm": "count", "max_ctas_per_sm": "count", "smem_bytes_per_clk_sm": "rate",
    "l2_bytes": "bytes", "l2_bw_bytes_s": "bw", "hbm_bytes": "bytes", "hbm_bw_bytes_s": "bw",
    "hbm_efficiency": "fraction", "gemm_efficiency": "fraction", "mma_sync_efficiency": "fraction",
    "launch_overhead_s": "time",
}
_ACCEL_DIMS = {
    "clock_hz": "freq", "pe2d_rows": "count", "pe2d_cols": "count", "pe1d_count": "count",
    "pe2d_ops": "list", "pe1d_ops": "list", "global_buffer_bytes": "bytes", "dram_bw_bytes_s": "bw",
    "word_bytes": "count", "exp_cost": "count", "energy_pj": "energy",
}
_TEXT = ("name", "display_name", "kind", "description")
_INT_DIMS = ("count", "bytes", "rate")


def bundled_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("gpu_models").joinpath("specs").iterdir() if p.name.endswith(".toml"))


def spec_path(name_or_path: str) -> Path:
    """The TOML behind a bundled name or a user's path."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise HardwareError(f"no such hardware file {name_or_path!r}")
        return path
    if name_or_path.lower() not in bundled_names():
        raise HardwareError(f"unknown hardware {name_or_path!r}: allowed {', '.join(bundled_names())} or a path to a .toml")
    return Path(str(resources.files("gpu_models").joinpath("specs", f"{name_or_path.lower()}.toml")))


def load_hardware(name_or_path: str):
    """A ``GPUSpec`` or ``AcceleratorSpec`` from a bundled name or a TOML path."""
    path = spec_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise HardwareError(f"{path.name}: not valid TOML ({err})") from None
    kind = raw.get("kind")
    if kind not in ("gpu", "accelerator"):
        raise HardwareError(f"{path.name}: kind must be 'gpu' or 'accelerator', got {kind!r}")
    cls, dims = (GPUSpec, _GPU_DIMS) if kind == "gpu" else (AcceleratorSpec, _ACCEL_DIMS)
    values, sources = _convert(path.name, raw, dims)
    return cls(**values, sources=sources)


def _convert(fname: str, raw: dict, dims: dict) -> tuple[dict, dict]:
    allowed = set(dims) | set(_TEXT) | ({"arch"} if "sms" in dims else set())
    for key in raw:
        if key not in allowed:
            raise HardwareError(f"{fname}: unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")
    missing = [k for k in allowed - {"description"} if k not in raw]
    if missing:
        raise HardwareError(f"{fname}: missing key {sorted(missing)[0]!r}")
    values, sources = {k: raw[k] for k in allowed & set(raw) if k in _TEXT or k == "arch"}, {}
    for key, dim in dims.items():
        entry = raw[key]
        if dim == "list":
            values[key], sources[key] = tuple(_figure(fname, key, entry, "list")), entry["source"]
        elif _is_figure(entry):
            values[key], sources[key] = _figure(fname, key, entry, dim), entry["source"]
        elif isinstance(entry, dict):  # a table of figures, e.g. tensor_flops_per_clk_sm.fp16
            values[key] = {sub: _figure(fname, f"{key}.{sub}", fig, dim) for sub, fig in entry.items()}
            sources.update({f"{key}.{sub}": fig["source"] for sub, fig in entry.items()})
        else:
            raise HardwareError(f"{fname}: {key} must be {{ value = ..., unit = ..., source = ... }}")
    return values, sources


def _is_figure(entry) -> bool:
    return isinstance(entry, dict) and "value" in entry


def _figure(fname: str, key: str, entry, dim: str):
    if not isinstance(entry, dict) or "value" not in entry:
        raise HardwareError(f"{fname}: {key} must be {{ value = ..., unit = ..., source = ... }}")
    extra = set(entry) - {"value", "unit", "source"}
    if extra:
        raise HardwareError(f"{fname}: {key} has unknown field {sorted(extra)[0]!r} (allowed: value, unit, source)")
    if not str(entry.get("source", "")).strip():
        raise HardwareError(f"{fname}: {key} needs a source")
    value = entry["value"]
    if dim == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise HardwareError(f"{fname}: {key} must be a list of op class names")
        return value
    unit = entry.get("unit", "count")
    if unit not in UNITS or UNITS[unit][0] != dim:
        ok = [u for u, (d, _) in UNITS.items() if d == dim]
        raise HardwareError(f"{fname}: {key} has bad unit {unit!r}; allowed: {', '.join(ok)}")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise HardwareError(f"{fname}: {key} must be a positive number, got {value!r}")
    si = value * UNITS[unit][1]
    return int(round(si)) if dim in _INT_DIMS and float(si).is_integer() else si
