"""vertical_slash as MInference places its lines and as its kernel runs it (einsum_cascades.sparsity._vslash).

What is proved: the clustered placement's closed form (forced lines, one line per doubling ratio, the far end
reached); the fast index (chains counted once) equals the kernel's own loop row by row; the element count equals
the mask; a million tokens are no longer lowered dense; bad placements are refused with the allowed ones.
"""

import math
import sys
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import element_density, parse_pattern, tile_counts
from einsum_cascades.sparsity import _vslash as vs
from einsum_cascades.sparsity import _vslash_rows as vslash_rows
from einsum_cascades.sparsity._lowering import brute_force_counts, kernels


def test_log_placement_forces_the_first_lines_then_spreads_geometrically():
    cols = vs.columns(1000, 1 << 20, "log")
    assert cols[:vs.FORCED_COLUMNS].tolist() == list(range(vs.FORCED_COLUMNS))  # the estimate's forced columns
    assert cols[-1] == (1 << 20) - 1 and np.all(np.diff(cols) > 0)  # distinct, the last at the far end
    length, count, f = 1 << 20, 1000, vs.FORCED_COLUMNS
    for j in (f, 500, count - 1):  # p_j = j + floor((L - count + 1) ** ((j - f + 1) / (count - f))) - 1
        assert cols[j] == j + math.floor((length - count + 1) ** ((j - f + 1) / (count - f))) - 1
    # about equal numbers of lines per doubling of distance (density ~ 1 / distance) far from the start
    per_octave = (count - f) * math.log(2) / math.log(length - count + 1)
    for k in range(14, 19):
        assert abs(np.sum((cols >= 1 << k) & (cols < 1 << (k + 1))) - per_octave) <= 2
    assert vs.diagonals(6096, 1 << 20, 1 << 20, "log")[:vs.FORCED_DIAGONALS].tolist() == list(range(100))


def test_even_placement_is_the_uniform_pattern():
    assert vs.columns(4, 16, "even").tolist() == [0, 4, 8, 12]
    assert vs.diagonals(2, 16, 16, "even").tolist() == [0, 8]


def test_one_diagonal_row_by_row_in_closed_form():
    """Only the main diagonal and columns 0..9: every 64-row block keeps its diagonal block [e - 64, e) and the
    columns before it (a row ending at 64 has them all inside its block)."""
    x, v = np.array([0]), np.arange(10)
    ranges = np.zeros((2, 2), np.int64)
    for e in (64, 128, 640):
        r, kept = kernels("vslash_kernels").row_index(x, v, e, 64, 64, ranges)
        assert (r, ranges[0].tolist(), kept) == (1, [e - 64, e], 0 if e == 64 else 10)


@settings(max_examples=60, deadline=None)
@given(nq=st.integers(1, 2500), extra=st.integers(0, 300), v=st.integers(1, 150), s=st.integers(1, 300),
       place=st.sampled_from(vs.PLACES), m=st.sampled_from([16, 32, 64, 128]), n=st.sampled_from([16, 64, 128]))
def test_fast_index_equals_the_kernels_loop_row_by_row(nq, extra, v, s, place, m, n):
    call = vs.VSlash(v, s, place)
    fast, slow = vs.index_counts(call, nq, nq + extra, m, n), vs.brute_force_rows(call, nq, nq + extra, m, n)
    assert (fast[0] == slow[0]).all() and (fast[1] == slow[1]).all()


@settings(max_examples=120, deadline=None)
@given(nq=st.integers(1, 2500), extra=st.integers(0, 300), v=st.integers(1, 150), s=st.integers(1, 300),
       place=st.sampled_from(vs.PLACES), m=st.sampled_from([16, 32, 64, 128]), n=st.sampled_from([16, 64, 128]))
