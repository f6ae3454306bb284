"""``attnsim simulate``: predict time, bound and speedup for one or many points."""

import sys

import click

from cli._workload_opts import default_point, expand_points, run_listed, workload_options
from einsum_cascades.errors import UserError


SAY_POINTS = 20_000  # above this many points (tens of seconds, masked), simulate says what it is doing


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@workload_options
@click.option("--from", "from_file", type=click.Path(dir_okay=False), default=None,
              help="CSV or JSON with one point per row (columns as the JSON keys); missing columns take "
                   "the command-line values. Results come back in input order.")
@click.option("--explain", is_flag=True, help="For one point: the cost formulas with numbers and the binding roof "
              "(with --format json or csv on stderr, the row in that format on stdout).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default=None,
              help="Output format (default: table on a terminal, json otherwise).")
def simulate(from_file, explain, fmt, **opts):
    """Predict how fast an attention algorithm runs on a machine, what bounds it, and the speedup.

    \b
    Examples:
      attnsim simulate --hw h100 --algo flash2 --seq-len 32k --sparsity 0.9
      attnsim simulate --hw a100,h100 --seq-len 1k,8k,64k --causal
      attnsim simulate --hw fusemax --model bert --seq-len 1k..1m --format csv
      attnsim simulate --hw h100 --model llama3-8b --seq-len 1 --kv-len 128k --algo flash-decoding
      attnsim simulate --hw h100 --model llama3-8b --seq-len 1 --kv-len 32k --algo flash3 --num-splits 1,16
    """
    if from_file is not None:
        from simulator.points_file import read_points

        points, defaults = read_points(from_file), default_point(opts)
        _say_shadowed(points, opts, from_file)
        rows = _run_rows(points, defaults, from_file)
    else:
        points, defaults = expand_points(opts), {}
        if len(points) > SAY_POINTS:
            click.echo(f"attnsim: simulating {len(points):,} points; nothing prints until all are done "
                       "(attnsim sweep ... -o FILE streams rows with progress, on every core)", err=True)
        rows = run_listed(points)
    from cli._output import report_unfit, write_rows

    report_unfit(rows)
    if explain:
        if len(rows) != 1:
            raise UserError(f"--explain takes one point; this call has {len(rows)}")
        from cli._explain import explain_point
        from cli._wrap import echo_fitted

        # a script asking for a format gets its row on stdout and the explanation beside it on stderr
        echo_fitted(explain_point(rows[0]), err=fmt in ("json", "csv"))
        if fmt not in ("json", "csv"):
            return
    write_rows(rows, fmt or ("table" if sys.stdout.isatty() else "json"))


def _say_shadowed(points: list[dict], opts: dict, path: str) -> None:
    """A note where an option given on the command line is a column every --from row fills: the rows' values win
    (missing columns take the command line's), so the option changes nothing."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    names = {p.name: p.opts[0] for p in ctx.command.params}
    given = [name for name in opts if name in names and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE]
    shadowed = [names[n] for n in given if points and all(p.get(n) is not None for p in points)]
    if shadowed:
        from cli._notes import later

        verb = "changes" if len(shadowed) == 1 else "change"
        later(f"--from {path}: every row gives its own {', '.join(o.lstrip('-') for o in shadowed)}, so the command "
              f"line's {', '.join(shadowed)} {verb} nothing (only columns a row leaves out take the command line's)")


def _run_rows(points, defaults, path) -> list[dict]:
    """All rows at once (fast); on bad input, the first bad row's own error, named (found by bisection)."""
    from simulator.api import first_bad_point, rows_of

    try:
        return rows_of(points, defaults)
    except UserError:
        found = first_bad_point(points, defaults)
        if found is None:
            raise
    i, err = found
    raise UserError(f"{path} row {i + 1}: {err}") from None
