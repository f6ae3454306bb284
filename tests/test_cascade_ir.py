"""The cascade IR: pass counts, closed-form op counts, footprints, the DAG and the library."""

import doctest

import pytest
import sympy as sp

import einsum_cascades.ops
from einsum_cascades import Cascade, Einsum, cascade_names, list_cascades, load_cascade, parse_cascade
from einsum_cascades.errors import UserError

M, P, E, F, M0, M1, M2, P0, G, E0 = sp.symbols("M P E F M0 M1 M2 P0 G E0", positive=True, integer=True)

PASSES_OVER_M = {"attention-3pass": 3, "attention-3pass-deferred": 2, "attention-2pass": 2, "attention-1pass": 1,
                 "attention-naive": 2, "attention-decode-splitkv": 1, "attention-linear": 1, "attention-sigmoid": 1,
                 "attention-nosoftmax": 1, "attention-differential": 1, "attention-lightning": 1,
                 "attention-softcap": 1}

# Every Einsum of every bundled cascade: one op per point of its iteration space per operator.
OPS = {
    "attention-3pass": {
        "QK": {"mac": M * P * E}, "GM": {"max": M * P}, "SN": {"add": M * P, "exp": M * P},
        "SD": {"add": M * P}, "A": {"div": M * P}, "AV": {"mac": F * M * P}},
    "attention-3pass-deferred": {
        "QK": {"mac": M * P * E}, "GM": {"max": M * P}, "SN": {"add": M * P, "exp": M * P},
        "SD": {"add": M * P}, "SNV": {"mac": F * M * P}, "AV": {"div": F * P}},
    "attention-naive": {
        "QK": {"mac": M * P * E}, "SN": {"exp": M * P}, "SD": {"add": M * P}, "A": {"div": M * P},
        "AV": {"mac": F * M * P}},
    "attention-2pass": {
        "BK": {}, "BV": {}, "BQK": {"mac": M1 * M0 * P * E}, "LM": {"max": M1 * M0 * P},
        "SLN": {"add": M1 * M0 * P, "exp": M1 * M0 * P}, "SLD": {"add": M1 * M0 * P}, "GM": {"max": M1 * P},
        "CF": {"add": M1 * P, "exp": M1 * P}, "SD": {"mac": M1 * P}, "SN": {"mac": M1 * M0 * P},
        "SNV": {"mac": F * M1 * M0 * P}, "AV": {"div": F * P}},
    "attention-1pass": {
        "BK": {}, "BV": {}, "BQK": {"mac": M1 * M0 * P * E}, "LM": {"max": M1 * M0 * P}, "RM": {"max": M1 * P},
        "SLN": {"add": M1 * M0 * P, "exp": M1 * M0 * P}, "SLD": {"add": M1 * M0 * P},
        "SLNV": {"mac": F * M1 * M0 * P}, "PRM": {"add": M1 * P, "exp": M1 * P}, "SPD": {"mac": M1 * P},
        "RD": {"add": M1 * P}, "SPNV": {"mac": F * M1 * P}, "RNV": {"add": F * M1 * P}, "AV": {"div": F * P}},
    "attention-softcap": {  # the 1-pass cascade on tanh-capped scores: tanh = 1 - 2 / (exp(2x) + 1) and its scale
        "BK": {}, "BV": {}, "BQK": {"mac": M1 * M0 * P * E},
        "TS": {"mac": M1 * M0 * P, "add": 2 * M1 * M0 * P, "exp": M1 * M0 * P, "div": M1 * M0 * P},
        "LM": {"max": M1 * M0 * P}, "RM": {"max": M1 * P},
        "SLN": {"mac": M1 * M0 * P, "add": M1 * M0 * P, "exp": M1 * M0 * P}, "SLD": {"add": M1 * M0 * P},
        "SLNV": {"mac": F * M1 * M0 * P}, "PRM": {"mac": M1 * P, "add": M1 * P, "exp": M1 * P},
        "SPD": {"mac": M1 * P}, "RD": {"add": M1 * P}, "SPNV": {"mac": F * M1 * P}, "RNV": {"add": F * M1 * P},
        "AV": {"div": F * P}},
    "attention-decode-splitkv": {
        "BK": {}, "BV": {}, "BQK": {"mac": M2 * M1 * M0 * P * E}, "LM": {"max": M2 * M1 * M0 * P},
        "RM": {"max": M2 * M1 * P}, "SLN": {"add": M2 * M1 * M0 * P, "exp": M2 * M1 * M0 * P},
        "SLD": {"add": M2 * M1 * M0 * P}, "SLNV": {"mac": F * M2 * M1 * M0 * P},
        "PRM": {"add": M2 * M1 * P, "exp": M2 * M1 * P}, "SPD": {"mac": M2 * M1 * P}, "RD": {"add": M2 * M1 * P},
        "SPNV": {"mac": F * M2 * M1 * P}, "RNV": {"add": F * M2 * M1 * P}, "GM": {"max": M2 * P},
        "W": {"add": M2 * P, "exp": M2 * P}, "D": {"mac": M2 * P}, "NV": {"mac": F * M2 * P}, "AV": {"div": F * P}},
    "attention-sigmoid": {  # sigmoid = 1 / (1 + exp(-x)): an exp, an add and a reciprocal per point
        "BK": {}, "BV": {}, "BQK": {"mac": M1 * M0 * P * E}, "SG": {"exp": M1 * M0 * P, "add": M1 * M0 * P,
                                                                    "rcp": M1 * M0 * P},
        "SLNV": {"mac": F * M1 * M0 * P}, "RNV": {"add": F * M1 * P}, "AV": {}},
    "attention-nosoftmax": {  # no max, exp, sum or division: the two contractions and O's accumulation
        "BK": {}, "BV": {}, "BQK": {"mac": M1 * M0 * P * E}, "SLNV": {"mac": F * M1 * M0 * P},
        "RNV": {"add": F * M1 * P}, "AV": {}},
    "attention-linear": {
        "FK": {"add": E * M, "exp": E * M}, "FQ": {"add": E * P, "exp": E * P}, "KV": {"mac": E * F * M},
        "KS": {"add": E * M}, "NUM": {"mac": F * P * E}, "DEN": {"mac": E * P}, "AV": {"div": F * P}},
    "attention-differential": {  # attention-1pass batched over the two halves g; AV: two divisions, x lambda, a -
        "QG": {}, "BK": {}, "BV": {}, "BQK": {"mac": G * M1 * M0 * P * E0}, "LM": {"max": G * M1 * M0 * P},
        "RM": {"max": G * M1 * P}, "SLN": {"add": G * M1 * M0 * P, "exp": G * M1 * M0 * P},
        "SLD": {"add": G * M1 * M0 * P}, "SLNV": {"mac": F * G * M1 * M0 * P},
        "PRM": {"add": G * M1 * P, "exp": G * M1 * P}, "SPD": {"mac": G * M1 * P}, "RD": {"add": G * M1 * P},
        "SPNV": {"mac": F * G * M1 * P}, "RNV": {"add": F * G * M1 * P},
        "AV": {"mac": F * P, "add": F * P, "div": 2 * F * P}},
    "attention-lightning": {  # chunks of M0 = P0 positions; the decay tables cost per chunk position only
        "QC": {}, "BK": {}, "BV": {},
        "DM": {"mac": 2 * M0 * P0, "add": 3 * M0 * P0, "max": 2 * M0 * P0, "exp": M0 * P0},
        "QD": {"mac": P0, "exp": P0}, "KD": {"mac": M0, "add": M0, "exp": M0}, "CD": {"mac": M1, "exp": M1},
        "S": {"mac": E * M1 * M0 * P0}, "SM": {"mac": M1 * M0 * P0}, "OI": {"mac": F * M1 * M0 * P0},
        "OX": {"mac": E * F * M1 * P0}, "ON": {"mac": F * M1 * P0, "add": F * M1 * P0}, "KS": {"mac": E * M1 * M0},
        "KC": {"mac": E * F * M1 * M0}, "KV": {"mac": E * F * M1, "add": E * F * M1}, "AV": {}},
}


