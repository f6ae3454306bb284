"""What a hardware TOML holds: every key of each kind, with its dimension.

Dimensions name a row of ``units.UNITS``, or ``text`` (a plain string) or
``ops`` (a list of op classes with a source). Keys in ``TABLES`` are TOML
tables of figures, one per sub-key, e.g. ``[tensor_flops_per_clk_sm]``.
"""

from gpu_models.spec import ENERGY_ACTIONS, OP_CLASSES, TENSOR_DTYPES, AcceleratorSpec, GPUSpec

_GPU = {
    "name": "text", "display_name": "text", "kind": "text", "description": "text", "arch": "text",
    "sms": "count", "boost_clock_hz": "frequency", "tensor_clock_hz": "frequency", "sustained_clock_hz": "frequency",
    "tensor_flops_per_clk_sm": "flop/clk/SM", "mma_sync_flops_per_clk_sm": "flop/clk/SM",
    "uncapped_tensor_flops_per_clk_sm": "flop/clk/SM", "fp32_fma_per_clk_sm": "ops/clk/SM", "sfu_ops_per_clk_sm": "ops/clk/SM",
    "smem_per_sm_bytes": "bytes", "smem_per_block_bytes": "bytes", "regs_per_sm": "count",
    "max_threads_per_sm": "count", "max_ctas_per_sm": "count", "smem_bytes_per_clk_sm": "B/clk/SM",
    "l2_bytes": "bytes", "l2_bw_bytes_s": "bandwidth", "hbm_bytes": "bytes", "hbm_bw_bytes_s": "bandwidth",
    "hbm_efficiency": "fraction", "gemm_efficiency": "fraction", "unfused_hbm_efficiency": "fraction", "unfused_strided_efficiency": "fraction",
    "cuda_core_issue_efficiency": "fraction", "cuda_core_clock_hz": "frequency", "stream_overlap_loss": "fraction",
    "cp_async_hbm_efficiency": "fraction",
    "mma_sync_efficiency": "fraction",
    "mma_sync_softmax_exposed": "fraction", "wgmma_efficiency": "fraction", "wgmma_softmax_exposed": "fraction",
    "tcgen05_efficiency": "fraction", "tcgen05_softmax_exposed": "fraction", "hbm_latency_s": "time",
    "launch_overhead_s": "time", "graph_launch_s": "time", "dram_latency_s": "time", "tcgen05_tile_turnaround": "cycles",
}
_ACCELERATOR = {
    "name": "text", "display_name": "text", "kind": "text", "description": "text",
    "clock_hz": "frequency", "pe2d_rows": "count", "pe2d_cols": "count", "pe1d_count": "count",
    "pe2d_ops": "ops", "pe1d_ops": "ops", "global_buffer_bytes": "bytes", "dram_bw_bytes_s": "bandwidth",
    "word_bytes": "bytes", "staging_buffer_bytes": "bytes", "exp_cost": "count", "energy_pj": "energy",
}
SCHEMAS = {"gpu": (GPUSpec, _GPU), "accelerator": (AcceleratorSpec, _ACCELERATOR)}
TABLES = {"tensor_flops_per_clk_sm": TENSOR_DTYPES, "mma_sync_flops_per_clk_sm": TENSOR_DTYPES,
          "uncapped_tensor_flops_per_clk_sm": TENSOR_DTYPES, "exp_cost": OP_CLASSES, "energy_pj": ENERGY_ACTIONS}
OPTIONAL = ("description", "wgmma_efficiency", "wgmma_softmax_exposed", "tcgen05_efficiency",
            "tcgen05_softmax_exposed", "dram_latency_s", "tcgen05_tile_turnaround", "mma_sync_flops_per_clk_sm",
            "uncapped_tensor_flops_per_clk_sm", "unfused_strided_efficiency", "cuda_core_issue_efficiency",
            "cuda_core_clock_hz", "stream_overlap_loss", "cp_async_hbm_efficiency")  # the MMA paths an architecture
# lacks (GPUSpec checks which) and figures with a default (no pointer-chase latency published; no turnaround: 0;
# no mma.sync ceiling below the tensor peak; no chip-level tensor cap; strided element-wise kernels as the rest;
# CUDA-core loops issuing every clock, at the sustained clock; a fused kernel's HBM stream hidden wholly behind its compute;
# cp.async streams at hbm_efficiency)
# 0 is a real value here, not a missing one: a softmax fully hidden, no staging buffer
ZERO_ALLOWED = ("mma_sync_softmax_exposed", "wgmma_softmax_exposed", "tcgen05_softmax_exposed", "staging_buffer_bytes",
                "tcgen05_tile_turnaround", "stream_overlap_loss")


def dimension(kind: str, key: str) -> str:
    """The dimension of ``key`` (a field, or a table's name) in a spec of ``kind``."""
    return SCHEMAS[kind][1][key]
