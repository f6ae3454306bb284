"""``--explain``: the cost formulas of one point, symbolic and with numbers plugged in.

The formulas are the model's own (same constants, same combination rules),
written in sympy so they print; a test checks that the numbers they give equal
the model's.
"""

import math
from dataclasses import replace

import sympy as sp

from simulator import gpu_model as gm
from simulator.accel_model import UNIT_SHARE
from simulator.flashinfer_sm90 import FA2_FAMILY as FI_PREFILL_FA2, FAMILY as FI_PREFILL, explain_lines as fi_prefill_lines, runs_fa2
from simulator.flashinfer_tc import FAMILIES as TC_FAMILIES
from simulator.columns import is_columns
from simulator.gpu_kernels import (fa2_block_sparse, fa2_forces_split, fa3_pages_without_tma, paged_cache, sm_number,
                                   vllm_one_mma_wg)
from simulator.workload import with_head_dims
from simulator import kernel_configs as kc
from simulator import splits as splits_mod
from simulator import tile_cost as tc
from simulator.tile_ops import other_mufu

Br, Bc, d, dv, b, R_tc, eff, B_smem, B_l2, R_sfu, R_fp32, readers, L, stages, f_poly, k = sp.symbols(
    "Br Bc d dv b R_tc eff B_smem B_l2sm R_sfu R_fp32 readers L stages f_poly k", positive=True)
# The cascade's work (simulator.tile_ops): per score element and per query row per key tile, by unit.
T_s, X_s, P_s, T_r, X_r, P_r = sp.symbols("T_s X_s P_s T_r X_r P_r", nonnegative=True)
X_e = sp.Symbol("X_e", nonnegative=True)  # of the MUFU ops per score, the exponentials (FA4's polynomial takes a share)
# The head dims the kernel is compiled for, where the call's are smaller (its MMAs and smem tiles span them)
dk, dvk = sp.symbols("d_k dv_k", positive=True)
M_s = sp.Symbol("M_s", nonnegative=True)  # CUDA-core ops per score of a masked tile (index compares + select)


def tile_formulas(cfg, masked: bool = False) -> dict[str, sp.Expr]:
    """Per-tile SM cycles of the fused kernel ``cfg``, by unit (see tile_cost._tile_cost): whole Br x Bc
    tiles, with the terms this kernel has (Q re-read from smem, P through smem, polynomial exponentials);
    ``masked``: every tile applies the mask (FA2's local calls, KernelConfig.masks_local_tiles; FA4 on Hopper's
    causal and local calls, KernelConfig.masks_every_tile)."""
    kd, kdv = (dk, dvk) if cfg.head_dims else (d, dv)
    kv_smem = Bc * (kd + kdv) * b / cfg.kv_share
    # the MMAs' reads and the tile's fill; MLA's absorbed form (v_in_k) fills K alone, V being K's columns
    kv_terms = readers * kv_smem + Bc * kd * b / cfg.kv_share if cfg.v_in_k else (readers + 1) * kv_smem
    smem_terms = kv_terms + (Br * kd * b if cfg.q_from_smem else 0) + \
        (2 * Br * Bc * b if cfg.p_through_smem else 0) + (2 * Bc * kdv * b if cfg.transpose_v else 0)
    poly = f_poly if cfg.exp_poly_fraction else 0
    # the exponentials a polynomial may run: all MUFU ops of the plain softmax (X_s); of a cascade with other MUFU
    # ops (a soft-cap's tanh), its exponentials alone (X_e)
    exps = X_e if poly and other_mufu(cfg.cascade) else X_s
    return {
        "tensor": (T_s * Br * Bc + T_r * Br) / (R_tc * eff),
        "smem": smem_terms / B_smem,
        "exp": ((X_s - poly * exps) * Br * Bc + X_r * Br) / R_sfu,
        "fma": ((P_s + (M_s if masked else 0) + poly * exps * tc.EXP_POLY_FP32_OPS) * Br * Bc + P_r * Br) / R_fp32,
        "l2": Bc * (d if cfg.v_in_k else d + dv) * b / cfg.kv_share / B_l2,
        "latency": L / (stages * k),  # k resident CTAs, stages loads in flight each (Little's law)
    }


def tile_values(hw, algo: str, wl, cascade: str | None = None, **pass_fields) -> dict:
    """Numbers for the tile formula symbols, for a dense, unpacked tile (of ``cascade``'s pass, if given)."""
    cfg = gm.fused_config(hw, algo, wl)
    if cfg.family == "flash3":  # its split and packing decisions (an sm80 decode call's tile follows its split)
        from simulator.splits import fa3_layout

        cfg = fa3_layout(hw, wl, cfg)[1]
    elif cfg.family == "flash4":  # a split call with a V head dim of its own narrows its key tile
        from simulator.splits import fa4_layout

        cfg = fa4_layout(hw, wl, cfg)[1]
    if cascade:
        cfg = replace(cfg, cascade=cascade, **pass_fields)
    eff_value = hw.mma_path(cfg.tensor_path)[0]
    kd, kdv = cfg.mma_dims(wl.head_dim, wl.v_head_dim)
    ops = tc.ops_of(cfg, kd, kdv)
    return {Br: cfg.block_q, Bc: cfg.block_kv, d: wl.head_dim, dv: wl.v_head_dim, dk: kd, dvk: kdv, b: wl.dtype_bytes,
            R_tc: hw.path_flops_per_clk_sm(cfg.tensor_path, wl.dtype), eff: eff_value, B_smem: hw.smem_bytes_per_clk_sm,
            B_l2: hw.l2_bw_bytes_s / hw.sms / hw.sustained_clock_hz, R_sfu: hw.sfu_ops_per_clk_sm,
            R_fp32: hw.fp32_fma_per_clk_sm, readers: cfg.readers, L: hw.hbm_latency_s * hw.sustained_clock_hz,
            stages: cfg.kv_stages, k: cfg.ctas_per_sm(hw), f_poly: cfg.exp_poly_fraction, T_s: ops.tensor_per_score,
            X_s: ops.sfu_per_score, X_e: ops.exp_per_score, P_s: ops.fp32_per_score, T_r: ops.tensor_per_row,
            X_r: ops.sfu_per_row,
            P_r: ops.fp32_per_row, M_s: tc.mask_ops(cfg)}, cfg


UNIT_NAMES = {"mufu": "sfu (not exp)"}  # the walker's units as --explain names them: MUFU ops other than exponentials


def _einsum_lines(cascade: str, wl) -> list[str]:
    """Each Einsum of the cascade: where its points sit, its pass over the keys, and its units' work per point
    of that class (symbolic in E and F, then at the head dims)."""
    from einsum_cascades import load_cascade
    from simulator.cascade_work import E, F, cascade_work

    c = load_cascade(cascade)
    work = cascade_work(c)
    out = [f"cascade {cascade}: Einsum, per-point class, pass over the keys, work per point (GPU lowering)"]
    if c.default_extents:  # '# extents: M0=4': the oracle's chunk sizes, not the kernel's
        out.append("  (its '# extents: " + ", ".join(f"{k}={v}" for k, v in c.default_extents.items())
                   + "' sizes the chunks attnsim cascade check runs; the kernel walks its own key tiles)")
    for name, (cls, level) in work.placement.items():
        units = work.einsums.get(name)
        if not units:
            continue
        text = ", ".join(f"{UNIT_NAMES.get(unit, unit)} {sp.sstr(sp.nsimplify(n))} = "
                         f"{float(sp.sympify(n).subs({E: wl.head_dim, F: wl.v_head_dim})):g}"
                         + (f" per {where.replace('_', ' ')}" if where != cls else "")
                         for (where, unit), n in units.items())
        out.append(f"  {name:<6} {cls:<11} pass {level or '-'}  {text}")
    return out


