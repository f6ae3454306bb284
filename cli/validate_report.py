"""``attnsim validate report``: predicted vs measured, on any machine."""

import json
import sys

import click

from cli._params import not_empty


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--hw", default=None, callback=not_empty,
              help="Hardware model (name or TOML) to predict every point with; default: the file's device, "
                   "or each row's hardware column (h100 where it has none).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (default on a terminal) or json.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Also draw the predicted-vs-measured scatter to this PNG/SVG/PDF.")
def report(results, hw, fmt, output):
    """Predict every measured attention point and report the error.

    Per point and per algorithm and kernel (median and max |predicted/measured - 1|, and
    beside it the median |error| of the one-line roofline, max(FLOPs / 60% of the tensor
    peak, Q/K/V/O bytes / 90% of HBM), on the same points), and for predicted speedups
    (fused vs naive, sparse vs dense).

    RESULTS is a file of `attnsim validate run` (validation/FORMAT.md) or your own
    measurements from any benchmark: a CSV with a header line, a JSON list of objects or
    {"points": [...]}, one point per row, with the columns of `attnsim simulate --from`
    (hardware, algorithm, batch, heads, kv_heads, head_dim, seq_len, kv_len, causal, dtype,
    pattern, sparsity, block_size; sizes like 4k; a missing column takes simulate's
    default) plus the time per call in exactly one of measured_ms or measured_s, and
    optionally device and kernel (free text: what ran, on what).

    \b
    Examples:
      attnsim validate report validation/published/fa3-paper-h100.json --format json
      attnsim validate report run.json --hw my-gpu.toml -o validation.png
      attnsim validate report my-benchmark.csv     # hardware,algorithm,seq_len,causal,measured_ms
    """
    from cli._measured_file import load
    from validation.report import report_doc

    if output:
        from cli.plots.style import check_output

        check_output(output)
    data = report_doc(load(results), hw)
    if (fmt or ("table" if sys.stdout.isatty() else "json")) == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
    if output:
        from cli.plots.validation import validation_scatter

        validation_scatter(data, results, output)
        click.echo(f"wrote {output}", err=True)


def _print(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from cli._output import human_time

    console = Console()
    console.print(f"[bold]{data['device'].get('name')}[/] predicted with hardware model [bold]{data['hardware']}[/]")
    several_hw = len({p["hardware"] for p in data["points"]}) > 1
    table = Table("kernel", "algorithm", *(["hw"] if several_hw else []), "B", "H", "d", "N", "causal", "mask",
                  "measured", "predicted", "error")
    for p in data["points"]:
        mask = p.get("pattern") or (f"s={p['sparsity']:g}" if p.get("sparsity") else "")
        table.add_row(str(p["kernel"]), p["algorithm"], *([p["hardware"]] if several_hw else []), str(p["batch"]),
                      f"{p['heads']}/{p['kv_heads']}", str(p["head_dim"]), f"{p['seq_len']}/{p['kv_len']}",
                      "y" if p["causal"] else "", mask, human_time(p["measured_s"]), human_time(p["predicted_s"]),
                      _err(p["error"]))
    console.print(table)
    summary = Table("group", "n", "median |error|", "max |error|", "roofline median", title="summary",
                    caption="roofline median: the one-line roofline's median |error| on the same points")
    s = data["summary"]
    kernels = s["per_kernel"] if len(s["per_kernel"]) > len(s["per_algorithm"]) else {}  # several kernels per model
    rows = [("all points", s["overall"])] + list(s["per_algorithm"].items()) + [
        (f"kernel {k}", v) for k, v in kernels.items()] + [(f"speedup {k}", v) for k, v in s["speedups"].items()]
    for name, st in rows:
        summary.add_row(name, str(st["n"]), _pct(st["median_abs_error"]), _pct(st["max_abs_error"]),
                        _pct(st.get("roofline_median_abs_error")))
    console.print(summary)


def _err(e: float) -> str:
    colour = "green" if abs(e) <= 0.10 else "yellow" if abs(e) <= 0.25 else "red"
    return f"[{colour}]{e:+.1%}[/]"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"
