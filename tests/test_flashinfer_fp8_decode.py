"""FlashInfer's CUDA-core decode on an 8-bit KV cache runs on any GPU (it widens K/V on the CUDA cores, no MMA), so
an A100 without 8-bit tensor cores predicts it; the FlashInfer post's Fig. 11 holds it out."""

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator.api import evaluate, hardware
from simulator.workload import Workload
from validation.roofline import roofline_time_s

ROOT = Path(__file__).resolve().parents[1]
FP8 = Workload(heads=32, head_dim=128, seq_len=1, kv_len=8192, dtype="fp8")


def test_an_8_bit_cuda_core_decode_runs_on_a_gpu_without_8_bit_mma():
    a100 = hardware("a100-pcie")
    assert "fp8" not in a100.tensor_flops_per_clk_sm
    r = evaluate(a100, "flashinfer-single-decode", FP8)
    assert r.times["tensor"] == 0.0 and r.bound == "hbm"
    half = evaluate(a100, "flashinfer-single-decode", Workload(heads=32, head_dim=128, seq_len=1, kv_len=8192))
    assert r.time_s < half.time_s  # half the K/V bytes
    out = CliRunner().invoke(cli, ["simulate", "--hw", "a100", "--algo", "flashinfer-single-decode", "--seq-len", "1",
                                   "--kv-len", "8k", "--dtype", "fp8", "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)[0]["time_s"] > 0
    with pytest.raises(Exception, match="fp8"):  # an MMA kernel still needs the 8-bit rate
        evaluate(a100, "flash2", Workload(heads=32, head_dim=128, seq_len=4096, dtype="fp8"))


def test_the_one_line_roofline_takes_the_fp16_peak_where_there_is_no_8_bit_one():
    a100, wl = hardware("a100-pcie"), Workload(heads=32, head_dim=128, seq_len=4096, dtype="fp8")
    assert roofline_time_s(a100, wl) > 0
    assert roofline_time_s(hardware("h100"), wl) < roofline_time_s(hardware("h100"), Workload(
        heads=32, head_dim=128, seq_len=4096))  # where the GPU has one, the 8-bit peak


@pytest.mark.parametrize("name", ["flashinfer-decode-fp8-h100.json", "flashinfer-decode-fp8-a100-pcie.json"])
def test_the_posts_fp8_decode_is_held_out_within_ten_percent(name):
    from validation.report import predict

    doc = json.loads((ROOT / "validation" / "published" / name).read_text())
    points = predict(doc, None, [])
    assert len(points) == 5 and all(p["dtype"] == "fp8" for p in points)
    assert statistics.median(abs(p["error"]) for p in points) < 0.10


def test_an_8_bit_cache_writes_its_output_in_16_bits():
    """FlashInfer's CUDA-core decode over an fp8 cache writes O in half (the post's Fig. 11 benchmark): the call's
    HBM bytes are its K/V and Q at one byte and O at two (a field audit found O counted at one byte)."""
    from simulator import simulate

    r = simulate("h100", "flashinfer-single-decode", heads=32, seq_len=1, kv_len=2048, dtype="fp8", num_splits=1)
    k_v, q, o = 2 * 32 * 2048 * 128, 32 * 128, 32 * 128 * 2
    assert r["hbm_bytes"] == k_v + q + o
