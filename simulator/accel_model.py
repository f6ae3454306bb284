"""FuseMax-style spatial accelerators and their baselines (Nayak et al., "FuseMax", MICRO 2024), for any cascade.

A configuration is a mapping of a cascade onto the machine: the binding (``accel_binding``: which array runs
each Einsum, where its operands live), loop nests (``accel_dataflows``), op counts from the cascade lowered to
PE actions (``simulator.lowering``'s accelerator table); an Einsum's cycles are its actions / the PEs its
nest keeps busy; the configurations combine Einsum times as the paper's artifact does
(FPSG-UIUC/micro24-fusemax-artifact, workspace/src/accel/*.py, cited per rule); energy is per-action
energies times counts (``accel_energy``). The built-in configurations are these mappings of the bundled
cascades: ``fusemax``, ``fusemax-arch`` and ``fusemax-cascade`` of attention-1pass (Cascade 5), ``flat`` and
``unfused`` of attention-3pass (Cascade 4).
"""

import math
from dataclasses import dataclass

from einsum_cascades.errors import UserError
from simulator.algorithms import ACCEL_FAMILIES
from simulator.accel_binding import STYLES, binding, phases, roles
from simulator.accel_dataflows import (FLAT_ROW_BLOCK, chunked, flat_gemms, mapped, per_einsum, shape,
                                       softmax_rows, tiled)
from simulator.accel_energy import energy_j
from simulator.accel_mapping import Accesses
from simulator.accel_schedule import fusemax_cycles, plan, stall_cycles
from simulator.cost import Cost
from simulator.result import Result

ONE_PASS = "attention-1pass"  # Cascade 5
THREE_PASS = "attention-3pass"  # Cascade 4
CASCADES = {"fusemax": ONE_PASS, "fusemax-arch": ONE_PASS, "fusemax-cascade": ONE_PASS, "flat": THREE_PASS,
            "unfused": THREE_PASS}  # the cascade each configuration of the paper runs


@dataclass(frozen=True, slots=True)
class _Run:
    """One configuration's mapped Einsums, with what its latency rule needs."""

    maps: list
    cycles: dict  # Einsum -> cycles for all heads on its array
    actions: dict  # Einsum -> PE actions per head (simulator.lowering)
    traffic: Accesses  # words per level, all heads; DRAM's includes what spills from the buffer
    spilled: float = 0.0  # fraction of the buffer's traffic that overflows to DRAM

    def __add__(self, other: "_Run") -> "_Run":
        return _Run(self.maps + other.maps, {**self.cycles, **other.cycles}, {**self.actions, **other.actions},
                    self.traffic + other.traffic, max(self.spilled, other.spilled))


def simulate_accel(hw, algo: str, wl, cascade: str | None = None) -> Result:
    """Predict one attention call of configuration ``algo`` on accelerator ``hw``, running ``cascade`` (a bundled
    name or a file; None: the configuration's own)."""
    if reason := family_error(hw, algo):
        raise UserError(reason)
    if wl.is_sparse or wl.causal:
        options = (("--pattern", wl.pattern), ("--sparsity", wl.sparsity), ("--estimate", wl.estimate))
        given = ("a causal mask (--causal, or an LLM --model's: --no-causal drops it)" if not wl.is_sparse
                 else f"a mask ({', '.join(k for k, v in options if v)})")
        raise UserError(f"{hw.name} models dense encoder attention (as the FuseMax paper does), not {given}: drop it")
    if wl.kv_heads != wl.heads:
        raise UserError(f"{hw.name} models multi-head attention; --kv-heads must equal --heads ({wl.heads})")
    r = roles(cascade or CASCADES[algo])
    s = shape(hw, r, wl.batch * wl.heads, wl.seq_len, wl.kv_len, wl.head_dim, wl.v_head_dim, hw.word_bytes)
    model = {"fusemax": _fusemax, "fusemax-arch": _fusemax_arch, "fusemax-cascade": _cascade_on_flat,
             "flat": _flat, "unfused": _unfused}[algo]
    return model(hw, wl, s, r)


def family_error(hw, algo: str) -> str | None:
    """Why configuration ``algo`` cannot run on accelerator ``hw`` at all (None if it can)."""
    if algo not in ACCEL_FAMILIES:
        return f"algorithm {algo!r} does not run on accelerator {hw.name}: allowed {', '.join(ACCEL_FAMILIES)}"
    if algo in ("fusemax", "fusemax-arch") and not {"max", "add"} <= set(hw.pe2d_ops):
        return (f"algorithm {algo!r} binds max/add Einsums to the 2D array, which {hw.name} cannot do "
                f"(2D ops: {', '.join(hw.pe2d_ops)}): use flat, unfused or fusemax-cascade")
    if algo in ("fusemax", "fusemax-arch") and not hw.staging_buffer_bytes:
        return (f"algorithm {algo!r} passes vectors between the arrays through a staging buffer, which {hw.name} "
                "lacks (staging_buffer_bytes = 0): use flat, unfused or fusemax-cascade")
    return None


