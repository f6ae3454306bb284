"""The numpy lowering paths (box runs, per-tile intervals) agree with the element mask and the numba kernels."""

import math
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import _box_runs as box_runs
from einsum_cascades.sparsity import _tile_sums as tile_sums
from einsum_cascades.sparsity import _lowering as lowering
from einsum_cascades.sparsity import brute_force_counts, parse_pattern, tile_counts
from einsum_cascades.sparsity._fields import EMPTY, FULL, PARTIAL
from einsum_cascades.sparsity._terms import conj_terms, dnf

sizes = st.sampled_from([1, 3, 17, 64, 100, 128, 257])
blocks = st.sampled_from([1, 4, 16, 32, 64])
small = st.sampled_from([1, 2, 5, 16, 33, 64, 100])


@st.composite
def boxes(draw, chunks=False):
    """Expressions of boxes and coins (chunked too when asked), joined by & and |, at most 4 terms deep."""
    leaves = [st.just("causal"), st.just("full"), small.map("window({})".format),
              st.tuples(small, small).map(lambda a: f"window({a[0]},{a[1]})"), small.map("sinks({})".format),
              small.map("global({})".format),
              st.tuples(st.integers(1, 9), st.integers(0, 5)).map(lambda a: f"random_blocks(0.{a[0]},{a[1]})")]
    if chunks:
        leaves.append(st.sampled_from([4, 16, 64]).map("chunked({})".format))  # nesting widths
    leaf = st.one_of(leaves)
    tree = st.recursive(leaf, lambda kids: st.tuples(kids, st.sampled_from("&|"), kids).map(
        lambda t: f"({t[0]}){t[1]}({t[2]})"), max_leaves=4)
    return parse_pattern(draw(tree))


def reference(p, nq, nkv, bq, bkv):
    """Per-tile attended elements and areas from the whole element mask (coins flipped per tile)."""
    mask = p.mask(np.arange(nq)[:, None], np.arange(nkv)[None, :], nq, nkv, (bq, bkv))
    rows, cols = np.arange(0, nq, bq), np.arange(0, nkv, bkv)

    def per_tile(a):
        return np.add.reduceat(np.add.reduceat(a.astype(np.int64), rows, axis=0), cols, axis=1)

    return per_tile(mask), per_tile(np.ones_like(mask))


def check(runs, p, nq, nkv, bq, bkv):
    elements, area = reference(p, nq, nkv, bq, bkv)
    row_full, row_partial = runs.row_counts()
    assert np.array_equal(row_full, (elements == area).sum(axis=1))
    assert np.array_equal(row_partial, ((elements > 0) & (elements < area)).sum(axis=1))
    assert runs.elements() == elements.sum()
    assert np.array_equal(runs.states(), np.where(elements == area, FULL, np.where(elements > 0, PARTIAL, EMPTY)))


@pytest.mark.parametrize("coin_kernel", [False, True], ids=["numpy coins", "coin kernel"])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=boxes(), nq=sizes, nkv=sizes, bq=blocks, bkv=blocks)
def test_box_runs_match_the_element_mask(coin_kernel, p, nq, nkv, bq, bkv):
    """Also with a lone coin term's tiles counted by the ``_coin_rows`` kernel (as at any size once loaded)."""
    terms, coins = conj_terms(dnf(p), nq, nkv, (bq, bkv))
    if not box_runs.supported(terms, coins, bq, bkv):
        return  # no term left (an empty mask) or more terms than the inclusion-exclusion takes
    with patch.object(box_runs, "NUMPY_COIN_TILES", -1 if coin_kernel else 1 << 62):
        check(box_runs.lower(terms, coins, nq, nkv, bq, bkv), p, nq, nkv, bq, bkv)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=boxes(chunks=True), nq=sizes, nkv=sizes, bq=blocks, bkv=blocks)
def test_tile_sums_of_boxes_and_chunks_match_the_element_mask(p, nq, nkv, bq, bkv):
    """Small grids of boxes, coins and chunks, counted tile by tile (``_tile_sums``; the per-query interval
    counting it replaced was checked the same way)."""
    terms, coins = conj_terms(dnf(p), nq, nkv, (bq, bkv))
    if not tile_sums.supported(terms, coins, bq, bkv):
        return
    elements = tile_sums.tile_elements(terms, coins, nq, nkv, bq, bkv)
    check(box_runs.Runs.from_elements(elements, nq, nkv, bq, bkv), p, nq, nkv, bq, bkv)


