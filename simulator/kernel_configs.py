"""Each kernel family's tiles, warps, stages and schedule, as the kernels' own launch code picks them.

Sources are the kernels' code at flash-attention commit 0251105a (docs/kernels.md quotes the lines):
FA2 csrc/flash_attn/src/flash_fwd_launch_template.h, FA3 hopper/tile_size.h and
mainloop_fwd_sm90_tma_gmma_ws.hpp, FA3's SM80 path hopper/mainloop_fwd_sm80.hpp, FA4
flash_attn/cute/interface.py and flash_fwd_sm100.py.
"""

import math
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from functools import lru_cache

from simulator._numpy import np

from simulator.gpu_kernels import KernelConfig
from simulator.workload import MLA_ABSORBED, mla_absorbed

MAX_REGS_PER_THREAD = 255  # ptxas cap; FA2 forward kernels are compiled against it (launch_bounds)
WGMMA_ROWS = 64  # wgmma.m64nNk16: 64 rows per warpgroup instruction (PTX ISA); FA3: one consumer WG per 64 rows
# FA3 rebalances registers with setmaxnreg: consumers 256 (1 consumer warpgroup), 240 (2) or 160 (3)
# (hopper/flash_fwd_kernel_sm90.h, MmaRegisterRequirement); the producer's 24 are in gpu_kernels.
CONSUMER_REGS = {1: 256, 2: 240, 3: 160}
# FA3 by build (docs/kernels.md A4, "FA3 by build"). ``current``: today's code. ``2024-07``: the builds the FA3
# paper benchmarks (hopper/ from 74b0761f, July 2024, to the 2025-01-07 refactor 7a802796), which differ in two
# ways the model sees: causal tiles handed out in order (flash_fwd_launch_template.h run_flash_fwd,
# tile_scheduler.hpp DynamicPersistentTileScheduler: atomicAdd on a counter, m fastest and ascending; today
# longest first), and head dim 64 at 192 x 128 with P in registers for causal and non-causal alike
# (run_mha_fwd_hdim64: Flash_fwd_kernel_traits<64, 192, 128, 16, 2, false, 1, T>; today 192 x 192 through smem
# when not causal).
FA3_BUILDS = ("current", "2024-07")
_fa3_build: ContextVar[str] = ContextVar("fa3_build", default=FA3_BUILDS[0])


def current_fa3_build() -> str:
    """The FA3 build predictions run as here (a key for caches of results)."""
    return _fa3_build.get()


def fa3_build(build: str | None):
    """Predict FA3 as the given build runs inside this block (a published file's ``fa3_build``); None keeps
    today's code."""
    return build_switch(_fa3_build, FA3_BUILDS, "fa3_build", build)


# FA2 by build. ``current``: v2.5.7 (9eb3d099, 2024-04-07) and later, whose split heuristic counts twice the SMs
# (csrc/flash_attn/flash_api.cpp set_params_splitkv: ``dprops->multiProcessorCount * 2``, "we're using 128 threads
# per block"). ``2.4.2``: the releases before it, v2.4.2 (2023-12-25) among them, whose mha_fwd and mha_fwd_kvcache
# pass ``dprops->multiProcessorCount`` (the same num_splits_heuristic, so fewer splits where the call has few CTAs).
FA2_BUILDS = ("current", "2.4.2")
_fa2_build: ContextVar[str] = ContextVar("fa2_build", default=FA2_BUILDS[0])


def current_fa2_build() -> str:
    """The FA2 build predictions run as here (a key for caches of results)."""
    return _fa2_build.get()


def fa2_build(build: str | None):
    """Predict FA2 (``flash2``, ``flash-decoding``) as the given build runs inside this block (a published file's
    ``fa2_build``); None keeps today's code."""
    return build_switch(_fa2_build, FA2_BUILDS, "fa2_build", build)


@contextmanager
def build_switch(var: ContextVar, builds: tuple, key: str, build: str | None):
    """Set ``var`` to ``build``, one of ``builds``, inside this block (a published file's ``key``); None keeps
    the default."""
    from einsum_cascades.errors import UserError

    if build is None:
        yield
        return
    if build not in builds:
        raise UserError(f"bad {key} {build!r}: allowed {', '.join(builds)}")
    token = var.set(build)
    try:
        yield
    finally:
        var.reset(token)
FA3_STAGES = 2  # K and V pipelines of 2 stages each (flash_fwd_launch_template.h, kStages = 2 on sm90)
FA4_TILE = 128  # m_block_size = n_block_size = 128 on sm100 for every head dim (interface.py, FwdConfig)
FA4_SMEM = 224 * 1024  # the smem budget FA4 sizes its K/V ring against (flash_fwd_sm100.py, _setup_attributes)
FA4_MAX_KV_STAGES = 32
FA4_WARPS = 16  # softmax0, softmax1, correction warpgroups; MMA, epilogue, load and a spare warp
FA4_REGS = 128  # 65536 registers over 512 threads (softmax 192, correction 80, others 48)
# FA4's softmax (softmax.py, SoftmaxSm100) does its element-wise FP32 ops two at a time: packed FFMA2
# scale-and-subtract, 3-input FMNMX row max and packed FADD2 row sum (the 16-bit conversion is per pair anyway).
FA4_FP32_PACKING = 0.5
# FA4's exp2 emulation knobs (flash_fwd_sm100.py _TUNING_CONFIG and _FP8_TUNING_CONFIG, keyed (2-CTA, causal,
# padded head dim) on sm100): ex2 frequency, emulated pairs per period (res, default 4) and first fragment.
FA4_EX2_TUNING = {(True, False, 128): (10, 4, 1), (False, True, 128): (16, 4, 1), (True, False, 192): (16, 4, 0),
                  (False, True, 192): (32, 4, 1), (True, False, 256): (14, 6, 0), (True, True, 256): (14, 6, 0)}
FA4_EX2_TUNING_FP8 = {(True, False, 128): (10, 4, 1), (False, True, 128): (8, 4, 1)}  # d >= 96 only
FA4_EX2_FRAGMENT = 32  # SoftmaxSm100.apply_exp2_convert: a row's 128 scores in fragments of 32, pairs within