def _multipass_lines(hw, spec, wl, result) -> list[str]:
    """A multi-pass cascade: each pass's tile cycles and bound, and the recompute-or-store choice."""
    det = result.detail
    out = [f"{det['passes']} passes over the keys, one launch each; score tensors a later pass reads: "
           + ", ".join(f"{o} {t * 1e3:.4f} ms" for o, t in det["multipass_seconds"].items())
           + f" -> {det['multipass']}"]
    for level, seconds in enumerate(det["pass_seconds"], start=1):
        values, cfg = tile_values(hw, spec.family, wl, spec.cascade, pass_level=level,
                                  recompute=det["multipass"] == "recompute")
        out.append(f"  pass {level}: {seconds * 1e3:.4f} ms; per score T_s={values[T_s]:g} X_s={values[X_s]:g} "
                   f"P_s={values[P_s]:g}")
    if result.times.get("combine") and (flight := gm.COMBINE_IN_FLIGHT.get(spec.family)):
        out.append(f"  combines (one per split pass): {result.times['combine'] * 1e6:.2f} us in all; each waits 1 + "
                   f"ceil(splits/{flight}) L2 round trips or its bytes / HBM, whichever is longer")
    return out


def _cascade_lines(cfg, values) -> list[str]:
    """The cascade the kernel computes and its work per score (T_s, X_s, P_s) and per row per key tile (T_r, X_r,
    P_r): symbolic in E and F from the walker, and with the head dims plugged in."""
    from einsum_cascades import load_cascade
    from simulator.cascade_work import cascade_work

    work = cascade_work(load_cascade(cfg.cascade)).passes[cfg.pass_level - 1].work
    score = {unit: work.get(("score", unit), 0) for unit in ("tensor", "sfu", "fp32", "cvt", "mufu")}
    score["sfu"] += score.pop("mufu")  # every MUFU op, exponential or not
    sym = {unit: sp.sstr(sp.nsimplify(n)) for unit, n in score.items()}
    packing = f" x {cfg.fp32_packing:g} packed" if cfg.fp32_packing != 1 else ""
    exps = (f" (X_e={values[X_e]:g} of them exponentials, which alone the polynomial takes)"
            if values[X_e] != values[X_s] and cfg.exp_poly_fraction else "")
    return [f"cascade {cfg.cascade} (pass {cfg.pass_level}{', scores recomputed' if cfg.recompute else ''}): per score "
            f"tensor {sym['tensor']} FLOP, MUFU {sym['sfu']}, FP32 {sym['fp32']}{packing} + convert {sym['cvt']}",
            f"  T_s={values[T_s]:g} X_s={values[X_s]:g}{exps} P_s={values[P_s]:g}; per row per key tile "
            f"T_r={values[T_r]:g} X_r={values[X_r]:g} P_r={values[P_r]:g}"]


def eff_of(hw, cfg) -> float:
    return hw.mma_path(cfg.tensor_path)[0]


