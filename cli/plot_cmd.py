"""``attnsim plot``: speedup, sparsity, roofline, breakdown, validation and evidence figures.

A thin shell: expand the workload options into points, simulate them, hand
the rows to ``cli.plots``; the format follows the output's extension.
"""

import click

from cli._params import FLOAT_LIST, NameListType, not_empty
from cli._workload_opts import expand_points, workload_options
from einsum_cascades.errors import UserError
from validation.evidence import DECODE_MAX_QUERIES, PHASES, PRECISIONS

_CTX = {"help_option_names": ["-h", "--help"]}


def _output_option(func):
    return click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
                        help="Figure file: FILE.png (150 dpi), FILE.svg or FILE.pdf.")(func)


def _rows(opts: dict, output: str, field: str) -> tuple[list[dict], str]:
    """Check the output path, simulate every point of the options; the rows with ``field`` and a note
    (also on stderr) on the points left out because they, or their baselines, do not fit in memory."""
    from cli._workload_opts import run_listed
    from cli.plots.style import check_output

    check_output(output)
    return _usable(run_listed(expand_points(opts)), field)


def _usable(rows: list[dict], field: str) -> tuple[list[dict], str]:
    from cli.plots.series import plottable

    kept, note = plottable(rows, field)
    if not kept:
        hint = ""
        if field == "speedup" and any(r["baseline"] in ("naive", "unfused") and r.get("baseline_fits") is False
                                      for r in rows):  # standard attention's N x N scores: a fused kernel still fits
            hint = ("; --baseline names one that fits, e.g. the machine's FlashAttention (--baseline flash2 on an "
                    "A100, flash3 on Hopper, flash4 on Blackwell)")
        raise UserError(f"nothing to plot: {note}{hint}")
    if note:
        click.echo(f"attnsim: note: {note}", err=True)
    return kept, note


def _no_baseline(opts: dict, figure: str) -> None:
    """Refuse --baseline where the figure draws no speedup, rather than ignore it."""
    if opts.get("baseline") is not None:
        raise UserError(f"bad --baseline {opts['baseline']!r}: plot {figure} draws times, not speedups, so it has no "
                        "baseline; leave the option out (plot speedup and plot sparsity take one)")


DEFAULT_SPARSITY_RANGE = "0..0.9"  # plot sparsity without --sparsity: the values --sparsity 0..0.9 gives


def _done(output: str) -> None:
    click.echo(f"wrote {output}", err=True)


@click.group(context_settings=_CTX)
def plot():
    """Draw speedup, sparsity, roofline, breakdown, validation or evidence figures (PNG, SVG or PDF)."""


@plot.command(context_settings=_CTX)
@workload_options
@_output_option
def speedup(output, **opts):
    """Speedup over the baseline vs sequence length.

    A line per hardware x algorithm (x any other list option, e.g. --sparsity 0,0.9).

    \b
    Examples:
      attnsim plot speedup --hw a100,h100,b200 --seq-len 1k..128k -o speedup.png
      attnsim plot speedup --hw h100 --algo flash2,flash3 --seq-len 1k..64k --sparsity 0,0.9 -o sparse.svg
    """
    from cli.plots import speedup_figure

    speedup_figure(*_rows(opts, output, "speedup"), output)
    _done(output)


