"""FuseMax-style spatial accelerators and their baselines (Nayak et al., MICRO 2024).

Op counts per Einsum come from the cascade IR (never typed in per
configuration); each Einsum is bound to the 2D or 1D PE array; its cycles are
ops / PEs x cycles per element on that array; the configurations combine Einsum
times as the paper's artifact does (reference/fusemax.md, "How the artifact
turns this into latency"); DRAM traffic follows from the pass analysis and the
global-buffer capacity; energy from per-action energies.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades.errors import UserError
from simulator.cost import Cost
from simulator.result import Result

ACCEL_FAMILIES = ("unfused", "flat", "fusemax-cascade", "fusemax-arch", "fusemax")
ONE_PASS = "attention-1pass"  # Cascade 5
THREE_PASS = "attention-3pass"  # Cascade 4
RUNNING_STATE_WORDS = 2  # RM and RD per query row, beside Q (E words) and RNV (F words)
# Register-file accesses per PE op: assumed two operand reads and one result write (fusemax.md gives
# the per-access energies, not access counts); the 2D-PE rates are assumed for 1D-PE ops too.
RF_READS_PER_OP, RF_WRITES_PER_OP = 2, 1
DRAM_ACCESS_BITS, GB_ACCESS_BITS = 64, 4096  # access widths the per-action energies are quoted for
PJ = 1e-12

# Einsum -> array binding of Cascade 5 (reference/fusemax.md "How FuseMax maps and binds").
FUSEMAX_2D = ("BQK", "LM", "SLN", "SLD", "SLNV")
CASCADE_ON_FLAT_2D = ("BQK", "SLNV")  # +Cascade: only the two GEMM-like Einsums on FLAT's 2D array
FLAT_2D = ("QK", "AV")  # Cascade 4 on FLAT: the GEMMs on the 2D array, softmax on the 1D array


@dataclass(frozen=True, slots=True)
class _Shape:
    heads: int  # batch x heads, processed one after another
    P: int
    M: int
    E: int
    F: int
    w: int  # bytes per word


def simulate_accel(hw, algo: str, wl) -> Result:
    """Predict one attention call of configuration ``algo`` on accelerator ``hw``."""
    if reason := family_error(hw, algo):
        raise UserError(reason)
    if wl.is_sparse or wl.causal:
        raise UserError(f"{hw.name} models dense encoder attention (as the FuseMax paper does); drop --causal/--pattern/--sparsity")
    if wl.kv_heads != wl.heads:
        raise UserError(f"{hw.name} models multi-head attention; --kv-heads must equal --heads ({wl.heads})")
    shape = _Shape(wl.batch * wl.heads, wl.seq_len, wl.kv_len, wl.head_dim, wl.head_dim, hw.word_bytes)
    model = {"fusemax": _fusemax, "fusemax-arch": _fusemax_arch, "fusemax-cascade": _cascade_on_flat,
             "flat": _flat, "unfused": _unfused}[algo]
    return model(hw, wl, shape)


def family_error(hw, algo: str) -> str | None:
    """Why configuration ``algo`` cannot run on accelerator ``hw`` at all (None if it can)."""
    if algo not in ACCEL_FAMILIES:
        return f"algorithm {algo!r} does not run on accelerator {hw.name}: allowed {', '.join(ACCEL_FAMILIES)}"
    if algo in ("fusemax", "fusemax-arch") and not {"max", "add"} <= set(hw.pe2d_ops):
        return (f"algorithm {algo!r} binds max/add Einsums to the 2D array, which {hw.name} cannot do "
                f"(2D ops: {', '.join(hw.pe2d_ops)}): use flat, unfused or fusemax-cascade")
    return None


# ---------------------------------------------------------------- per-Einsum cycles

@lru_cache(maxsize=8)
def _op_functions(cascade_name: str):
    """Einsum -> {op class: numeric function of the rank extents}, lambdified once."""
    import sympy

    from einsum_cascades import load_cascade

    counts = load_cascade(cascade_name).op_counts()
    out = {}
    for einsum, ops in counts.items():
        out[einsum] = {}
        for cls, expr in ops.items():
            syms = sorted(expr.free_symbols, key=lambda s: s.name)
            out[einsum][cls] = (tuple(s.name for s in syms), sympy.lambdify(syms, expr, "math"))
    return out


def _ops(cascade_name: str, extents: dict) -> dict[str, dict[str, float]]:
    """Op counts per Einsum and class for one head at the given extents."""
    return {e: {cls: float(f(*(extents[n] for n in names))) for cls, (names, f) in ops.items()}
            for e, ops in _op_functions(cascade_name).items()}


def _extents(hw, s: _Shape) -> dict:
    m0 = hw.pe2d_cols  # M0 = P0 = array dimension: K/V streamed in M0-key tiles
    return {"M": s.M, "P": s.P, "E": s.E, "F": s.F, "M0": m0, "M1": math.ceil(s.M / m0)}


def _hw_ops(hw, ops: dict[str, float]) -> dict[str, float]:
    """Ops as the hardware executes them: exp expanded by the machine's exp cost table."""
    out = {c: n for c, n in ops.items() if c != "exp"}
    for cls, per in hw.exp_cost.items():
        out[cls] = out.get(cls, 0.0) + ops.get("exp", 0.0) * per
    return out


