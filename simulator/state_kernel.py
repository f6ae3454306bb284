"""A cascade with no score element on a GPU: linear attention (``attention-linear``) and its chunked form
with decay (``attention-lightning``).

Its Einsums are per key (phi(K) and its outer products with V, accumulated into a d x dv state), per query
(phi(Q) against that state) and, for a chunked cascade, per query and key of the same chunk (the decayed
intra-chunk attention): O(N d^2 + N B d) work instead of O(N^2 d). The kernel streams Q, K and V once and
writes O; its work runs on the family's tensor-core path, the MUFU and the FP32 pipes of every SM, and the
call takes the longest of those and the HBM stream (the state stays on chip). Each Einsum's work is its
lowered work per point (``cascade_work``) times the points of its iteration space, per query head when it
walks a query rank, else per KV head.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades.library import cascade_version
from simulator.cost import Cost
from simulator.plans import evaluate, monomials

# A chunked cascade's chunk on a GPU: Lightning Attention-2's block of 64 positions (OpenNLPLab/
# lightning-attention, lightning_attn/ops/triton/lightning_attn2.py, LightningAttention2.forward: BLOCK = 64).
CHUNK = 64
UNITS = ("tensor", "sfu", "fp32")


@dataclass(frozen=True, slots=True)
class StateWork:
    """Work of the whole call by unit: tensor FLOPs, MUFU ops, FP32 ops."""

    tensor: float
    sfu: float
    fp32: float


def state_work(cascade: str, wl) -> StateWork:
    """Each Einsum's work per point times its points, over the query heads' or the KV heads' positions."""
    total = dict.fromkeys(UNITS, 0.0)
    for heads_of, ranks, work in _einsum_plan(cascade, cascade_version(cascade)):
        heads = wl.batch * (wl.heads if heads_of == "query" else wl.kv_heads)
        points = heads * math.prod(_extent(r, wl) for r in ranks)
        for unit, terms in work.items():
            total[unit] += points * evaluate(terms, wl.head_dim, wl.v_head_dim)
    return StateWork(**total)


@lru_cache(maxsize=64)
def _einsum_plan(cascade: str, _version) -> tuple:
    """Per Einsum: whose heads it runs for (query or kv), its position ranks ((rank, role) pairs), and its work
    per point by unit as monomials in E and F (simulator.plans); walked once per cascade (file version)."""
    from einsum_cascades import load_cascade
    from einsum_cascades.passes import families
    from simulator.cascade_work import cascade_work

    c = load_cascade(cascade)
    fam, work = families(c), cascade_work(c)
    out = []
    for name, by_class in work.einsums.items():
        own = work.placement[name][0]
        ranks = tuple((v, fam[v]) for v in c.einsum(name).vars if fam[v] in ("p", "m"))
        heads_of = "query" if any(role == "p" for _, role in ranks) else "kv"
        for rows_only in (False, True):  # the Einsum's own points; a reciprocal hoisted to one per query row
            per_unit = {}
            for (cls, unit), expr in by_class.items():
                if (cls != own) == rows_only:
                    key = {"cvt": "fp32", "mufu": "sfu"}.get(unit, unit)
                    per_unit[key] = per_unit.get(key, 0) + expr
            if per_unit:
                where = tuple(r for r in ranks if r[1] == "p") if rows_only else ranks
                out.append(("query" if rows_only else heads_of, where, monomials(per_unit)))
    return tuple(out)


def _extent(rank_role: tuple, wl) -> int:
    """A position rank's extent: P or M whole, or a chunk of CHUNK positions and the number of chunks."""
    rank, role = rank_role
    n = wl.seq_len if role == "p" else wl.kv_len
    if rank == role:
        return n
    return CHUNK if rank.endswith("0") else math.ceil(n / CHUNK)


def state_cost(cascade: str, wl) -> Cost:
    """The call's work and its compulsory HBM bytes: Q and O per query head, K and V per KV head, once."""
    work = state_work(cascade, wl)
    moved = (wl.batch * wl.heads * wl.seq_len * (wl.head_dim + wl.v_head_dim)
             + wl.batch * wl.kv_heads * wl.kv_len * (wl.head_dim + wl.v_head_dim)) * wl.dtype_bytes * 1.0
    return Cost(hbm_bytes=moved, l2_bytes=moved, tensor_flops=work.tensor, fma_ops=work.fp32, exp_ops=work.sfu,
                launches=1)

