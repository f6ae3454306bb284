"""Notes a command prints on stderr once it has succeeded: a command that fails prints its one error line alone."""

import click

_PENDING: list[str] = []


def later(text: str) -> None:
    """Print ``attnsim: note: TEXT`` when the command succeeds (each text once)."""
    _PENDING.append(text)


def flush() -> None:
    """The notes, each one line for a script or log (grep-able), folded to the terminal where stderr is one."""
    import sys

    fold = sys.stderr.isatty()
    if fold:
        from cli._wrap import fit_lines, terminal_width
    for text in dict.fromkeys(_PENDING):
        line = f"attnsim: note: {text}"
        click.echo(fit_lines(line, terminal_width()) if fold else line, err=True)
    _PENDING.clear()


def drop() -> None:
    _PENDING.clear()
