"""window2d / window3d: NATTEN's neighborhoods, lowered on grid patches, against brute force and closed forms."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from einsum_cascades.sparsity import (PatternError, brute_force_counts, element_density, key_blocks_reached,
                                      parse_pattern, tile_counts, tile_grid, tile_states)
from einsum_cascades.sparsity._grid import tile_shape, window_start

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def natten_win_start(index, window_left, window_right, stride, length):
    """A line-by-line port of NATTEN's reference ``get_win_start`` (non-causal branch), the C++ in
    csrc/include/natten/cuda/reference/mask.hpp."""
    leader = min((index // stride) * stride + (stride // 2), length - 1)
    return max(leader - window_left, 0) + ((leader + window_right >= length) * (length - window_right - leader - 1))


@given(length=st.integers(1, 60), data=st.data())
def test_window_start_is_natten_reference(length, data):
    kernel = data.draw(st.integers(1, length))
    stride = data.draw(st.integers(1, kernel))
    left, right = kernel // 2, kernel // 2 + kernel % 2 - 1  # get_window_left / get_window_right
    i = np.arange(length)
    assert window_start(i, length, kernel, stride).tolist() == \
        [natten_win_start(x, left, right, stride, length) for x in range(length)]


def grid_expr(grid, kernel, stride):
    name = "window2d" if len(grid) == 2 else "window3d"
    return f"{name}({','.join(map(str, grid + kernel))},stride=({','.join(map(str, stride))}))"


@st.composite
def grids(draw, rank=None):
    rank = rank or draw(st.sampled_from([2, 3]))
    grid = tuple(draw(st.integers(1, 12 if rank == 2 else 6)) for _ in range(rank))
    kernel = tuple(draw(st.integers(1, g)) for g in grid)
    stride = tuple(draw(st.integers(1, k)) for k in kernel)
    return grid, kernel, stride


@QUICK
@given(g=grids(), bq=st.sampled_from([1, 2, 4, 8, 12, 16, 32, 64, 128, 256]), bkv=st.sampled_from([1, 4, 8, 24, 64]))
def test_grid_tiles_equal_the_element_mask_reduced_over_patches(g, bq, bkv):
    expr = grid_expr(*g)
    p, n = parse_pattern(expr), math.prod(g[0])
    fast, slow = tile_counts(p, n, n, bq, bkv), brute_force_counts(p, n, n, bq, bkv)
    assert fast.row_full.tolist() == slow.row_full.tolist() and fast.row_partial.tolist() == slow.row_partial.tolist()
    assert fast.total == fast.n_q_blocks * fast.n_kv_blocks == fast.full + fast.partial + fast.empty
    assert (tile_states(p, n, n, bq, bkv) == 2).sum(axis=1).tolist() == slow.row_full.tolist()
    assert element_density(p, n, n, (bq, bkv)) == (p.mask(np.arange(n)[:, None], np.arange(n), n, n)).mean()


@QUICK
@given(g=grids(), data=st.data())
def test_stated_tile_shapes_lower_as_the_element_mask_reduced_over_their_patches(g, data):
    """Any q_tile / kv_tile a call states (NATTEN's q_tile_shape / kv_tile_shape): the closed forms on those patches
    equal the element mask reduced over them, padding included."""
    q_tile = tuple(data.draw(st.integers(1, n + 2)) for n in g[0])
    kv_tile = tuple(data.draw(st.integers(1, n + 2)) for n in g[0])
    tiles = f",q_tile=({','.join(map(str, q_tile))}),kv_tile=({','.join(map(str, kv_tile))}))"
    p, n = parse_pattern(grid_expr(*g)[:-1] + tiles), math.prod(g[0])
    bq, bkv = math.prod(q_tile), math.prod(kv_tile)
    fast, slow = tile_counts(p, n, n, bq, bkv), brute_force_counts(p, n, n, bq, bkv)
    assert (fast.layout.q_tile, fast.layout.kv_tile) == (q_tile, kv_tile)
    assert fast.row_full.tolist() == slow.row_full.tolist() and fast.row_partial.tolist() == slow.row_partial.tolist()


@QUICK
@given(g=grids(), bq=st.sampled_from([1, 4, 8, 16, 64]), bkv=st.sampled_from([1, 4, 8, 64]), pool=st.integers(2, 5))
def test_grid_tile_states_pool_by_max(g, bq, bkv, pool):
    p, n = parse_pattern(grid_expr(*g)), math.prod(g[0])
    full = tile_states(p, n, n, bq, bkv)
    rows, cols = -(-full.shape[0] // pool), -(-full.shape[1] // pool)
    padded = np.zeros((rows * pool, cols * pool), full.dtype)
    padded[:full.shape[0], :full.shape[1]] = full
    assert (tile_states(p, n, n, bq, bkv, pool) == padded.reshape(rows, pool, cols, pool).max(axis=(1, 3))).all()


@QUICK
@given(g=grids(), bq=st.sampled_from([1, 4, 8, 16, 64]), bkv=st.sampled_from([1, 4, 8, 64]), data=st.data())
def test_grid_key_blocks_reached_is_exact_in_tile_order(g, bq, bkv, data):
    """The query tiles from a point on in the kernel's order reach exactly the key tiles they attend."""
    p, n = parse_pattern(grid_expr(*g)), math.prod(g[0])
    n_q, n_kv, layout = tile_grid(p, n, n, bq, bkv)
    first = data.draw(st.integers(0, n_q))
    states = tile_states(p, n, n, bq, bkv)
    expected = int(states[first:].any(axis=0).sum())
    assert key_blocks_reached(p, n, n, bkv, first * math.prod(layout.q_tile), bq) == expected


@pytest.mark.parametrize("grid, kernel", [((32, 32), (7, 7)), ((64, 48), (13, 5)), ((8, 32, 32), (3, 7, 7))])
def test_every_query_sees_exactly_the_kernel_volume(grid, kernel):
    """The window shifts at the borders instead of shrinking: each row of the mask holds prod(kernel) keys."""
    p, n = parse_pattern(grid_expr(grid, kernel, (1,) * len(grid))), math.prod(grid)
    mask = p.mask(np.arange(n)[:, None], np.arange(n), n, n)
    assert (mask.sum(axis=1) == math.prod(kernel)).all()
    assert element_density(p, n, n) == math.prod(kernel) / n


def test_natten_query_sees_its_clamped_square():
    """window2d(5,5,3,3): the corner query (0, 0) sees rows 0-2 x cols 0-2, the centre (2, 2) rows 1-3 x cols 1-3."""
    p = parse_pattern("window2d(5,5,3,3)")
    row = lambda q: np.nonzero(p.mask(np.array([q]), np.arange(25), 25, 25))[0].tolist()  # noqa: E731
    assert row(0) == [0, 1, 2, 5, 6, 7, 10, 11, 12]
    assert row(12) == [6, 7, 8, 11, 12, 13, 16, 17, 18]
    gna = parse_pattern("window2d(6,6,3,3,stride=(3,3))")  # GNA: queries 0..2 share leader 1's window
    rows = [gna.mask(np.array([q]), np.arange(36), 36, 36).nonzero()[0].tolist() for q in (0, 1, 2)]
    assert rows[0] == rows[1] == rows[2] == [0, 1, 2, 6, 7, 8, 12, 13, 14]


def test_tile_shapes_are_natten_defaults():
    assert tile_shape(2, 128) == (16, 8) and tile_shape(2, 64) == (8, 8) and tile_shape(2, 256) == (16, 16)
    assert tile_shape(3, 128) == (4, 4, 8) and tile_shape(3, 64) == (4, 4, 4) and tile_shape(3, 256) == (8, 4, 8)
    for rank in (2, 3):
        for tokens in (1, 2, 16, 32, 96, 176, 192, 512):
            assert math.prod(tile_shape(rank, tokens)) == tokens


def test_tiles_are_patches_not_runs_of_rows():
    """A 128x128 grid with a 13x13 neighborhood at 128-token tiles: 16x8 patches. A 16-row patch reaches 6 rows
    either side, so 3 patches along H (2 at a border), and an 8-column patch 3 along W (2 at a border): 4 to 9
    key tiles per query tile, where row-major 1-D tiles (a grid row each) would touch 13 (7 at a border)."""
    p, n = parse_pattern("window2d(128,128,13,13)"), 128 * 128
    tc = tile_counts(p, n, n, 128, 128)
    layout = tc.layout
    assert (layout.q_tile, layout.kv_tile, layout.q_tiles_per_axis) == ((16, 8), (16, 8), (8, 16))
    assert (tc.n_q_blocks, tc.n_kv_blocks) == (128, 128) and layout.needs_permute
    visited = tc.row_full + tc.row_partial
    assert visited.min() == 2 * 2 and visited.max() == 3 * 3
    corners = [0, 7, 8 * 15, 8 * 16 - 1]  # tile order: the first axis (H) fastest, 8 tiles along H
    assert visited[corners].tolist() == [4, 4, 4, 4] and visited[9] == 9
    assert (layout.padded_q_tokens, layout.padded_kv_tokens) == (n, n)


def test_ragged_grids_pad_to_whole_patches():
    p = parse_pattern("window2d(10,20,3,5)")
    n_q, n_kv, layout = tile_grid(p, 200, 200, 128, 64)
    assert (layout.q_tile, layout.kv_tile) == ((16, 8), (8, 8))
    assert (n_q, n_kv) == (1 * 3, 2 * 3) and layout.padded_q_tokens == 3 * 128 and layout.padded_kv_tokens == 6 * 64


def test_whole_row_tiles_need_no_permutation():
    _, _, layout = tile_grid(parse_pattern("window2d(64,8,3,3)"), 512, 512, 64, 64)
    assert layout.q_tile == (8, 8) and not layout.needs_permute


def test_kernel_as_large_as_the_grid_is_dense():
    p, n = parse_pattern("window3d(4,8,8,4,8,8)"), 256
    tc = tile_counts(p, n, n, 128, 64)
    assert tc.partial == 0 and tc.full == tc.total and element_density(p, n, n) == 1.0


@pytest.mark.parametrize("text, needle", [
    ("window2d(8,8,9,3)", "kh=9 is larger than the grid (H=8)"), ("window2d(8,8,3,3,stride=(4,1))", "sh=4"),
    ("window3d(2,8,8,3,3,3)", "kt=3 is larger than the grid (T=2)"), ("window2d(8,8,3)", "takes 4 argument"),
    ("window2d(8,8,3,3,stride=(1))", "stride takes 2 numbers"), ("window2d(8,8,0,3)", "positive sizes"),
    ("window2d(8,8,3,3,strid=(1,1))", "'strid'"), ("window2d(8,8,3,3,stride=1)", "expected stride=("),
    ("window2d(8,8,3,3,q_tile=(4,4))", "q_tile=(...) and kv_tile=(...) together"),
    ("window3d(8,8,8,3,3,3,q_tile=(2,8),kv_tile=(2,8,8))", "q_tile takes 3 numbers"),
    ("window2d(8,8,3,3,q_tile=(0,4),kv_tile=(4,4))", "q_tile=(qh,qw) of positive integers"),
    ("window2d(8,8,3,3,q_tile=(4,4),q_tile=(4,4))", "q_tile=(...) given twice"),
    ("window2d(8,8,3,3,q_tile=(4,4) kv_tile=(4,4))", "expected ',' or ')' after q_tile"),
])
def test_bad_grid_arguments_are_one_line_errors(text, needle):
    with pytest.raises(PatternError) as err:
        parse_pattern(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, seq_len, kv_len, needle", [
    ("window2d(8,8,3,3)", 65, 65, "holds 64 tokens, but seq-len is 65"),
    ("window2d(8,8,3,3)", 64, 128, "kv-len 128"),
    ("causal&window2d(8,8,3,3)", 64, 64, "combine with nothing but full"),
    ("window2d(8,8,3,3)|sinks(2)", 64, 64, "combine with nothing but full"),
])
def test_grid_must_hold_the_sequence_and_stand_alone(text, seq_len, kv_len, needle):
    with pytest.raises(PatternError, match=needle.replace("(", r"\(")):
        tile_counts(parse_pattern(text), seq_len, kv_len, 64, 64)


