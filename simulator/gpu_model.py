"""GPU attention kernels as IO/roofline models with a kernel schedule.

A fused kernel (flash1/2/3, flash-decoding) is priced tile by tile: each
(query block, key block) tile needs tensor-core FLOPs, shared-memory reads,
special-function exponentials and FP32 softmax instructions; the family's
schedule combines them (FA2 runs softmax after the GEMMs inside a warp, FA3
overlaps them); CTAs are dispatched onto SMs in waves; and the whole kernel is
held under the HBM and L2 roofs, with K/V re-reads served by L2 while the
heads in flight fit in it. ``naive`` is three kernels with the score matrix in
HBM. Every constant below names the instruction or datasheet figure it is.
"""

import math
from dataclasses import replace
from functools import lru_cache

from simulator._numpy import np

from einsum_cascades.errors import UserError
from simulator import block_sparse, cta_work, permute, torch_copy
from simulator import tiles as tile_source
from simulator.columns import argname, dense_tiles, is_columns, pick, vceil, vmax, vmin, where
from simulator.cost import Cost
from simulator.schedule import resident_ctas
from simulator.gpu_kernels import (FUSED_CASCADE, GPU_FAMILIES, arch_error, at_block, fa2_swapped, fa2_window_call, kernel_config,
                                   out_bytes, paged_cache, padded_head_dim, pattern_shape, positions_per_tile,
                                   query_packing, sm_number, tiles_per_position)
from simulator.kernel_configs import natten_mask_issue, natten_sm90, natten_sm100
from simulator.flashinfer_sm90 import (FA2_FAMILY as FI_PREFILL_FA2, FAMILY as FI_PREFILL, plan_makespan as fi_plan_makespan,
                                       runs_fa2, window_extra_tiles)
from simulator.limits import Unsupported
from simulator.result import Result
from simulator.splits import (fa2_num_splits, fa3_layout, fa3_prepares, fa3_row_range_splits, fa3_zeroes_semaphore,
                              fa4_layout)
from simulator.tile_cost import (EXP_POLY_FP32_OPS, ops_of, column_tile, prologue_parts, smem_tile_bytes, tensor_dtype,
                                 tile_cycles)
from simulator.multipass import fused_passes
from simulator.plans import plan
from simulator.state_kernel import state_cost
from simulator.tile_ops import softmax_ops
from simulator.workload import FMA_FLOPS, mla_absorbed, with_head_dims

SPLIT_PARTIAL_BYTES = 4  # split-KV partial outputs and log-sum-exp are written in fp32
FA3_COMBINE_STAGES = 4  # hopper/flash_fwd_combine_kernel.h: kStages of partial-O loads (kStages - 1 in flight)
# partial-O loads each split family's combine kernel keeps in flight (``_combine_seconds``): FA3's and FA4's
# kStages - 1, FA2's loop (flash-decoding, and flash2 when it splits) 2
COMBINE_IN_FLIGHT = {"flash2": 2, "flash-decoding": 2, "flash3": FA3_COMBINE_STAGES - 1,
                     "flash4": FA3_COMBINE_STAGES - 1}
# Building standard attention's additive mask (attention_pytorch: torch.full fp32, torch.triu, .to(16-bit)):
# write 4 B, read and write 4 + 4 B, read 4 B and write 2 B per element.
MASK_BUILD_BYTES = 4 + 8 + 6


def simulate_gpu(hw, algo: str, wl, cascade: str | None = None, timed: bool = True) -> Result:
    """Predict one forward attention call of kernel family ``algo`` on GPU ``hw``; ``cascade``: what a fused
    family computes (default its own: attention-1pass); ``timed`` False: no time is wanted (api.evaluate).

    ``wl`` may hold columns of sizes (``columns.workload_columns``, dense only,
    families in ``COLUMN_FAMILIES``): the result's fields are then columns too.
    """
    if reason := family_error(hw, algo):
        raise UserError(reason)
    if pad := padded_head_dim(hw, algo, wl):
        return _padded(simulate_gpu(hw, algo, with_head_dims(wl, pad, pad), cascade, timed), wl, pad)
    if solved := _solved_window(hw, algo, wl):  # the window --sparsity sizes, run as FA runs it written
        result = simulate_gpu(hw, algo, replace(wl, pattern=solved, sparsity=0.0), cascade, timed)
        return replace(result, workload=wl, detail={**result.detail, "solved_window": solved})
    if algo == "naive":
        return _naive(hw, wl)
    if algo.startswith("nsa-select"):
        from simulator.nsa_select import simulate

        return simulate(hw, algo, wl)
    if algo == "flashmla":
        from simulator import flashmla

        if cascade:
            raise UserError("flashmla (FlashMLA's decoding kernel) runs its own attention; map a cascade onto "
                            "flash2, flash3, flash4 or flash-decoding")
        return flashmla.simulate(hw, wl)
    if algo.startswith("flashinfer") and algo not in (FI_PREFILL, FI_PREFILL_FA2):
        from simulator.flashinfer_decode import flashinfer_decode
        from simulator.flashinfer_tc import FAMILIES as TC_FAMILIES, flashinfer_tc_decode

        if cascade:
            raise UserError(f"{algo} (FlashInfer's decode kernel) runs its own attention; map a cascade onto "
                            "flash2, flash3, flash4 or flash-decoding")
        return flashinfer_tc_decode(hw, algo, wl) if algo in TC_FAMILIES else flashinfer_decode(hw, algo, wl)
    if cascade and algo == "flash1":
        raise UserError("flash1 (FlashAttention-1's Algorithm 1) runs its own cascade; map a cascade onto "
                        "flash2, flash3, flash4 or flash-decoding")
    if cascade and algo in (FI_PREFILL, FI_PREFILL_FA2):
        raise UserError(f"{algo} (FlashInfer's batch prefill) runs its own attention; map a cascade onto "
                        "flash2, flash3, flash4 or flash-decoding")
    if runs_fa2(hw, algo):
        from simulator.flashinfer_tc import flashinfer_batch_prefill

        return flashinfer_batch_prefill(hw, wl, algo)
    return _fused(hw, algo, wl, cascade or FUSED_CASCADE, timed)


WINDOW_FAMILIES = ("flash2", "flash3", "flash4", "flash-decoding")  # FlashAttention's own window_size (fa_window_sides)


def _solved_window(hw, algo: str, wl) -> str | None:
    """A sliding window (with causal, or windows under &) whose size --sparsity solves: the solved window, which the
    kernel then runs as its own window_size call, as it runs that window written (FA2's local kernel masking every
    tile, FA3's and FA4's local tiles and scheduler), where it had been priced as a mask FA cannot take as one
    window; solved at the tile the call's tiles are lowered at (decisions._lowered, which the row's lowered_pattern
    shows). None for any other call."""
    if algo not in WINDOW_FAMILIES or not wl.sparsity or not wl.pattern or is_columns(wl.seq_len):
        return None
    shape = pattern_shape(wl.pattern)
    names = {leaf.name for leaf in shape.leaves}
    if shape.union or "window" not in names or not names <= {"window", "causal", "full", "dense"}:
        return None
    from simulator.decisions import _lowered

    return _lowered(hw, algo, wl)


