"""The bundled cascades (``library/*.cascade``) and loading by name or path."""

import os
import stat
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from importlib import resources
from pathlib import Path

from einsum_cascades.errors import UserError, read_user_text

SUFFIX = ".cascade"


def _library_dir():
    return resources.files("einsum_cascades").joinpath("library")


def cascade_names() -> list[str]:
    """Names of the bundled cascades, sorted."""
    return list(_names())


@lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    return tuple(sorted(p.name[: -len(SUFFIX)] for p in _library_dir().iterdir() if p.name.endswith(SUFFIX)))


def load_cascade(name_or_path: str):
    """A bundled cascade by name, or a user's cascade file by path; ``UserError`` for anything else, a cascade whose
    inputs are not Q, K and V as attnsim feeds them included. A file is parsed once while it is unchanged (same
    modification time and size): a plan is made once per cascade."""
    if not isinstance(name_or_path, (str, os.PathLike)) or not str(name_or_path).strip():
        raise UserError(f"bad cascade {name_or_path!r}: a bundled cascade's name or a path to a {SUFFIX} file")
    name_or_path = os.fspath(name_or_path)
    if name_or_path in _names():
        return _bundled(name_or_path)
    version = file_version(name_or_path)
    if version is None and name_or_path.lower() in _names():  # names are case-blind, as hardware names are
        return _bundled(name_or_path.lower())
    if version is None and (name_or_path.endswith(SUFFIX) or os.sep in name_or_path or "/" in name_or_path) \
            and not os.path.exists(name_or_path):  # a path: no name a typo of a bundled one
        raise UserError(f"cascade file {name_or_path!r}: no such file")
    if version is None:
        if os.path.isdir(name_or_path):
            raise UserError(f"cascade {name_or_path!r} is a directory: name a {SUFFIX} file in it, or a bundled "
                            f"cascade ({', '.join(cascade_names())})")
        import difflib

        close = difflib.get_close_matches(name_or_path.lower(), _names(), n=1, cutoff=0.75)
        raise UserError(f"unknown cascade {name_or_path!r}" + (f" (did you mean {close[0]}?)" if close else "")
                        + f": allowed {', '.join(cascade_names())}, or a path to a {SUFFIX} file")
    return _file(name_or_path, *version)


def cascade_version(name_or_path: str) -> tuple[int, int] | None:
    """What a plan made from this cascade is valid for: None for a bundled cascade, a file's version (its
    modification time and size) for a cascade file; caches of plans key on (name, version)."""
    return None if name_or_path in _names() else file_version(name_or_path)


def file_version(path: str) -> tuple[int, int] | None:
    """(modification time, size) of a regular file; None if ``path`` is not one. Inside ``pinned_versions``
    each path is looked at once."""
    pinned = _pinned.get()
    if pinned is not None and path in pinned:
        return pinned[path]
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError):
        version = None
    else:
        version = (st.st_mtime_ns, st.st_size) if stat.S_ISREG(st.st_mode) else None
    if pinned is not None:
        pinned[path] = version
    return version


_pinned: ContextVar[dict | None] = ContextVar("pinned_cascade_versions", default=None)


@contextmanager
def pinned_versions():
    """One evaluation sees one version of each cascade file: its resolution, walk, binding and plans all ask
    ``file_version``, which stats the file only the first time (a file edited meanwhile is seen next call)."""
    if _pinned.get() is not None:  # nested: the outer call's versions hold
        yield
        return
    token = _pinned.set({})
    try:
        yield
    finally:
        _pinned.reset(token)


@lru_cache(maxsize=64)
def _file(name_or_path: str, mtime_ns: int, size: int):
    path = Path(name_or_path)
    text = read_user_text(path, "cascade file")  # size-capped, UTF-8 (a byte-order mark dropped), one-line errors
    from einsum_cascades.cascade import parse_cascade

    return _attention(parse_cascade(text, path.stem, source=name_or_path))


@lru_cache(maxsize=None)
def _bundled(name: str):
    from einsum_cascades.cascade import parse_cascade

    return _attention(parse_cascade(_library_dir().joinpath(f"{name}{SUFFIX}").read_text(encoding="utf-8"), name))


def _attention(cascade):
    """The cascade, once its inputs are Q, K and V read as attnsim feeds them (``attention_input_error``): what
    ``cascade show``, ``check`` and ``simulate`` refuse, ``load_cascade`` refuses too."""
    from einsum_cascades.reference import attention_input_error

    if why := attention_input_error(cascade):
        raise UserError(why)
    return cascade


def list_cascades() -> list[tuple[str, str]]:
    """(name, one-line summary from the file's first comment) for every bundled cascade."""
    return [(n, _bundled(n).summary) for n in cascade_names()]
