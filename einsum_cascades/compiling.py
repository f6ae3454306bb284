"""Saying that numba is about to compile, which it does on a fresh install only (then it loads its cache).

Modelling code never prints: the command line registers a listener here, and the code about to call a
numba kernel calls ``notify_if_cold``, which tells the listeners when that kernel has no cache index on
disk yet, so that a first run's wait of many seconds comes with a word.
"""

import os

_listeners: list = []
_told: set = set()


def listen(callback) -> None:
    """Call ``callback(what)`` when numba is about to compile the kernels for ``what``."""
    _listeners.append(callback)


def notify_if_cold(kernel, what: str) -> None:
    """Tell the listeners, once per process and ``what``, if jitted ``kernel`` is not in numba's on-disk
    cache yet."""
    if _listeners and what not in _told and not _cached(kernel):
        _told.add(what)
        for callback in _listeners:
            callback(what)


def _cached(dispatcher) -> bool:
    """Does numba's cache hold an index for this jitted function? (True when that cannot be told.)"""
    try:
        return os.path.exists(dispatcher._cache._cache_file._index_path)
    except AttributeError:
        return True
