"""``attnsim pattern``: densities and tile counts of a sparsity pattern, and a picture of its tiles."""

import json

import click

from cli._params import SIZE

MAX_CELLS = 512  # the picture has at most 512 x 512 cells; a cell over many tiles shows the densest one


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def pattern():
    """Sparsity patterns: composable mask predicates lowered to tiles.

    \b
    Primitives: causal, window(w), window(l,r), chunked(w), sinks(n),
    global(n), strided(s), vertical_slash(v,s), random_blocks(density[,seed]),
    topk(k[,seed]), budget(n[,seed]), full (or dense);
    window2d(H,W,kh,kw[,stride=(sh,sw)]) and
    window3d(T,H,W,kt,kh,kw[,stride=(st,sh,sw)]) alone (a grid of seq-len tokens);
    join them with & (binds tighter) and |, group with ( ).
    """


@pattern.command("show")
@click.argument("expr")
@click.option("--seq-len", type=SIZE, required=True, help="Query length (4k, 1m, ...).")
@click.option("--kv-len", type=SIZE, default=None, help="Key length (default: --seq-len).")
@click.option("--block-size", type=SIZE, default="128", show_default=True,
              help="Tile size (square); random_blocks flips one coin per tile.")
@click.option("--json", "as_json", is_flag=True, help="Counts and densities as JSON.")
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Draw the tile mask (full / partial / empty).")
def show(expr, seq_len, kv_len, block_size, as_json, png):
    """Element and block density, and full / partial / empty tiles of EXPR.

    \b
    Examples:
      attnsim pattern show 'causal&window(4k)|sinks(128)' --seq-len 64k
      attnsim pattern show 'random_blocks(0.1)' --seq-len 1m --block-size 64 --json
      attnsim pattern show 'causal&vertical_slash(16,8)' --seq-len 32k --png mask.png
      attnsim pattern show 'causal&topk(16)|sinks(128)' --seq-len 128k
      attnsim pattern show 'window2d(128,128,13,13)' --seq-len 16k
    """
    from einsum_cascades.sparsity import element_density, parse_pattern, tile_counts

    if png:
        from cli.plots.style import check_output

        check_output(png)
    p = parse_pattern(expr)
    kv_len = kv_len or seq_len
    tc = tile_counts(p, seq_len, kv_len, block_size, block_size)
    data = {"pattern": str(p), "seq_len": seq_len, "kv_len": kv_len, "block_size": block_size,
            "element_density": element_density(p, seq_len, kv_len, (block_size, block_size)),
            "block_density": tc.block_density, "full_blocks": tc.full, "partial_blocks": tc.partial,
            "empty_blocks": tc.empty, "q_blocks": tc.n_q_blocks, "kv_blocks": tc.n_kv_blocks}
    if png:
        from cli.pattern_plot import draw

        draw(p, tc, png, MAX_CELLS)
        click.echo(f"wrote {png}", err=True)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print_table(data, tc)


def _print_table(data: dict, tc) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("", "value", title=f"{data['pattern']}: {tc.seq_len:,} queries x {tc.kv_len:,} keys, "
                                     f"{tc.block_q}x{tc.block_kv} tiles")
    table.add_row("element density", f"{data['element_density']:.6f}")
    table.add_row("block density", f"{tc.block_density:.6f}  (sparsity {1 - tc.block_density:.4f})")
    for state in ("full", "partial", "empty"):
        n = getattr(tc, state)
        table.add_row(f"{state} tiles", f"{n:,} ({n / tc.total:.2%})")
    table.add_row("tiles", f"{tc.total:,} ({tc.n_q_blocks:,} x {tc.n_kv_blocks:,})")
    Console().print(table)
