"""Periodic sets and selectors lowered in numpy (``_tile_sums``, ``_select._draw_numpy``) count what the element
mask attends, tile by tile, and draw exactly the numba kernels' selections."""

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import _lowering as lowering
from einsum_cascades.sparsity import _select as select
from einsum_cascades.sparsity import _tile_sums as tile_sums
from einsum_cascades.sparsity import brute_force_counts, parse_pattern, tile_counts
from einsum_cascades.sparsity._expr import PatternError
from einsum_cascades.sparsity._select import _draw_numpy
from einsum_cascades.sparsity._terms import conj_terms, dnf, workspace

sizes = st.integers(1, 260)
blocks = st.sampled_from([1, 3, 8, 16, 64])
small = st.integers(1, 90)


@st.composite
def periodic(draw, selectors=False):
    """Expressions of boxes, coins, chunks, strided and even vertical-slash lines (topk and budget when asked),
    1-4 leaves."""
    leaves = [st.just("causal"), small.map("window({})".format),
              st.tuples(small, small).map(lambda a: f"window({a[0]},{a[1]})"), small.map("sinks({})".format),
              small.map("global({})".format), st.integers(1, 40).map("strided({})".format),
              st.tuples(st.integers(1, 9), st.integers(0, 5)).map(lambda a: f"random_blocks(0.{a[0]},{a[1]})"),
              st.sampled_from([3, 12, 48, 96]).map("chunked({})".format),  # widths that nest
              st.tuples(st.integers(1, 6), st.integers(1, 6)).map(lambda a: f"vertical_slash({a[0]},{a[1]},place=even)")]
    tree = st.recursive(st.one_of(leaves), lambda kids: st.tuples(kids, st.sampled_from("&|"), kids).map(
        lambda t: f"({t[0]}){t[1]}({t[2]})"), max_leaves=4)
    text = draw(tree)
    if selectors:
        pick = draw(st.sampled_from(["({})&topk({k},{s})", "({})|budget({n},{s})", "causal&topk({k},{s})|({})"]))
        text = pick.format(text, k=draw(st.integers(1, 6)), n=draw(st.integers(1, 300)), s=draw(st.integers(0, 9)))
    return parse_pattern(text)


def per_tile(p, nq, nkv, bq, bkv):
    """Attended elements per tile from the whole element mask."""
    mask = p.mask(np.arange(nq)[:, None], np.arange(nkv)[None, :], nq, nkv, (bq, bkv))
    return np.add.reduceat(np.add.reduceat(mask.astype(np.int64), np.arange(0, nq, bq), axis=0),
                           np.arange(0, nkv, bkv), axis=1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=periodic(), nq=sizes, nkv=sizes, bq=blocks, bkv=blocks)
def test_tile_sums_count_every_tile_of_the_element_mask(p, nq, nkv, bq, bkv):
    terms, coins = conj_terms(dnf(p), nq, nkv, (bq, bkv))
    if not tile_sums.supported(terms, coins, bq, bkv):
        return  # a diagonal with a column period, or more than MAX_TERMS terms: the kernels' part
    assert np.array_equal(tile_sums.tile_elements(terms, coins, nq, nkv, bq, bkv), per_tile(p, nq, nkv, bq, bkv))


def test_the_subsets_reached_are_the_cells_counted():
    """``cells`` (the limit's measure) counts each subset's reachable tiles: a window of 100 keys at 64-key
    tiles reaches 3 tiles a row (the first two rows 1 and 2), strided every tile, their intersection the
    window's."""
    window, strided = 3 * 64 - 2 - 1, 64 * 64
    for text, want in (("window(100)", window), ("strided(7)", strided), ("window(100)|strided(7)",
                                                                          window + strided + window)):
        terms, _ = conj_terms(dnf(parse_pattern(text)), 64 * 64, 64 * 64, (64, 64))
        assert tile_sums.cells(terms, 64 * 64, 64 * 64, 64, 64) == want


def test_too_many_rows_are_refused_before_any_per_row_array():
    """2**30 one-token rows would take 8 GiB per row array: ``cells`` says "too many" from the row count alone."""
    terms, _ = conj_terms(dnf(parse_pattern("strided(3)")), 1 << 30, 1 << 30, (1, 1))
    assert tile_sums.cells(terms, 1 << 30, 1 << 30, 1, 1) > tile_sums.MAX_CELLS


