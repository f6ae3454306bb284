"""The kernels' own limits (flash-attention flash_api.cpp checks, shared memory, MMA shapes) are errors,
never silent answers."""

import pytest

from einsum_cascades.errors import UserError
from simulator import Workload, evaluate, hardware, simulate
from simulator.gpu_kernels import kernel_config
from simulator.limits import block_smem_bytes, kernel_error


@pytest.mark.parametrize("algo, d, ok", [("flash2", 256, True), ("flash2", 264, False), ("flash3", 8, True),
                                         ("flash1", 128, True), ("flash1", 136, False), ("naive", 1024, True)])
def test_head_dims_follow_the_kernels_checks(algo, d, ok):
    assert (kernel_error(hardware("h100"), algo, Workload(head_dim=d)) is None) == ok


def test_fa4_runs_up_to_128_and_its_dedicated_shapes():
    b200 = hardware("b200")
    assert kernel_error(b200, "flash4", Workload(head_dim=128)) is None
    assert kernel_error(b200, "flash4", Workload(head_dim=192, v_head_dim=128)) is None
    assert "(192, 128), (256, 256)" in kernel_error(b200, "flash4", Workload(head_dim=160))
    # the MLA-absorbed shapes run another kernel (flash_fwd_mla_sm100.py): named, not priced as the FMHA's tiles
    for d in (64, 512):
        assert "MLA kernel" in kernel_error(b200, "flash4", Workload(head_dim=d, v_head_dim=512))


def test_a_head_dim_not_a_multiple_of_8_is_refused_before_any_kernel():
    with pytest.raises(UserError, match="bad head-dim 7: must be a multiple of 8"):
        Workload(head_dim=7)


def test_fp8_runs_on_flash3_only_and_needs_head_dims_in_16s():
    h100 = hardware("h100")
    assert kernel_error(h100, "flash3", Workload(dtype="fp8", head_dim=128)) is None
    assert "multiples of 16" in kernel_error(h100, "flash3", Workload(dtype="fp8", head_dim=72))
    for algo in ("flash2", "flash-decoding", "naive"):
        assert "no fp8 kernel" in kernel_error(h100, algo, Workload(dtype="fp8"))


def test_accelerators_refuse_a_dtype_of_another_word_size():
    assert "16-bit words" in kernel_error(hardware("fusemax"), "fusemax", Workload(dtype="fp8"))
    assert kernel_error(hardware("fusemax"), "fusemax", Workload(dtype="bf16")) is None


def test_a_block_must_split_into_the_warps_mma_rows():
    """FA2 at d=128: 4 warps of 16-row mma.sync -> multiples of 64; FA3: 2 warpgroups of 64 rows -> 128."""
    h100 = hardware("h100")
    assert kernel_error(h100, "flash2", Workload(block_size=64)) is None
    assert "multiple of 64" in kernel_error(h100, "flash2", Workload(block_size=3))
    assert "multiple of 128" in kernel_error(h100, "flash3", Workload(block_size=64))


def test_a_block_must_fit_shared_memory():
    h100 = hardware("h100")
    fa2, fa3 = (kernel_config(a, h100, Workload()) for a in ("flash2", "flash3"))
    assert block_smem_bytes(fa2, 256, 128, 128, 2) == (256 * 128 + 256 * (128 + 128)) * 2  # Q, one K and V tile
    assert block_smem_bytes(fa3, 128, 128, 128, 2) == (128 * 128 + 2 * 128 * (128 + 128)) * 2  # two K/V stages
    why = kernel_error(h100, "flash2", Workload(block_size=1 << 20))
    assert "needs 805,306,368 B of shared memory" in why and "232,448 B per CTA" in why


def test_the_main_kernel_is_an_error_and_a_baseline_that_cannot_run_leaves_no_speedup():
    with pytest.raises(UserError, match="flash2 has no fp8 kernel"):
        evaluate(hardware("h100"), "flash2", Workload(dtype="fp8"))
    row = simulate("h100", "flash3", dtype="fp8")
    assert row["time_s"] > 0 and row["speedup"] is None and row["note"].startswith("no baseline: naive has no fp8")


@pytest.mark.parametrize("algo", ["flashinfer-decode-tc", "flashinfer-single-decode-tc", "flashinfer-single-prefill",
                                  "flashinfer-prefill-fa2"])
def test_flashinfers_fp8_is_refused_as_unmodelled_not_as_missing(algo):
    """FlashInfer runs an fp8 KV cache under 16-bit queries with tensor cores (and fp8 prefill on Hopper): the
    refusal says attnsim does not model it, not that FlashInfer has no fp8 kernel."""
    why = kernel_error(hardware("a100"), algo, Workload(dtype="fp8", seq_len=1, kv_len=4096, heads=32, kv_heads=8))
    assert "does not model" in why and "no fp8 kernel" not in why and why.endswith("use fp16 or bf16")


def test_fa3s_mla_decode_kernel_is_named_and_its_spelling_given():
    """FA3 runs d <= 64 with V up to 512 on Hopper (mha_fwd; run_mha_fwd_<..., 64, 512>) as MLA's absorbed form
    through its qv path, which attnsim states as (576, 512): the error says how, rather than that FA3 stops at 256."""
    why = kernel_error(hardware("h100"), "flash3", Workload(head_dim=64, v_head_dim=512, seq_len=1, kv_len=8192))
    assert "qv path" in why and "--head-dim 576 --v-head-dim 512" in why
    assert kernel_error(hardware("h100"), "flash3", Workload(head_dim=576, v_head_dim=512, kv_heads=1, seq_len=1,
                                                             kv_len=8192)) is None