@plot.command(context_settings=_CTX)
@workload_options
@_output_option
def sparsity(output, **opts):
    """Speedup vs sparsity, with the ideal dashed.

    The ideal is 1 / block density (relative to the dense run). The baseline is the dense run of the same algorithm unless --baseline says otherwise. Without --sparsity the axis runs 0..0.9; a --pattern is sized to each sparsity (at 0, as written, drawn at the sparsity it has).

    \b
    Example:
      attnsim plot sparsity --hw h100 --algo flash2,flash3 --seq-len 32k --sparsity 0..0.95:12 -o sparsity.png
    """
    from cli.plots import sparsity_figure
    from cli.plots.series import sparsity_rows
    from cli.plots.style import check_output

    check_output(output)
    _sparsity_resizes(opts)
    if opts.get("sparsity") is None:  # a sparsity axis needs sparsities: the range the examples use
        from cli._notes import later

        opts["sparsity"] = FLOAT_LIST.convert(DEFAULT_SPARSITY_RANGE, None, None)
        later(f"--sparsity {DEFAULT_SPARSITY_RANGE} (plot sparsity's default range; --sparsity names others)")
        rows = _reachable_rows(opts)
    elif bad := [x for x in opts["sparsity"] if not 0 <= x < 1]:  # NaN fails both: [0, 1) first, then the count
        raise UserError(f"bad --sparsity '{bad[0]:g}': must be in [0, 1)")
    elif len(set(opts["sparsity"])) < 2:
        raise UserError(f"bad --sparsity '{opts['sparsity'][0]:g}': plot sparsity draws speedup against sparsity, so it "
                        "needs two values or more (a list, or a range such as 0..0.9)")
    else:
        rows = sparsity_rows(expand_points(opts))
    sparsity_figure(*_usable(rows, "speedup"), output)
    _done(output)


def _sparsity_resizes(opts: dict) -> None:
    """Refuse a selection kernel (nsa-select: NSA's and MoBA's presets), whose topk(k) no --sparsity resizes, before
    the axis's points run: the first of them had failed on its dense form ('bad pattern causal for nsa-select')."""
    for point in expand_points({**opts, "sparsity": [0.5]}):
        if (point.get("algorithm") or "").startswith("nsa-select"):
            what = f"--method {opts['method']}" if opts.get("method") else f"--algo {point['algorithm']}"
            raise UserError(f"plot sparsity: {what} runs nsa-select, which keeps the topk(k) blocks of its pattern a "
                            "token, and no --sparsity resizes k; set k in --pattern 'topk(k)' and compare runs of "
                            "attnsim simulate or attnsim sweep")


def _reachable_rows(opts: dict) -> list[dict]:
    """The default range's rows at the sparsities the call's mask reaches: a --pattern or --method mask (causal
    StreamingLLM's sinks and window: 0.50 to 0.99 at 32k) is sized to each value, and a value out of its reach
    is left out with a note rather than failing the default; all out of reach is the error a named one gives."""
    from cli._notes import later
    from cli.plots.series import sparsity_rows

    values, rows, refused = opts["sparsity"], [], []
    for value in values:
        try:
            rows += sparsity_rows(expand_points({**opts, "sparsity": [value]}))
        except UserError as err:
            if "cannot reach sparsity" not in str(err) or value == values[-1] and not rows:
                raise
            refused.append((value, str(err)))
    if refused:
        if not {r["sparsity"] for r in rows} - {0.0}:
            raise UserError(refused[-1][1])
        reach = refused[-1][1].rsplit(": ", 1)[-1]
        later(f"the default range's sparsities {', '.join(f'{v:g}' for v, _ in refused)} left out: the mask "
              f"cannot reach them ({reach})")
    return rows


@plot.command(context_settings=_CTX)
@workload_options
@_output_option
def roofline(output, **opts):
    """One machine's roofline with kernels on it.

    GPU roofs: achievable tensor peak, exp (SFU) at the head dim, HBM and L2 slopes; accelerator
    roofs: 2D and 1D arrays, DRAM. One point per algorithm x sequence length, labelled with N.

    \b
    Examples:
      attnsim plot roofline --hw h100 --algo naive,flash2,flash3 --seq-len 1k,8k,64k -o roofline.png
      attnsim plot roofline --hw fusemax --algo unfused,flat,fusemax --model bert --seq-len 1k,16k -o fm.pdf
    """
    from cli.plots import roofline_figure
    from simulator.api import hardware

    _no_baseline(opts, "roofline")
    if len(opts["hardware"]) != 1:
        raise UserError(f"roofline draws one machine: got --hw {','.join(opts['hardware'])}")
    spec = hardware(opts["hardware"][0])
    roofline_figure(spec, *_rows(opts, output, "time_s"), output)
    _done(output)


