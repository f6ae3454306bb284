"""``--estimate NAME``: the index-building step of a dynamic sparse method, priced as the kernels it runs.

A dynamic method finds its mask at run time before its sparse kernel runs; the estimate's seconds are part of
the call's ``time_s`` (and so of its speedup), reported apart as ``estimate_s``. Each kernel of the method's
table (``estimate_kernels``) takes the longest of its units' times on the whole GPU plus its launches:

    t = repeat * (max(tensor / R_tc, fp32 / R_fp32, exp / R_sfu, bytes / BW, l2_bytes / BW_l2, chain / clock)
                  + launches * launch_overhead)

R_tc at cuBLAS's ``gemm_efficiency`` (library GEMMs) or the mma.sync path's (Triton's small dots); BW is L2's
when the kernel's bytes fit in L2 (torch ops on small tensors hit there), else HBM at ``unfused_hbm_efficiency``
(the rate PyTorch's element-wise kernels reach); but under ``--scope kernel`` (a benchmark that flushes L2 before
the call) the first kernel reads the call's own tensors (Q, the keys, Quest's page bounds) from HBM whatever their
size, as the attention kernel's cold stream does (until 2026-12-07 it read them from L2 when they fit, so Quest's
estimate stepped up 2.7x where its page bounds outgrew L2). The mask each method then computes is the pattern's.
"""

from dataclasses import replace

from einsum_cascades.errors import UserError

ESTIMATES = ("minference-vs", "minference-block", "seer-gate", "nsa-compress", "quest", "moba-gate")
SOURCES = {
    "minference-vs": "MInference (arXiv 2407.02490) vertical_and_slash_kernel + convert_vertical_slash_indexes",
    "minference-block": "MInference (arXiv 2407.02490) _build_block_index",
    "seer-gate": "SeerAttention (arXiv 2410.13276) AttnGate.forward",
    "nsa-compress": "NSA (arXiv 2502.11089) compression branch and top-k (fla-org native-sparse-attention)",
    "quest": "Quest (arXiv 2406.10774) estimate_attn_score + topk_filtering, per decode step",
    "moba-gate": "MoBA (arXiv 2502.13189) moba_attn_varlen gate",
}
MINF_VS_DEFAULT = (1000, 6096)  # minference_forward.py: best_pattern.get(head, ("vertical_and_slash", 1000, 6096, 1))
MINF_BLOCK_TOPK = 100  # block_sparse_kernel: topk = 100
QUEST_BUDGET = 4096  # a token budget when the pattern names none (Quest's evaluation uses 256 to 4096)


def check_estimate(name, wl) -> None:
    """UserError naming the value and what is allowed, for an unknown estimate or one the call cannot have."""
    if name not in ESTIMATES:
        raise UserError(f"bad estimate {name!r}: allowed {', '.join(ESTIMATES)}")
    if name == "quest" and wl.seq_len != 1:
        raise UserError(f"bad estimate 'quest' at seq-len {wl.seq_len}: Quest estimates each decode step; use "
                        f"--seq-len 1 (and --kv-len for the cache)")
    # prefill methods' index steps, which their code skips where it runs dense (simulator.methods.dense_call)
    if name.startswith("minference") and wl.seq_len == 1:
        raise UserError(f"bad estimate {name!r} at seq-len 1: MInference builds its index at prefill only (at one "
                        "query minfer_attn_forward runs dense flash_attn_func, no estimate); leave --estimate out")
    if name == "moba-gate" and wl.seq_len != wl.kv_len:
        raise UserError(f"bad estimate 'moba-gate' at seq-len {wl.seq_len}, kv-len {wl.kv_len}: MoBA gates prefill "
                        "only (where queries and keys differ, moba_layer runs dense flash_attn_func); leave --estimate "
                        "out, or give --kv-len equal to --seq-len")