def test_stated_tile_shapes_tile_the_grid_and_must_fill_the_kernels_tile():
    """q_tile=(...), kv_tile=(...) (NATTEN's q_tile_shape / kv_tile_shape, its profiler's --q-tile / --kv-tile):
    the grid is lowered on those patches, in any keyword order with the stride, printed back in canonical order;
    patches of other sizes than the kernel's tile are a one-line error."""
    text = "window3d(30,48,80,18,24,24,kv_tile=(2,8,8),stride=(16,8,8),q_tile=(2,8,8))"
    p, n = parse_pattern(text), 30 * 48 * 80
    assert str(p) == "window3d(30,48,80,18,24,24,stride=(16,8,8),q_tile=(2,8,8),kv_tile=(2,8,8))"
    assert parse_pattern(str(p)) == p
    tc = tile_counts(p, n, n, 128, 128)
    assert (tc.layout.q_tile, tc.layout.kv_tile, tc.layout.stride) == ((2, 8, 8), (2, 8, 8), (16, 8, 8))
    assert tc.partial == 0  # the stride NATTEN's profiler page chose with these tiles: fully block-sparse
    default = tile_counts(parse_pattern("window3d(30,48,80,18,24,24,stride=(16,8,8))"), n, n, 128, 128)
    assert default.layout.q_tile == (4, 4, 8) and default.partial > 0  # NATTEN's default tiles cut windows
    stated = parse_pattern("window2d(64,64,7,7,q_tile=(16,8),kv_tile=(16,8))")
    assert tile_counts(stated, 4096, 4096, 128, 128) == tile_counts(parse_pattern("window2d(64,64,7,7)"),
                                                                     4096, 4096, 128, 128)  # the default, stated
    assert element_density(stated, 4096, 4096) == element_density(parse_pattern("window2d(64,64,7,7)"), 4096, 4096)
    with pytest.raises(PatternError, match=r"holds 128 tokens and its kv_tile 128, but the kernel's tile is 256"):
        tile_counts(p, n, n, 256, 128)