@plot.command(context_settings=_CTX)
@workload_options
@_output_option
def breakdown(output, **opts):
    """Where the time goes, per algorithm.

    GPUs: the time each resource alone would need, with the predicted time marked. Accelerators:
    per-Einsum cycles stacked on the 2D and 1D arrays, beside DRAM time, with the predicted latency.

    \b
    Examples:
      attnsim plot breakdown --hw h100 --algo naive,flash2,flash3 --seq-len 16k -o breakdown.png
      attnsim plot breakdown --hw flat,fusemax --algo flat,fusemax-cascade,fusemax-arch,fusemax --model bert \\
          --seq-len 64k -o breakdown_fm.png

    (The FuseMax paper's ablation runs FLAT and +Cascade on FLAT's hardware, +Architecture and +Binding on
    FuseMax's: --hw flat,fusemax draws those, and FLAT's dataflows on FuseMax's hardware beside them.)
    """
    from cli.plots import breakdown_figure, evaluate_points
    from cli.plots.breakdown import fitting
    from cli.plots.style import check_output

    _no_baseline(opts, "breakdown")
    check_output(output)
    groups, note = fitting(evaluate_points(expand_points(opts)))
    if not groups:
        raise UserError(f"nothing to plot: {note}")
    if note:
        click.echo(f"attnsim: note: {note}", err=True)
    breakdown_figure(groups, output, note)
    _done(output)


@plot.command(context_settings=_CTX)
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("--hw", default=None, callback=not_empty, help="Hardware model (name or TOML) to predict with; default: the file's device.")
@_output_option
def validation(results, hw, output):
    """Predicted vs measured times of a results file or of your own measured points.

    RESULTS is read as by `attnsim validate report` (see its --help for the columns of a
    CSV or JSON of your own measurements).

    Log-log scatter with y = x and a ±10 % band; the title gives the median |error|.

    \b
    Example:
      attnsim plot validation validation/published/fa3-paper-h100.json -o validation.png
    """
    from cli.plots import validation_figure
    from cli.plots.style import check_output

    check_output(output)
    validation_figure(results, hw, output)
    _done(output)


@plot.command(context_settings=_CTX)
@click.option("--hw", "hardware", type=NameListType(), default=None, callback=not_empty,
              help="Only these bundled hardware models (comma list). Default: every one with published timings.")
@click.option("--algo", "algorithms", type=NameListType(), default=None, callback=not_empty,
              help="Only these kernel families (comma list). Default: every one.")
@click.option("--phase", type=click.Choice(PHASES), default=None,
              help=f"Only decode calls (at most {DECODE_MAX_QUERIES} queries a request) or only prefill calls (more). "
                   "Default: both.")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Only calls of 8-bit (fp8), 16-bit (fp16, bf16) or 32-bit inputs. Default: every width.")
@click.option("--split", is_flag=True,
              help="A line per phase and input width (decode 16-bit, prefill 8-bit, ...) of each GPU and family.")
@_output_option
def evidence(hardware, algorithms, phase, precision, split, output):
    """The model's errors on the published timings bundled with attnsim, per GPU model and family.

    One line per hardware model and kernel family, over the points no bundled figure was fitted from (as
    `attnsim validate evidence` lists them): the median |predicted / measured - 1| (a dot) and its quartiles (a
    bar), beside the one-line roofline's median (a hollow diamond), on a log axis with 10% marked.

    \b
    Examples:
      attnsim plot evidence -o evidence.png
      attnsim plot evidence --hw h100,h200 -o hopper.png
      attnsim plot evidence --phase decode -o decode.png
      attnsim plot evidence --hw h100 --split -o h100-regimes.png
    """
    from cli.plots.evidence import evidence_figure
    from cli.plots.style import check_output
    from cli.validate_evidence import calls_words, select

    check_output(output)
    evidence_figure(select(hardware, algorithms, phase, precision, split), output, calls_words(phase, precision), split)
    _done(output)