def fa4_exp_poly_fraction(two_cta: bool, causal: bool, local: bool, d16: int, fp8: bool, pack_gqa: bool) -> float:
    """Share of FA4's exponentials emulated by an FMA polynomial instead of MUFU.EX2 (flash_fwd_sm100.py
    __call__: the tuning entry, the fp8 override at d >= 96, emulation on by default up to d = 128 and for the
    2-CTA non-causal d = 192 kernel, frequency 10 for a packed-GQA non-causal non-local call above d = 64;
    the hd256 kernel sm100_hd256_2cta_fmha_forward.py reads the (2-CTA, causal, 256) entry). In each row of
    128 scores (fragments j of 32), the pair at k is emulated iff k % freq >= freq - res and start <= j < 3
    (softmax.py apply_exp2_convert)."""
    tuned = FA4_EX2_TUNING.get((two_cta, causal, d16))
    if fp8 and d16 >= 96:
        tuned = FA4_EX2_TUNING_FP8.get((two_cta, causal, d16), tuned)
    if tuned is None and not (d16 <= 128 or (d16 == 192 and two_cta and not causal and not local)):
        return 0.0
    freq, res, start = tuned or (16, 4, 1)
    if pack_gqa and d16 > 64 and not causal and not local and d16 != 256:
        freq = tuned[0] if tuned else 10
    if freq == 0:
        return 0.0
    pairs = sum(k % freq >= freq - res for k in range(0, FA4_EX2_FRAGMENT, 2)) / (FA4_EX2_FRAGMENT // 2)
    fragments = FA4_TILE // FA4_EX2_FRAGMENT
    return pairs * max(fragments - 1 - start, 0) / fragments


# The head dims each family's kernels are compiled for (a call's head dim runs the next one up, zero-filled):
# FA2 csrc/flash_attn/src/static_switch.h HEADDIM_SWITCH (32, 64, 96, 128, 192, 256 on main and from v2.8.0;
# up to v2.7.4 also 160, docs/kernels.md section C); FA3 hopper/flash_api.cpp round_up_headdim (64, 96, 128,
# 192, 256) and the value head dim run_mha_fwd_constexpr dispatches (fa3_head_dims); FA4
# flash_attn/cute/interface.py pads to 16 (ceil(head_dim / 16) * 16).
FA2_HEAD_DIMS = (32, 64, 96, 128, 192, 256)
# Block-Sparse-Attention's forward (mit-han-lab/Block-Sparse-Attention @ 49d6c39e, csrc/block_sparse_attn/src/
# static_switch.h HEADDIM_SWITCH and its flash_fwd_block_hdim{32,64,128}_*_sm80.cu): flash2's kernel for a mask FA2
# cannot state (gpu_kernels.fa2_block_sparse)
BS_HEAD_DIMS = (32, 64, 128)
FA3_HEAD_DIMS = (64, 96, 128, 192, 256)
FA3_HEAD_DIMS_V = (64, 96, 128, 192, 256, 512)


def _round_up(x: int, compiled: tuple) -> int:
    return next((h for h in compiled if h >= x), compiled[-1])


def compiled_head_dims(d: int, dv: int, kd: int, kdv: int) -> tuple | None:
    """KernelConfig.head_dims: the compiled head dims where they differ from the call's, else None."""
    return None if (kd, kdv) == (d, dv) else (kd, kdv)


def fa3_head_dims(d: int, dv: int, sm90: bool = True) -> tuple[int, int]:
    """(kHeadDim, kHeadDimV) of the FA3 kernel a call runs (hopper/flash_api.cpp, run_mha_fwd_constexpr): d
    rounded up (round_up_headdim); a value head dim of its own only on sm90, d <= 64 with dv in (64, 256] -> 256,
    above -> 512, d in (128, 192] with dv <= 128 -> 128; else the kernel's V is as wide as its K (mha_fwd refuses
    the pairs it has no kernel for: those calls arrive zero-padded, gpu_kernels.padded_head_dim)."""
    if sm90 and mla_absorbed(d, dv):
        return d, dv
    kd = _round_up(d, FA3_HEAD_DIMS)
    if dv == d:
        return kd, kd
    kdv = kd
    if sm90 and kd == 64 and dv > 64:
        kdv = 256 if dv <= 256 else 512
    elif sm90 and kd == 192 and dv <= 128:
        kdv = 128
    return kd, max(kdv, _round_up(dv, FA3_HEAD_DIMS_V))


@lru_cache(maxsize=512)  # a frozen config per distinct shape: built once, not once per point
def fa2(family: str, d: int, dv: int, b: int, smem_per_sm: int, smem_per_block: int, split: bool,
        swapped: bool, mask_ops: float | None = None, compiled: tuple = FA2_HEAD_DIMS,
        sm86_or_89_causal: bool | None = None) -> KernelConfig:
    """FlashAttention-2: 4 or 8 warps stacked along the query rows, mma.sync with K, V (and Q, re-read
    every tile) through ldmatrix, one K and one V buffer, the softmax in the same warps after the QK GEMM
    (compute_attn_1rowblock). Not persistent. ``split``: its split-KV kernel (``flash-decoding``, and
    ``flash2`` calls its heuristic splits); ``swapped``: a one-query GQA call whose query heads of a KV
    head are the tile's rows (flash_api.cpp, seqlenq_ngroups_swapped); ``mask_ops``: the instructions a thread
    issues a score to mask a tile on the call's GPU (``fa2_mask_ops``); ``compiled``: the head dims the kernel is
    built for (Block-Sparse-Attention's: BS_HEAD_DIMS); ``sm86_or_89_causal``: None on sm_80 and sm_90+, else on an
    sm_86 / sm_87 / sm_89 GPU whether the kernel runs causal (its Is_causal, ``fa_mask_mode``), which picks the
    tile there. The tile follows the head dim the kernel is built for (run_mha_fwd's HEADDIM_SWITCH)."""
    kd, kdv = _round_up(d, compiled), _round_up(dv, compiled)
    br, bc, warps = (_fa2_splitkv_tiles(d) if split
                     else _fa2_tiles(kd, smem_per_sm, smem_per_block, sm86_or_89_causal))
    smem = (br * kd + bc * (kd + kdv)) * b  # Q tile + one K and one V tile (kSmemSize), kHeadDim wide
    return KernelConfig(family, br, bc, warps, warps, 0, "mma_sync", False, True, smem, MAX_REGS_PER_THREAD,
                        False, swapped, split_kernel=split, head_dims=compiled_head_dims(d, dv, kd, kdv),
                        masks_local_tiles=True, gemm_ahead_loads=True, mask_ops_per_score=mask_ops, cp_async_loads=True)


# FA2's mask in instructions a thread issues a score, counted from its SASS (docs/kernels.md C): Mask::apply_mask
# (csrc/flash_attn/src/mask.h: per row the window's column limits, per score one integer compare a side and a select)
# on the (4, 2, 8) accumulator a thread holds of the 128 x 64 tile FA2 runs at d = 128 with 4 warps, called as
# compute_attn_1rowblock calls it (local: Is_local with Is_even_MN false, as run_flash_fwd instantiates it; causal:
# Causal_mask on a diagonal tile), minus the same kernel without the call, over the thread's 64 scores.
# flash-attention 0251105a (csrc/flash_attn/src) with its pinned CUTLASS 7127592, nvcc 13.0 -O3 --use_fast_math
# -DNDEBUG at the gencodes FA2's setup.py builds (sm_80, sm_90, compute_100f -> sm_100), cuobjdump -sass; counted
# 2026-12-06, not re-run by attnsim. The whole loop agrees: FA2's local kernel issues 1,173 instructions a thread a
# tile on sm_90 against 918 for its unmasked causal loop and 947 for the dense one. Taken for every FA2 tile and head
# dim: the compares and selects are a score's, only the per-row limits (a few a row) depend on the tile.
FA2_MASK_OPS = {"local": {80: 242 / 64, 90: 234 / 64, 100: 296 / 64},
                "causal": {80: 163 / 64, 90: 162 / 64, 100: 162 / 64}}


def fa2_mask_ops(sm: int, local: bool) -> float:
    """Instructions an FA2 thread issues a score to mask a tile on an ``sm`` GPU (FA2_MASK_OPS: the build for the
    newest counted arch at or below it): a local call's window mask, which it applies to every tile, or else the
    causal mask of a diagonal tile."""
    table = FA2_MASK_OPS["local" if local else "causal"]
    return table[max((k for k in table if k <= sm), default=min(table))]


def _fa2_tiles(d: int, smem_per_sm: int, smem_per_block: int,
               sm86_or_89_causal: bool | None = None) -> tuple[int, int, int]:
    """(Br, Bc, warps), run_mha_fwd_hdim{32..256}, non-dropout. On sm_86 / sm_89 (``sm86_or_89_causal`` not None:
    whether the call is causal) hdim96 and hdim128 take their ``is_sm8x`` branch (cc_major == 8 && cc_minor > 0):
    "For sm86 or sm89, 64 x 64 is the fastest for causal (because it's square), and 128 x 32 (48 KB smem) is the
    fastest for non-causal since we get 2 CTAs per SM" (hdim128; hdim96 keeps 128 x 64 when not causal)."""
    if d <= 64:
        return 128, 128, 4
    if sm86_or_89_causal is not None and d <= 128:
        return (64, 64, 4) if sm86_or_89_causal else (128, 64 if d <= 96 else 32, 4)
    if d <= 128:
        return 128, 64, 4
    if d <= 192:
        return 128, 64, 8
    # hdim256: "For A100, we want to run with 128 x 64 (128KB smem). For H100 we want to run with 64 x 64
    # (96KB smem) since then we can get 2 CTAs per SM."
    if smem_per_block >= 2 * 256 * (128 + 2 * 64) and smem_per_sm < 4 * 256 * (64 + 2 * 64):
        return 128, 64, 8
    return 64, 64, 4


def fa2_split_block_n(d: int) -> int:
    """The split-KV kernel's key tile, which FA2's split heuristic counts blocks of (set_params_splitkv)."""
    return _fa2_splitkv_tiles(d)[1]


def _fa2_splitkv_tiles(d: int) -> tuple[int, int, int]:
    """run_mha_fwd_splitkv_dispatch: kBlockM = 64, kBlockN = 256 / 128 / 64 for d <= 64 / 128 / more, 4 warps."""
    return 64, 256 if d <= 64 else 128 if d <= 128 else 64, 4


def fa3_sm90(d: int, dv: int, b: int, causal: bool, local: bool = False, paged: bool = False,
             one_wg: bool = False) -> KernelConfig:
    """FlashAttention-3 on Hopper: Br/64 consumer warpgroups issuing wgmma (K, V and Q through smem
    descriptors; P through smem where the tile's PV MMA is SS), a TMA producer warpgroup, 2-stage K and V
    pipelines, the softmax of block n beside the PV GEMM of block n-1 and the other warpgroups' GEMMs.
    Persistent over the SMs; causal and local tiles dispatched longest first (flash_fwd_launch_template.h: LPT =
    Is_causal || Is_local), as today's code does; inside
    ``fa3_build("2024-07")`` as the builds the FA3 paper benchmarks: in order (m fastest, ascending), d=64
    at 192 x 128, and FP8 at the first public FP8 kernel's tiles (5018ac6a). ``paged``: K/V gathered from a
    paged KV cache whose page size is not a multiple of kBlockN
    (a serving engine's 16-token blocks or 1-token pages: hopper/flash_api.cpp get_pagedkv_tma false), which
    loads them with cp.async instead of TMA and takes tile_size_fwd_sm90's paged_kv_non_TMA tiles. ``one_wg``:
    vLLM's fork's decode variant, one MMA warpgroup on a 64-row tile (``VLLM_ONE_WG_TILES``)."""
    return _fa3_sm90(d, dv, b, bool(causal), bool(local), bool(paged), _fa3_build.get() == "2024-07", bool(one_wg))


# vLLM's FA3 (vllm-project/flash-attention, the vllm_flash_attn vLLM builds; since 13d0fd9c, "FA3 Decode Perf - Use
# single mma warp group for decode batches", 2025-04-21; read at ed4b7342, the commit vLLM pins in
# cmake/external_projects/vllm_flash_attn.cmake by 2026-07): hopper/heuristics.h use_one_mma_wg -- sm90, head dim 64
# or 128 (and the same V head dim: flash_fwd_launch_template.h), no window, seqlen_q x (h / h_k) <= 64 -- runs one
# MMA warpgroup on a 64-row tile (hopper/tile_size.h tile_size_fwd_sm90 with use_one_mma_wg, P in registers, intra-
# warpgroup overlap): (kBlockN for the 16-bit causal / local / paged-without-TMA column, otherwise; fp8)
VLLM_ONE_WG_ROWS = 64
VLLM_ONE_WG_TILES = {64: (192, 192, 128), 128: (128, 176, 96)}


def vllm_one_wg_block_kv(d: int, causal: bool, local: bool, paged: bool, fp8: bool) -> int:
    """kBlockN of vLLM's one-warpgroup FA3 tile (tile_size_fwd_sm90, use_one_mma_wg) at head dim 64 or 128."""
    narrow, wide, e4m3 = VLLM_ONE_WG_TILES[d]
    if fp8:
        return e4m3
    return narrow if causal or local or paged else wide


# FA3's first public FP8 kernel (flash-attention 5018ac6a, 2024-07-30, hopper/flash_fwd_launch_template.h
# run_mha_fwd_hdim{64,128,256}_fp8): 192 x 128, 128 x 256 and 128 x 128, P in registers.
_FA3_FP8_2024_TILES = {64: (192, 128, False), 128: (128, 256, False), 256: (128, 128, False)}


# MLA's absorbed form as FA3 runs it (flash_attn_with_kvcache(q_rope, k_rope, v=latent, qv=q_nope): head dim 64, qv
# and V 512; hopper/flash_fwd_launch_template.h HasQv = kHeadDim == 64 && kHeadDimV >= 256, not fp8): attnsim states
# it as workload.MLA_ABSORBED (576, 512), the 64 RoPE columns and the 512-column latent that is also V


def _fa3_mla_sm90(b: int, causal: bool) -> KernelConfig:
    """FA3's MLA decode path on Hopper (hopper/mainloop_fwd_sm90_tma_gmma_ws.hpp with HasQv and LargeHeadDimV,
    kHeadDimV 512 > 256; tile_size_fwd_sm90(64, 512): 64 x 64, PV SS, no intra-warpgroup overlap): two MMA
    warpgroups, the first computing S = Q K_rope^T + Qv V^T (tiled_mma_qv: the latent V read again as the qv GEMM's
    B operand), the softmax and its half of O, the second the other half of O once P is in shared memory (the
    PFull / PEmpty named barriers), so the second's PV runs beside the first's next QK and softmax. Q and Qv stay in
    shared memory; K (64 wide) and V (512) are loaded by TMA, 576 columns a key, V standing also for the qv GEMM's
    K (v_in_k); P goes through shared memory. Persistent, as FA3 is."""
    d, dv = MLA_ABSORBED
    br = bc = 64
    smem = (br * d + FA3_STAGES * bc * d + br * bc) * b
    return KernelConfig("flash3", br, bc, 8, 1, 4, "wgmma", True, True, smem, CONSUMER_REGS[2], causal, False,
                        p_through_smem=True, kv_stages=FA3_STAGES, persistent=True, v_in_k=True)


@lru_cache(maxsize=512)  # a frozen config per distinct shape and build: built once, not once per point
def _fa3_sm90(d: int, dv: int, b: int, causal: bool, local: bool, paged: bool, paper: bool,
              one_wg: bool = False) -> KernelConfig:
    if mla_absorbed(d, dv):
        return _fa3_mla_sm90(b, causal)
    if one_wg:
        br, bc, p_in_smem = VLLM_ONE_WG_ROWS, vllm_one_wg_block_kv(d, causal, local, paged, b == 1), False
    elif paper and d <= 64 and b == 2 and not local:
        br, bc, p_in_smem = 192, 128, False
    elif paper and b == 1 and not local and not paged and max(d, dv) <= 256:
        br, bc, p_in_smem = _FA3_FP8_2024_TILES[next(k for k in _FA3_FP8_2024_TILES if max(d, dv) <= k)]
    else:
        br, bc, p_in_smem = _fa3_tiles(d, dv, causal, b == 1, local, paged)
    kd, kdv = fa3_head_dims(d, dv)
    smem = (br * kd + FA3_STAGES * bc * (kd + kdv) + (br * bc if p_in_smem else 0)) * b
    wgs = br // WGMMA_ROWS
    # fp8: wgmma takes 8-bit B operands K-major only, so V (row-major in HBM) is transposed in smem by the producer
    # warpgroup before each PV GEMM (mainloop_fwd_sm90_tma_gmma_ws.hpp: Transpose_V = Is_FP8 && !V_colmajor,
    # transpose_V: LDSM.T, byte permutes, STSM from the TMA-loaded sVt into sV)
    return KernelConfig("flash3", br, bc, wgs * 4, wgs, 4, "wgmma", True, True, smem, CONSUMER_REGS[wgs],
                        (causal or local) and not paper, False, p_through_smem=p_in_smem, kv_stages=FA3_STAGES,
                        persistent=True, transpose_v=b == 1, head_dims=compiled_head_dims(d, dv, kd, kdv),
                        cp_async_loads=paged)


def _fa3_tiles(d: int, dv: int, causal: bool, fp8: bool, local: bool = False,
               paged: bool = False) -> tuple[int, int, bool]:
    """(kBlockM, kBlockN, P through smem) of tile_size_fwd_sm90 (head dims rounded up to 64, 96, 128, 192,
    256 as flash_api.cpp round_up_headdim does); ``local``: a sliding window or chunk; ``paged``: K/V without
    TMA from a paged cache (16-bit: the local column's tiles up to d=192, where tile_size.h tests
    ``is_local || paged_kv_non_TMA`` together; d=256 keeps 128 x 80; e4m3 d=128: 128 x 160). A 16-bit head dim up
    to 64 with a wider value head dim takes its own tile first, whatever the mask: dv_rounded 256 128 x 96 (P in
    registers), 512 64 x 64 (P through smem)."""
    if mla_absorbed(d, dv):  # the qv path: tile_size_fwd_sm90(64, 512)
        return 64, 64, True
    if not fp8 and d <= 64 and (kdv := fa3_head_dims(d, dv)[1]) in (256, 512):
        return (128, 96, False) if kdv == 256 else (64, 64, True)
    if not fp8 and (local or (paged and d <= 192)):
        return _FA3_LOCAL_TILES[next(k for k in _FA3_LOCAL_TILES if d <= k)]
    if fp8:
        if d <= 64:
            return 192, 160, False
        if d <= 96:
            return 192, 128, False
        if d <= 128:
            return 128, 160 if paged else 224, False
        if d <= 192:
            return 128, 128 if paged and local else 160, False
        return 128, 64 if local else 128, False
    if d <= 64:
        return (192, 128, False) if causal else (192, 192, True)
    if d <= 96:
        return 192, 144, True
    if d <= 128:
        return 128, 128 if causal else 176, False
    if d <= 192:
        return 128, 128 if dv <= 128 else 112, False
    return 128, 80, False


# NATTEN's Hopper FNA forward tiles (query x key tokens) and whether the kernel is persistent, per head dim: the
# first (default) entry of HOPPER_FORWARD_CONFIGS (SHI-Labs/NATTEN src/natten/backends/configs/cutlass_hopper/
# __init__.py @ 8c8729f4): d = 32, 64: 64 x 128 NonPersistent; 128: 128 x 128 WarpSpecializedCooperative;
# 256: 128 x 64 WarpSpecializedCooperative. A head dim NATTEN has no kernel for takes the next larger one's.
NATTEN_SM90_TILES = {32: (64, 128, False), 64: (64, 128, False), 128: (128, 128, True), 256: (128, 64, True)}
# NATTEN's Hopper FNA masks every tile of a call that is not fully block-sparse (fna_collective_softmax.hpp
# step: ``if (not is_fully_block_sparse) Fusion{}.apply_mask(...)``; fna_fusion.hpp NeighborhoodAttentionMaskSm90:
# per row the window's start and end on each axis, then per score the key's grid coordinate, two comparisons an
# axis and a select), in its consumer loop after ``warpgroup_wait<0>()`` on the QK GEMM and before the softmax
# (fna_collective_tma_warpspecialized.hpp), so nothing overlaps it. Its SASS, instructions a consumer thread issues a
# score (NATTEN 8c8729f, KernelForward<half_t, non-causal, 128 x 128 x 128, WSCooperative> at (16, 8) x (16, 8) tiles
# in 2-D and (4, 4, 8) x (4, 4, 8) in 3-D, nvcc 13.0 -arch=sm_90a -O3 -use_fast_math -DNDEBUG against CUTLASS 6b3e607,
# nvdisasm, counted 2026-12-06, not re-run by attnsim): the loop's masked branch is 385 and 489 instructions a thread
# over the 64 scores a thread holds of a 128 x 128 tile (docs/kernels.md G)
NATTEN_SM90_MASK_ISSUE = {2: 385 / 64, 3: 489 / 64}
# NATTEN's Blackwell FNA the same way (fna_blackwell/collective/sm100_fna_fwd_mainloop_tma_warpspecialized.hpp
# softmax_step: ``if (not is_fully_block_sparse) Mask{}.apply_mask(...)`` on the S a softmax thread has just loaded
# from tensor memory, one row of 128 scores a thread, before its row max; fna_fusion.hpp NeighborhoodAttentionMask):
# its masked branch is 607 instructions a thread in 2-D (384 FSEL, 64 ISETP, 59 IMAD, ...) and 691 in 3-D, over a
# thread's 128 scores (NATTEN 8c8729f KernelForward<half_t, non-causal, 256 x 128 x 128, not persistent> at NATTEN's
# default Blackwell tiles, (16, 16) x (16, 8) and (8, 4, 8) x (4, 4, 8); nvcc 13.0 -arch=sm_100a -O3 -use_fast_math
# -DNDEBUG against CUTLASS 6b3e607, cuobjdump -sass; counted 2026-12-06, not re-run by attnsim; docs/kernels.md G).
# The softmax warps issue it in their own instruction stream between the S load and the row max, and the model adds
# it to the tile in series as on Hopper: B200's profiler figures (docs G) ask for 1.46 times the strided tile, this
# gives 1.39.
NATTEN_SM100_MASK_ISSUE = {2: 607 / 128, 3: 691 / 128}


def natten_mask_issue(wl, tiles_partial, sm: int = 90) -> float:
    """Instructions a thread issues a score to mask NATTEN's FNA tiles on an ``sm`` GPU (NATTEN_SM90_MASK_ISSUE,
    NATTEN_SM100_MASK_ISSUE): where any visited tile is partial the call is not fully block-sparse and every tile
    is masked; 0 where none is."""
    if not np.any(np.asarray(tiles_partial) > 0):
        return 0.0
    return (NATTEN_SM100_MASK_ISSUE if sm >= 100 else NATTEN_SM90_MASK_ISSUE)[3 if "window3d" in wl.pattern else 2]


def natten_sm100(cfg: KernelConfig) -> KernelConfig:
    """NATTEN's Blackwell FNA on FA4's schedule and 256 x 128 tile (CUTLASS's sm100 FMHA, which NATTEN forks), with
    its own softmax (SHI-Labs/NATTEN @ 8c8729f4, csrc/include/natten/cuda/fna_blackwell/collective/
    sm100_fna_fwd_mainloop_tma_warpspecialized.hpp): ``softmax_step`` takes every exponential on MUFU
    (``::exp2f`` after a packed FFMA, no polynomial: ``exp_poly_fraction`` 0, where FA4 emulates a share), and
    the correction warps rescale O whenever a row's max grew (``scale != 1.0f``, ``__any_sync`` over a warp's 32
    rows; FA4 only past a jump of 2^8): ``rescale_fraction`` 1."""
    return replace(cfg, exp_poly_fraction=0.0, rescale_fraction=1.0)


def natten_sm90(cfg: KernelConfig, d: int, dv: int, b: int) -> KernelConfig:
    """FA3's Hopper schedule (wgmma warpgroups of 64 rows, a TMA producer, two K/V stages, softmax beside the
    GEMMs) at NATTEN's Hopper FNA tile for the head dim: the kernel a window2d / window3d call runs there
    (natten/backends/hopper_fna.py runs CUTLASS's Hopper FMHA on tokens permuted into tile order)."""
    k = next((k for k in NATTEN_SM90_TILES if max(d, dv) <= k), 256)
    br, bc, persistent = NATTEN_SM90_TILES[k]
    wgs = br // WGMMA_ROWS
    smem = (br * k + FA3_STAGES * bc * 2 * k + (br * bc if cfg.p_through_smem else 0)) * b
    return replace(cfg, block_q=br, block_kv=bc, warps=wgs * 4, readers=wgs, smem_bytes=smem,
                   regs_per_thread=CONSUMER_REGS[wgs], persistent=persistent, head_dims=compiled_head_dims(d, dv, k, k))


# tile_size_fwd_sm90's is_local column (16-bit): d=64 192 x 128 (P in registers), 96: 192 x 128 (P
# through smem), 128: 128 x 128, 192: 128 x 96, 256: 128 x 64.
_FA3_LOCAL_TILES = {64: (192, 128, False), 96: (192, 128, True), 128: (128, 128, False), 192: (128, 96, False),
                    256: (128, 64, False)}
FA3_SM80_BLOCK_Q = 128


@lru_cache(maxsize=512)  # a frozen config per distinct shape: built once, not once per point
def fa3_sm80(d: int, dv: int, b: int, causal: bool, local: bool = False, paged: bool = False, varlen: bool = False,
             split: bool = False, sm86_or_89: bool = False) -> KernelConfig:
    """FlashAttention-3's SM80 path (hopper/ built for sm_80; flash_attn_func on an A100 runs it):
    mma.sync with 4 or 8 warps along the rows, no warp specialisation, the softmax after the QK GEMM in the
    same warps (mainloop_fwd_sm80.hpp fwd_step), GQA always packed. Tiles of tile_size_fwd_sm8x (``local``, a
    ``paged`` cache, and a ``varlen`` call that ``split``s over its keys, such as a decode call through
    flash_attn_with_kvcache; ``sm86_or_89``: the GPU is sm_86 or sm_89, ``params.arch == 86 || params.arch == 89``).
    Persistent when causal and not varlen, or varlen and split
    (flash_fwd_launch_template.h UsePersistentScheduler), whose dynamic scheduler takes causal and local tiles
    longest first (LPT); the single-tile scheduler of the rest runs them in order."""
    bc, warps, stages, q_in_regs = _fa3_sm80_tiles(d, local, paged, varlen and split, sm86_or_89)
    kd, kdv = fa3_head_dims(d, dv, sm90=False)
    q_smem = 0 if q_in_regs else FA3_SM80_BLOCK_Q * kd  # Share_QV_Smem = Q_in_regs
    smem = (q_smem + stages * bc * (kd + kdv)) * b
    persistent = split if varlen else causal
    return KernelConfig("flash3", FA3_SM80_BLOCK_Q, bc, warps, warps, 0, "mma_sync", False, not q_in_regs, smem,
                        MAX_REGS_PER_THREAD, persistent and (causal or local), True, kv_stages=stages,
                        persistent=persistent,
                        max_ctas_per_sm=2 if warps == 4 else 1, head_dims=compiled_head_dims(d, dv, kd, kdv),
                        cp_async_loads=True)


def _fa3_sm80_tiles(d: int, local: bool = False, paged: bool = False, varlen_split: bool = False,
                    sm86_or_89: bool = False) -> tuple[int, int, int, bool]:
    """(kBlockN, warps, stages, Q in registers) of tile_size_fwd_sm8x (hopper/tile_size.h; kBlockM 128, no append):
    d <= 64 112 keys (local 96, varlen split 80); <= 96 64 (local or varlen split 48); <= 128 64 with 4 warps
    (local 48), 8 warps and 112 keys when a varlen call splits (local 96); <= 192 96 keys, 2 stages, Q in registers
    (local, paged or varlen split: 64 keys, Q in smem); 256 96 keys (local or varlen split 64). On sm_86 / sm_89
    (``sm86_or_89``, the smaller shared memory): d <= 128 always 8 warps with Q in registers, 128 keys (local 96,
    varlen split 112 or local 96); d <= 192 one stage; 256 64 keys (local or varlen split 48), Q in registers."""
    if d <= 64:
        return (80 if varlen_split else 96 if local else 112), 4, 1, False
    if d <= 96:
        return (48 if varlen_split or local else 64), 4, 1, False
    if d <= 128:
        if varlen_split or sm86_or_89:
            return (96 if local else 112 if varlen_split else 128), 8, 1, True
        return (48 if local else 64), 4, 1, False
    if d <= 192:
        narrow = local or paged or varlen_split
        return (64 if narrow else 96), 8, 1 if sm86_or_89 else 2, not narrow
    if sm86_or_89:
        return (48 if varlen_split or local else 64), 8, 1, True
    return (64 if varlen_split or local else 96), 8, 1, False


@lru_cache(maxsize=512)  # a frozen config per distinct shape: built once, not once per point
def fa4(d: int, dv: int, b: int, causal: bool, dense: bool, packed_q: int, group: int,
        local: bool = False, fast_ex2: bool = False) -> KernelConfig:
    """FlashAttention-4 on Blackwell (flash_fwd_sm100.py): 128 x 128 tiles, two 128-row query tiles per CTA
    when the packed query length exceeds 128 (q_stage), tcgen05 MMAs reading Q, K and V through smem
    descriptors (no LSU reads) into S, P and O in tensor memory, the softmax of one query tile beside the
    MMAs of the other, part of exp2 as an FMA polynomial, O rescaled only when a row max grows by more than
    2^8 (so the per-tile rescale is dropped). K and V share one ring of stages filling 224 KiB; a 2-CTA MMA
    (dense non-causal d in {128, 192}, dv = 128, packed queries over 256; always at d = 256) splits each
    K/V tile over a CTA pair. Dense non-causal calls run persistent; causal and ``local`` ones longest first
    (SingleTileLPTScheduler for is_causal or is_local). Q has no second
    buffer across work tiles: the next tile's Q is loaded once this tile's key loop releases it (q_prefetch).
    ``fast_ex2``: the part is sm_103 or later (``Arch.sm_103f``, the B300), whose MUFU.EX2 runs at twice the B200's
    rate, and FA4 emulates no exponential there (``_default_enable_ex2_emu`` is ``... and not is_sm103`` and every
    is_sm103 tuning entry has ex2_emu_freq 0), except in the head-dim-256 kernel, which has no sm103 variant
    (sm100_hd256_2cta_fmha_forward.py: ``_tune_key = (True, is_causal, 256, False)``). That kernel's correction
    warps rescale all of O every key block, with no threshold (its ``correction_rescale``: a packed FMUL over each
    row's 256 columns between PV(j-1) and PV(j)), so it keeps the per-tile rescale."""
    d16, dv16 = math.ceil(d / 16) * 16, math.ceil(dv / 16) * 16
    causal = causal and not local  # _resolve_causal_local_window: a causal window is local, not causal
    hd256 = fa4_hd256(d, dv)
    q_stage = 2 if packed_q > FA4_TILE and not hd256 else 1  # hd256: its Q and O alone would not fit twice
    two_cta = hd256 or (dense and not causal and d16 in (128, 192) and dv16 == 128
                        and packed_q > 2 * FA4_TILE and FA4_TILE % group == 0)
    cta_group = 2 if two_cta else 1
    q_o, stage, ring, smem = _fa4_ring(q_stage, d16, dv16, b, FA4_TILE, cta_group, split=False)
    kv_stages = ring / 2
    if hd256:  # one ring of 4 stages of 128 columns; a K or V tile takes two: one pair in flight
        kv_stages = FA4_HD256_KV_STAGE / 4
        smem = q_o + 2 * stage
    pack = group > 1 and not hd256  # interface.py: "pack_gqa is an auto-selected optimization; disable it for hd256"
    poly = 0.0 if fast_ex2 and not hd256 else fa4_exp_poly_fraction(two_cta, causal, local, d16, b == 1, pack)
    return KernelConfig("flash4", q_stage * FA4_TILE, FA4_TILE, FA4_WARPS, 0, 0, "tcgen05", True, False,
                        smem, FA4_REGS, (causal or local) and not hd256, pack,
                        exp_poly_fraction=poly, fp32_packing=FA4_FP32_PACKING, rescale_fraction=1.0 if hd256 else 0.0,
                        kv_stages=kv_stages, persistent=dense and not causal and not hd256, kv_share=cta_group,
                        q_prefetch=False, head_dims=compiled_head_dims(d, dv, d16, dv16))


def _fa4_sm90_tiles(d: int, dv: int, causal: bool, local: bool) -> tuple[int, int, bool]:
    """(tile_m, tile_n, P in registers) of FA4 on Hopper (flash_attn/cute/interface.py _tile_size_fwd_sm90,
    "adjusted for the Python kernel's different register/smem tradeoffs"): d <= 64 192 x 128; <= 96 192 x 144 (causal
    or local 192 x 128), P through smem ("RS is catastrophic with 192x tiles"); <= 128 128 x 128; <= 192 128 x 128
    (dv above 128: 112 keys; local: 96); 256 128 x 80 (local: 64)."""
    if d <= 64:
        return 192, 128, True
    if d <= 96:
        return 192, 128 if causal or local else 144, False
    if d <= 128:
        return 128, 128, True
    if d <= 192:
        return 128, 96 if local else 128 if dv <= 128 else 112, True
    return 128, 64 if local else 80, True


def fa4_sm90_block_kv(d: int, dv: int, causal: bool, local: bool) -> int:
    """FA4's key tile on Hopper: the page size it loads a paged cache by TMA at (interface.py: paged_kv_non_tma =
    page_size not in [None, tile_n])."""
    return _fa4_sm90_tiles(d, dv, causal and not local, local)[1]


@lru_cache(maxsize=512)  # a frozen config per distinct shape: built once, not once per point
def fa4_sm90(d: int, dv: int, b: int, causal: bool, local: bool, group: int) -> KernelConfig:
    """FlashAttention-4 on Hopper (flash_attn/cute/flash_fwd_sm90.py, FlashAttentionForwardSm90, at Dao-AILab/
    flash-attention 0251105a): FA3's design in CuTe DSL: tile_m / 64 consumer warpgroups issuing wgmma (Q, K and V
    through smem, P in registers unless the tile says otherwise), a producer warpgroup loading Q, K and V by TMA,
    2-stage K and V pipelines (interface.py: num_stages=2), the softmax of one key block beside the PV GEMM of the
    previous (intra_wg_overlap, on for every head dim) and the warpgroups' GEMMs ordered by a named barrier
    (use_scheduler_barrier), setmaxnreg 240/24 for two consumer warpgroups (256/56 one, 160/32 three); O written
    through Q's smem (sO = storage.sQ); Softmax (not SoftmaxSm100): no exp2 polynomial, O rescaled every block.
    Unlike FA3 it is not persistent: one CTA per work tile (``is_persistent=False``: SingleTileScheduler, or
    SingleTileLPTScheduler, longest first, when causal or local), and it does not split over the keys ("SplitKV not
    supported on SM 9.0"). GQA heads packed whenever there are several per KV head (pack_gqa default
    ``qhead_per_kvhead > 1``). Head dims padded to 16 (tile_hdim)."""
    causal = causal and not local  # _resolve_causal_local_window: a causal window is local, not causal
    br, bc, p_in_regs = _fa4_sm90_tiles(d, dv, causal, local)
    d16, dv16 = math.ceil(d / 16) * 16, math.ceil(dv / 16) * 16
    wgs = br // WGMMA_ROWS
    smem = (br * max(d16, dv16) + FA3_STAGES * bc * (d16 + dv16) + (0 if p_in_regs else br * bc)) * b
    return KernelConfig("flash4", br, bc, wgs * 4, wgs, 4, "wgmma", True, True, smem, CONSUMER_REGS[wgs],
                        causal or local, group > 1, p_through_smem=not p_in_regs, kv_stages=FA3_STAGES,
                        persistent=False, head_dims=compiled_head_dims(d, dv, d16, dv16),
                        masks_every_tile=causal or local)


FA4_SPLIT_O_BYTES = 4  # a split call's partial O is fp32 (interface.py: "SplitKV uses float32 partial output")


def _fa4_ring(q_stage: int, d16: int, dv16: int, b: int, block_kv: int, cta_group: int, split: bool):
    """(Q and O bytes, bytes of one K/V stage, stages, bytes in all) of FA4's shared memory (flash_fwd_sm100.py,
    _setup_attributes): Q and O side by side unless they overlap (``overlap_sO_sQ``: d = 192, or a split call
    with dv >= 128), O in fp32 when split; K and V share one ring of stages filling 224 KiB, at most 32; at
    (192, 128) a ring of 2 takes a third, smaller middle stage (``uneven_kv_smem``: "we can fit 3 stages")."""
    q = q_stage * FA4_TILE * d16 * b
    o = q_stage * FA4_TILE * dv16 * (FA4_SPLIT_O_BYTES if split else b)
    q_o = max(q, o) if (d16 == 192 and dv16 >= 64) or (split and dv16 >= 128) else q + o
    stage = block_kv * max(d16, dv16) * b // cta_group
    ring = max(1, min((FA4_SMEM - q_o) // stage, FA4_MAX_KV_STAGES))
    smem = q_o + ring * stage
    if d16 == 192 and dv16 == 128 and ring == 2:  # [192-wide, 128-wide, 192-wide]
        ring, smem = 3, smem + block_kv * dv16 * b // cta_group
    return q_o, stage, ring, smem


def fa4_split_ring(cfg: KernelConfig, d: int, dv: int, b: int, block_kv: int, fast_ex2: bool = False) -> KernelConfig:
    """``cfg`` as a split call runs it: its fp32 partial O in shared memory and its (possibly narrowed) key tile
    re-size the K/V ring (_setup_attributes runs on the split kernel's own tile and O type). A split call runs no
    2-CTA MMA (interface.py: ``use_2cta_instrs = ... and not is_split_kv``): each CTA loads its whole K/V tiles,
    and the exponentials take the 1-CTA tuning entry (``fast_ex2`` as for ``fa4``)."""
    d16, dv16 = math.ceil(d / 16) * 16, math.ceil(dv / 16) * 16
    poly = cfg.exp_poly_fraction
    if cfg.kv_share > 1:  # a 2-CTA config is dense, non-causal, not local, not hd256 (which never splits)
        poly = 0.0 if fast_ex2 else fa4_exp_poly_fraction(False, False, False, d16, b == 1, cfg.pack_gqa)
    _, _, ring, smem = _fa4_ring(cfg.block_q // FA4_TILE, d16, dv16, b, block_kv, 1, split=True)
    # and runs one CTA per (split, query block): interface.py is_static_persistent requires ``not is_split_kv``
    return replace(cfg, block_kv=block_kv, kv_stages=ring / 2, smem_bytes=smem, persistent=False, kv_share=1,
                   exp_poly_fraction=poly)


# FA4's dedicated (256, 256) kernel (flash_attn/cute/sm100_hd256_2cta_fmha_forward.py,
# BlackwellFusedMultiHeadAttentionForward): kv_stage = 4 stages of 128 columns, ``is_persistent = False`` (its grid
# runs the query blocks in launch order, shortest causal ones first), no pack_gqa, no split-KV, no local window.
FA4_HD256_KV_STAGE = 4


def fa4_hd256(d: int, dv: int) -> bool:
    """Whether FA4 runs head dims (d, dv) in its dedicated (256, 256) kernel (interface.py
    ``use_dedicated_hd256_kernel``, after padding to 16)."""
    return math.ceil(d / 16) * 16 == 256 == math.ceil(dv / 16) * 16


# FlashAttention-1's forward kernel as the FA1 paper benchmarks it (flash-attention @ 765741c, June 2022:
# csrc/flash_attn/src/fmha_fprop_fp16_kernel.sm80.cu, run_fmha_fp16_sm80; fmha/kernel_traits.h,
# FMHA_kernel_traits<S, D, STEP=16, WARPS_M=1, WARPS_N=4, FLAGS>): a CTA of 4 warps per (head, batch) computes
# 16 query rows (STEP) against S keys per step, the keys split over the 4 warps (WARPS_N); S = 128 when the
# keys are exactly 128, else 256. FLAGS 0x08 (head dims up to 64) share one smem buffer for K and V and keep both
# in registers; head dim 128 uses 0x18: K's fragments are read from smem every step.
FA1_STEP = 16
FA1_WARPS = 4
FA1_HEAD_DIMS = (16, 32, 64, 128)  # run_fmha_fp16_sm80 has kernels for these head dims only


def fa1(d: int, dv: int, b: int, kv_len: int, sm: int = 80) -> KernelConfig:
    """FlashAttention-1's kernel traits for head dim ``d`` (rounded up to a compiled one) and ``kv_len`` keys on
    sm_``sm``. mha_fwd (csrc/flash_attn/fmha_api.cpp @ 765741c) rounds the longest key sequence up to 128 when it
    is at most 128 (the params' ``s``), and run_fmha_fp16_sm80 takes S = 128 keys a block when ``s == 128``,
    else 256, but for D = 128 off sm_8x (``dprops->major == 8``, no dropout: FMHA_kernel_traits<256, 128, 16, 1,
    4, 0x18u>, K read from smem), where it runs <128, 128, 16, 1, 4, 0x08u> (K in registers) at every length.
    Shared memory (fmha_fprop_kernel_1xN.h, Gemm_Q_K::SMEM_BYTES): Q in two buffers, one K/V buffer of S keys
    or the O-reduction tile (16 rows x D fp32 per warp) where larger, and the cross-warp max and sum."""
    dk = next((h for h in FA1_HEAD_DIMS if h >= max(d, dv)), FA1_HEAD_DIMS[-1])
    bc = 128 if kv_len <= 128 or (dk == 128 and sm // 10 != 8) else 256
    smem = 2 * FA1_STEP * dk * b + max(bc * dk * b, FA1_STEP * dk * 4 * FA1_WARPS) + FA1_STEP * FA1_WARPS * 4 * 2
    return KernelConfig("flash1", FA1_STEP, bc, FA1_WARPS, 0, 0, "mma_sync", False, True, smem, MAX_REGS_PER_THREAD,
                        False, False, k_in_regs=not (dk == 128 and bc == 256),
                        head_dims=compiled_head_dims(d, dv, dk, dk))