def _padded(result: Result, wl, pad: int) -> Result:
    """The call ``wl`` run zero-padded to head dim ``pad`` (``padded_head_dim``): the padded call's time, bytes and
    work (its tensor FLOPs included), the caller's shape and useful FLOPs."""
    scale = wl.flops_per_score() / (2 * FMA_FLOPS * pad)
    return replace(result, workload=wl, flops=result.flops * scale, detail={**result.detail, "padded_head_dim": pad})


def family_error(hw, algo: str) -> str | None:
    """Why kernel family ``algo`` cannot run on GPU ``hw`` at all (None if it can)."""
    if algo not in GPU_FAMILIES:
        return f"algorithm {algo!r} does not run on GPU {hw.name}: allowed {', '.join(GPU_FAMILIES)}"
    return arch_error(hw.arch, hw.name, algo)


COLUMN_FAMILIES = ("naive", "flash2", "flash3", "flash4", "flash-decoding")  # families whose dense path takes columns


# ---------------------------------------------------------------- fused kernels

def _fused(hw, algo, wl, cascade: str = FUSED_CASCADE, timed: bool = True) -> Result:
    if algo == "flash1":
        from simulator.flash1 import flash1

        return flash1(hw, wl)
    cfg = fused_config(hw, algo, wl)
    if cfg.cascade != cascade:
        cfg = replace(cfg, cascade=cascade)
    walked = plan(cascade)  # once: a cascade file's version is checked once a point
    if not walked.has_scores:
        return _state(hw, algo, wl, cfg)
    if len(walked.passes) > 1:
        return fused_passes(hw, algo, wl, cfg, _fused_pass)  # timed: the passes' times choose what is stored
    return _fused_pass(hw, algo, wl, cfg, timed=timed)


def _causal_by_construction(cascade: str) -> bool:
    """Whether a cascade computes a causal attention whatever the mask (its reference is: lightning attention)."""
    from einsum_cascades import load_cascade
    from einsum_cascades.reference import CAUSAL_REFERENCES

    return load_cascade(cascade).reference in CAUSAL_REFERENCES


def _state(hw, algo, wl, cfg) -> Result:
    """A cascade with no score element (linear attention): simulator.state_kernel. A mask has no score to act on:
    causal linear attention is another algorithm (a running state, or chunks), and a pattern or --sparsity no tile to
    skip, so each is refused rather than priced as the dense call."""
    causal_form = _causal_by_construction(cfg.cascade)
    if (wl.causal and not causal_form) or wl.pattern or wl.sparsity:
        given = "--causal (or a --model preset's)" if wl.causal and not causal_form else (
            f"--pattern {wl.pattern}" if wl.pattern else f"--sparsity {wl.sparsity:g}")
        if causal_form:  # lightning attention: causal by its decay mask and its state, with no score tile to skip
            raise UserError(f"{given}: {cfg.cascade} is causal by construction (its reference, each query sees the keys "
                            "before it) and priced as its chunked running-state kernel, which skips no score tile: "
                            "leave the mask out (--causal is what it computes already)")
        raise UserError(f"{given}: {cfg.cascade} has no score tensor (it multiplies K^T by V before Q), so a mask has no "
                        "score to act on; attnsim prices its dense (non-causal) form only: leave the mask out")
    cost = state_cost(cfg.cascade, wl)
    times = _roof_times(hw, wl, cost, cfg.tensor_path)
    times["compute"] = max(times["tensor"], times["exp"], times["fma"])
    bound = max(("tensor", "exp", "fma"), key=times.get)
    tiles = cta_work.DenseCall(attended=wl.seq_len * 1.0 * wl.kv_len, block_density=1.0)
    result = _finish(hw, algo, wl, cost, times, bound, tiles, {"cascade": cfg.cascade, "state_kernel": True})
    return replace(result, flops=cost.tensor_flops)


