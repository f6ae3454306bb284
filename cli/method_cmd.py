"""``attnsim method``: the --method presets of published sparse-attention methods, with their sources."""

import json

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def method():
    """Sparse-attention method presets for --method: pattern, estimate and kernel of each, and where from.

    \b
    Examples:
      attnsim method list
      attnsim method show minference --json
      attnsim simulate --method minference --hw a100 --seq-len 1m
    """


@method.command("list")
def list_():
    """Every preset: its mask, index-building step (--estimate), kernel (--algo) and paper; `attnsim method
    show NAME` gives its whole source (code, settings) and notes."""
    from rich import box
    from rich.console import Console
    from rich.markup import escape

    from cli._fit import print_fitted
    from simulator.methods import METHODS

    console = Console()
    rows = [[escape(c) for c in (name, _mask(m), m.estimate or "-", _kernel(m), paper(m.source))]
            for name, m in METHODS.items()]
    print_fitted(("method", "mask", "estimate", "kernel", "paper"), rows, text=("mask", "kernel", "paper"),
                 console=console, box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, collapse_padding=True)
    console.print("attnsim method show NAME: the code and settings each preset is taken from", style="dim",
                  highlight=False)


@method.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The fields --method sets, as JSON.")
def show(name, as_json):
    """The fields --method NAME sets, and its source."""
    from simulator.methods import method as get, preset_fields

    m = get(name)
    fields = {**preset_fields(name), **({"shape": m.shape} if m.shape else {}), "source": m.source, "note": m.note,
              **({"stand_in": m.stand_in} if m.stand_in else {})}
    if as_json:
        click.echo(json.dumps(fields, indent=2))
    else:
        import shutil
        import textwrap

        width = min(shutil.get_terminal_size().columns, 100)  # wrapped to the terminal (--json for scripts)
        wrap = lambda text, first="  ": textwrap.fill(text, width, initial_indent=first, subsequent_indent="  ",
                                                       break_long_words=False, break_on_hyphens=False)
        click.echo("\n".join([wrap(f"{name}: {_mask(m)}, estimate {m.estimate or '-'}, kernel {_kernel(m)}", ""),
                               wrap(m.source), *([wrap(m.note)] if m.note else []),
                               *([wrap(m.stand_in)] if m.stand_in else [])]))


def _mask(m) -> str:
    parts = (["causal"] if m.causal else []) + ([m.pattern] if m.pattern else [])
    if m.sparsity:
        parts.append(f"s={m.sparsity:g}")
    return " ".join(parts) + (f", {m.block_size}-key blocks" if m.block_size else "")


def _kernel(m) -> str:
    return m.algorithm or "the machine's FlashAttention"


def paper(source: str) -> str:
    """The paper a source names: its text up to the first ';' outside parentheses (the code follows)."""
    depth = 0
    for i, ch in enumerate(source):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == ";" and depth == 0:
            return source[:i]
    return source
