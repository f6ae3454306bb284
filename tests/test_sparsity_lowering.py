"""The fast lowering (closed-form runs + numba) equals brute force: the whole element mask reduced per tile."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import (brute_force_counts, element_density, key_blocks_reached,
                                      last_key_block_reached, parse_pattern, tile_counts, tile_states)
from einsum_cascades.sparsity._vslash import resolve as vslash_call

# Sizes are drawn small so that every kernel path (interior runs, edges, sparse hits, coins, settling
# by elements, ragged last tiles) shows up inside 80 x 80 masks.
PRIMITIVES = st.one_of(
    st.sampled_from(["causal", "full", "dense"]),
    st.builds("window({})".format, st.integers(1, 50)),
    st.builds("window({},{})".format, st.integers(0, 40), st.integers(0, 40)),
    st.builds("chunked({})".format, st.sampled_from([1, 2, 4, 8, 16, 32])),  # nested widths: chunked(a)&chunked(b)
    st.builds("sinks({})".format, st.integers(1, 30)),
    st.builds("global({})".format, st.integers(1, 30)),
    st.builds("strided({})".format, st.integers(1, 40)),
    st.builds("vertical_slash({},{},place=even)".format, st.integers(1, 12), st.integers(1, 12)),
    st.builds("random_blocks({},{})".format, st.sampled_from([0.2, 0.5, 0.9, 1.0]), st.integers(0, 3)),
)


def expressions(depth=3):
    return st.recursive(PRIMITIVES, lambda inner: st.builds("({}){}({})".format, inner, st.sampled_from("&|"), inner),
                        max_leaves=2 ** depth)


SIZES = dict(nq=st.integers(1, 80), nkv=st.integers(1, 80), bq=st.integers(1, 24), bkv=st.integers(1, 24))
QUICK = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mask_of(p, nq, nkv, block):
    return p.mask(np.arange(nq)[:, None], np.arange(nkv)[None, :], nq, nkv, block)


@QUICK
@given(expr=expressions(), **SIZES)
def test_tile_counts_equal_brute_force(expr, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    fast, slow = tile_counts(p, nq, nkv, bq, bkv), brute_force_counts(p, nq, nkv, bq, bkv)
    assert fast.row_full.tolist() == slow.row_full.tolist(), expr
    assert fast.row_partial.tolist() == slow.row_partial.tolist(), expr
    assert fast.total == fast.n_q_blocks * fast.n_kv_blocks
    # a row's empty tiles are those it leaves out: none where it runs more than it has (vertical_slash's
    # unaligned blocks and strips), so the three add up to the grid unless some row over-runs
    run = fast.row_full + fast.row_partial
    assert fast.empty == int(np.maximum(fast.n_kv_blocks - run, 0).sum())
    assert fast.full + fast.partial + fast.empty == int(np.maximum(run, fast.n_kv_blocks).sum())
    if "vertical_slash" not in expr:
        assert fast.full + fast.partial + fast.empty == fast.total


@QUICK
@given(expr=expressions(), **SIZES)
def test_element_density_is_exact(expr, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    assert element_density(p, nq, nkv, (bq, bkv)) == mask_of(p, nq, nkv, (bq, bkv)).mean(), expr


BOXES = st.one_of(st.sampled_from(["causal", "full"]), st.builds("window({})".format, st.integers(1, 300)),
                  st.builds("window({},{})".format, st.integers(0, 300), st.integers(0, 300)),
                  st.builds("sinks({})".format, st.integers(1, 200)),
                  st.builds("global({})".format, st.integers(1, 200)))


@QUICK
@given(expr=st.recursive(BOXES, lambda inner: st.builds("({}){}({})".format, inner, st.sampled_from("&|"), inner),
                         max_leaves=8), nq=st.integers(1, 300), nkv=st.integers(1, 300))
def test_element_density_of_boxes_alone_is_exact(expr, nq, nkv):
    """Boxes alone are summed over all rows at once, piece by piece where a row's count is linear."""
    p = parse_pattern(expr)
    assert element_density(p, nq, nkv) == mask_of(p, nq, nkv, (128, 128)).mean(), expr