def test_the_numpy_index_is_the_kernels_row_by_row(nq, extra, v, s, place, m, n):
    """Before numba's kernels are loaded the index is counted by ``_vslash_rows`` (chains in Python, rows in
    lockstep): the same blocks and columns as the kernel's own loop, and the same chain ranges as its kernel."""
    call = vs.VSlash(v, s, place)
    with pytest.MonkeyPatch.context() as mp:
        mp.delitem(sys.modules, vs.VSLASH_KERNELS, raising=False)
        vs._chains.cache_clear()
        fast = vs.index_counts(call, nq, nq + extra, m, n)
        cols, x, chain_of, chain_start, *_ = vs._chains(call, nq, nq + extra, m, n)
        assert vs._index_code(x, chain_start, math.ceil(nq / m)) is vslash_rows
        vs._chains.cache_clear()
    slow = vs.brute_force_rows(call, nq, nq + extra, m, n)
    assert (fast[0] == slow[0]).all() and (fast[1] == slow[1]).all()
    ours = vslash_rows.chain_ranges(x, chain_start, m, n, nq + extra + 2 * m)
    theirs = kernels("vslash_kernels").chain_ranges(x, chain_start, m, n, nq + extra + 2 * m)
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs))


@settings(max_examples=40, deadline=None)
@given(nq=st.integers(1, 400), extra=st.integers(0, 60), v=st.integers(1, 40), s=st.integers(1, 60),
       place=st.sampled_from(vs.PLACES))
def test_element_density_counts_the_mask(nq, extra, v, s, place):
    p = parse_pattern(f"causal&vertical_slash({v},{s},place={place})")
    mask = p.mask(np.arange(nq)[:, None], np.arange(nq + extra)[None, :], nq, nq + extra)
    assert element_density(p, nq, nq + extra) * nq * (nq + extra) == pytest.approx(mask.sum(), abs=1e-6)


