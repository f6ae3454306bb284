"""FlashInfer's kernels hold the registers their JIT build for each architecture holds (simulator/flashinfer_regs.py),
and its families run on Blackwell with the B200's pointer-chase latency (docs/kernels.md D7)."""

from dataclasses import replace

import pytest

from simulator.api import evaluate, hardware
from simulator.flashinfer_decode import BATCH, SINGLE, decode_config
from simulator.flashinfer_regs import ARCHES, DECODE_REGS, DECODE_REGS_WINDOW, PREFILL_REGS
from simulator.flashinfer_tc import PREFILL_FAMILY, flashinfer_build, prefill_tile
from simulator.workload import Workload

H100, B200, GB200, A100, H200 = (hardware(n) for n in ("h100", "b200", "gb200", "a100", "h200"))
FAMILIES = ("flashinfer-decode", "flashinfer-single-decode", "flashinfer-decode-tc", "flashinfer-single-decode-tc",
            "flashinfer-single-prefill", "flashinfer-prefill", "flashinfer-prefill-fa2")


def test_every_architecture_tabulates_the_same_kernels():
    for tables in (PREFILL_REGS, DECODE_REGS, DECODE_REGS_WINDOW):
        assert set(tables) == set(ARCHES)
        keys = {sm: {kind: set(table) if isinstance(table, dict) else None for kind, table in tables[sm].items()}
                for sm in ARCHES}
        assert keys[80] == keys[90] == keys[100]
    for sm in ARCHES:  # ptxas caps a thread at 255; an allocation of 256 would be the cap rounded up
        assert all(0 < r <= 255 for table in PREFILL_REGS[sm].values() for r in table.values())
        assert all(0 < r <= 255 for table in (DECODE_REGS[sm], DECODE_REGS_WINDOW[sm])
                   for groups in table.values() for by_dtype in groups for r in by_dtype)


@pytest.mark.parametrize("hw, regs, ctas", [(H100, 184, 2), (B200, 168, 3), (A100, 136, 2)])
def test_a_kernel_holds_its_own_architectures_registers(hw, regs, ctas):
    """The causal single prefill at 16 packed rows, d = 128, NUM_MMA_KV 2: ptxas gives 178 registers on sm_90a, 168
    on sm_100a (one CTA more an SM: three), 132 on sm_80 (two: A100's 164 KiB of shared memory binds)."""
    tile = prefill_tile(hw, 128, 1, 2, PREFILL_FAMILY, rows=16, causal=True)
    assert (tile.cta_tile_q, tile.cta_tile_kv, tile.regs, tile.ctas_per_sm(hw)) == (16, 128, regs, ctas)


def test_the_decode_kernels_take_their_architectures_registers():
    """The single decode kernel at group 1 (fp16, d = 128): 90 registers on sm_90a, 145 on sm_100a; its 64 KiB of
    stages hold it to three CTAs an SM on both Hopper and Blackwell. The batch kernel at group 4: 56 on sm_90a, 58 on
    sm_80 (allocated 64: eight CTAs of 128 threads an SM where Hopper holds nine)."""
    hopper, blackwell = decode_config(SINGLE, 128, 1, 2, sm=90), decode_config(SINGLE, 128, 1, 2, sm=100)
    assert (hopper.regs, blackwell.regs) == (96, 152)
    assert hopper.ctas_per_sm(H100) == blackwell.ctas_per_sm(B200) == 3
    assert (decode_config(BATCH, 128, 4, 2, sm=80).regs, decode_config(BATCH, 128, 4, 2, sm=90).regs) == (64, 56)
    assert decode_config(BATCH, 128, 4, 2, sm=80).ctas_per_sm(A100) == 8