# ---------------------------------------------------------------- mapping and cycles

def _run(s, b, maps, per_point: bool = False, spilled: float = 0.0) -> _Run:
    """Cycles per Einsum (its PE actions under binding ``b`` / busy PEs) and traffic, for all heads.
    ``per_point``: one cycle per element whatever the operator (FLAT's 1D rule: the artifact's
    src/accel/stable_softmax.py pipelines exp and divide); else each action takes a PE-cycle."""
    cycles, actions = {}, {}
    for m in maps:
        actions[m.name] = ops = _actions(b.actions[m.name], m.ops)
        per_pe = (max(ops.values(), default=0.0) if per_point and m.array == "array1d" else sum(ops.values())) / m.pes
        cycles[m.name] = s.heads * per_pe
    traffic = sum((m.accesses() for m in maps), Accesses()).scaled(s.heads)
    spill = Accesses({"dram": spilled * traffic.reads.get("gb", 0)}, {"dram": spilled * traffic.writes.get("gb", 0)})
    return _Run(list(maps), cycles, actions, traffic + spill, spilled)


def _actions(per_op: dict, ops: dict) -> dict:
    """PE actions of an Einsum's ops (simulator.lowering's table, as the binding planned it)."""
    out = {}
    for cls, n in ops.items():
        for action, k in per_op[cls]:
            out[action] = out.get(action, 0.0) + n * k
    return out


def _tiled(hw, s, r, config: str) -> tuple[_Run, int, bool]:
    """The cascade in M0-key tiles under query chunks that fit the buffer, the score tensors later passes read
    held in the buffer for the chunk if one row tile's fit, else spilled to DRAM."""
    for held in (True, False):
        b = binding(hw, r, config, STYLES[config], held)
        try:
            maps, chunks = chunked(hw, s, lambda c, t: mapped(r, hw, s, b, tiled(hw, s, c, t)),
                                   r.crossing if held else frozenset())
        except UserError:
            if held and r.crossing:
                continue
            raise
        return _run(s, b, maps), chunks, held
    raise AssertionError("unreachable")


def _row_spill(hw, s, r, table: dict, rows: int) -> float:
    """Fraction of a row block's buffer traffic that spills to DRAM: the part of its footprint, one score fiber
    (overwritten in place by each score tensor: QK, SN, A) and the per-row vectors the buffer keeps (GM, SD),
    beyond the buffer. The artifact's FLAT takes this proportion from FLAT's search (outputs/pregenerated/
    results/flat_validation.csv, proportion_spilled) and moves that share of the buffer's traffic to DRAM
    (src/accel/cascade.py, collect_mem_traffic)."""
    vectors = sum(math.prod(s.x[v] for v in r.out_ranks[n] if v not in (*s.key, *s.query))
                  for n in r.names if table[n][1] == "gb" and r.out_ranks[n] & set(s.query)
                  and not r.out_ranks[n] & set(s.key))
    need = rows * (s.M + vectors) * s.w
    return max(0.0, 1.0 - hw.global_buffer_bytes / need)


def _dram_bytes(s, run: _Run) -> float:
    return (run.traffic.reads.get("dram", 0) + run.traffic.writes.get("dram", 0)) * s.w


# ---------------------------------------------------------------- configurations

def _fusemax(hw, wl, s, r):
    """+Binding: the 2D and 1D arrays overlapped tile by tile, pipelined across tiles; latency = max(compute,
    memory) (artifact src/accel/proposal.py, Proposal.eval; simulator.accel_schedule)."""
    run, chunks, held = _tiled(hw, s, r, "fusemax")
    passes, text = plan(r, {m.name: m.array for m in run.maps})
    return _result(hw, wl, s, r, "fusemax", run, fusemax_cycles(passes, run.cycles),
                   dict(query_chunks=chunks, rule=f"max(compute, dram); compute = {text}", **_held(r, held)))


