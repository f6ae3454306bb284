"""Long lines of text (``--explain``, ``cascade check``) folded to the terminal, never inside a value.

A line wider than the terminal breaks at the best place that fits and leaves at least half a line:
after ', ', '; ' or ': ' outside brackets, then before ' = ', ' + ' or ' -> ' outside brackets, then the
same inside brackets, then at a space between two words. A break never falls inside a token or a quoted
name, nor between a number and its unit, nor before a number (a word ending in a digit, flash2, is a word).
The rest of the line goes on lines indented four spaces past the line's own indent. Only line breaks and
indents change; the words stay as they were.
"""

import re
import shutil

HANG = 4  # a continuation line's indent past its line's own
MIN_FILL = 0.5  # a break leaves at least this share of a line, where a place that does fits
_AFTER = re.compile(r"[,;:] ")  # break after these: the line ends with the mark
_BEFORE = re.compile(r" (?=(?:=|\+|->) )")  # break before these: the next line starts with the operator
_SPACE = re.compile(r"(?<=\S) +(?=[^\d\s])")  # a space before a word: not after a number (its unit), below
_NUMBER = re.compile(r"[(\[~+-]*[\d.,]*\d[\d.,]*[%x]?")  # a token that is a number (flash2 is a word)
_QUOTED = re.compile(r"(?<!\w)'[^']*'(?!\w)")  # a quoted name: 'Q's' is an apostrophe, not a quote
_OPEN, _CLOSE = "([{", ")]}"


def terminal_width() -> int:
    """The terminal's columns: COLUMNS where set, else the terminal's own, else 80 (not a terminal)."""
    return shutil.get_terminal_size().columns


def echo_fitted(text: str, err: bool = False) -> None:
    """``text`` on stdout (stderr: ``err``), its lines folded to the terminal's width."""
    import click

    click.echo(fit_lines(text, terminal_width()), err=err)


def fit_lines(text: str, width: int) -> str:
    """``text`` with each line longer than ``width`` broken at its best places (module docstring)."""
    return "\n".join(part for line in text.splitlines() for part in wrap_line(line, width))


def wrap_line(line: str, width: int) -> list[str]:
    """``line`` as lines of at most ``width`` columns where it has places to break; a token longer than
    the width stays whole (on a line of its own, past the width)."""
    hang = " " * (len(line) - len(line.lstrip(" ")) + HANG)
    out, rest, start = [], line, 0
    while len(rest) > width and (cut := _best_cut(rest, width, start)) is not None:
        out.append(rest[:cut].rstrip())
        rest, start = hang + rest[cut:].lstrip(), len(hang)
    return out + [rest]


def _best_cut(line: str, width: int, start: int) -> int | None:
    """Where to break ``line`` (an index: line[:cut] stays, rstripped), past ``start`` and within ``width``:
    the best-ranked place, rightmost, among those that leave at least half a line (any, where none does);
    None where no place fits."""
    fits = [(rank, cut) for cut, rank in _cuts(line)
            if start < cut and len(line[:cut].rstrip()) <= width and line[start:cut].strip()]
    full = [(rank, cut) for rank, cut in fits if len(line[:cut].rstrip()) >= width * MIN_FILL] or fits
    if not full:
        return None
    best = min(rank for rank, _ in full)
    return max(cut for rank, cut in full if rank == best)


def _cuts(line: str):
    """Every place ``line`` may break, as (cut, rank): lower ranks are better places. None inside quotes."""
    depth = [0] * (len(line) + 1)
    for i, ch in enumerate(line):
        depth[i + 1] = max(0, depth[i] + (ch in _OPEN) - (ch in _CLOSE))
    quoted = [m.span() for m in _QUOTED.finditer(line)]
    places = [(m.end(), 0 if depth[m.start()] == 0 else 2) for m in _AFTER.finditer(line)]
    places += [(m.start(), 1 if depth[m.start()] == 0 else 3) for m in _BEFORE.finditer(line)]
    places += [(m.start(), 4) for m in _SPACE.finditer(line)
               if not _NUMBER.fullmatch(line[:m.start()].rsplit(" ", 1)[-1])]  # a number keeps its unit
    return [(cut, rank) for cut, rank in places if not any(a < cut < b for a, b in quoted)]
