"""Kernel families as the real kernels configure them: tiles, warps, smem, schedule.

Each family is a named, explicit model (STYLE 10). Tile shapes come from the
kernels' own launch code; occupancy follows from shared memory, registers and
threads against the GPU's per-SM limits.
"""

import math
import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from einsum_cascades.errors import UserError

GPU_FAMILIES = ("naive", "flash1", "flash2", "flash3", "flash4", "flash-decoding")
# The architectures each family's kernels build for (sm numbers, inclusive); absent: every GPU.
# FA3: flash-attention hopper/setup.py builds sm_90a and, without wgmma, sm_80 (its SM80 path); not sm_100.
# FA4: flash_attn/cute/flash_fwd_sm100.py, tcgen05 and tensor memory: Blackwell datacenter parts.
FAMILY_ARCHS = {"flash3": (80, 90), "flash4": (100, 103)}
WARP_THREADS = 32
MMA_SYNC_ROWS = 16  # mma.sync.m16n8k16: 16 query rows per warp instruction (PTX ISA, "Warp-level matrix multiply")
WGMMA_ROWS = 64  # wgmma.m64nNk16: 64 rows per warpgroup instruction (PTX ISA, "Asynchronous warpgroup-level MMA")
MAX_REGS_PER_THREAD = 255  # ptxas cap; FA2 forward kernels are compiled against it (launch_bounds)
# FA3 rebalances registers with setmaxnreg: consumers 240 (2 consumer warpgroups) or 160 (3),
# producer 24 (flash-attention hopper/flash_fwd_kernel_sm90.h, warpgroup_reg_alloc / _dealloc).
CONSUMER_REGS = {2: 240, 3: 160}
_FLOAT32 = struct.Struct("f")
PACK_GQA_FILL = 0.9  # FA3 packs GQA heads when unpacked tiles are under 90% as full as packed ones (hopper/heuristics.h, should_pack_gqa)
PRODUCER_REGS = 24


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

    def ctas_per_sm(self, hw) -> int:
        """Resident CTAs per SM, limited by smem, registers, threads and the CTA cap."""
        threads = (self.warps + self.producer_warps) * WARP_THREADS
        regs = (self.warps * self.regs_per_thread + self.producer_warps * PRODUCER_REGS) * WARP_THREADS
        by_smem = hw.smem_per_sm_bytes // max(self.smem_bytes, 1)
        by_regs = hw.regs_per_sm // regs
        by_threads = hw.max_threads_per_sm // threads
        k = min(by_smem, by_regs, by_threads, hw.max_ctas_per_sm)
        if k < 1:
            raise UserError(f"{self.family} tile {self.block_q}x{self.block_kv} needs {self.smem_bytes} B of shared memory; {hw.name} allows {hw.smem_per_block_bytes} per CTA")
        return k


def _fa2_tiles(d: int) -> tuple[int, int, int]:
    """(Br, Bc, warps) of FlashAttention-2's forward on sm80/sm90, by head dim.

    Source: flash-attention v2.x csrc/flash_attn/src/flash_fwd_launch_template.h
    (run_mha_fwd_hdim{32..256}, the non-dropout, non-sm86 branches).
    """
    if d <= 64:
        return 128, 128, 4
    if d <= 160:
        return 128, 64, 4
    return 128, 64, 8


def _fa2_splitkv_tiles(d: int) -> tuple[int, int, int]:
    """(Br, Bc, warps) of FlashAttention-2's split-KV (decode) forward, by head dim.

    Source: flash-attention v2.x csrc/flash_attn/src/flash_fwd_launch_template.h
    (run_mha_fwd_splitkv_dispatch: kBlockM = 64, kBlockN = 256 / 128 / 64 for d <= 64 / 128 / more).
    """
    return 64, 256 if d <= 64 else 128 if d <= 128 else 64, 4


def _fa3_tiles(d: int, causal: bool) -> tuple[int, int]:
    """(Br, Bc) of FlashAttention-3's Hopper forward (fp16/bf16), by head dim.

    Source: flash-attention hopper/tile_size.h (tile_size_fwd_sm90).
    """
    if d <= 64:
        return 192, 128
    if d <= 96:
        return 192, 144
    if d <= 128:
        return 128, 128 if causal else 176
    if d <= 192:
        return 128, 112
    return 128, 80


# FA4 computes part of its exponentials as a polynomial on the FP32 FMA pipes to relieve the MUFU
# (FlashAttention-4 paper, arXiv 2603.05451, Sec. 3; flash-attention flash_attn/cute/flash_fwd_sm100.py).
FA4_EXP_POLY_FRACTION = 0.25  # provisional: replaced from the kernel's own split once read
FA4_Q_STAGES = 2  # two 128-row query tiles per CTA, ping-ponged by two softmax warpgroups
FA4_KV_STAGES = 3


def _fa4_config(d: int, dv: int, b: int) -> KernelConfig:
    """FlashAttention-4's Blackwell forward: 2 x 128 query rows per CTA against 128-key tiles, tcgen05 MMAs
    that read Q, K, V through shared-memory descriptors (no LSU reads: readers = 0) with S, P and O in
    tensor memory; one CTA per SM (its tensor memory holds both tiles' S and O)."""
    br, bc, stages = (128 * FA4_Q_STAGES, 128, FA4_KV_STAGES) if d <= 128 else (128 * FA4_Q_STAGES, 64, 2)
    smem = (br * d + stages * bc * max(d, dv)) * b
    return KernelConfig("flash4", br, bc, 16, 0, 0, "tcgen05", True, False, smem, 128, True, False,
                        FA4_EXP_POLY_FRACTION)


