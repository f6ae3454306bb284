"""CTA waves: how a GPU dispatches thread blocks onto SMs.

The hardware hands each new CTA to the first free slot (SMs x CTAs per SM).
Every slot runs its CTA at 1/k of the SM's throughput (k resident CTAs share
the SM's units); a slot left idle at the tail is lost time. Uniform grids use
the closed form; ragged grids (causal, sparse) run greedy list scheduling.

A grid is never built CTA by CTA: it is a *period* of works (one per query-block
row, or per row and KV split) dispatched ``repeats`` times (once per head), in
order or longest first. Greedy dispatch only ever pops the earliest finish time
and pushes it plus the next CTA's work, so the slots' finish times are a multiset
that evolves the same whatever ties are broken: the scheduling here pushes and
pops exactly the floats a binary heap over the whole CTA list would, and returns
the same makespan, bit for bit (tests/test_schedule.py checks it against that heap), up to the many-wave
extrapolation below.
A process dispatches its first million CTAs on ``heapq``, the rest in numba
(``_schedule_kernels``), where in-order grids keep their state per period, so a
larger batch continues a smaller one's schedule whatever order they come in, and
longest-first grids dispatch a run of equal works at once.

In-order grids of many waves are dispatched exactly only until one CTA's longest work is under
TAIL_BOUND of the makespan; each further repeat then adds its work spread evenly over the slots.
Greedy dispatch keeps every slot's finish time within one CTA's work of the mean (the slot that ends
last started its last CTA when it was the earliest), and the mean grows by exactly that spread work, so
the extrapolated makespan is within the longest work of the exact one: within TAIL_BOUND of it. On the
7,260-point sparse sweep of ``bench/`` the observed error is 5.4e-5 at most (0 in median: most points are
dispatched exactly; measured against TAIL_BOUND 0 on 2026-12-02), and the sweep dispatches a quarter of the
CTAs it did.
"""

from __future__ import annotations

import heapq
import math
import sys
from functools import lru_cache

from simulator._numpy import np

from simulator.columns import is_columns, vceil, vmax, vmin

NUMBA_MIN_CTAS = 1 << 20  # heapq (about 0.15 us a CTA) for this many CTAs costs about what loading numba does
PERIOD_STATES = 256  # in-order grids whose schedule state is kept for a later, larger repeat count
TAIL_BOUND = 1 / 512  # in-order grids are dispatched exactly until their longest CTA is under this part of the makespan


def uniform_makespan(n_ctas: int, slots: int, work: float) -> float:
    """Makespan of ``n_ctas`` equal CTAs of ``work`` slot-time on ``slots`` slots.

    >>> uniform_makespan(264, 132, 1.0), uniform_makespan(265, 132, 1.0)
    (2.0, 3.0)
    """
    return vceil(n_ctas / slots) * work


def grid_makespan(period: np.ndarray, repeats: int, slots: int, each: int = 1, longest_first: bool = False) -> float:
    """Makespan of greedy dispatch onto ``slots`` slots of ``repeats`` copies of ``period``, each work
    dispatched ``each`` times in a row (KV splits), in that order or longest first.

    >>> grid_makespan(np.array([2.0, 1.0]), repeats=2, slots=2)  # CTAs 2, 1, 2, 1: slots end at 3 and 3
    3.0
    >>> grid_makespan(np.array([1.0, 2.0]), repeats=2, slots=3)  # CTAs 1, 2, 1, 2: the fourth waits for 1
    3.0
    >>> grid_makespan(np.array([1.0, 2.0]), repeats=2, slots=3, longest_first=True)  # CTAs 2, 2, 1, 1
    2.0
    """
    period = np.ascontiguousarray(period, dtype=np.float64)
    n = period.size * repeats * each
    if n == 0:
        return 0.0
    low, high = period.min(), period.max()
    if low == high:
        return uniform_makespan(n, slots, float(period[0]))
    if n <= slots:
        return float(high)
    if longest_first:
        values, counts = np.unique(period, return_counts=True)
        return _runs_makespan(values[::-1].tobytes(), (counts[::-1] * (repeats * each)).tobytes(), slots, n)
    if low < 0:  # the kernel's scan stops at the time just popped: works >= 0
        return _heap_dispatch(np.repeat(period, each).tolist(), repeats, slots)
    total = float(period.sum())
    exact = _exact_repeats(float(high), total, slots, each)
    if repeats > exact:  # the rest spread evenly: within the longest work of the exact makespan (module doc)
        return _in_order(period, exact, slots, each) + (repeats - exact) * (total * each / slots)
    return _in_order(period, repeats, slots, each)


def _in_order(period: np.ndarray, repeats: int, slots: int, each: int) -> float:
    """Exact in-order dispatch (works >= 0): heapq for a process's first CTAs, then the numba kernel."""
    if not _use_numba(period.size * repeats * each):
        return _heap_dispatch(np.repeat(period, each).tolist(), repeats, slots)
    return _periodic_state(period.tobytes(), each, slots).makespan(repeats)


def exact_repeats(period: np.ndarray, slots: int, each: int = 1) -> float:
    """Repeats of ``period`` (works >= 0, not all 0) dispatched exactly in order: enough that the makespan, at
    least their work spread over the slots, is TAIL_BOUND / longest work or more (infinite at TAIL_BOUND 0).

    >>> exact_repeats(np.array([1.0, 3.0]), slots=132)  # 132 x 512 x 3 / 4
    50688
    """
    return _exact_repeats(float(period.max()), float(period.sum()), slots, each)