def explain_gpu(hw, algo: str, wl, result) -> str:
    """Tile formulas, schedule, grid and roofs of one fused-kernel point (a cascade mapped onto a family:
    its Einsums' units first, then each pass's tile)."""
    from simulator.api import resolve_algorithm

    dv = f" dv={wl.v_head_dim}" if wl.v_head_dim != wl.head_dim else ""
    lines = [f"{hw.display_name}: {algo}, B={wl.batch} H={wl.heads}/{wl.kv_heads} d={wl.head_dim}{dv} "
             f"Nq={wl.seq_len} Nkv={wl.kv_len} {wl.dtype}{' causal' if wl.causal else ''}{' varlen' if wl.varlen else ''}"
             f"{f' num_splits={wl.num_splits}' if wl.num_splits else ''}"]
    spec = resolve_algorithm(hw, algo)
    if pieces := result.detail.get("virtual_batches"):  # FlashInfer's chunked call (simulator.flashinfer_chunks)
        from simulator.flashinfer_chunks import explain_line, pieces_call

        lines.append(explain_line(wl, pieces))
        wl = pieces_call(wl, pieces)
    if pad := result.detail.get("padded_head_dim"):
        lines.append(f"runs as d={pad} dv={pad}: {spec.family} has no V head dim of its own for {wl.head_dim}/"
                     f"{wl.v_head_dim} (FA1/FA2 one head dim; FA3 other pairs on Hopper only), so Q, K and V are "
                     f"zero-padded to {pad} and O sliced, as vLLM's MLA prefill calls it; below, the padded call")
        wl = with_head_dims(wl, pad, pad)
    if spec.family == "naive":
        return "\n".join(lines + _naive_lines(result))
    if spec.family.startswith("nsa-select"):
        return "\n".join(lines + _nsa_lines(result.detail) + estimate_lines(result.detail) + _roof_lines(result))
    if spec.family in TC_FAMILIES or runs_fa2(hw, spec.family):
        return "\n".join(lines + _flashinfer_tc_lines(hw, result.detail) + _roof_lines(result))
    if spec.family.startswith("flashinfer") and spec.family not in (FI_PREFILL, FI_PREFILL_FA2):
        return "\n".join(lines + _flashinfer_lines(hw, result.detail) + _roof_lines(result))
    if spec.family == "flash1":
        return "\n".join(lines + _fa1_lines(hw, wl, result.detail) + _mask_lines(result.detail) + _roof_lines(result))
    if spec.family == "flashmla":
        return "\n".join(lines + _flashmla_lines(hw, wl, result.detail) + _roof_lines(result))
    if spec.cascade:
        lines += _einsum_lines(spec.cascade, wl)
    if result.detail.get("state_kernel"):
        return "\n".join(lines + ["no score element: per key and per query work on every SM, the state on chip"]
                         + _roof_lines(result))
    if result.detail.get("passes", 1) > 1:
        lines += _multipass_lines(hw, spec, wl, result)
        return "\n".join(lines + _roof_lines(result))
    values, cfg = tile_values(hw, spec.family, wl, spec.cascade)
    det = result.detail
    lines.append(f"tile Br x Bc = {det['block_q']} x {det['block_kv']}, {det['ctas_per_sm']} CTA(s) per SM, "
                 f"{hw.sms} SMs, clock {hw.sustained_clock_hz / 1e6:.0f} MHz, splits {det['splits']}")
    if last := det.get("last_wave"):
        lines.append(f"grid: {last['full_waves']} full wave(s) of {hw.sms} x {det['ctas_per_sm']} CTAs (a tile "
                     f"{det['tile_cycles']:,.0f} SM cycles), then the {last['ctas']} left, {last['per_sm']} an SM, at "
                     f"their own occupancy (a tile {last['tile_cycles']:,.0f} SM cycles for {last['per_sm']}: "
                     "cta_work._tail_span)")
    elif (grid := det.get("grid")) and not det.get("host_plan"):
        waves = grid["work_tiles"] / grid["slots"]
        how = ("persistent CTAs, one a slot, loop over them" if grid["persistent"] else
               f"one CTA each, {waves:.2f} wave(s)")
        lines.append(f"grid: {grid['work_tiles']:,} work tiles (heads x query blocks x splits) on {hw.sms} x "
                     f"{det['ctas_per_sm']} CTA slots: {how}")
    if spec.family == FI_PREFILL:
        lines += fi_prefill_lines(wl, cfg, math.ceil(wl.seq_len / cfg.block_q), det.get("host_plan"))
    if spec.family == "flash2" and fa2_block_sparse(wl):
        lines.append("Block-Sparse-Attention's kernel (mit-han-lab/Block-Sparse-Attention, FA2 2.4.2's loop with a block "
                     "mask or streaming heads: FA2's causal flag and one window cannot state this mask): one launch over "
                     f"query blocks x heads, no split over the keys, head dims {', '.join(map(str, kc.BS_HEAD_DIMS))}")
    if spec.family == "flash4" and cfg.tensor_path == "wgmma":
        order = "longest first: SingleTileLPTScheduler" if cfg.longest_first else "in order: SingleTileScheduler"
        lines.append("FA4's Hopper kernel (flash_attn/cute/flash_fwd_sm90.py): FA3's warp-specialised wgmma pipeline, "
                     f"one CTA per work tile (not persistent; {order}), no split over the keys"
                     + (", the KV head's query heads packed into the tile's rows" if cfg.pack_gqa else ""))
    fill = det.get("tile_fill")
    if fill is not None and not is_columns(fill) and fill < 1:  # a decode or short call: the tile's rows mostly padding
        rows = round(fill * det["block_q"])
        what = "packed query heads" if det.get("packed_gqa") else "queries"
        lines.append(f"{rows} of the tile's {det['block_q']} rows hold {what} ({fill:.0%}): the MMAs and the softmax "
                     "run on every row, so the padded rows cost compute as real ones")
    if (spec.family in ("flash2", "flash-decoding") and not is_columns(wl.seq_len) and wl.seq_len == 1
            and wl.group > 1 and not det.get("packed_gqa")):  # gpu_kernels.fa2_swapped said no
        lines.append("the KV head's query heads are not packed into the tile's rows: FA2 swaps a one-query call's "
                     "heads into rows (flash_api.cpp seqlenq_ngroups_swapped) only where no window side is left "
                     "(mha_fwd_kvcache tests the sides as given, so any window stops it; mha_fwd drops a side "
                     "longer than the cache first), so each query head runs its own mostly empty tile")
    held = det.get("resident_ctas", det["ctas_per_sm"])
    lone = not cfg.overlap and cfg.warps * held <= tc.SUB_PARTITIONS
    if not is_columns(held) and held < det["ctas_per_sm"]:
        values[k] = held
        lines.append(f"the grid gives each SM at most {held} CTA(s): k = {held} below, the SM's units and loads in "
                     "flight its own")
    if lone:
        lines.append(f"{cfg.warps * held} warp(s) per SM of a kernel without warp specialization: one warp per "
                     "scheduler, no other warp's GEMMs hide the softmax (exposed 1)")
    if (spec.family == "flash3" and paged_cache(wl)) or (spec.family in ("flash2", "flash-decoding")
                                                         and fa2_forces_split(wl)):
        pages = f"{wl.page_size}-token pages" if wl.page_size else "the engine's pages"
        how = ("the split-KV kernel even at one split (paged: force_split_kernel)" if spec.family != "flash3" else
               "K/V by cp.async, not TMA (get_pagedkv_tma)" if fa3_pages_without_tma(hw, wl) else "K/V by TMA")
        lines.append(f"paged KV cache, {pages}: {how}")
        if (spec.family == "flash2" and not det.get("packed_gqa") and not wl.num_splits
                and not is_columns(det["splits"]) and det["splits"] == 1):
            lines.append("one split: flash_attn_varlen_func over a block table runs mha_varlen_fwd, which splits only "
                         "a swapped one-query GQA call (\"num_splits > 1 is not supported for varlen paged KV\")")
    if cfg.cp_async_loads and hw.cp_async_hbm_efficiency is not None:
        lines.append(_cp_async_line(hw))
    if spec.family == "flash3" and vllm_one_mma_wg(wl) and sm_number(hw.arch) >= 90:
        lines.append(f"vLLM's FA3 (vllm_flash_attn) on a decode batch of {wl.seq_len * wl.group} packed rows: one MMA "
                     f"warpgroup on a {cfg.block_q}-row tile (hopper/heuristics.h use_one_mma_wg), where upstream "
                     "FA3 runs two on 128")
    if (spec.family == "flash3" and not wl.num_splits and not is_columns(det["splits"])
            and (engine := splits_mod.engine_num_splits(wl))):
        lines.append(f"num_splits {engine}: what vLLM passes FA3 for a graph-captured batch (its flash_attn backend's "
                     f"max_num_splits; --num-splits states another), a cap: {det['splits']} run")
    if wl.num_splits and not is_columns(det["splits"]) and det["splits"] != wl.num_splits:
        why = ("a cap: FA3's scheduler kernel gives each sequence ceil(key blocks / blocks per SM), at most the cap "
               "(flash_prepare_scheduler.cu: \"user expects num_splits_static to mean upper bound on splits\")"
               if spec.family == "flash3" else "a split call with its own V head dim narrows its key tile to 64 and "
               "re-runs the split heuristic where it has 64 key blocks or more, else runs unsplit (flash_attn/cute/"
               "interface.py _get_fwd_config)")
        lines.append(f"num_splits {wl.num_splits} asked, {det['splits']} run: {why}")
    if not is_columns(det["splits"]) and det["splits"] > 1:
        how = ("each takes a 1/splits share of the whole key range (FA2's split-KV kernel), so a window's tiles fall "
               "in the few splits its keys lie in" if cfg.split_kernel else "each takes ceil(n/splits) of its "
               "query block's own n key blocks (get_n_block_min_max with Split)")
        lines.append(f"splits: {how}")
        if "combine" in result.times and (flight := gm.COMBINE_IN_FLIGHT.get(cfg.family)):
            trips = gm.combine_round_trips(int(det["splits"]), flight)
            lines.append(f"combine: {det['splits']} splits' partial O and LSE, {flight} loads in flight: 1 + "
                         f"ceil(splits/{flight}) = {trips} L2 round trips, max(that, its bytes: the partials from "
                         f"L2, O to HBM) = {result.times['combine'] * 1e6:.2f} us")
    if cfg.head_dims:
        lines.append(f"head dims {wl.head_dim}/{wl.v_head_dim} run in the kernel compiled for {cfg.head_dims[0]}/"
                     f"{cfg.head_dims[1]} (d_k/dv_k): its MMAs and smem tiles span those, zero-filled; HBM and L2 "
                     "bytes do not")
    lines += _cascade_lines(cfg, values)
    masked = bool(det.get("every_tile_masked"))
    if cfg.masks_every_tile:  # FA4 on Hopper
        why = f"a causal or local call: FA4's Hopper mainloop masks every tile, M_s = {tc.mask_ops(cfg):.3g} per score"
    else:
        why = (f"a local call: FA2 masks every tile, M_s = {tc.mask_ops(cfg):.3g} instructions per score, counted "
               "from its SASS")
    lines.append("per-tile SM cycles" + (f" ({why})" if masked else "") + ":")
    tile = {}
    for unit, expr in tile_formulas(cfg, masked).items():
        tile[unit] = float(expr.subs(values))
        lines.append(f"  {unit:<7} = {sp.sstr(expr):<48} = {tile[unit]:,.0f}")
    exposed = 1.0 if lone else hw.mma_path(cfg.tensor_path)[1]
    chain = ""
    if cfg.gemm_ahead_loads:  # tile_cost._tile_cost: each CTA's chain of waits, the SM's cycles shared by k
        value = tc.chain_cycles(max(tile["tensor"], tile["smem"]), max(tile["exp"], tile["fma"]), values[L],
                                *cfg.mma_dims(wl.head_dim, wl.v_head_dim)) / values[k]
        formula = "max(QK, L) + max(S + PV, L)" if values[k] == 1 else "(max(QK, L) + max(S + PV, L)) / k"
        lines.append(f"  chain   = {formula}, QK = G*d/(d + dv), PV = G - QK   = {value:,.0f}")
        lines.append("    (an FA2 CTA issues each K/V load one GEMM ahead: V(n) before QK(n), K(n-1) before the "
                     "softmax and PV(n)" + (")" if values[k] == 1 else f"; its {int(values[k])} CTAs share the SM's "
                                            "cycles, each still waits its own chain)"))
        chain = ", chain"
    rule = (f"max(max(G, S) + {exposed:.3g}*min(G, S), l2, latency{chain}), G = max(tensor, smem), "
            "S = max(exp, fma)")
    capped = values[R_tc] / hw.path_flops_per_clk_sm(cfg.tensor_path, wl.dtype, uncapped=True)
    if capped < 1:  # tile_cost._tile_cost: the exposure is the SM's, its GEMMs at the SM's own rate
        rule = (f"max(G, max(G_sm, S) + {exposed:.3g}*min(G_sm, S), l2, latency{chain}), G = max(tensor, smem), "
                f"G_sm = max({capped:.3g}*tensor, smem) (the GEMMs at the SM's uncapped rate), S = max(exp, fma)")
    held = (" (the share of the capped rate a large GEMM measures, gemm_efficiency)"
            if hw.tensor_capped and eff_of(hw, cfg) == hw.gemm_efficiency else "")
    lines.append(f"  schedule ({'softmax overlapped with GEMMs' if cfg.overlap else 'softmax after GEMMs'}; "
                 f"{cfg.tensor_path}: efficiency {eff_of(hw, cfg):.3g}{held} of R_tc = {values[R_tc]:,.0f} flop/clk/SM, "
                 f"softmax exposed {exposed:.3g}):")
    if issue := det.get("mask_issue_per_score"):  # tile_cost._tile_cost: NATTEN's FNA mask, in series
        added = tc.mask_issue_cycles(issue, cfg.block_q * cfg.block_kv)
        lines.append(f"  mask    = M_i*Bc*Br/(4 schedulers x 32 lanes), M_i = {issue:.3g} instructions a score  "
                     f"= {added:,.0f}")
        where = ("Blackwell FNA masks every tile of a call not fully block-sparse, in its softmax warps after the S"
                 " load" if cfg.family == "flash4" else
                 "Hopper FNA masks every tile of a call not fully block-sparse, after its QK wait")
        lines.append(f"    (NATTEN's {where}: added to the tile)")
        rule = rule.replace("max(max(G, S)", "max(max(G, S) + mask", 1).replace("max(G, max(G_sm, S)",
                                                                                "max(G, max(G_sm, S) + mask", 1)
    lines.append(f"  tile = {rule} = {det['tile_cycles']:,.0f}  [{det['tile_bound']}]")
    if "work_tile_parts" in det:  # tile_cost.prologue_parts: the terms this kernel pays
        parts = det["work_tile_parts"]
        names = {"io": "Q, O and the first K/V through L2", "fill": "the pipeline's fill",
                 "latency": "the first load's latency", "turnaround": "the warp roles' hand-offs"}
        terms = [names[k] + (f" {v:,.0f}" if k == "turnaround" else "") for k, v in parts.items() if v or k == "io"]
        lines.append(f"  + per work tile (a CTA's query block): {', '.join(terms)} = {sum(parts.values()):,.0f}")
    lines += _mask_lines(det)
    lines += _index_lines(det, cfg.family)
    lines += _permute_lines(hw, det)
    lines += estimate_lines(det)
    lines += _roof_lines(result)
    return "\n".join(lines)