def _fused_pass(hw, algo, wl, cfg, stored: int = 0, timed: bool = True) -> Result:
    """One launch of the fused kernel ``cfg`` over the keys; ``stored``: score tensors of this cascade pass that
    go through HBM (written for, or read from, another pass); ``timed`` False: the CTAs are not scheduled and the
    compute time is NaN (nothing else depends on it)."""
    splits, prepare, fill, split_launch = 1, False, False, False
    if algo == "flash3":
        splits, cfg, split_launch = fa3_layout(hw, wl, cfg)
        prepare = fa3_prepares(wl, cfg)
        fill = fa3_zeroes_semaphore(hw, wl, splits, prepare, split_launch)
    elif algo == "flash4":
        splits, cfg = fa4_layout(hw, wl, cfg)
        if wl.page_size is not None and wl.page_size != cfg.block_kv:  # a split (192, 128) call's 64-key tile
            raise Unsupported(f"--page-size {wl.page_size}: flash4 loads pages by TMA only when they match its key "
                              f"tile ({cfg.block_kv} keys here); other sizes take its cp.async path "
                              "(flash_attn/cute/interface.py paged_kv_non_tma), which attnsim does not model")
    clock = hw.sustained_clock_hz
    k = cfg.ctas_per_sm(hw)
    slots = hw.sms * k
    rows = _rows(cfg, wl)
    block_q = positions_per_tile(cfg, wl)
    packing = query_packing(cfg, wl)  # FA3's and FA4's packed tiles: ceil(seq_len x group / block_q) a KV head
    parts = cta_work.parts(wl, cfg.pack_gqa, block_q, cfg.block_kv, _tiles,
                           lambda mask, sparsity: block_sparse.index_style(cfg, mask)
                           if block_sparse.reads_index(cfg, hw.arch, mask, sparsity) else None, packing)
    stack = tiles_per_position(cfg, wl)
    if is_columns(stack) or stack > 1:  # a position's packed heads fill more than one tile
        parts = [replace(p, heads=p.heads * stack) for p in parts]
    if cfg.window_extra_tile:
        parts = [replace(p, tiles=window_extra_tiles(p.tiles, wl, block_q, cfg.block_kv)) for p in parts]
    tiles = parts[0].tiles
    heads = sum(p.heads for p in parts)
    if natten_fna(hw, algo, wl) and not wl.block_size:  # NATTEN masks every tile unless the call is fully block-sparse
        cfg = replace(cfg, mask_issue_per_score=natten_mask_issue(wl, [np.sum(p.tiles.row_partial) for p in parts],
                                                                  sm_number(hw.arch)))
    if cfg.split_kernel:  # flash_attn_with_kvcache(num_splits=N) skips the heuristic (set_params_splitkv)
        splits = wl.num_splits or fa2_num_splits(hw, heads * tiles.n_rows, tiles.n_kv_blocks)
        if algo == "flash2" and paged_cache(wl) and not fa2_swapped(wl, kvcache=bool(wl.varlen)):
            splits = 1  # mha_varlen_fwd over a block table: "num_splits > 1 is not supported for varlen paged KV"
    resident = resident_ctas(hw, k, heads * tiles.n_rows * splits)
    # FA2 masks every tile of a local call (KernelConfig.masks_local_tiles): one window, FA2's own window_size; a
    # union or a heads(...) mix runs another kernel (simulator.block_sparse), as does a call walking a block index
    # FA4 on Hopper masks every tile of a causal or local call (KernelConfig.masks_every_tile)
    every_tile_masked = not any(p.indexed for p in parts) and (
        (cfg.masks_local_tiles and fa2_window_call(wl)) or cfg.masks_every_tile)
    full = tile_cycles(cfg, hw, wl, partial=every_tile_masked, resident=None if is_columns(resident) else resident)
    full_t, full_dom = _resident_tile(cfg, hw, wl, every_tile_masked, resident, full, rows)
    uniform = all(p.tiles.uniform for p in parts)
    part_t = full_t if uniform else _resident_tile(cfg, hw, wl, True, resident, None, None)[0]
    pro = prologue_parts(cfg, hw, wl, rows, full, resident)
    pro_t = sum(pro.values())

    def per_split(t):  # a masked split call: FA2 splits the whole key range, FA3 and FA4 each row's own range
        if not cfg.split_kernel:
            return fa3_row_range_splits(t.row_full, t.row_partial, splits)
        return tile_source.split_counts(t.pattern, wl.seq_len, wl.kv_len, block_q, cfg.block_kv, splits)

    row_index = {}  # per index style, the fixed cycles of a row that walks a block index (simulator.block_sparse)
    for kind in {p.indexed for p in parts if p.indexed}:
        row_index[kind] = block_sparse.row_cycles(cfg, hw, wl, full, resident, tiles.n_kv_blocks, block_q, kind,
                                                  packing, splits)
    plan_info = {}
    planned = fi_plan_makespan(wl, block_q, plan_info) if cfg.host_plan and len(parts) == 1 else None
    @lru_cache(maxsize=None)  # work_at and index_at ask for the same m
    def tile_at(m):  # the call's tile with m CTAs resident on its SM (a last wave)
        return tile_cycles(cfg, hw, wl, partial=every_tile_masked, resident=m)

    @lru_cache(maxsize=None)  # the schedule and --explain's last-wave line ask for the same m
    def work_at(m):  # a CTA's tile, prologue and partial-tile cycles with m CTAs resident on its SM (a last wave)
        tile = tile_at(m)
        full_m = _resident_tile(cfg, hw, wl, every_tile_masked, m, tile, rows)[0]
        part_m = full_m if uniform else _resident_tile(cfg, hw, wl, True, m, None, None)[0]
        return full_m, sum(prologue_parts(cfg, hw, wl, rows, tile, m).values()), part_m

    def index_at(kind, m):  # a row's index cycles of that style with m CTAs resident on its SM (a last wave)
        return block_sparse.row_cycles(cfg, hw, wl, tile_at(m), m, tiles.n_kv_blocks, block_q, kind, packing, splits)

    tail = (hw.sms, resident, work_at) if not cfg.persistent else None
    compute_cycles = cta_work.compute_cycles(parts, splits, hw.sms * resident, cfg.longest_first, full_t, part_t,
                                             pro_t, per_split, row_index, planned, tail,
                                             index_at) * resident if timed else np.nan
    cost = sum((_fused_cost(cfg, hw, wl, rows, p.tiles.visited * 1.0 * p.heads, p.tiles, splits) for p in parts[1:]),
               _fused_cost(cfg, hw, wl, rows, tiles.visited * 1.0 * parts[0].heads, tiles, splits))
    hbm = (_parts_hbm(cfg, hw, wl, rows, slots, parts, block_q, splits, cost.l2_bytes, packing)
           + _split_partials(cfg, hw, wl, splits))
    index = sum(block_sparse.index_bytes(cfg, p.tiles, p.heads * splits) for p in parts if p.indexed)
    # a stored score tensor is written and read as whole tiles (the kernel stores every visited tile, masked
    # elements too): the visited tiles' area, block density x Nq x Nkv, not the attended elements
    visited_area = cta_work.weighted(wl, parts, block_q, cfg.block_kv, packing).block_density * wl.seq_len * wl.kv_len
    scores_stored = stored * wl.batch * wl.heads * visited_area * wl.dtype_bytes
    cost = replace(cost, hbm_bytes=hbm + index + scores_stored, l2_bytes=cost.l2_bytes + index + scores_stored,
                   launches=where(splits > 1, 2, 1) + (split_launch and splits == 1) + prepare + fill)
    times = _roof_times(hw, wl, cost, cfg.tensor_path, cfg.cp_async_loads)
    times["compute"] = compute_cycles / clock
    if prepare:  # FA3's scheduler kernel: its launch (counted above), then one dependent read of the lengths
        times["prepare"] = hw.hbm_latency_s
    cost, detail_extra = _permutation(hw, algo, wl, parts, cost, times)
    times["stream_fill"] = _stream_fill(hw, full_t)
    if is_columns(splits) or splits > 1:
        times["combine"] = where(splits > 1, _combine_seconds(hw, wl, splits, COMBINE_IN_FLIGHT.get(cfg.family)), 0.0)
    n_work = heads * tiles.n_rows * splits
    last = _last_wave(hw, parts, n_work, resident, tail, work_at, row_index, splits)
    grid = ({"work_tiles": int(n_work), "slots": int(hw.sms * resident), "persistent": bool(cfg.persistent)}
            if not (is_columns(n_work) or is_columns(resident)) else None)  # --explain's grid line
    detail = {**_detail(cfg, k, splits, full_t, part_t, full_dom, clock), "resident_ctas": resident,
              **({"last_wave": last} if last else {}), **({"grid": grid} if grid else {}),
              "work_tile_parts": pro, **detail_extra, "tile_fill": rows / cfg.block_q,
              **({"host_plan": plan_info} if plan_info else {}),
              "loads_in_mma_warps": cfg.tensor_path == "mma_sync",  # no TMA producer (blend_weight)
              "every_tile_masked": every_tile_masked, "mask_issue_per_score": cfg.mask_issue_per_score,
              **_mask_detail(cfg, hw, wl, parts, row_index, index)}
    if not is_columns(splits):  # one point: the kernels its launches count, in order (--explain names them)
        copies = list(detail_extra.get("permute_bytes", {}))  # NATTEN's: permute_* before, unpermute_* after
        detail["kernels"] = (["tile counter fill"] * fill + ["scheduler (prepare_varlen_num_blocks)"] * prepare
                             + [c for c in copies if not c.startswith("un")]
                             + ["attention" + (" (split-KV)" if splits > 1 or split_launch else "")]
                             + ["combine"] * (splits > 1 or split_launch)
                             + [c for c in copies if c.startswith("un")])
    if cfg.writes_o:  # a split call's combine kernel (its seconds: times["combine"]) writes O and reads back the
        # partials L2 did not hold: bytes of the call, and lines that evict the flush's dirty ones (the write-backs)
        combine_bytes = _out_bytes(wl) + vmax(_partials_bytes(wl, splits) - hw.l2_bytes, 0.0)
        cost = replace(cost, hbm_bytes=cost.hbm_bytes + where(splits > 1, combine_bytes, 0.0))
    mix = cta_work.weighted(wl, parts, block_q, cfg.block_kv, packing)
    result = _finish(hw, algo, wl, cost, times, full_dom, mix, detail)
    return grid_bound(result, n_work, hw.sms * resident)


