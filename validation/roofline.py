"""The one-line roofline: the baseline a first-principles model has to beat.

Defined once, in attnsim issue 10, and never fitted: the time of an attention call is
max(FLOPs / (60% of the tensor peak), compulsory bytes / (90% of the HBM bandwidth)),
with the peaks straight from the hardware TOML. ``validate report`` and
``bench/accuracy.py`` print its median |error| beside the model's.
"""

from simulator.workload import Workload

TENSOR_FRACTION = 0.6  # of the datasheet tensor peak (the baseline's definition, not a measurement)
HBM_FRACTION = 0.9  # of the datasheet HBM bandwidth (likewise)
CAUSAL_FLOP_FRACTION = 0.5  # causal: half the score elements, the FA benchmarks' convention


def roofline_flops(wl: Workload) -> float:
    """Forward FLOPs as flash-attention's benchmarks count them: 4 x B x H x Nq x Nkv x d, halved if causal
    (2 x (d + dv) with a value head dim of its own).

    Source: flash-attention benchmarks/benchmark_flash_attention.py, ``flops()``. Masks other than
    causal are ignored: the one-liner knows only dense and causal. Causal is ``--causal`` or a causal term of the
    pattern (``causal&chunked(8k)``), as the kernels take it (``pattern_causal``).
    """
    from simulator.gpu_kernels import pattern_causal

    dense = wl.flops_per_score() * wl.batch * wl.heads * wl.seq_len * wl.kv_len
    return dense * (CAUSAL_FLOP_FRACTION if pattern_causal(wl) else 1.0)


def roofline_bytes(wl: Workload) -> float:
    """Compulsory HBM bytes: Q and O (B x H x Nq x d, dv), K and V (B x Hkv x Nkv x d, dv), once."""
    q, o = (wl.batch * wl.heads * wl.seq_len * dim for dim in (wl.head_dim, wl.v_head_dim))
    k, v = (wl.batch * wl.kv_heads * wl.kv_len * dim for dim in (wl.head_dim, wl.v_head_dim))
    return (q + k + v + o) * wl.dtype_bytes


def roofline_time_s(hw, wl: Workload) -> float:
    """max(FLOPs / (0.6 x tensor peak), bytes / (0.9 x HBM bandwidth)) on GPU ``hw``.

    The tensor peak is sms x tensor_flops_per_clk_sm[dtype] x tensor_clock_hz (the clock the
    datasheet quotes it at); the bandwidth is the datasheet ``hbm_bw_bytes_s``. An 8-bit dtype on a GPU
    without 8-bit MMAs (an A100: FlashInfer's fp8 decode widens its K/V to 16 bits) takes the fp16 peak.
    """
    dtype = wl.dtype if wl.dtype in hw.tensor_flops_per_clk_sm else "fp16"
    compute = roofline_flops(wl) / (TENSOR_FRACTION * hw.tensor_peak_flops(dtype))
    memory = roofline_bytes(wl) / (HBM_FRACTION * hw.hbm_bw_bytes_s)
    return max(compute, memory)