def _fa1_lines(hw, wl, det: dict) -> list[str]:
    """FlashAttention-1's step: its phases in turn, the Q load it waits for, and the per-key-block fill."""
    from simulator.flash1 import _phases, step_smem_bytes
    from simulator.gpu_kernels import kernel_config

    cfg = kernel_config("flash1", hw, wl)
    parts, softmax, stats = _phases(cfg, hw, wl, partial=False)
    where = "registers" if cfg.k_in_regs else "smem, every step"
    gemms = "16*Bc*(2*d_k + 2*dv_k)/(R_tc*eff)  " if cfg.head_dims else "16*Bc*(2*d + 2*dv)/(R_tc*eff)      "
    compiled = ([f"head dims {wl.head_dim}/{wl.v_head_dim} run in the kernel compiled for {cfg.head_dims[0]} (d_k, dv_k): "
                 "its MMAs and smem fragments span it, zero-filled; HBM and L2 bytes do not"] if cfg.head_dims else [])
    return [f"step {det['block_q']} query rows x {det['block_kv']} keys (4 warps split the keys; K from {where}), "
            f"{det['ctas_per_sm']} CTA(s) per SM, {hw.sms} SMs, clock {hw.sustained_clock_hz / 1e6:.0f} MHz",
            *compiled,
            "per-step SM cycles, phases one after another (__syncthreads between them):",
            f"  GEMMs   = {gemms}= {parts['tensor']:,.0f}  (eff {eff_of(hw, cfg):.3g})",
            f"  smem    = {step_smem_bytes(cfg, wl):,.0f} B/B_smem (Q fragments, O partials, max/sum)  = {parts['smem']:,.0f}",
            f"  softmax = max(exp {parts['exp']:,.0f}, fma {parts['fma']:,.0f})          = {softmax:,.0f}",
            f"  step = GEMMs + smem + softmax = {det['tile_cycles']:,.0f}  [{det['tile_bound']}]",
            f"  + next Q's DRAM wait max(0, L_dram - softmax - reductions), on re-reads that miss L2: "
            f"{det['q_wait_cycles']:,.0f} per step, shared by an SM's CTAs",
            f"  + per key block: K/V load and latency {det['key_block_cycles']:,.0f}; {det['ctas_per_sm']} resident "
            f"CTA(s) share each phase's unit"]


def _flashmla_lines(hw, wl, det: dict) -> list[str]:
    """FlashMLA's dense decoding (simulator.flashmla): its rows, SM parts, per-part work and tile."""
    from simulator.flashmla import FIXED_OVERHEAD_BLOCKS

    us = 1e6 / det["clock_hz"]
    rows = wl.seq_len * wl.group
    busy = [b for b in det["part_blocks"] if b]
    return [
        f"FlashMLA dense decoding (MLA's absorbed form, V = K's first {wl.v_head_dim} columns: K rows only from memory): "
        f"{rows} packed rows a KV head (s_q x query heads) in {det['m_blocks']} tile(s) of 64, 64-key blocks, one "
        f"CTA of two warpgroups per SM",
        f"grid: {det['m_blocks']} x {wl.kv_heads} KV head(s) x {det['sm_parts']} SM parts (SMs / KV heads / tiles); "
        f"each part takes ceil(total / parts) + {FIXED_OVERHEAD_BLOCKS} of the batch's blocks, a request costing its "
        f"blocks + {FIXED_OVERHEAD_BLOCKS} (get_mla_metadata): {len(busy)} parts busy, {min(busy, default=0)}-"
        f"{max(busy, default=0)} blocks each, {det['split_segments']} split request piece(s), up to {det['splits']} "
        "part(s) a request" + (" (the combine kernel merges them)" if det["split_segments"] else ""),
        f"tile (64 rows x 64 keys at d={wl.head_dim}/{wl.v_head_dim}) = {det['tile_cycles']:,.0f} SM cycles "
        f"[{det['tile_bound']}], a request's start and end {det['segment_cycles']:,.0f} (block-table read and first "
        f"K block: two round trips; the first softmax; O out" + (
            f"; {det['split_segment_cycles']:,.0f} for a split piece, its O out in fp32" if det["split_segments"]
            else "") + f"); longest part {det['longest_part_cycles']:,.0f} cycles "
        f"= {det['longest_part_cycles'] * us:.2f} us" + (
            f", run {det['waves']} times: {det['m_blocks'] * wl.kv_heads * det['sm_parts']:,} CTAs of one an SM in "
            f"{det['waves']} waves of {hw.sms}" if det["waves"] > 1 else "")] + ([
        f"combine: {det['split_requests']} split request(s), their {det['partial_bytes'] / 1e6:.1f} MB of fp32 "
        f"partial O and LSE written to L2 ({det['partial_spill_bytes'] / 1e6:.1f} MB past its "
        f"{hw.l2_bytes / 2**20:.0f} MiB to HBM), read once by the combine kernel, which writes their O: "
        f"{det['combine_s'] * 1e6:.2f} us (one round trip, the partials at L2 bandwidth, the rest and O at HBM's; "
        "launched under PDL)"] if det["split_segments"] else [])


