"""The HBM read ceiling by load path (docs/kernels.md Q): a kernel that streams K/V by cp.async reads at the part's
cp.async fraction where one is measured apart (the B200: 6.69 TB/s against TMA's 7.26), else at hbm_efficiency."""

from dataclasses import replace

import pytest

from gpu_models import load_hardware
from simulator.gpu_model import simulate_gpu as simulate
from simulator.gpu_kernels import kernel_config
from simulator.workload import Workload


def test_stream_bw_takes_the_cp_async_fraction_only_where_a_part_has_one():
    b200, h100 = load_hardware("b200"), load_hardware("h100")
    assert b200.stream_bw(cp_async=True) == pytest.approx(7.672e12 * 0.872)
    assert b200.stream_bw(cp_async=False) == pytest.approx(7.672e12 * 0.946) == pytest.approx(b200.hbm_achievable_bw)
    assert h100.cp_async_hbm_efficiency is None
    assert h100.stream_bw(cp_async=True) == h100.stream_bw(cp_async=False) == h100.hbm_achievable_bw
    assert load_hardware("gb200").cp_async_hbm_efficiency == b200.cp_async_hbm_efficiency


@pytest.mark.parametrize("family, wl, cp_async", [
    ("flash2", dict(seq_len=4096), True),
    ("flash-decoding", dict(seq_len=1, kv_len=32768), True),
    ("flash4", dict(seq_len=4096), False),
])
def test_each_family_names_its_load_path_on_a_b200(family, wl, cp_async):
    cfg = kernel_config(family, load_hardware("b200"), Workload(**wl))
    assert cfg.cp_async_loads is cp_async


def test_fa3_gathers_pages_by_cp_async_where_tma_cannot_and_its_sm80_path_always():
    h100, a100 = load_hardware("h100"), load_hardware("a100")
    assert not kernel_config("flash3", h100, Workload(seq_len=1, kv_len=8192)).cp_async_loads
    assert kernel_config("flash3", h100, Workload(seq_len=1, kv_len=8192, page_size=16)).cp_async_loads
    assert kernel_config("flash3", a100, Workload(seq_len=4096)).cp_async_loads


def _hbm_roof(hw, family, **wl):
    return simulate(hw, family, Workload(**wl)).times["hbm"]


@pytest.mark.parametrize("family, wl", [
    ("flashinfer-decode-tc", dict(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768)),
    ("flashinfer-decode", dict(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768)),
    ("flash-decoding", dict(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768)),
    ("flash2", dict(batch=4, heads=32, seq_len=8192)),
])
def test_a_cp_async_kernel_reads_at_the_cp_async_ceiling(family, wl):
    """The hbm roof scales by hbm_efficiency / cp_async_hbm_efficiency when the figure is set, and not at all when a
    part has none (the same part, the figure removed)."""
    b200 = load_hardware("b200")
    plain = replace(b200, cp_async_hbm_efficiency=None)
    assert _hbm_roof(b200, family, **wl) == pytest.approx(_hbm_roof(plain, family, **wl) * 0.946 / 0.872)


def test_a_tma_kernel_keeps_the_tma_ceiling():
    b200 = load_hardware("b200")
    plain = replace(b200, cp_async_hbm_efficiency=None)
    wl = dict(batch=4, heads=32, seq_len=8192)
    assert _hbm_roof(b200, "flash4", **wl) == pytest.approx(_hbm_roof(plain, "flash4", **wl))


def test_a_long_tensor_core_decode_on_a_b200_streams_at_most_the_cp_async_rate():
    """FlashInfer's tensor-core decode of 64 requests over 32k keys is HBM-bound: its K/V rate stays under the
    cp.async plateau (6.69 TB/s), where the TMA ceiling alone let it read 7.1 TB/s."""
    r = simulate(load_hardware("b200"), "flashinfer-decode-tc",
                 Workload(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768))
    kv = 64 * 8 * 32768 * 2 * 128 * 2
    assert kv / r.time_s <= 7.672e12 * 0.872


@pytest.mark.parametrize("family, wl", [
    ("flashinfer-decode-tc", dict(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768)),
    ("flashinfer-decode", dict(batch=64, heads=32, kv_heads=32, seq_len=1, kv_len=32768)),
])
def test_flashinfer_s_per_wave_stream_takes_the_cp_async_rate_too(family, wl):
    """FlashInfer's decode models time each wave's K/V stream themselves (the compute term): a stream-bound call's
    grows with the stream, by at most the ratio of the two ceilings (its fixed costs do not grow)."""
    b200 = load_hardware("b200")
    plain = replace(b200, cp_async_hbm_efficiency=None)
    slow, fast = (simulate(hw, family, Workload(**wl)).times["compute"] for hw in (b200, plain))
    assert fast * 1.05 < slow <= fast * 0.946 / 0.872 * 1.0001


def test_explain_names_the_cp_async_read_fraction_where_a_part_has_one():
    from simulator.explain import explain_gpu

    def text(hw, family, wl):
        return explain_gpu(hw, family, wl, simulate(hw, family, wl))

    b200, h100 = load_hardware("b200"), load_hardware("h100")
    decode = Workload(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=32768)
    fa2 = " ".join(text(b200, "flash-decoding", decode).split())
    assert "K/V by cp.async: the HBM stream at 0.872 of the peak" in fa2 and "TMA loads reach 0.946" in fa2
    assert "B_hbm*0.872, the cp.async read fraction" in " ".join(text(b200, "flashinfer-decode-tc", decode).split())
    assert "cp.async read fraction" not in " ".join(text(h100, "flashinfer-decode-tc", decode).split())
    assert "cp.async read fraction" not in " ".join(text(b200, "flash4", Workload(seq_len=4096)).split())
