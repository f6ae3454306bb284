"""Any cascade on the accelerators (issue 11): the binding rules give the FuseMax artifact's mappings of the
paper's two cascades, the built-in configurations are mappings of the bundled cascades through one code path,
and other cascades bind by the same rules.

The tables below are the artifact's per-Einsum Timeloop mappings (FPSG-UIUC/micro24-fusemax-artifact,
workspace/inputs/yamls/proposal/mappings/*.yaml, proposal/flat_pe_mappings/*.yaml,
baselines/flat-mappings/*.yaml, baselines/softmax-mappings/*.yaml), written as {Einsum: ({operand: levels},
output levels)}; an operand not listed stays in the PEs. They were the hand-written homes of the model
before issue 11; the rules of simulator.accel_binding must give them back exactly.
"""

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades import load_cascade
from simulator import Workload, evaluate, hardware
from simulator.accel_binding import arrays, homes, roles
from simulator.presets import MODELS

IO = "dram gb"
FUSEMAX = {
    "BQK": ({"Q": IO, "BK": IO}, ""), "LM": ({}, "stage"), "RM": ({"LM": "stage", "RM": "gb"}, "gb"),
    "SLN": ({"RM": "gb stage"}, ""), "SLD": ({}, "stage"), "SLNV": ({"BV": IO}, "stage"), "PRM": ({}, ""),
    "SPD": ({"RD": "gb"}, ""), "RD": ({"SLD": "stage"}, "gb"), "SPNV": ({"RNV": "gb"}, ""),
    "RNV": ({"SLNV": "stage"}, "gb"), "AV": ({"RNV": "gb", "RD": "gb"}, "dram"),
}
CASCADE_ON_FLAT = {
    "BQK": ({"Q": IO, "BK": IO}, "gb"), "LM": ({}, ""), "RM": ({"RM": "gb"}, "gb"), "SLN": ({"BQK": "gb"}, "gb"),
    "SLD": ({}, ""), "SLNV": ({"SLN": "gb", "BV": IO}, ""), "PRM": ({}, ""), "SPD": ({"RD": "gb"}, ""),
    "RD": ({}, "gb"), "SPNV": ({"RNV": "gb"}, ""), "RNV": ({}, "gb"), "AV": ({"RNV": "gb", "RD": "gb"}, "dram"),
}
_SOFTMAX = {"GM": ({"QK": IO}, "gb"), "SN": ({"QK": "gb", "GM": "gb"}, "gb"), "SD": ({}, "gb"),
            "A": ({"SN": "gb", "SD": "gb"}, "dram")}
FLAT_ONCHIP = {"QK": ({"Q": "dram", "K": "dram"}, "gb"), "GM": ({"QK": "gb"}, "gb"),
               "SN": ({"QK": "gb", "GM": "gb"}, "gb"), "SD": ({}, "gb"), "A": ({"SN": "gb", "SD": "gb"}, "gb"),
               "AV": ({"A": "gb", "V": "dram"}, "dram")}
FLAT_OFFCHIP = {"QK": ({"Q": IO, "K": "dram"}, "dram"), **_SOFTMAX, "AV": ({"A": "dram", "V": "dram"}, IO)}
UNFUSED = {"QK": ({"Q": IO, "K": IO}, "dram"), **_SOFTMAX, "AV": ({"A": "dram", "V": IO}, IO)}


def _on_2d(hw, cascade, config):
    on = arrays(hardware(hw), roles(cascade), config)
    return {n for n, a in on.items() if a == "array2d"}, on


@pytest.mark.parametrize("hw, cascade, config, style, table", [
    ("fusemax", "attention-1pass", "fusemax", "fusemax", FUSEMAX),
    ("flat", "attention-1pass", "fusemax-cascade", "cascade", CASCADE_ON_FLAT),
    ("flat", "attention-3pass", "flat", "flat", FLAT_ONCHIP),
    ("flat", "attention-3pass", "flat", "offchip", FLAT_OFFCHIP),
    ("flat", "attention-3pass", "unfused", "unfused", UNFUSED),
])
def test_the_binding_rules_give_the_artifacts_mappings(hw, cascade, config, style, table):
    _, on = _on_2d(hw, cascade, config)
    assert homes(roles(cascade), on, style) == table


