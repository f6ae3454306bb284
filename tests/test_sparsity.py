"""Sparsity patterns: semantics, the exact tile lowering against brute force, fitting, parse errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import (brute_force_counts, element_density, fit_pattern,
                                      parse_pattern, tile_counts)

PRIMITIVES = ["causal", "window(7)", "window(40)", "sinks(5)", "global(6)", "strided(3)", "strided(9)",
              "vertical_slash(4,3)", "random_blocks(0.4)", "random_blocks(0.7,3)", "full"]


@st.composite
def expressions(draw, depth=2):
    if depth == 0 or draw(st.booleans()):
        return draw(st.sampled_from(PRIMITIVES))
    op = draw(st.sampled_from(["&", "|"]))
    return f"({draw(expressions(depth=depth - 1))}){op}({draw(expressions(depth=depth - 1))})"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(expr=expressions(), nq=st.integers(1, 70), nkv=st.integers(1, 70), bq=st.integers(1, 20), bkv=st.integers(1, 20))
def test_fast_lowering_equals_brute_force(expr, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    fast, slow = tile_counts(p, nq, nkv, bq, bkv), brute_force_counts(p, nq, nkv, bq, bkv)
    assert np.array_equal(fast.row_full, slow.row_full), expr
    assert np.array_equal(fast.row_partial, slow.row_partial), expr
    assert fast.full + fast.partial + fast.empty == fast.total


@settings(max_examples=60, deadline=None)
@given(expr=expressions(), nq=st.integers(1, 60), nkv=st.integers(1, 60))
def test_element_density_is_exact_on_small_sizes(expr, nq, nkv):
    p = parse_pattern(expr)
    mask = p.mask(np.arange(nq)[:, None], np.arange(nkv)[None, :], nq, nkv)
    assert element_density(p, nq, nkv) == pytest.approx(mask.mean())


def test_causal_is_bottom_right_aligned_for_decode():
    p = parse_pattern("causal")
    assert p.mask(np.array([0]), np.arange(10), 1, 10).all()  # one query sees every key
    assert p.mask(np.array([[0]]), np.array([[1]]), 4, 4).sum() == 0  # square: k <= q


def test_window_looks_back_w_keys_including_the_diagonal():
    row = parse_pattern("window(3)").mask(np.array([5]), np.arange(8), 8, 8)
    assert list(np.nonzero(row)[0]) == [3, 4, 5]


def test_causal_block_density_closed_form():
    n, b = 4096, 128
    tc = tile_counts(parse_pattern("causal"), n, n, b, b)
    nb = n // b
    assert (tc.full, tc.partial) == (nb * (nb - 1) // 2, nb)  # below the diagonal; the diagonal tiles


def test_sizes_take_suffixes_and_str_round_trips():
    p = parse_pattern("causal & window(4k) | sinks(128)")
    assert str(p) == "causal&window(4k)|sinks(128)"
    assert parse_pattern(str(p)) == p


def test_fit_pattern_reaches_the_target_block_sparsity():
    p, tc = fit_pattern("causal&window(1k)", 0.9, 32768, 32768, 128, 128)
    assert abs((1 - tc.block_density) - 0.9) < 0.01
    assert p.parts[1].name == "window"


def test_fit_pattern_says_what_is_reachable():
    with pytest.raises(UserError, match="ranges over"):
        fit_pattern("causal&sinks(10)", 0.1, 4096, 4096, 128, 128)
    with pytest.raises(UserError, match="no size"):
        fit_pattern("causal", 0.5, 4096, 4096, 128, 128)


def test_structured_lowering_at_one_million_tokens_is_exact_in_closed_form():
    n, b = 1 << 20, 64
    tc = tile_counts(parse_pattern("causal"), n, n, b, b)
    assert tc.full == (n // b) * (n // b - 1) // 2


@pytest.mark.parametrize("text", ["", "causal&", "window(", "window(4k", "windw(3)", "causal|(sinks(3)", "strided(x)",
                                  "random_blocks(2)", "window(1,2)", "causal$"])
def test_bad_expressions_raise_one_clear_error(text):
    with pytest.raises(UserError):
        parse_pattern(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="causlwindow()&|,0123456789km sinkstrd_gb.", max_size=40))
def test_parser_fuzz_only_ever_raises_user_errors(text):
    try:
        parse_pattern(text)
    except UserError:
        pass
