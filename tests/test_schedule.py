"""CTA dispatch: the run/period scheduler returns exactly what a binary heap over the whole CTA list does, and
in-order grids of many waves, extrapolated past ``exact_repeats``, stay within TAIL_BOUND of it."""

from contextlib import contextmanager
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import schedule


def reference_makespan(period, repeats, slots, each=1, longest_first=False):
    """The CTA list built in full and dispatched one CTA at a time through a binary min-heap of slot finish
    times (the scheduler as it was before the period/run rework): the oracle."""
    works = np.repeat(np.tile(np.asarray(period, dtype=np.float64), repeats), each)
    if longest_first:
        works = np.sort(works)[::-1]
    if works.size == 0:
        return 0.0
    if works.size <= slots:
        return float(works.max())
    if works.min() == works.max():
        return schedule.uniform_makespan(works.size, slots, float(works[0]))
    heap = [0.0] * slots
    for w in works.tolist():
        t = heap[0] + w
        i = 0
        while True:  # sift t down from the root
            left = 2 * i + 1
            if left >= slots:
                break
            child = left + 1 if left + 1 < slots and heap[left + 1] < heap[left] else left
            if heap[child] >= t:
                break
            heap[i] = heap[child]
            i = child
        heap[i] = t
    return max(heap)


# works as a kernel's rows give them: a prologue plus tiles of two costs, often repeated, sometimes tiny
works = st.one_of(
    st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False),
    st.builds(lambda f, p: 37.25 + f * 911.3 + p * 1003.7, st.integers(0, 64), st.integers(0, 2)),
    st.sampled_from([1.0, 2.0, 3.5, 1e-3, 1e7]),
)
grids = dict(period=st.lists(works, min_size=1, max_size=40), repeats=st.integers(1, 60), slots=st.integers(1, 40),
             each=st.integers(1, 4), longest_first=st.booleans())


PATHS = pytest.mark.parametrize("numba", [False, True], ids=["heapq", "numba"])


@contextmanager
def on_path(numba, exact=True):
    """Run on one path: heapq (small grids before numba is loaded) or the numba kernels (forced for any size);
    ``exact``: every in-order grid dispatched exactly, however many waves (no extrapolation)."""
    with patch.object(schedule, "_use_numba", lambda n: numba), \
            patch.object(schedule, "TAIL_BOUND", 0.0 if exact else schedule.TAIL_BOUND):
        yield


@PATHS
@settings(max_examples=300, deadline=None)
@given(**grids)
def test_grid_makespan_is_the_heap_schedule_bit_for_bit(numba, period, repeats, slots, each, longest_first):
    with on_path(numba):
        got = schedule.grid_makespan(np.array(period), repeats, slots, each, longest_first)
    assert got == reference_makespan(period, repeats, slots, each, longest_first)


@PATHS
@settings(max_examples=100, deadline=None)
@given(period=grids["period"], counts=st.lists(st.integers(1, 50), min_size=2, max_size=6), slots=st.integers(1, 20),
       each=st.integers(1, 3))
def test_a_kept_schedule_continues_whatever_order_repeats_are_asked_in(numba, period, counts, slots, each):
    """In-order grids keep their schedule per period: asking for 50 repeats then 3 then 20 must give what
    three fresh schedules give."""
    for repeats in counts:
        with on_path(numba):
            got = schedule.grid_makespan(np.array(period), repeats, slots, each)
        assert got == reference_makespan(period, repeats, slots, each)


@PATHS
def test_descending_and_causal_rows_in_order(numba):
    """Rows whose work falls (or climbs, as causal rows do) push finish times far from the tail."""
    rows = 17.0 + 3.3 * np.arange(300)
    for period in (rows, rows[::-1], np.concatenate([rows[::7], rows[::-5]])):
        for slots in (1, 2, 132, 264):
            for longest_first in (False, True):
                with on_path(numba):
                    got = schedule.grid_makespan(period, 9, slots, longest_first=longest_first)
                assert got == reference_makespan(period, 9, slots, longest_first=longest_first)


def test_closed_forms():
    """A grid of equal works takes whole waves; a grid no larger than the slots takes its longest CTA."""
    assert schedule.grid_makespan(np.full(10, 2.5), 27, 132) == 3 * 2.5  # 270 CTAs: 3 waves of 132
    assert schedule.grid_makespan(np.array([1.0, 4.0]), 3, 6) == 4.0
    assert schedule.grid_makespan(np.zeros(0), 5, 132) == 0.0


@pytest.mark.parametrize("slots", [1, 3, 132, 264])
def test_long_schedules_that_move_the_buffer_back_to_its_start(slots):
    """More CTAs than the kernel's spare cells (``_schedule_kernels.SPARE``), asked in pieces."""
    from simulator import _schedule_kernels

    rng = np.random.default_rng(slots)
    period = 1e5 + rng.integers(0, 400, 2999) * 733.7
    total = 0
    for repeats in (7, 40, 23, 41):  # 41 x 2,999 CTAs: past SPARE several times
        with on_path(True):
            got = schedule.grid_makespan(period, repeats, slots)
        assert got == reference_makespan(period, repeats, slots)
        total = max(total, repeats * period.size)
    assert total > 3 * _schedule_kernels.SPARE