def grid_bound(result: Result, n_work, slots) -> Result:
    """``result`` with its bound named "grid" where its ``n_work`` CTAs (or persistent work tiles) fill at most
    GRID_FILL of the ``slots`` the SMs hold and the unit it names works under GRID_UTILIZATION of the call: no unit
    is anywhere near its throughput, the call waits on its CTAs' own chains (a 512-token FA3 call of 8 heads: 32
    CTAs on 132 SMs, 'tensor-bound' at 5% of the tensor roof). A partial wave whose unit still runs near its roof
    (a long decode's HBM stream) keeps that unit's name, as does a grid of nearly a wave (more CTAs would not make
    it much faster: a unit the model's work counts understate, such as FlashInfer's CUDA-core loop, whose issue
    slots hold more than its FMAs, named "fma" at a third of their rate) and a bound no unit names (launch,
    latency). Every GPU family's result passes here; the scalar point's detail gets the counts --explain prints."""
    bound, util = result.bound, result.utilization
    if not (is_columns(n_work) or is_columns(bound) or is_columns(slots)):
        if n_work <= GRID_FILL * slots and bound in GRID_LIMITED and 0 < util.get(bound, 1.0) < GRID_UTILIZATION:
            grid = result.detail.get("grid") or {"work_tiles": int(n_work), "slots": int(slots), "persistent": False}
            return replace(result, bound="grid", detail={**result.detail, "grid": grid})
        return result
    used = 0.0
    for unit in GRID_LIMITED:
        used = where(bound == unit, util.get(unit, 1.0), used)
    few = (n_work <= GRID_FILL * slots) & (used > 0) & (used < GRID_UTILIZATION)  # as one point
    if np.any(few):
        result = replace(result, bound=where(few, "grid", bound))
    return result


GRID_LIMITED = ("tensor", "smem", "exp", "fma", "l2", "hbm")  # the units a partial wave's bound renames "grid"
GRID_UTILIZATION = 0.5  # ... where that unit works under half the call's time
GRID_FILL = 0.5  # ... and the grid fills at most half the slots


def _parts_hbm(cfg, hw, wl, rows, slots, parts, block_q, splits, l2_bytes, packing=None) -> float:
    """HBM bytes of the call; under a heads(...) mix, K/V per run of KV heads with the same needs, each run as if
    alone in L2 while its CTAs run."""
    if len(parts) == 1:
        return _fused_hbm(cfg, hw, wl, l2_bytes, slots, parts[0].tiles, parts[0].heads, splits, packing)
    return sum(_fused_hbm(cfg, hw, sub, _fused_cost(cfg, hw, sub, rows, t.visited * 1.0 * h, t, splits).l2_bytes,
                          slots, t, h, splits, packing)
               for sub, t, h in cta_work.kv_parts(wl, cfg.pack_gqa, block_q, cfg.block_kv, parts, packing))


def _permutation(hw, algo, wl, parts, cost, times) -> tuple:
    """NATTEN's token permutation copies around a grid call, where the family stands for a kernel that permutes:
    their seconds go to ``times``, their bytes and launches to the cost (returned with the detail)."""
    layout = next((p.tiles.layout for p in parts if getattr(p.tiles, "layout", None) is not None), None)
    if not permute.permutes(algo, sm_number(hw.arch), layout):
        return cost, {}
    copies = permute.copies(hw, wl, layout, sum(p.q_heads for p in parts if getattr(p.tiles, "layout", None)))
    if not copies:  # NATTEN 0.20 on tiles of whole rows: every reshape a view
        return cost, {}
    times["permute"] = sum(c.seconds for c in copies.values())
    moved = sum(c.moved for c in copies.values())
    launches = sum(2 if name.startswith("pad_") else 1 for name in copies)  # a pad: its fill, then its copy
    cost = cost + Cost(hbm_bytes=moved, l2_bytes=moved, launches=launches)
    times["launch"] = cost.launches * hw.launch_overhead_s
    return cost, {"permute_bytes": {name: c.moved for name, c in copies.items()},
                  "permute_copies": {name: (c.seconds, c.kernel) for name, c in copies.items()}}


def _mask_detail(cfg, hw, wl, parts, row_index, index_bytes) -> dict:
    """What ``--explain`` shows of a masked call: each head group's tiles, and the block index's fixed costs."""
    if len(parts) == 1 and not parts[0].tiles.pattern:
        return {}
    out = {"head_groups": [dict(heads=p.q_heads // wl.batch, mask=p.mask, visited=p.tiles.visited,
                                full=int(p.tiles.row_full.sum()), partial=int(p.tiles.row_partial.sum()),
                                rows=p.tiles.n_rows, kv_blocks=p.tiles.n_kv_blocks,
                                block_density=p.tiles.block_density, indexed=p.indexed) for p in parts]}
    if row_index:
        kind = next(iter(sorted(row_index)))
        out["index"] = dict(style=kind, l2_hit_cycles=block_sparse.l2_hit_cycles(hw.arch),
                            cost=row_index[kind], bytes=index_bytes, others={k: row_index[k] for k in row_index
                                                                             if k != kind})
    return out


def fused_config(hw, algo, wl):
    """The family's kernel configuration for the call: its own tiles, or ``--block-size``; a grid pattern
    (window2d / window3d) on Hopper runs at NATTEN's Hopper FNA tile (FA4's tile is NATTEN's Blackwell one, with
    NATTEN's own softmax: ``natten_sm100``)."""
    cfg = kernel_config(algo, hw, wl)
    if wl.block_size:
        return at_block(cfg, wl.block_size)
    if natten_hopper(hw, algo, wl):
        return natten_sm90(cfg, wl.head_dim, wl.v_head_dim, wl.dtype_bytes)
    if natten_fna(hw, algo, wl):
        return natten_sm100(cfg)
    return cfg


def natten_hopper(hw, algo: str, wl) -> bool:
    """Whether the call is a neighborhood grid run by NATTEN's Hopper FNA (flash3 on sm_90)."""
    return algo == "flash3" and sm_number(hw.arch) >= 90 and tile_source.grid_call(wl)


def natten_fna(hw, algo: str, wl) -> bool:
    """Whether the call is a neighborhood grid run by NATTEN's Hopper FNA (flash3 on sm_90) or its Blackwell FNA
    (flash4 on sm_100, FA4's schedule at NATTEN's 256 x 128 tile)."""
    blackwell = algo == "flash4" and sm_number(hw.arch) >= 100 and tile_source.grid_call(wl)
    return blackwell or natten_hopper(hw, algo, wl)


def cold_l2_writeback_bytes(hw, wl, hbm_bytes):
    """Bytes of write-backs a ``--scope kernel`` call pays for starting with L2 full of dirty lines, as a
    benchmark leaves it: it flushes L2 by writing a buffer just before the timed launch (nvbench's cold
    measurement: ``cudaMemsetAsync`` of an L2-sized buffer, NVIDIA/nvbench nvbench/detail/l2flush.cuh; Triton's
    ``do_bench``: the driver's ``clear_cache``, ``cache.zero_()`` of a 256 MiB buffer,
    triton-lang/triton third_party/nvidia/backend/driver.py; attnsim's own harness:
    ``flush_l2`` fills 256 MiB, validation/harness.py). L2 is write-back, so every line the call brings in
    evicts a dirty one: up to one L2 of writes shares the HBM with the call's own bytes. A serving layer
    (``--scope layer``) follows small kernels whose outputs are a sliver of L2, and a benchmark that repeats the
    call without a flush (``--scope kernel-warm``) leaves only the previous call's output dirty, and writing it
    back is what the call's own O bytes already stand for (each repeat writes one O): none extra."""
    return vmin(hw.l2_bytes, hbm_bytes) if wl.scope == "kernel" else 0.0


