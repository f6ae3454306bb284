"""The shortcuts a sparse sweep takes give exactly what the plain path gives.

- a point that cannot fit skips scheduling its CTAs: its row is the row of the fully timed evaluation;
- ``run_points`` lowers a large grid's plain --sparsity values together: each gets ``tile_counts``' counts;
- one point's row is marked without broadcasting: the same fields as the general (columns) marking.
(The CTA scheduler's own shortcuts are checked against a heap over the whole CTA list in test_schedule.py.)
"""

import math
import random
import sys
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import Workload, hardware, run_points, simulate
from simulator import api, capacity, column_rows, cta_work
from simulator import tiles as tile_source


# ---------------------------------------------------------------- points that cannot fit

TOO_BIG = [  # Q, K, V and O alone overflow the GPU's HBM
    dict(hardware="h100", algorithm="flash2", seq_len=1 << 20, sparsity=0.5, batch=64, heads=16),
    dict(hardware="h200", algorithm="flash3", seq_len=1 << 19, sparsity=0.9, batch=32, heads=16),
    dict(hardware="h100", algorithm="flash3", seq_len=1 << 18, pattern="window(4k)", causal=True, batch=64, heads=32),
    dict(hardware="b200", algorithm="flash4", seq_len=1 << 18, causal=True, batch=128, heads=32, scope="layer"),
    dict(hardware="a100", algorithm="flash2", seq_len=1 << 17, sparsity=0.7, batch=64, heads=32, kv_heads=8),
    dict(hardware="h100", algorithm="flash3", seq_len=1 << 20, sparsity=0.6, batch=16, heads=16, dtype="fp8"),
    dict(hardware="h100", algorithm="flash2", seq_len=1 << 19, sparsity=0.9, batch=32, heads=32, estimate="seer-gate"),
]


def _row(point, timed_always=False):
    args = {k: v for k, v in point.items() if k not in ("hardware", "algorithm")}
    if not timed_always:
        return simulate(point["hardware"], point["algorithm"], **args)
    with patch.object(api, "cannot_fit", lambda hw, wl: False):
        return simulate(point["hardware"], point["algorithm"], **args)


@pytest.mark.parametrize("point", TOO_BIG, ids=lambda p: f"{p['hardware']}-{p['algorithm']}-{p['seq_len']}")
def test_a_point_that_cannot_fit_skips_its_schedule_and_keeps_its_row(point):
    """Its row (flops, bytes, note, fits: false, no time) is the row of the timed evaluation, and no CTA of it
    is scheduled."""
    timed = _row(point, timed_always=True)
    assert timed["fits"] is False and timed["time_s"] is None
    calls = []
    real = cta_work.compute_cycles
    with patch.object(cta_work, "compute_cycles", lambda *a: calls.append(a) or real(*a)):
        fast = _row(point)
    assert calls == []
    assert fast == timed


def test_a_point_that_fits_is_timed():
    point = dict(hardware="h100", algorithm="flash2", seq_len=1 << 16, sparsity=0.5, batch=4, heads=16)
    assert not capacity.cannot_fit(hardware("h100"), Workload(seq_len=1 << 16, sparsity=0.5, batch=4, heads=16))
    row = _row(point)
    assert row["fits"] is True and row["time_s"] > 0 and row == _row(point, timed_always=True)


@settings(max_examples=200, deadline=None)
@given(hw=st.sampled_from(["a100", "h100", "h200", "b200"]), batch=st.integers(1, 512), heads=st.sampled_from([1, 8, 32]),
       group=st.sampled_from([1, 4, 8]), seq_log=st.integers(10, 22), kv_log=st.integers(10, 22),
       head_dim=st.sampled_from([64, 128, 256]), dtype=st.sampled_from(["fp16", "fp8", "fp32"]),
       algo=st.sampled_from(["naive", "flash2", "flash3", "flash4", "flash-decoding", "attention-3pass@flash2"]))
def test_cannot_fit_never_says_so_of_a_point_that_fits(hw, batch, heads, group, seq_log, kv_log, head_dim, dtype, algo):
    """Whatever kernel runs it: the footprint mark_rows checks always holds Q, K, V and O (float sums of bytes
    only grow)."""
    spec = hardware(hw)
    heads = heads * group
    wl = Workload(batch=batch, heads=heads, kv_heads=heads // group, seq_len=1 << seq_log, kv_len=1 << kv_log,
                  head_dim=head_dim, dtype=dtype)
    if not capacity.cannot_fit(spec, wl):
        return
    for splits in (1, 2, 7):
        for name in (algo, algo.split("@")[-1]):  # a cascade's rows carry its --algo text
            needed = sum(capacity.footprint(name, wl, splits).values())
            assert needed > capacity.capacity_bytes(spec)


# ---------------------------------------------------------------- --sparsity values lowered together

@settings(max_examples=60, deadline=None)
@given(nq=st.integers(1, 3000), nkv=st.integers(1, 3000), bq=st.sampled_from([16, 64, 128, 176]),
       bkv=st.sampled_from([32, 64, 80, 128, 176]),
       sparsities=st.lists(st.floats(0.001, 0.999), min_size=1, max_size=6, unique=True))