def _exact_repeats(high: float, total: float, slots: int, each: int) -> float:
    if TAIL_BOUND <= 0 or total <= 0:
        return math.inf
    return math.ceil(high / total * slots / (TAIL_BOUND * each))  # the ratio first: no underflow


_heap_ctas = [0]  # CTAs this process has dispatched with heapq


def _use_numba(n_ctas: int) -> bool:
    """numba once a process has dispatched NUMBA_MIN_CTAS CTAs (this grid's included), and for any grid
    once it has loaded numba (for these kernels or a mask's lowering: loading ours from the cache is then a
    few ms); heapq until then."""
    _heap_ctas[0] += n_ctas
    return _heap_ctas[0] >= NUMBA_MIN_CTAS or "numba" in sys.modules


def _heap_dispatch(works: list, repeats: int, slots: int) -> float:
    """Greedy dispatch of ``repeats`` copies of ``works`` with heapq: each CTA replaces the earliest finish
    time by it plus its work."""
    heap = [0.0] * slots
    for _ in range(repeats):
        for w in works:
            heapq.heapreplace(heap, heap[0] + w)
    return max(heap)


def plan_totals(est: np.ndarray, true: np.ndarray, repeats: int, slots: int) -> np.ndarray:
    """Each CTA's true work under static per-CTA lists a host plan builds (FlashInfer's PrefillSM90Plan):
    ``repeats`` copies of the items, in the given order, each appended to the list of the CTA whose *estimated*
    total (``est``) is the least, ties to the lower CTA; a CTA then runs its list back to back, so its time is
    the sum of its items' *true* works (``true``, slot-time). Where the estimates are proportional to the true
    works this is greedy list scheduling in that order; where they are not (a window the plan does not see),
    some lists run long.

    >>> plan_totals(np.array([2.0, 1.0]), np.array([2.0, 1.0]), repeats=2, slots=2).tolist()  # (2, 1), (1, 2)
    [3.0, 3.0]
    >>> plan_totals(np.array([1.0, 1.0]), np.array([4.0, 1.0]), repeats=2, slots=2).tolist()  # (4, 4), (1, 1)
    [8.0, 2.0]
    """
    est, true = np.asarray(est, dtype=np.float64), np.asarray(true, dtype=np.float64)
    if _use_numba(est.size * repeats):
        return _kernel("plan_totals")(est, true, int(repeats), int(slots))
    heap, tot = [(0.0, c) for c in range(slots)], [0.0] * slots
    for _ in range(repeats):
        for e, w in zip(est.tolist(), true.tolist()):
            cost, c = heap[0]
            tot[c] += w
            heapq.heapreplace(heap, (cost + e, c))
    return np.array(tot)


@lru_cache(maxsize=1024)
def _runs_makespan(values: bytes, counts: bytes, slots: int, n: int) -> float:
    """Longest first: runs of equal works (descending ``values``, each ``counts`` times)."""
    values, counts = np.frombuffer(values), np.frombuffer(counts, dtype=np.int64)
    if not _use_numba(n):
        return _heap_dispatch(np.repeat(values, counts).tolist(), 1, slots)  # fewer than a million CTAs
    return float(_kernel("dispatch_runs")(np.zeros(slots), values, counts))


class _PeriodicState:
    """In-order dispatch of one period, repeated: the slots' finish times (sorted) after ``done`` repeats, and
    the makespan after each repeat so far."""

    def __init__(self, period: np.ndarray, each: int, slots: int):
        self.period = np.repeat(period, each)  # the CTAs of one copy, in order
        self.state, self.done = np.zeros(slots), 0
        self.maxes = np.zeros(0)

    def makespan(self, repeats: int) -> float:
        if repeats > self.done:
            more = repeats - self.done
            self.maxes = np.concatenate([self.maxes, np.zeros(more)])
            _kernel("dispatch_periods")(self.state, self.period, more, self.maxes, self.done)
            self.done = repeats
        return float(self.maxes[repeats - 1])


@lru_cache(maxsize=PERIOD_STATES)
def _periodic_state(period: bytes, each: int, slots: int) -> _PeriodicState:
    return _PeriodicState(np.frombuffer(period), each, slots)


@lru_cache(maxsize=1)
def _kernels():
    """The numba kernels, imported on first use (cached on disk), so small and dense runs never load numba."""
    from simulator import _schedule_kernels

    return _schedule_kernels


def load_kernels() -> bool:
    """Load the numba dispatch kernels now, where numba's in-tree cache holds them: a process with many masked
    points ahead (a sweep's worker) then dispatches every grid in numba from its first CTA. A fresh install, whose
    kernels numba has yet to compile, leaves it to the first process whose CTAs call for them, as before. Whether
    it loaded them."""
    from pathlib import Path

    if not any((Path(__file__).parent / "__pycache__").glob("_schedule_kernels.*.nbi")):
        return False
    _kernels()
    return True


def _kernel(name: str):
    """A jitted dispatch kernel, saying first if numba must compile it."""
    from einsum_cascades.compiling import notify_if_cold

    jitted = getattr(_kernels(), name)
    notify_if_cold(jitted, "CTA scheduling")
    return jitted


def resident_ctas(hw, k, n_ctas):
    """CTAs each SM holds at once: the kernel's occupancy ``k``, or fewer when the launch has fewer CTAs than the
    SMs' slots: the block scheduler spreads a grid over the SMs before it stacks CTAs on one, so a grid of at most
    one CTA per SM runs each alone, with the SM's units and its loads in flight to itself (columns: per column)."""
    if is_columns(n_ctas):
        return vmin(k, vmax(1, vceil(n_ctas / hw.sms))).astype(int)
    return int(min(k, max(1, -(-int(n_ctas) // hw.sms))))
