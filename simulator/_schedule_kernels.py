"""numba kernels of greedy CTA dispatch (``schedule``): the slots' finish times as one sorted array.

Each CTA pops the earliest finish time m and pushes t = m + w. Kept sorted in a buffer that the pops walk
up, the pop is the head and t usually belongs at or near the tail: a CTA costs an add, a compare and a store,
plus one move per finish time later than t. The time just popped stays below the head and is at most t (works
are not negative), so the scan for t's place needs no bounds check.
"""

import heapq

import numpy as np

from einsum_cascades._numba import numba

SPARE = 1 << 15  # cells past the slots: the live times move back to the buffer's start once the pops reach them


@numba.njit(cache=True, nogil=True)
def dispatch_periods(state, period, repeats, maxes, start):
    """Dispatch ``repeats`` copies of ``period`` (works >= 0) onto the sorted finish times ``state`` (updated in
    place); maxes[start + r] = latest finish time after copy r."""
    slots = state.size
    buf = np.empty(slots + SPARE + 1)
    buf[0] = -np.inf  # below the first head: what a pop leaves there is the popped time
    buf[1:slots + 1] = state
    h = 1  # the earliest finish time is buf[h]; buf[h - 1] <= it
    for r in range(repeats):
        for i in range(period.size):
            if h + slots > SPARE + slots:
                buf[:slots + 1] = buf[h - 1:h + slots].copy()
                h = 1
            t = buf[h] + period[i]
            h += 1
            j = h + slots - 1  # the cell after the last live time
            x = buf[j - 1]
            while x > t:  # later times move up a cell; buf[h - 1] (the time popped) stops the scan
                buf[j] = x
                j -= 1
                x = buf[j - 1]
            buf[j] = t
        maxes[start + r] = buf[h + slots - 1]
    state[:] = buf[h:h + slots]


