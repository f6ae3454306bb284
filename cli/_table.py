"""The ``simulate`` table: whole values at any terminal width.

Values are never cut. When the table is wider than the terminal, columns whose value is the same
in every row move to a line above it, then the least useful columns are left out (and named); a
table that still does not fit is printed as one block of ``key: value`` lines per point.
"""

from dataclasses import dataclass

from cli._output import human_bytes, human_time, lengths, shape
from simulator.gpu_kernels import pattern_shape

GAP = 2  # spaces between columns
EDGES = 2  # rich's table pads the first and last column by one space


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    left: bool  # left-aligned (names) or right-aligned (numbers)
    drop: int  # 0: never left out; higher numbers are left out first


COLUMNS = (Column("hw", True, 0), Column("algo", True, 0), Column("shape", False, 4), Column("N", False, 0),
           Column("mask", True, 0), Column("tile", False, 5), Column("blocks", False, 6), Column("time", False, 0),
           Column("TFLOP/s", False, 7), Column("bound", True, 0), Column("estimate", True, 2),
           Column("baseline", True, 3), Column("speedup", False, 0))


def markup_cells(r: dict) -> list[str]:
    """``cells`` escaped for rich, which would read a '[bold]' in a value (a .cascade path) as markup."""
    from rich.markup import escape

    return [escape(c) for c in cells(r)]


def cells(r: dict) -> list[str]:
    """One row's cells, as plain text, in COLUMNS order."""
    fits = r.get("fits") is not False
    return [r["hardware"], r["algorithm"], shape(r), lengths(r), mask(r),
            r.get("tile") or "-", f"{r['block_density']:.3f}", human_time(r["time_s"]) if fits else "-",
            f"{r['tflops']:.1f}" if fits else "-",
            r["bound"] if fits else f"memory: needs {human_bytes(r['memory_bytes'])}",
            f"{r['estimate']} {human_time(r['estimate_s'])}" if r.get("estimate") else "-", r["baseline"] or "-", f"{r['speedup']:.2f}x" if r.get("speedup") is not None else "-"]


def mask(r: dict) -> str:
    """The mask as the model lowered it: the solved expression (causal already in it) or the pattern given."""
    if r.get("lowered_pattern"):
        parts = [r["lowered_pattern"]]
    else:
        causal = r["causal"] and not (r["pattern"] and pattern_shape(r["pattern"]).causal)  # causal&X says it once
        parts = (["causal"] if causal else []) + ([r["pattern"]] if r["pattern"] else [])
    if r["sparsity"]:
        parts.append(f"s={r['sparsity']:g}")
    return " ".join(parts) or "dense"


def layout(rows: list[dict], width: int) -> tuple[list[int], list[int], str]:
    """(columns shown, columns left out, the line of values shared by every row) for ``width``."""
    table = [cells(r) for r in rows]
    shown = present(rows)
    shared = ""
    if _width(table, shown) > width and len(rows) > 1:
        same = [i for i in shown if len({row[i] for row in table}) == 1]
        shared = "  ".join(f"{COLUMNS[i].title}={table[0][i]}" for i in same)
        shown = [i for i in shown if i not in same]
    dropped = []
    for i in sorted(shown, key=lambda i: -COLUMNS[i].drop):
        if _width(table, shown) <= width or not COLUMNS[i].drop:
            break
        shown.remove(i)
        dropped.append(i)
    return shown, sorted(dropped), shared


def present(rows: list[dict]) -> list[int]:
    """The columns these rows have values in: every column but ``estimate`` when no row estimates an index."""
    return [i for i, c in enumerate(COLUMNS) if c.title != "estimate" or any(r.get("estimate") for r in rows)]


def _width(table: list[list[str]], shown: list[int]) -> int:
    widths = [max(len(COLUMNS[i].title), *(len(row[i]) for row in table)) for i in shown]
    return sum(widths) + GAP * (len(widths) - 1) + EDGES


def print_table(rows: list[dict]) -> None:
    """The rows as a table that fits the terminal, or as blocks of lines where no table fits."""
    from rich.console import Console

    console = Console()
    shown, dropped, shared = layout(rows, console.width)
    table = [cells(r) for r in rows]
    if _width(table, shown) > console.width or len(shown) < 4:
        _print_blocks(console, [markup_cells(r) for r in rows], present(rows))
        return
    if shared:
        console.print(shared, highlight=False, markup=False)
    table = [markup_cells(r) for r in rows]
    _print_grid(console, table, shown)
    if dropped:
        console.print(f"(left out at {console.width} columns: {', '.join(COLUMNS[i].title for i in dropped)}; "
                      "--format json has every field)", style="dim", highlight=False)


def _print_grid(console, table, shown) -> None:
    from rich import box
    from rich.table import Table

    grid = Table(header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, padding=(0, 1))
    for i in shown:
        grid.add_column(COLUMNS[i].title, justify="left" if COLUMNS[i].left else "right", no_wrap=True)
    bound, speedup = COLUMNS.index(_col("bound")), COLUMNS.index(_col("speedup"))
    for row in table:
        styled = [f"[bold yellow]{row[i]}[/]" if i == bound else f"[bold]{row[i]}[/]" if i == speedup else row[i]
                  for i in shown]
        grid.add_row(*styled)
    console.print(grid, highlight=False)


def _print_blocks(console, table, shown) -> None:
    """One ``key: value`` line per column and a blank line between points: any width fits."""
    pad = max(len(COLUMNS[i].title) for i in shown)
    for n, row in enumerate(table):
        if n:
            console.print()
        for i in shown:
            console.print(f"{COLUMNS[i].title:>{pad}}: {row[i]}", highlight=False)


def _col(title: str) -> Column:
    return next(c for c in COLUMNS if c.title == title)