def test_every_bundled_cascade_is_covered():
    assert set(cascade_names()) == set(PASSES_OVER_M) == set(OPS)


@pytest.mark.parametrize("name, passes", PASSES_OVER_M.items())
def test_passes_over_m(name, passes):
    assert load_cascade(name).passes()["m"] == passes


def test_passes_cover_every_rank_walked():
    assert load_cascade("attention-3pass").passes() == {"e": 1, "f": 1, "m": 3, "p": 1}
    assert load_cascade("attention-1pass").passes() == {"e": 1, "f": 1, "m": 1, "m0": 1, "m1": 1, "p": 1}


def test_split_kv_combine_is_a_second_pass_over_the_split_rank_only():
    # The log-sum-exp combine re-reads M2 per-split results per query after the full reduction GM over m2,
    # never a key: one pass over the keys (m0, m1), two over the split rank.
    passes = load_cascade("attention-decode-splitkv").passes()
    assert (passes["m"], passes["m0"], passes["m1"], passes["m2"]) == (1, 1, 1, 2)


@pytest.mark.parametrize("name", OPS)
def test_op_counts_closed_form(name):
    assert load_cascade(name).op_counts() == OPS[name]


def test_op_counts_are_keyed_in_topological_order_and_use_only_the_five_classes():
    c = load_cascade("attention-1pass")
    assert list(c.op_counts()) == [e.output for e in c.einsums]
    assert {cls for ops in c.op_counts().values() for cls in ops} <= {"mac", "add", "max", "exp", "div"}