def _fa1_tiles(d: int, smem_bytes: int, dtype_bytes: int) -> tuple[int, int]:
    """FA1 paper, Algorithm 1: Bc = ceil(M / 4d), Br = min(Bc, d), M = SRAM size in elements."""
    m = smem_bytes // dtype_bytes
    bc = math.ceil(m / (4 * d))
    return min(bc, d), bc


def kernel_config(family: str, hw, wl) -> KernelConfig:
    """The tile configuration the named kernel family picks for this workload's shape (cached per shape).
    FA3's GQA packing depends on the lengths too: ``simulator.splits.fa3_layout`` decides it."""
    return _kernel_config(family, hw.arch, hw.smem_per_block_bytes, wl.head_dim, wl.v_head_dim, wl.dtype_bytes,
                          wl.causal, hw.name)


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
    n, g = np.asarray(seq_len, dtype=np.int64), np.asarray(group, dtype=np.int64)
    fill = np.float32(n) / np.float32(-(-n // block_q) * block_q)
    packed = np.float32(n * g) / np.float32(-(-(n * g) // block_q) * block_q)
    pack = (g > 1) & (np.float64(fill) < PACK_GQA_FILL * np.float64(packed))
    if pack.min() != pack.max():
        raise ValueError("a column of sequence lengths mixes packed and unpacked GQA tiles")
    return bool(pack.min())


def _f32(x: float) -> float:
    """x rounded to float32 (a float32 quotient of float32 operands, computed in double and rounded, is exact)."""
    return _FLOAT32.unpack(_FLOAT32.pack(x))[0]


def fa3_block_q(arch: str, head_dim: int, causal: bool) -> int:
    """FA3's query tile rows at this head dim on ``arch`` (``_fa3_tiles``; 128 on its SM80 path)."""
    return _fa3_tiles(head_dim, causal)[0] if _sm(arch) >= 90 else FA3_SM80_BLOCK_Q


def fa3_always_packs(arch: str) -> bool:
    """FA3 packs GQA heads into every tile below sm_90 (hopper/flash_api.cpp, get_pack_gqa: arch < 90)."""
    return _sm(arch) < 90


def _sm(arch: str) -> int:
    return int(arch[3:].rstrip("a"))


FA3_SM80_BLOCK_Q = 128


def _fa3_sm80_tiles(d: int) -> tuple[int, int, int]:
    """(Br, Bc, warps) of FlashAttention-3's SM80 path on an A100 (fp16/bf16, not sm86/89, no varlen split).

    Source: flash-attention hopper/tile_size.h (tile_size_fwd_sm8x). Provisional transcription.
    """
    if d <= 64:
        return FA3_SM80_BLOCK_Q, 112, 4
    if d <= 128:
        return FA3_SM80_BLOCK_Q, 64, 4
    if d <= 192:
        return FA3_SM80_BLOCK_Q, 80, 8
    return FA3_SM80_BLOCK_Q, 64, 8


@lru_cache(maxsize=1024)
def _kernel_config(family, arch, smem_per_block, d, dv, b, causal, hw_name) -> KernelConfig:
    if family in ("flash2", "flash-decoding"):
        br, bc, warps = _fa2_splitkv_tiles(d) if family == "flash-decoding" else _fa2_tiles(d)
        smem = (br * d + bc * (d + dv)) * b  # Q tile + one K and one V tile (kSmemSize)
        return KernelConfig(family, br, bc, warps, warps, 0, "mma_sync", False, True, smem, MAX_REGS_PER_THREAD,
                            False, family == "flash-decoding")
    if reason := arch_error(arch, hw_name, family):
        raise UserError(reason)
    if family == "flash4":
        return _fa4_config(d, dv, b)
    if family == "flash3" and _sm(arch) < 90:  # FA3's SM80 path: mma.sync, no warp specialisation
        br, bc, warps = _fa3_sm80_tiles(d)
        smem = (br * d + bc * (d + dv)) * b
        return KernelConfig(family, br, bc, warps, warps, 0, "mma_sync", False, True, smem, MAX_REGS_PER_THREAD,
                            False, True)
    if family == "flash3":
        br, bc = _fa3_tiles(d, causal)
        stages = 2  # K/V pipeline stages (FA3 kStages)
        smem = (br * d + stages * bc * (d + dv)) * b
        wgs = br // WGMMA_ROWS
        return KernelConfig(family, br, bc, wgs * 4, wgs, 4, "wgmma", True, True, smem, CONSUMER_REGS[wgs],
                            True, False)
    if family == "flash1":
        br, bc = _fa1_tiles(d, smem_per_block, b)
        smem = (br * d + bc * (d + dv) + br * bc) * b
        while smem > smem_per_block and bc > 16:
            bc //= 2
            br = min(br, bc)
            smem = (br * d + bc * (d + dv) + br * bc) * b
        warps = max(1, br // MMA_SYNC_ROWS) if br >= MMA_SYNC_ROWS else 1
        return KernelConfig(family, br, bc, min(warps, 8), min(warps, 8), 0, "mma_sync", False, True, smem,
                            MAX_REGS_PER_THREAD, False, False)
    raise UserError(f"unknown GPU kernel family {family!r}: allowed {', '.join(GPU_FAMILIES)}")


def arch_error(arch: str, hw_name: str, family: str) -> str | None:
    """Why ``family``'s kernels do not build for ``arch`` (None if they do)."""
    if family not in FAMILY_ARCHS:
        return None
    low, high = FAMILY_ARCHS[family]
    n = _sm(arch)
    if low <= n <= high:
        return None
    runs = [f for f, (lo, hi) in FAMILY_ARCHS.items() if lo <= n <= hi] or ["flash2"]
    return (f"algorithm {family!r} does not build for {hw_name} ({arch}): it needs sm_{low}"
            f"{f'..sm_{high}' if high != low else ''}; use {' or '.join(runs)}")
