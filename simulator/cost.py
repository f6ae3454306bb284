"""Costs as small immutable records that add (STYLE 2).

Traffic per memory level and work per unit are kept apart so a fused and an
unfused kernel can be compared line by line, and so every roof can be applied.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cost:
    """Bytes moved per level and operations per unit for some piece of work."""

    hbm_bytes: float = 0.0  # off-chip: HBM on a GPU, DRAM on an accelerator
    l2_bytes: float = 0.0  # L2 <-> SM traffic (GPU)
    onchip_bytes: float = 0.0  # shared memory (GPU) or global buffer (accelerator)
    tensor_flops: float = 0.0  # tensor-core / 2D-array MAC work, in FLOPs
    fma_ops: float = 0.0  # FP32 vector instructions (thread ops) / 1D-array ops
    exp_ops: float = 0.0  # special-function (MUFU) exponentials
    launches: int = 0

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.hbm_bytes + other.hbm_bytes, self.l2_bytes + other.l2_bytes,
                    self.onchip_bytes + other.onchip_bytes, self.tensor_flops + other.tensor_flops,
                    self.fma_ops + other.fma_ops, self.exp_ops + other.exp_ops, self.launches + other.launches)
