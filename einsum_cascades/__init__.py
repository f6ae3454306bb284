"""Attention algorithms as cascades of Einsums (the FuseMax formalism).

The IR (``Einsum``, ``Cascade``), its text notation, pass analysis, symbolic op
counts, a numpy executor (the oracle) and composable sparsity patterns.
"""
