"""A fused GPU kernel's work per tile, from the cascade it runs (``cascade_work``) and the kernel's own
instruction habits: how many element-wise FP32 ops one instruction does (FA4 packs two: FFMA2, FADD2,
3-input FMNMX), and how often it rescales the output accumulator (FA4 only when a row's max grows by
more than 2^8: flash_attn/cute/softmax.py, SoftmaxSm100.update_row_max).
"""

from dataclasses import dataclass
from functools import lru_cache

from einsum_cascades.library import cascade_version
from simulator.plans import plan

FUSED_CASCADE = "attention-1pass"  # what every fused family computes: FuseMax's Cascade 5


@dataclass(frozen=True, slots=True)
class TileOps:
    """Work of one (query row, key) element and of one query row per key tile, by unit, at one head dim."""

    tensor_per_score: float  # FLOPs (2 per multiply-add)
    sfu_per_score: float  # MUFU ops (exponentials and others, such as a soft-cap's tanh)
    fp32_per_score: float  # FP32-pipe instructions (element-wise ops over the packing, plus conversions)
    tensor_per_row: float  # per query row per key tile (the row-tile and O-element-tile Einsums)
    sfu_per_row: float
    fp32_per_row: float
    exp_per_score: float  # of the MUFU ops per score, the exponentials (an FMA polynomial may run them)

    def fp32_poly(self, poly: float, emulated_ops: float) -> float:
        """FP32 per score when a share ``poly`` of the exponentials is an FMA polynomial of ``emulated_ops``."""
        return self.fp32_per_score + poly * self.exp_per_score * emulated_ops

    def sfu_poly(self, poly: float) -> float:
        """MUFU ops per score when a share ``poly`` of the exponentials runs as FMA polynomials instead."""
        return self.sfu_per_score - poly * self.exp_per_score


def tile_ops(cascade: str, level: int, d: int, dv: int, packing: float = 1.0, rescale: float = 1.0,
             recompute: bool = False) -> TileOps:
    """Pass ``level``'s tile work of ``cascade`` (a bundled name or a file) at head dims (d, dv), under a
    kernel that does ``1/packing`` element-wise ops per FP32 instruction and rescales O a share ``rescale``
    of its key tiles; ``recompute``: the pass also rebuilds the earlier passes' score tensors it reads."""
    return _tile_ops(cascade, cascade_version(cascade), level, d, dv, packing, rescale, recompute)


@lru_cache(maxsize=1024)
def _tile_ops(cascade: str, _version, level: int, d: int, dv: int, packing: float, rescale: float,
              recompute: bool) -> TileOps:
    work = plan(cascade).passes[level - 1]

    def n(cls, unit):
        return work.count(cls, unit, d, dv, recompute)

    return TileOps(
        tensor_per_score=n("score", "tensor"),
        sfu_per_score=n("score", "sfu") + n("score", "mufu"),
        fp32_per_score=n("score", "fp32") * packing + n("score", "cvt"),
        tensor_per_row=n("row_tile", "tensor") + n("output_tile", "tensor") * rescale,
        sfu_per_row=n("row_tile", "sfu") + n("row_tile", "mufu") + (n("output_tile", "sfu") + n("output_tile", "mufu"))
        * rescale,
        fp32_per_row=n("row_tile", "fp32") + n("output_tile", "fp32") * rescale * packing
        + n("row_tile", "cvt") + n("output_tile", "cvt") * rescale,
        exp_per_score=n("score", "sfu"),
    )


def other_mufu(cascade: str) -> bool:
    """Whether the cascade runs MUFU ops other than exponentials (a soft-cap's tanh, sigmoid's) on its scores."""
    return any(unit == "mufu" for p in plan(cascade).passes for _, unit in p.work)


UNFUSED_CASCADE = "attention-3pass"  # what standard attention computes: FuseMax's Cascade 4, kernel by kernel


@lru_cache(maxsize=64)
def softmax_ops(d: int, dv: int, cascade: str = UNFUSED_CASCADE) -> tuple[float, float]:
    """(MUFU ops, FP32 instructions) per score element of an unfused cascade's element-wise Einsums, over all
    passes: standard attention's softmax kernel (the contractions are cuBLAS GEMMs; their operands' 16-bit
    conversion is the softmax kernel's output write, so it counts here)."""
    sfu = fp32 = 0.0
    for p in plan(cascade).passes:
        sfu += p.count("score", "sfu", d, dv) + p.count("score", "mufu", d, dv)
        fp32 += p.count("score", "fp32", d, dv) + p.count("score", "cvt", d, dv)
    return sfu, fp32
