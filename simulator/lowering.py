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
- ``tanh``: one MUFU.TANH (``tanh.approx.f32``: ``cutlass::fast_tanh``, which FlashAttention's logit soft-cap
  runs, hopper/utils.h and csrc/flash_attn/src/utils.h ``apply_softcap``);
- ``elu1`` (elu(x) + 1): one MUFU.EX2 and two FP32 ops (the compare-select and the add);
- ``+``, ``-``: one FADD or FFMA; but an add into a contraction's accumulator is free (the MMA accumulates
  into its output registers: O += P V);
- two-argument ``max`` and a max reduction: one FMNMX per point; a sum reduction: one FADD per point;
- an element-wise product: one FMUL;
- ``/``: one FMUL per point and one MUFU.RCP per value of the divisor (hoisted out of the ranks it lacks);
- an operand a contraction reads that an FP32 Einsum produced (the probabilities P, or the scores of another
  contraction's FP32 accumulator, as in (Q K^T) V) is converted to 16 bits first: half an F2FP per element
  (one converts two). A state a contraction accumulated over the keys (linear attention's K^T V) is not
  counted: it is converted once per chunk, not per point.
"""

from dataclasses import dataclass

FMA_FLOPS = 2


@dataclass(frozen=True, slots=True)
class OpCost:
    """One op's cost per point: tensor FLOPs, MUFU exponentials, FP32-pipe ops, FP32-pipe conversions (kept
    apart: a kernel that packs two element-wise ops per instruction, as FA4 does, still converts each pair), and
    MUFU ops that are not exponentials (tanh: FA4 emulates a share of its exp2s as FMA polynomials, not these)."""

    tensor: float = 0.0
    sfu: float = 0.0
    fp32: float = 0.0
    cvt: float = 0.0
    mufu: float = 0.0


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
    ops={"exp": OpCost(sfu=1), "sigmoid": OpCost(mufu=1, fp32=1), "tanh": OpCost(mufu=1),
         "elu1": OpCost(sfu=1, fp32=2),
         "+": OpCost(fp32=1), "-": OpCost(fp32=1), "max": OpCost(fp32=1), "*": OpCost(fp32=1),
         "/": OpCost(fp32=1), "neg": OpCost(), "reduce_max": OpCost(fp32=1), "reduce_sum": OpCost(fp32=1)},
    contraction=OpCost(tensor=FMA_FLOPS),
    accumulate=OpCost(),
    convert=OpCost(cvt=0.5),
    rcp=OpCost(sfu=1),
)


# ---------------------------------------------------------------- accelerators

# Per op class of the cascade's op counts (einsum_cascades.ops: mac, add, max, exp, div), the actions of a
# FuseMax-style PE that run one op (Nayak et al., "FuseMax", MICRO 2024; artifact FPSG-UIUC/
# micro24-fusemax-artifact, workspace/src/accel/proposal.py and flat_pe_proposal.py, compute_cost):
# - mac, add, max: one action of the PE's own unit (a contraction's accumulate is part of its mac);
# - exp: the machine's exp_cost (its TOML, cited there): 6 MACs on FuseMax's PEs, which have no exp unit, 1
#   exp-unit op on FLAT's 1D PEs; the subtraction of exp(a - b) is the cascade's own add;
# - div: one divider action where the array has a divider (the 1D arrays of both papers' machines); an array
#   without one (FuseMax's 2D array: MAC, add and max units) divides by Newton-Raphson on its MACs: a linear
#   first estimate of the reciprocal (1 MAC), two iterations x_{i+1} = x_i (2 - d x_i) of 2 MACs each (each
#   doubles the correct bits: 4 bits from the estimate, 16 after two, past fp16's 11), and the product with
#   the numerator (Flynn, "On division by functional iteration", IEEE Trans. Computers C-19(8), 1970);
# - rcp (a reciprocal, 1 / x: sigmoid's 1 / (1 + exp(-x))): one divider action where the array has one, else
#   the same Newton-Raphson without the product with a numerator: 5 MACs.
ACCEL_NATIVE = {"mac": {"mac": 1}, "add": {"add": 1}, "max": {"max": 1}, "div": {"div": 1}}
RCP_BY_MACS = {"mac": 1 + 2 * 2}
DIV_BY_MACS = {"mac": RCP_BY_MACS["mac"] + 1}


def accel_op(hw, cls: str, array_ops) -> dict | None:
    """The actions that run one op of class ``cls`` on an array of ``array_ops`` (None: it cannot)."""
    if cls == "exp":
        actions = dict(hw.exp_cost)
    elif cls == "rcp":
        actions = ACCEL_NATIVE["div"] if "div" in array_ops else RCP_BY_MACS
    elif cls in array_ops:
        actions = ACCEL_NATIVE[cls]
    elif cls == "div":
        actions = DIV_BY_MACS
    else:
        return None
    return actions if set(actions) <= set(array_ops) else None


def accel_actions(hw, ops: dict, array_ops) -> dict | None:
    """An Einsum's op counts (class -> ops) as PE actions on an array of ``array_ops`` (None: it cannot run there)."""
    out = {}
    for cls, n in ops.items():
        actions = accel_op(hw, cls, array_ops)
        if actions is None:
            return None
        for action, k in actions.items():
            out[action] = out.get(action, 0.0) + n * k
    return out