def _fusemax_arch(hw, wl, s, r):
    """+Architecture: FuseMax's hardware without interleaving: each tile is produced and consumed before the
    next, a fill/drain stall of the array dimension per tile, the output updates in series on the 1D array
    (artifact src/accel/stall_proposal.py, StallProposal.eval)."""
    run, chunks, held = _tiled(hw, s, r, "fusemax-arch")
    passes, text = plan(r, {m.name: m.array for m in run.maps}, arch=True)
    stall = stall_cycles(hw, s, r, run.maps)
    return _result(hw, wl, s, r, "fusemax-arch", run, fusemax_cycles(passes, run.cycles, stall),
                   dict(query_chunks=chunks, stall_cycles=sum(stall.values()),
                        rule=f"max(compute, dram); compute = {text}", **_held(r, held)))


def _cascade_on_flat(hw, wl, s, r):
    """+Cascade: the cascade on FLAT's hardware, only the contractions on the 2D array; latency = max(memory,
    sum 2D, sum 1D) (artifact src/accel/flat_pe_proposal.py, FlatPEProposal.eval)."""
    run, chunks, held = _tiled(hw, s, r, "fusemax-cascade")
    two_d, one_d = _array_cycles(run)
    return _result(hw, wl, s, r, "fusemax-cascade", run, max(two_d, one_d),
                   dict(query_chunks=chunks, rule="max(dram, sum of 2D Einsums, sum of 1D Einsums)", **_held(r, held)))


def _held(r, held: bool) -> dict:
    if not r.crossing:
        return {}
    return {"crossing": "held in the buffer" if held else "spilled to DRAM"}


