"""``attnsim validate report``: predicted vs measured, on any machine."""

import json
import sys

import click

from cli._params import finite_clock, not_empty


@click.command("report", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--hw", default=None, callback=not_empty,
              help="Hardware model (name or TOML) to predict every point with; default: the file's device, "
                   "or each row's hardware column, else the model its device column names (NVIDIA GB200, H100 PCIe, ... in "
                   "any case, or a model's own name such as h100-pcie; a device with no bundled model is an error), "
                   "else h100.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None,
              help="table (default on a terminal) or json.")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Also draw the predicted-vs-measured scatter to this PNG/SVG/PDF.")
@click.option("--clock-locked", "clock_mhz", type=click.FloatRange(100, 5000), default=None, metavar="MHZ",
              callback=finite_clock,
              help="The SM clock your benchmark locked the GPU at (nvidia-smi --lock-gpu-clocks=MHZ,MHZ): "
                   "predict with the SMs at it (HBM keeps its bandwidth, the L2 its bytes per clock), up to the "
                   "GPU's highest clock; the same "
                   "as --hw NAME:MHZ. Default: the file's device clock_locked_mhz, else free clocks (the model's "
                   "sustained clock).")
def report(results, hw, fmt, output, clock_mhz):
    """Predict every measured attention point and report the error.

    Per point and per algorithm and kernel (median and max |predicted/measured - 1|, and
    beside it the median |error| of the one-line roofline, max(FLOPs / 60% of the tensor
    peak, Q/K/V/O bytes / 90% of HBM), on the same points), and for predicted speedups
    (fused vs naive, sparse vs dense). For a file of your own, the table ends with what the
    published timings bundled with attnsim say of the same families on the same GPU models
    (`attnsim validate evidence`), to set your errors beside.

    RESULTS is a file of `attnsim validate run` (validation/FORMAT.md) or your own
    measurements from any benchmark: a CSV with a header line, a JSON list of objects or
    {"points": [...]}, one point per row, with the columns of `attnsim simulate --from`
    (hardware, algorithm, batch, heads, kv_heads, head_dim, v_head_dim, seq_len, kv_len,
    causal, dtype, pattern, sparsity, block_size, scope, page_size, varlen, num_splits; sizes like 4k; seq_len
    is required, another missing column takes simulate's default) plus the time per call in exactly one of measured_ms, measured_us or measured_s, and
    optionally device and kernel (free text: what ran, on what). A {"points": [...]} JSON may
    also say which kernel builds it timed: fa3_build (current, 2024-07), fa2_build (current,
    2.4.2: FA2 before v2.5.7, which splits over the SM count), flashinfer_build (0.6.16,
    0.0.1), flashmla_build (2025-04, 2025-02: FlashMLA's first release) and natten_build
    (current, 0.20: NATTEN's token permutation as PyTorch copies); absent, today's code.

    \b
    Examples:
      attnsim validate report validation/published/fa3-paper-h100.json --format json
      attnsim validate report run.json --hw my-gpu.toml -o validation.png
      attnsim validate report my-benchmark.csv     # hardware,algorithm,seq_len,causal,measured_ms
      attnsim validate report my-benchmark.csv --clock-locked 1755
    """
    from validation.measured_file import load
    from validation.report import report_doc

    if output is not None:
        from cli.plots.style import check_output

        check_output(output)
    if hw is not None:  # a bad --hw is the option's, not the file's first row's
        from einsum_cascades.errors import UserError
        from simulator.api import hardware

        try:
            hardware(hw)
        except UserError as err:
            raise UserError(f"--hw: {err}") from None
    doc = load(results)
    if hw is not None:
        override_note(doc, hw)
    if clock_mhz is not None:
        doc["device"] = {**(doc.get("device") or {}), "clock_locked_mhz": clock_mhz}
    data = report_doc(doc, hw)
    _floor_notes(data["points"])
    _slow_notes(data["points"])
    _repeat_notes(data["points"])
    if (fmt or ("table" if sys.stdout.isatty() else "json")) == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        _print(data)
        if not _bundled_set(results):  # a user's timings: what the published sets say of the same kernels
            _evidence(data)
    if output is not None:
        from cli.plots.validation import validation_scatter

        validation_scatter(data, results, output)
        click.echo(f"wrote {output}", err=True)