def test_the_binding_rules_give_the_artifacts_arrays():
    """FuseMax: BQK, LM, SLN, SLD, SLNV on the 2D array; +Cascade: BQK, SLNV; FLAT and Unfused: QK, AV."""
    assert _on_2d("fusemax", "attention-1pass", "fusemax")[0] == {"BQK", "LM", "SLN", "SLD", "SLNV"}
    assert _on_2d("flat", "attention-1pass", "fusemax-cascade")[0] == {"BQK", "SLNV"}
    assert _on_2d("flat", "attention-3pass", "flat")[0] == {"QK", "AV"}


def _bert(n):
    return Workload(seq_len=n, **MODELS["bert"])


@pytest.mark.parametrize("cascade, config, hw", [
    ("attention-1pass", "fusemax", "fusemax"), ("attention-1pass", "fusemax-arch", "fusemax"),
    ("attention-1pass", "fusemax-cascade", "flat"), ("attention-3pass", "flat", "flat"),
    ("attention-3pass", "unfused", "flat")])
def test_the_configurations_are_mappings_of_the_bundled_cascades(cascade, config, hw):
    """One code path: attention-1pass@fusemax is fusemax (the issue asks 2%; it is exact), attention-3pass@flat
    is flat (asked: 5%)."""
    for n in (1 << 12, 1 << 16):
        mine = evaluate(hardware(hw), f"{cascade}@{config}", _bert(n))
        built_in = evaluate(hardware(hw), config, _bert(n))
        assert (mine.time_s, mine.energy_j) == (built_in.time_s, built_in.energy_j)
        assert mine.algorithm == f"{cascade}@{config}"


def test_a_cascade_without_a_mapping_runs_on_the_machines_default_configuration():
    assert evaluate(hardware("fusemax"), "attention-sigmoid", _bert(4096)).time_s == \
        evaluate(hardware("fusemax"), "attention-sigmoid@fusemax", _bert(4096)).time_s
    assert evaluate(hardware("flat"), "attention-1pass", _bert(4096)).time_s == \
        evaluate(hardware("flat"), "attention-1pass@flat", _bert(4096)).time_s


def test_sigmoid_on_fusemax_pays_a_reciprocal_where_softmax_pays_a_max_and_a_sum():
    """Per score on the 2D array (E = F = 64): softmax E + LM 1 + SLN (6 exp MACs + 1) + SLD 1 + F = 137 cycles
    of PE work; sigmoid E + SG (6 exp MACs + the add + a 5-MAC Newton-Raphson reciprocal: 1 / (1 + e) has no
    numerator to multiply by) + F = 140. FuseMax's 2D PEs have no divider; both are 2D-bound at 64K, so sigmoid
    is 140/137 as slow."""
    heads, n = 64 * 12, 1 << 16
    sig = evaluate(hardware("fusemax"), "attention-sigmoid", _bert(n))
    soft = evaluate(hardware("fusemax"), "fusemax", _bert(n))
    assert sig.detail["einsum_cycles"]["SG"] == heads * n * n * (6 + 1 + 5) / (256 * 256)
    assert sig.bound == "array2d"
    assert sig.time_s == pytest.approx(soft.time_s * 140 / 137, rel=0.01)


def test_a_reciprocal_is_a_division_without_the_numerator_product():
    """``1 / x`` counts an rcp (sigmoid's 1 / (1 + exp(-x)) too): on an array with a divider one divide, on
    FuseMax's 2D PEs a Newton-Raphson reciprocal of 5 MACs, one fewer than a division's 6."""
    from einsum_cascades.ops import _per_point
    from einsum_cascades.parser import parse_lines
    from simulator.lowering import accel_op

    for text, expect in (("1 / X[p]", {"rcp": 1}), ("2 / X[p]", {"div": 1}), ("Y[p] / X[p]", {"div": 1})):
        counts = {}
        _per_point(parse_lines(f"Z[p] = {text}")[0][0].expr, counts)
        assert counts == expect
    fm = hardware("fusemax")
    assert accel_op(fm, "rcp", fm.pe2d_ops) == {"mac": 5} and accel_op(fm, "div", fm.pe2d_ops) == {"mac": 6}
    assert accel_op(fm, "rcp", fm.pe1d_ops) == {"div": 1}