@numba.njit(cache=True, nogil=True)
def dispatch_runs(state, values, counts):
    """Dispatch runs of equal works (counts[i] CTAs of values[i]) onto sorted finish times ``state`` (in
    place); returns the latest finish time.

    Within a run the pushed times m + w come in order, so they queue behind each other (FIFO ``queue``),
    and each pop takes the earlier of the untouched times' head and the queue's head. Once every untouched
    time is gone, each further CTA adds w to the queue's head and moves it to the back: whole rounds add w
    to every cell in turn.
    """
    slots = state.size
    queue = state.copy()
    for i in range(values.size):
        w, left = values[i], counts[i]
        a, qh, ql = 0, 0, 0  # untouched times state[a:], queue cells queue[qh : qh + ql] (mod slots)
        while left > 0 and a < slots:
            if ql == 0 or state[a] <= queue[qh]:
                x = state[a]
                a += 1
            else:
                x = queue[qh]
                qh = qh + 1 if qh + 1 < slots else 0
                ql -= 1
            tail = qh + ql if qh + ql < slots else qh + ql - slots
            queue[tail] = x + w
            ql += 1
            left -= 1
        if a == slots:  # the queue holds every slot: rounds of one CTA per slot, from the queue's head
            for _ in range(left // slots):
                for c in range(slots):
                    queue[c] += w
            for c in range(left % slots):
                cell = qh + c if qh + c < slots else qh + c - slots
                queue[cell] += w
            qh = (qh + left % slots) % slots
        _merge(state, a, queue, qh, ql)
    return state[slots - 1]


@numba.njit(cache=True, nogil=True)
def _merge(state, a, queue, qh, ql):
    """state <- sorted merge of state[a:] and the queue's ql cells from qh (both sorted)."""
    slots = state.size
    rest = state[a:].copy()
    x, y = 0, 0
    for out in range(slots):
        cell = qh + y if qh + y < slots else qh + y - slots
        if y >= ql or (x < rest.size and rest[x] <= queue[cell]):
            state[out] = rest[x]
            x += 1
        else:
            state[out] = queue[cell]
            y += 1


@numba.njit(cache=True, nogil=True)
def plan_totals(est, true, repeats, slots):
    """A host plan's per-CTA lists (``schedule.planned_makespan``): ``repeats`` copies of the items (``est``,
    ``true``), each given to the CTA whose estimated total is the least (ties to the lower index), its estimate
    added there; returns each CTA's true total. A binary heap of (estimate, index) whose root is replaced."""
    cost = np.zeros(slots)
    idx = np.arange(slots)
    tot = np.zeros(slots)
    for _ in range(repeats):
        for i in range(est.size):
            c = idx[0]
            tot[c] += true[i]
            new = cost[0] + est[i]
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= slots:
                    break
                right = child + 1
                if right < slots and (cost[right] < cost[child] or (cost[right] == cost[child] and idx[right] < idx[child])):
                    child = right
                if cost[child] < new or (cost[child] == new and idx[child] < c):
                    cost[pos] = cost[child]
                    idx[pos] = idx[child]
                    pos = child
                else:
                    break
            cost[pos] = new
            idx[pos] = c
    return tot


@numba.njit(cache=True, nogil=True)
def occupancy_events(order, work, sms, k):
    """``cta_work.occupancy_span``'s event loop: CTAs ``order`` (rows of ``work[m]``, the work of a row when m CTAs
    share an SM; works > 0) dispatched to the SM holding the fewest, an SM's m CTAs each at 1 / (m x work[m, row]);
    returns when the last ends. The same steps as the Python loop there, on arrays: per SM its CTAs' rows and shares
    left, a heap of (next end, SM, version) whose stale entries are skipped."""
    n = order.size
    held_row = np.zeros((sms, k), dtype=np.int64)
    held_left = np.zeros((sms, k))
    held_n = np.zeros(sms, dtype=np.int64)
    since = np.zeros(sms)
    version = np.zeros(sms, dtype=np.int64)
    heap = [(0.0, 0, 0)]
    heap.pop()
    first = min(n, sms * k)
    for i in range(first):
        s = i % sms
        held_row[s, held_n[s]] = order[i]
        held_left[s, held_n[s]] = 1.0
        held_n[s] += 1
    queued = first
    for s in range(min(first, sms)):
        _plan(s, held_row, held_left, held_n, since, version, work, heap)
    end = 0.0
    done = np.empty(sms, dtype=np.int64)
    room = [(0, 0)]
    while heap:
        now, s, ver = heapq.heappop(heap)
        if ver != version[s]:
            continue
        nd = 1
        done[0] = s
        while heap and heap[0][0] <= now * (1 + 1e-12):
            _, s2, v2 = heapq.heappop(heap)
            if v2 == version[s2]:
                done[nd] = s2
                nd += 1
        for j in range(nd):
            s2 = done[j]
            m = held_n[s2]
            kept = 0
            for c in range(m):
                left = held_left[s2, c] - (now - since[s2]) / (m * work[m, held_row[s2, c]])
                if left > 1e-9 and left * m * work[m, held_row[s2, c]] > 1e-12 * now:
                    held_row[s2, kept] = held_row[s2, c]
                    held_left[s2, kept] = left
                    kept += 1
            held_n[s2] = kept
            since[s2] = now
        end = now
        room.clear()
        if queued < n:
            for j in range(nd):
                if held_n[done[j]] < k:
                    room.append((held_n[done[j]], done[j]))
            heapq.heapify(room)
        while room and queued < n:
            count, s2 = heapq.heappop(room)
            held_row[s2, held_n[s2]] = order[queued]
            held_left[s2, held_n[s2]] = 1.0
            held_n[s2] += 1
            queued += 1
            if count + 1 < k:
                heapq.heappush(room, (count + 1, s2))
        for j in range(nd):
            _plan(done[j], held_row, held_left, held_n, since, version, work, heap)
    return end


@numba.njit(cache=True, nogil=True)
def _plan(s, held_row, held_left, held_n, since, version, work, heap):
    version[s] += 1
    m = held_n[s]
    if m:
        soonest = np.inf
        for c in range(m):
            soonest = min(soonest, held_left[s, c] * m * work[m, held_row[s, c]])
        heapq.heappush(heap, (since[s] + soonest, s, version[s]))
