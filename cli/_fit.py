"""Rich tables whose every value is whole at any terminal width (the listing commands' tables).

Name and number columns never wrap; free-text columns wrap at spaces, and fold a word longer than
``WORD_CAP`` (a path, a URL) onto several lines: nothing is ever cut or ellipsised. A column of names
(kernel names in ``validate report``) keeps each name whole where the table fits, and else breaks it at
its hyphens before any column is left out. When that does not fit the terminal, the columns named in
``shared`` whose value is the same in every row move to a line above the table, then the columns named
in ``drop`` are left out in turn (and named below the table); a table that still does not fit prints
each row as a block of ``title: value`` lines.
"""

import re

from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

WORD_CAP = 24  # a free-text column folds words longer than this rather than widen for them
NAME_CAP = 40  # ... and a column of names (``names``: kernel names, one word each) those longer than this
UNBOUNDED = 10**6  # a width no table reaches: measure what it needs, not what the terminal allows
_SHARED = object()  # the step that moves ``shared`` columns above the table


def print_fitted(headers, rows, *, text=(), names=(), right=(), shared=(), drop=(), dropped_hint="", console=None,
                 **table_kw) -> None:
    """Print ``rows`` (lists of rich-markup strings, one per header) as a table fitting the console.

    ``text``: headers of free-text columns (wrapped at spaces); ``names``: those of them whose words are names
    (kept whole up to ``NAME_CAP`` characters, not ``WORD_CAP``); ``right``: right-aligned (number) columns;
    ``shared``: headers that move above the table, where every row has the same value, when it does not fit;
    ``drop``: headers that may be left out,
    first named first; ``dropped_hint``: where the left-out values are shown in full (``hw show NAME``).
    """
    console = console or Console()
    plain = [[Text.from_markup(cell).plain for cell in row] for row in rows]
    same = [i for i, h in enumerate(headers) if h in shared and len(rows) > 1 and len({r[i] for r in plain}) == 1]
    shown = list(range(len(headers)))
    dropped, above = [], []
    # names kept whole first; where they do not fit, broken at their hyphens before any column is left out
    broken = [[_break_name(cell) if h in names else cell for h, cell in zip(headers, row)] for row in rows]
    broken_plain = [[_break_name(cell) if h in names else cell for h, cell in zip(headers, row)] for row in plain]
    tries = [(step, whole) for step in (None, _SHARED, *drop) for whole in ((True, False) if names else (True,))]
    for step, whole in tries:
        if step is _SHARED and whole:
            above = [i for i in same if i in shown]
            shown = [i for i in shown if i not in above]
        elif step not in (None, _SHARED) and whole and headers.index(step) in shown:
            shown.remove(headers.index(step))
            dropped.append(step)
        cells, cells_plain = (rows, plain) if whole else (broken, broken_plain)
        table, needs = _table([headers[i] for i in shown], [[r[i] for i in shown] for r in cells],
                              [[r[i] for i in shown] for r in cells_plain], text, names, right, table_kw)
        slack = console.width - needs - _borders(console, table)
        if slack >= 0:
            _cap_text(table, slack)
            if above:
                console.print("  ".join(f"{escape(headers[i])}={rows[0][i]}" for i in above), highlight=False)
            console.print(table)
            if dropped:
                console.print(f"(left out at {console.width} columns: {', '.join(dropped)}"
                              + (f"; {dropped_hint}" if dropped_hint else "") + ")", style="dim", highlight=False)
            return
    _blocks(console, headers, rows, table_kw.get("title"), table_kw.get("caption"))


def _break_name(name: str, width: int = WORD_CAP // 2) -> str:
    """A name (one word) on several lines, each ending at a hyphen or underscore once it is ``width`` long."""
    lines, line = [], ""
    for part in re.split(r"(?<=[-_])", name):
        if len(line) >= width:
            lines.append(line)
            line = ""
        line += part
    return "\n".join([*lines, line])


def _table(headers, rows, plain, text, names, right, table_kw) -> tuple[Table, int]:
    """The table, and the narrowest width its columns take with every value whole (borders left out)."""
    table = Table(**table_kw)
    needs = 0
    for j, header in enumerate(headers):
        lines = [line for cell in [header, *(r[j] for r in plain)] for line in (cell.splitlines() or [""])]
        if header in text:
            cap = NAME_CAP if header in names else WORD_CAP
            need = min(cap, max(len(word) for line in lines for word in (line.split() or [""])))
            table.add_column(escape(header), overflow="fold", min_width=need)
        else:
            need = max(Text(line).cell_len for line in lines)
            table.add_column(escape(header), no_wrap=True, overflow="fold", min_width=need,
                             justify="right" if header in right else "left")
        needs += need
    for row in rows:
        table.add_row(*row)
    return table, needs


def _cap_text(table: Table, slack: int) -> None:
    """Where the text columns' whole lines do not fit beside the others, cap each at its ``min_width`` plus a
    share of the ``slack`` (a column that wants less than an even share gets what it wants): rich reduces the
    widest wrapping column first and then widens a column back to its ``min_width``, so an uncapped text
    column (one holding a word longer than its ``min_width``, or a long value beside a narrower text column)
    can keep the width the no-wrap columns were measured to need, and cut them instead."""
    wrapping = [c for c in table.columns if not c.no_wrap and c.min_width is not None]
    wants = [max(0, max((len(line) for cell in (c.header, *c.cells) for line in str(cell).splitlines()), default=0)
                 - c.min_width) for c in wrapping]
    if sum(wants) <= slack:
        return
    left = slack  # shared out smallest want first, each taking at most an even share of what is left
    for n, (want, column) in enumerate(sorted(zip(wants, wrapping), key=lambda wc: wc[0])):
        give = min(want, left // (len(wrapping) - n))
        column.max_width, left = column.min_width + give, left - give


def _borders(console, table: Table) -> int:
    """What the table's borders and padding take, measured on a probe of one-character cells."""
    n = len(table.columns)
    probe = Table(*([""] * n), box=table.box, padding=table.padding, pad_edge=table.pad_edge,
                  collapse_padding=table.collapse_padding, show_edge=table.show_edge, show_lines=table.show_lines)
    probe.add_row(*(["x"] * n))
    return Measurement.get(console, console.options.update_width(UNBOUNDED), probe).maximum - n


def _blocks(console, headers, rows, title, caption) -> None:
    """One ``title: value`` line per column and a blank line between rows: any width fits."""
    if title:
        console.print(title, style="bold")
    pad = max(len(h) for h in headers)
    for n, row in enumerate(rows):
        if n:
            console.print()
        for header, cell in zip(headers, row):
            if not Text.from_markup(cell).plain:
                continue
            indent = "\n" + " " * (pad + 2)
            console.print(f"{escape(header):>{pad}}: " + indent.join(cell.splitlines()), highlight=False)
    if caption:
        console.print(caption, style="dim", highlight=False)
