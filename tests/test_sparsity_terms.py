"""full inside combinators, two-sided windows, chunks, topk and budget: closed forms, brute force, one-line errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import (PatternError, brute_force_counts, element_density, key_blocks_reached,
                                      parse_pattern, tile_counts, tile_states)
from simulator.workload import Workload
from einsum_cascades.sparsity._expr import Pattern

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def keys_of(expr, q, seq_len, kv_len, block=(128, 128)):
    row = parse_pattern(expr).mask(np.array([q]), np.arange(kv_len), seq_len, kv_len, block)
    return np.nonzero(row)[0].tolist()


def mask_of(expr, nq, nkv, block):
    return parse_pattern(expr).mask(np.arange(nq)[:, None], np.arange(nkv)[None, :], nq, nkv, block)


def assert_lowering_exact(expr, nq, nkv, bq, bkv):
    """Tile counts, pooled tile states and element density all equal the brute-force element mask's."""
    p = parse_pattern(expr)
    fast, slow = tile_counts(p, nq, nkv, bq, bkv), brute_force_counts(p, nq, nkv, bq, bkv)
    assert fast.row_full.tolist() == slow.row_full.tolist(), expr
    assert fast.row_partial.tolist() == slow.row_partial.tolist(), expr
    states = tile_states(p, nq, nkv, bq, bkv)
    assert (states == 2).sum(axis=1).tolist() == slow.row_full.tolist(), expr
    assert element_density(p, nq, nkv, (bq, bkv)) == mask_of(expr, nq, nkv, (bq, bkv)).mean(), expr


# ---------------------------------------------------------------- full

def test_full_alone_still_means_no_pattern():
    assert Workload(pattern="full").pattern is None and Workload(pattern="dense").pattern is None


