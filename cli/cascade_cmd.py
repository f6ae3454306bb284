"""``attnsim cascade``: list, show, draw and check Einsum cascades."""

import json

import click

from cli._params import SIZE


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cascade():
    """Attention algorithms as cascades of Einsums (FuseMax notation).

    \b
    Examples:
      attnsim cascade list
      attnsim cascade show attention-1pass
      attnsim cascade show attention-3pass --json
      attnsim cascade show attention-1pass --graph cascade.png
      attnsim cascade check my-attention.cascade --seq-len 64
    """


@cascade.command("list")
def list_():
    """Bundled cascades with their passes over the key rank."""
    from rich.markup import escape

    from cli._fit import print_fitted
    from einsum_cascades import list_cascades, load_cascade

    print_fitted(("name", "passes over m", "summary"),
                 [[escape(name), str(load_cascade(name).passes().get("m", "-")), escape(summary)]
                  for name, summary in list_cascades()], text=("passes over m", "summary"))


@cascade.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="name, einsums, passes, ops, inputs, outputs as JSON.")
@click.option("--graph", type=click.Path(dir_okay=False), default=None, help="Draw the DAG, coloured by pass, to a PNG/SVG/PDF.")
def show(name, as_json, graph):
    """Einsums, passes, op counts and live footprint of NAME (bundled name or file)."""
    from einsum_cascades import load_cascade

    if graph is not None:
        from cli.plots.style import check_output

        check_output(graph)
    c = load_cascade(name)  # refuses, as check and simulate do, a tensor no line computes and Q/K/V misread
    if graph is not None:
        from cli.cascade_graph import draw

        draw(c, graph)
        click.echo(f"wrote {graph}", err=True)
    if as_json:
        click.echo(json.dumps(_as_dict(c), indent=2))
    else:
        _print(c)


def _footprint(c) -> str | None:
    """The live footprint over m as text, None for a cascade without a key rank m."""
    from einsum_cascades.errors import UserError

    try:
        return str(c.footprint("m"))
    except UserError:
        return None


def _as_dict(c) -> dict:
    return {
        "name": c.name, "summary": c.summary, "reference": c.reference,
        "einsums": [{"output": e.output, "text": e.text, "init": e.init.text if e.init else None} for e in c.einsums],
        "passes": c.passes(), "ops": {k: {cls: str(v) for cls, v in o.items()} for k, o in c.op_counts().items()},
        "total_ops": {cls: str(v) for cls, v in c.total_ops().items()},
        "footprint_per_query": _footprint(c), "inputs": list(c.inputs), "outputs": list(c.outputs)}


def _print(c) -> None:
    from rich.console import Console
    from rich.markup import escape

    from cli._fit import print_fitted
    from einsum_cascades.passes import einsum_passes, pass_label

    level, ops, passes = einsum_passes(c, "m"), c.op_counts(), c.passes()
    rows = []
    for e in c.einsums:
        if e.init:
            rows.append(["init", escape(e.init.text), ""])
        rows.append([pass_label(c, level[e.output]) if level[e.output] else "-", escape(e.text),
                     escape("\n".join(f"{k}={v}" for k, v in ops[e.output].items()))])
    console = Console()
    print_fitted(("pass", "einsum", "ops"), rows, text=("pass", "einsum", "ops"), console=console,
                 title=escape(f"{c.name}: {c.summary}"))
    console.print("passes: " + ", ".join(f"{rank}={n}" for rank, n in passes.items()))
    console.print("total ops:")
    for cls, n in c.total_ops().items():
        console.print(f"  {cls:4s}{n}")
    if "m" in passes:
        console.print(f"live footprint per query row over m: {_footprint(c)}")
    console.print(f"inputs: {', '.join(c.inputs)}   outputs: {', '.join(c.outputs)}")


@cascade.command("check")
@click.argument("name")
@click.option("--seq-len", type=SIZE, default="64", show_default=True, help="Query positions P.")
@click.option("--kv-len", type=SIZE, default=None, help="Key positions M (default: --seq-len).")
@click.option("--head-dim", type=SIZE, default="16", show_default=True, help="E = F.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True,
              help="Seed of the random inputs (0 .. 2**64 - 1).")
@click.option("--tolerance", type=float, default=1e-9, show_default=True, help="Largest max |error| that passes (>= 0).")
@click.option("--reference", type=click.Choice(["softmax", "sigmoid", "linear", "softcap", "unnormalised",
                                               "differential", "lightning", "none"]), default=None,
              help="What to compare with (default: the file's '# reference:' line, else softmax); none only runs it.")
def check(name, seq_len, kv_len, head_dim, seed, tolerance, reference):
    """Run NAME on random inputs with the numpy oracle; compare with its reference.

    Exit status 1 when the max error is above the tolerance, so a cascade you
    wrote can be checked in a script. The oracle evaluates each Einsum over its whole
    iteration space, so sizes are small: at most 2**24 elements per Einsum and 2**28
    over the whole run (attention-1pass: P = M = 2k, E = 16 runs; 4k does not).
    """
    import math

    from einsum_cascades import load_cascade
    from einsum_cascades.errors import UserError

    if not math.isfinite(tolerance) or tolerance < 0:
        raise UserError(f"bad --tolerance {tolerance!r}: use a finite number >= 0, e.g. 1e-9")
    from cli._wrap import echo_fitted
    from einsum_cascades.reference import check as run_check, reference_name

    c = load_cascade(name)
    from types import SimpleNamespace

    from simulator.algorithms import chunk_error

    chunked = chunk_error(name, SimpleNamespace(seq_len=seq_len, kv_len=kv_len or seq_len))
    if chunked:  # lightning's query chunks are the keys' (simulate refuses the same sizes so)
        raise UserError(chunked)
    sizes = f"P={seq_len} M={kv_len or seq_len} E=F={head_dim}"
    if (reference or c.reference) == "none":  # --reference none, or the file's '# reference: none'
        from einsum_cascades.reference import run_only

        run_only(c, seq_len, kv_len or seq_len, head_dim, seed)
        said = "--reference none" if reference else "its '# reference: none' line"
        echo_fitted(f"{c.name}: ran on random inputs, {sizes}; no reference compared ({said})")
        return
    used = reference_name(c, reference)
    why = "" if reference or c.reference else " (no '# reference:' line: softmax assumed; --reference chooses)"
    err = run_check(c, seq_len, kv_len or seq_len, head_dim, seed, used)
    ok = err <= tolerance
    echo_fitted(f"{c.name}: reference {used}{why}, {sizes}: "
                 f"max |error| = {err:.3g} ({'ok' if ok else 'FAIL'}, tolerance {tolerance:g})")
    if not ok:
        raise SystemExit(1)