@PATHS
def test_negative_works_take_the_heap(numba):
    """The kernel's scan stops at the time just popped, which needs works >= 0; others go through heapq."""
    period = np.array([3.0, -1.0, 2.0, 0.5])
    with on_path(numba):
        assert schedule.grid_makespan(period, 5, 2) == reference_makespan(period, 5, 2)


@PATHS
@settings(max_examples=60, deadline=None)
@given(period=st.lists(works, min_size=1, max_size=12), repeats=st.integers(1, 400), slots=st.integers(1, 6),
       each=st.integers(1, 2))
def test_many_waves_are_extrapolated_within_the_bound(numba, period, repeats, slots, each):
    """Past ``exact_repeats`` an in-order grid's makespan is within its longest work, and within TAIL_BOUND, of
    the heap's; up to it, bit for bit; and it never falls as repeats grow."""
    with on_path(numba, exact=False):
        got, fewer = (schedule.grid_makespan(np.array(period), r, slots, each) for r in (repeats, repeats - 1))
    want = reference_makespan(period, repeats, slots, each)
    if max(period) == 0 or repeats <= schedule.exact_repeats(np.array(period), slots, each):
        assert got == want
    else:
        assert abs(got - want) <= max(period) * (1 + 1e-9) and abs(got - want) <= schedule.TAIL_BOUND * want * (1 + 1e-9)
    assert got >= fewer


def test_the_sparse_sweep_grids_switch_to_extrapolation():
    """A 1M-token block-sparse row period on H100's 264 slots: exact for a few hundred heads, then extrapolated
    (well within the bound: the excess over the mean barely moves once the schedule has settled)."""
    rng = np.random.default_rng(7)
    period = 3000.0 + 2740.5 * rng.binomial(16384, 0.1, 8192)
    exact = schedule.exact_repeats(period, 264)
    assert 1 <= exact < 64
    with on_path(True, exact=False):
        got = schedule.grid_makespan(period, 4 * exact, 264)
    want = reference_makespan(period, 4 * exact, 264)
    assert 0 < abs(got - want) <= 1e-5 * want


def reference_plan(est, true, repeats, slots):
    """A host plan built item by item: each to the CTA with the least estimated total (the lowest index on a
    tie), its true work added to that CTA's list; the longest list."""
    est_tot, true_tot = [0.0] * slots, [0.0] * slots
    for _ in range(repeats):
        for e, w in zip(est, true):
            c = min(range(slots), key=lambda i: (est_tot[i], i))
            est_tot[c] += e
            true_tot[c] += w
    return max(true_tot)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(1, 9), st.floats(0.0, 50.0)), min_size=1, max_size=12),
       repeats=st.integers(1, 6), slots=st.integers(1, 9))
def test_plan_totals_build_the_plans_lists(rows, repeats, slots):
    """plan_totals (heapq, and the numba kernel past NUMBA_MIN_CTAS items) gives each CTA the items the plan
    hands it on estimates and sums their true works, as the item-by-item oracle does."""
    est, true = np.array([r[0] for r in rows], float), np.array([r[1] for r in rows], float)
    expected = reference_plan(est.tolist(), true.tolist(), repeats, slots)
    assert schedule.plan_totals(est, true, repeats, slots).max() == pytest.approx(expected)
    with patch.object(schedule, "_use_numba", lambda n: True):
        assert schedule.plan_totals(est, true, repeats, slots).max() == pytest.approx(expected)


def test_a_plan_blind_to_the_true_works_runs_longer_than_longest_first():
    """Equal estimates, unequal works: the plan deals the items round-robin, so one CTA gets every long one,
    where longest first would spread them."""
    est, true = np.ones(2), np.array([4.0, 1.0])
    assert schedule.plan_totals(est, true, 2, 2).max() == 8.0
    assert schedule.grid_makespan(true, 2, 2, longest_first=True) == 5.0


