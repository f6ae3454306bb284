"""The bundled cascades (``library/*.cascade``) and loading by name or path."""

from functools import lru_cache
from importlib import resources
from pathlib import Path

from einsum_cascades.errors import UserError

SUFFIX = ".cascade"


def _library_dir():
    return resources.files("einsum_cascades").joinpath("library")


def cascade_names() -> list[str]:
    """Names of the bundled cascades, sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in _library_dir().iterdir() if p.name.endswith(SUFFIX))


def load_cascade(name_or_path: str):
    """A bundled cascade by name, or a user's cascade file by path; ``UserError`` for anything else."""
    if name_or_path in cascade_names():
        return _bundled(name_or_path)
    path = Path(name_or_path)
    if not path.is_file():
        raise UserError(f"unknown cascade {name_or_path!r}: allowed {', '.join(cascade_names())}, "
                        f"or a path to a {SUFFIX} file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read cascade file {name_or_path!r}: {err}") from None
    from einsum_cascades.cascade import parse_cascade

    return parse_cascade(text, path.stem, source=name_or_path)


@lru_cache(maxsize=None)
def _bundled(name: str):
    from einsum_cascades.cascade import parse_cascade

    return parse_cascade(_library_dir().joinpath(f"{name}{SUFFIX}").read_text(encoding="utf-8"), name)


def list_cascades() -> list[tuple[str, str]]:
    """(name, one-line summary from the file's first comment) for every bundled cascade."""
    return [(n, _bundled(n).summary) for n in cascade_names()]