def test_tiles_are_blocks_and_strips_the_masked_ones_partial():
    p = parse_pattern("causal&vertical_slash(100,40)")
    tc, ref = tile_counts(p, 4096, 4096, 64, 64), brute_force_counts(p, 4096, 4096, 64, 64)
    assert (tc.row_full == ref.row_full).all() and (tc.row_partial == ref.row_partial).all()
    blocks, cols = vs.index_counts(vs.VSlash(100, 40, "log"), 4096, 4096, 64, 64)
    strips = -(-cols // 64)
    assert (tc.row_full + tc.row_partial == blocks + strips).all()
    assert (tc.row_partial <= 2 * vs.masking_steps(64, 64)).all()  # ceil(64 / 64) + 1 blocks and strips


def test_a_million_tokens_are_not_dense_and_lower_fast():
    p = parse_pattern("causal&vertical_slash(1000,6096)")  # MInference's default sizes (minference_forward.py)
    n = 1 << 20
    tile_counts(p, 1 << 16, 1 << 16, 64, 64)  # compile
    start = time.perf_counter()
    tc = tile_counts(p, n, n, 64, 64)
    assert time.perf_counter() - start < 0.5
    causal = 0.5 * (1 + 64 / n)
    assert tc.block_density < 0.5 * causal  # clustered lines: most blocks of a causal row skipped
    even = tile_counts(parse_pattern("causal&vertical_slash(1000,6096,place=even)"), n, n, 64, 64)
    assert tc.block_density < even.block_density  # evenly spread slashes each take their own block
    assert math.isclose(element_density(p, n, n) * n * n, vs.element_count(vs.VSlash(1000, 6096, "log"), n, n))


@pytest.mark.parametrize("expr, match", [
    ("vertical_slash(4,2,place=wide)", "place=log or place=even"),
    ("causal&vertical_slash(4,2)|sinks(4)", "causal&vertical_slash\\(v,s\\) alone"),
    ("vertical_slash(4,2)", "causal&vertical_slash\\(v,s\\) alone"),
])
def test_bad_placements_and_combinations_are_refused(expr, match):
    with pytest.raises(UserError, match=match):
        tile_counts(parse_pattern(expr), 256, 256, 64, 64)


def test_text_round_trips_with_the_placement():
    for text in ("causal&vertical_slash(1k,6k)", "vertical_slash(4,2,place=even)|sinks(4)"):
        assert str(parse_pattern(text)) == text
        assert parse_pattern(str(parse_pattern(text))) == parse_pattern(text)


def test_a_distance_map_past_a_gibibyte_is_refused():
    """The chains' map holds one int32 per key distance: 512m keys (2 GiB) are refused before it is allocated."""
    with pytest.raises(UserError, match="268,435,456"):
        tile_counts(parse_pattern("causal&vertical_slash(1,1)"), 1 << 29, 1 << 29, 64, 64)


def test_a_row_running_more_tiles_than_it_has_counts_none_empty_and_says_so():
    """MInference's kernel starts its blocks where slash ranges start (unaligned) and adds gathered column strips,
    so a row may run more tiles than it has: until 2026-12-07 such a row counted negative empty tiles and
    `pattern show` printed "empty tiles -1 (-0.39%)" and "sparsity -0.0039". (The example changed when the ranges
    were cut at the last key, as vLLM's index cuts them: one query over 32k keys no longer runs more.)"""
    import json

    from click.testing import CliRunner

    from cli.main import cli

    p = parse_pattern("causal&vertical_slash(2048,255)")
    tc = tile_counts(p, 1, 4096, 128, 128)
    assert tc.full + tc.partial > tc.total and tc.empty == 0
    result = CliRunner().invoke(cli, ["pattern", "show", str(p), "--seq-len", "1", "--kv-len", "4k"])
    assert result.exit_code == 0 and "-0." not in result.output and "more than the grid" in result.output
    data = json.loads(CliRunner().invoke(cli, ["pattern", "show", str(p), "--seq-len", "1", "--kv-len", "4k",
                                               "--json"]).output)
    assert data["empty_blocks"] == 0 and data["block_density"] > 1


def test_even_lines_past_the_length_are_never_drawn():
    """A sparsity target scales a vertical-slash's counts up to 2**20 times; place=even drew every scaled position
    before keeping those under the length (16,384 slashes: 2**34 int64, a MemoryError traceback from the CLI), and
    the scaled counts now stop at the keys, so the pattern reaches its target."""
    from simulator import simulate

    assert vs._even(1 << 34, 1, 5000).size == 5000
    row = simulate(hw="gb300", seq_len=5000, pattern="vertical_slash(16,16384,place=even)", causal=True, sparsity=0.9)
    assert row["time_s"] > 0 and row["block_density"] <= 1


def test_ranges_stop_at_the_last_key():
    """vLLM's convert_vertical_slash_indexes cuts each range at kv_seqlen (save_blocks); MInference's own index,
    written for queries = keys, did not, so a one-query call over 32k keys at 128 x 128 had visited 257 tiles of
    256 (a fuzz audit: block density above 1 at fewer queries than a tile's rows)."""
    p = parse_pattern("causal&vertical_slash(1000,6096)")
    for args in ((1, 32768, 128, 128), (1, 32768, 64, 64), (5, 1024, 16, 128)):
        tc = tile_counts(p, *args)
        assert tc.full + tc.partial <= tc.total, args


def test_the_python_range_loop_is_the_kernels():
    """_vslash_rows.row_ranges (the last rows' ranges without numba) gives the kernel's own row_index ranges."""
    from einsum_cascades.sparsity._lowering import kernel

    rng = np.random.default_rng(1)
    for _ in range(100):
        kv = int(rng.integers(1, 3000))
        seq, m, n = int(rng.integers(1, kv + 1)), int(rng.choice([16, 64, 128])), int(rng.choice([16, 64, 128]))
        call = vs.VSlash(int(rng.integers(1, 300)), int(rng.integers(1, 500)), str(rng.choice(vs.PLACES)))
        cols, diags = call.lines(seq, kv)
        x = np.ascontiguousarray(diags[::-1])
        for e in (seq + kv - seq, (-(-seq // m)) * m + kv - seq):
            ranges = np.zeros((x.size + 1, 2), np.int64)
            r, _ = kernel("row_index", "vslash_kernels")(x, cols, e, m, n, ranges)
            assert [tuple(z) for z in ranges[:r].tolist()] == vslash_rows.row_ranges(x.tolist(), e, m)