def test_a_three_pass_cascade_is_slower_than_the_one_pass_cascade_on_fusemax_at_64k():
    one = evaluate(hardware("fusemax"), "attention-1pass", _bert(1 << 16))
    three = evaluate(hardware("fusemax"), "attention-3pass", _bert(1 << 16))
    assert three.time_s > 5 * one.time_s and three.bound == "dram"


def test_score_tensors_a_later_pass_reads_stay_in_the_buffer_or_spill_with_their_traffic():
    """attention-3pass@fusemax: QK (pass 1 -> 2) and SN (pass 2 -> 3) cross passes. At 4K a chunk of query
    rows holds them; at 64K not even one 256-row tile's fibers fit 16 MiB, so each is written to DRAM once
    and read back once: 4 N words beyond Q, O once and K, V once per query chunk."""
    fm = hardware("fusemax")
    assert evaluate(fm, "attention-3pass", _bert(1 << 12)).detail["crossing"] == "held in the buffer"
    r = evaluate(fm, "attention-3pass", _bert(1 << 16))
    heads, n, E = 64 * 12, 1 << 16, 64
    chunks = r.detail["query_chunks"]
    assert r.detail["crossing"] == "spilled to DRAM"
    assert r.cost.hbm_bytes == 2 * (2 * heads * n * E + 2 * chunks * heads * n * E + 4 * heads * n * n)


def test_a_second_exp_per_score_doubles_exp_ops_on_fusemax(tmp_path):
    base = load_cascade("attention-1pass")
    mine = tmp_path / "double-exp.cascade"
    mine.write_text(str(base).replace("exp(BQK[m1,m0,p] - RM[m1+1,p])", "exp(exp(BQK[m1,m0,p] - RM[m1+1,p]))"))
    one, two = (evaluate(hardware("fusemax"), a, _bert(1 << 14)) for a in ("attention-1pass", str(mine)))
    exps = 64 * 12 * (1 << 14) ** 2
    assert (one.cost.exp_ops, two.cost.exp_ops) == pytest.approx((exps, 2 * exps), rel=0.01)
    assert two.time_s > 1.03 * one.time_s  # six more MACs per score on the 2D array


def test_linear_attention_is_far_faster_than_softmax_attention_on_fusemax_at_64k():
    linear, softmax = (evaluate(hardware("fusemax"), a, _bert(1 << 16)) for a in ("attention-linear", "fusemax"))
    assert linear.time_s * 20 < softmax.time_s


@pytest.mark.parametrize("hw, algo, needle", [
    ("fusemax", "attention-1pass@flash3", "a GPU mapping"),
    ("fusemax", "attention-1pass@bogus", "bad mapping 'bogus'"),
    ("flat", "attention-sigmoid@fusemax", "binds max/add Einsums to the 2D array"),
])
def test_bad_accelerator_mappings_are_one_line_exit_2(hw, algo, needle):
    r = CliRunner().invoke(cli, ["simulate", "--hw", hw, "--algo", algo, "--model", "bert"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and needle in r.output, r.output


def test_explain_names_each_einsums_array_and_the_rule_for_a_cascade():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "fusemax", "--algo", "attention-sigmoid", "--model", "bert",
                                 "--seq-len", "4k", "--explain", "--format", "table"])
    assert r.exit_code == 0, r.output
    assert "SG    add=M0*M1*P, exp=M0*M1*P, rcp=M0*M1*P" in r.output and " 2D " in r.output
    assert "compute = max(BQK+SG+SLNV, RNV+AV)" in r.output


def test_the_accelerator_lowering_table():
    """exp: the machine's own (FuseMax: 6 MACs, FLAT's 1D array: its exp unit); a division on an array without
    a divider: Newton-Raphson in 6 MACs; an op an array has no unit for and no emulation: cannot run there."""
    from simulator.lowering import accel_op

    fm, flat = hardware("fusemax"), hardware("flat")
    assert accel_op(fm, "exp", fm.pe2d_ops) == accel_op(fm, "exp", fm.pe1d_ops) == {"mac": 6}
    assert accel_op(flat, "exp", flat.pe1d_ops) == {"exp": 1} and accel_op(flat, "exp", flat.pe2d_ops) is None
    assert accel_op(fm, "div", fm.pe2d_ops) == {"mac": 1 + 2 * 2 + 1} and accel_op(fm, "div", fm.pe1d_ops) == {"div": 1}
    assert accel_op(flat, "max", flat.pe2d_ops) is None and accel_op(flat, "add", flat.pe2d_ops) is None
