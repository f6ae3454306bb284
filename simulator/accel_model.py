"""FuseMax-style spatial accelerators and their baselines (Nayak et al., "FuseMax", MICRO 2024).

Each configuration maps a cascade from the IR (``accel_dataflows``: array, loop nest and operand
homes per Einsum); op counts come from the cascade, access counts per level from the mapping
(``accel_mapping``); an Einsum's cycles are its ops / the PEs its mapping keeps busy x cycles per
element; the configurations combine Einsum times as the paper's artifact does
(FPSG-UIUC/micro24-fusemax-artifact, workspace/src/accel/*.py, cited per rule); energy is
per-action energies times counts (``accel_energy``).
"""

import math
from dataclasses import dataclass

from einsum_cascades.errors import UserError
from simulator.accel_dataflows import (CASCADE_ON_FLAT, FLAT_OFFCHIP, FLAT_ONCHIP, FLAT_ROW_BLOCK, FUSEMAX, ONE_PASS,
                                       THREE_PASS, UNFUSED, Shape, chunked, flat_gemms, mapped, per_einsum,
                                       softmax_rows, tiled)
from simulator.accel_energy import energy_j, hw_ops
from simulator.accel_mapping import Accesses
from simulator.cost import Cost
from simulator.result import Result

ACCEL_FAMILIES = ("unfused", "flat", "fusemax-cascade", "fusemax-arch", "fusemax")
# Einsum -> array binding (FuseMax paper; artifact src/accel/proposal.py, flat_pe_proposal.py, flat.py).
FUSEMAX_2D = ("BQK", "LM", "SLN", "SLD", "SLNV")
CASCADE_ON_FLAT_2D = ("BQK", "SLNV")  # +Cascade: only the two GEMM-like Einsums on FLAT's 2D array
FLAT_2D = ("QK", "AV")  # Cascade 4 on FLAT: the GEMMs on the 2D array, softmax on the 1D array
SOFTMAX_ROW_VECTORS = 2  # a softmax row block also holds its max and denominator: one word each per row


@dataclass(frozen=True, slots=True)
class _Run:
    """One configuration's mapped Einsums, with what its latency rule needs."""

    maps: list
    cycles: dict  # Einsum -> cycles for all heads on its array
    traffic: Accesses  # words per level, all heads; DRAM's includes what spills from the buffer
    spilled: float = 0.0  # fraction of the buffer's traffic that overflows to DRAM

    def __add__(self, other: "_Run") -> "_Run":
        return _Run(self.maps + other.maps, {**self.cycles, **other.cycles}, self.traffic + other.traffic,
                    max(self.spilled, other.spilled))


def simulate_accel(hw, algo: str, wl) -> Result:
    """Predict one attention call of configuration ``algo`` on accelerator ``hw``."""
    if reason := family_error(hw, algo):
        raise UserError(reason)
    if wl.is_sparse or wl.causal:
        raise UserError(f"{hw.name} models dense encoder attention (as the FuseMax paper does); drop --causal/--pattern/--sparsity")
    if wl.kv_heads != wl.heads:
        raise UserError(f"{hw.name} models multi-head attention; --kv-heads must equal --heads ({wl.heads})")
    s = Shape(wl.batch * wl.heads, wl.seq_len, wl.kv_len, wl.head_dim, wl.head_dim, hw.word_bytes)
    model = {"fusemax": _fusemax, "fusemax-arch": _fusemax_arch, "fusemax-cascade": _cascade_on_flat,
             "flat": _flat, "unfused": _unfused}[algo]
    return model(hw, wl, s)


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

def _run(hw, s: Shape, maps, per_point: bool = False, spilled: float = 0.0) -> _Run:
    """Cycles per Einsum (ops / busy PEs x cycles per element) and traffic, for all heads.
    ``per_point``: one cycle per element whatever the operator (FLAT's 1D rule: the artifact's
    src/accel/stable_softmax.py pipelines exp and divide); else each op takes a PE-cycle."""
    cycles = {}
    for m in maps:
        ops = hw_ops(hw, m.ops)
        per_pe = (max(ops.values()) if per_point and m.array == "array1d" else sum(ops.values())) / m.pes
        cycles[m.name] = s.heads * per_pe
    traffic = sum((m.accesses() for m in maps), Accesses()).scaled(s.heads)
    spill = Accesses({"dram": spilled * traffic.reads.get("gb", 0)}, {"dram": spilled * traffic.writes.get("gb", 0)})
    return _Run(list(maps), cycles, traffic + spill, spilled)


