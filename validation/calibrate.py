"""Fit achieved rates from microbenchmarks into a hardware TOML.

Only the ``micro`` section of a results file is used — never the attention
kernels, so the model's attention predictions stay an honest test. Each fitted
figure replaces the bundled one and cites the measurement file. The register-loop
rates (``tensor_mma_sync_fp16``, ``mma_exp_overlap``) only bound what attention
tiles achieve, so they set no figure: ``validation.kernel_fit`` fits those from
kernel timings.
"""

import tomllib
from pathlib import Path

from einsum_cascades.errors import UserError
from gpu_models.schema import ZERO_ALLOWED
from validation.report import hardware_for, load_results

FMA_FLOPS = 2  # an FP32 FMA counts as 2 FLOPs in the fp32_fma microbenchmark


def _fits(micro: dict, hw, clock_hz: float) -> dict[str, tuple[float, str, str]]:
    """Field -> (value, unit, what it was derived from) for every microbenchmark present."""
    per_sm_clock = hw.sms * clock_hz
    rules = {
        "hbm_read": ("hbm_efficiency", lambda v: v / hw.hbm_bw_bytes_s, "fraction", "HBM read B/s / spec"),
        "l2_read": ("l2_bw_bytes_s", lambda v: v, "B/s", "L2 read B/s"),
        # per-clock fractions at the measured clock: the model applies them at sustained_clock_hz
        "tensor_cublas_fp16": ("gemm_efficiency", lambda v: v / hw.tensor_peak_flops("fp16", clock_hz), "fraction",
                               "cuBLAS fp16 GEMM FLOP/s / fp16 tensor rate at the measured clock"),
        "sfu_exp2": ("sfu_ops_per_clk_sm", lambda v: v / per_sm_clock, "ops/clk/SM", "ex2.approx ops/s / (SMs x clock)"),
        "smem_read": ("smem_bytes_per_clk_sm", lambda v: v / per_sm_clock, "B/clk/SM", "shared-memory B/s / (SMs x clock)"),
        "fp32_fma": ("fp32_fma_per_clk_sm", lambda v: v / FMA_FLOPS / per_sm_clock, "ops/clk/SM", "FP32 FLOP/s / 2 / (SMs x clock)"),
        "launch": ("launch_overhead_s", lambda v: v, "s", "empty-kernel launch interval"),
    }
    out = {}
    for name, (field, fit, unit, how) in rules.items():
        if name in micro and (micro[name] > 0 or field in ZERO_ALLOWED):  # 0 is a measurement only there
            out[field] = (fit(micro[name]), unit, how)
    return out


def calibrate(results_path: str, hw_name: str | None = None) -> tuple[dict, list[str]]:
    """The bundled TOML of the measured GPU with fitted figures replaced; and the fields replaced."""
    from simulator.api import hardware

    doc = load_results(results_path)
    hw_ref = hardware_for(doc, hw_name)
    hw = hardware(hw_ref)
    if hw.kind != "gpu":
        raise UserError(f"calibrate fits GPUs; {hw.name} is an {hw.kind}")
    micro = {m["name"]: float(m["value"]) for m in doc.get("micro", []) if m.get("value") is not None}
    if not micro:
        raise UserError(f"{results_path}: no microbenchmarks to fit (the 'micro' list is empty)")
    device = doc["device"]
    clock_mhz = device.get("sm_clock_mhz")
    clock_hz = float(clock_mhz) * 1e6 if clock_mhz else hw.sustained_clock_hz
    cite = f"measured: {Path(results_path).name} ({device.get('name')}, {device.get('date')})"
    toml = bundled_toml(hw_ref)
    replaced = []
    if clock_mhz:
        toml["sustained_clock_hz"] = _figure(clock_hz, "Hz", f"{cite}: SM clock under the benchmark load", toml.get("sustained_clock_hz"))
        replaced.append("sustained_clock_hz")
    for field, (value, unit, how) in _fits(micro, hw, clock_hz).items():
        toml[field] = _figure(value, unit, f"{cite}: {how}", toml.get(field))
        replaced.append(field)
    toml["name"] = calibrated_name(toml["name"])
    toml["description"] = f"{toml.get('description', '')} Calibrated from {Path(results_path).name}.".strip()
    return toml, replaced


CALIBRATED = "-calibrated"


def calibrated_name(name: str) -> str:
    """The name of a machine calibrated from ``name``'s: its own, so that a table of both tells them apart and no
    bundled model's published evidence is quoted for it; within the 64 characters a machine's name may have.

    >>> calibrated_name("h100"), calibrated_name("h100-calibrated")
    ('h100-calibrated', 'h100-calibrated')
    """
    if name.endswith(CALIBRATED):
        return name
    return name[:64 - len(CALIBRATED)] + CALIBRATED


def _figure(value, unit, source, old):
    fig = {"value": value, "source": source}
    if unit and unit != "fraction" or (isinstance(old, dict) and "unit" in old):
        fig["unit"] = unit
    return fig


def bundled_toml(hw_ref: str) -> dict:
    """The parsed TOML of a bundled machine or a user's file, to derive a calibrated one from."""
    from gpu_models import spec_path

    return tomllib.loads(Path(spec_path(hw_ref)).read_text(encoding="utf-8"))


def to_toml(data: dict) -> str:
    """Write the spec back as TOML: scalars first, figures as inline tables, sub-tables as [sections]."""
    lines, sections = [], []
    for key, value in data.items():
        if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()) and not _is_figure(value):
            sections.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    for name, table in sections:
        lines.append(f"\n[{name}]")
        lines.extend(f"{k} = {_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n"


def _is_figure(value: dict) -> bool:
    return "value" in value and "source" in value


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
