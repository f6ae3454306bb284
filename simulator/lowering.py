"""Per-op lowering tables (STYLE 3): which unit of a machine runs each op class of the cascade language,
and at what cost per point of an Einsum's iteration space. The walker (``cascade_work``) applies a table
to a cascade; it holds no costs of its own.

GPU, per point, in instructions of the unit (flash-attention csrc/flash_attn/src/softmax.h and
hopper/softmax.h for the softmax's instruction mix, docs/kernels.md section A2):
- a contraction (a product summed over a rank) runs on the tensor cores: 2 FLOPs per multiply-add;
- ``exp``: one MUFU.EX2 (the scale and the subtraction of ``exp(x - m)`` fold into one FFMA, which is the
  ``-``'s cost);
- ``sigmoid``: one MUFU.TANH and one FFMA (sigmoid(x) = 0.5 tanh(x / 2) + 0.5, as FlashSigmoid computes it:
  Ramapuram et al., "Theory, Analysis, and Best Practices for Sigmoid Self-Attention", arXiv 2409.04431);
- ``elu1`` (elu(x) + 1): one MUFU.EX2 and two FP32 ops (the compare-select and the add);
- ``+``, ``-``: one FADD or FFMA; but an add into a contraction's accumulator is free (the MMA accumulates
  into its output registers: O += P V);
- two-argument ``max`` and a max reduction: one FMNMX per point; a sum reduction: one FADD per point;
- an element-wise product: one FMUL;
- ``/``: one FMUL per point and one MUFU.RCP per value of the divisor (hoisted out of the ranks it lacks);
- an operand a contraction reads that an FP32 Einsum produced (the probabilities P) is converted to 16 bits
  first: half an F2FP per element (one converts two).
"""

from dataclasses import dataclass

FMA_FLOPS = 2


@dataclass(frozen=True, slots=True)
class OpCost:
    """One op's cost per point: tensor FLOPs, MUFU ops, FP32-pipe ops, and FP32-pipe conversions (kept
    apart: a kernel that packs two element-wise ops per instruction, as FA4 does, still converts each pair)."""

    tensor: float = 0.0
    sfu: float = 0.0
    fp32: float = 0.0
    cvt: float = 0.0


@dataclass(frozen=True, slots=True)
class Lowering:
    """A machine kind's per-op table; ``rcp`` is the per-divisor-value cost of a division."""

    name: str
    ops: dict  # op name -> OpCost per point
    contraction: OpCost  # per multiply-add of a product summed over a rank
    accumulate: OpCost  # an add into a contraction's accumulator
    convert: OpCost  # per element of an FP32-produced operand entering a contraction
    rcp: OpCost


GPU = Lowering(
    name="gpu",
    ops={"exp": OpCost(sfu=1), "sigmoid": OpCost(sfu=1, fp32=1), "elu1": OpCost(sfu=1, fp32=2),
         "+": OpCost(fp32=1), "-": OpCost(fp32=1), "max": OpCost(fp32=1), "*": OpCost(fp32=1),
         "/": OpCost(fp32=1), "neg": OpCost(), "reduce_max": OpCost(fp32=1), "reduce_sum": OpCost(fp32=1)},
    contraction=OpCost(tensor=FMA_FLOPS),
    accumulate=OpCost(),
    convert=OpCost(cvt=0.5),
    rcp=OpCost(sfu=1),
)
