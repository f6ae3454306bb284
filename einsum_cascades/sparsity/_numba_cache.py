"""Keep numba's on-disk cache of the lowering kernels honest across source edits.

numba re-uses a cached compiled function while its own source file is unchanged; it does not
notice an edit to another module whose jitted functions were compiled into it (``_kernels``
calls ``_runs``, ``_row_count`` and ``_tile_state``). After a ``git pull`` into an editable install that
would run the old code without a word. So the first lowering of a process hashes the package's
sources and, if they changed since the cache was written, drops the package's numba cache.
"""

import hashlib
from pathlib import Path

STAMP = "numba-sources.sha1"


def _digest(package: Path) -> str:
    return hashlib.sha1(b"".join(p.read_bytes() for p in sorted(package.glob("*.py")))).hexdigest()


def kernels_compiled(package: Path = Path(__file__).parent) -> bool:
    """Has numba compiled the lowering kernels into the package's in-tree cache for these sources? (False when
    it cannot be told: a first lowering then prefers numpy's paths for longer, see ``_lowering``.)"""
    cache = package / "__pycache__"
    try:
        fresh = (cache / STAMP).read_text() == _digest(package)
    except OSError:
        return False
    return fresh and any(cache.glob("_kernels.lower-*.nbi"))


def drop_stale_cache(package: Path = Path(__file__).parent) -> bool:
    """Delete the package's in-tree numba cache if any of its sources changed; True if it did.

    Only numba's in-tree cache (``__pycache__`` beside the sources) is handled: a read-only
    install uses a user-wide cache, but its sources cannot change without a reinstall, which
    gives every file a new time stamp and so invalidates that cache anyway.
    """
    digest = _digest(package)
    cache = package / "__pycache__"
    try:
        if (cache / STAMP).read_text() == digest:
            return False
    except OSError:
        pass
    try:
        for stale in (*cache.glob("*.nbi"), *cache.glob("*.nbc")):
            stale.unlink()
        cache.mkdir(exist_ok=True)
        (cache / STAMP).write_text(digest)
    except OSError:
        return False
    return True
