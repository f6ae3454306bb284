"""Writing the user's files: checked by trying, written atomically, with the user's umask.

Every writer (sweeps, plots, calibrate) writes a temporary file beside the target and renames
it into place only when it is complete, so an error or Ctrl-C never leaves a half-written
target. ``tempfile`` creates files 0600; the finished file gets the mode a plain ``open``
would give it (0666 less the umask).
"""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from einsum_cascades.errors import UserError


def check_target(path: str, suffixes: tuple[str, ...]) -> Path:
    """The target path, if its extension is one of ``suffixes`` and a file can be created beside it.

    Writability is checked by creating (and removing) a file there: ``os.access`` says yes to root
    on read-only and virtual file systems such as /proc.
    """
    target = Path(path)
    if path.endswith(("/", os.sep)):  # Path() drops the slash: the user named a directory, not a file
        raise UserError(f"bad output {path!r}: ends in '/', a directory; give a file name ending in "
                        f"{', '.join(suffixes)}")
    if target.suffix.lower() not in suffixes:
        raise UserError(f"bad output {path!r}: the file name must end in {', '.join(suffixes)}")
    if target.is_dir():
        raise UserError(f"cannot write {path!r}: it is a directory")
    fd, probe = temp_beside(target)
    os.close(fd)
    os.unlink(probe)
    return target


def user_mode(path: str) -> None:
    """Give a file made by ``tempfile`` (0600) the mode ``open`` would have given it: 0666 less the umask."""
    os.chmod(path, 0o666 & ~_umask())


def finish(tmp: str, target: Path) -> None:
    """Give ``tmp`` the user's mode and move it onto ``target``."""
    try:
        user_mode(tmp)
        os.replace(tmp, target)
    except OSError as err:
        _discard(tmp)
        raise UserError(f"cannot write {str(target)!r}: {err.strerror or err}") from None


@contextmanager
def atomic_path(path: str, suffixes: tuple[str, ...]):
    """Yield a temporary path (same extension) to write; on success it replaces ``path``, else it is removed."""
    target = check_target(path, suffixes)
    fd, tmp = temp_beside(target)
    os.close(fd)
    try:
        yield tmp
    except BaseException:
        _discard(tmp)
        raise
    finish(tmp, target)


def write_text(path: str, text: str, suffixes: tuple[str, ...]) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path, suffixes) as tmp:
        try:
            Path(tmp).write_text(text, encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot write {path!r}: {err.strerror or err}") from None


def temp_beside(target: Path) -> tuple[int, str]:
    """A new temporary file beside ``target`` with the same extension: (file descriptor, path)."""
    parent = target.parent if str(target.parent) else Path(".")
    try:
        return tempfile.mkstemp(dir=parent, prefix=f".{target.name}.", suffix=f".partial{target.suffix}")
    except OSError as err:
        raise UserError(f"cannot write {str(target)!r}: {err.strerror or err} (in directory {str(parent)!r})") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass
