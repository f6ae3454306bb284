"""The CTAs of a fused kernel and their work: one grid of query-block rows per head, each head with its own
tiles (a heads(...) mix gives head groups different masks), dispatched onto the SMs' slots.

A call is a list of ``Part``: the tiles of one head group and how many (batch x head) grids of them run.
Without a mix there is one part, and its makespan takes the closed forms (dense) or the sorted rows the
model has always used; a mix concatenates its groups' CTAs in head order (the hardware's dispatch order,
head outermost: FA2's grid (m_block, b, h)), or sorts them all for a longest-first scheduler.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from typing import NamedTuple

from simulator._numpy import np

from simulator import tiles as tile_source
from simulator.columns import is_columns, vceil, vmin, where
from simulator.schedule import grid_makespan, uniform_makespan


@dataclass(frozen=True)
class Part:
    """One head group's CTAs: its tiles, its CTA grids (batch x query heads, or x KV heads when the kernel packs
    a KV head's query heads into one tile), its query heads (batch x), and the group's mask expression."""

    tiles: object
    heads: int
    q_heads: int
    mask: str | None = None
    indexed: str | None = None  # how the kernel walks a block index for this group's rows, if it does
    # (simulator.block_sparse: 'fa2', 'ws', 'vs')


def parts(wl, pack_gqa: bool, block_q: int, block_kv: int, lower, indexed, packing=None) -> list[Part]:
    """The call's head groups at the kernel's tile (``block_q`` query positions x ``block_kv`` keys, the rows of
    ``packing``'s packed tiles where it is given: ``tiles.packed_rows``); ``lower(wl, block_q, block_kv,
    packing)`` is the one-mask lowering (the workload's own tiles), ``indexed(mask, sparsity)`` whether the
    kernel reads a block index for a mask. A packed tile holds every query head of its KV head, so when a KV
    head's query heads fall in different groups, its tiles are those of the union of their masks (the kernel
    visits every tile some of its rows attend; the mask makes the others' elements partial)."""
    groups = tile_source.head_groups(wl)
    if groups is None:
        heads = wl.batch * (wl.kv_heads if pack_gqa else wl.heads)
        return [Part(lower(wl, block_q, block_kv, packing), heads, wl.batch * wl.heads, wl.mask_expr,
                     indexed(wl.mask_expr, wl.sparsity))]
    if pack_gqa:
        return [Part(tile_source.group_rows(mask, wl.seq_len, wl.kv_len, block_q, block_kv, packing),
                     wl.batch * n_kv, wl.batch * n_kv * wl.group, mask, indexed(mask, 0.0))
                for n_kv, mask in kv_units(wl)]
    return [Part(tile_source.group_rows(mask, wl.seq_len, wl.kv_len, block_q, block_kv), wl.batch * n, wl.batch * n,
                 mask, indexed(mask, 0.0)) for n, mask in groups]


def kv_units(wl) -> list[tuple[int, str]]:
    """(KV heads, mask) runs over the KV heads: each KV head's K/V is what its query heads need together, the
    union of their groups' masks (one group's mask when all of them are in one group)."""
    groups, group = tile_source.head_groups(wl), wl.group
    owner = [mask for n, mask in groups for _ in range(n)]  # the mask of every query head
    units = []
    for kv in range(wl.kv_heads):
        masks = list(dict.fromkeys(owner[kv * group:(kv + 1) * group]))
        mask = masks[0] if len(masks) == 1 else "|".join(f"({m})" for m in masks)
        if units and units[-1][1] == mask:
            units[-1] = (units[-1][0] + 1, mask)
        else:
            units.append((1, mask))
    return units


def kv_parts(wl, pack_gqa: bool, block_q: int, block_kv: int, compute_parts: list[Part], packing=None) -> list[tuple]:
    """(workload of its heads, tiles, CTA grids) per run of KV heads with the same needs, for the HBM traffic:
    the call itself without a mix."""
    if tile_source.head_groups(wl) is None:
        return [(wl, compute_parts[0].tiles, compute_parts[0].heads)]
    out = []
    for n_kv, mask in kv_units(wl):
        sub = replace(wl, heads=n_kv * wl.group, kv_heads=n_kv, pattern=None, causal=False)
        tiles = tile_source.group_rows(mask, wl.seq_len, wl.kv_len, block_q, block_kv, packing)
        out.append((sub, tiles, wl.batch * n_kv * (1 if pack_gqa else wl.group)))
    return out


def compute_cycles(parts_: list[Part], splits, slots: int, longest_first: bool, full_t, part_t, pro_t, per_split,
                   row_extra, planned=None, tail=None, row_extra_at=None) -> float:
    """SM-slot makespan of every CTA, in slot-cycles (times the CTAs per SM gives SM cycles).

    ``per_split(tiles)``: a masked split call's (full, partial) tiles per row and split, or None; ``row_extra(full,
    partial)`` per index style: the fixed cycles a row of an indexed part pays besides its tiles (its block index
    reads); ``planned(row_work, grids, slots)``: the makespan of a kernel whose host plans each CTA's work list
    (``KernelConfig.host_plan``), for one part's rows unsplit. ``tail``: (SMs, CTAs per SM k, work(m)) where
    work(m) is (tile cycles, prologue cycles) of a CTA with m resident on its SM: a uniform grid's last, partial
    wave runs at the rate of the CTAs it leaves on each SM (``_tail_span``). ``row_extra_at(kind, m)``: ``row_extra``'s
    cycles of that index style with m CTAs resident on the SM, so that an indexed grid runs at its SMs' occupancy too."""
    def extra(part):
        return row_extra[part.indexed] if part.indexed else _no_extra

    if len(parts_) == 1:
        part = parts_[0]
        extra_at = (lambda m: row_extra_at(part.indexed, m)) if part.indexed and row_extra_at is not None else None
        return _one_part(part, splits, slots, longest_first, full_t, part_t, pro_t, per_split, extra(part), planned,
                         tail, extra_at)
    works = np.concatenate([np.tile(_row_works(p.tiles, splits, full_t, part_t, pro_t, per_split, extra(p)),
                                    p.heads) for p in parts_])
    span = grid_makespan(works, 1, slots, longest_first=longest_first)
    if (tail is not None and not is_columns(splits) and splits == 1 and works.size <= OCCUPANCY_CTAS_PER_SLOT * slots
            and all(extra(p) is _no_extra for p in parts_)):
        # a heads(...) mix: its parts' CTAs in grid order, at their SMs' occupancy as one part's are (a mix that
        # is nearly dense had come out 26% slower than dense: FA2, 8 heads of 5,000 tokens on an H100)
        return _at_occupancy(span, [(p.tiles, p.heads) for p in parts_], full_t, pro_t, part_t, tail, longest_first)
    return span


def _no_extra(full, partial):
    return 0.0


def _split_prologue(full, partial, pro_t):
    """A split CTA's fixed cycles: its prologue (Q, the first K/V, their latency) where the split holds a tile; none
    where the mask leaves it none, since the kernel returns before loading anything (FA2's
    compute_attn_1rowblock_splitkv: n_block_min >= n_block_max, "We exit early and write 0 to gOaccum and -inf to
    gLSEaccum"; its few hundred cycles of zero stores are left out)."""
    return np.where(full + partial > 0, pro_t, 0.0)


def _row_works(tiles, splits, full_t, part_t, pro_t, per_split, row_extra) -> np.ndarray:
    """Work of each CTA of one head's grid: rows in order, each row's splits together."""
    split_tiles = per_split(tiles) if splits > 1 and tiles.pattern else None
    if split_tiles is not None:
        full, partial = split_tiles
        return (_split_prologue(full, partial, pro_t) + row_extra(full, partial) + full * full_t
                + partial * part_t).ravel()
    work = pro_t + row_extra(tiles.row_full, tiles.row_partial) + (tiles.row_full * full_t
                                                                   + tiles.row_partial * part_t) / splits
    return np.repeat(work, splits)


def _one_part(part, splits, slots, longest_first, full_t, part_t, pro_t, per_split, row_extra, planned=None,
              tail=None, extra_at=None) -> float:
    """One mask for every head: the closed form when every CTA has the same work, else the rows once (sorted
    once when longest first, since every head repeats them)."""
    tiles, heads = part.tiles, part.heads
    split_tiles = None if is_columns(splits) or splits <= 1 or not tiles.pattern else per_split(tiles)
    if split_tiles is not None:
        full, partial = split_tiles
        works = (_split_prologue(full, partial, pro_t) + row_extra(full, partial) + full * full_t
                 + partial * part_t).ravel()
        span = grid_makespan(works, heads, slots, longest_first=longest_first)
        if (tail is None or (row_extra is not _no_extra and extra_at is None)
                or works.size * heads > OCCUPANCY_CTAS_PER_SLOT * slots):
            return span
        # at each SM's own occupancy, as an unsplit masked grid's: a window's few busy splits share their SMs with
        # splits that exit at once, not with CTAs as long as themselves (FA2, a window(4k) decode over 32k keys:
        # 5 splits had come out 1.7x 4 splits, the same 32 tiles a busy CTA); an indexed part's splits too, each
        # with its index cycles at m, as its dense baseline's splits run
        sms, k, work_at = tail
        if k <= 1:
            return span
        at = {m: work_at(m) for m in range(1, k)}
        at[k] = (full_t, pro_t, part_t)
        extras = _extras_at(k, row_extra, extra_at)
        by_m = {m: (_split_prologue(full, partial, p) + extras[m](full, partial) + full * f + partial * q).ravel()
                for m, (f, p, q) in at.items()}
        return min(span, occupancy_span(by_m, heads, sms, k, longest_first) / k)
    if tiles.uniform and row_extra is _no_extra:  # dense: every CTA has the same work, closed-form waves
        # a split takes ceil(n / splits) of a row's n key blocks (FA2's n_blocks_per_split, FA3's and FA4's
        # get_n_block_min_max), the last ones fewer: in one wave the longest sets the time, over more waves the
        # slots even out to the mean
        per_row = tiles.visited // tiles.n_rows
        n_ctas = tiles.n_rows * heads * splits
        blocks = where(n_ctas <= slots, -(-per_row // splits), per_row / splits)
        span = uniform_makespan(n_ctas, slots, pro_t + blocks * full_t)
        return span if tail is None else _tail_span(span, n_ctas, slots, pro_t + blocks * full_t, blocks, 0, tail)
    if row_extra is _no_extra and planned is None and equal_rows(tiles, splits):
        # a masked grid whose rows all visit the same full and partial tiles (one query block a head, a strided
        # neighbourhood): every CTA the same work, as a dense grid's, its last wave at its own occupancy too
        full, partial = int(tiles.row_full.flat[0]), int(tiles.row_partial.flat[0])
        n_ctas = tiles.n_rows * heads
        work = pro_t + full * full_t + partial * part_t
        span = uniform_makespan(n_ctas, slots, work)
        return span if tail is None else _tail_span(span, n_ctas, slots, work, full, partial, tail)
    row_work = pro_t + row_extra(tiles.row_full, tiles.row_partial) + (tiles.row_full * full_t
                                                                       + tiles.row_partial * part_t) / splits
    if planned is not None and splits == 1:
        return planned(row_work, heads, slots)
    span = grid_makespan(row_work, heads, slots, splits, longest_first)  # no CTA list (simulator.schedule)
    if (tail is not None and (row_extra is _no_extra or extra_at is not None) and not is_columns(splits)
            and splits == 1 and tiles.n_rows * heads <= OCCUPANCY_CTAS_PER_SLOT * slots):
        # an indexed part's rows too, each with its index cycles at m (a block-sparse call under one wave had kept
        # every CTA at the full SM's rate while its dense baseline ran at its SMs' occupancy: 10% of empty tiles
        # cost 31% more than none)
        return _at_occupancy(span, [(tiles, heads)], full_t, pro_t, part_t, tail, longest_first, row_extra, extra_at)
    return span


def _extras_at(k: int, row_extra, extra_at) -> dict:
    """m -> a row's index cycles with m CTAs resident on its SM, m = 1..k: ``extra_at(m)`` below k (none without
    it), ``row_extra`` (the call's own) at k."""
    return {**{m: extra_at(m) if extra_at is not None else _no_extra for m in range(1, k)}, k: row_extra}


def _at_occupancy(span, groups: list, full_t, pro_t, part_t, tail, longest_first: bool, row_extra=_no_extra,
                  extra_at=None):
    """The lesser of ``span`` (every CTA at the full SM's rate, slot-cycles) and ``occupancy_span`` of the grid whose
    rows are each group's (tiles, heads) in turn, each CTA's work at m resident from ``tail``'s work(m) (at k the
    call's own tile, prologue and masked-tile cycles), and one group's ``row_extra`` at m from ``extra_at(m)``."""
    sms, k, work_at = tail
    if k <= 1:
        return span
    at = {m: work_at(m) for m in range(1, k)}
    at[k] = (full_t, pro_t, part_t)
    if len(groups) == 1:  # one mask: its rows, repeated per head
        (tiles, heads), = groups
        extras = _extras_at(k, row_extra, extra_at)
        by_m = {m: p + extras[m](tiles.row_full, tiles.row_partial) + tiles.row_full * f + tiles.row_partial * q
                for m, (f, p, q) in at.items()}
        return min(span, occupancy_span(by_m, heads, sms, k, longest_first) / k)
    by_m = {m: np.concatenate([np.tile(p + t.row_full * f + t.row_partial * q, h) for t, h in groups])
            for m, (f, p, q) in at.items()}
    return min(span, occupancy_span(by_m, 1, sms, k, longest_first) / k)


# a grid of unequal CTAs up to this many a slot is dispatched CTA by CTA at each SM's own occupancy (occupancy_span);
# past it the tail is a small share of the call, and every CTA runs at the full SM's rate (grid_makespan)
OCCUPANCY_CTAS_PER_SLOT = 4
# the event loop runs in numba (simulator._schedule_kernels.occupancy_events) once numba is loaded, or from this
# many CTAs, which pay for loading it; below, in Python (a first small causal point does not load numba)
OCCUPANCY_NUMBA_CTAS = 4096
# rows whose works are within this part of one another are one work (``_near_equal_as_one``; docs/kernels.md U, the tie
# rule): above the 2e-4 to 7e-3 by which a masked tile's own cost moves a one-tile CTA (a B300 FA2 grid's partial and
# full CTAs), below one key tile of a causal row of up to 128 tiles
OCCUPANCY_TIE = 1 / 128


def occupancy_span(by_m: dict, repeats: int, sms: int, k: int, longest_first: bool = False) -> float:
    """SM cycles of a grid of unequal CTAs (``repeats`` copies of the rows whose work is ``by_m[m]`` when m CTAs
    share an SM, m = 1..k) dispatched in order (or longest first): the block scheduler puts each next CTA on the SM
    holding the fewest (a slot frees: on that SM), and an SM's m CTAs progress each at 1 / (m x work(m)), so that a
    wave's CTAs left alone on their SMs speed up as a uniform grid's last wave does (``_tail_span``: the same
    figure for equal CTAs). Without it a causal call of 320 tokens (4 x 32 heads, FA2's 128-row tiles, 384 CTAs on
    264 slots) came out 12% slower than the same call not causal, whose uniform grid took the partial wave's rate.
    Rows within ``OCCUPANCY_TIE`` of one another run as one work (``_near_equal_as_one``: the tie rule)."""
    import heapq

    by_m = _near_equal_as_one(by_m, OCCUPANCY_TIE)
    rows = by_m[k].size
    order = np.tile(np.arange(rows), repeats)
    if longest_first:  # stable: equal works keep their order
        order = order[np.argsort(-np.asarray(by_m[k], dtype=float)[order], kind="stable")]
    if order.size >= OCCUPANCY_NUMBA_CTAS or "numba" in sys.modules:
        from simulator.schedule import _kernel

        table = np.ones((k + 1, rows))
        for m in range(1, k + 1):
            table[m] = np.maximum(by_m[m], 1e-9)
        return float(_kernel("occupancy_events")(order, table, int(sms), int(k)))
    order = order.tolist()
    work = {m: np.maximum(by_m[m], 1e-9).tolist() for m in by_m}  # a CTA of no work ends at once, not at 0 / 0
    held = [[] for _ in range(sms)]  # per SM: [row, share of its work left]
    since = [0.0] * sms  # when each SM's shares were last brought up to date
    version = [0] * sms
    heap: list = []

    def advance(s, now):
        m = len(held[s])
        for cta in held[s]:
            cta[1] -= (now - since[s]) / (m * work[m][cta[0]])
        since[s] = now

    def plan(s):
        version[s] += 1
        m = len(held[s])
        if m:
            heapq.heappush(heap, (since[s] + min(c[1] * m * work[m][c[0]] for c in held[s]), s, version[s]))

    # the first CTAs spread over the SMs before they stack (CTA i on SM i mod SMs); while CTAs wait, every SM but
    # those a CTA has just left holds k, so each next CTA goes to the emptiest of those
    first = min(len(order), sms * k)
    for i in range(first):
        held[i % sms].append([order[i], 1.0])
    queued = first  # the next CTA to dispatch
    for s in range(min(first, sms)):
        plan(s)
    end = 0.0
    while heap:
        now, s, ver = heapq.heappop(heap)
        if ver != version[s]:
            continue
        done = [s]
        while heap and heap[0][0] <= now * (1 + 1e-12):  # every SM a CTA leaves at this time, before any is refilled
            _, s2, v2 = heapq.heappop(heap)
            if v2 == version[s2]:
                done.append(s2)
        for s2 in done:
            advance(s2, now)
            m = len(held[s2])  # a share whose time left is below the clock's rounding ends now (a CTA of 1e-9 cycles
            held[s2] = [c for c in held[s2] if c[1] > 1e-9 and c[1] * m * work[m][c[0]] > 1e-12 * now]  # late on)
        end = now
        room = [(len(held[x]), x) for x in done if len(held[x]) < k] if queued < len(order) else []
        heapq.heapify(room)
        while room and queued < len(order):  # the emptiest first, the lowest SM of equals
            count, s2 = heapq.heappop(room)
            held[s2].append([order[queued], 1.0])
            queued += 1
            if count + 1 < k:
                heapq.heappush(room, (count + 1, s2))
        for s2 in done:
            plan(s2)
    return end


def _near_equal_as_one(by_m: dict, tie: float) -> dict:
    """``by_m`` with each run of rows whose works are within ``tie`` of the run's least (at every m) given the run's
    mean: CTAs that differ by less than anything the model resolves take equal CTAs' schedule, which ties their ends.
    Without it the event loop told apart ends 0.02% apart: one SM freed first and took the next CTAs, stacking a
    last wave that equal CTAs spread over the SMs (a B200 FA2 causal call 14% dearer for a MUFU 11% faster).

    >>> _near_equal_as_one({1: np.array([7.0, 7.001, 9.0]), 2: np.array([10.0, 10.001, 12.0])}, 1 / 512)[2]
    array([10.0005, 10.0005, 12.    ])
    """
    ms = sorted(by_m)
    order = np.argsort(np.asarray(by_m[ms[-1]], dtype=float), kind="stable")  # by the work at k
    table = np.array([np.asarray(by_m[m], dtype=float)[order] for m in ms])  # (m, rows)
    gap = np.abs(table[:, 1:] - table[:, :-1])
    close = np.all(gap <= tie * table[:, :-1], axis=0)  # each row near the one before it
    if not (close & np.any(gap > 0, axis=0)).any():  # none near but not equal: the rows as they are
        return by_m
    run = np.arange(order.size)  # each row's run: the row it starts at, no further than the tie from each row after it
    for i in np.flatnonzero(close) + 1:
        start = run[i - 1]
        if np.all(np.abs(table[:, i] - table[:, start]) <= tie * table[:, start]):
            run[i] = start
    count = np.bincount(run, minlength=order.size)
    out = np.empty_like(table)
    sums = np.array([np.bincount(run, weights=row, minlength=order.size) for row in table])
    out[:, order] = sums[:, run] / count[run]
    return {m: out[i] for i, m in enumerate(ms)}


def last_wave(n_ctas, slots: int, sms: int):
    """(full waves, CTAs left after them, CTAs each SM holds of those) of a grid of equal CTAs on ``slots`` slots: the
    block scheduler spreads the CTAs left over the SMs before it stacks them (schedule.resident_ctas)."""
    n_full = n_ctas // slots
    left = n_ctas - n_full * slots
    return n_full, left, vceil(left / sms)


def equal_rows(tiles, splits=1) -> bool:
    """Whether every CTA of one head's grid has the same work: a dense grid, or a masked one unsplit whose rows
    all visit the same full and partial tiles."""
    if tiles.uniform:
        return True
    if is_columns(splits) or splits != 1 or tiles.row_full is None or not tiles.row_full.size:
        return False
    return bool(tiles.row_full.min() == tiles.row_full.max() and tiles.row_partial.min() == tiles.row_partial.max())


def _tail_span(span, n_ctas, slots, work, blocks, partial, tail):
    """A uniform grid's makespan (slot-cycles) with its last, partial wave at its own occupancy. After the full
    waves every slot frees at once, and the block scheduler spreads the r CTAs left over the SMs before it stacks
    them (``schedule.resident_ctas``): m = ceil(r / SMs) an SM, each CTA at the rate of a CTA with m resident
    (its tile and prologue at m: a lone FA2 CTA's 4 warps hide no softmax behind another's GEMMs, and its loads
    in flight are its own) rather than keeping 1/k of the SM as the full waves do: full waves x work + m x
    work(m) / k slot-cycles (the caller multiplies by k). Where r fills every slot (m = k) nothing changes.
    ``blocks`` full and ``partial`` masked tiles a CTA; work(m) is (tile, prologue, masked tile) cycles at m."""
    sms, k, work_at = tail
    n_full, left, m = last_wave(n_ctas, slots, sms)
    if not is_columns(m):  # one point: plain Python (a dense point imports no numpy)
        if left <= 0 or m >= k:
            return span
        tile_m, pro_m, part_m = work_at(int(m))
        return min(span, n_full * work + m * (pro_m + blocks * tile_m + partial * part_m) / k)
    for one in sorted({int(x) for x in np.ravel(m)}):
        if one < 1:
            continue
        tile_m, pro_m, part_m = work_at(one)
        tail_span = n_full * work + one * (pro_m + blocks * tile_m + partial * part_m) / k
        span = where((m == one) & (left > 0) & (one < k), vmin(span, tail_span), span)
    return span


def weighted(wl, parts_: list[Part], block_q: int, block_kv: int, packing=None):
    """The call's attended elements and block density per query head: the query head groups' own (not the unions
    a packed tile visits; at ``packing``'s tiles where given), weighted by their heads; the one part's tiles
    without a mix."""
    groups = tile_source.head_groups(wl)
    if groups is None:
        return parts_[0].tiles
    return _weighted(wl, groups, block_q, block_kv, packing)


def _weighted(wl, groups, block_q, block_kv, packing=None):
    lowered = [(n, tile_source.group_rows(mask, wl.seq_len, wl.kv_len, block_q, block_kv, packing))
               for n, mask in groups]
    return _Mix(sum(n * t.attended for n, t in lowered) / wl.heads,
                sum(n * t.block_density for n, t in lowered) / wl.heads)


@dataclass(frozen=True)
class _Mix:
    attended: float
    block_density: float


def element_counts(wl):
    """Attended elements and block density for a kernel that does not tile (naive): the groups' own, weighted by
    their heads, under a mix."""
    groups = tile_source.head_groups(wl)
    if groups is None:
        return tile_source.dense_counts(wl)
    return _weighted(wl, groups, *tile_source.ELEMENT_TILE)


class DenseCall(NamedTuple):
    """A call's attended elements and block density when no mask is lowered (a state kernel's)."""

    attended: float
    block_density: float
