"""PyTorch's copy of a strided view (``.contiguous()`` or ``reshape`` of a permuted tensor): what it costs, from the
instructions it issues per element.

Where an operand is not contiguous, PyTorch's copy (aten/src/ATen/native/cuda/Copy.cu ``direct_copy_kernel_cuda``
-> CUDALoops.cuh ``gpu_kernel_impl_nocast``) runs ``launch_legacy_kernel<128, 4>``: the profiler's
``elementwise_kernel``, 128 threads a block, 4 elements a thread, one at a time. Each element's byte offsets come
from ``OffsetCalculator::get`` (aten/src/ATen/cuda/detail/OffsetCalculator.cuh): for each of the iterator's
dimensions, behind a ``dim == dims`` test, one ``IntDivider<uint32_t>::divmod`` (IntegerDivider.cuh: a high
multiply, an add and a shift by a magic number, then a multiply-subtract) and one multiply-add per operand.
TensorIterator first drops size-1 dimensions and merges neighbours that stay contiguous in every operand
(``coalesce_dimensions``), so the count is of the merged dimensions (``coalesced_dims``). A copy that merges to one
dimension is contiguous on both sides: ``reshape`` returns a view and nothing runs, or ``copy_`` of two contiguous
tensors is a memcpy.

Its SASS, counted 2026-12-07 (not re-run by attnsim): a replica of that kernel and OffsetCalculator<2> for a 2-byte
element (PyTorch's loop, divider and offset code, the lambda reduced to the load and store:
bench/data/sass/torch_copy_replica.cu, which says how), compiled with nvcc 13.0 ``-O3`` for sm_80, sm_90a and
sm_100a and disassembled with cuobjdump 13.5 (PyTorch's own binaries were not disassembled). On sm_90a and
sm_100a each dimension issues 12 instructions (the test and branch, IMAD.HI, SHF, IADD3 and IMAD of the divmod,
two IMADs of the offsets, the uniform loads of the divisor, magic number, shift and strides, a zeroed register)
and each element 18 more (its index test, the dims test, two 64-bit addresses, LDG,
STG, the index step, the convergence barrier); on sm_80, whose IMADs read the constant bank directly, 9 and 15.
Each element's load waits for the previous element's store (the pointers may alias), so the loop is issue- and
latency-bound, not bandwidth-bound: NATTEN 0.20's profiler page (docs/sample-outputs, held out) timed its
5-dimension token permutations at 1.42-1.44 TB/s on a B200 and 1.20-1.34 TB/s on an H100, whose HBM differ by
2.3x, and its 7-dimension ones 18-27% slower per element on both.
"""

from simulator.gpu_kernels import sm_number
from simulator.tile_cost import ISSUE_LANES

# instructions a thread issues per element of a 2-byte strided copy: (fixed, per coalesced dimension), by the SM's
# major version (the replica's SASS above; sm_100a counted, sm_10x/12x taken as it)
COPY_INSTRUCTIONS = {8: (15, 9), 9: (18, 12), 10: (18, 12)}


def copy_instructions(arch: str, dims: int) -> int:
    """Instructions a thread issues to copy one element through ``dims`` coalesced dimensions on ``arch``."""
    major = sm_number(arch) // 10
    fixed, per_dim = COPY_INSTRUCTIONS[min(max(major, 8), 10)]
    return fixed + per_dim * dims


def coalesced_dims(sizes, *strides) -> int:
    """How many dimensions TensorIterator keeps for operands of shape ``sizes`` and the given ``strides`` (one
    sequence per operand, in elements), all listed innermost first in the output's order (reorder_dimensions keeps
    a contiguous output's): size-1 dimensions dropped, a dimension merged into the one inside it where every
    operand's stride is that one's stride times its size (TensorIterator::coalesce_dimensions)."""
    kept = [(n, [s[i] for s in strides]) for i, n in enumerate(sizes) if n != 1]
    if not kept:
        return 0
    merged = [kept[0]]
    for n, st in kept[1:]:
        inner_n, inner_st = merged[-1]
        if all(outer == inner * inner_n for outer, inner in zip(st, inner_st)):
            merged[-1] = (inner_n * n, inner_st)
        else:
            merged.append((n, st))
    return len(merged)


def contiguous_strides(sizes) -> list[int]:
    """Element strides of a contiguous tensor whose dimensions are listed innermost first."""
    out, step = [], 1
    for n in sizes:
        out.append(step)
        step *= n
    return out


def issue_seconds(hw, elements: float, dims: int) -> float:
    """Seconds the SMs take to issue a strided copy of ``elements`` through ``dims`` dimensions: its instructions
    at one warp-instruction a clock on each of the SM's schedulers, at the clock of kernels without tensor work and
    the share of issue slots an issue-bound loop fills (``cuda_core_issue_efficiency``)."""
    rate = hw.sms * ISSUE_LANES * hw.cuda_core_clock * hw.issue_efficiency
    return elements * copy_instructions(hw.arch, dims) / rate


def strided_copy_seconds(hw, elements: float, dims: int, moved: float) -> tuple[float, str]:
    """(seconds, bound) of PyTorch's strided copy of ``elements`` through ``dims`` coalesced dimensions moving
    ``moved`` bytes (read + written): the longer of its instructions at the issue rate and its bytes at the
    fraction of HBM PyTorch's non-vectorized kernels reach (``GPUSpec.strided_efficiency``), plus the first
    load's latency."""
    issue = issue_seconds(hw, elements, dims)
    stream = moved / (hw.hbm_bw_bytes_s * hw.strided_efficiency)
    return max(issue, stream) + hw.hbm_latency_s, "issue" if issue >= stream else "hbm"
