"""Boxes in closed form: a lone conjunction of boxes (window, causal, sinks, chunked ...: _chunk_rows) and a union
of boxes without chunks (window|sinks, global ...: _box_rows) have their per-row full and partial tiles and their
elements exactly as the general lowering (the numba kernels) and the element mask give them, at any size and tile
shape."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import parse_pattern
from einsum_cascades.sparsity import _box_rows as box_rows
from einsum_cascades.sparsity import _chunk_rows as chunk_rows
from einsum_cascades.sparsity._lowering import (_box_union, _lone_box, brute_force_counts, compile_terms,
                                                element_density, kernel, tile_counts)
from einsum_cascades.sparsity._terms import workspace

small = st.integers(1, 300)
LONE = ("full", "causal", "window({a})", "window({a},{b})", "causal&window({a})", "causal&window({a},{b})",
        "sinks({g})", "causal&sinks({g})", "window({a})&sinks({g})", "window({a})&window({g})",
        "chunked({w})&window({a})", "causal&chunked({w})")
UNIONS = ("window({a})|sinks({g})", "causal&window({a})|sinks({g})", "(causal&window({a}))|(causal&sinks({g}))",
          "global({g})", "causal&global({g})", "window({a},{b})|global({g})", "window({a})|window({b},0)|sinks({g})",
          "causal&(window({a})|sinks({g}))|global({a})")


def _kernel_rows(p, n, kv, bq, bk):
    """Per-row (full, partial) tiles of the general lowering: the numba kernel every other path is checked with."""
    terms, coins = compile_terms(p, n, kv, (bq, bk))
    ws = workspace(terms, math.ceil(kv / bk), bq)
    return kernel("lower")(n, kv, bq, bk, terms, coins, ws)


def _kernel_elements(p, n, kv):
    terms, coins = compile_terms(p, n, kv, (64, 64))
    return kernel("count_elements")(n, kv, 64, 64, terms, coins, workspace(terms, math.ceil(kv / 64), 64))


def _pattern(form, a, b, g, w):
    return parse_pattern(form.format(a=a, b=b, g=g, w=w))


sizes = dict(a=small, b=st.integers(0, 300), g=small, w=st.sampled_from([1, 7, 64, 100, 256]))
shape = dict(n=st.one_of(st.just(1), st.integers(1, 2000)), kv=st.one_of(st.none(), st.integers(1, 2000)),
             bq=st.sampled_from([1, 3, 16, 64, 128, 176]), bk=st.sampled_from([1, 5, 16, 32, 64, 128]))


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(LONE), **sizes, **shape)
def test_a_lone_box_in_closed_form_matches_the_kernel(form, a, b, g, w, n, kv, bq, bk):
    kv = n if kv is None else kv
    p = _pattern(form, a, b, g, w)
    box = _lone_box(p, n, kv, bq, bk)
    assert box is not None
    full, partial = chunk_rows.row_tiles(box, n, kv, bq, bk)
    ref_full, ref_partial = _kernel_rows(p, n, kv, bq, bk)
    assert np.array_equal(full, ref_full) and np.array_equal(partial, ref_partial)
    assert chunk_rows.elements(box, n, kv, bq) == _kernel_elements(p, n, kv)


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(LONE[:-2] + UNIONS), **sizes, **shape)
def test_a_union_of_boxes_in_closed_form_matches_the_kernel(form, a, b, g, w, n, kv, bq, bk):
    kv = n if kv is None else kv
    p = _pattern(form, a, b, g, w)
    terms = _box_union(p, n, kv, bq, bk)
    assert terms is not None
    assert box_rows.union_elements(terms, n, kv) == _kernel_elements(p, n, kv)
    full, partial = box_rows.row_tiles(terms, n, kv, bq, bk)
    ref_full, ref_partial = _kernel_rows(p, n, kv, bq, bk)
    assert np.array_equal(full, ref_full) and np.array_equal(partial, ref_partial)


@settings(max_examples=100, deadline=None)
@given(form=st.sampled_from(LONE + UNIONS), a=st.integers(1, 70), b=st.integers(0, 40), g=st.integers(1, 30),
       w=st.sampled_from([1, 7, 64]), n=st.integers(1, 200), kv=st.one_of(st.none(), st.integers(1, 200)),
       bq=st.sampled_from([1, 3, 16, 64, 128]), bk=st.sampled_from([1, 5, 16, 64]))
def test_boxes_match_the_element_mask(form, a, b, g, w, n, kv, bq, bk):
    kv = n if kv is None else kv
    p = _pattern(form, a, b, g, w)
    got, ref = tile_counts(p, n, kv, bq, bk), brute_force_counts(p, n, kv, bq, bk)
    assert np.array_equal(got.row_full, ref.row_full) and np.array_equal(got.row_partial, ref.row_partial)
    mask = p.mask(np.arange(n)[:, None], np.arange(kv)[None, :], n, kv, (bq, bk))
    assert element_density(p, n, kv) == mask.sum() / (n * kv)


def test_what_is_not_boxes_is_left_to_the_general_lowering():
    for text in ("strided(4)", "causal&random_blocks(0.5)", "topk(3)", "causal&budget(100)",
                 "causal&vertical_slash(4,8,place=even)"):
        assert _box_union(parse_pattern(text), 4096, 4096, 128, 128) is None
        assert _lone_box(parse_pattern(text), 4096, 4096, 128, 128) is None
    assert _box_union(parse_pattern("chunked(64)|window(8)"), 4096, 4096, 128, 128) is None
    assert _lone_box(parse_pattern("window(64)|sinks(8)"), 4096, 4096, 128, 128) is None
