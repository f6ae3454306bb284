"""The extents of a cascade's feature ranks from the head dims: Q[e,p] and K[e,m] have E features, V[f,m] F.

A cascade may split a feature rank (differential attention: ``QG[g,e0,p] = Q[g*E0 + e0, p]`` with
``# extents: G=2``): its parts are solved from the input's length and the header's extents, as the numpy
executor solves them from the arrays' shapes, and come out as expressions in E and F (E0 = E/2).

>>> from einsum_cascades import load_cascade
>>> feature_extents(load_cascade("attention-1pass"))
{'e': E, 'f': F}
"""

from functools import lru_cache

from einsum_cascades.errors import UserError
from einsum_cascades.passes import families

LENGTHS = {"Q": "e", "K": "e", "V": "f"}  # the rank whose extent is each attention input's feature length
POSITIONS = ("p", "m")  # the query and key families: their extents are the mapping's, not the cascade's


def feature_extents(cascade) -> dict:
    """rank -> its extent (a sympy expression in E and F) for every rank outside the query and key families."""
    return dict(_solve(cascade.name, str(cascade)))


@lru_cache(maxsize=128)
def _solve(name: str, text: str) -> tuple:
    import sympy as sp  # loaded when a cascade is first planned, not by a dense GPU point

    from einsum_cascades import parse_cascade
    from einsum_cascades.ops import extent

    cascade = parse_cascade(text, name)
    fam = families(cascade)
    known = {r.lower(): sp.Integer(v) for r, v in cascade.default_extents.items()
             if fam.get(r.lower()) not in POSITIONS}
    dims = [(idx.vars(), extent(LENGTHS[a.tensor])) for e in cascade.einsums for a in e.reads if a.tensor in LENGTHS
            for idx in a.indices if idx.vars() and not {fam.get(v) for v in idx.vars()} & set(POSITIONS)]
    changed = True
    while changed:
        changed = False
        for ranks, length in dims:
            open_ = [v for v in ranks if v not in known]
            if len(open_) == 1:
                known[open_[0]] = sp.simplify(length / sp.Mul(*(known[v] for v in ranks if v != open_[0])))
                changed = True
    features = {v for v, f in fam.items() if f not in POSITIONS}
    missing = sorted(features - set(known))
    if missing:
        raise UserError(f"{name}: the extent of rank {missing[0]} is unknown: give it in an '# extents:' line "
                        f"(e.g. # extents: {missing[0].upper()}=2)")
    return tuple((v, known[v]) for v in sorted(features))


def value_features(cascade) -> frozenset:
    """The ranks of the families V's features index walks: f, or the name the cascade gives it (``V[d,m]``)."""
    fam = families(cascade)
    walked = {fam[v] for e in cascade.einsums for a in e.reads if a.tensor == "V" for v in a.indices[0].vars()}
    return frozenset(v for v, f in fam.items() if f in walked)


def substitutions(cascade) -> dict:
    """Extent symbol -> expression in E and F, for substituting into op counts (E0 -> E/2)."""
    from einsum_cascades.ops import extent

    return {extent(v): x for v, x in feature_extents(cascade).items() if extent(v) != x}