def kernels(hw, wl) -> list:
    """The estimate's kernels for this call (sizes from its pattern where it names them)."""
    from simulator import estimate_kernels as ek  # loaded by the points that name an estimate only
    from simulator.block_sparse import L1_HIT_CYCLES, l2_hit_cycles

    name = wl.estimate
    if name == "minference-vs":
        v, s = _leaf_args(wl, "vertical_slash", MINF_VS_DEFAULT)[:2]
        return ek.minference_vs(wl, v, s, l2_hit_cycles(hw.arch, L1_HIT_CYCLES))
    if name == "minference-block":
        return ek.minference_block(wl, _leaf_args(wl, "topk", (MINF_BLOCK_TOPK,))[0])
    if name == "seer-gate":
        return ek.seer_gate(wl)
    if name == "nsa-compress":
        return ek.nsa_compress(wl, wl.block_size or ek.NSA_BLOCK, _leaf_args(wl, "topk", (ek.NSA_COUNT,))[0])
    if name == "quest":
        return ek.quest(wl, _leaf_args(wl, "budget", (QUEST_BUDGET,))[0])
    chunk, k = wl.block_size or ek.MOBA_CHUNK, _leaf_args(wl, "topk", (MOBA_TOPK,))[0]
    if -(-wl.kv_len // chunk) <= 1 or k <= 1:  # moba_attn_varlen: no earlier chunk to select (need_moba_attn
        return []  # false) returns one causal flash_attn_varlen_func before the gate
    return ek.moba_gate(wl, chunk, k)


MOBA_TOPK = 12  # the MoBA paper's 1M model and examples/llama.py's --moba-topk (simulator.methods' preset)


def _leaf_args(wl, name: str, default: tuple) -> tuple:
    """The arguments of the first ``name`` primitive in the call's pattern (any head group), else ``default``."""
    if not wl.pattern:
        return default
    from einsum_cascades.sparsity import parse_pattern

    leaf = next((x for x in parse_pattern(wl.pattern).leaves() if x.name == name), None)
    return leaf.args if leaf is not None else default


def kernel_seconds(hw, wl, k, cold: bool = False) -> tuple[float, str]:
    """(seconds of every run of kernel ``k``, the unit that bounds it); ``cold``: its bytes come from HBM however
    few (the call's own tensors after a benchmark's L2 flush)."""
    from simulator.tile_cost import tensor_dtype

    clock = hw.sustained_clock_hz
    eff = hw.gemm_efficiency if k.path == "cublas" else hw.mma_path(k.path)[0]
    in_l2 = k.bytes <= hw.l2_bytes and not cold
    memory_bw = hw.l2_bw_bytes_s if in_l2 else hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency
    parts = {
        "tensor": k.tensor_flops / (hw.sms * hw.path_flops_per_clk_sm(k.path, tensor_dtype(hw, wl)) * clock * eff),
        "fma": k.fp32_ops / (hw.sms * hw.fp32_fma_per_clk_sm * clock),
        "exp": k.exp_ops / (hw.sms * hw.sfu_ops_per_clk_sm * clock),
        "l2" if in_l2 else "hbm": k.bytes / memory_bw,
        "l2 reads": k.l2_bytes / hw.l2_bw_bytes_s,
        "latency": k.chain_cycles / clock,
    }
    bound = max(parts, key=parts.get)
    return k.repeat * (parts[bound] + k.launches * hw.launch_overhead_s), bound


def with_estimate(hw, wl, result):
    """``result`` with the estimate's seconds added to its time (``times['estimate']``) and its kernels in the
    detail (``--explain``); the bound stays the sparse kernel's unless the estimate takes longer."""
    if hw.kind != "gpu":
        raise UserError(f"--estimate {wl.estimate} runs on GPUs; {hw.name} is an accelerator")
    cold = wl.scope == "kernel"  # after a benchmark's L2 flush the first kernel reads the call's tensors from HBM
    rows = [(k, *kernel_seconds(hw, wl, k, cold=cold and i == 0)) for i, k in enumerate(kernels(hw, wl))]
    total = sum(t for _, t, _ in rows)
    detail = {**result.detail, "estimate": dict(name=wl.estimate, source=SOURCES[wl.estimate],
                                               kernels=[(k.name, k.repeat, t, bound) for k, t, bound in rows])}
    bound = result.bound if total <= result.time_s else "estimate"
    time_s = result.time_s + total
    util = {unit: u * result.time_s / time_s for unit, u in result.utilization.items()}
    return replace(result, time_s=time_s, times={**result.times, "estimate": total}, detail=detail, bound=bound,
                   utilization=util)