def _flashinfer_lines(hw, det: dict) -> list[str]:
    """FlashInfer's CUDA-core decode (simulator.flashinfer_decode): its thread block, split, stream and tail."""
    bdx, bdy, bdz = det["block"]
    us = 1e6
    per_k = "an FMUL by sm_scale on every K element" if det["build"] == "0.0.1" else "the scale once per row"
    quest = ([f"Quest's page-sparse decode (mit-han-lab/Quest approx_attn.cu): its fork of FlashInfer's batch decode "
              f"over the {det['quest_keys']:,} keys of the budget({det['quest_budget']:,})'s compacted page list, one "
              "per head (decode_handler.cuh), not over the whole cache"] if "quest_budget" in det else [])
    lines = quest + [
             f"FlashInfer {det['build']}'s CUDA-core loop ({per_k}): {det['lane_ops']:.0f} arithmetic instructions "
             "a lane per (K/V row, query head)",
             f"thread block (bdx, bdy, bdz) = ({bdx}, {bdy}, {bdz}), vec_size {det['vec_size']}, tile_size_per_bdx "
             f"{det['tile_size_per_bdx']}: {det['rows_per_stage']} K/V rows per stage, {det['smem_bytes']:,} B smem, "
             f"{det['ctas_per_sm']} CTA(s) per SM, {hw.sms} SMs",
             f"grid: {det['ctas']} CTAs = requests x KV heads x {det['splits']} chunk(s) of {det['chunk_keys']} keys, "
             f"{det['waves']} wave(s)" + (f"; paged KV, page size {det['page_size']}" if det["page_size"] else ""),
             f"stream = per wave max(bytes x (1 + write-back share) / (B_hbm*{_stream_eff(hw)}), "
             "CTA bytes x L_loaded / in flight), "
             f"in flight per CTA = 2 stages of K and V = {det['in_flight_bytes_per_cta']:,} B: {det['stream_s'] * us:.2f} us",
             f"CUDA cores = {det['row_head_cycles']:.2f} SM cycles per (row, query head) (lane instructions / "
             f"(R_fp32 x issue {hw.issue_efficiency:.3g})) x rows x group x ceil(CTAs / SMs) CTAs an SM issues, "
             f"at {det['clock_hz'] / 1e6:g} MHz{_cuda_core_clock_note(hw)}: {det['cuda_core_s'] * us:.2f} us",
             _loop_line(hw, det),
             f"+ dependent loads before the stream {det['startup_s'] * us:.2f} us + last stage {det['tail_s'] * us:.2f} us"
             + _merge_text(det),
             _writeback_line(det["cold_l2_writeback_bytes"])]
    if det.get("window_left") is not None:
        per_row, per_iteration = det["window_ops"]
        lines.append(f"window_left {det['window_left']:,}: the kernel still loads and scores every cached key, masking "
                     f"those before the window (decode.cuh: each chunk starts at its own offset, not at the window), "
                     f"+{per_row:.2g} instructions a lane per (row, query head) and +{per_iteration:.2g} an iteration "
                     "(use_sliding_window's SASS); flashinfer-decode-tc (the prefill kernel) skips them")
    if det["block"][1] > 1 and det["page_size"] is None:  # the single-request kernel (no pages) on a GQA group (bdy)
        from simulator.flashinfer_decode import SINGLE_GQA_FAST

        lo, hi = SINGLE_GQA_FAST
        lines.append(f"note: the one published set of this kernel on GQA calls (the FlashInfer post's Fig. 8, 32/4 "
                     f"heads) ran from {-lo:.0%} shorter to {hi:.0%} longer than predicted on the H100 and the A100 PCIe, "
                     "its short calls 2-9 us longer (docs/kernels.md D1; not modelled)")
    return lines


def _loop_line(hw, det: dict) -> str:
    """How the CUDA-core decode loop's stream and instruction time combine (flashinfer_decode._loop_time)."""
    p, us = gm.overlap_exponent(hw), 1e6
    if math.isinf(p):
        return f"loop = max(stream, CUDA cores) = {det['loop_s'] * us:.2f} us"
    return (f"loop = (C^p + S^p)^(1/p), p = {p:.2f} (stream_overlap_loss {hw.stream_overlap_loss:.4g}: the warps that "
            f"compute also issue and wait for the next stages' loads) = {det['loop_s'] * us:.2f} us")


def _cuda_core_clock_note(hw) -> str:
    """Why the CUDA-core loop runs at the clock it does (GPUSpec.cuda_core_clock)."""
    if hw.cuda_core_clock_hz is not None:
        return " (no tensor work: the clock the FP32 peak is quoted at, cuda_core_clock_hz)"
    return ""


def _flashinfer_tc_lines(hw, det: dict) -> list[str]:
    """FlashInfer's tensor-core decode (simulator.flashinfer_tc): the prefill kernel's tile, split, stream and tail."""
    us = 1e6
    layout = (f"{det['warps_q']} warp(s) on the rows x {det['warps_kv']} on the keys" if det["build"] != "0.0.1"
              else "4 warps on the rows, each reading the whole K/V tile")
    if det.get("queries", 1) > 1:  # flashinfer-single-prefill
        return _flashinfer_prefill_lines(hw, det, layout)
    return [f"FlashInfer {det['build']} prefill kernel on one query: CTA_TILE_Q {det['cta_tile_q']} packed rows x "
            f"{det['cta_tile_kv']} keys per iteration, {layout}, mma.sync; {det['smem_bytes']:,} B smem, "
            f"{det['regs']} registers, {det['ctas_per_sm']} CTA(s) per SM, {hw.sms} SMs",
            f"grid: {det['ctas']} CTAs = " + ("requests x " if det["page_size"] else "") + f"KV heads x query tiles x "
            f"{det['splits']} chunk(s) of {det['chunk_keys']} keys ({det['iterations']} iteration(s)), {det['waves']} "
            f"wave(s)" + (f"; paged KV, page size {det['page_size']}" if det["page_size"] else "")
            + (f"; {det['launched_ctas']} launched ("
               + ("a CUDA graph's padded grid" if det.get("graph") else "the window's planned chunks past its last "
                  "key exit at once") + ")" if det["launched_ctas"] != det["ctas"] else ""),
            f"stream = per wave max(bytes x (1 + write-back share) / (B_hbm*{_stream_eff(hw)}), "
            "CTA bytes x L_loaded / in flight), "
            f"in flight per CTA = the next K and V tiles = {det['in_flight_bytes_per_cta']:,} B: "
            f"{det['stream_s'] * us:.2f} us ({det['stream_bound']})",
            *_tc_window_lines(det),
            f"tiles = {det['tile_cycles']:,.0f} SM cycles each [{det['tile_bound']}]{_tc_paged(det)} x iterations + "
            f"{_tc_prologue(det)}, "
            f"resident CTAs sharing an SM: {det['sm_s'] * us:.2f} us", *_tc_end_lines(det)]


def _tc_window_lines(det: dict) -> list[str]:
    """A sliding window on a one-query call of the prefill kernel: the batch decode's skip (window_keys), or a
    prefill family's (its batch kernels skip, its single kernel masks)."""
    if det.get("window_left") is None:
        return []
    if det.get("window_keys") is not None:  # flashinfer-decode-tc
        return [f"window_left {det['window_left']:,}: each request's chunks start at the window's first key "
                f"(kv_start_idx), so the kernel reads its {det['window_keys']:,} keys; the plan splits "
                "ceil((window_left + CTA_TILE_Q) / page size) pages"]
    return [f"window_left {det['window_left']:,}: " + (
        "the chunks start at the window's first key (kv_start_idx)" if det.get("window_skips") else
        "the single kernel loads and computes the keys before the window and masks them (window_iteration)")]