PREFILL_FAMILIES = ("flash1", "flash2", "flash3", "flash4")  # the fused prefill kernels STREAM_BIAS_RATIO speaks of
STREAM_BIAS_RATIO = 0.5  # bench/stream_bias.py: published prefill calls at or above this ratio are the model's least sure
# predicted / measured - 1 there: the lowest and highest bin median at or above the ratio, with the compute and the
# stream blended (stream_overlap_loss; python3 bench/stream_bias.py; tests/test_stream_bias.py recomputes both)
STREAM_BIAS_RANGE = {"16-bit": (-0.14, 0.22), "fp8": (-0.45, -0.22)}
SHORT_CALL_S = 20e-6  # bench/short_call_bias.py: flushed calls predicted under this run longer than predicted, by
# the quartiles (and median) of their measured - predicted time in microseconds over every published flushed call
# predicted under it (python3 bench/short_call_bias.py; tests/test_short_call_bias.py recomputes them)
SHORT_CALL_GAP_US = (1.6, 3.7, 4.7)  # lower quartile, median, upper quartile (21 calls, 2026-12-05)


def holds_its_stream(detail) -> bool:
    """Whether a result's compute already holds its HBM stream: FlashInfer's kernels (``stream_s``: they wait for
    their bytes in flight inside their compute) and the serial baseline (``kernel_seconds``: each kernel its roofs)."""
    return "stream_s" in detail or "kernel_seconds" in detail


def overlap_exponent(hw) -> float:
    """p of ``overlapped``: 2^(1/p) = 1 + the GPU's ``stream_overlap_loss`` (inf where it is 0 or not given)."""
    loss = hw.stream_overlap_loss
    return math.inf if not loss else 1.0 / math.log2(1.0 + loss)


def overlapped(hw, wl, detail, compute, stream):
    """A fused kernel's time from its SMs' time and its HBM stream: (C^p + S^p)^(1/p), at or above the larger of
    the two and at most their sum (``overlap_exponent``, from the GPU's fitted ``stream_overlap_loss``). Each SM's
    pipeline holds a couple of K/V tiles; when the stream's time nears the compute's, an SM whose tiles are late
    idles while the data of another waits, as the shared HBM serves 100-odd SMs unevenly, so the two overlap
    least where neither dominates (published calls at a stream of half their compute or more ran 7-32% longer than
    the larger of the two; docs/kernels.md N).

    Weighted (``blend_weight``) by the share of the query tile's rows that hold queries in a kernel whose loads
    run apart from its MMA warps (a TMA producer: FA3 and FA4 on Hopper, FA4 on Blackwell, FlashMLA): a decode
    call's tiles there are mostly padding and its SM time is its loads' latency chain, the stream itself (the
    published decode calls follow the larger of the two: a full blend put TileOPs' FA3 decode calls from 7.6% to
    17% off), and the weight takes the blend from there to a prefill's continuously, so that two queries do not
    cost a step more than one. Never where the family computed its own stream (FlashInfer's kernels,
    ``stream_s``), whose time already waits for its bytes in flight (the CUDA-core decode blends its own loop,
    ``flashinfer_decode._loop_time``)."""
    p = overlap_exponent(hw)
    top = vmax(compute, stream)
    if math.isinf(p) or holds_its_stream(detail):
        return top
    low = vmin(compute, stream)
    fill = blend_weight(wl, detail)
    if not is_columns(top) and not is_columns(fill):
        fill = float(fill)
        return top + fill * (_blend(float(top), float(low), p) - top) if fill > 0 else top
    # element by element with the scalar's math.pow: numpy's vectorized power may round the last bit otherwise, and
    # a point must cost the same in a column as alone
    top, low, fill = np.broadcast_arrays(np.asarray(top, dtype=float), np.asarray(low, dtype=float),
                                         np.asarray(fill, dtype=float))
    blended = np.fromiter(map(_blend, top.ravel().tolist(), low.ravel().tolist(), (p,) * top.size), float,
                          top.size).reshape(top.shape)
    return top + fill * (blended - top)


def blend_weight(wl, detail):
    """How much of the compute/stream blend a fused call takes (``overlapped``): 1 where the kernel's MMA warps issue
    their own loads and wait for them (the mma.sync kernels: FA1, FA2 and its split-KV decode, FA3's SM80 path; their
    mainloops cp.async each K/V tile and cp_async_wait + __syncthreads before its GEMM, so a late tile stalls the
    MMAs of a decode call as of a prefill); elsewhere the share of the query tile's rows holding queries
    (``tile_fill``; without it, 1 for a call of more than one query and 0 for one)."""
    if detail.get("loads_in_mma_warps"):
        return 1.0
    fill = detail.get("tile_fill")
    return where(wl.seq_len > 1, 1.0, 0.0) if fill is None else fill


def _blend(top: float, low: float, p: float) -> float:
    return top * math.pow(1.0 + math.pow(low / top, p), 1.0 / p) if top > 0 else top


def stream_ratio(result) -> float | None:
    """The call's HBM stream (its bytes, the first byte and last tile, the cold L2's write-backs) over its
    compute time, the two roofs the fused kernels' time takes the larger of; None for any other result (an
    accelerator, the serial baseline, FlashInfer's decode kernels, whose compute already holds their stream,
    columns, a zero compute time)."""
    times, detail = result.times, result.detail
    if holds_its_stream(detail) or "compute" not in times or "hbm" not in times or is_columns(times["compute"]) or not times["compute"]:
        return None
    stream = times["hbm"] + times.get("stream_fill", 0.0) + times.get("writeback", 0.0)
    return float(stream / times["compute"])


def dram_latency(hw, family: str) -> float:
    """The GPU's unloaded DRAM latency (a pointer chase), which ``family``'s dependent loads wait out; exit 2
    where the hardware file has none."""
    if hw.dram_latency_s is None:
        raise UserError(f"{family} needs {hw.name}'s dram_latency_s (one dependent DRAM load, e.g. a pointer "
                        f"chase) in its hardware TOML")
    return hw.dram_latency_s


def _stream_fill(hw, tile_cycles) -> float:
    """What an HBM-bound kernel pays beyond bytes / bandwidth: the first load's latency before data flows,
    and the compute of the last tile after its data has arrived (latency + size / bandwidth + drain)."""
    return hw.hbm_latency_s + tile_cycles / hw.sustained_clock_hz


def _resident_tile(cfg, hw, wl, partial, resident, tile, rows) -> tuple:
    """(cycles, bound) of a tile at the CTAs its SM holds, as columns shaped like ``rows`` (``tile``: the cost at a
    single ``resident``); a tile's latency floor is shared by the CTAs an SM holds, so the cost can differ by
    column."""
    if not is_columns(resident):
        if tile is None:
            tile = tile_cycles(cfg, hw, wl, partial, resident=resident)
        return column_tile(tile, rows) if rows is not None else (tile.cycles, tile.bound)
    cycles, bound = np.empty(resident.shape), np.empty(resident.shape, dtype=object)
    for r in np.unique(resident):
        cost = tile_cycles(cfg, hw, wl, partial, resident=int(r))
        cycles[resident == r], bound[resident == r] = cost.cycles, cost.bound
    return cycles, bound


def _last_wave(hw, parts, n_ctas, resident, tail, work_at, row_index, splits) -> dict | None:
    """For --explain, one point's uniform grid whose last, partial wave runs at its own occupancy
    (cta_work._tail_span): its full waves, the CTAs left, how many an SM and their tile cycles; else None."""
    if (tail is None or len(parts) != 1 or row_index or is_columns(n_ctas) or is_columns(resident)
            or is_columns(splits) or not cta_work.equal_rows(parts[0].tiles, splits)):
        return None
    n_full, left, per_sm = cta_work.last_wave(int(n_ctas), hw.sms * resident, hw.sms)
    if not left or per_sm >= resident:
        return None
    return {"full_waves": n_full, "ctas": left, "per_sm": per_sm, "tile_cycles": work_at(per_sm)[0]}


def _detail(cfg, k, splits, full_t, part_t, dominant, clock) -> dict:
    """What ``--explain`` and the plots show of a fused kernel's schedule."""
    return dict(block_q=cfg.block_q, block_kv=cfg.block_kv, packed_gqa=cfg.pack_gqa, ctas_per_sm=k, splits=splits,
                tile_cycles=full_t,
                partial_tile_cycles=part_t, tile_bound=dominant, clock_hz=clock)


def _rows(cfg, wl) -> int:
    """Real query rows in one CTA tile (decode fills a tile with packed query heads)."""
    per_head = wl.seq_len * (wl.group if cfg.pack_gqa else 1)
    return vmin(cfg.block_q, per_head)


def _tiles(wl, block_q, block_kv, packing=None):
    """The mask lowered at the tile shape (``packing``'s packed tiles where given); closed-form counts for columns
    of dense sizes."""
    if is_columns(wl.seq_len):
        return dense_tiles(wl.seq_len, wl.kv_len, block_q, block_kv, packing)
    return tile_source.tile_rows(wl, block_q, block_kv, packing)


def _fused_cost(cfg, hw, wl, rows, visited: float, tiles, splits: int) -> Cost:
    """Work and L2/smem traffic of all visited tiles, plus Q/O per CTA."""
    d, dv, b, bc = wl.head_dim, wl.v_head_dim, wl.dtype_bytes, cfg.block_kv
    heads = visited / vmax(tiles.visited * 1.0, 1.0)
    ctas = heads * tiles.n_rows
    kv_tile = bc * cfg.kv_load_width(d, dv) * b / cfg.kv_share
    q_o = rows * cfg.qo_bytes(d, dv, b) * ctas
    partial_o = where(splits > 1, SPLIT_PARTIAL_BYTES * rows * (dv + 1) * ctas * splits, 0.0)
    scores = visited * cfg.block_q * bc  # whole tiles (_tile_cost)
    kd, kdv = cfg.mma_dims(d, dv)  # whole compiled head dims in the MMAs and smem tiles
    ops = ops_of(cfg, kd, kdv)
    return Cost(
        l2_bytes=visited * kv_tile + q_o + partial_o,
        onchip_bytes=visited * smem_tile_bytes(cfg, kd, kdv, b),  # each tile's, as its smem term counts them
        tensor_flops=scores * ops.tensor_per_score + visited * cfg.block_q * ops.tensor_per_row,
        fma_ops=scores * ops.fp32_poly(cfg.exp_poly_fraction, EXP_POLY_FP32_OPS)
        + visited * cfg.block_q * ops.fp32_per_row,
        exp_ops=scores * ops.sfu_poly(cfg.exp_poly_fraction) + visited * cfg.block_q * ops.sfu_per_row,
        launches=where(splits > 1, 2, 1),
    )


def _fused_hbm(cfg, hw, wl, l2_bytes: float, slots: int, tiles, heads: int, splits: int, packing=None) -> float:
    """HBM bytes: compulsory Q, K, V, O plus the K/V re-reads that L2 does not catch.

    CTAs are dispatched head by head, a head's query blocks in order; the K/V
    that the CTAs in flight reach form L2's working set (a whole KV head when
    dense, a window's span under a sliding window). While it fits, each K/V
    block comes from HBM once; beyond, once per wave of that head's CTAs (or
    the L2 hit-rate estimate, if lower). ``packing``: the kernel's packed tiles
    that run across positions (``gpu_kernels.query_packing``), if any.
    """
    width = cfg.kv_load_width(wl.head_dim, wl.v_head_dim) * wl.dtype_bytes  # one row of K (and V)
    kv_read = _kv_keys_read(wl, tiles, cfg.block_kv)
    kv_head_bytes = kv_read * width
    q_o = 1.0 * wl.batch * wl.heads * wl.seq_len * cfg.qo_bytes(wl.head_dim, wl.v_head_dim, wl.dtype_bytes)
    compulsory = q_o + wl.batch * wl.kv_heads * kv_head_bytes
    stack = tiles_per_position(cfg, wl)  # ``heads`` counts a position's stacked tiles as heads of their own
    ctas_per_head = vmax(tiles.n_rows * splits * stack, 1)
    heads_in_flight = vmin(heads / stack, vceil(slots / ctas_per_head) + 1)
    group = wl.group if cfg.pack_gqa else 1  # query heads per tile
    per_tile = positions_per_tile(cfg, wl)
    rows_in_flight = vmin(tiles.n_rows, slots) * per_tile  # the query positions the CTAs in flight hold
    if packing is not None:  # block_q / group a packed tile that runs across positions
        rows_in_flight = vceil(vmin(tiles.n_rows, slots) * cfg.block_q / wl.group)
    reach_bytes = vmin(_kv_keys_reached(wl, tiles, per_tile, cfg.block_kv, rows_in_flight), kv_read) * width
    working_set = vceil(heads_in_flight * group / wl.group) * reach_bytes  # KV heads in flight
    # Too big for L2: the CTAs of a head that run in the same wave start together and walk the K/V
    # tiles at the same pace, so each wave streams the K/V its rows reach from HBM once at most.
    waves_per_head = vceil(ctas_per_head / slots)
    wave_bound = q_o + wl.batch * wl.kv_heads * vmax(kv_head_bytes, waves_per_head * reach_bytes)
    # (no K/V reached, e.g. a causal call whose one key no visited tile holds: nothing to miss, and no 0 / 0)
    all_miss = compulsory + (1.0 - hw.l2_bytes / vmax(working_set, 1.0)) * vmax(l2_bytes - compulsory, 0.0)
    return where(working_set <= hw.l2_bytes, compulsory, vmin(wave_bound, all_miss))


def _kv_keys_reached(wl, tiles, block_q: int, block_kv: int, last_queries):
    """Keys of one KV head that the last ``last_queries`` query rows can reach (all of them when dense); a grid
    pattern counts rows in its query tiles of ``block_q`` tokens."""
    if tiles.pattern is None:
        return wl.kv_len
    return min(tile_source.key_blocks_reached(tiles.pattern, wl.seq_len, wl.kv_len, block_kv, int(last_queries),
                                              block_q) * block_kv, wl.kv_len)


def _kv_keys_read(wl, tiles, block_kv: int):
    """Keys of one KV head that the kernel loads: those in key blocks some query row visits (all of them
    when dense); a block-sparse kernel never loads a block no query visits (a sliding window in decode), and
    loads a ragged last block only up to the last key (``TileRows.ragged_unread``)."""
    return vmin(tiles.kv_blocks_read * block_kv - tiles.ragged_unread, wl.kv_len)