def _one_pass(hw, s: Shape, binding, homes) -> tuple[_Run, int]:
    maps, chunks = chunked(hw, s, lambda c, t: mapped(ONE_PASS, hw, s, binding, homes, tiled(hw, s, c, t)))
    return _run(hw, s, maps), chunks


def _row_spill(hw, s: Shape, rows: int) -> float:
    """Fraction of a softmax row block's buffer traffic that spills to DRAM: the part of its footprint, score
    fibers (overwritten in place by SN and A) and row vectors, beyond the buffer. The artifact's FLAT takes
    this proportion from FLAT's search (outputs/pregenerated/results/flat_validation.csv, proportion_spilled)
    and moves that share of the buffer's traffic to DRAM (src/accel/cascade.py, collect_mem_traffic)."""
    need = rows * (s.M + SOFTMAX_ROW_VECTORS) * s.w
    return max(0.0, 1.0 - hw.global_buffer_bytes / need)


def _dram_bytes(s: Shape, run: _Run) -> float:
    return (run.traffic.reads.get("dram", 0) + run.traffic.writes.get("dram", 0)) * s.w


# ---------------------------------------------------------------- configurations

def _fusemax(hw, wl, s):
    """+Binding: BQK|SLNV interleaved on the 2D array, SPNV|RNV on the 1D array, pipelined across tiles;
    latency = max(compute, memory) (artifact src/accel/proposal.py, Proposal.eval)."""
    run, chunks = _one_pass(hw, s, FUSEMAX_2D, FUSEMAX)
    c = run.cycles
    compute = (max(c["BQK"] + c["LM"], c["RD"] + c["RNV"] + c["AV"]) + c["RM"]
               + max(c["SLN"] + c["SLD"], c["PRM"] + c["SPD"]) + max(c["SLNV"], c["SPNV"]))
    return _result(hw, wl, s, "fusemax", run, compute, dict(query_chunks=chunks))


def _fusemax_arch(hw, wl, s):
    """+Architecture: FuseMax's hardware without interleaving: each tile is produced and consumed before the
    next, a fill/drain stall of the array dimension per tile (LM's cycles x 256), SPNV and RNV in series
    (artifact src/accel/stall_proposal.py, StallProposal.eval)."""
    run, chunks = _one_pass(hw, s, FUSEMAX_2D, FUSEMAX)
    c = run.cycles
    stall = c["LM"] * hw.pe2d_rows
    compute = (max(c["BQK"] + c["LM"], c["RD"] + c["AV"]) + stall + c["RM"]
               + max(c["SLN"] + c["SLD"], c["PRM"] + c["SPD"]) + max(c["SLNV"], c["SPNV"] + c["RNV"]))
    return _result(hw, wl, s, "fusemax-arch", run, compute, dict(query_chunks=chunks, stall_cycles=stall))


def _cascade_on_flat(hw, wl, s):
    """+Cascade: Cascade 5 on FLAT's hardware; latency = max(memory, sum 2D, sum 1D)
    (artifact src/accel/flat_pe_proposal.py, FlatPEProposal.eval)."""
    run, chunks = _one_pass(hw, s, CASCADE_ON_FLAT_2D, CASCADE_ON_FLAT)
    two_d, one_d = _array_cycles(run)
    return _result(hw, wl, s, "fusemax-cascade", run, max(two_d, one_d), dict(query_chunks=chunks))