@pytest.mark.parametrize("expr, nq, nkv, bq, bkv", [
    ("causal", 1 << 20, 1 << 20, 128, 176),
    ("causal&window(64k)|sinks(128)", 1 << 20, 1 << 20, 128, 128),
    ("window(4k)|global(100)", 1 << 19, 1 << 19, 192, 128),
    ("causal", 100000, 300000, 128, 64),
    ("random_blocks(0.2,7)&causal", 1 << 20, 1000000, 128, 176),  # one coin term: the _coin_rows kernel
    ("random_blocks(0.5)&window(100k)", 999999, 1 << 19, 192, 128),
    ("window(4k)", 1, 1 << 20, 128, 128),
])
def test_box_runs_match_the_numba_kernels_at_scale(expr, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    terms, coins = conj_terms(dnf(p), nq, nkv, (bq, bkv))
    runs = box_runs.lower(terms, coins, nq, nkv, bq, bkv)
    terms, coins = lowering.compile_terms(p, nq, nkv, (bq, bkv))
    ws = lowering.workspace(terms, math.ceil(nkv / bkv), bq)
    row_full, row_partial = lowering.kernels().lower(nq, nkv, bq, bkv, terms, coins, ws)
    assert np.array_equal(runs.row_counts()[0], row_full) and np.array_equal(runs.row_counts()[1], row_partial)
    assert runs.elements() == lowering.kernels().count_elements(nq, nkv, bq, bkv, terms, coins, ws)


def test_random_blocks_past_the_coin_limit_is_refused():
    """One coin per tile: 1m tokens at 1x1 tiles would be 2**40 coins, refused with the limit named."""
    with pytest.raises(UserError, match="4,294,967,296"):
        tile_counts(parse_pattern("random_blocks(0.5)"), 1 << 20, 1 << 20, 1, 1)
    assert tile_counts(parse_pattern("causal"), 1 << 20, 1 << 20, 1, 1 << 20).n_q_blocks == 1 << 20  # no coins


def test_the_lowering_entry_points_take_the_numpy_paths_before_numba_is_loaded(monkeypatch):
    """tile_counts goes through ``_by_numpy`` while the kernels are not loaded (and the process has not spent
    its numpy budget), and gives the brute force's."""
    monkeypatch.delitem(__import__("sys").modules, lowering.KERNELS, raising=False)
    monkeypatch.setattr(lowering, "_numpy_seconds", [0.0])
    lowering._by_numpy.cache_clear()
    p = parse_pattern("causal&window(100)|sinks(7)")
    assert lowering._by_numpy(p, 300, 300, 64, 32) is not None
    assert tile_counts(p, 300, 300, 64, 32) == brute_force_counts(p, 300, 300, 64, 32)
    lowering._by_numpy.cache_clear()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3000), st.integers(1, 3000), st.sampled_from([1, 3, 16, 64, 128, 176]),
       st.sampled_from([1, 5, 32, 64, 128, 192]))
def test_causal_in_closed_form_counts_what_the_general_lowering_counts(nq, nkv, bq, bkv):
    """``causal`` alone takes the closed form (tiles per row, attended elements); ``causal&window(1m)`` (a window
    wider than any length here) is the same mask through the general lowering, whatever the lengths (more queries
    than keys too) and tile shape. (``causal&full`` was, until the parse wrote full & A as A.)"""
    from einsum_cascades.sparsity import element_density, parse_pattern, tile_counts

    if math.ceil(nq / bq) * math.ceil(nkv / bkv) > 200_000:
        return
    closed, general = parse_pattern("causal"), parse_pattern("causal&window(1m)")
    assert general.name == "&"  # not folded into the closed form
    a, b = tile_counts(closed, nq, nkv, bq, bkv), tile_counts(general, nq, nkv, bq, bkv)
    assert np.array_equal(a.row_full, b.row_full) and np.array_equal(a.row_partial, b.row_partial)
    assert (a.full, a.partial, a.empty) == (b.full, b.partial, b.empty)
    assert element_density(closed, nq, nkv) == element_density(general, nq, nkv)