def test_full_inside_combinators_is_every_key():
    n, b = 1024, 128
    assert tile_counts(parse_pattern("full|sinks(4)"), n, n, b, b).full == (n // b) ** 2
    assert tile_counts(parse_pattern("causal&full"), n, n, b, b) == tile_counts(parse_pattern("causal"), n, n, b, b)
    assert element_density(parse_pattern("(full|strided(5))&window(64)"), n, n) == \
        element_density(parse_pattern("window(64)"), n, n)


# ---------------------------------------------------------------- window(l, r)

def test_two_sided_window_looks_l_back_and_r_ahead():
    assert keys_of("window(2,1)", 5, 10, 10) == [3, 4, 5, 6]
    assert keys_of("window(0,0)", 5, 10, 10) == [5]
    assert keys_of("window(2,3)", 0, 10, 10) == [0, 1, 2, 3]  # cut at the borders, not shifted
    assert keys_of("window(1,2)", 0, 2, 10) == [7, 8, 9]  # bottom-right aligned: query 0 of 2 sits on key 8


@pytest.mark.parametrize("w", [1, 7, 64])
def test_window_w_is_window_w_minus_one_and_zero(w):
    n, b = 1000, 64
    a, c = parse_pattern(f"window({w})"), parse_pattern(f"window({w - 1},0)")
    assert tile_counts(a, n, n, b, b) == tile_counts(c, n, n, b, b)


@given(st.integers(1, 300), st.integers(0, 300), st.integers(0, 300), st.integers(1, 300), st.integers(0, 300))
@QUICK
def test_windows_under_and_or_are_one_window_of_the_same_mask(w, l, r, n, shift):
    """Two bands about the diagonal intersect and unite into one band: the parse writes one window, whose mask
    is the element-wise & and | of the two."""
    a, b = f"window({w})", f"window({l},{r})"
    nkv = n + shift
    for op, combine in (("&", np.logical_and), ("|", np.logical_or)):
        merged = parse_pattern(f"{a}{op}{b}")
        assert merged.name == "window", (op, str(merged))
        q, k = np.arange(n)[:, None], np.arange(nkv)[None, :]
        expected = combine(mask_of(a, n, nkv, (16, 16)), mask_of(b, n, nkv, (16, 16)))
        assert (merged.mask(q, k, n, nkv) == expected).all(), (op, str(merged))


@pytest.mark.parametrize("n, l, r", [(1000, 3, 5), (4096, 100, 0), (777, 0, 300), (50, 49, 49)])
def test_two_sided_window_element_count_in_closed_form(n, l, r):
    """Each query sees l + r + 1 keys but for the l(l+1)/2 cut at the start and r(r+1)/2 at the end."""
    expected = n * (l + r + 1) - l * (l + 1) // 2 - r * (r + 1) // 2
    assert element_density(parse_pattern(f"window({l},{r})"), n, n) * n * n == expected


# ---------------------------------------------------------------- chunked(w)

def test_chunked_keeps_query_and_key_in_one_block():
    assert keys_of("chunked(4)", 6, 16, 16) == [4, 5, 6, 7]
    assert keys_of("causal&chunked(4)", 6, 16, 16) == [4, 5, 6]
    assert keys_of("chunked(4)", 0, 1, 10) == [8, 9]  # decode: the query sits on key 9, in the chunk 8..11
    assert keys_of("causal&chunked(8k)", 0, 1, 20000) == list(range(16384, 20000))  # Llama 4 decode


@pytest.mark.parametrize("n, w, b", [(1 << 20, 8192, 128), (1 << 16, 1024, 64), (4096, 256, 256)])
def test_chunked_is_block_diagonal_in_closed_form(n, w, b):
    """w a multiple of the tile: (n / w) chunks of (w / b)^2 full tiles; with causal, w(w+1)/2 per chunk."""
    tc = tile_counts(parse_pattern("chunked(%d)" % w), n, n, b, b)
    assert (tc.full, tc.partial) == ((n // w) * (w // b) ** 2, 0)
    causal = tile_counts(parse_pattern("causal&chunked(%d)" % w), n, n, b, b)
    assert (causal.full, causal.partial) == ((n // w) * (w // b) * (w // b - 1) // 2, n // b)
    assert element_density(parse_pattern("causal&chunked(%d)" % w), n, n) * n * n == (n // w) * w * (w + 1) // 2


@QUICK
@given(w=st.integers(1, 40), extra=st.sampled_from(["", "&causal", "|sinks(5)", "&window(9,2)", "&strided(3)",
                                                     "&random_blocks(0.5)"]),
       nq=st.integers(1, 90), nkv=st.integers(1, 90), bq=st.integers(1, 20), bkv=st.integers(1, 20))
def test_chunked_lowering_equals_brute_force(w, extra, nq, nkv, bq, bkv):
    assert_lowering_exact(f"chunked({w}){extra}", nq, nkv, bq, bkv)


@QUICK
@given(w=st.integers(1, 40), first=st.integers(0, 90), nq=st.integers(1, 90), nkv=st.integers(1, 90),
       bkv=st.integers(1, 20))
def test_chunked_key_blocks_reached_is_exact(w, first, nq, nkv, bkv):
    for expr in (f"causal&chunked({w})", f"chunked({w})|sinks(3)", f"chunked({w})&window(5,1)"):
        cols = mask_of(expr, nq, nkv, (1, 1))[min(first, nq):].any(axis=0)
        attended = int(np.add.reduceat(cols, np.arange(0, nkv, bkv)).astype(bool).sum())
        assert key_blocks_reached(parse_pattern(expr), nq, nkv, bkv, first) == attended, expr


# ---------------------------------------------------------------- topk(k) and budget(n)

def _brute_force_table(expr_candidates, expr_full, m, seed, nq, nkv, bq, bkv, causal):
    """The draw over candidates found from element masks: tiles where the candidates' mask has an element
    (and, for budget, where causal has one), less tiles ``expr_full`` attends whole."""
    from einsum_cascades.sparsity._select_kernels import draw

    def per_tile(a):
        return np.add.reduceat(np.add.reduceat(a.astype(np.int64), np.arange(0, nq, bq), axis=0),
                               np.arange(0, nkv, bkv), axis=1)

    cand = per_tile(mask_of(expr_candidates, nq, nkv, (bq, bkv)) & (mask_of("causal", nq, nkv, (1, 1)) | ~causal))
    area = per_tile(np.ones((nq, nkv), bool))
    full = per_tile(mask_of(expr_full, nq, nkv, (bq, bkv))) == area if expr_full else np.zeros_like(area, bool)
    rows = []
    table, marks, picks = np.empty(4 * cand.shape[1] + 2, np.int64), np.zeros(cand.shape[1], np.uint8), \
        np.empty(cand.shape[1], np.int64)
    for i in range(cand.shape[0]):
        cols = np.nonzero((cand[i] > 0) & ~full[i])[0]
        k = draw(i, len(cols), m, seed, table, marks, picks)
        rows.append(cols[picks[:k]].tolist())
    return rows


def _kept_rows(expr, nq, nkv, bq, bkv, index=0):
    from einsum_cascades.sparsity._select import tables

    row_ptr, cols = tables(parse_pattern(expr), nq, nkv, (bq, bkv))[index]
    return [cols[row_ptr[i]:row_ptr[i + 1]].tolist() for i in range(len(row_ptr) - 1)]


BASES = st.sampled_from(["causal", "full", "window(9)", "window(4,6)", "sinks(7)|causal&window(5)", "strided(6)",
                         "causal&strided(5)", "chunked(8)", "vertical_slash(3,2,place=even)", "random_blocks(0.5,1)",
                         "global(5)", "causal&vertical_slash(4,3,place=even)|sinks(2)"])
SIZES = dict(nq=st.integers(1, 70), nkv=st.integers(1, 70), bq=st.integers(1, 12), bkv=st.integers(1, 12))


@QUICK
@given(base=BASES, other=BASES, k=st.integers(1, 8), seed=st.integers(0, 3), **SIZES)
def test_topk_draws_exactly_k_among_the_tiles_it_is_intersected_with(base, other, k, seed, nq, nkv, bq, bkv):
    expr = f"({base})&topk({k},{seed})|({other})&causal"
    if not _selects(expr):  # the parse absorbed the selector (causal&topk | causal is causal): the same mask
        assert_lowering_exact(expr, nq, nkv, bq, bkv)
        return
    assert _kept_rows(expr, nq, nkv, bq, bkv) == _brute_force_table(base, None, k, seed, nq, nkv, bq, bkv, False)
    assert_lowering_exact(expr, nq, nkv, bq, bkv)


def _selects(expr) -> bool:
    return any(leaf.name in ("topk", "budget") for leaf in parse_pattern(expr).leaves())


@QUICK
@given(base=BASES, other=BASES, n=st.integers(1, 40), seed=st.integers(0, 3), **SIZES)
def test_budget_draws_its_blocks_among_those_the_rest_does_not_attend_whole(base, other, n, seed, nq, nkv, bq, bkv):
    expr = f"({other})|({base})&budget({n},{seed})"
    if not _selects(expr):  # full | A is full, causal | causal&B is causal: nothing left to draw, the same mask
        assert_lowering_exact(expr, nq, nkv, bq, bkv)
        return
    expected = _brute_force_table(base, other, -(-n // bkv), seed, nq, nkv, bq, bkv, True)
    assert _kept_rows(expr, nq, nkv, bq, bkv) == expected
    assert_lowering_exact(expr, nq, nkv, bq, bkv)


@QUICK
@given(other=BASES, k=st.integers(1, 5), n=st.integers(1, 30), **SIZES)
def test_budget_after_topk_and_a_topk_over_a_union(other, k, n, nq, nkv, bq, bkv):
    """The budget's draw leaves out what a topk of the expression already keeps whole; a topk intersected with
    a union draws once over the union."""
    assert_lowering_exact(f"causal&topk({k})|({other})&budget({n},2)", nq, nkv, bq, bkv)
    assert_lowering_exact(f"(sinks(3)|({other}))&topk({k},1)", nq, nkv, bq, bkv)
    kept = _kept_rows(f"(sinks(3)|({other}))&topk({k},1)", nq, nkv, bq, bkv)
    assert kept == _brute_force_table(f"sinks(3)|({other})", None, k, 1, nq, nkv, bq, bkv, False)


@QUICK
@given(base=BASES, other=BASES, k=st.integers(1, 5), first=st.integers(0, 70), **SIZES)
def test_key_blocks_reached_bounds_what_selectors_keep(base, other, k, first, nq, nkv, bq, bkv):
    for expr in (f"({base})&topk({k})|({other})&causal", f"({other})|({base})&budget({k * 3})"):
        cols = mask_of(expr, nq, nkv, (bq, bkv))[min(first, nq):].any(axis=0)
        attended = int(np.add.reduceat(cols, np.arange(0, nkv, bkv)).astype(bool).sum())
        assert key_blocks_reached(parse_pattern(expr), nq, nkv, bkv, first) >= attended, expr


def test_topk_keeps_k_tiles_per_row_in_closed_form():
    """causal&topk(k) at n / b block rows: row i has i + 1 candidates (i full, the diagonal partial)."""
    n, b, k = 1 << 16, 128, 8
    tc = tile_counts(parse_pattern(f"causal&topk({k})"), n, n, b, b)
    visited = tc.row_full + tc.row_partial
    assert visited.tolist() == [min(k, i + 1) for i in range(n // b)]
    assert tc.partial <= n // b and tc.full + tc.partial == sum(min(k, i + 1) for i in range(n // b))


def test_topk_is_deterministic_and_the_seed_moves_it():
    n, b = 8192, 128
    first = tile_states(parse_pattern("causal&topk(4,7)"), n, n, b, b)
    assert (tile_states(parse_pattern("causal&topk(4,7)"), n, n, b, b) == first).all()
    assert not (tile_states(parse_pattern("causal&topk(4,8)"), n, n, b, b) == first).all()
    assert (tile_states(parse_pattern("causal&topk(4)"), n, n, b, b) ==
            tile_states(parse_pattern("causal&topk(4,0)"), n, n, b, b)).all()


def test_topk_draw_is_uniform_over_the_candidates():
    """Over many rows with the same candidates, every candidate block is kept about k / n of the time."""
    nq, nkv, b, k = 1 << 16, 1024, 64, 4
    states = tile_states(parse_pattern(f"topk({k},5)"), nq, nkv, b, b)
    share = (states > 0).mean(axis=0)  # 16 key blocks, 1024 rows
    assert abs(share.mean() - k / 16) < 1e-12 and np.abs(share - k / 16).max() < 0.05


def test_decode_budget_reads_sinks_window_and_n_more_keys():
    kv, b = 1 << 17, 128
    p = parse_pattern("sinks(128)|window(1k)|budget(4k)")
    tc = tile_counts(p, 1, kv, 1, b)
    assert (tc.full, tc.partial) == (1 + 1024 // b + 4096 // b, 0)
    assert element_density(p, 1, kv, (1, b)) * kv == 128 + 1024 + 4096
    assert tile_counts(parse_pattern("budget(1)"), 1, kv, 1, b).full == 1  # block-granular: one whole block


@pytest.mark.parametrize("text, needle", [
    ("topk(0)", "topk takes k >= 1"), ("budget(0)", "budget takes n >= 1"), ("topk(2,x)", "'x'"),
    ("chunked(0)", "chunked takes positive sizes"), ("chunked(-8)", "got -8"), ("window(-1,2)", "got -1, 2"),
    ("topk(1.5)", "topk takes k >= 1"), ("budget(2,-1)", "seed -1"),
])
def test_bad_arguments_are_one_line_errors(text, needle):
    with pytest.raises(PatternError) as err:
        parse_pattern(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("causal&topk(2)&topk(3)", "at most one topk or budget"), ("budget(8)|budget(9)", "one budget per expression"),
    ("topk(2)&budget(8)", "at most one topk or budget"), ("chunked(2)&chunked(3)", "one chunk width must divide"),
])
def test_selectors_and_chunks_that_cannot_combine_say_so(text, needle):
    with pytest.raises(PatternError, match=needle):
        tile_counts(parse_pattern(text), 64, 64, 8, 8)


# ---------------------------------------------------------------- the parse's algebra keeps every mask

_LEAVES = st.one_of(st.just(Pattern("causal")), st.just(Pattern("full")),
                    st.integers(1, 12).map(lambda w: Pattern("window", (w,))),
                    st.tuples(st.integers(0, 8), st.integers(0, 8)).map(lambda lr: Pattern("window", lr)),
                    st.integers(1, 6).map(lambda n: Pattern("sinks", (n,))),
                    st.integers(1, 6).map(lambda n: Pattern("global", (n,))),
                    st.integers(2, 6).map(lambda s: Pattern("strided", (s,))),
                    st.integers(2, 9).map(lambda w: Pattern("chunked", (w,))))
_TREES = st.recursive(_LEAVES, lambda inner: st.tuples(st.sampled_from("&|"), inner, inner).map(
    lambda t: Pattern(t[0], parts=(t[1], t[2]))), max_leaves=7)


@QUICK
@given(tree=_TREES, nq=st.integers(1, 30), shift=st.integers(0, 20))
def test_the_parse_writes_an_expression_as_the_same_mask(tree, nq, shift):
    """full as the unit of & and zero of |, window unions and intersections, absorption and factoring rewrite the
    expression the user wrote (``Pattern.__and__`` / ``__or__``): the mask, element by element, stays the one the
    tree as written holds (``tree`` is built without the rewrites), at queries fewer or more than the keys."""
    nkv = nq + shift
    q, k = np.arange(nq)[:, None], np.arange(nkv)[None, :]
    written = tree._mask(q, k, nq, nkv, (4, 4), iter(()))
    parsed = parse_pattern(str(tree))
    assert (parsed.mask(q, k, nq, nkv, (4, 4)) == written).all(), (str(tree), str(parsed))