def _flat(hw, wl, s):
    """Cascade 4 fused (artifact src/accel/flat.py): scores on chip in the largest row block that fits
    (the whole head when it does), spilling only the part that does not; or scores off chip in 1024-row
    blocks, whichever moves fewer DRAM bytes. Latency = max(memory, 2D, 1D) (Flat.eval)."""
    words = hw.global_buffer_bytes // s.w
    rows = hw.pe2d_rows
    block = s.P if s.P * s.M <= words else min(FLAT_ROW_BLOCK, max(rows, words // s.M // rows * rows))
    candidates = []
    for scores, homes, b, stationary, spill_rows in (("on chip", FLAT_ONCHIP, block, "output", block),
                                                     ("off chip", FLAT_OFFCHIP, FLAT_ROW_BLOCK, "weight", 1)):
        gemms = flat_gemms(hw, s, b, stationary)
        maps = mapped(THREE_PASS, hw, s, FLAT_2D, homes, per_einsum(softmax_rows(hw, s), QK=gemms, AV=gemms))
        run = _run(hw, s, maps, per_point=True, spilled=_row_spill(hw, s, spill_rows))
        candidates.append((_dram_bytes(s, run), scores, b, run))
    _, scores, block, run = min(candidates, key=lambda c: c[0])
    two_d, one_d = _array_cycles(run)
    return _result(hw, wl, s, "flat", run, max(two_d, one_d),
                   dict(scores=scores, row_block=block, spilled_fraction=run.spilled))


def _unfused(hw, wl, s):
    """QK, the 3-pass softmax and AV as three phases with DRAM between them; latency = sum over phases of
    max(phase memory, phase compute) (artifact src/accel/unfused.py, Unfused.eval)."""
    gemms, chunks = {}, {}
    for gemm in FLAT_2D:  # each GEMM phase sizes its own query chunks against the buffer
        _, chunks[gemm] = chunked(hw, s, lambda c, t, g=gemm: [
            m for m in mapped(THREE_PASS, hw, s, FLAT_2D, UNFUSED, tiled(hw, s, c, t)) if m.name == g])
        gemms[gemm] = tiled(hw, s, chunks[gemm], math.ceil(s.P / hw.pe2d_rows) // chunks[gemm])
    maps = mapped(THREE_PASS, hw, s, FLAT_2D, UNFUSED, per_einsum(softmax_rows(hw, s), **gemms))
    phases = {"QK": ("QK",), "softmax": tuple(m.name for m in maps if m.name not in FLAT_2D), "AV": ("AV",)}
    runs, seconds = [], {}
    for phase, names in phases.items():  # the softmax holds one query row: no spill below 16M keys in 32 MiB
        runs.append(_run(hw, s, [m for m in maps if m.name in names], per_point=True,
                         spilled=_row_spill(hw, s, 1) if phase == "softmax" else 0.0))
        seconds[phase] = max(sum(runs[-1].cycles.values()) / hw.clock_hz, _dram_bytes(s, runs[-1]) / hw.dram_bw_bytes_s)
    run = sum(runs[1:], runs[0])
    run = _Run(maps, {m.name: run.cycles[m.name] for m in maps}, run.traffic, run.spilled)  # cascade order
    return _result(hw, wl, s, "unfused", run, None, dict(query_chunks=chunks, phase_seconds=seconds),
                   latency_s=sum(seconds.values()))


# ---------------------------------------------------------------- result

def _array_cycles(run: _Run) -> tuple[float, float]:
    arrays = {m.name: m.array for m in run.maps}
    return (sum(c for e, c in run.cycles.items() if arrays[e] == "array2d"),
            sum(c for e, c in run.cycles.items() if arrays[e] == "array1d"))


def _result(hw, wl, s, algo, run: _Run, compute, detail, latency_s=None) -> Result:
    two_d, one_d = _array_cycles(run)
    dram = _dram_bytes(s, run)
    times = {"array2d": two_d / hw.clock_hz, "array1d": one_d / hw.clock_hz, "dram": dram / hw.dram_bw_bytes_s}
    if latency_s is None:
        times["compute"] = compute / hw.clock_hz
        latency_s = max(times["compute"], times["dram"])
    bound = max(("array2d", "array1d", "dram"), key=times.get)
    by_array = {"array2d": {}, "array1d": {}}
    for m in run.maps:
        for cls, n in hw_ops(hw, m.ops).items():
            by_array[m.array][cls] = by_array[m.array].get(cls, 0.0) + n * s.heads
    macs_2d = by_array["array2d"].get("mac", 0.0)
    all_ops = sum(n for ops in by_array.values() for n in ops.values())
    gb_words = run.traffic.reads.get("gb", 0) + run.traffic.writes.get("gb", 0)
    cost = Cost(hbm_bytes=float(dram), onchip_bytes=float(gb_words * s.w), tensor_flops=2 * macs_2d,
                fma_ops=all_ops - macs_2d, exp_ops=sum(ops.get("exp", 0.0) for ops in by_array.values()))
    util = {k: min(1.0, times[k] / latency_s) for k in ("array2d", "array1d", "dram")}
    energy = energy_j(hw, s.w, run.traffic, by_array)
    detail = {"einsum_cycles": run.cycles, **detail, "energy_breakdown_j": energy,
              "accesses_words": {"reads": run.traffic.reads, "writes": run.traffic.writes}}
    flops = 4 * s.E * float(s.P) * s.M * s.heads
    return Result(hw.name, algo, wl, latency_s, bound, cost, times, util, flops, 1.0, sum(energy.values()), detail)
