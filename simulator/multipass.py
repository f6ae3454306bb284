"""A cascade of several passes over the keys on a fused GPU kernel (``attention-3pass@flash3``).

Each pass is one launch of the family's kernel over every key tile: it streams K (and V where the pass
reads V) and does that pass's work per score. The score tensors a later pass reads from an earlier one
(the 3-pass softmax's QK and exponentials) are either recomputed from K by the later pass (it re-runs
their producers: QK^T on the tensor cores, their element-wise ops) or stored: written to HBM by their pass
and read back by the later one. Both are priced; the cheaper is chosen and ``--explain`` says which.
"""

from dataclasses import replace

from simulator.cost import Cost
from simulator.plans import plan
from simulator.result import Result

OPTIONS = ("recompute", "store")


def fused_passes(hw, algo: str, wl, cfg, run_pass) -> Result:
    """The cheaper of recomputing and storing the crossing score tensors; ``run_pass(hw, algo, wl, cfg, stored)``
    prices one pass."""
    work = plan(cfg.cascade)
    last = len(work.passes)
    totals = {}
    for option in OPTIONS:
        results = []
        for p in work.passes:
            pass_cfg = replace(cfg, pass_level=p.level, recompute=option == "recompute", loads_v=p.reads_v,
                               writes_o=p.level == last)
            stored = 0 if option == "recompute" else p.stored_reads + p.stored_writes
            results.append(run_pass(hw, algo, wl, pass_cfg, stored))
        totals[option] = results
    choice = min(OPTIONS, key=lambda o: sum(r.time_s for r in totals[o]))
    return _combined(totals[choice], choice, {o: sum(r.time_s for r in rs) for o, rs in totals.items()})


def _combined(results: list, choice: str, seconds: dict) -> Result:
    """One result of the passes run back to back: times, costs and roofs added; the bound of the longest pass."""
    first, longest = results[0], max(results, key=lambda r: r.time_s)
    times = {k: sum(r.times.get(k, 0.0) for r in results) for k in first.times}
    cost = sum((r.cost for r in results[1:]), first.cost)
    time_s = sum(r.time_s for r in results)
    util = {u: min(1.0, times[u] / time_s) for u in first.utilization}
    detail = {**longest.detail, "passes": len(results), "multipass": choice, "multipass_seconds": seconds,
              "pass_seconds": [r.time_s for r in results]}
    if all("kernels" in r.detail for r in results):  # every pass's launches, in order (one point)
        detail["kernels"] = [f"pass {i} {k}" for i, r in enumerate(results, 1) for k in r.detail["kernels"]]
    return replace(first, time_s=time_s, bound=longest.bound, cost=cost if isinstance(cost, Cost) else first.cost,
                   times=times, utilization=util, detail=detail)