def test_full_simplifies_around_a_grid():
    n = 64
    grid = tile_counts(parse_pattern("window2d(8,8,3,3)"), n, n, 16, 16)
    assert tile_counts(parse_pattern("full&window2d(8,8,3,3)"), n, n, 16, 16) == grid
    assert tile_counts(parse_pattern("full|window2d(8,8,3,3)"), n, n, 16, 16).layout is None  # dense


def test_simulator_tiles_carry_the_grid_tiling():
    """The simulator's tiles of a grid pattern: patch tiles, the permutation hook, exact attended elements."""
    from simulator import simulate
    from simulator.tiles import tile_rows
    from simulator.workload import Workload

    wl = Workload(seq_len=128 * 128, pattern="window2d(128,128,13,13)")
    tiles = tile_rows(wl, 128, 128)
    assert tiles.layout.q_tile == (16, 8) and tiles.layout.needs_permute
    assert (tiles.n_rows, tiles.n_kv_blocks) == (128, 128)
    assert tiles.attended == 128 * 128 * 13 * 13
    assert tiles.kv_blocks_read == 128  # every key patch is some query patch's neighbour
    row = simulate(hw="h100", algo="flash3", seq_len=128 * 128, pattern="window2d(128,128,13,13)")
    assert row["speedup"] > 1 and row["block_density"] < 0.1  # at NATTEN's Hopper tile (128 x 128 at d = 128)