def test_division_deferral_trades_m_p_divisions_for_f_p():
    assert load_cascade("attention-3pass").total_ops()["div"] == M * P
    assert load_cascade("attention-3pass-deferred").total_ops()["div"] == F * P


def test_cascade5_pays_rescale_work_per_tile_over_deferred_cascade4():
    one = load_cascade("attention-1pass").total_ops()
    three = {k: v.subs(M, M1 * M0) for k, v in load_cascade("attention-3pass-deferred").total_ops().items()}
    extra = {k: sp.expand(one[k] - three[k]) for k in one}
    # PRM (exp + subtract), SPD (mac), RD (add), SPNV (mac), RNV (add), RM (max) once per M1 step
    assert extra == {"mac": F * M1 * P + M1 * P, "add": F * M1 * P + 2 * M1 * P, "max": M1 * P,
                     "exp": M1 * P, "div": 0}


def test_op_count_conventions_on_small_cascades():
    ops = parse_cascade("S[p] = sum(X[m,p] * Y[m,p])\nT[m,p] = max(X[m,p], Y[m,p]) / 2\nU[p] = -X[m,p]\n"
                        "N[p] = max(X[m,p] - Y[m,p])\nC[m,p] = X[m,p]\n").op_counts()
    assert ops["S"] == {"mac": M * P}  # a sum of products: the accumulate is part of the MAC
    assert ops["T"] == {"max": M * P, "div": M * P}  # two-argument max is element-wise
    assert ops["U"] == {"add": M * P}  # negation is free; the implicit sum over m is an add per point
    assert ops["N"] == {"add": M * P, "max": M * P}
    assert ops["C"] == {}  # a copy costs nothing


def test_ops_doctest():
    assert doctest.testmod(einsum_cascades.ops).failed == 0


