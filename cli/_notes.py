"""Notes a command prints on stderr once it has succeeded: a command that fails prints its one error line alone."""

import click

_PENDING: list[str] = []


def later(text: str) -> None:
    """Print ``attnsim: note: TEXT`` when the command succeeds (each text once)."""
    _PENDING.append(text)


def flush() -> None:
    for text in dict.fromkeys(_PENDING):
        click.echo(f"attnsim: note: {text}", err=True)
    _PENDING.clear()


def drop() -> None:
    _PENDING.clear()