def _flashinfer_prefill_lines(hw, det: dict, layout: str) -> list[str]:
    """flashinfer-single-prefill (simulator.flashinfer_tc.flashinfer_single_prefill): the same kernel on many queries."""
    us = 1e6
    mask = ("causal: each query tile stops at its last query's key (bottom-right) and masks from its first query's"
            if det["causal"] else "dense")
    if det.get("window_left") is not None:
        mask += (f"; window_left {det['window_left']:,}: " + (
            "each query tile's chunks start at its first query's window (kv_start_idx), the tiles its last query's "
            "window cuts masked" if det.get("window_skips") else
            "the single kernel loads and computes the keys before each tile's window from key 0 and masks them "
            "(window_iteration)"))
    batch = det.get("requests")  # flashinfer-prefill off Hopper: the batch kernel of its fa2 backend
    how = "backend=\"fa2\"" if det["schedule"] == FI_PREFILL_FA2 else "FlashInfer's \"auto\" off Hopper"
    what = (f"batch prefill, fa2 backend ({how}), {batch} request(s) of "
            f"{det['queries']:,} queries" if batch else f"prefill kernel on {det['queries']:,} queries")
    pages = (f"; paged KV, page size {det['page_size']} (BatchPrefillWithPagedKVCacheKernel)" if det.get("page_size")
             else "; ragged KV (BatchPrefillWithRaggedKVCacheKernel)" if batch else "")
    return [f"FlashInfer {det['build']} {what} ({mask}): CTA_TILE_Q "
            f"{det['cta_tile_q']} packed rows x {det['cta_tile_kv']} keys per iteration, {layout}, mma.sync; "
            f"{det['smem_bytes']:,} B smem, {det['regs']} registers, {det['ctas_per_sm']} CTA(s) per SM, {hw.sms} SMs",
            f"grid: {det['ctas']} CTAs = " + ("work items (request, query tile, KV chunk fastest) x KV heads"
                                              if batch else "KV heads x query tiles") +
            f" x {det['splits']} chunk(s) of {det['chunk_keys']} keys (up to {det['iterations']} iteration(s)), "
            f"{det['waves']} wave(s){pages}",
            f"stream = max(bytes x (1 + write-back share) / (B_hbm*{_stream_eff(hw)}), "
            "the longest CTA's bytes x L_loaded / in "
            f"flight), in flight per CTA = the next K and V tiles = {det['in_flight_bytes_per_cta']:,} B: "
            f"{det['stream_s'] * us:.2f} us ({det['stream_bound']})",
            f"tiles = {det['tile_cycles']:,.0f} SM cycles each [{det['tile_bound']}]{_tc_paged(det)} (masked ones at "
            f"their masked cost) "
            f"+ {_tc_prologue(det)}, each CTA's dispatched in launch order, resident CTAs sharing an SM: "
            f"{det['sm_s'] * us:.2f} us",
            *_tc_end_lines(det),
            *(["note: on Hopper FlashInfer's default backend (\"auto\") is its fa3 one (hopper/prefill_sm90.cuh), "
               "whose kernel attnsim models through the batch entry point (flashinfer-prefill, --batch 1 for one "
               "request); this is the call with backend=\"fa2\""] if hw.arch == "sm_90" and not batch else []),
            *(["note: on Blackwell FlashInfer's default backend (\"auto\") is this fa2 one, on mma.sync "
               "(0.6.16's determine_attention_backend; since flashinfer-ai/flashinfer PR #5133, 2026-09, the ragged "
               "wrapper's \"auto\" tries cuDNN, then CUTLASS first); its cudnn, cutlass and trtllm-gen backends, on "
               "tcgen05, are not modelled: flash4 is attnsim's Blackwell FMHA"] if sm_number(hw.arch) >= 100 else [])]


def _tc_paged(det: dict) -> str:
    """The paged kernel's page arithmetic in each tile (simulator.flashinfer_tc.PAGED_TILE_INSTRUCTIONS)."""
    paged = det.get("paged_tile_cycles")
    return (f" (of which {paged:,} the paged kernel's page arithmetic: per K/V row its page, page index and offset, "
            f"one instruction a cycle per warp)") if paged else ""


def _tc_prologue(det: dict) -> str:
    """A CTA's cycles outside its tile loop (simulator.tile_cost.prologue_parts, as FA2's CTAs pay them)."""
    return (f"{det['prologue_cycles']:,.0f} per CTA outside its loop (Q, O and the first K/V through L2, the first "
            f"K/V's latency / resident CTAs)")


def _tc_end_lines(det: dict) -> list[str]:
    """The prefill kernel's first loads, last tile and merge kernel, and the cold L2's write-backs."""
    us = 1e6
    return [f"+ {_tc_startup(det)}, one DRAM round trip each {det['startup_s'] * us:.2f} us + "
            + f"last tile {det['tail_s'] * us:.2f} us" + _merge_text(det),
            _writeback_line(det["cold_l2_writeback_bytes"])]


def _merge_text(det: dict) -> str:
    """The merge kernel after a KV split (flashinfer_decode.merge_kernel): its time and the dependent round trips its
    cp.async pipeline waits (merge_rounds); empty without a split."""
    if not det["merge_s"]:
        return ""
    rounds = det["merge_rounds"]
    return (f" + merge kernel {det['merge_s'] * 1e6:.2f} us (a launch, {rounds} DRAM round trip{'s' if rounds != 1 else ''}"
            f" for {det['splits']} chunks' partials)")


def _writeback_line(dirty: float, where: str = "in the stream above") -> str:
    """The cold L2's write-backs (gpu_model.cold_l2_writeback_bytes) where a kernel counts them itself: FlashInfer's
    decode kernels in their own stream, the standard attention in its first kernel."""
    return (f"cold L2 (--scope kernel: a benchmark's L2 flush leaves it dirty; none under kernel-warm and layer): "
            f"{dirty / 2**20:.1f} MiB written back, {where}")


def _tc_startup(det: dict) -> str:
    if det["page_size"]:
        return "the work item, the request's page range, its page indices, then the first K/V"
    if det.get("requests"):  # the fa2 batch prefill over a ragged cache
        return "the work item, the request's ranges, then the first K/V"
    return "Q, then the first K/V (0.0.1 waits for Q first)" if det["build"] == "0.0.1" else "the first K/V"


def _nsa_lines(det: dict) -> list[str]:
    """NSA's selected attention: the loop order, the tile, and the kernels after the main one."""
    how = ("per (token, KV head): the query group's heads as rows, the token's own blocks streamed from L2"
           if det["loop"] == "q-outer" else "per (block, query head): the tokens that chose it gathered as rows, "
           "fp32 partial outputs merged after")
    if det.get("moba_calls"):  # nsa_select._moba_calls
        how = ("MoBA's FlashAttention-2 varlen calls (moba_efficient.py): each chunk's own queries over it, causal"
               + (", then each chunk's gathered later queries over it, not causal, the two outputs merged"
                  if det["moba_calls"] == 2 else "; no token selects an earlier chunk, so that one causal call is "
                  "all (no gate, no merge)") + f": {det['ctas']:,} CTAs")
    out = [f"selection: each token keeps topk({det['selected_blocks']}) blocks of {det['select_block']} keys "
           f"(its own and the rest drawn among its earlier blocks); loop {det['loop']}: {how}",
           f"tile {det['block_q']} x {det['block_kv']} (mma.sync{', FA2' if det.get('moba_calls') else ''}), "
           f"{det['ctas_per_sm']} CTA(s) per SM, "
           f"{det['tile_cycles']:,.0f} cycles per tile [{det['tile_bound']}]"]
    out += [f"  then {name}: {t * 1e3:.4f} ms" for name, t in det["extra_kernels"].items()]
    return out


