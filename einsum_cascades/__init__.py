"""Attention algorithms as cascades of Einsums (the FuseMax formalism).

The IR (``Einsum``, ``Cascade``), its text notation, pass analysis, symbolic op
counts, a numpy executor (the oracle) and composable sparsity patterns.

The names below load on first use (PEP 562): ``einsum_cascades.errors``, which every
command imports, and the sparsity patterns do not need the cascade IR.
"""

import importlib

_EXPORTS = {"Cascade": "cascade", "Einsum": "cascade", "parse_cascade": "cascade", "cascade_names": "library",
            "list_cascades": "library", "load_cascade": "library", "CascadeParseError": "parser"}

__all__ = ["Cascade", "CascadeParseError", "Einsum", "cascade_names", "list_cascades", "load_cascade", "parse_cascade"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'einsum_cascades' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"einsum_cascades.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