@pytest.mark.parametrize("name, footprint", [
    ("attention-3pass", M), ("attention-3pass-deferred", M), ("attention-naive", M),
    ("attention-2pass", M1 * M0),  # the local numerators SLN of every chunk wait for the global max
    ("attention-1pass", F + 2),  # RNV[f], RM, RD per query row
    ("attention-linear", E * F + E),  # KV and KS, shared by every query
    ("attention-decode-splitkv", F * M2),  # per-split RNV rows wait for the combine
])
def test_live_footprint_per_query_row(name, footprint):
    assert load_cascade(name).footprint("m") == footprint


def test_footprint_of_a_missing_rank_is_a_user_error():
    with pytest.raises(UserError, match="no rank 'z'"):
        load_cascade("attention-3pass").footprint("z")


def test_graph_inputs_outputs_and_order():
    c = load_cascade("attention-1pass")
    assert isinstance(c, Cascade) and all(isinstance(e, Einsum) for e in c.einsums)
    assert set(c.inputs) == {"Q", "K", "V"} and c.outputs == ("AV",)
    order = [e.output for e in c.einsums]
    assert all(order.index(a) < order.index(b) for a, b in c.graph.edges if a in order)
    assert c.graph.nodes["Q"]["kind"] == "input" and c.graph.nodes["RM"]["einsum"].step_rank == "m1"
    assert ("RD", "SPD") in c.loop_carried() and ("RD", "SPD") not in c.graph.edges  # previous step, not an edge
    assert c.einsum("AV").text == "AV[f,p]       = RNV[f,M1,p] / RD[M1,p]"


def test_einsum_properties():
    e = load_cascade("attention-1pass").einsum("SLNV")
    assert (e.output, e.out_vars, e.reduced, e.reduction) == ("SLNV", ("f", "m1", "p"), ("m0",), "sum")
    assert load_cascade("attention-1pass").einsum("LM").reduction == "max"
    assert load_cascade("attention-1pass").einsum("RM").init.text == "RM[0,p]       = -inf"


@pytest.mark.parametrize("name", PASSES_OVER_M)
def test_str_is_one_einsum_per_line_and_parses_back(name):
    c = load_cascade(name)
    text = str(c)
    assert all(e.text in text.splitlines() for e in c.einsums)
    again = parse_cascade(text, name)
    assert [e.text for e in again.einsums] == [e.text for e in c.einsums]
    assert again.passes() == c.passes() and again.op_counts() == c.op_counts()
    assert (again.reference, again.default_extents) == (c.reference, c.default_extents)
    assert repr(c).startswith(f"Cascade({name!r}, {len(c.einsums)} einsums")


def test_list_cascades_gives_the_first_comment_line_as_summary():
    listed = dict(list_cascades())
    assert set(listed) == set(PASSES_OVER_M)
    assert listed["attention-1pass"].startswith("Cascade 5")
    assert all(summary and "\n" not in summary for summary in listed.values())


def test_cascade5_is_exactly_the_paper_einsums():
    names = [e.output for e in load_cascade("attention-1pass").einsums]
    assert sorted(names) == sorted(["BK", "BV", "BQK", "LM", "RM", "SLN", "SLD", "SLNV", "PRM", "SPD", "RD",
                                    "SPNV", "RNV", "AV"])


def test_load_by_path_and_unknown_name(tmp_path):
    f = tmp_path / "mine.cascade"
    f.write_text("# my bilinear\n# reference: softmax\nQK[m,p] = Q[e,p] * K[e,m]\n")
    c = load_cascade(str(f))
    assert (c.name, c.summary, c.reference) == ("mine", "my bilinear", "softmax")
    with pytest.raises(UserError, match="unknown cascade 'nope': allowed attention-1pass"):
        load_cascade("nope")
    with pytest.raises(UserError, match="is a directory: name a .cascade file in it"):
        load_cascade(str(tmp_path))  # a directory is not a cascade file
    with pytest.raises(UserError, match=r"unknown cascade 'attention-1pas' \(did you mean attention-1pass\?\)"):
        load_cascade("attention-1pas")