@settings(max_examples=300, deadline=None)
@given(n=st.integers(0, 300), m=st.integers(1, 500), a=st.integers(0, 500), b=st.integers(-10**6, 10**6))
def test_linear_floor_sums_are_the_sums(n, m, a, b):
    assert int(tile_sums._linear_floor_sum(np.array([n]), m, a, np.array([b]))[0]) == \
        sum((a * j + b) // m for j in range(n))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(-10**15, 10**15), period=st.integers(1, 10**6))
def test_floor_sums_step_by_the_floor(n, period):
    """S(n + 1) - S(n) = floor(n / period) for every integer (the float quotient is exact below 2**53)."""
    a, b = np.array([n]), np.array([n + 1])
    assert int(tile_sums._floor_sum(b, period)[0] - tile_sums._floor_sum(a, period)[0]) == n // period
    assert int(tile_sums._floor_div(np.array([n]), period)[0]) == n // period


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=periodic(selectors=True), nq=sizes, nkv=sizes, bq=blocks, bkv=blocks)
def test_numpy_draws_are_the_kernels_draws(p, nq, nkv, bq, bkv):
    """``_draw_numpy`` and ``select_rows`` pick the same key blocks from the same hashes (Floyd's algorithm)."""
    conjs = dnf(p)
    try:
        select.check_selectors(p, conjs)
    except PatternError:
        return
    for conj in conjs:
        for atom in (a for a in conj if a[0] in ("topk", "budget")):
            mine = [[a for a in c if a[0] not in ("topk", "budget")] for c in conjs if atom in c]
            m = atom[1] if atom[0] == "topk" else math.ceil(atom[1] / bkv)
            if atom[0] == "budget":
                mine = [c + [("causal",)] for c in mine]
            t1, c1 = conj_terms(mine, nq, nkv, (bq, bkv))
            t2, c2 = conj_terms([], nq, nkv, (bq, bkv))
            if not tile_sums.supported(t1, c1, bq, bkv):
                continue
            got = select._draw_numpy(t1, c1, t2, c2, m, atom[2], nq, nkv, (bq, bkv))
            n_cols = math.ceil(nkv / bkv)
            want = lowering.kernel("select_rows", "select_kernels")(
                t1, c1, t2, c2, nq, nkv, bq, bkv, m, atom[2], workspace(t1, n_cols, bq), workspace(t2, n_cols, bq))
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_budget_draws_leave_out_what_the_rest_attends_whole():
    """The budget's candidates exclude the tiles the rest covers whole: numpy and the kernel agree with the
    exclusion in play (a window and sinks beside the budget)."""
    p = parse_pattern("sinks(64)|window(300)|budget(900,4)")
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(sys.modules, select.SELECT_KERNELS, raising=False)
        mp.delitem(sys.modules, lowering.KERNELS, raising=False)
        mp.setattr(select, "_draw_numpy", lambda *a: calls.append(1) or _draw_numpy(*a))
        numpy_tables = select.tables.__wrapped__(p, 3000, 3000, (64, 32))
    assert calls  # drawn in numpy
    lowering.kernels("select_kernels")
    kernel_tables = select.tables.__wrapped__(p, 3000, 3000, (64, 32))
    assert all(np.array_equal(numpy_tables[0][i], kernel_tables[0][i]) for i in range(2))
    assert numpy_tables[0][1].size > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=periodic(selectors=True), nq=sizes, nkv=sizes, bq=blocks, bkv=blocks)
def test_the_numpy_lowering_of_periods_and_selectors_is_the_brute_force(p, nq, nkv, bq, bkv):
    """``tile_counts`` through ``_by_numpy`` (the kernels unloaded, the numpy budget unspent) is the brute
    force's, selectors drawn in numpy."""
    try:
        select.check_selectors(p)
    except PatternError:
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(sys.modules, lowering.KERNELS, raising=False)
        mp.delitem(sys.modules, select.SELECT_KERNELS, raising=False)
        mp.setattr(lowering, "_numpy_seconds", [0.0])
        lowering._by_numpy.cache_clear()
        select.tables.cache_clear()
        got = tile_counts(p, nq, nkv, bq, bkv)
        numpy_path = lowering._by_numpy(p, nq, nkv, bq, bkv) is not None
        lowering._by_numpy.cache_clear()
    assert got == brute_force_counts(p, nq, nkv, bq, bkv)
    terms, coins = conj_terms(dnf(p), nq, nkv, (bq, bkv))
    assert numpy_path or not tile_sums.supported(terms, coins, bq, bkv)


def test_a_strided_or_selector_point_compiles_no_kernel():
    """A first strided, topk or budget point (fresh process, as on a fresh install: numba has compiled nothing)
    is lowered without loading numba's kernels."""
    code = ("import sys; from einsum_cascades.sparsity import _lowering; _lowering._compiled = lambda: False; "
            "from simulator.api import simulate; "
            "simulate('h100', 'flash2', seq_len=65536, pattern='causal&(window(1k)|strided(128))'); "
            "simulate('h100', 'flash2', seq_len=32768, pattern='causal&topk(16)'); "
            "simulate('h100', 'flash-decoding', seq_len=1, kv_len=131072, pattern='sinks(64)|window(1k)|budget(4k)'); "
            "print(sorted(m for m in sys.modules if m.startswith('einsum_cascades.sparsity._') and 'kernels' in m))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