def override_note(doc: dict, hw: str) -> None:
    """One note when --hw replaces the hardware or device some rows of a measured file name: their times were taken
    on another GPU than the one they are now predicted on."""
    from cli._notes import later
    from validation.report import rows_overridden

    count = rows_overridden(doc, hw)
    if count:
        one = count == 1
        later(f"--hw {hw} overrode the hardware or device column of {count:,} row{'' if one else 's'} (of "
              f"{len(doc['points']):,}): {'it is' if one else 'they are'} predicted on {hw}, not on the GPU "
              f"{'it names' if one else 'they name'}")


def _bundled_set(path: str) -> bool:
    """Whether ``path`` is one of the published sets bundled with attnsim (their evidence would quote themselves)."""
    from pathlib import Path

    from validation.evidence import PUBLISHED

    return Path(path).resolve().parent == PUBLISHED


def _evidence(data: dict) -> None:
    """For each (hardware model, family, phase, input width) of the points: how well the bundled published timings
    know it in calls like those (decode or prefill, 8- or 16-bit)."""
    from cli.validate_evidence import evidence_line
    from cli._wrap import echo_fitted
    from simulator.api import hardware, resolve_algorithm
    from validation.evidence import phase_of, precision_of

    pairs = dict.fromkeys((p["hardware"], p["algorithm"], phase_of(p["seq_len"]), precision_of(p["dtype"]))
                          for p in data["points"])
    if pairs:
        lines = (evidence_line(hw, algo, resolve_algorithm(hardware(hw), algo).family, phase, precision)
                 for hw, algo, phase, precision in pairs)
        echo_fitted("\n".join(dict.fromkeys(lines)))  # h100 and h100:1500 share the h100 model's evidence


def _floor_notes(points: list[dict]) -> None:
    """A note per point measured faster than any kernel can run it (validation.roofline.floor_time_s): a wrong
    shape, time unit or device in the file, whose error would otherwise read as the model's."""
    from cli._output import human_time, lengths, shape
    from cli._notes import later
    from validation.roofline import floor_reason, reads_every_key

    under = [p for p in points if p.get("below_floor")]
    for p in under[:NOTES_SHOWN]:
        where = f"row {p['row']}" if "row" in p else f"{p['kernel']} {shape(p)} N={lengths(p)}"
        what = floor_reason(p["floor_bound"], reads_every_key(p["pattern"], p["sparsity"]))
        later(f"{where}: measured {human_time(p['measured_s'])} is under the {human_time(p['floor_s'])} no "
              f"kernel can beat on {p['hardware']} ({what}): check its shape, time unit and device")
    if len(under) > NOTES_SHOWN:
        later(f"{len(under) - NOTES_SHOWN:,} more rows measured under that floor (--format json marks each: "
              "below_floor)")


NOTES_SHOWN = 10  # notes of one kind printed for a file's rows; the rest counted in one line
SLOW_RATIO = 20  # a row measured this many times the prediction or more: more likely a unit than a kernel


def _slow_notes(points: list[dict]) -> None:
    """A note per row of a user's measured file (a CSV or JSON of rows; not a results file of attnsim's own
    runner, whose CuPy kernels are no production kernel's speed) measured SLOW_RATIO times the prediction or more (a
    time in the wrong unit, a shape or device mistyped), at most NOTES_SHOWN: the error would otherwise read as the
    model's."""
    from cli._notes import later
    from cli._output import human_time

    slow = [p for p in points if "row" in p and p["predicted_s"] * SLOW_RATIO <= p["measured_s"]]
    for p in slow[:NOTES_SHOWN]:
        where = f"row {p['row']}"
        later(f"{where}: measured {human_time(p['measured_s'])}, {p['measured_s'] / p['predicted_s']:,.0f} times the "
              f"{human_time(p['predicted_s'])} predicted: check its time unit, shape and device")
    if len(slow) > NOTES_SHOWN:
        later(f"{len(slow) - NOTES_SHOWN:,} more rows measured {SLOW_RATIO} or more times their prediction")