@QUICK
@given(expr=expressions(), first=st.integers(0, 80), **SIZES)
def test_key_blocks_reached_bounds_the_attended_columns(expr, first, nq, nkv, bq, bkv):
    """Exact for boxes alone; with periodic sets or coins an upper bound (never fewer than attended)."""
    p = parse_pattern(expr)
    cols = mask_of(p, nq, nkv, (bq, bkv))[min(first, nq):].any(axis=0)
    attended = int(np.add.reduceat(cols, np.arange(0, nkv, bkv)).astype(bool).sum())
    reached = key_blocks_reached(p, nq, nkv, bkv, first)
    boxes_only = not any(name in expr for name in ("strided", "vertical_slash", "random_blocks"))
    assert reached == attended if boxes_only else reached >= attended, expr


@QUICK
@given(expr=expressions(), **SIZES)
def test_last_key_block_reached_matches_the_attended_columns(expr, nq, nkv, bq, bkv):
    """Whether some query attends a key of the last key block: exact for boxes alone; with periodic sets or coins
    never False where one does; None only for vertical-slash, whose reach is not worked out per block."""
    p = parse_pattern(expr)
    reached = last_key_block_reached(p, nq, nkv, bkv)
    if vslash_call(p) is not None:
        return
    attended = bool(mask_of(p, nq, nkv, (bq, bkv))[:, (nkv - 1) // bkv * bkv:].any())
    boxes_only = not any(name in expr for name in ("strided", "vertical_slash", "random_blocks"))
    assert reached == attended if boxes_only else reached or not attended, expr


@settings(max_examples=80, deadline=None)
@given(expr=expressions(), pool=st.integers(1, 4), **SIZES)
def test_tile_states_equal_brute_force_pooled_by_max(expr, pool, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    assume(vslash_call(p) is None)  # causal&vertical_slash alone shows its kernel's blocks (test_sparsity_vslash)
    m = mask_of(p, nq, nkv, (bq, bkv))
    rows, cols = np.arange(0, nq, bq), np.arange(0, nkv, bkv)
    true = np.add.reduceat(np.add.reduceat(m.astype(int), rows, axis=0), cols, axis=1)
    area = np.add.reduceat(np.add.reduceat(np.ones_like(m, int), rows, axis=0), cols, axis=1)
    tiles = np.where(true == area, 2, np.where(true > 0, 1, 0))
    pad = np.zeros((-(-tiles.shape[0] // pool) * pool, -(-tiles.shape[1] // pool) * pool), int)
    pad[:tiles.shape[0], :tiles.shape[1]] = tiles
    expected = pad.reshape(pad.shape[0] // pool, pool, -1, pool).max(axis=(1, 3))
    assert (tile_states(p, nq, nkv, bq, bkv, pool) == expected).all(), expr


@pytest.mark.parametrize("expr", [
    "causal&window(100)|sinks(40)", "strided(64)", "strided(200)", "causal&strided(7)|window(33)",
    "causal&vertical_slash(8,4)", "vertical_slash(3,50,place=even)|global(20)",
    "strided(2)|vertical_slash(16,16,place=even)", "strided(3)&vertical_slash(40,1,place=even)",
    "random_blocks(0.3)&causal|sinks(50)", "random_blocks(0.5)&strided(9)", "causal&vertical_slash(30,200)",
    "(window(64)|strided(128))&(sinks(100)|causal)", "strided(1m)", "vertical_slash(1m,1m,place=even)",
    "causal&chunked(100)|sinks(30)", "chunked(7)&strided(3)", "window(90,40)|random_blocks(0.2)", "chunked(3)",
])
@pytest.mark.parametrize("nq, nkv, bq, bkv", [(700, 700, 64, 64), (300, 1000, 32, 48), (513, 257, 128, 16)])
def test_medium_sizes_equal_brute_force(expr, nq, nkv, bq, bkv):
    p = parse_pattern(expr)
    fast, slow = tile_counts(p, nq, nkv, bq, bkv), brute_force_counts(p, nq, nkv, bq, bkv)
    assert (fast.row_full == slow.row_full).all() and (fast.row_partial == slow.row_partial).all()
    assert element_density(p, nq, nkv, (bq, bkv)) == mask_of(p, nq, nkv, (bq, bkv)).mean()


def test_random_blocks_flip_one_coin_per_lowered_tile():
    """The block of random_blocks is the tile it is lowered at: kept tiles are whole, the rest empty."""
    p = parse_pattern("random_blocks(0.25,7)")
    for bq, bkv in [(64, 64), (128, 32)]:
        tc = tile_counts(p, 1024, 1024, bq, bkv)
        assert tc.partial == 0 and 0.15 < tc.block_density < 0.35
        assert element_density(p, 1024, 1024, (bq, bkv)) == tc.full / tc.total
    assert tile_counts(p, 1024, 1024, 64, 64).row_full.tolist() != tile_counts(p, 1024, 1024, 128, 32).row_full.tolist()


N, B = 1 << 20, 64  # one million tokens, 64-wide tiles: 16384 x 16384 tiles
NB = N // B


def test_causal_at_one_million_tokens_in_closed_form():
    tc = tile_counts(parse_pattern("causal"), N, N, B, B)
    assert (tc.full, tc.partial) == (NB * (NB - 1) // 2, NB)  # below the diagonal; the diagonal itself
    assert element_density(parse_pattern("causal"), N, N) == (N * (N + 1) // 2) / N ** 2


def test_window_and_sinks_at_one_million_tokens_in_closed_form():
    w, n = 4096, 128
    tc = tile_counts(parse_pattern("causal&window(4k)|sinks(128)"), N, N, B, B)
    band = w // B  # tiles a window row spans past its first rows: the diagonal tile, w/B - 1 full, one partial
    assert tc.row_full[-1] == (band - 1) + n // B and tc.row_partial[-1] == 2
    q = np.arange(N)
    band_lo = np.maximum(0, q - w + 1)  # row q's window is keys band_lo..q
    sinks_in_band = np.maximum(0, np.minimum(n - 1, q) - band_lo + 1)
    attended = (q - band_lo + 1).sum() + (n - sinks_in_band).sum()
    assert element_density(parse_pattern("causal&window(4k)|sinks(128)"), N, N) == attended / N ** 2


def test_strided_at_one_million_tokens_hits_every_tile():
    tc = tile_counts(parse_pattern("strided(64)"), N, N, B, B)
    assert tc.partial == NB * NB  # 127 diagonals cross a 64x64 tile: one is on the stride, none covers it
    assert element_density(parse_pattern("strided(64)"), N, N) == 1 / 64  # N keys per row, every 64th


def test_decode_attends_every_key_causally():
    tc = tile_counts(parse_pattern("causal"), 1, N, 1, B)
    assert (tc.full, tc.partial, tc.empty) == (NB, 0, 0)


def test_numba_cache_is_dropped_when_any_jitted_source_changes(tmp_path):
    """numba checks only a function's own file; an edit to a module compiled into it must drop the cache."""
    from einsum_cascades.sparsity._numba_cache import drop_stale_cache

    for m in ("_kernels", "_row_count", "_tile_state"):
        (tmp_path / f"{m}.py").write_text(f"# {m}\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    entries = [cache / "_kernels.lower-439.py311.nbi", cache / "_kernels.lower-439.py311.1.nbc"]
    for f in entries:
        f.write_text("compiled")
    assert drop_stale_cache(tmp_path)  # first sight: no stamp yet
    for f in entries:
        f.write_text("compiled")
    assert not drop_stale_cache(tmp_path) and all(f.exists() for f in entries)  # sources unchanged: kept
    (tmp_path / "_row_count.py").write_text("# edited\n")  # a callee, not _kernels itself
    assert drop_stale_cache(tmp_path) and not any(f.exists() for f in entries)


def test_kernels_count_as_compiled_only_with_a_fresh_stamp_and_an_index(tmp_path):
    """``kernels_compiled`` (which lets a process keep to numpy longer while numba has compiled nothing) says yes
    only when the stamp matches the sources and numba has written the lowering kernel's index."""
    from einsum_cascades.sparsity._numba_cache import drop_stale_cache, kernels_compiled

    (tmp_path / "_kernels.py").write_text("# kernels\n")
    assert not kernels_compiled(tmp_path)  # no cache at all
    drop_stale_cache(tmp_path)  # writes the stamp
    assert not kernels_compiled(tmp_path)  # stamp, but nothing compiled
    (tmp_path / "__pycache__" / "_kernels.lower-214.py311.nbi").write_text("index")
    assert kernels_compiled(tmp_path)
    (tmp_path / "_kernels.py").write_text("# edited\n")
    assert not kernels_compiled(tmp_path)  # the sources moved on: the cache is stale