def _cycles_per_op(hw, ops: dict[str, float], pes: int) -> float:
    """Cycles on an array of ``pes`` PEs when each operator costs one PE-cycle per element."""
    return sum(_hw_ops(hw, ops).values()) / pes


def _cycles_per_point(ops: dict[str, float], pes: int) -> float:
    """FLAT's 1D rule: one PE-cycle per element whatever the operator (fusemax.md: 1 cycle each)."""
    return max(ops.values()) / pes


# ---------------------------------------------------------------- DRAM traffic

def _chunk_rows(hw, s: _Shape, global_buffer: float) -> int:
    """Query rows per chunk of a 1-pass cascade: per-row state plus one K and one V tile fit the buffer."""
    tiles = hw.pe2d_cols * (s.E + s.F) * s.w
    per_row = (s.E + s.F + RUNNING_STATE_WORDS) * s.w
    rows = int((global_buffer - tiles) // per_row)
    rows -= rows % hw.pe2d_rows
    if rows < hw.pe2d_rows:
        raise UserError(f"{hw.name}: global buffer too small for one {hw.pe2d_rows}-row query chunk at head dim {s.E}")
    return min(rows, math.ceil(s.P / hw.pe2d_rows) * hw.pe2d_rows)


def _one_pass_dram(hw, s: _Shape) -> tuple[float, int]:
    """Only Q, K, V and AV touch DRAM; K and V are streamed again for every query chunk."""
    chunks = math.ceil(s.P / _chunk_rows(hw, s, hw.global_buffer_bytes))
    per_head = s.P * (s.E + s.F) * s.w + chunks * s.M * (s.E + s.F) * s.w
    return per_head * s.heads, chunks


def _row_block_spills(hw, s: _Shape) -> bool:
    """Cascade 4 fused at row granularity keeps a row block's O(M) score fibers on chip."""
    rows = hw.pe2d_rows
    need = rows * s.M * s.w + rows * (s.E + s.F) * s.w + hw.pe2d_cols * (s.E + s.F) * s.w
    return need > hw.global_buffer_bytes


def _score_bytes(s: _Shape) -> float:
    return float(s.P) * s.M * s.w * s.heads


# ---------------------------------------------------------------- configurations

def _fusemax(hw, wl, s):
    """+Binding: interleaved 2D/1D pipelines; latency = max(compute, memory)."""
    c = _c5_cycles(hw, s, FUSEMAX_2D)
    compute = (max(c["BQK"] + c["LM"], c["RD"] + c["RNV"] + c["AV"]) + c["RM"]
               + max(c["SLN"] + c["SLD"], c["PRM"] + c["SPD"]) + max(c["SLNV"], c["SPNV"]))
    return _one_pass_result(hw, wl, s, "fusemax", c, FUSEMAX_2D, compute)


def _fusemax_arch(hw, wl, s):
    """+Architecture: FuseMax hardware without interleaving: per-tile fill/drain, SPNV and RNV serialised."""
    c = _c5_cycles(hw, s, FUSEMAX_2D)
    tiles = math.ceil(s.M / hw.pe2d_cols) * math.ceil(s.P / hw.pe2d_rows) * s.heads
    fill_drain = tiles * hw.pe2d_rows  # one array-dimension stall per tile
    compute = (max(c["BQK"] + c["LM"], c["RD"] + c["AV"]) + c["RM"]
               + max(c["SLN"] + c["SLD"], c["PRM"] + c["SPD"]) + c["SLNV"] + c["SPNV"] + c["RNV"] + fill_drain)
    return _one_pass_result(hw, wl, s, "fusemax-arch", c, FUSEMAX_2D, compute)


def _cascade_on_flat(hw, wl, s):
    """+Cascade: Cascade 5 on FLAT's hardware; latency = max(memory, sum 2D, sum 1D)."""
    c = _c5_cycles(hw, s, CASCADE_ON_FLAT_2D)
    two_d = sum(c[e] for e in CASCADE_ON_FLAT_2D)
    one_d = sum(v for e, v in c.items() if e not in CASCADE_ON_FLAT_2D)
    return _one_pass_result(hw, wl, s, "fusemax-cascade", c, CASCADE_ON_FLAT_2D, max(two_d, one_d))


def _c5_cycles(hw, s, on_2d) -> dict[str, float]:
    """Cycles of every Cascade 5 Einsum for all heads, on the array it is bound to."""
    ops = _ops(ONE_PASS, _extents(hw, s))
    n2d, n1d = hw.pe2d_rows * hw.pe2d_cols, hw.pe1d_count
    return {e: s.heads * _cycles_per_op(hw, o, n2d if e in on_2d else n1d) for e, o in ops.items() if o}


def _one_pass_result(hw, wl, s, algo, cycles, on_2d, compute):
    dram, chunks = _one_pass_dram(hw, s)
    two_d = sum(v for e, v in cycles.items() if e in on_2d)
    one_d = sum(v for e, v in cycles.items() if e not in on_2d)
    ops = _ops(ONE_PASS, _extents(hw, s))
    gb = dram + s.heads * math.ceil(s.P / hw.pe2d_rows) * s.M * (s.E + s.F) * s.w
    return _accel_result(hw, wl, s, algo, ops, on_2d, compute, dram, gb,
                         {"array2d": two_d, "array1d": one_d}, dict(query_chunks=chunks, einsum_cycles=cycles))


def _flat(hw, wl, s):
    """Cascade 4 fused at row granularity: QK, AV on 2D; softmax on 1D; max(memory, 2D, 1D)."""
    ops = _ops(THREE_PASS, {"M": s.M, "P": s.P, "E": s.E, "F": s.F})
    n2d, n1d = hw.pe2d_rows * hw.pe2d_cols, hw.pe1d_count
    cyc = {e: s.heads * (_cycles_per_op(hw, o, n2d) if e in FLAT_2D else _cycles_per_point(o, n1d))
           for e, o in ops.items() if o}
    two_d = sum(v for e, v in cyc.items() if e in FLAT_2D)
    one_d = sum(v for e, v in cyc.items() if e not in FLAT_2D)
    spills = _row_block_spills(hw, s)
    row_blocks = math.ceil(s.P / hw.pe2d_rows)
    dram = s.heads * (s.P * (s.E + s.F) * s.w + row_blocks * s.M * (s.E + s.F) * s.w)
    if spills:  # every pass after the first writes and re-reads the score tensor
        dram += (_passes(THREE_PASS) - 1) * 2 * _score_bytes(s)
    gb = dram + s.heads * row_blocks * s.M * (s.E + s.F) * s.w + 2 * _score_bytes(s) * _passes(THREE_PASS)
    return _accel_result(hw, wl, s, "flat", ops, FLAT_2D, max(two_d, one_d), dram, gb,
                         {"array2d": two_d, "array1d": one_d}, dict(spills=spills, einsum_cycles=cyc))


def _unfused(hw, wl, s):
    """QK, the 3-pass softmax and AV as three phases with DRAM between; latency = sum of phase maxima."""
    ops = _ops(THREE_PASS, {"M": s.M, "P": s.P, "E": s.E, "F": s.F})
    n2d, n1d = hw.pe2d_rows * hw.pe2d_cols, hw.pe1d_count
    row_blocks = math.ceil(s.P / hw.pe2d_rows)
    kv_stream = s.heads * row_blocks * s.M * s.E * s.w
    scores, passes = _score_bytes(s), _passes(THREE_PASS)
    qo = s.heads * s.P * s.E * s.w
    softmax_1d = sum(s.heads * _cycles_per_point(o, n1d) for e, o in ops.items() if o and e not in FLAT_2D)
    # The softmax phase keeps a row block on chip for its passes when the block fits (as FLAT does);
    # otherwise every pass re-reads the scores and all but the last write an intermediate.
    softmax_dram = 2 * scores if not _row_block_spills(hw, s) else passes * scores + (passes - 1) * scores
    phases = [  # (compute cycles, dram bytes)
        (s.heads * _cycles_per_op(hw, ops["QK"], n2d), qo + kv_stream + scores),
        (softmax_1d, softmax_dram),
        (s.heads * _cycles_per_op(hw, ops["AV"], n2d), scores + kv_stream + qo),
    ]
    dram_s = [b / hw.dram_bw_bytes_s for _, b in phases]
    latency_s = sum(max(c / hw.clock_hz, m) for (c, _), m in zip(phases, dram_s))
    dram = sum(b for _, b in phases)
    units = {"array2d": phases[0][0] + phases[2][0], "array1d": softmax_1d}
    return _accel_result(hw, wl, s, "unfused", ops, FLAT_2D, None, dram, 2 * dram, units,
                         dict(phase_seconds=[max(c / hw.clock_hz, m) for (c, _), m in zip(phases, dram_s)]),
                         latency_s=latency_s)


@lru_cache(maxsize=8)
def _passes(cascade_name: str) -> int:
    from einsum_cascades import load_cascade

    return load_cascade(cascade_name).passes()["m"]


# ---------------------------------------------------------------- result, energy

def _accel_result(hw, wl, s, algo, ops, on_2d, compute, dram, gb, units, detail, latency_s=None) -> Result:
    times = {"array2d": units["array2d"] / hw.clock_hz, "array1d": units["array1d"] / hw.clock_hz,
             "dram": dram / hw.dram_bw_bytes_s}
    if latency_s is None:
        times["compute"] = compute / hw.clock_hz
        latency_s = max(times["compute"], times["dram"])
    bound = max(("array2d", "array1d", "dram"), key=times.get)
    by_array = _ops_by_array(hw, s, ops, on_2d)
    all_ops = sum(n for a in by_array.values() for n in a.values())
    macs_2d = by_array["array2d"].get("mac", 0.0)
    cost = Cost(hbm_bytes=float(dram), onchip_bytes=float(gb), tensor_flops=2 * macs_2d, fma_ops=all_ops - macs_2d,
                exp_ops=sum(a.get("exp", 0.0) for a in by_array.values()))
    util = {"array2d": min(1.0, times["array2d"] / latency_s), "array1d": min(1.0, times["array1d"] / latency_s),
            "dram": min(1.0, times["dram"] / latency_s)}
    energy = _energy_j(hw, by_array, dram, gb)
    flops = 4 * s.E * float(s.P) * s.M * s.heads
    detail = dict(detail, energy_breakdown_j=energy)
    return Result(hw.name, algo, wl, latency_s, bound, cost, times, util, flops, 1.0, sum(energy.values()), detail)


def _ops_by_array(hw, s, ops, on_2d) -> dict[str, dict[str, float]]:
    """Ops for all heads as the hardware executes them, per array (2D or 1D) and op class."""
    out = {"array2d": {}, "array1d": {}}
    for einsum, o in ops.items():
        arr = out["array2d" if einsum in on_2d else "array1d"]
        for cls, n in _hw_ops(hw, o).items():
            if n:
                arr[cls] = arr.get(cls, 0.0) + n * s.heads
    return out


def _energy_j(hw, by_array: dict[str, dict[str, float]], dram: float, gb: float) -> dict[str, float]:
    """Energy per action (Accelergy 45 nm per-action energies, fusemax.md): each array's op classes
    and register files, the global buffer, DRAM."""
    e = hw.energy_pj
    rf_per_op = RF_READS_PER_OP * e["rf_read"] + RF_WRITES_PER_OP * e["rf_write"]
    out = {}
    for arr, ops in by_array.items():
        out |= {f"{arr}_{cls}": n * e[cls] * PJ for cls, n in ops.items()}
        out[f"{arr}_register_file"] = sum(ops.values()) * rf_per_op * PJ
    gb_accesses = gb * 8 / GB_ACCESS_BITS
    out["global_buffer"] = gb_accesses * (e["gb_read_per_4096bit"] + e["gb_write_per_4096bit"]) / 2 * PJ
    out["dram"] = dram * 8 / DRAM_ACCESS_BITS * e["dram_per_64bit"] * PJ
    return out