def estimate_lines(det: dict) -> list[str]:
    """The estimate's kernels (simulator.estimate): each one's seconds over all its runs and its bound."""
    est = det.get("estimate")
    if not est:
        return []
    total = sum(t for _, _, t, _ in est["kernels"])
    out = [f"estimate {est['name']} ({est['source']}): {total * 1e3:.4f} ms before the sparse kernel, each kernel "
           f"max(units) + launches, times its runs:"]
    out += [f"  {name:<24} x{runs:<4} {t * 1e3:10.4f} ms  [{bound}]" for name, runs, t, bound in est["kernels"]]
    return out


def _index_lines(det: dict, family: str) -> list[str]:
    """The block index's fixed costs of a row (simulator.block_sparse), for the groups that read one."""
    index = det.get("index")
    if not index:
        return []
    out = [f"block index (L2 hit {index['l2_hit_cycles']:.0f} cycles; stalls / CTAs per SM): "
           f"{index['bytes'] / 1e6:.3f} MB read"]
    fa2_style = ("FA2's split-KV kernel walking Block-Sparse-Attention's index (a pairing no library ships: flash2 "
                 "runs that index in Block-Sparse-Attention's own kernel, unsplit)" if family == "flash-decoding" else
                 "Block-Sparse-Attention") + ": binary search before Q, one read per tile"
    for style, c in {index["style"]: index["cost"], **index.get("others", {})}.items():
        how = {"ws": "producer warp: counts, then the first index, before the first K load",
               "vs": "MInference's vertical-slash kernel: counts and first offset, then an index (L1) before each load",
               }.get(style, fa2_style)
        out.append(f"  {how}: per row {c.fixed:,.0f} cycles + per tile {c.per_tile:,.0f}")
        if c.masking_steps:
            out.append(f"    + {c.skip_step:,.0f} per skipped masked step ({c.masking_steps} step(s) per row "
                       f"{'on the diagonal' if c.diagonal is not None else 'on the last key block'}: V load + softmax "
                       f"of a cleared tile)")
    return out


def _permute_lines(hw, det: dict) -> list[str]:
    """NATTEN's token permutation copies around a grid call: bytes, seconds and kind of each kernel."""
    from simulator.permute import current_build

    copies = det.get("permute_copies")
    if not copies:
        return []
    moved = det["permute_bytes"]
    if current_build() == "0.20":
        head = ("token permutation (NATTEN 0.20 token_permute.py: PyTorch copies before and after the call, a strided "
                "copy the longer of its instructions at the issue rate and its bytes at the strided fraction of HBM, "
                "torch_copy; launches counted with the call's):")
    else:
        head = ("token permutation (NATTEN hopper/blackwell_fna.py: copy kernels before and after the call; bytes read "
                "+ written / (HBM x unfused_hbm_efficiency) + HBM latency, launches counted with the call's):")
    out = [head]
    for name, (seconds, kernel) in copies.items():
        out.append(f"  {name:<13} {moved[name] / 1e6:12.3f} MB {seconds * 1e3:10.4f} ms  {kernel}")
    return out


def _mask_lines(det: dict) -> list[str]:
    """The mask's tiles per head group (one group without a heads(...) mix), as the kernel visits them."""
    groups = det.get("head_groups")
    if not groups:
        return []
    out = []
    if solved := det.get("solved_window"):
        out.append(f"--sparsity sizes the window to {solved}, which the kernel runs as its own window_size call, "
                   "as it runs that window written (gpu_model._solved_window)")
    out.append(f"mask tiles per head ({det['block_q']} x {det['block_kv']} tiles; each group lowered once):")
    for i, g in enumerate(groups):
        total = g["rows"] * g["kv_blocks"]
        mask = g["mask"] or "seeded random empty tiles (--sparsity alone)"  # no expression: None said nothing
        out.append(f"  group {i + 1}: {g['heads']} query heads, {mask}: {g['visited']:,} of {total:,} tiles visited "
                   f"({g['full']:,} full, {g['partial']:,} partial), block density {g['block_density']:.4f}"
                   + (", reads a block index" if g["indexed"] else ""))
    return out


def _naive_lines(result) -> list[str]:
    det = result.detail
    absorbed = "layout" not in det["kernel_seconds"]
    out = ["PyTorch's kernels in turn, each max(tensor, hbm, exp) + its launches (the layout copies also their "
           "offset arithmetic at the issue rate, issue: simulator/torch_copy.py); score matrix in HBM"
           f" (softmax row on chip: {det['softmax_row_on_chip']}):"]
    if absorbed:
        out.append("MLA's absorbed form as DeepSeek-V3's reference runs it (inference/model.py, attn_impl \"absorb\"): "
                   "einsums over the cached latent and RoPE key broadcast over the query heads, no layout copies")
    for name, t in det["kernel_seconds"].items():
        out.append(f"  {name:<10} {t * 1e3:10.4f} ms  [{det['kernel_bounds'][name]}]")
    if dirty := det.get("cold_l2_writeback_bytes"):
        out.append(_writeback_line(dirty, "by the first GEMM's reads" if absorbed else "by the layout copies' reads"))
    return out + _roof_lines(result)