def _split_partials(cfg, hw, wl, splits):
    """HBM bytes a split call's attention kernel moves beyond the Q, K, V and O it is charged: it writes each
    split's partial O and log-sum-exp in fp32 (FA2 flash_fwd_kernel.h compute_attn_1rowblock_splitkv: oaccum,
    lse_accum; FA3 and FA4 the same, Split) and not O, which the combine kernel writes (``_combine_seconds``). The
    partials stay in L2 for the combine while they fit; the rest spills to HBM. Nothing for a decode call (one row a
    head: kilobytes); for a split prefill of a few hundred queries the partials outgrow L2 (5 splits of 9,728 rows at
    d = 256: 50 MB on an A100's 40 MiB)."""
    if not cfg.writes_o:
        return 0.0
    spill = vmax(_partials_bytes(wl, splits) - hw.l2_bytes, 0.0) - _out_bytes(wl)
    return where(splits > 1, spill, 0.0)


def _partials_bytes(wl, splits):
    """Every split's partial O and log-sum-exp of every query row, in fp32."""
    return wl.batch * wl.heads * wl.seq_len * splits * SPLIT_PARTIAL_BYTES * (wl.v_head_dim + 1)


def _out_bytes(wl):
    """The call's O, in its output dtype."""
    return wl.batch * wl.heads * wl.seq_len * wl.v_head_dim * out_bytes(wl.dtype_bytes)


def _combine_seconds(hw, wl, splits, in_flight: int | None = None) -> float:
    """The log-sum-exp combine kernel: read every split's partial O and LSE, write O (its launch is the split
    call's second, in ``Cost.launches``): its bytes, the partials at L2 bandwidth as far as L2 holds them (the
    attention kernel has just written them there, ``_split_partials``) and the rest and O at HBM bandwidth, or,
    where longer, its chain of L2 round trips: the LSEs' read, then the splits' partial O ``in_flight``
    at a time, 1 + ceil(splits / in_flight) trips. FA3's combine (hopper/flash_fwd_combine_kernel.h, kStages = 4;
    FA4's flash_attn/cute/flash_fwd_combine.py the same) keeps kStages - 1 = 3 cp.async loads in flight
    (cp_async_wait<kStages - 1> each split); FA2's (csrc/flash_attn/src/flash_fwd_kernel.h,
    combine_attn_seqk_parallel) loads each split into the same register fragment it then accumulates from, in a
    loop of runtime length: 2 in flight, what a compile of the same loop shape issued (nvcc 13.0, 2026-12-04; FA2's
    own SASS not read), and what FlashInfer's FA2 v2.4.2 decode lines agree with. None: the bytes alone."""
    seconds = merge_bytes_seconds(hw, _partials_bytes(wl, splits), _out_bytes(wl))
    if in_flight:
        trips = combine_round_trips(splits, in_flight)
        seconds = vmax(seconds, trips * block_sparse.l2_hit_cycles(hw.arch) / hw.sustained_clock_hz)
    return seconds


def merge_bytes_seconds(hw, partials, out):
    """Seconds a merge kernel's bytes take: the ``partials`` the attention kernel has just written, from L2 as far as
    L2 holds them, the rest of them and the merged ``out`` at the HBM bandwidth a stream reaches."""
    in_l2 = vmin(partials, hw.l2_bytes)
    return in_l2 / hw.l2_bw_bytes_s + (partials - in_l2 + out) / hw.hbm_achievable_bw


def combine_round_trips(splits, in_flight: int):
    """L2 round trips of a combine kernel: the LSEs' read, then the splits' partial O ``in_flight`` at a time."""
    return 1 + vceil(splits / in_flight)


# ---------------------------------------------------------------- naive

STRIDED_KERNELS = ("layout", "mask")  # standard attention's element-wise kernels on strided or broadcast operands
# TensorIterator dimensions of each layout copy at batch 1 (one more above): rearrange(q, 'b t h d -> (b h) t d')
# from the packed QKV keeps d, t and h apart (t's input stride 3hd, h's d), so do K's '(b h) d s' and einsum's V
LAYOUT_COPY_DIMS = 3


