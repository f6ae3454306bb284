"""``attnsim pattern``: densities and tile counts of a sparsity pattern, and a picture of its tiles."""

import json

import click

from cli._params import SIZE
from einsum_cascades.errors import UserError

MAX_CELLS = 512  # the picture has at most 512 x 512 cells; a cell over many tiles shows the densest one


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def pattern():
    """Sparsity patterns: composable mask predicates lowered to tiles.

    \b
    Primitives: causal, window(w), window(l,r), chunked(w), sinks(n),
    global(n), strided(s), vertical_slash(v,s[,place=log|even]), random_blocks(density[,seed]),
    topk(k[,seed]), budget(n[,seed]), full (or dense);
    window2d(H,W,kh,kw[,stride=(sh,sw)]) and
    window3d(T,H,W,kt,kh,kw[,stride=(st,sh,sw)]) alone (a grid of seq-len tokens;
    NATTEN's tile shapes with q_tile=(...),kv_tile=(...) after the sizes);
    join them with & (binds tighter) and |, group with ( );
    per-head groups heads(n1: P1, n2: P2, ...) (& and | distribute over them).
    """


@pattern.command("show")
@click.argument("expr")
@click.option("--seq-len", type=SIZE, required=True, help="Query length (4k, 1m, ...).")
@click.option("--kv-len", type=SIZE, default=None, help="Key length (default: --seq-len).")
@click.option("--block-size", type=SIZE, default="128", show_default=True,
              help="Tile size (square); random_blocks flips one coin per tile.")
@click.option("--json", "as_json", is_flag=True, help="Counts and densities as JSON.")
@click.option("--heads", type=SIZE, default=None,
              help="Query heads a heads(...) mix spans (default: the sum of its counts).")
@click.option("--png", type=click.Path(dir_okay=False), default=None, help="Draw the tile mask (full / partial / empty).")
def show(expr, seq_len, kv_len, block_size, heads, as_json, png):
    """Element and block density, and full / partial / empty tiles of EXPR.

    \b
    Examples:
      attnsim pattern show 'causal&window(4k)|sinks(128)' --seq-len 64k
      attnsim pattern show 'random_blocks(0.1)' --seq-len 1m --block-size 64 --json
      attnsim pattern show 'causal&vertical_slash(1000,6096)' --seq-len 1m --block-size 64
      attnsim pattern show 'causal&topk(16)|sinks(128)' --seq-len 128k
      attnsim pattern show 'window2d(128,128,13,13)' --seq-len 16k
      attnsim pattern show 'causal&heads(16: full, 16: sinks(128)|window(384))' --seq-len 32k

    \b
    A heads(...) mix prints each group's counts (per head) and, over all heads, the head-weighted
    densities and the tiles summed over every head.
    """
    from einsum_cascades.sparsity import declared_heads, is_mix, parse_pattern

    if png is not None:
        from cli.plots.style import check_output

        check_output(png)
    if expr == "none":  # what simulate --pattern none means: no mask (simulator.workload)
        expr = "full"
    p = parse_pattern(expr)
    kv_len = kv_len or seq_len
    if not is_mix(p):
        if heads is not None:  # refused, not ignored: every head has the same counts
            raise UserError(f"--heads {heads} applies to a heads(...) mix; {expr!r} is one pattern for every head, "
                            "whose counts do not depend on the head count: leave --heads out")
        data, tc = _counts(p, seq_len, kv_len, block_size)
    else:
        if png is not None:
            raise UserError("--png draws one mask; a heads(...) mix has one per group: draw a group's pattern")
        data, tc = _mix_counts(p, seq_len, kv_len, block_size, heads or declared_heads(p))
    if png is not None:
        from cli.pattern_plot import draw

        draw(p, tc, png, MAX_CELLS)
        click.echo(f"wrote {png}", err=True)
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        _print_table(data, tc)


def _counts(p, seq_len, kv_len, block_size):
    from einsum_cascades.sparsity import element_density, tile_counts

    tc = tile_counts(p, seq_len, kv_len, block_size, block_size)
    return {"pattern": str(p), "seq_len": seq_len, "kv_len": kv_len, "block_size": block_size,
            "element_density": element_density(p, seq_len, kv_len, (block_size, block_size)),
            "block_density": tc.block_density, "full_blocks": tc.full, "partial_blocks": tc.partial,
            "empty_blocks": tc.empty, "q_blocks": tc.n_q_blocks, "kv_blocks": tc.n_kv_blocks}, tc


def _mix_counts(p, seq_len, kv_len, block_size, heads):
    """Each head group's counts, the densities weighted by heads, and the tiles summed over every head."""
    from einsum_cascades.sparsity import head_groups

    data_keys = ("seq_len", "kv_len", "block_size", "q_blocks", "kv_blocks")  # shared by every group
    groups = []
    for n, q in head_groups(p, heads):
        counts = _counts(q, seq_len, kv_len, block_size)[0]
        groups.append(dict(heads=n, **{k: v for k, v in counts.items() if k not in data_keys}))
    data = {"pattern": str(p), "seq_len": seq_len, "kv_len": kv_len, "block_size": block_size, "heads": heads}
    for key in ("element_density", "block_density"):
        data[key] = sum(g["heads"] * g[key] for g in groups) / heads
    for key in ("full_blocks", "partial_blocks", "empty_blocks"):
        data[key] = sum(g["heads"] * g[key] for g in groups)
    data.update(q_blocks=counts["q_blocks"], kv_blocks=counts["kv_blocks"], groups=groups)
    return data, None


def _print_table(data: dict, tc) -> None:
    from rich.console import Console
    from rich.table import Table

    block = data["block_size"]
    over = f", {data['heads']} heads" if "groups" in data else ""
    table = Table("", "value", title=f"{data['pattern']}: {data['seq_len']:,} quer{'y' if data['seq_len'] == 1 else 'ies'} x "
                  f"{data['kv_len']:,} key{'' if data['kv_len'] == 1 else 's'}, "
                                     f"{block}x{block} tiles{over}")
    _density_rows(table, data)
    grid = data["q_blocks"] * data["kv_blocks"] * (data["heads"] if over else 1)
    for state in ("full", "partial", "empty"):
        n = data[f"{state}_blocks"]
        table.add_row(f"{state} tiles" + (" (all heads)" if over else ""), f"{n:,} ({n / grid:.2%})")
    if (run := data["full_blocks"] + data["partial_blocks"]) > grid:  # vertical_slash only (_lowering._counts)
        table.add_row("tiles run", f"{run:,}: {run / grid - 1:.2%} more than the grid's {grid:,} (MInference's "
                      "kernel starts its blocks where slash ranges start, unaligned, and adds gathered column strips)")
    table.add_row("tiles per head", f"{data['q_blocks'] * data['kv_blocks']:,} ({data['q_blocks']:,} x "
                                    f"{data['kv_blocks']:,})")
    for i, g in enumerate(data.get("groups", ())):
        table.add_row(f"group {i + 1}: {g['heads']} heads", g["pattern"])
        table.add_row("  block density", f"{g['block_density']:.6f}  (full {g['full_blocks']:,}, partial "
                                         f"{g['partial_blocks']:,} per head)")
    Console().print(table)


def _density_rows(table, data: dict) -> None:
    weighted = " (head-weighted)" if "groups" in data else ""
    table.add_row("element density" + weighted, f"{data['element_density']:.6f}")
    density = data["block_density"]
    table.add_row("block density" + weighted, f"{density:.6f}  " + (f"(sparsity {1 - density:.4f})" if density <= 1
                                                                    else "(more tiles than a dense call)"))
