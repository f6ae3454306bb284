"""The numpy executor: every bundled cascade reproduces its reference, iterative ranks run step by step,
and bad inputs are user errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades import cascade_names, load_cascade, parse_cascade
from einsum_cascades.errors import UserError
from einsum_cascades.reference import REFERENCES, check, linear_attention, reference_name, softmax_attention

TOLERANCE = 1e-9


def _qkv(rng, e, f, p, m, scale=1.0):
    return scale * rng.standard_normal((e, p)), rng.standard_normal((e, m)), rng.standard_normal((f, m))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(cascade_names()), p=st.integers(1, 12), e=st.integers(1, 9), f=st.integers(1, 9),
       m0=st.integers(1, 5), m1=st.integers(1, 5), m2=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_every_cascade_reproduces_its_reference(name, p, e, f, m0, m1, m2, seed):
    c = load_cascade(name)
    ranks = {v.upper() for ein in c.einsums for v in ein.vars}
    extents = {k: v for k, v in {"M0": m0, "M2": m2, "P0": m0}.items() if k in ranks}
    m = m0 * m1 * (m2 if "M2" in ranks else 1)  # a partitioned M must divide exactly
    e *= 2 if "G" in ranks else 1  # differential attention splits the features in two halves
    p = m if "P0" in ranks else p  # lightning attention: queries and keys in the same chunks (P = M)
    q, k, v = _qkv(np.random.default_rng(seed), e, f, p, m)
    out = c.run({"Q": q, "K": k, "V": v}, extents)[c.outputs[0]]
    assert out.shape == (f, p)
    assert np.max(np.abs(out - REFERENCES[reference_name(c)](q, k, v))) < TOLERANCE


@pytest.mark.parametrize("name", cascade_names())
def test_check_helper_at_the_cli_defaults(name):
    assert check(load_cascade(name), 64, 64, 16, seed=0) < TOLERANCE


def test_partition_extent_follows_from_the_input_length():
    c = load_cascade("attention-1pass")
    q, k, v = _qkv(np.random.default_rng(1), 4, 4, 3, 12)
    env = c.run({"Q": q, "K": k, "V": v}, {"M0": 3})
    assert env["BK"].shape == (4, 4, 3) and env["RM"].shape == (5, 3)  # M1 = 12 / 3 steps, plus the initial one


def test_running_max_is_the_prefix_max_of_the_tile_maxima():
    c = load_cascade("attention-1pass")
    q, k, v = _qkv(np.random.default_rng(2), 4, 4, 5, 16)
    env = c.run({"Q": q, "K": k, "V": v})
    assert np.all(env["RM"][0] == -np.inf)
    assert np.allclose(env["RM"][1:], np.maximum.accumulate(env["LM"], axis=0))
    assert np.allclose(env["RM"][-1], (q.T @ k).max(axis=1))


def test_max_subtraction_keeps_the_1pass_cascade_finite_where_the_naive_one_overflows():
    q, k, v = _qkv(np.random.default_rng(3), 8, 8, 4, 16, scale=200.0)
    expected = softmax_attention(q, k, v)
    assert np.allclose(load_cascade("attention-1pass").run({"Q": q, "K": k, "V": v})["AV"], expected)
    assert not np.all(np.isfinite(load_cascade("attention-naive").run({"Q": q, "K": k, "V": v})["AV"]))


def test_linear_reference_is_the_quadratic_form_of_linear_attention():
    q, k, v = _qkv(np.random.default_rng(4), 3, 2, 5, 7)
    phi = lambda x: np.where(x > 0, x + 1, np.exp(x))  # noqa: E731  elu(x) + 1
    weights = phi(q).T @ phi(k)  # [p, m]
    assert np.allclose(linear_attention(q, k, v), v @ (weights / weights.sum(axis=1, keepdims=True)).T)


def test_iterative_rank_in_a_user_cascade_and_reduction_over_its_steps():
    c = parse_cascade("S[0,p] = 0\nS[i+1,p] = S[i,p] + X[i,p]\nT[p] = sum(S[i,p])\nL[p] = S[I,p]")
    x = np.arange(12.0).reshape(4, 3)
    env = c.run({"X": x})
    prefix = np.vstack([np.zeros((1, 3)), np.cumsum(x, axis=0)])
    assert np.allclose(env["S"], prefix)
    assert np.allclose(env["T"], prefix[:-1].sum(axis=0))  # steps 0..I-1: needs the whole loop first
    assert np.allclose(env["L"], x.sum(axis=0))
    assert set(c.outputs) == {"T", "L"}


@pytest.mark.parametrize("inputs, extents, message", [
    ({"Q": np.ones((2, 3)), "K": np.ones((2, 8))}, {}, "missing input 'V'"),
    ({"Q": np.ones((2, 3)), "K": np.ones(8), "V": np.ones((2, 8))}, {}, "K has 1 dimensions"),
    ({"Q": np.ones((2, 3)), "K": np.ones((2, 6)), "V": np.ones((2, 6))}, {}, "not a multiple of M0=4"),
    ({"Q": np.ones((2, 3)), "K": np.ones((3, 8)), "V": np.ones((2, 8))}, {}, "Q has length 2 along e, but K set E=3"),
    ({"Q": np.ones((2, 3)), "K": np.ones((2, 8)), "V": np.ones((2, 8))}, {"Z": 2}, "unknown extent 'Z'"),
    ({"Q": np.ones((2, 3)), "K": np.ones((2, 8)), "V": np.ones((2, 8))}, {"M0": 0}, "M0=0 must be a positive"),
])
def test_bad_inputs_are_user_errors(inputs, extents, message):
    with pytest.raises(UserError, match=message):
        load_cascade("attention-1pass").run(inputs, extents)


def test_open_extents_and_two_iterative_ranks_are_user_errors():
    with pytest.raises(UserError, match="extent of rank p is unknown: give it in an .# extents:. line"):
        parse_cascade("X[p] = 3").run({})
    two = parse_cascade("A[0,p] = 0\nA[i+1,p] = A[i,p] + X[i,p]\nB[0,p] = 0\nB[j+1,p] = B[j,p] + X[j,p]")
    with pytest.raises(UserError, match="one iterative rank"):
        two.run({"X": np.ones((2, 2))})


def test_check_without_a_reference_line_compares_with_softmax_and_needs_q_k_v(tmp_path):
    unnormalised = parse_cascade("AV[f,p] = Q[e,p] * K[e,m] * V[f,m]")  # no reference line: softmax assumed
    assert reference_name(unnormalised) == "softmax" and check(unnormalised, 4, 4, 2) > 1e-3
    with pytest.raises(UserError, match="unknown reference 'gelu'"):
        check(unnormalised, 4, 4, 2, reference="gelu")
    with pytest.raises(UserError, match="reads Q, K, V"):
        check(parse_cascade("# reference: softmax\nAV[f,p] = Q[f,p] * 2"), 4, 4, 2)
