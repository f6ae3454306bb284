"""Attention algorithms as cascades of Einsums (the FuseMax formalism).

The IR (``Einsum``, ``Cascade``), its text notation, pass analysis, symbolic op
counts, a numpy executor (the oracle) and composable sparsity patterns.
"""

from einsum_cascades.cascade import Cascade, Einsum, parse_cascade
from einsum_cascades.library import cascade_names, list_cascades, load_cascade
from einsum_cascades.parser import CascadeParseError

__all__ = ["Cascade", "CascadeParseError", "Einsum", "cascade_names", "list_cascades", "load_cascade", "parse_cascade"]