def test_unequal_ctas_take_their_sms_occupancy_as_equal_ones_do():
    """cta_work.occupancy_span: equal CTAs give the uniform grid's figure with its last wave at its own occupancy
    (full waves x W(k) + m x W(m) / k), CTAs whose work does not change with m give grid_makespan's, in order and
    longest first; and a causal FA2 call is no longer dearer than the same call not causal (a fuzz audit: 320 tokens,
    4 x 32 heads on an H100, 12% dearer when the unequal grid ran every CTA at the full SM's rate)."""
    import numpy as np

    from simulator import simulate
    from simulator.cta_work import occupancy_span
    from simulator.schedule import grid_makespan

    sms, k = 132, 2
    equal = {1: np.full(3, 7.0), 2: np.full(3, 10.0)}
    full, left = divmod(384, sms * k)
    assert occupancy_span(equal, 128, sms, k) / k == pytest.approx(full * 10 + -(-left // sms) * 7 / k)
    flat = {1: np.array([2.0, 4.0, 6.0]), 2: np.array([1.0, 2.0, 3.0])}  # m x W(m) the same at every m
    for first in (False, True):
        assert occupancy_span(flat, 128, sms, k, first) / k == pytest.approx(
            grid_makespan(flat[2], 128, sms * k, longest_first=first))
    shape = dict(hw="h100", algo="flash2", batch=4, heads=32, kv_heads=8, seq_len=320)
    assert simulate(**shape, causal=True)["time_s"] < simulate(**shape)["time_s"]


def test_near_equal_ctas_take_the_span_of_equal_ones():
    """cta_work.occupancy_span's tie rule: rows whose works are within OCCUPANCY_TIE of one another are one work (their
    mean), so works 0.02-0.08% apart give the equal works' span (full waves x W(k) + m x W(m) / k) to within their
    difference; the event loop alone told their ends apart and stacked the last wave on the SMs freed first (20.0
    against 13.5 here; the fuzz's B200 FA2 call: 12.82 -> 14.68 us of compute for a MUFU 11% faster)."""
    from simulator.cta_work import occupancy_span

    sms, k = 132, 2
    equal = {1: np.full(3, 7.0), 2: np.full(3, 10.0)}
    full, left = divmod(384, sms * k)
    span = full * 10 + -(-left // sms) * 7 / k
    assert occupancy_span(equal, 128, sms, k) / k == pytest.approx(span)
    for shift in (2e-4, -2e-4, 8e-4):
        near = {m: w * np.array([1.0, 1.0 + shift, 1.0]) for m, w in equal.items()}
        assert occupancy_span(near, 128, sms, k) / k == pytest.approx(span, rel=abs(shift) * 2)


def test_a_tiny_change_of_a_tile_cost_gives_a_tiny_change_of_the_time():
    """The fuzz's B200 FA2 causal call (381 tokens, 32 heads over 8 KV heads: 3 splits, each CTA one key tile and
    its prologue): a MUFU of 19 or 20 exponentials a clock rather than 18 makes a partial tile 0.02-0.04% dearer
    than a full one, no longer equal to it, and the time had jumped 23.43 -> 25.24 us; and the B300 (the same SM,
    twice the B200's MUFU) had been 6% slower than the B200 over 324-384 tokens (24.78 against 23.43 us at 381)."""
    from dataclasses import replace

    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    call = dict(heads=32, kv_heads=8, dtype="bf16", causal=True)
    wl = Workload(seq_len=381, **call)
    b200 = hardware("b200")
    times = [evaluate(replace(b200, sfu_ops_per_clk_sm=mufu), "flash2", wl).time_s for mufu in (18, 19, 20)]
    assert max(times) / min(times) < 1.001
    for seq_len in (324, 352, 381):
        wl = Workload(seq_len=seq_len, **call)
        assert evaluate(hardware("b300"), "flash2", wl).time_s <= evaluate(b200, "flash2", wl).time_s


def test_a_block_sparse_grid_takes_its_sms_occupancy_as_its_dense_baseline_does():
    """An index-reading (block-sparse) grid of unequal CTAs runs at its SMs' occupancy as a plain masked one does,
    each row's index cycles at the CTAs its SM holds (block_sparse.row_cycles at m): the fuzz's H100 PCIe FA2 causal
    call (2 x 8k tokens, one head: 128 CTAs on 228 slots) had cost 305.2 us dense and 399.2 us with 10% of its
    tiles empty (every sparse CTA at the full SM's rate, the dense ones alone on their SMs at their own)."""
    from simulator import simulate

    shape = dict(hw="h100-pcie", algo="flash2", batch=2, heads=1, seq_len=8192, causal=True)
    times = [simulate(**shape, sparsity=s)["time_s"] for s in (0.0, 0.1, 0.3, 0.5)]
    assert times == sorted(times, reverse=True)
    assert times[1] < times[0]


def test_a_block_sparse_split_grid_takes_its_sms_occupancy_as_its_dense_baseline_does():
    """The split grid too (cta_work._one_part's split path): an index-reading call's splits at each SM's own
    occupancy, each split's index cycles at m, as its dense baseline's masked splits run. A100 FA2 split-KV
    (flash-decoding) causal, 2 heads of 4k tokens, 3 splits (384 CTAs on 216 slots): 77.5 us dense had become 83.4 us
    with 5% and 10% of its tiles empty (every sparse split at the full SM's rate)."""
    from simulator import simulate

    shape = dict(hw="a100", algo="flash-decoding", batch=1, heads=2, seq_len=4096, causal=True)
    runs = [simulate(**shape, sparsity=s) for s in (0.0, 0.05, 0.1, 0.3, 0.5)]
    assert {r["splits"] for r in runs} == {3}
    times = [r["time_s"] for r in runs]
    assert times == sorted(times, reverse=True)
    assert times[1] < times[0]