def test_the_blogs_build_keeps_its_sm90a_registers_on_every_gpu():
    with flashinfer_build("0.0.1"):
        assert decode_config(BATCH, 128, 4, 2, sm=80).regs == decode_config(BATCH, 128, 4, 2, sm=90).regs == 64


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("hw", [B200, GB200])
def test_every_family_runs_on_blackwell_with_its_pointer_chase(family, hw):
    """backend="auto" runs the fa2 kernels on sm_100 (determine_attention_backend): every family prices them there,
    its dependent loads at the B200's 437 ns pointer chase, and a longer cache never costs less."""
    prefill = family in (PREFILL_FAMILY, "flashinfer-prefill", "flashinfer-prefill-fa2")
    single = family.startswith("flashinfer-single")
    wl = Workload(batch=1 if single else 8, heads=32, kv_heads=8, seq_len=2048 if prefill else 1, causal=prefill)
    times = [evaluate(hw, family, replace(wl, kv_len=n)).time_s for n in (4096, 16384, 65536)]
    assert 0 < times[0] <= times[1] <= times[2]
    assert hw.dram_latency_s == pytest.approx(437e-9)


def test_blackwell_runs_a_bandwidth_bound_decode_faster_than_hopper():
    """The tensor-core batch decode of 8 requests of 32k keys (64/8 heads) streams 1.07 GB: the B200's HBM (7.26 TB/s
    read) against the H200's (4.8) makes it the faster; the startup's four dependent loads take the B200's latency."""
    wl = Workload(batch=8, heads=64, kv_heads=8, seq_len=1, kv_len=32768)
    b200, h200 = evaluate(B200, "flashinfer-decode-tc", wl), evaluate(H200, "flashinfer-decode-tc", wl)
    assert b200.bound == h200.bound == "hbm" and b200.time_s < 0.8 * h200.time_s
    assert b200.detail["startup_s"] == pytest.approx(4 * B200.dram_latency_s)


@pytest.mark.parametrize("sm, extra", [(80, 0), (90, 8), (100, 8)])
def test_bf16_conversions_cost_what_each_architectures_build_issues(sm, extra):
    """The batch decode loop at d = 128, group 8 (nvcc 13.0): bf16 1,049 instructions against fp16's 919 on sm_90a,
    1,040 against 911 on sm_100a (a shift, a permute and a shift a pair), 914 against 915 on sm_80 (one PRMT an
    element, as fp16's one HADD2): 8 more a lane and row (vec 8, K and V) on Hopper and Blackwell, none on Ampere."""
    from simulator.flashinfer_decode import lane_fp32_ops

    bf16, fp16 = (decode_config(BATCH, 128, 8, 2, b, sm=sm) for b in (True, False))
    assert lane_fp32_ops(bf16) - lane_fp32_ops(fp16) == extra


def test_explain_says_what_auto_runs_on_blackwell():
    from click.testing import CliRunner

    from cli.main import cli

    r = CliRunner().invoke(cli, ["simulate", "--hw", "b200", "--algo", "flashinfer-prefill", "--seq-len", "4k",
                                 "--batch", "4", "--causal", "--explain"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "on Blackwell FlashInfer's default backend (\"auto\") is this fa2 one" in text and "flash4" in text
    assert "mma.sync" in text and "registers" in text


@pytest.mark.parametrize("family", FAMILIES)
def test_a_serving_engines_flashinfer_layer_on_blackwell_is_a_one_line_error(family):
    """vLLM's FlashInfer backend on sm_100 runs FlashInfer's trtllm-gen kernels for a 16-bit cache's prefill and
    decode batches up to 256 tokens (use_trtllm_attention), which attnsim does not model: --scope layer says so;
    --scope kernel prices FlashInfer's own fa2 kernels, and Hopper's layer runs as before."""
    from click.testing import CliRunner

    from cli.main import cli

    args = ["simulate", "--algo", family, "--seq-len", "1" if "decode" in family else "2k", "--kv-len", "4k",
            "--heads", "32", "--kv-heads", "8"] + ([] if family.startswith("flashinfer-single") else ["--batch", "4"])
    r = CliRunner().invoke(cli, args + ["--hw", "b200", "--scope", "layer"])
    assert r.exit_code == 2 and "trtllm-gen" in r.output and len(r.output.strip().splitlines()) == 1, r.output
    assert CliRunner().invoke(cli, args + ["--hw", "b200", "--scope", "kernel"]).exit_code == 0