def _flat(hw, wl, s, r):
    """FLAT (artifact src/accel/flat.py): the cascade fused at row granularity, scores on chip in the largest
    row block that fits (the whole head when it does), spilling only the part that does not; or scores off
    chip in 1024-row blocks, whichever moves fewer DRAM bytes. Latency = max(memory, 2D, 1D) (Flat.eval)."""
    words = hw.global_buffer_bytes // s.w
    rows = hw.pe2d_rows
    block = s.P if s.P * s.M <= words else min(FLAT_ROW_BLOCK, max(rows, words // s.M // rows * rows))
    candidates = []
    for scores, style, b, stationary, spill_rows in (("on chip", "flat", block, "output", block),
                                                     ("off chip", "offchip", FLAT_ROW_BLOCK, "weight", 1)):
        gemms, plan = flat_gemms(hw, s, b, stationary), binding(hw, r, "flat", style)
        maps = mapped(r, hw, s, plan, per_einsum(softmax_rows(hw, s), **dict.fromkeys(r.contraction, gemms)))
        run = _run(s, plan, maps, per_point=True, spilled=_row_spill(hw, s, r, plan.table, spill_rows))
        candidates.append((_dram_bytes(s, run), scores, b, run))
    _, scores, block, run = min(candidates, key=lambda c: c[0])
    two_d, one_d = _array_cycles(run)
    return _result(hw, wl, s, r, "flat", run, max(two_d, one_d),
                   dict(scores=scores, row_block=block, spilled_fraction=run.spilled,
                        rule="max(dram, 2D contractions, 1D Einsums at one cycle per element)"))


def _unfused(hw, wl, s, r):
    """Each contraction and each run of Einsums between contractions a phase, with DRAM between them;
    latency = sum over phases of max(phase memory, phase compute) (artifact src/accel/unfused.py,
    Unfused.eval)."""
    b = binding(hw, r, "unfused", "unfused")
    gemms, chunks = {}, {}
    for gemm in sorted(r.contraction, key=r.names.index):  # each GEMM phase sizes its own query chunks
        _, chunks[gemm] = chunked(hw, s, lambda c, t, g=gemm: [
            m for m in mapped(r, hw, s, b, tiled(hw, s, c, t)) if m.name == g])
        gemms[gemm] = tiled(hw, s, chunks[gemm], math.ceil(s.P / hw.pe2d_rows) // chunks[gemm])
    maps = mapped(r, hw, s, b, per_einsum(softmax_rows(hw, s), **gemms))
    runs, seconds, bounds = [], {}, {}
    for names in phases(r):  # a row-wise phase holds one query row: no spill below 16M keys in 32 MiB
        rowwise = names[0] not in r.contraction
        runs.append(_run(s, b, [m for m in maps if m.name in names], per_point=True,
                         spilled=_row_spill(hw, s, r, b.table, 1) if rowwise else 0.0))
        label = "softmax" if rowwise and r.name == THREE_PASS else "+".join(names)
        seconds[label], bounds[label] = _phase(hw, s, runs[-1])
    run = sum(runs[1:], runs[0])
    run = _Run(maps, {m.name: run.cycles[m.name] for m in maps}, run.actions, run.traffic, run.spilled)
    return _result(hw, wl, s, r, "unfused", run, None,
                   dict(query_chunks=chunks, phase_seconds=seconds,
                        phase_bounds=bounds,
                        rule=f"sum over phases ({', '.join(seconds)}) of max(phase dram, phase compute)"),
                   latency_s=sum(seconds.values()))


def _phase(hw, s, run: _Run) -> tuple[float, str]:
    """A phase's seconds, max(its compute, its DRAM time), and what binds it: dram, or the array that works
    longest in it."""
    compute = sum(run.cycles.values()) / hw.clock_hz
    dram = _dram_bytes(s, run) / hw.dram_bw_bytes_s
    if dram > compute:
        return dram, "dram"
    two_d, one_d = _array_cycles(run)
    return compute, "array2d" if two_d >= one_d else "array1d"


# ---------------------------------------------------------------- result

UNITS = ("array2d", "array1d", "dram")
UNIT_SHARE = 0.9  # a unit names the bound where its roof alone is at least this share of the time


def _bound(times: dict, latency_s: float, stall_s: float, phase_seconds: dict | None, phase_bounds: dict | None) -> str:
    """What holds the call. ``stall`` where +Architecture's fill and drain on the critical path outlast every unit's
    work; else the unit whose roof alone makes (nearly: ``UNIT_SHARE``) the time; else, for phases in series
    (unfused), the bound of the longest phase, as a GPU's naive attention names its longest kernel's; else
    ``compute``: the arrays' work in series (a pass's Einsums one after another, the 2D and 1D arrays each
    waiting on the other) takes longer than any one unit's roof (linear attention on FuseMax: 0.84 ms, its DRAM
    roof 0.63 ms and its 1D array's 0.56 ms had said dram)."""
    top = max(UNITS, key=times.get)
    if latency_s == times.get("compute") and stall_s > times[top]:
        return "stall"
    if times[top] >= UNIT_SHARE * latency_s:
        return top
    if phase_seconds:
        return phase_bounds[max(phase_seconds, key=phase_seconds.get)]
    return "compute"


def _array_cycles(run: _Run) -> tuple[float, float]:
    arrays_of = {m.name: m.array for m in run.maps}
    return (sum(c for e, c in run.cycles.items() if arrays_of[e] == "array2d"),
            sum(c for e, c in run.cycles.items() if arrays_of[e] == "array1d"))


def _result(hw, wl, s, r, algo, run: _Run, compute, detail, latency_s=None) -> Result:
    two_d, one_d = _array_cycles(run)
    dram = _dram_bytes(s, run)
    times = {"array2d": two_d / hw.clock_hz, "array1d": one_d / hw.clock_hz, "dram": dram / hw.dram_bw_bytes_s}
    if latency_s is None:
        times["compute"] = compute / hw.clock_hz
        latency_s = max(times["compute"], times["dram"])
    bound = _bound(times, latency_s, detail.get("stall_cycles", 0.0) / hw.clock_hz, detail.get("phase_seconds"),
                   detail.get("phase_bounds"))
    by_array = {"array2d": {}, "array1d": {}}
    for m in run.maps:
        for cls, n in run.actions[m.name].items():
            by_array[m.array][cls] = by_array[m.array].get(cls, 0.0) + n * s.heads
    macs_2d = by_array["array2d"].get("mac", 0.0)
    all_ops = sum(n for ops in by_array.values() for n in ops.values())
    gb_words = run.traffic.reads.get("gb", 0) + run.traffic.writes.get("gb", 0)
    exps = s.heads * sum(m.ops.get("exp", 0.0) for m in run.maps)
    cost = Cost(hbm_bytes=float(dram), onchip_bytes=float(gb_words * s.w), tensor_flops=2 * macs_2d,
                fma_ops=all_ops - macs_2d, exp_ops=exps)
    util = {k: min(1.0, times[k] / latency_s) for k in ("array2d", "array1d", "dram")}
    energy = energy_j(hw, s.w, run.traffic, by_array)
    detail = {"cascade": r.name, "einsum_cycles": run.cycles, "arrays": {m.name: m.array for m in run.maps},
              **detail, "energy_breakdown_j": energy,
              "accesses_words": {"reads": run.traffic.reads, "writes": run.traffic.writes}}
    scores = any(c == "score" for c in r.cls.values())
    # Q K^T (2 E a score) and P V (2 F a score), as a GPU call counts them (``Workload.flops_per_score``): 4 E a score
    # overstated a --v-head-dim below the head dim past the arrays' peak
    flops = 2 * (s.E + s.F) * float(s.P) * s.M * s.heads if scores else cost.tensor_flops
    return Result(hw.name, algo, wl, latency_s, bound, cost, times, util, flops, 1.0, sum(energy.values()), detail)
