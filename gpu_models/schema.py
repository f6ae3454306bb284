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
    "baseline_machine": "machine",
}
SCHEMAS = {"gpu": (GPUSpec, _GPU), "accelerator": (AcceleratorSpec, _ACCELERATOR)}
TABLES = {"tensor_flops_per_clk_sm": TENSOR_DTYPES, "mma_sync_flops_per_clk_sm": TENSOR_DTYPES,
          "uncapped_tensor_flops_per_clk_sm": TENSOR_DTYPES, "exp_cost": OP_CLASSES, "energy_pj": ENERGY_ACTIONS}
OPTIONAL = ("description", "wgmma_efficiency", "wgmma_softmax_exposed", "tcgen05_efficiency",
            "tcgen05_softmax_exposed", "dram_latency_s", "tcgen05_tile_turnaround", "mma_sync_flops_per_clk_sm",
            "uncapped_tensor_flops_per_clk_sm", "unfused_strided_efficiency", "cuda_core_issue_efficiency",
            "cuda_core_clock_hz", "stream_overlap_loss", "cp_async_hbm_efficiency", "baseline_machine")  # the MMA paths an architecture
# lacks (GPUSpec checks which) and figures with a default (no pointer-chase latency published; no turnaround: 0;
# no mma.sync ceiling below the tensor peak; no chip-level tensor cap; strided element-wise kernels as the rest;
# CUDA-core loops issuing every clock, at the sustained clock; a fused kernel's HBM stream hidden wholly behind its compute;
# cp.async streams at hbm_efficiency; an accelerator's unfused baseline on itself)
# 0 is a real value here, not a missing one: a softmax fully hidden, no staging buffer
ZERO_ALLOWED = ("mma_sync_softmax_exposed", "wgmma_softmax_exposed", "tcgen05_softmax_exposed", "staging_buffer_bytes",
                "tcgen05_tile_turnaround", "stream_overlap_loss")


def dimension(kind: str, key: str) -> str:
    """The dimension of ``key`` (a field, or a table's name) in a spec of ``kind``."""
    return SCHEMAS[kind][1][key]


# The most a figure of a real machine can be, written as a TOML writes it, with why: far past every bundled machine
# (10x or more) so that no design is refused, yet a value past it is a slip of the unit (228 GiB of shared memory
# per SM for 228 KiB, 1830 GHz for MHz), not a machine. A table's entries take its bound (tensor_flops_per_clk_sm.fp8).
PLAUSIBLE = {
    "sms": ("4096 count", "the bundled GPUs have 78 to 152 SMs"),
    **dict.fromkeys(("boost_clock_hz", "tensor_clock_hz", "sustained_clock_hz", "cuda_core_clock_hz", "clock_hz"),
                    ("10 GHz", "GPUs and accelerators clock at 0.9 to 2.1 GHz")),
    **dict.fromkeys(("smem_per_sm_bytes", "smem_per_block_bytes"),
                    ("4 MiB", "an H100 or B200 SM has 228 KiB of shared memory")),
    "regs_per_sm": ("1048576 count", "every bundled SM has 65536 registers"),
    "max_threads_per_sm": ("65536 count", "every bundled SM holds 2048 threads"),
    "max_ctas_per_sm": ("4096 count", "every bundled SM holds 32 CTAs"),
    "smem_bytes_per_clk_sm": ("8192 B/clk/SM", "a Hopper or Blackwell SM moves 128 B/clk"),
    **dict.fromkeys(("tensor_flops_per_clk_sm", "mma_sync_flops_per_clk_sm", "uncapped_tensor_flops_per_clk_sm"),
                    ("1048576 flop/clk/SM", "a B200 SM does 16384 fp8 flop/clk")),
    **dict.fromkeys(("fp32_fma_per_clk_sm", "sfu_ops_per_clk_sm"), ("8192 ops/clk/SM", "an SM has 128 FP32 lanes")),
    "l2_bytes": ("4 GiB", "a B200 has 126.5 MiB of L2"),
    **dict.fromkeys(("l2_bw_bytes_s", "hbm_bw_bytes_s", "dram_bw_bytes_s"),
                    ("1000 TB/s", "a B300's HBM streams 7.7 TB/s, its L2 11")),
    "hbm_bytes": ("16384 GiB", "a B300 has 288 GB of HBM"),
    **dict.fromkeys(("hbm_latency_s", "dram_latency_s"), ("1 ms", "DRAM answers in about 1 us")),
    **dict.fromkeys(("launch_overhead_s", "graph_launch_s"), ("100 ms", "a kernel launches in about 2 us")),
    **dict.fromkeys(("global_buffer_bytes", "staging_buffer_bytes"), ("64 GiB", "FuseMax's global buffer is 16 MiB")),
    **dict.fromkeys(("pe2d_rows", "pe2d_cols"), ("65536 count", "FuseMax's 2D array is 256 x 256")),
    "pe1d_count": ("1048576 count", "FuseMax has 256 1D PEs"),
    "word_bytes": ("16 B", "FuseMax's words are 2 bytes"),
}