def test_random_tile_counts_are_tile_counts_density_by_density(nq, nkv, bq, bkv, sparsities):
    from einsum_cascades.sparsity import parse_pattern, random_tile_counts, tile_counts

    densities = [1.0 - s for s in sparsities]
    first = parse_pattern(f"random_blocks({densities[0]!r},{tile_source.RANDOM_SEED})")
    together = random_tile_counts(first, nq, nkv, bq, bkv, tile_source.RANDOM_SEED, densities)
    for d, got in zip(densities, together):
        alone = tile_counts(parse_pattern(f"random_blocks({d!r},{tile_source.RANDOM_SEED})"), nq, nkv, bq, bkv)
        assert got == alone


def test_random_tile_counts_refuses_what_tile_counts_refuses():
    from einsum_cascades.errors import UserError
    from einsum_cascades.sparsity import parse_pattern, random_tile_counts, tile_counts

    p = parse_pattern("random_blocks(0.5,0)")
    with pytest.raises(UserError) as alone:
        tile_counts(p, 1 << 30, 1 << 30, 16, 16)
    with pytest.raises(UserError) as together:
        random_tile_counts(p, 1 << 30, 1 << 30, 16, 16, 0, [0.5, 0.25])
    assert str(together.value) == str(alone.value)


def test_run_points_lowers_sparsities_together_and_each_row_is_its_own():
    """A sweep's points over --sparsity on grids past FAMILY_MIN_TILES, in shuffled order, through run_points
    (which lowers a grid's sparsities together) and one by one (which lowers each alone): the same rows."""
    from einsum_cascades import sparsity

    points = [dict(hardware=hw, algorithm=algo, seq_len=n, sparsity=s, batch=b, heads=4)
              for hw in ("h100", "a100") for algo in ("flash2", "flash3") for n in (1 << 17, 3 * (1 << 16) + 100)
              for s in (0.25, 0.5, 0.875, 0.95) for b in (1, 3)
              if not (hw == "a100" and algo == "flash3")]
    random.Random(7).shuffle(points)
    for fn in (tile_source._masked, tile_source.split_counts):
        fn.cache_clear()
    tile_source._pending.clear()
    together_calls = []
    real = sparsity.random_tile_counts
    with patch.object(sparsity, "random_tile_counts", lambda *a: together_calls.append(a) or real(*a)):
        together = run_points(points[:13]) + run_points(points[13:])  # a sweep's chunks: the siblings carry over
    assert together_calls, "no grid was lowered with its siblings: the shortcut went untested"
    assert any(math.ceil(a[1] / a[3]) * math.ceil(a[2] / a[4]) >= tile_source.FAMILY_MIN_TILES for a in together_calls)
    assert tile_source._sparsities[0] == ()  # the hint lasts one run_points call
    for fn in (tile_source._masked, tile_source.split_counts):
        fn.cache_clear()
    alone = [_row(p) for p in points]
    assert together == alone


# ---------------------------------------------------------------- one row marked without columns

@pytest.mark.parametrize("point", TOO_BIG[:3] + [
    dict(hardware="h100", algorithm="flash3", seq_len=1 << 14, sparsity=0.5, batch=2, heads=8),
    dict(hardware="h100", algorithm="flash2", seq_len=1 << 17, batch=8, heads=32, baseline="naive"),  # base too big
    dict(hardware="fusemax", algorithm="fusemax", seq_len=1 << 12, batch=1, heads=8),  # no capacity
], ids=str)
def test_one_row_is_marked_as_the_general_marking_marks_it(point):
    fast = _row(point)
    with patch.object(api, "mark_rows", _marked_as_columns):
        general = _row(point)
    assert fast == general
    assert list(fast) == list(general)


def _marked_as_columns(rows, hw, result, base_hw, base):
    """mark_rows' work done as run_points does it for columns, on a record of one point: column_marks, then
    mark_columns, then the row built by to_rows."""
    record = {**rows[0], **capacity.column_marks(hw, result, base_hw, base, 1)}
    unfit = capacity.mark_columns(record, hw, result, base_hw, base, 1)
    return column_rows.to_rows([([0], record, unfit)])[1]


# ---------------------------------------------------------------- numba without its BLAS probe

def test_kernels_load_without_importing_scipy_linalg_and_leave_it_importable():
    from simulator import _schedule_kernels  # noqa: F401  (imports numba through einsum_cascades._numba)

    assert sys.modules.get("scipy.linalg.cython_blas", 0) is not None  # no blocking entry left behind
    state, maxes = np.zeros(2), np.zeros(3)
    _schedule_kernels.dispatch_periods(state, np.array([1.0, 2.0]), 3, maxes, 0)
    assert maxes.tolist() == [2.0, 4.0, 5.0] and state.tolist() == [4.0, 5.0]  # CTAs 1, 2 | 1, 2 | 1, 2 on 2 slots
    pytest.importorskip("scipy.linalg")
