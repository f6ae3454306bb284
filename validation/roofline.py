"""The one-line roofline: the baseline a first-principles model has to beat.

Defined once, in attnsim issue 10, and never fitted: the time of an attention call is
max(FLOPs / (60% of the tensor peak), compulsory bytes / (90% of the HBM bandwidth)),
with the peaks straight from the hardware TOML. ``validate report`` and
``bench/accuracy.py`` print its median |error| beside the model's.
"""

from simulator.workload import Workload

TENSOR_FRACTION = 0.6  # of the datasheet tensor peak (the baseline's definition, not a measurement)
HBM_FRACTION = 0.9  # of the peak HBM bandwidth, hbm_bw_bytes_s (likewise)
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


FLOOR_MARGIN = 0.99  # a measured time under this share of the floor is flagged (published peaks are rounded)


def floor_time_s(hw, wl: Workload, algorithm: str, flops: float | None = None) -> tuple[float, str] | None:
    """The least time any kernel could take for this softmax-attention call on GPU ``hw``, and what sets it
    ("tensor" or "hbm"); None where no floor is sure: an ``algorithm`` that is not one of the GPU kernel
    families (a cascade may compute other work than Q K^T and P V over every score: linear attention none of
    it), or, without ``flops``, a mask other than causal or ``--sparsity`` (the call may skip keys).

    Unlike the one-line roofline, a bound no kernel can beat, so a measured time under it is a wrong shape,
    unit or device, not a fast kernel: every FLOP on the tensor cores at the datasheet rate per clock (a chip
    cap's where one holds the part: the H20's 148 TFLOP/s) and the highest clock the SMs can run at (a lock's,
    else the model's boost clock: ``floor_clock_hz``), and the reads of Q, K and V once at the peak HBM bandwidth,
    ``hbm_bw_bytes_s`` (O may stay in L2 until the call ends; MLA's absorbed V is K's own columns; a call timed
    without an L2 flush, ``kernel-warm`` or ``layer``, may find what fits in L2 there). The FLOPs are ``flops``, a prediction's
    (``Result.flops``: 2 (d + dv) a score the mask keeps, exactly), else the one-line roofline's (the causal
    half, a little under the exact count). Under a mask that may skip keys the keys read are at least those a
    query keeps on average (a windowed decode reads its window).
    """
    from simulator.gpu_kernels import GPU_FAMILIES
    from simulator.workload import mla_absorbed

    every_key = reads_every_key(wl.pattern, wl.sparsity)
    if algorithm not in GPU_FAMILIES or (flops is None and not every_key):
        return None
    dtype = wl.dtype if wl.dtype in hw.tensor_flops_per_clk_sm else "fp16"
    flops = roofline_flops(wl) if flops is None else flops
    compute = flops / (hw.sms * hw.tensor_flops_per_clk_sm[dtype] * floor_clock_hz(hw))
    q = wl.batch * wl.heads * wl.seq_len * wl.head_dim
    # keys read per KV head: all of them when the mask keeps every key (the last query sees each), else at least the
    # keys a query keeps on average (no query keeps more keys than the call reads)
    keys = wl.kv_len if every_key else min(wl.kv_len, flops / (wl.flops_per_score() * wl.batch * wl.heads * wl.seq_len))
    row = wl.head_dim + (0 if mla_absorbed(wl.head_dim, wl.v_head_dim) else wl.v_head_dim)
    reads = (q + wl.batch * wl.kv_heads * keys * row) * wl.dtype_bytes
    reads = max(0.0, reads - l2_held_bytes(hw, wl))
    memory = reads / hw.hbm_bw_bytes_s
    return (compute, "tensor") if compute >= memory else (memory, "hbm")


def l2_held_bytes(hw, wl) -> float:
    """Bytes of a call's inputs its floor takes as already in L2: none after a benchmark's flush (scope kernel), else
    up to the L2's size (kernel-warm, layer: the call may find them there)."""
    return 0.0 if wl.scope == "kernel" else float(hw.l2_bytes)


def reads_every_key(pattern: str | None, sparsity: float) -> bool:
    """Whether a call's mask keeps a score of every key (dense or causal): its floor then holds K's and V's reads."""
    return not sparsity and (not pattern or pattern.strip() in ("full", "causal"))


def under_floor(measured_s: float, floor: tuple[float, str] | None) -> bool:
    """Whether a measured time lies under ``floor`` (``floor_time_s``'s; None: no floor), beyond the margin."""
    return floor is not None and measured_s < FLOOR_MARGIN * floor[0]


def floor_reason(bound: str, every_key: bool, clock_hz: float | None = None) -> str:
    """What sets a floor, in words: its FLOPs at the tensor peak (at ``clock_hz`` where given), or its reads at the
    peak HBM bandwidth; under a mask (not ``every_key``) those of the scores and keys it keeps."""
    if bound == "tensor":
        at = f" at {clock_hz / 1e6:g} MHz" if clock_hz else ""
        return f"every FLOP{'' if every_key else ' of the scores the mask keeps'} at the tensor peak{at}"
    return ("the Q/K/V reads at the peak HBM bandwidth" if every_key
            else "the reads of Q and of the keys a query keeps at the peak HBM bandwidth")


def floor_clock_hz(hw) -> float:
    """The highest clock the SMs can run at: a locked model's lock (``h100:1500``, nvidia-smi --lock-gpu-clocks), else
    the highest clock the GPU model states (its boost clock)."""
    from gpu_models.loader import split_clock

    if split_clock(hw.name)[1] is not None:
        return hw.sustained_clock_hz
    return max(hw.boost_clock_hz, hw.tensor_clock_hz, hw.sustained_clock_hz)