def _repeat_notes(points: list[dict]) -> None:
    """One note where several rows time the same call (kernel and shape): each is a point of the medians, and the
    speedups pair the call once, by its first row (validation.report.speedup_errors)."""
    from cli._notes import later
    from validation.report import call_key

    rows = {}
    for p in points:
        rows.setdefault(call_key(p), []).append(p)
    repeated = [ps for ps in rows.values() if len(ps) > 1]
    if repeated:
        first = repeated[0]
        which = (f"rows {', '.join(str(p['row']) for p in first[:5])}" if all("row" in p for p in first)
                 else f"{len(first)} rows")
        later(f"{len(repeated):,} call(s) timed in more than one row ({which}: {first[0]['kernel']} on "
              f"{first[0]['hardware']}, the same shape): each row is a point of the medians; the speedups pair a "
              "call once, by its first row")


def _print(data: dict) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape

    from cli._fit import print_fitted
    from validation.report import BUILD_DEFAULTS, BUILD_LABELS
    from cli._output import human_time, lengths, shape

    console = Console()
    clock = data["device"].get("clock_locked_mhz")
    console.print(f"[bold]{escape(str(data['device'].get('name')))}[/] predicted with hardware model "
                  f"[bold]{escape(str(data['hardware']))}[/]" + (f", SMs at the locked {clock:g} MHz" if clock else ""))
    built = [f"{BUILD_LABELS[key]} as {value}" for key, value in data.get("builds", {}).items()
             if value != BUILD_DEFAULTS[key]]
    if built:
        console.print("kernels predicted as built then: " + ", ".join(built), highlight=False)
    several_hw = len({p["hardware"] for p in data["points"]}) > 1
    rows = []
    for p in data["points"]:
        mask = " ".join((["causal"] if p["causal"] else []) + ([p["pattern"]] if p.get("pattern") else [])
                        + ([f"s={p['sparsity']:g}"] if p.get("sparsity") else []))
        rows.append([escape(str(p["kernel"])), escape(str(p["algorithm"])), *([p["hardware"]] if several_hw else []),
                     shape(p), lengths(p), escape(mask or "dense"),
                     human_time(p["measured_s"]), human_time(p["predicted_s"]), _err(p["error"])])
    print_fitted(("kernel", "algorithm", *(["hw"] if several_hw else []), "shape", "N", "mask", "measured",
                  "predicted", "error"), rows, text=("kernel", "mask"), names=("kernel",),
                 right=("shape", "N", "measured", "predicted", "error"),
                 shared=("kernel", "algorithm", "shape", "N", "mask"), drop=("algorithm", "shape"),
                 dropped_hint="--format json has every field", console=console, box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True, header_style="bold")
    s = data["summary"]
    kernels = s["per_kernel"] if len(s["per_kernel"]) > len(s["per_algorithm"]) else {}  # several kernels per model
    groups = [("all points", s["overall"])] + list(s["per_algorithm"].items()) + [
        (f"kernel {k}", v) for k, v in kernels.items()] + [(f"speedup {k}", v) for k, v in s["speedups"].items()]
    print_fitted(("group", "n", "median |error|", "max |error|", "roofline median"),
                 [[escape(name), str(st["n"]), _pct(st["median_abs_error"]), _pct(st["max_abs_error"]),
                   _pct(st.get("roofline_median_abs_error"))] for name, st in groups],
                 text=("group",), right=("n", "median |error|", "max |error|", "roofline median"), console=console, title="summary",
                 caption="roofline median: the one-line roofline's median |error| on the same points")


def _err(e: float) -> str:
    colour = "green" if abs(e) <= 0.10 else "yellow" if abs(e) <= 0.25 else "red"
    return f"[{colour}]{e:+.1%}[/]"


def _pct(x) -> str:
    return "-" if x is None else f"{x:.1%}"