def _roof_lines(result, gpu: bool = True) -> list[str]:
    out = []
    if layer := result.detail.get("layer_kernels"):
        out.append("scope layer: the serving engine's call adds (seconds; graph_launches replaces each stream "
                   "launch by a CUDA-graph launch):")
        out += [f"  {name:<15} {t * 1e3:+10.4f} ms" for name, t in layer.items()]
        if result.algorithm.rpartition("@")[2] == "flash3":
            out.append("  (no scheduler kernel: vLLM computes FA3's scheduler metadata once a step, "
                       "get_scheduler_metadata, and passes it to every layer's call)")
    if kernels := result.detail.get("kernels"):
        out.append(f"kernels launched ({len(kernels)}, the launch roof): " + ", ".join(kernels))
        from simulator.gpu_kernels import paged_cache
        from simulator.splits import fa3_kv_cache_call

        wl = result.workload
        if (result.algorithm.rpartition("@")[2] == "flash3" and not wl.varlen and not paged_cache(wl)
                and fa3_kv_cache_call(wl.seq_len, wl.kv_len) and any(k.startswith("scheduler") for k in kernels)):
            out.append("  (keys outnumber queries: priced as flash_attn_with_kvcache, new queries against a cache "
                       "(cache_seqlens makes mha_fwd varlen: the scheduler kernel, num_splits 0 by default); "
                       "flash_attn_func over the same lengths launches neither)")
    out.append("roofs (seconds if that unit alone bound the whole call):")
    for unit, t in result.times.items():
        if unit == "writeback" and not t:  # none (--scope layer), or a family that streams its own write-backs
            if result.workload.scope != "kernel" and gpu:
                out.append(f"  (no cold-L2 write-back: --scope {result.workload.scope} is not timed right after a "
                           "benchmark's L2 flush, whose dirty lines a --scope kernel call writes back)")
            continue
        out.append(f"  {unit:<11} {t * 1e3:12.4f} ms")
    if (ov := result.detail.get("overlap")) and ov["body_s"] >= 1.001 * ov["larger_s"]:  # a blend that shows
        out.append(f"compute C and HBM stream S (hbm + stream_fill + writeback) blended: (C^p + S^p)^(1/p), "
                   f"p = {ov['exponent']:.2f} (stream_overlap_loss {ov['loss']:g}), C {ov['compute_s'] * 1e3:.4f} ms, "
                   f"S {ov['stream_s'] * 1e3:.4f} ms{_blend_weight_note(result, ov)}: {ov['body_s'] * 1e3:.4f} ms, "
                   f"{ov['body_s'] / ov['larger_s'] - 1:+.1%} over the larger")
    added = [(unit, result.times[unit]) for unit in ("launch", "combine", "permute", "prepare", "estimate")
             if result.times.get(unit)]
    added += [(name, t) for name, t in (result.detail.get("layer_kernels") or {}).items() if t]  # --scope layer
    # standard attention's kernels in turn hold their own launches (kernel_seconds, as simulator.layer reads it)
    if gpu and added and "compute" in result.times and "kernel_seconds" not in result.detail:
        body = result.time_s - sum(t for _, t in added)  # gpu_model._finish: the body, then the serial terms
        if body > 0 and sum(t for _, t in added) >= 1e-4 * result.time_s:
            out.append(f"time = body {body * 1e3:.4f} ms (the larger of the blend and l2) "
                       + " ".join(f"{'+' if t >= 0 else '-'} {unit} {abs(t) * 1e3:.4f} ms" for unit, t in added))
    out.append(f"time = {result.time_s * 1e3:.4f} ms, bound: {result.bound}, "
               f"{result.tflops:.1f} TFLOP/s")
    if result.bound == "grid" and (grid := result.detail.get("grid")):  # gpu_model._fused_pass
        busiest = max(result.utilization, key=result.utilization.get)
        out.append(f"  (grid: {grid['work_tiles']:,} CTAs for {grid['slots']:,} slots, one partial wave: the call "
                   f"waits on its CTAs' own chains, its busiest unit, {busiest}, working "
                   f"{result.utilization[busiest]:.0%} of the time)")
    if result.bound == "stall":  # an accelerator's pipeline (accel_model._bound)
        out.append("  (stall: the arrays' fill and drain on the critical path, the stall term of compute above, "
                   "outlast the busiest unit's work)")
    if result.bound == "compute":  # an accelerator's arrays in series (accel_model._bound)
        out.append("  (compute: the arrays' work in series, the combination above, takes longer than any one unit's "
                   "roof would)")
    if (phases := result.detail.get("phase_seconds")) and result.times[result.bound] < result.time_s * UNIT_SHARE:
        longest = max(phases, key=phases.get)  # unfused: no unit's roof makes the time (accel_model._bound)
        out.append(f"  ({result.bound}: the bound of the longest phase, {longest}; the phases run one after another)")
    ratio = gm.stream_ratio(result)
    if (ratio is not None and ratio >= gm.STREAM_BIAS_RATIO and result.algorithm in gm.PREFILL_FAMILIES
            and result.workload.seq_len > 1):
        (lo, hi), (lo8, hi8) = gm.STREAM_BIAS_RANGE["16-bit"], gm.STREAM_BIAS_RANGE["fp8"]
        out.append(f"note: the HBM stream is {ratio:.2f} of the compute time; at {gm.STREAM_BIAS_RATIO:g} or more the "
                   f"model's blend of the two puts published prefill calls {lo:+.0%} to {hi:+.0%} off, FP8 ones "
                   f"{lo8:+.0%} to {hi8:+.0%} (predicted / measured - 1, the bin medians of python3 "
                   "bench/stream_bias.py; docs/kernels.md N)")
    if gpu and result.workload.scope == "kernel" and result.time_s < gm.SHORT_CALL_S:
        lo, mid, hi = gm.SHORT_CALL_GAP_US
        out.append(f"note: a call this short is mostly fixed costs; published timings of calls predicted under "
                   f"{gm.SHORT_CALL_S * 1e6:g} us, each after an L2 flush, ran {lo:g}-{hi:g} us longer than attnsim "
                   f"predicts (quartiles, median {mid:g} us: python3 bench/short_call_bias.py), time a cold call's timed "
                   "span holds (an event pair around it, cold instruction and TLB caches) and the model does not; "
                   "a CUDA graph's per-kernel time holds less of it")
    return out


def _blend_weight_note(result, ov: dict) -> str:
    """Where the blend is not taken whole, by what (gpu_model.blend_weight)."""
    w = ov.get("weight", 1.0)
    if result.detail.get("loads_in_mma_warps") and result.workload.seq_len == 1:
        return " (whole at one query: the MMA warps issue and wait for their own loads)"
    if w < 1:
        return f", weighted by the tile's rows holding queries, {w:.3g}"
    return ""


def explain_accel(hw, algo: str, wl, result) -> str:
    """Per-Einsum op counts (cascade IR), arrays and cycles, the combination rule with its terms,
    traffic per storage level and energy per component."""
    from einsum_cascades import load_cascade

    det = result.detail
    cascade = load_cascade(det["cascade"])
    lines = [f"{hw.display_name}: {algo} ({cascade.name}), B*H={wl.batch * wl.heads} P={wl.seq_len} "
             f"M={wl.kv_len} E={wl.head_dim} F={wl.v_head_dim}, M0={hw.pe2d_cols}; {_accel_mapping(det)}",
             "op counts per head (cascade IR) and cycles for all heads on the array each is bound to:"]
    rows = [(einsum, ", ".join(f"{cls}={sp.sstr(expr)}" for cls, expr in ops.items()),
             "2D" if det["arrays"][einsum] == "array2d" else "1D", f"{det['einsum_cycles'][einsum]:,.0f}")
            for einsum, ops in cascade.op_counts().items() if ops and einsum in det["einsum_cycles"]]
    widths = [max((len(row[i]) for row in rows), default=0) for i in (0, 1, 3)]  # columns as wide as their values
    lines += [f"  {name:<{widths[0]}}  {formula:<{widths[1]}}  {where}  {cycles:>{widths[2]}} cycles"
              for name, formula, where, cycles in rows]
    lines.append(f"combination ({algo}): {det['rule']}")
    if "crossing" in det:
        lines.append(f"  score tensors a later pass reads: {det['crossing']}")
    if "phase_seconds" in det:
        lines.append("  " + ", ".join(f"{k} {v * 1e3:.4f} ms [{det['phase_bounds'][k]}]"
                                      for k, v in det["phase_seconds"].items()))
    acc = det["accesses_words"]
    lines.append("traffic (words): " + ", ".join(f"{lv} {acc['reads'].get(lv, 0):.4g} read / "
                                                  f"{acc['writes'].get(lv, 0):.4g} written" for lv in acc["reads"]))
    total = result.energy_j
    parts = ", ".join(f"{k} {v:.4g} J ({100 * v / total:.1f}%)" for k, v in det["energy_breakdown_j"].items())
    lines.append(f"energy {total:.4g} J: {parts}")
    return "\n".join(lines + _roof_lines(result, gpu=False))


def _accel_mapping(det: dict) -> str:
    if "scores" in det:
        return (f"scores {det['scores']} in {det['row_block']}-row blocks, "
                f"{100 * det['spilled_fraction']:.3g}% of the buffer's traffic spilled")
    chunks = det["query_chunks"]
    return f"query chunks {chunks}" if isinstance(chunks, int) else \
        "query chunks " + ", ".join(f"{k} {v}" for k, v in chunks.items())


def _stream_eff(hw) -> str:
    """The read fraction FlashInfer's cp.async streams take here: ``eff`` (hbm_efficiency), or this GPU's own
    cp.async figure where it has one (docs/kernels.md Q)."""
    if hw.cp_async_hbm_efficiency is None:
        return "eff"
    return f"{hw.cp_async_hbm_efficiency:g}, the cp.async read fraction"


def _cp_async_line(hw) -> str:
    return (f"K/V by cp.async: the HBM stream at {hw.cp_async_hbm_efficiency:g} of the peak, this GPU's cp.async read "
            f"fraction (cp_async_hbm_efficiency), where TMA loads reach {hw.hbm_efficiency:g}")
