"""The bundled cascades (``library/*.cascade``) and loading by name or path."""

from importlib import resources
from pathlib import Path

from einsum_cascades.errors import UserError


def _library_dir():
    return resources.files("einsum_cascades").joinpath("library")


def cascade_names() -> list[str]:
    return sorted(p.name[: -len(".cascade")] for p in _library_dir().iterdir() if p.name.endswith(".cascade"))


def load_cascade(name_or_path: str):
    """A bundled cascade by name, or a user's file by path."""
    from einsum_cascades.cascade import parse_cascade

    if name_or_path in cascade_names():
        return _bundled(name_or_path)
    path = Path(name_or_path)
    if path.is_file():
        return parse_cascade(path.read_text(), path.name)
    raise UserError(f"unknown cascade {name_or_path!r}: allowed {', '.join(cascade_names())} or a path to a file")


_CACHE: dict = {}


def _bundled(name: str):
    from einsum_cascades.cascade import parse_cascade

    if name not in _CACHE:
        _CACHE[name] = parse_cascade(_library_dir().joinpath(f"{name}.cascade").read_text(), name)
    return _CACHE[name]


def list_cascades() -> list[tuple[str, str]]:
    """(name, one-line summary from the file's first comment) for every bundled cascade."""
    return [(n, _bundled(n).summary) for n in cascade_names()]
