"""numba, for the project's kernels, imported without numba's optional BLAS probe.

The first kernel a process calls (compiled or loaded from numba's cache) makes numba import
``numba.np.arraymath``, whose ``_check_blas`` imports ``scipy.linalg`` only to learn whether
``np.dot`` may call BLAS; with SciPy installed that import costs a few tenths of a second in every
process. No kernel here calls BLAS (only ``np.dot``/``np.vdot`` on floats would, and they fall back to
numba's own loop), so the probe is answered "no" while ``numba.np.arraymath`` is imported, and SciPy
stays importable afterwards (numba's linear algebra, if some other code uses it, still checks for it).
"""

import sys

import numba  # re-exported: the kernel modules import numba from here

__all__ = ["numba"]
_PROBE = "scipy.linalg.cython_blas"


def _import_arraymath() -> None:
    if "numba.np.arraymath" in sys.modules or _PROBE in sys.modules:
        return
    sys.modules[_PROBE] = None  # an import of it raises ImportError at once
    try:
        import numba.np.arraymath  # noqa: F401
    finally:
        if sys.modules.get(_PROBE, 0) is None:
            del sys.modules[_PROBE]


_import_arraymath()
