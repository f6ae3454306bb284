"""CTA waves: how a GPU dispatches thread blocks onto SMs.

The hardware hands each new CTA to the first free slot (SMs x CTAs per SM).
Every slot runs its CTA at 1/k of the SM's throughput (k resident CTAs share
the SM's units); a slot left idle at the tail is lost time. Uniform grids use
the closed form; ragged grids (causal, sparse) run greedy list scheduling in
numba, which handles hundreds of thousands of CTAs in milliseconds.
"""

from functools import lru_cache

import numpy as np

from simulator.columns import vceil


def uniform_makespan(n_ctas: int, slots: int, work: float) -> float:
    """Makespan of ``n_ctas`` equal CTAs of ``work`` slot-time on ``slots`` slots.

    >>> uniform_makespan(264, 132, 1.0), uniform_makespan(265, 132, 1.0)
    (2.0, 3.0)
    """
    return vceil(n_ctas / slots) * work


def makespan(works: np.ndarray, slots: int) -> float:
    """Greedy in-order dispatch of CTAs with the given work onto ``slots`` slots."""
    works = np.ascontiguousarray(works, dtype=np.float64)
    if works.size == 0:
        return 0.0
    if works.size <= slots:
        return float(works.max())
    if works.min() == works.max():
        return uniform_makespan(works.size, slots, float(works[0]))
    return float(_compiled_greedy()(works, slots))


def _greedy_py(works, slots):
    """List scheduling with a binary min-heap of slot finish times (numba-compiled below)."""
    heap = np.zeros(slots)
    for w in works:
        t = heap[0] + w  # earliest-free slot takes the next CTA
        # sift the new finish time down from the root
        i = 0
        while True:
            left = 2 * i + 1
            if left >= slots:
                break
            child = left
            if left + 1 < slots and heap[left + 1] < heap[left]:
                child = left + 1
            if heap[child] >= t:
                break
            heap[i] = heap[child]
            i = child
        heap[i] = t
    return heap.max()


@lru_cache(maxsize=1)
def _compiled_greedy():
    """numba-compile the scheduler on first use (cached on disk), so dense-only runs never import numba."""
    import numba

    return numba.njit(cache=True, nogil=True)(_greedy_py)
