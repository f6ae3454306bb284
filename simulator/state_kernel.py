"""A cascade with no score element on a GPU (kernelised linear attention: ``attention-linear``).

Its Einsums are per key (phi(K) and its outer products with V, accumulated into a d x dv state) and per
query (phi(Q) against that state): O(N d^2) work instead of O(N^2 d). The kernel streams Q, K and V once
and writes O; its work runs on the family's tensor-core path, the MUFU and the FP32 pipes of every SM,
and the call takes the longest of those and the HBM stream (the state stays on chip).
"""

from dataclasses import dataclass

from simulator.cost import Cost
from simulator.plans import plan


@dataclass(frozen=True, slots=True)
class StateWork:
    """Work of the whole call by unit: tensor FLOPs, MUFU ops, FP32 ops."""

    tensor: float
    sfu: float
    fp32: float


def has_scores(cascade: str) -> bool:
    """Whether the cascade computes a value per (query, key) pair (else it keeps a state per query head)."""
    return plan(cascade).has_scores


def state_work(cascade: str, wl) -> StateWork:
    """Per-key work over every KV head's keys plus per-query work over every query head's rows."""
    keys = wl.batch * wl.kv_heads * wl.kv_len * 1.0
    rows = wl.batch * wl.heads * wl.seq_len * 1.0
    total = {"tensor": 0.0, "sfu": 0.0, "fp32": 0.0}
    for p in plan(cascade).passes:
        for unit in total:
            per = [p.count(cls, unit, wl.head_dim, wl.v_head_dim) for cls in ("key", "row")]
            cvt = [p.count(cls, "cvt", wl.head_dim, wl.v_head_dim) if unit == "fp32" else 0.0 for cls in ("key", "row")]
            total[unit] += keys * (per[0] + cvt[0]) + rows * (per[1] + cvt[1])
    return StateWork(**total)


def state_cost(cascade: str, wl) -> Cost:
    """The call's work and its compulsory HBM bytes: Q and O per query head, K and V per KV head, once."""
    work = state_work(cascade, wl)
    moved = (wl.batch * wl.heads * wl.seq_len * (wl.head_dim + wl.v_head_dim)
             + wl.batch * wl.kv_heads * wl.kv_len * (wl.head_dim + wl.v_head_dim)) * wl.dtype_bytes * 1.0
    return Cost(hbm_bytes=moved, l2_bytes=moved, tensor_flops=work.tensor, fma_ops=work.fp32, exp_ops=work.sfu,
                launches=1)
