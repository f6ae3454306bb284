"""Kernel families: which exist, where they build, how a call is configured, and FA3's GQA packing.

Each family is a named, explicit model (STYLE 10). Tile shapes come from the kernels' own launch code
(``kernel_configs``); occupancy follows from shared memory, registers and threads against the GPU's
per-SM limits.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import NamedTuple

from einsum_cascades.errors import UserError
from simulator._numpy import np
from simulator.columns import is_columns, vmax, vmin
from simulator.tiles import Packing
from simulator.workload import mla_absorbed

GPU_FAMILIES = ("naive", "flash1", "flash2", "flash3", "flash4", "flash-decoding",
                "flashinfer-decode", "flashinfer-single-decode",  # FlashInfer 0.0.1's CUDA-core decode (flashinfer_decode)
                "flashinfer-decode-tc", "flashinfer-single-decode-tc",  # FlashInfer's tensor-core decode (flashinfer_tc)
                "flashinfer-single-prefill",  # ... and its prefill kernel on a prefill call (flashinfer_tc)
                "flashinfer-prefill",  # FlashInfer's batch prefill: fa3 backend on Hopper (flashinfer_sm90), fa2 else
                "flashinfer-prefill-fa2",  # ... with backend="fa2" on any GPU (flashinfer_tc)
                "nsa-select", "nsa-select@kv-outer",  # NSA's selected attention and its KV-outer order (nsa_select)
                "flashmla")  # FlashMLA's dense decoding: MLA's absorbed form on Hopper (flashmla)
# The architectures each family's kernels build for (sm numbers, inclusive); absent: every GPU.
# FA3: flash-attention hopper/setup.py builds sm_90a and, without wgmma, sm_80 (its SM80 path); on sm_100
# it would select sm_90a kernels that are not built for it. FA4: flash_attn/cute/flash_fwd_sm100.py
# (tcgen05 and tensor memory) on Blackwell datacenter parts and flash_fwd_sm90.py on Hopper (interface.py dispatches
# sm_8x, sm_9x, sm_10x/11x and sm_12x; attnsim models the Hopper and Blackwell paths: FAMILY_UNMODELLED).
# FA1 (flash-attention 1.x, last at 4f285b35^, setup.py): SASS for sm_80, and sm_90 with CUDA 11.8+; nothing newer.
FAMILY_ARCHS = {"flash1": (80, 90), "flash3": (80, 90), "flash4": (90, 103),
                "flashmla": (90, 90)}  # FlashMLA dense_decode.h: "only supported on SM90a"
# Architectures a family's real kernels build for that attnsim does not model: (low, high, what runs there)
# FA4 emulates no exp2 from sm_103 on (flash_fwd_sm100.py: is_sm103 = arch.is_family_of(Arch.sm_103f), "sm_103 (B300)
# has fast hardware ex2 and later Blackwell variants are assumed to inherit this")
FA4_FAST_EX2_SM = 103
# FA4's interface.py (_flash_attn_fwd: arch // 10 in [8, 9, 10, 11, 12]) runs FlashAttentionForwardSm80 on sm_8x,
# FlashAttentionForwardSm100 on sm_10x and sm_11x ("Only SM 10.x and 11.x are supported"; on sm_110 without sm_103's
# hardware ex2 or tcgen05.ld.red, is_sm103 = arch.is_family_of(Arch.sm_103f), and without FP8: "FP8 is only
# supported on SM100 (compute capability 10.x)"), and FlashAttentionForwardSm120 on sm_12x (flash_fwd_sm120.py:
# the SM80 kernel, mma.sync, 4 warps, 99 KB of shared memory)
FAMILY_UNMODELLED = {"flash4": ((80, 89, "its sm80 path, flash_attn/cute/flash_fwd.py FlashAttentionForwardSm80"),
                                (110, 119, "its sm100 path without sm_103's hardware ex2 and FP8 (flash_fwd_sm100.py "
                                 "FlashAttentionForwardSm100 on Thor)"),
                                (120, 129, "its sm120 path, flash_attn/cute/flash_fwd_sm120.py "
                                 "FlashAttentionForwardSm120 (FA2-style mma.sync tiles)"))}
WARP_THREADS = 32
PRODUCER_REGS = 24  # FA3's TMA producer warpgroup after setmaxnreg (hopper/flash_fwd_kernel_sm90.h)
# Shared memory the occupancy query charges a CTA (CUDA 13.0 include/cuda_occupancy.h,
# cudaOccMaxBlocksPerSMSmemLimit): its static and dynamic bytes plus the driver's reservedSharedMemPerBlock ("starting
# Ampere, CUDA driver reserves additional shared memory per block": 1 KB, the gap between the CUDA C++ Programming
# Guide's shared memory per SM and per block, 164/163 KB on sm_80, 228/227 KB on sm_90 and sm_100), rounded up to the
# allocation granularity (cudaOccSMemAllocationGranularity: 128 B from compute capability 8); an SM holds
# floor(its shared memory / that) CTAs.
RESERVED_SMEM_PER_CTA = 1024
SMEM_GRANULARITY = 128


def ctas_by_smem(hw, smem_bytes: int) -> int:
    """CTAs an SM's shared memory holds by the occupancy query's count (RESERVED_SMEM_PER_CTA, SMEM_GRANULARITY)."""
    charged = -(-(max(int(smem_bytes), 0) + RESERVED_SMEM_PER_CTA) // SMEM_GRANULARITY) * SMEM_GRANULARITY
    return hw.smem_per_sm_bytes // charged


def cta_limit_error(hw, who: str, regs: int, threads: int) -> str | None:
    """Why no CTA of ``who`` (``regs`` registers, ``threads`` threads a CTA) is resident on an SM of ``hw`` by its
    registers or threads, naming the TOML key; None where they hold one (shared memory is each kernel's message)."""
    if regs > hw.regs_per_sm:
        return f"{who} needs {regs:,} registers per CTA; {hw.name} has {hw.regs_per_sm:,} per SM (regs_per_sm)"
    if threads > hw.max_threads_per_sm:
        return (f"{who} runs {threads:,} threads per CTA; {hw.name} allows {hw.max_threads_per_sm:,} per SM "
                "(max_threads_per_sm)")
    return None


FUSED_CASCADE = "attention-1pass"  # what every fused family computes: FuseMax's Cascade 5 (simulator.tile_ops)
OUT_MIN_BYTES = 2  # no kernel writes an 8-bit O (out_bytes)
PACK_GQA_FILL = 0.9  # FA3 packs GQA heads when unpacked tiles are under 90% as full as packed ones (hopper/heuristics.h, should_pack_gqa)
_FLOAT32 = struct.Struct("f")


def out_bytes(b: int) -> int:
    """Bytes of one output element for inputs of ``b`` bytes: the fp8 kernels write O in 16 bits (FA3:
    hopper/flash_api.cpp mha_fwd, out_type BFloat16 for Float8_e4m3fn inputs, fp16 in the July 2024 builds,
    kernel_traits.h Flash_fwd_kernel_traits_fp8 OutputType half_t; FA4: flash_attn/cute/interface.py,
    out_torch_dtype bfloat16 when is_fp8)."""
    return max(b, OUT_MIN_BYTES)


@dataclass(frozen=True, slots=True)
class KernelConfig:
    """How one kernel family lays out a forward attention call on a GPU."""

    family: str
    block_q: int  # Br: query rows per CTA tile
    block_kv: int  # Bc: keys per inner-loop tile
    warps: int  # warps per CTA (consumer warps; FA3's producer warp is extra, see smem/regs)
    readers: int  # consumers that each read the whole K and V tile from smem per tile
    producer_warps: int  # FA3's TMA producer warpgroup (4 warps, few registers); 0 elsewhere
    tensor_path: str  # "mma_sync" (Ampere-style), "wgmma" (Hopper warpgroup MMA) or "tcgen05" (Blackwell)
    overlap: bool  # softmax of one tile overlaps GEMMs of another (FA3 ping-pong) or not (FA2)
    q_from_smem: bool  # Q operand re-read from smem for every tile
    smem_bytes: int
    regs_per_thread: int
    longest_first: bool  # scheduler issues the longest (most tiles) query blocks first
    pack_gqa: bool  # query heads of one KV head packed into the tile's rows (decode; FA3 by its heuristic)
    exp_poly_fraction: float = 0.0  # share of the exponentials computed as an FMA polynomial instead of on MUFU (FA4)
    cascade: str = FUSED_CASCADE  # the cascade the kernel computes (its per-tile work: simulator.tile_ops)
    pass_level: int = 1  # the pass over the keys this launch makes (a multi-pass cascade runs one per pass)
    recompute: bool = False  # this pass rebuilds the earlier passes' score tensors it reads (else they are stored)
    loads_v: bool = True  # this pass streams V beside K (a multi-pass cascade reads V in its last pass only)
    writes_o: bool = True  # this pass writes O (the last one)
    fp32_packing: float = 1.0  # FP32 instructions per element-wise op (FA4's FFMA2/FADD2/FMNMX3: 0.5)
    rescale_fraction: float = 1.0  # share of key tiles after which O is rescaled (FA4: only on a large max jump)
    p_through_smem: bool = False  # FA3's SS PV MMA: P stored to smem and read back by the MMA
    kv_stages: float = 1.0  # K/V tile pairs a CTA keeps in flight (its loads' pipeline depth)
    persistent: bool = False  # CTAs loop over work tiles (the next tile's loads overlap this one's end)
    q_prefetch: bool = True  # a persistent kernel loads the next work tile's Q before this tile's loop ends
    # (False for FA4: flash_fwd_sm100.py mma() releases Q0/Q1 only after the key loop, and load() acquires the Q
    # stage before issuing the next tile's Q, so each work tile waits one memory latency for its Q)
    kv_share: int = 1  # CTAs that split each K/V tile's load (2 with FA4's 2-CTA MMA)
    split_kernel: bool = False  # FA2's split-KV kernel (flash-decoding; flash2 when its heuristic splits)
    max_ctas_per_sm: int = 32  # the kernel's own __launch_bounds__ minimum-blocks cap, if any
    k_in_regs: bool = False  # FA1: each warp keeps its K fragments in registers for a whole key block
    transpose_v: bool = False  # FA3 fp8: the producer re-writes each V tile transposed in smem (LDSM.T, STSM)
    # (kHeadDim, kHeadDimV) the kernel is compiled for, where the call's head dims are smaller (d = 80 runs FA2's
    # and FA3's 96 kernel): its MMAs, smem tiles and O accumulators span them, zero-filled; HBM and L2 bytes do not
    head_dims: tuple | None = None
    # a local (sliding-window) call masks every tile, not only those the window's edges cut (FA2: mask.h
    # Mask::apply_mask's Need_masking includes Is_local, and compute_attn_1rowblock's loop after the masking
    # steps still calls it; FA3 and FA4 run their middle tiles unmasked)
    masks_local_tiles: bool = False
    # a causal or local call masks every tile it visits (FA4 on Hopper: flash_fwd_sm90.py's mainloop binds mask_fn
    # with mask_causal=self.is_causal and mask_local=self.is_local, and passes it to "The remaining iterations have
    # no masking" loop too, so AttentionMask.apply_mask's causal or local branch runs on every key block)
    masks_every_tile: bool = False
    # the host builds each persistent CTA's work list before the launch from its own cost estimates (FlashInfer's
    # PrefillSM90Plan): the makespan is the longest list in true work, not a dynamic scheduler's
    host_plan: bool = False
    # NATTEN's FNA on a neighborhood that is not fully block-sparse: instructions a thread issues a score to mask
    # every tile, before the softmax (Hopper: after the QK wgmma's wait; Blackwell: after the S load from tensor
    # memory), in series with the tile (kernel_configs.natten_mask_issue)
    mask_issue_per_score: float = 0.0
    # instructions a thread issues a score to mask a tile, on the CUDA cores with the softmax (None: the generic
    # tile_cost.MASK_FP32_PER_SCORE); FA2's counted from its SASS (kernel_configs.fa2_mask_ops)
    mask_ops_per_score: float | None = None
    # FA2 (flash_fwd_kernel.h compute_attn_1rowblock and its split-KV twin): a K/V load is issued one GEMM ahead of
    # its use, V(n) after waiting for K(n) and before QK(n), K(n-1) after waiting for V(n) and before the softmax and
    # PV(n), so a CTA alone on its SM waits max(QK, L) + max(softmax + PV, L) a tile (tile_cost._tile_cost)
    gemm_ahead_loads: bool = False
    # FlashInfer's fa3 backend (hopper/utils.cuh get_swa_begin_kv_tile_idx's "- 1"): a sliding window starts one key
    # tile early, a masked tile more for each query tile whose window starts past the first (flashinfer_sm90)
    window_extra_tile: bool = False
    # multi-head latent attention's absorbed form (FlashMLA): V is the first dv columns of each K row, so a tile's
    # load from memory is its K rows alone, while its MMAs still read K and V (the same smem) as operands
    v_in_k: bool = False
    # K/V tiles loaded by cp.async (LDGSTS) rather than TMA: FA2's kernels (csrc/flash_attn/src/kernel_traits.h
    # GmemTiledCopyQKV, SM80_CP_ASYNC_CACHEGLOBAL), FA3's SM80 path and its paged non-TMA gather; their stream
    # reaches the part's cp.async read fraction (GPUSpec.stream_bw), where one is measured apart
    cp_async_loads: bool = False

    def mma_dims(self, d: int, dv: int) -> tuple:
        """The head dims the kernel's MMAs and smem tiles span for a call of head dims ``d``, ``dv``."""
        return self.head_dims or (d, dv)

    def kv_width(self, d: int, dv: int) -> int:
        """Elements of one key row the pass's MMAs read: its K row, and its V row when it reads V."""
        return d + (dv if self.loads_v else 0)

    def kv_load_width(self, d: int, dv: int) -> int:
        """Elements of one key row the pass loads from memory: ``kv_width``, less V where V is K's own columns
        (``v_in_k``)."""
        return d if self.v_in_k else self.kv_width(d, dv)

    def qo_bytes(self, d: int, dv: int, b: int) -> int:
        """Bytes of one query row the pass moves: its Q row in at ``b`` bytes an element, and its O row out when
        it writes O, in 16 bits when the inputs are 8-bit (out_bytes)."""
        return d * b + (dv * out_bytes(b) if self.writes_o else 0)

    def ctas_per_sm(self, hw) -> int:
        """Resident CTAs per SM, limited by smem, registers, threads and the CTA cap."""
        threads = (self.warps + self.producer_warps) * WARP_THREADS
        regs = (self.warps * self.regs_per_thread + self.producer_warps * PRODUCER_REGS) * WARP_THREADS
        by_smem = ctas_by_smem(hw, self.smem_bytes)
        by_regs = hw.regs_per_sm // regs
        by_threads = hw.max_threads_per_sm // threads
        k = min(by_smem, by_regs, by_threads, hw.max_ctas_per_sm, self.max_ctas_per_sm)
        if k < 1 and self.smem_bytes <= hw.smem_per_block_bytes and (why := cta_limit_error(
                hw, f"{self.family} tile {self.block_q}x{self.block_kv}", regs, threads)):
            raise UserError(why)
        if k < 1 or self.smem_bytes > hw.smem_per_block_bytes:  # a CTA may not hold more than the per-block cap
            raise UserError(f"{self.family} tile {self.block_q}x{self.block_kv} needs {self.smem_bytes} B of shared memory; {hw.name} allows {hw.smem_per_block_bytes} per CTA")
        return k



def kernel_config(family: str, hw, wl) -> KernelConfig:
    """The tile configuration the named kernel family picks for this workload's shape. FA3's GQA packing
    depends on the lengths too: ``simulator.splits.fa3_layout`` decides it."""
    from simulator import kernel_configs as kc

    if reason := arch_error(hw.arch, hw.name, family):
        raise UserError(reason)
    d, dv, b = int(wl.head_dim), int(wl.v_head_dim), int(wl.dtype_bytes)  # plain ints: the configs are cached by them
    if family == "flash2" and fa2_block_sparse(wl):  # Block-Sparse-Attention's kernel: one launch, never split
        if max(d, dv) > kc.BS_HEAD_DIMS[-1]:
            raise UserError(f"bad head-dim {max(d, dv)} for flash2 with this mask: it runs Block-Sparse-Attention's "
                            f"kernel, built for head dims of at most {kc.BS_HEAD_DIMS[-1]} "
                            f"(csrc/block_sparse_attn/src/static_switch.h HEADDIM_SWITCH: "
                            f"{', '.join(map(str, kc.BS_HEAD_DIMS))}); use flash3 or flash4, whose block sparsity takes it")
        return kc.fa2(family, d, dv, b, hw.smem_per_sm_bytes, hw.smem_per_block_bytes, False, False,
                      kc.fa2_mask_ops(sm_number(hw.arch), False), compiled=kc.BS_HEAD_DIMS,
                      sm86_or_89_causal=fa2_sm8x_causal(hw.arch, wl))
    if family in ("flash2", "flash-decoding"):
        # a column's points agree on splitting (simulator.point_groups groups them by it)
        split = fa2_forces_split(wl) or _any_above_one(fa2_splits(hw, wl, kvcache=family == "flash-decoding"))
        return kc.fa2(family, d, dv, b, hw.smem_per_sm_bytes, hw.smem_per_block_bytes, split,
                      fa2_swapped(wl, kvcache=family == "flash-decoding" or bool(wl.varlen)),
                      kc.fa2_mask_ops(sm_number(hw.arch), fa2_window_call(wl)),
                      sm86_or_89_causal=None if split else fa2_sm8x_causal(hw.arch, wl))
    if family == "flash3":
        causal = fa3_keeps_causal(wl)
        if sm_number(hw.arch) >= 90:
            cfg = kc.fa3_sm90(d, dv, b, causal, windowed(wl), paged=fa3_pages_without_tma(hw, wl),
                              one_wg=vllm_one_mma_wg(wl))
            # the 2024 builds run a varlen call on the single-tile scheduler, one CTA per work tile (hopper/
            # flash_fwd_launch_template.h @ 478ee666: ``Seqlen_traits::UseVarSeqLen ? SingleTileScheduler``); today's
            # on its persistent varlen scheduler (VarlenDynamicPersistentTileScheduler)
            return _single_tile(cfg) if varlen_call(wl) and kc.current_fa3_build() == "2024-07" else cfg
        # a serving engine's call is varlen: unsplit, it runs the single-tile scheduler, not the persistent one
        return kc.fa3_sm80(d, dv, b, causal, windowed(wl), paged_cache(wl), varlen=varlen_call(wl),
                           sm86_or_89=fa3_sm86_or_89(hw.arch))
    if family == "flash4":
        # a column's points share fa4_layout_key (run_points groups them by it), so its first point's config is theirs
        group, seq_len = (int(np.ravel(x)[0]) if is_columns(x) else int(x) for x in (wl.group, wl.seq_len))
        local = fa4_local(wl)
        if sm_number(hw.arch) < 100:  # its Hopper path (flash_fwd_sm90.py)
            return kc.fa4_sm90(d, dv, b, pattern_causal(wl), local, group)
        return kc.fa4(d, dv, b, pattern_causal(wl), bool(not wl.is_sparse), seq_len * group, group, local,
                      fast_ex2=sm_number(hw.arch) >= FA4_FAST_EX2_SM)
    if family == "flash1":
        return kc.fa1(d, dv, b, int(np.max(wl.kv_len)), sm_number(hw.arch))
    if family == "flashinfer-prefill":
        from simulator import flashinfer_sm90

        return flashinfer_sm90.kernel_config(hw, wl)
    raise UserError(f"unknown GPU kernel family {family!r}: allowed {', '.join(GPU_FAMILIES)}")


def vllm_one_mma_wg(wl) -> bool:
    """Whether a serving engine's FA3 call (--scope layer: vLLM's vllm_flash_attn) runs its one-MMA-warpgroup decode
    variant (kernel_configs.VLLM_ONE_WG_TILES; hopper/heuristics.h use_one_mma_wg: head dim 64 or 128, the same V
    head dim, no window, seqlen_q x group <= 64). Upstream FA3 has no such variant. Columns hold no layer calls."""
    from simulator.kernel_configs import current_fa3_build

    if wl.scope != "layer" or is_columns(wl.seq_len) or is_columns(wl.group) or current_fa3_build() == "2024-07":
        return False
    return (wl.head_dim in (64, 128) and wl.v_head_dim == wl.head_dim and not windowed(wl)
            and wl.seq_len * wl.group <= 64)


def fa3_keeps_causal(wl) -> bool:
    """Whether FA3 runs the call as causal (``fa_mask_mode``): a one-query call with no window is not, but at
    head dims 65-128 over a paged cache ("Special case of hdim 128 where we want causal to have kBlockN=128,
    better for pagedKV and TMA", hopper/flash_api.cpp mha_fwd), and a window wider than the keys is."""
    return fa_mask_mode(wl, fa3=True) == "causal"


def fa2_swapped(wl, kvcache: bool = False) -> bool:
    """FA2's one-query GQA layout: the query heads of a KV head become the tile's rows (flash_api.cpp,
    seqlenq_ngroups_swapped: seqlen_q == 1, more query than KV heads, no window side left after mha_fwd's
    normalization; ``kvcache``: flash_attn_with_kvcache's mha_fwd_kvcache, which tests it on the sides as given)."""
    if is_columns(wl.seq_len) or is_columns(wl.group):  # columns hold no mask (simulator.point_groups)
        return bool(np.all(wl.seq_len == 1) and np.all(wl.group > 1) and not wl.pattern)
    if not (wl.seq_len == 1 and wl.group > 1):
        return False
    if kvcache:  # mha_fwd_kvcache tests the swap before it drops the sides past the cache: any window stops it
        return not (wl.pattern and any(leaf.name in ("window", "chunked") for leaf in pattern_leaves(wl.pattern)))
    return fa_mask_mode(wl, fa3=False) == "full"


def _any_above_one(x) -> bool:
    return bool(np.any(x > 1) if is_columns(x) else x > 1)


def windowed(wl) -> bool:
    """Whether FA3 runs the call as local (a sliding window or a chunk): its is_local (tiles, scheduler)."""
    return fa_local(wl, fa3=True)


def fa_local(wl, fa3: bool) -> bool:
    """Whether FlashAttention runs the call as local (``Is_local``): ``fa_mask_mode``."""
    return fa_mask_mode(wl, fa3) == "local"


# The primitives FA2 states itself (its causal flag and one window_size) or another kernel runs: MInference's
# vertical-slash kernel, a neighborhood grid's (simulator.block_sparse COMPUTED)
_FA2_OWN = frozenset({"full", "causal", "window"})
_NOT_BS = frozenset({"vertical_slash", "window2d", "window3d"})


def fa2_block_sparse(wl) -> bool:
    """Whether ``flash2`` runs the call on Block-Sparse-Attention's kernel (simulator.block_sparse; FA2 2.4.2's
    kernel with a block mask or streaming heads, docs/kernels.md F): a mask FA2's causal flag and one window cannot
    state (sinks, strided, global tokens, random blocks, top-k, a union or a heads(...) mix, --sparsity alone), not
    MInference's vertical-slash nor a neighborhood grid. That kernel has no split-KV path and no one-query GQA swap:
    mha_varlen_fwd_block calls run_mha_fwd_block, one launch over (num_m_block, b, h) (flash_api.cpp @ 49d6c39e)."""
    if not wl.pattern:
        return bool(wl.sparsity)  # random empty tiles: a block list
    shape = pattern_shape(wl.pattern)
    names = {leaf.name for leaf in shape.leaves}
    if names & _NOT_BS:
        return False
    return shape.union or not names <= _FA2_OWN


def fa2_window_call(wl) -> bool:
    """Whether FA2 runs the call with its own ``window_size`` as a local call: one window (``fa_window_sides``),
    not a union or a heads(...) mix, which Block-Sparse-Attention's kernel runs (simulator.block_sparse)."""
    if not wl.pattern:
        return False
    sides = fa_window_sides(wl, fa3=False)
    return sides is not None and _mode(sides) == "local"


def fa_mask_mode(wl, fa3: bool) -> str:
    """How FlashAttention's mha_fwd runs the call's mask: "causal", "local" or "full". It drops each window side
    that reaches past the sequence, drops causal from a one-query call, sets right = 0 when causal, and calls
    the rest causal when only right = 0 is left (FA2 csrc/flash_attn/flash_api.cpp mha_fwd: a side >= seqlen_k
    becomes -1, seqlen_q == 1 is not causal; FA3 hopper/flash_api.cpp mha_fwd: left >= seqlen_k - 1 or right >=
    seqlen_q - 1 becomes -1, one query with no window side left is not causal except at head dims 65-128 over
    a paged cache, and ``attention_chunk`` is always local). ``window(w)`` is FA's (w - 1, 0), ``window(l, r)``
    its (l, r). A window or chunk FA cannot take as one window (a chunk, in a union or a heads(...) mix) counts
    as local; a mask with neither is not local (its causal flag decides)."""
    sides = fa_window_sides(wl, fa3)
    return "local" if sides is None else _mode(sides)


def _mode(sides: tuple) -> str:
    """set_params_fprop's reading of normalized window sides: (-1, 0) causal, any side >= 0 local, else full."""
    left, right = sides
    if left < 0 and right == 0:
        return "causal"
    return "local" if left >= 0 or right >= 0 else "full"


def window_sides(leaf) -> tuple:
    """FA's (window_size_left, window_size_right) of a ``window`` primitive as written: ``window(w)`` is (w - 1, 0),
    ``window(l, r)`` is (l, r)."""
    return (leaf.args[0], leaf.args[1]) if len(leaf.args) == 2 else (leaf.args[0] - 1, 0)


def fa_window_sides(wl, fa3: bool) -> tuple | None:
    """FA's (window_size_left, window_size_right) for the call after mha_fwd's normalization, -1 for a side that
    bounds nothing, right = 0 when it stays causal (``fa_mask_mode``); None for a mask FA cannot take as one
    window: a chunk, a window under a union with another mask or a heads(...) mix, or a window whose size
    --sparsity rescales (simulator.tiles fits it; gpu_model._solved_window runs the FA families on the solved
    window written instead). Windows joined by & or | are one window already (the parse
    writes their intersection or union as one band: ``Pattern.__and__``, ``__or__``)."""
    shape = pattern_shape(wl.pattern) if wl.pattern else None
    if shape:
        windows = [leaf for leaf in shape.leaves if leaf.name == "window"]
        chunked = any(leaf.name == "chunked" for leaf in shape.leaves)
        if (windows or chunked) and (shape.union or chunked or wl.sparsity):
            return None  # a window beside another mask under | (sinks(128)|window(1k)): not FA's own call
    causal = pattern_causal(wl)
    if is_columns(wl.seq_len) or is_columns(wl.kv_len):  # columns hold no pattern (simulator.point_groups)
        return (-1, 0) if causal else (-1, -1)
    seq_len, kv_len = int(wl.seq_len), int(wl.kv_len)
    left = right = -1
    for leaf in shape.leaves if shape else ():
        if leaf.name == "window":  # several under &: their intersection, each side the tightest (-1: unbounded)
            own_left, own_right = window_sides(leaf)
            left = own_left if left < 0 else min(left, own_left)
            right = own_right if right < 0 else min(right, own_right)
    left = -1 if left >= (kv_len - 1 if fa3 else kv_len) else left
    right = -1 if right >= (seq_len - 1 if fa3 else kv_len) else right
    if seq_len == 1 and (not fa3 or (left < 0 and right < 0)):
        causal = causal and fa3 and 64 < wl.head_dim <= 128 and paged_cache(wl)
    return (left, 0) if causal else (left, right)


@lru_cache(maxsize=256)
def within_causal(text: str) -> bool:
    """Whether a mask expression attends no key after its query's aligned position, whatever the lengths: causal, a
    window reaching no key ahead (window(w), window(l, 0)), an & with such a term, a | or heads(...) mix of such
    terms only. (A pattern that holds future keys at some length, sinks or chunked alone, is not.)"""
    from einsum_cascades.sparsity import parse_pattern

    return _inside_causal(parse_pattern(text))


def _inside_causal(node, sinks: list | None = None) -> bool:
    """``within_causal`` of a parsed mask; with ``sinks`` a list, a sinks term counts as inside too and its count is
    appended there (``ahead_only_by_sinks``)."""
    if node.name == "&":
        return any(_inside_causal(part, sinks) for part in node.parts)
    if node.name in ("|", "heads"):
        return all(_inside_causal(part, sinks) for part in node.parts)
    if node.name == "sinks" and sinks is not None:
        sinks.append(int(node.args[0]))
        return True
    return _causal_leaf(node)


def _causal_leaf(node) -> bool:
    """causal, or a window reaching no key ahead (window(w), window(l, 0))."""
    return node.name == "causal" or node.name == "window" and (len(node.args) == 1 or node.args[1] == 0)


@lru_cache(maxsize=256)
def ahead_only_by_sinks(text: str) -> int:
    """The sink count of a mask that ``within_causal`` refuses only for its sink tokens (``causal&window(4k)|
    sinks(128)``: queries 0..126 also see sinks ahead of them), its largest if several; 0 for any other mask, sinks
    alone included (no causal term beside them). The dense baseline of such a call is non-causal (``api.dense``),
    which ``api.sinks_baseline_note`` says."""
    from einsum_cascades.sparsity import parse_pattern

    if within_causal(text):
        return 0
    tree, counts = parse_pattern(text), []
    if not _inside_causal(tree, counts) or not any(_causal_leaf(leaf) for leaf in tree.leaves()):
        return 0
    return max(counts)


def pattern_causal(wl) -> bool:
    """Whether the call is causal as FlashAttention is called: ``--causal``, or ``causal`` as the pattern or one of
    its top-level ``&`` terms (``full|causal`` is full attention, not causal)."""
    return bool(wl.causal) or bool(wl.pattern and pattern_shape(wl.pattern).causal)


class PatternShape(NamedTuple):
    leaves: tuple  # the primitives, left to right
    union: bool  # a | or heads(...) anywhere in the expression
    causal: bool  # causal is the expression or one of its top-level & terms


@lru_cache(maxsize=256)
def pattern_shape(text: str) -> PatternShape:
    """The parts of a mask expression FlashAttention's window handling reads (cached: a sweep repeats them)."""
    from einsum_cascades.sparsity import parse_pattern

    tree = parse_pattern(text)

    def conjuncts(node):
        return [c for part in node.parts for c in conjuncts(part)] if node.name == "&" else [node]

    def unions(node):
        return node.name in ("|", "heads") or any(unions(part) for part in node.parts)

    return PatternShape(tuple(tree.leaves()), unions(tree), any(c.name == "causal" for c in conjuncts(tree)))


def pattern_leaves(text: str) -> tuple:
    """The primitives of a mask expression, left to right."""
    return pattern_shape(text).leaves


@lru_cache(maxsize=64)
def _single_tile(cfg: KernelConfig) -> KernelConfig:
    """``cfg`` run one CTA per work tile (FA3's SingleTileScheduler): not persistent."""
    return replace(cfg, persistent=False)


def fa2_splits(hw, wl, kvcache: bool = False):
    """The split count FA2's flash_attn_func asks its heuristic for (mha_fwd calls set_params_splitkv with
    num_splits = 0): batch x heads x 64-row query blocks over twice the SMs (the SMs before v2.5.7:
    kernel_configs.fa2_build), key blocks of the split-KV
    kernel's tile. One split runs the regular kernel; more run the split-KV kernel and a combine. ``kvcache``:
    flash_attn_with_kvcache's call (mha_fwd_kvcache), whose GQA swap any window stops (``fa2_swapped``)."""
    from simulator.kernel_configs import fa2_split_block_n
    from simulator.splits import fa2_num_splits

    if kvcache and wl.num_splits:  # flash_attn_with_kvcache(num_splits=N): no heuristic
        return wl.num_splits
    swapped = fa2_swapped(wl, kvcache or bool(wl.varlen))  # mha_varlen_fwd tests the swap before it drops the sides
    if wl.varlen and not swapped:  # mha_varlen_fwd sizes splits only for a swapped (decode) or paged call
        return 1
    rows, heads = (wl.group, wl.kv_heads) if swapped else (wl.seq_len, wl.heads)
    m_blocks = -(-rows // FA2_SPLIT_BLOCK_M)
    n_blocks = -(-wl.kv_len // fa2_split_block_n(wl.head_dim))
    return fa2_num_splits(hw, wl.batch * heads * m_blocks, n_blocks)


FA2_SPLIT_BLOCK_M = 64  # set_params_splitkv counts 64-row query blocks ("kBlockM = 64 only for the splitKV kernels")


def arch_error(arch: str, hw_name: str, family: str) -> str | None:
    """Why ``family``'s kernels do not build for ``arch`` (None if they do)."""
    if family not in FAMILY_ARCHS:
        return None
    low, high = FAMILY_ARCHS[family]
    n = sm_number(arch)
    if low <= n <= high:
        return None
    runs = [f for f, (lo, hi) in FAMILY_ARCHS.items() if lo <= n <= hi and f != "flash1"] or ["flash2"]
    if family == "flashmla":  # MLA's absorbed form (576/512), which off Hopper attnsim runs on naive alone: flash3's qv
        runs = ["naive"]  # path is Hopper's (HasQv: Arch == 90), FA4's MLA kernel and FA2 have none it models (limits)
    for lo, hi, what in FAMILY_UNMODELLED.get(family, ()):
        if lo <= n <= hi:
            return (f"algorithm {family!r} on {hw_name} ({arch}) runs {what}, which attnsim does not model (it "
                    f"models sm_{low}..sm_{high}); use {' or '.join(runs)}")
    return (f"algorithm {family!r} does not build for {hw_name} ({arch}): it needs sm_{low}"
            f"{f'..sm_{high}' if high != low else ''}; use {' or '.join(runs)}")


def alternatives(hw, families: tuple) -> str:
    """Which of ``families`` a message may point a user to on ``hw``: those whose kernels build there and that
    attnsim models there (FlashInfer's where its registers are tabulated), joined by ' / '; the first of them where
    none is, so a message still names one."""
    from simulator.flashinfer_regs import tabulated_arch

    fit = [f for f in families if arch_error(hw.arch, hw.name, f) is None
           and (not f.startswith("flashinfer") or tabulated_arch(hw) is not None)]
    return " / ".join(fit or families[:1])


def fa4_local(wl) -> bool:
    """Whether FA4 runs the call as local: any window (interface.py _resolve_causal_local_window drops no side)."""
    return bool(wl.pattern) and any(leaf.name == "window" for leaf in pattern_leaves(wl.pattern))


def positions_per_tile(cfg, wl):
    """Query positions a row of the lowered mask holds: a CTA tile's rows over the query heads it packs (a KV head's,
    when the kernel packs GQA), at least one. Where the group does not divide the rows, FA3's and FA4's packed tiles
    run across positions and take their rows from rows lowered here (``query_packing``); FA2's swap (a KV head's
    query heads as the query length, one position) gives each position ``tiles_per_position``."""
    return vmax(cfg.block_q // (wl.group if cfg.pack_gqa else 1), 1)


def tiles_per_position(cfg, wl):
    """CTA tiles one query position's packed query heads fill: ceil(group / rows), 1 unless the KV head packs
    more query heads than a tile has rows (FA2's swap, seqlenq_ngroups_swapped, makes the group the query
    length, ceil(group / kBlockM) blocks). 1 for FA3 and FA4, whose tiles count ceil(seqlen_q x group / kBlockM)
    m-blocks (``query_packing``)."""
    return vmax(-(-wl.group // cfg.block_q), 1) if cfg.pack_gqa and cfg.family not in PACKED_ROW_FAMILIES else 1


# Families whose packed tiles take the (position, query head) rows of a KV head in runs of kBlockM across position
# boundaries: FA3 hopper/flash_fwd_launch_template.h @ 0251105a, num_blocks_m = ceil_div(seqlen_q * qhead_per_khead,
# kBlockM) (line 149); FA4 flash_attn/cute/interface.py, seqlen_q_packgqa = seqlen_q * qhead_per_kvhead (line 342)
PACKED_ROW_FAMILIES = ("flash3", "flash4")


def query_packing(cfg, wl) -> Packing | None:
    """How the kernel's packed tiles cut a KV head's query rows (``tiles.Packing``: ceil(seq_len x group /
    block_q) tiles), where they run across positions; None where a tile holds whole positions: no packing, a group
    that divides the tile's rows (block_q / group positions a tile, as lowered), FA2's swap."""
    if not cfg.pack_gqa or cfg.family not in PACKED_ROW_FAMILIES:
        return None
    if not is_columns(wl.group) and cfg.block_q % wl.group == 0:
        return None
    return Packing(wl.group, cfg.block_q)


def padded_head_dim(hw, family: str, wl) -> int | None:
    """The head dim a call runs at when its value head dim differs from its head dim and ``family``'s kernel
    cannot take the pair: Q, K and V zero-padded to the wider of the two (zeros change neither Q K^T nor the
    kept part of O), O as wide and sliced after, as serving engines call such kernels (vLLM's MLA prefill:
    vllm/v1/attention/backends/mla/common.py @ 00a817ad, ``MLACommonImpl._pad_v`` and
    ``_flash_attn_varlen_diff_headdims``, ``F.pad(v, [0, q.shape[-1] - v.shape[-1]])``). None where the
    kernel takes the pair as it is.

    FA1 and FA2 have one head dim for Q, K and V (csrc/flash_attn/flash_api.cpp mha_fwd and mha_fwd_kvcache:
    ``CHECK_SHAPE(v, ..., head_size)``; FA1 takes Q, K, V packed in one tensor). FA3 takes a V head dim of its
    own only on Hopper, for head dims (128, 192] with V in (96, 128], and head dims up to 64 with V up to 512
    (hopper/flash_api.cpp mha_fwd: "Only Hopper supports different V headdim")."""
    d, dv = int(wl.head_dim), int(wl.v_head_dim)
    if d == dv or family not in ("flash1", "flash2", "flash-decoding", "flash3"):
        return None
    if family == "flash3" and sm_number(hw.arch) >= 90 and ((128 < d <= 192 and 96 < dv <= 128)
                                                            or (d <= 64 and dv <= 512) or mla_absorbed(d, dv)):
        return None  # MLA's absorbed form runs FA3's qv path (kernel_configs._fa3_mla_sm90)
    return max(d, dv)


def padded_note(pad: int, wl) -> str:
    """The row note of a call ``padded_head_dim`` pads."""
    return (f"head dims {wl.head_dim}/{wl.v_head_dim} run as {pad}/{pad}: this kernel has no V head dim of its "
            f"own for them, so Q, K and V are zero-padded to {pad} as serving engines call it (--explain)")


def at_block(cfg: KernelConfig, block: int) -> KernelConfig:
    """``cfg`` at a ``--block-size`` tile of ``block`` rows and keys. FA2's kernels at 64 rows run 4 warps where
    their 128-row tile takes 8 (every ``Flash_fwd_kernel_traits<d, 64, ...>`` in csrc/flash_attn/src/
    flash_fwd_launch_template.h has 4, and the vertical-slash sparse kernel MInference runs is <d, 64, 64, 4> at
    every head dim, vllm-project/flash-attention flash_fwd_sparse_launch_template.h): 16 rows a warp either way."""
    if cfg.tensor_path == "mma_sync" and cfg.readers == 8 and block == 64:
        cfg = replace(cfg, warps=4, readers=4)
    return replace(cfg, block_q=block, block_kv=block)


@lru_cache(maxsize=64)
def sm_number(arch: str) -> int:
    """``sm_90a`` -> 90."""
    return int(arch[3:].rstrip("a"))


def fa2_sm8x_causal(arch: str, wl) -> bool | None:
    """On an sm_8x GPU past sm_80 (FA2's ``is_sm8x = cc_major == 8 && cc_minor > 0``: sm_86, sm_87, sm_89), whether
    FA2 runs the call causal, which picks its hdim96 / hdim128 tile there (flash_fwd_launch_template.h); None on
    other GPUs, where the tile does not depend on it."""
    n = sm_number(arch)
    return fa_mask_mode(wl, fa3=False) == "causal" if 80 < n < 90 else None


def fa3_sm86_or_89(arch: str) -> bool:
    """FA3's SM80 path on an sm_86 or sm_89 GPU (hopper/flash_api.cpp: ``params.arch == 86 || params.arch == 89``
    into tile_size_fwd_sm8x: 8 warps at head dims 65-128, one stage, narrower tiles at 256; sm_87 takes sm_80's)."""
    return sm_number(arch) in (86, 89)


def fa3_block_q(arch: str, head_dim: int, v_head_dim: int | None = None) -> int:
    """FA3's query tile rows as its host heuristics see them (get_pack_gqa and get_num_splits call
    tile_size_fwd_sm90(d_rounded, dv_rounded), dv_rounded = round_up_headdimv(dv)): 192 up to head dim 96 on
    Hopper, but 128 at d <= 64 with dv rounded to 256 and 64 with 512; else 128; 128 on sm80. At d <= 64 with dv in
    (64, 192] the kernel itself runs the (64, 256) template's 128-row tile (kernel_configs), the host still 192."""
    if sm_number(arch) < 90:
        return 128
    if v_head_dim is not None and mla_absorbed(head_dim, v_head_dim):  # the host sees head dim 64 and V 512
        return 64
    if head_dim <= 64 and v_head_dim is not None and v_head_dim > 192:
        return 128 if v_head_dim <= 256 else 64
    return 192 if head_dim <= 96 else 128


def fa3_always_packs(arch: str, pages_without_tma: bool = False) -> bool:
    """FA3 packs GQA heads into every tile below sm_90, and on sm_90 when it gathers K/V from a paged cache
    without TMA (hopper/flash_api.cpp get_pack_gqa: ``arch < 90 || paged_kv_non_TMA || num_splits > 1``)."""
    return sm_number(arch) < 90 or pages_without_tma


def varlen_call(wl) -> bool:
    """Whether the call goes through the variable-length entry point: --varlen, or a serving engine's call (--scope
    layer), whose prefill is flash_attn_varlen_func's and whose decode passes per-sequence cache lengths."""
    return bool(wl.varlen) or wl.scope == "layer"


def paged_cache(wl) -> bool:
    """Whether the call reads K/V through a page table: a --page-size, or a serving engine's call (--scope layer,
    its paged KV cache)."""
    return wl.page_size is not None or wl.scope == "layer"


def fa3_pages_without_tma(hw, wl) -> bool:
    """Whether FA3 gathers a paged cache's K/V with cp.async instead of TMA (``paged_kv_non_TMA``, with its own
    tiles and GQA packing). hopper/flash_api.cpp get_pagedkv_tma: TMA only on sm_90, for pages a multiple of the
    TMA tile's kBlockN, and only when the packed queries fill more than one query tile ("when seqlen_q <=
    kBlockM, we're not compute bound, and somehow using TMA is slower"). A serving engine's call with no
    --page-size is taken on its 16-token (or 1-token) pages: without TMA."""
    if not paged_cache(wl):
        return False
    if wl.page_size is None or sm_number(hw.arch) < 90:
        return True
    from simulator import kernel_configs as kc

    d, dv = kc.fa3_head_dims(int(wl.head_dim), int(wl.v_head_dim))
    block_q, block_kv, _ = kc._fa3_tiles(d, dv, fa3_keeps_causal(wl), wl.dtype_bytes == 1, windowed(wl))
    return not (wl.page_size % block_kv == 0 and wl.seq_len * wl.group > block_q)


def fa2_forces_split(wl) -> bool:
    """Whether FA2 runs its split-KV kernel even at one split: a paged call (mha_varlen_fwd: ``run_mha_fwd(params,
    stream, paged_KV)``; mha_fwd_kvcache: ``force_split_kernel = k_.has_value() || cache_batch_idx_.has_value() ||
    paged_KV``), i.e. a --page-size, or a serving engine's KV-cache call (--scope layer: it appends the new K/V
    and reads the paged cache). A benchmark's call on a contiguous cache with nothing to append runs the regular
    kernel when the heuristic says one split (``run_mha_fwd``: ``num_splits <= 1 && !force_split_kernel``). A
    serving engine's ``flash2`` call is mha_varlen_fwd over its block table, paged too (``paged_cache``)."""
    return paged_cache(wl)


def fa4_layout_key(head_dim: int, v_head_dim: int, seq_len, group):
    """What an FA4 dense point's configuration depends on besides its head dims: (query tile, CTAs sharing a
    K/V tile, GQA packed). The packed query length matters only past 128 and 256 rows (kernel_configs.fa4), so
    it is clipped there. For columns of sizes, a column of keys (one configuration per distinct pair)."""
    packed = vmin(seq_len * group, FA4_PACKED_CLIP)
    if not is_columns(packed):
        return _fa4_layout_key(head_dim, v_head_dim, packed, group)
    pairs, index = np.unique(np.stack([packed, group]), axis=1, return_inverse=True)
    keys = np.empty(pairs.shape[1], dtype=object)  # filled one by one: numpy would read the tuples as rows
    for k, (rows, heads_per_kv) in enumerate(pairs.T.tolist()):
        keys[k] = _fa4_layout_key(head_dim, v_head_dim, rows, heads_per_kv)
    return keys[index.reshape(-1)]


FA4_PACKED_CLIP = 2 * 128 + 1  # kernel_configs.fa4 compares the packed query length with 128 and 256 only


@lru_cache(maxsize=1024)
def _fa4_layout_key(head_dim: int, v_head_dim: int, packed: int, group: int) -> tuple[int, int, bool]:
    from simulator import kernel_configs as kc

    cfg = kc.fa4(head_dim, v_head_dim, 2, False, True, packed, group)
    return cfg.block_q, cfg.kv_share, group > 1


def should_pack_gqa(seq_len, group: int, block_q: int) -> bool:
    """FA3's PackGQA choice (hopper/heuristics.h, should_pack_gqa): pack the ``group`` query heads of a KV
    head into one tile's rows when unpacked tiles are under 90% as full as packed ones. For a column of
    sizes, all must agree (callers group points by this). As in FA3's C++, the two fills are float32 and
    the comparison with 0.9 is in double, so that ties (259/320 against 0.9 * 518/576) go the same way."""
    if type(seq_len) is int and type(group) is int:  # one point (run_points keys every point): no numpy
        if group == 1:
            return False
        fill = _f32(_f32(seq_len) / _f32(-(-seq_len // block_q) * block_q))
        rows = seq_len * group
        return fill < PACK_GQA_FILL * _f32(_f32(rows) / _f32(-(-rows // block_q) * block_q))
    pack = pack_gqa_columns(seq_len, group, block_q)
    if pack.min() != pack.max():
        raise ValueError("a column of sequence lengths mixes packed and unpacked GQA tiles")
    return bool(pack.min())


def pack_gqa_columns(seq_len, group, block_q: int):
    """``should_pack_gqa`` of each point of columns of sizes (a bool column)."""
    n, g = np.asarray(seq_len, dtype=np.int64), np.asarray(group, dtype=np.int64)
    fill = np.float32(n) / np.float32(-(-n // block_q) * block_q)
    packed = np.float32(n * g) / np.float32(-(-(n * g) // block_q) * block_q)
    return (g > 1) & (np.float64(fill) < PACK_GQA_FILL * np.float64(packed))


def _f32(x: float) -> float:
    """x rounded to float32 (a float32 quotient of float32 operands, computed in double and rounded, is exact)."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


