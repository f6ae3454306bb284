"""Sparsity patterns: what each primitive attends, the expression parser, and fitting a size to a sparsity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades.errors import UserError
from einsum_cascades.sparsity import PATTERN_NAMES, Pattern, PatternError, fit_pattern, parse_pattern, tile_counts


def keys_of(expr, q, seq_len, kv_len, block=(128, 128)):
    """The keys query q attends."""
    row = parse_pattern(expr).mask(np.array([q]), np.arange(kv_len), seq_len, kv_len, block)
    return np.nonzero(row)[0].tolist()


def test_causal_is_bottom_right_aligned():
    assert keys_of("causal", 2, 4, 4) == [0, 1, 2]  # square: k <= q
    assert keys_of("causal", 0, 1, 10) == list(range(10))  # decode: the one query sees every key
    assert keys_of("causal", 0, 2, 5) == [0, 1, 2, 3]  # 2 queries over 5 keys: the first sits on key 3


def test_window_looks_back_w_keys_including_the_diagonal_and_is_causal():
    assert keys_of("window(3)", 5, 8, 8) == [3, 4, 5]
    assert keys_of("window(3)", 0, 1, 8) == [5, 6, 7]  # decode: the last 3 keys
    assert keys_of("causal&window(3)", 5, 8, 8) == keys_of("window(3)", 5, 8, 8)


def test_sinks_global_and_strided():
    assert keys_of("sinks(2)", 6, 8, 8) == [0, 1]
    assert keys_of("global(2)", 1, 8, 8) == list(range(8)) and keys_of("global(2)", 6, 8, 8) == [0, 1]
    assert keys_of("strided(3)", 7, 10, 10) == [1, 4, 7]  # back = 7 - k on both sides of the diagonal... below k=7
    assert keys_of("strided(3)", 1, 10, 10) == [1, 4, 7]  # ... and above it


def test_vertical_slash_place_even_spreads_columns_and_diagonals_evenly():
    # 16 keys, 4 columns every 16 // 4 = 4 keys; 2 diagonals every 16 // 2 = 8 queries behind the diagonal
    assert keys_of("vertical_slash(4,2,place=even)", 10, 16, 16) == [0, 2, 4, 8, 10, 12]
    assert keys_of("causal&vertical_slash(4,2,place=even)", 1, 16, 16) == [0, 1]


def test_dense_is_full():
    assert parse_pattern("dense") == parse_pattern("full") == Pattern("full")
    assert keys_of("dense", 3, 4, 6) == list(range(6))


def test_random_blocks_are_bound_to_a_block_shape():
    wide = keys_of("random_blocks(0.5,1)", 0, 8, 1024, block=(8, 256))
    assert len(wide) % 256 == 0 and all(k % 256 == 0 for k in wide[::256])  # whole 256-key blocks kept or dropped


def test_sizes_take_suffixes_and_str_round_trips():
    p = parse_pattern("causal & window(4k) | sinks(128)")
    assert str(p) == "causal&window(4k)|sinks(128)"
    assert str(parse_pattern("(sinks(1m)|global(3))&random_blocks(0.25,1024)")) == \
        "(sinks(1m)|global(3))&random_blocks(0.25,1024)"


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.sampled_from(["causal", "window(4096)", "sinks(7)", "strided(3)", "vertical_slash(2,5,place=even)",
                                     "random_blocks(0.5,3)", "global(1m)", "full", "window(3,0)", "chunked(8k)",
                                     "topk(8,3)", "budget(4k)", "window2d(64,64,7,7,stride=(2,3))",
                                     "window3d(4,8,8,3,3,3)"]),
                    lambda inner: st.builds("({}){}({})".format, inner, st.sampled_from("&|"), inner), max_leaves=6))
def test_canonical_text_parses_back_to_the_same_pattern(expr):
    p = parse_pattern(expr)
    assert parse_pattern(str(p)) == p


def test_combinators_build_the_same_tree_as_the_parser():
    causal, window, sinks = parse_pattern("causal"), parse_pattern("window(4k)"), parse_pattern("sinks(128)")
    assert causal & window | sinks == parse_pattern("causal&window(4k)|sinks(128)")
    assert causal & (window | sinks) == parse_pattern("causal&(window(4k)|sinks(128))")


@pytest.mark.parametrize("text, needle", [
    ("", "empty"), ("causal&", "ends early"), ("window(", "ends early"), ("window(4k", "ends early"),
    ("windw(3)", "'windw' at column 1"), ("causal|(sinks(3)", "ends early"), ("strided(x)", "'x' at column 9"),
    ("random_blocks(2)", "density 2"), ("window(1,2,3)", "takes 1 or 2 argument"), ("causal$", "'$' at column 7"),
    ("causal sinks(3)", "'sinks' at column 8"), ("window(0)", "takes positive sizes"), ("random_blocks(0.5,x)", "'x'"),
])
def test_bad_expressions_name_the_bad_token(text, needle):
    with pytest.raises(PatternError, match=None) as err:
        parse_pattern(text)
    message = str(err.value)
    assert needle in message and "\n" not in message
    if needle not in ("density 2", "takes 1 or 2 argument", "takes positive sizes"):
        assert all(name in message for name in PATTERN_NAMES)  # says what is allowed


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="causlwindow()&|,0123456789km sinkstrd_gb.e-", max_size=40))
def test_parser_fuzz_only_ever_raises_user_errors(text):
    try:
        parse_pattern(text)
    except UserError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="window2d3()=,stride0123456789 topkbudgetchunked&|-", max_size=50))
def test_parser_fuzz_on_the_new_syntax_only_ever_raises_user_errors(text):
    try:
        parse_pattern(text)
    except UserError:
        pass


@pytest.mark.parametrize("text, sparsity", [("causal&window(1k)", 0.9), ("window(1k)|sinks(64)", 0.95),
                                            ("random_blocks(0.5)", 0.8), ("strided(8)", 0.5),
                                            ("causal&topk(8)", 0.9), ("window(100,100)", 0.9),
                                            ("causal&chunked(1k)", 0.95)])
def test_fit_pattern_reaches_the_target_block_sparsity(text, sparsity):
    n, b = 32768, 128
    p, tc = fit_pattern(text, sparsity, n, n, b, b)
    assert tc == tile_counts(p, n, n, b, b)
    assert abs((1 - tc.block_density) - sparsity) < 0.01, (p, tc.block_density)


def test_fit_pattern_keeps_seeds_grids_and_zero_sides():
    assert str(fit_pattern("causal&topk(8,5)", 0.9, 32768, 32768, 128, 128)[0]).endswith(",5)")
    assert str(fit_pattern("window(100,0)", 0.9, 32768, 32768, 128, 128)[0]).endswith(",0)")
    grid = fit_pattern("window2d(128,256,7,7,stride=(7,7))", 0.9, 32768, 32768, 128, 128)[0]
    assert grid.args[:2] == (128, 256) and all(s <= k for s, k in zip(grid.args[4:], grid.args[2:4]))
    square, tc = fit_pattern("window2d(128,256,7,7)", 0.9, 32768, 32768, 128, 128)  # the closest square kernel
    best = min(abs(0.1 - tile_counts(parse_pattern(f"window2d(128,256,{k},{k})"), 32768, 32768, 128, 128)
                   .block_density) for k in range(1, 129))
    assert abs(0.1 - tc.block_density) == best and square.args[2] == square.args[3]


def test_fit_pattern_scales_every_size_together_but_the_anchor_tokens():
    """One factor scales every size but sink and global token counts, which a method fixes beside the window it
    sizes (StreamingLLM's sinks; --method streamingllm --sparsity 0.9 had solved to sinks(13)); alone, they scale."""
    p, _ = fit_pattern("causal&window(1k)|sinks(64)|strided(512)", 0.9, 32768, 32768, 128, 128)
    window, sinks, strided = p.parts[0].parts[0].parts[1].args[0], p.parts[0].parts[1].args[0], p.parts[1].args[0]
    assert sinks == 64 and window / 1024 == pytest.approx(512 / strided, rel=0.05)
    alone, _ = fit_pattern("sinks(64)", 0.5, 32768, 32768, 128, 128)
    assert alone.name == "sinks" and alone.args[0] > 64


def test_fit_pattern_says_what_is_reachable():
    with pytest.raises(UserError, match=r"ranges over \[0\.4844, 0\.9688\]"):  # sinks add nothing below causal
        fit_pattern("causal&sinks(10)", 0.1, 4096, 4096, 128, 128)
    with pytest.raises(UserError, match="no size"):
        fit_pattern("causal", 0.5, 4096, 4096, 128, 128)


def test_global_positions_align_as_causal_does():
    """global(n): the first n positions attend everything and are attended by all; with fewer queries than keys the
    queries are the last positions (as causal aligns them), so a one-query decode over 8k keys is no global query: it
    keeps the first 64 keys, as sinks(64) does (it kept every key, the query taken as position 0). Prefill (queries =
    keys) is unchanged, and the element mask (the oracle) and the tile lowering agree."""
    import numpy as np

    from einsum_cascades.sparsity import brute_force_counts, parse_pattern, tile_counts
    from simulator import simulate

    rows = [simulate("h100", "flash-decoding", heads=8, seq_len=1, kv_len=8192, pattern=p) for p in ("global(64)",
                                                                                                   "sinks(64)")]
    assert rows[0]["block_density"] == rows[1]["block_density"] < 0.02 and rows[0]["flops"] == rows[1]["flops"]
    p = parse_pattern("global(100)|window(256)")
    for nq, nkv in ((1, 4096), (300, 4096), (4096, 4096), (130, 200)):
        fast, brute = tile_counts(p, nq, nkv, 64, 64), brute_force_counts(p, nq, nkv, 64, 64)
        assert np.array_equal(np.asarray(fast.row_full), np.asarray(brute.row_full))
        assert np.array_equal(np.asarray(fast.row_partial), np.asarray(brute.row_partial))
    mask = p.mask(np.arange(300)[:, None], np.arange(4096)[None, :], 300, 4096, (64, 64))
    assert not mask[:, 100:3541].any() and mask[:, :100].all()  # no query of the last 300 positions is global
