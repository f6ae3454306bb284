"""The cascade IR: pass counts, closed-form op counts, the oracle, the parser's errors."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades import CascadeParseError, cascade_names, load_cascade, parse_cascade
from einsum_cascades.reference import check

M, P, E, F, M0, M1 = sp.symbols("M P E F M0 M1", positive=True, integer=True)

PASSES_OVER_M = {"attention-3pass": 3, "attention-3pass-deferred": 2, "attention-2pass": 2, "attention-1pass": 1,
                 "attention-naive": 2, "attention-decode-splitkv": 1, "attention-linear": 1}


@pytest.mark.parametrize("name, passes", PASSES_OVER_M.items())
def test_passes_over_m(name, passes):
    assert load_cascade(name).passes()["m"] == passes


def test_every_bundled_cascade_has_an_expected_pass_count():
    assert set(cascade_names()) == set(PASSES_OVER_M)


def test_split_kv_combine_is_a_second_pass_over_the_split_rank_only():
    passes = load_cascade("attention-decode-splitkv").passes()
    assert (passes["m0"], passes["m1"], passes["m2"]) == (1, 1, 2)


def test_cascade5_op_counts_closed_form():
    ops = load_cascade("attention-1pass").op_counts()
    assert ops["BQK"] == {"mac": M1 * M0 * P * E}
    assert ops["LM"] == {"max": M1 * M0 * P}
    assert ops["RM"] == {"max": M1 * P}
    assert ops["SLN"] == {"add": M1 * M0 * P, "exp": M1 * M0 * P}  # subtract, then exp
    assert ops["SLNV"] == {"mac": F * M1 * M0 * P}
    assert ops["PRM"] == {"add": M1 * P, "exp": M1 * P}  # the per-step rescale work
    assert ops["SPD"] == {"mac": M1 * P}
    assert ops["RNV"] == {"add": F * M1 * P}
    assert ops["AV"] == {"div": F * P}  # deferred division: once per output
    assert ops["BK"] == {}  # partitions are free


def test_cascade4_op_counts_closed_form():
    ops = load_cascade("attention-3pass").op_counts()
    assert ops["QK"] == {"mac": M * P * E}
    assert ops["GM"] == {"max": M * P}
    assert ops["SD"] == {"add": M * P}
    assert ops["A"] == {"div": M * P}  # M*P divisions without deferral
    assert ops["AV"] == {"mac": F * M * P}


def test_division_deferral_needs_f_p_divisions():
    assert load_cascade("attention-3pass-deferred").total_ops()["div"] == F * P


def test_footprints():
    assert load_cascade("attention-3pass").footprint()["m"] == M  # a whole M fiber per query
    assert load_cascade("attention-1pass").footprint()["m"] == F + 2  # RNV, RM, RD


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(PASSES_OVER_M)), p=st.integers(1, 24), m_tiles=st.integers(1, 6),
       d=st.integers(1, 12), seed=st.integers(0, 1000))
def test_every_cascade_reproduces_its_reference(name, p, m_tiles, d, seed):
    # keys: a multiple of the largest default partition (decode: M2*M0 = 4; others M0 = 4)
    assert check(load_cascade(name), p, 4 * m_tiles, d, seed) < 1e-9


def test_user_cascade_from_text_runs():
    c = parse_cascade("QK[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,m]\n", "bilinear")
    rng = np.random.default_rng(0)
    q, k, v = rng.normal(size=(3, 5)), rng.normal(size=(3, 7)), rng.normal(size=(2, 7))
    assert np.allclose(c.run({"Q": q, "K": k, "V": v})["AV"], v @ (q.T @ k).T)
    assert c.inputs == ("Q", "K", "V") and c.outputs == ("AV",)


@pytest.mark.parametrize("text, where", [
    ("QK[m,p] = Q[e,p] * * K[e,m]", ":1:"),
    ("QK[m,p] = foo(Q[e,p])", "foo"),
    ("QK = Q[e,p]", "left side"),
    ("QK[m,p] = Q[e,p]\nQK[m,p] = K[e,m]", "defined twice"),
    ("X[p] = __import__('os')", "__import__"),
    ("X[p] = Q[e,p] ** 2", "not allowed"),
    ("X[m,p] = Q[e, m*2]", "bad index"),
])
def test_parse_errors_name_the_line(text, where):
    with pytest.raises(CascadeParseError, match=where):
        parse_cascade(text, "t.cascade")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="QKVABmpe01[],=+-*/()# maxsumexp\n.", max_size=60))
def test_parser_fuzz_only_ever_raises_the_parse_error(text):
    try:
        parse_cascade(text, "fuzz")
    except CascadeParseError:
        pass
