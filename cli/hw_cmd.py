"""``attnsim hw``: list and show hardware models with the source of every figure."""

import json
from dataclasses import fields

import click

_HIDDEN = ("name", "display_name", "description", "energy", "sources")  # shown in the title or not at all


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def hw():
    """List and show hardware models (GPUs and accelerators).

    \b
    Examples:
      attnsim hw list
      attnsim hw show h100
      attnsim hw show h100:1500          # its SMs locked at 1500 MHz (nvidia-smi --lock-gpu-clocks)
      attnsim hw show ./my-gpu.toml --json
    """


@hw.command("list")
def list_():
    """Bundled machines with their headline figures."""
    from rich import box

    from cli._fit import print_fitted
    from gpu_models import list_hardware, load_hardware

    print_fitted(("name", "kind", "machine", "peak", "memory", "units"),
                 [(name, *_headline(load_hardware(name))) for name in list_hardware()], text=("machine",),
                 drop=("kind",), dropped_hint="`attnsim hw show NAME` has every figure", box=box.SIMPLE_HEAD,
                 pad_edge=False, collapse_padding=True, header_style="bold", right=("peak",),
                 caption="peak: dense fp16 tensor FLOP/s (GPU), 2 x MAC/s of the 2D array (accelerator)")


@hw.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Every field in SI units, plus `derived` peaks and `sources`.")
def show(name, as_json):
    """Every figure of NAME (a bundled name or a TOML path, either with :MHZ for SMs locked at that clock) with its
    unit and source."""
    from gpu_models import load_hardware

    spec = load_hardware(name)
    data = {f.name: _plain(getattr(spec, f.name)) for f in fields(spec) if f.name != "sources"}
    if as_json:
        derived = {key: v for key, (v, _, _) in _derived(spec).items()}
        click.echo(json.dumps({**data, "derived": derived, "sources": spec.sources}, indent=2))
        return
    from rich.markup import escape

    from cli._fit import print_fitted
    from gpu_models.schema import dimension

    rows = []
    for key, value in data.items():
        if key in _HIDDEN or value is None:  # None: an MMA path the architecture lacks
            continue
        dim = dimension(spec.kind, key)
        for label, v in (value.items() if isinstance(value, dict) else [(None, value)]):
            row = f"{key}.{label}" if label else key
            rows.append((row, _human(dim, v), spec.sources.get(row, "")))
    rows += [(key, _si_prefixed(v, unit), f"derived: {formula}") for key, (v, unit, formula) in _derived(spec).items()]
    print_fitted(("field", "value", "source"), [[escape(c) for c in row] for row in rows], text=("source",),
                 title=escape(f"{spec.display_name} ({spec.name})"), caption=escape(spec.description))


def _headline(spec) -> tuple[str, ...]:
    """kind, machine, compute peak, memory, units: one row of ``hw list``."""
    if spec.kind == "gpu":
        return ("gpu", spec.display_name, f"{spec.tensor_peak_flops('fp16') / 1e12:.1f} TFLOP/s",
                f"{spec.hbm_bw_bytes_s / 1e12:.2f} TB/s HBM", f"{spec.sms} SMs")
    from gpu_models.spec import FMA_FLOPS

    return ("accelerator", spec.display_name, f"{FMA_FLOPS * spec.peak_2d_macs / 1e12:.1f} TFLOP/s",
            f"{spec.dram_bw_bytes_s / 1e9:.0f} GB/s DRAM", f"{spec.pe2d_rows}x{spec.pe2d_cols}+{spec.pe1d_count} PEs")


def _derived(spec) -> dict[str, tuple[float, str, str]]:
    """Peaks computed from the figures at each method's default clock: name -> (SI value, unit, formula)."""
    if spec.kind != "gpu":
        return {"peak_2d_macs": (spec.peak_2d_macs, "MAC/s", "pe2d_rows x pe2d_cols x clock_hz"),
                "peak_1d_ops": (spec.peak_1d_ops, "op/s", "pe1d_count x clock_hz")}
    out = {f"tensor_peak_flops.{dtype}": (spec.tensor_peak_flops(dtype), "FLOP/s",
                                          f"sms x tensor_flops_per_clk_sm.{dtype} x tensor_clock_hz")
           for dtype in spec.tensor_flops_per_clk_sm}
    if spec.mma_sync_flops_per_clk_sm is not None:  # the legacy path's own ceiling (FA2's MMAs on Hopper)
        out |= {f"mma_sync_peak_flops.{dtype}": (spec.sms * spec.path_flops_per_clk_sm("mma_sync", dtype)
                                                 * spec.tensor_clock_hz, "FLOP/s",
                                                 f"sms x min(mma_sync_flops_per_clk_sm.{dtype}, "
                                                 f"tensor_flops_per_clk_sm.{dtype}) x tensor_clock_hz")
                for dtype in spec.tensor_flops_per_clk_sm}
    out["fp32_peak_flops"] = (spec.fp32_peak_flops(), "FLOP/s", "2 x sms x fp32_fma_per_clk_sm x boost_clock_hz")
    out["sfu_peak_ops"] = (spec.sfu_peak_ops(), "op/s", "sms x sfu_ops_per_clk_sm x sustained_clock_hz")
    out["hbm_achievable_bw"] = (spec.hbm_achievable_bw, "B/s", "hbm_bw_bytes_s x hbm_efficiency")
    if spec.cp_async_hbm_efficiency is not None:  # the cp.async path's own read ceiling (FA2, FlashInfer's fa2)
        out["cp_async_achievable_bw"] = (spec.stream_bw(cp_async=True), "B/s",
                                         "hbm_bw_bytes_s x cp_async_hbm_efficiency")
    return out


def _si_prefixed(v: float, unit: str) -> str:
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if v >= scale:
            return f"{v / scale:.4g} {prefix}{unit}"
    return f"{v:.4g} {unit}"


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _human(dim: str, v) -> str:
    """A stored value in the unit a person reads it in."""
    if isinstance(v, (list, str)):
        return ", ".join(v) if isinstance(v, list) else v
    if dim == "frequency":
        return f"{v / 1e6:g} MHz"
    if dim == "bytes":
        return _bytes(v)
    if dim == "bandwidth":  # decimal, as every listing and plot (400 GiB/s is 429.5 GB/s)
        return f"{v / 1e12:.4g} TB/s" if v >= 1e12 else f"{v / 1e9:.4g} GB/s"
    if dim == "time":
        return f"{v * 1e6:g} us"
    if dim == "energy":
        return f"{v:g} pJ"
    return f"{v:g}" if dim in ("count", "fraction") else f"{v:g} {dim}"


def _bytes(v) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if v >= size and (v / size * 10) % 1 == 0:  # exact to one decimal, e.g. 126.5 MiB
            return f"{v / size:g} {unit}"
    return f"{v / 1e9:g} GB" if v >= 1e9 else f"{v:g} B"
