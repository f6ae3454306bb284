"""--estimate: each dynamic method's index-building kernels, timed with the call (simulator.estimate).

What is proved: the estimate's seconds are exactly what time_s gains and the speedup loses; its kernels' work
matches the methods' code in closed form; each kernel is priced by the stated rule; the cost grows as each
method's algorithm does (MInference's per head linear in N, SeerAttention's gate quadratic in N / 64); bad
names and impossible calls exit 2 with one line.
"""

import math

import pytest

from einsum_cascades.errors import UserError
from simulator import estimate_kernels as ek
from simulator.api import evaluate, hardware, simulate
from simulator.estimate import ESTIMATES, kernel_seconds, kernels
from simulator.workload import Workload

MINF = dict(seq_len=131072, causal=True, pattern="vertical_slash(1000,6096)", block_size=64)


def test_estimate_seconds_are_added_to_the_time_and_the_speedup():
    plain = simulate("a100", "flash2", **MINF)
    est = simulate("a100", "flash2", estimate="minference-vs", **MINF)
    assert est["estimate"] == "minference-vs" and plain["estimate_s"] is None
    assert est["time_s"] == pytest.approx(plain["time_s"] + est["estimate_s"], rel=1e-12)
    assert est["baseline_time_s"] == plain["baseline_time_s"]  # the dense baseline builds no index
    assert est["speedup"] == pytest.approx(est["baseline_time_s"] / est["time_s"])


def test_minference_vs_kernels_follow_the_code():
    wl = Workload(seq_len=8192, heads=4, head_dim=128, **{k: v for k, v in MINF.items() if k != "seq_len"})
    table = {k.name: k for k in ek.minference_vs(wl, 1000, 6096, 33.0)}
    assert table["qk last 64"].tensor_flops == 2 * 64 * 8192 * 128  # the last 64 queries against every key
    assert table["qk last 64"].repeat == 4  # MInference's forward loops over the heads
    assert table["softmax fp32"].exp_ops == 64 * 8192
    # one thread per 64-row block walks the 6096 + 1000 sorted lines: L1 hits one after another
    assert table["convert index"].chain_cycles == (6096 + 1000) * 33.0
    assert table["index zero-fill"].bytes == (8192 // 64) * (1000 + 6096 + 2) * 4


def test_a_kernel_takes_its_slowest_unit_plus_its_launches_per_run():
    hw = hardware("h100")
    wl = Workload(seq_len=4096, causal=True)
    k = ek.Kernel("x", tensor_flops=1e12, bytes=1e6, launches=3, repeat=2)
    seconds, bound = kernel_seconds(hw, wl, k)
    tensor = 1e12 / (hw.sms * hw.tensor_flops_per_clk_sm["fp16"] * hw.sustained_clock_hz * hw.gemm_efficiency)
    assert bound == "tensor" and seconds == pytest.approx(2 * (tensor + 3 * hw.launch_overhead_s))
    big = ek.Kernel("y", bytes=4 * hw.l2_bytes)  # past L2: HBM at PyTorch's element-wise rate
    assert kernel_seconds(hw, wl, big)[0] == pytest.approx(
        4 * hw.l2_bytes / (hw.hbm_bw_bytes_s * hw.unfused_hbm_efficiency) + hw.launch_overhead_s)


def test_topk_reads_once_per_radix_digit_and_once_to_gather():
    k = ek.topk("t", 1, 1 << 20, 4, 1000)
    assert k.bytes == (1 << 20) * 4 * (32 // 8 + 1) + 1000 * 12 and k.launches == 2 * 4 + 2  # multi-block
    assert ek.topk("t", 1, 1000, 4, 10).launches == 1  # a short slice: one block per slice


def test_nsa_compress_scores_whole_chunks_of_compressed_keys():
    """A token at key t sees (t + 1) // 64 whole compressed blocks, scored in chunks of 64 (BC = BS)."""
    wl = Workload(seq_len=8192, heads=64, kv_heads=4, head_dim=128, causal=True, pattern="topk(16)", block_size=64)
    table = {k.name: k for k in ek.nsa_compress(wl, 64, 16)}
    chunks = sum(-(-((t + 1) // 64) // 64) for t in range(8192))
    assert table["compressed attention"].tensor_flops == 2 * 16 * (4 * 64 * chunks) * (128 + 128)


def test_growth_follows_each_algorithm():
    hw = hardware("h100")

    def seconds(name, n, pattern):
        wl = Workload(seq_len=n, causal=True, pattern=pattern, estimate=name, block_size=64)
        return sum(kernel_seconds(hw, wl, k)[0] for k in kernels(hw, wl))

    vs = [seconds("minference-vs", n, "vertical_slash(1000,6096)") for n in (1 << 19, 1 << 20)]
    gate = [seconds("seer-gate", n, "topk(8)") for n in (1 << 19, 1 << 20)]
    assert 1.5 < vs[1] / vs[0] < 2.5  # last 64 queries x N keys: linear
    assert 3.0 < gate[1] / gate[0] < 4.5  # pooled scores (N/64)^2: quadratic


def test_quest_runs_each_decode_step():
    row = simulate("h100", "flash-decoding", seq_len=1, kv_len=65536, heads=32, kv_heads=8, pattern="budget(4k)",
                   estimate="quest")
    assert 0 < row["estimate_s"] < row["time_s"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(estimate="bogus"), "bad estimate 'bogus': allowed " + ", ".join(ESTIMATES)),
    (dict(estimate="quest", seq_len=4096), "Quest estimates each decode step"),
])
def test_bad_estimates_are_refused(kwargs, match):
    with pytest.raises(UserError, match=match):
        Workload(**kwargs)


def test_an_accelerator_has_no_estimate():
    with pytest.raises(UserError, match="runs on GPUs"):
        evaluate(hardware("fusemax"), "fusemax", Workload(seq_len=4096, estimate="seer-gate"))


def test_every_estimate_prices_at_a_million_tokens_fast():
    import time

    hw = hardware("b200")
    for name in ESTIMATES:
        n = 1 if name == "quest" else 1 << 20
        wl = Workload(seq_len=n, kv_len=1 << 20, heads=64, kv_heads=4, causal=True, estimate=name, block_size=64)
        start = time.perf_counter()
        total = sum(kernel_seconds(hw, wl, k)[0] for k in kernels(hw, wl))
        assert math.isfinite(total) and total > 0 and time.perf_counter() - start < 0.2, name
