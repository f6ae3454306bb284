"""``attnsim hw``: list and show hardware models with the source of every figure."""

import json
from dataclasses import fields

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def hw():
    """List and show hardware models (GPUs and accelerators).

    \b
    Examples:
      attnsim hw list
      attnsim hw show h100
      attnsim hw show ./my-gpu.toml --json
    """


@hw.command("list")
def list_():
    """Bundled machines with their headline figures."""
    from rich.console import Console
    from rich.table import Table

    from gpu_models import list_hardware, load_hardware

    table = Table("name", "kind", "machine", "compute peak", "memory", "units")
    for name in list_hardware():
        spec = load_hardware(name)
        if spec.kind == "gpu":
            table.add_row(name, "gpu", spec.display_name, f"{spec.tensor_peak_flops('fp16') / 1e12:.0f} TFLOP/s fp16",
                          f"{spec.hbm_bw_bytes_s / 1e12:.2f} TB/s HBM", f"{spec.sms} SMs")
        else:
            table.add_row(name, "accelerator", spec.display_name, f"{2 * spec.peak_2d_macs / 1e12:.0f} TFLOP/s 2D",
                          f"{spec.dram_bw_bytes_s / 2**30:.0f} GiB/s DRAM",
                          f"{spec.pe2d_rows}x{spec.pe2d_cols} + {spec.pe1d_count} PEs")
    Console().print(table)


@hw.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Every field in SI units, plus `sources`.")
def show(name, as_json):
    """Every figure of NAME (bundled name or TOML path) with its unit and source."""
    from gpu_models import load_hardware

    spec = load_hardware(name)
    data = {f.name: _plain(getattr(spec, f.name)) for f in fields(spec) if f.name != "sources"}
    if as_json:
        click.echo(json.dumps({**data, "sources": spec.sources}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("field", "value", "source", title=f"{spec.display_name} ({spec.name})", show_lines=False)
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(f"{key}.{sub}", _human(key, v), spec.sources.get(f"{key}.{sub}", ""))
        elif key not in ("name", "display_name", "energy"):
            table.add_row(key, _human(key, value), spec.sources.get(key, ""))
    Console().print(table)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _human(key: str, v) -> str:
    if isinstance(v, list):
        return ", ".join(v)
    if not isinstance(v, (int, float)):
        return str(v)
    if key.endswith("_hz"):
        return f"{v / 1e6:.0f} MHz"
    if key.endswith("_bytes_s"):
        return f"{v / 1e12:.3g} TB/s" if v >= 1e12 else f"{v / 2**30:.0f} GiB/s"
    if key.endswith("_bytes"):
        return f"{v / 2**20:.4g} MiB" if v >= 2**20 else f"{v / 2**10:.4g} KiB"
    if key.endswith("_s"):
        return f"{v * 1e6:.3g} us"
    if key == "energy_pj":
        return f"{v:g} pJ"
    return f"{v:g}"