def _naive(hw, wl) -> Result:
    """Standard attention as PyTorch runs it (flash-attention benchmarks/benchmark_flash_attention.py,
    ``attention_pytorch``, the "standard" rows of the FA papers): layout copies of Q, K and V into
    per-head batches (rearrange, and einsum's permute of V; K and V expanded to every query head as
    GQA's repeat_kv does), the QK^T GEMM writing the N x M score matrix S to HBM, under a mask the mask's
    construction (an fp32 full, triu and cast to 16 bits: 18 bytes per element, once per call) and its
    addition (read S and the mask, write S), the softmax, and the PV GEMM reading P. Under ``--scope kernel``
    the first kernel (the layout copies) also writes back the dirty lines a benchmark's L2 flush leaves, as the
    fused kernels' stream does (``cold_l2_writeback_bytes``).

    The softmax kernel is the 3-pass cascade: its passes over m re-read a score row; they are served on
    chip when the row fits in one CTA's shared memory, else they go back to memory. Every (batch, head)
    reads the same mask, read from HBM once (the FA3 paper's causal H100 timings rise smoothly with N through
    the mask outgrowing L2: no step of one mask read per head). cuBLAS GEMMs stay dense. The GEMMs, the softmax
    and the mask build stream at ``unfused_hbm_efficiency`` of the HBM spec; the layout copies (strided views in)
    and the mask add (a broadcast operand) run PyTorch's non-vectorized element-wise path (CUDALoops.cuh
    gpu_kernel_impl_nocast: vectorized only when every operand is contiguous) at ``unfused_strided_efficiency``.
    """
    b, d, dv = wl.dtype_bytes, wl.head_dim, wl.v_head_dim
    heads = wl.batch * wl.heads
    scores = wl.seq_len * 1.0 * wl.kv_len * heads
    s_bytes = scores * b
    qk = heads * (wl.seq_len + wl.kv_len) * d * b  # the first GEMM's inputs; the second reads V, writes O
    vo = heads * (wl.kv_len + wl.seq_len) * dv * b
    passes = tile_source.softmax_passes()
    softmax = softmax_ops(d, dv)  # MUFU and FP32 per score of the 3-pass cascade's element-wise Einsums
    row_on_chip = wl.kv_len * b <= hw.smem_per_block_bytes
    softmax_bytes = s_bytes * where(row_on_chip, 1, passes) + s_bytes  # read S once per pass off chip, write P
    # Q read and written per query head; K and V read once per KV head and written per query head (repeat_kv's
    # expand-and-copy reads the shared source once: its other query heads' reads of it hit L2)
    copies = (2 * heads * wl.seq_len * d + (wl.batch * wl.kv_heads + heads) * wl.kv_len * (d + dv)) * b
    layout_elements = heads * (wl.seq_len * d + wl.kv_len * (d + dv))  # what the copies write, an element a thread
    absorbed = mla_absorbed(d, dv)
    if absorbed:  # MLA's absorbed form: DeepSeek-V3's own reference (deepseek-ai/DeepSeek-V3
        # inference/model.py, MLA.forward with attn_impl "absorb": einsum("bshc,btc->bsht", q_nope, kv_cache) +
        # einsum("bshr,btr->bsht", q_pe, pe_cache), softmax, einsum("bsht,btc->bshc", scores, kv_cache)) broadcasts
        # the cached latent and RoPE key over the query heads: no layout copies, the cache read once per request
        cache = wl.batch * wl.kv_heads * wl.kv_len
        qk = (heads * wl.seq_len + cache) * d * b
        vo = (cache + heads * wl.seq_len) * dv * b
        copies = 0.0
    kernels = {  # every byte a kernel moves passes through L2 on its way to or from HBM
        "layout": Cost(hbm_bytes=copies, l2_bytes=copies, launches=3),
        "gemm_qk": Cost(hbm_bytes=qk + s_bytes, l2_bytes=qk + s_bytes, tensor_flops=FMA_FLOPS * d * scores, launches=1),
        "softmax": Cost(hbm_bytes=softmax_bytes, l2_bytes=softmax_bytes, exp_ops=scores * softmax[0],
                        fma_ops=scores * softmax[1], launches=1),
        "gemm_pv": Cost(hbm_bytes=s_bytes + vo, l2_bytes=s_bytes + vo, tensor_flops=FMA_FLOPS * dv * scores, launches=1),
    }
    if wl.mask_expr:  # build the additive mask once; then read S and the mask, write S
        mask_bytes = wl.seq_len * 1.0 * wl.kv_len * b
        build = wl.seq_len * 1.0 * wl.kv_len * MASK_BUILD_BYTES
        masking = {"mask_build": Cost(hbm_bytes=build, l2_bytes=build, launches=3),
                   "mask": Cost(hbm_bytes=2 * s_bytes + mask_bytes, l2_bytes=3 * s_bytes, launches=1)}
        order = ("layout", "gemm_qk", "mask_build", "mask", "softmax", "gemm_pv")  # the order attention_pytorch runs them
        kernels = {name: {**kernels, **masking}[name] for name in order}
    if absorbed:  # MLA's absorbed reference: no layout kernel
        del kernels["layout"]
    clock = hw.sustained_clock_hz
    hbm_bw = hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency
    tensor_rate = hw.sms * hw.tensor_flops_per_clk_sm[tensor_dtype(hw, wl)] * clock * hw.gemm_efficiency
    sfu_rate = hw.sms * hw.sfu_ops_per_clk_sm * clock
    per_kernel, bounds = {}, {}
    strided_bw = hw.hbm_bw_bytes_s * hw.strided_efficiency
    # a flushed L2 (--scope kernel) is full of dirty lines: the first kernel's reads evict them (cold_l2_writeback_bytes)
    first = next(iter(kernels))  # the layout copies, or the first GEMM of MLA's absorbed reference
    dirty = cold_l2_writeback_bytes(hw, wl, kernels[first].hbm_bytes)
    for name, c in kernels.items():
        bw = strided_bw if name in STRIDED_KERNELS else hbm_bw
        moved = c.hbm_bytes + (dirty if name == first else 0.0)
        parts = {"tensor": c.tensor_flops / tensor_rate, "hbm": moved / bw, "exp": c.exp_ops / sfu_rate}
        if name == "layout":  # PyTorch's strided copy issues its offset arithmetic per element (torch_copy)
            parts["issue"] = torch_copy.issue_seconds(hw, layout_elements, LAYOUT_COPY_DIMS + (wl.batch > 1))
        per_kernel[name] = vmax(*parts.values()) + c.launches * hw.launch_overhead_s
        bounds[name] = argname(parts)
    total = sum(per_kernel.values())
    cost = sum(kernels.values(), Cost())
    times = _roof_times(hw, wl, cost, "cublas")
    times["compute"] = total
    tiles = _tiles(wl, wl.seq_len, wl.kv_len) if is_columns(wl.seq_len) else cta_work.element_counts(wl)
    return _finish(hw, "naive", wl, cost, times, pick(bounds, argname(per_kernel)), tiles,
                   dict(kernel_seconds=per_kernel, kernel_bounds=bounds, softmax_row_on_chip=row_on_chip,
                        cold_l2_writeback_bytes=dirty),
                   serial=True)


# ---------------------------------------------------------------- shared

def _roof_times(hw, wl, cost: Cost, path: str, cp_async: bool = False) -> dict[str, float]:
    """Seconds each unit needs for the whole call at its own achievable peak; ``cp_async``: the kernel streams its
    K/V by cp.async, at that load path's read fraction where the part has one (GPUSpec.stream_bw)."""
    clock = hw.sustained_clock_hz
    eff = hw.gemm_efficiency if path == "cublas" else hw.mma_path(path)[0]
    if isinstance(cost.tensor_flops, (int, float)) and cost.tensor_flops == 0:
        tensor = 0.0  # no MMA (FlashInfer's CUDA-core decode): no tensor roof, whatever the dtype has on this GPU
    else:
        tensor = cost.tensor_flops / (hw.sms * hw.path_flops_per_clk_sm(path, tensor_dtype(hw, wl)) * clock * eff)
    return {
        "tensor": tensor,
        "exp": cost.exp_ops / (hw.sms * hw.sfu_ops_per_clk_sm * clock),
        "fma": cost.fma_ops / (hw.sms * hw.fp32_fma_per_clk_sm * clock),
        "smem": cost.onchip_bytes / (hw.sms * hw.smem_bytes_per_clk_sm * clock),
        "l2": cost.l2_bytes / hw.l2_bw_bytes_s,
        "hbm": cost.hbm_bytes / hw.stream_bw(cp_async),
        "launch": cost.launches * hw.launch_overhead_s,
    }


def _finish(hw, algo, wl, cost, times, compute_bound, tiles, detail, serial=False) -> Result:
    """Combine roofs into the kernel time, name the bound, and compute utilisation."""
    launch = times["launch"]
    if serial:  # naive: kernel times already include their own roofs and launches
        time_s = times["compute"]
        bound = where(launch < 0.5 * time_s, compute_bound, "launch")
    else:
        if "writeback" not in times:  # a family that counts its write-backs on other bytes sets its own
            times["writeback"] = cold_l2_writeback_bytes(hw, wl, cost.hbm_bytes) / (hw.hbm_bw_bytes_s * hw.hbm_efficiency)
        # the HBM stream: its bytes, the first byte and last tile, and the dirty lines its reads evict
        stream = times["hbm"] + times.get("stream_fill", 0.0) + times["writeback"]
        larger = vmax(times["compute"], stream, times["l2"])
        body = vmax(overlapped(hw, wl, detail, times["compute"], stream), times["l2"])
        if not is_columns(body) and body > larger:  # --explain shows the blend
            detail = {**detail, "overlap": dict(exponent=overlap_exponent(hw), loss=hw.stream_overlap_loss,
                                                weight=float(blend_weight(wl, detail)),
                                                compute_s=float(times["compute"]), stream_s=float(stream),
                                                body_s=float(body), larger_s=float(larger))}
        time_s = body + launch + times.get("combine", 0.0) + times.get("permute", 0.0) + times.get("prepare", 0.0)
        memory = where(stream >= times["l2"], "hbm", "l2")
        bound = where(body >= launch, where(times["compute"] >= larger, compute_bound, memory), "launch")
        if "permute" in times and times["permute"] > body:  # the token permutation's copies outlast the kernel
            bound = "hbm"
    util = {unit: vmin(1.0, times[unit] / time_s) for unit in ("tensor", "exp", "fma", "smem", "l2", "hbm")}
    flops = wl.flops_per_score() * tiles.attended * wl.batch * wl.heads
    return Result(hw.name, algo, wl, time_s, bound, cost, times, util, flops, tiles.block_density,
                  None, detail)
