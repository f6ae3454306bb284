"""The stream / compute ratio the report carries, the explain note it triggers, and bench/stream_bias.py's bins."""

import json

import pytest

from bench.stream_bias import bins, main as stream_bias_main, prefill_points
from simulator import Workload, evaluate, hardware
from simulator.explain import explain_gpu
from simulator.gpu_model import STREAM_BIAS_RANGE, STREAM_BIAS_RATIO, stream_ratio
from validation.report import report_doc

H100 = hardware("h100")
SHORT_CAUSAL = Workload(batch=4, heads=48, head_dim=128, seq_len=1024, causal=True, dtype="bf16")
LONG_CAUSAL = Workload(batch=4, heads=48, head_dim=128, seq_len=8192, causal=True, dtype="bf16")


def test_the_ratio_is_the_stream_over_the_compute_roof():
    r = evaluate(H100, "flash3", SHORT_CAUSAL)
    t = r.times
    assert stream_ratio(r) == pytest.approx((t["hbm"] + t["stream_fill"] + t["writeback"]) / t["compute"])
    # the stream grows with N, the compute with N^2: eight times the keys, a far smaller ratio
    assert stream_ratio(evaluate(H100, "flash3", LONG_CAUSAL)) < stream_ratio(r) / 4
    assert stream_ratio(evaluate(hardware("fusemax"), "fusemax", Workload(seq_len=4096))) is None
    # the serial baseline's compute and FlashInfer's decode compute already hold their streams: no such pair
    assert stream_ratio(evaluate(H100, "naive", SHORT_CAUSAL)) is None
    assert stream_ratio(evaluate(H100, "flashinfer-decode", Workload(seq_len=1, kv_len=8192))) is None
    assert stream_ratio(evaluate(hardware("a100"), "flash1", Workload(seq_len=1024))) is not None


def test_explain_notes_a_prefill_call_whose_stream_nears_its_compute():
    short = evaluate(H100, "flash3", SHORT_CAUSAL)
    assert stream_ratio(short) >= STREAM_BIAS_RATIO
    assert "bench/stream_bias.py" in explain_gpu(H100, "flash3", SHORT_CAUSAL, short)
    long = evaluate(H100, "flash3", LONG_CAUSAL)
    assert "bench/stream_bias.py" not in explain_gpu(H100, "flash3", LONG_CAUSAL, long)
    decode = Workload(batch=1, heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=32768)
    r = evaluate(H100, "flash3", decode)
    assert stream_ratio(r) >= STREAM_BIAS_RATIO  # decode streams far more than it computes: no note there
    assert "bench/stream_bias.py" not in explain_gpu(H100, "flash3", decode, r)


def test_report_points_carry_the_ratio():
    doc = {"format": "attnsim-validation/1", "source": "test", "device": {"name": "H100", "attnsim_hw": "h100"},
           "points": [{"algorithm": "flash3", "batch": 4, "heads": 48, "kv_heads": 48, "head_dim": 128,
                       "seq_len": 1024, "kv_len": 1024, "causal": True, "dtype": "bf16", "measured_s": 1.4e-4}]}
    point = report_doc(doc)["points"][0]
    assert point["stream_ratio"] == pytest.approx(stream_ratio(evaluate(H100, "flash3", SHORT_CAUSAL)))


def test_bins_group_by_ratio_and_count_the_fast_points():
    points = [{"stream_ratio": r, "error": e} for r, e in ((0.05, 0.02), (0.07, -0.04), (0.55, -0.2), (0.58, -0.1))]
    rows = bins(points, 0.1)
    assert [(r["ratio_from"], r["n"], r["fast"]) for r in rows] == [(0.0, 2, 1), (0.5, 2, 2)]
    assert rows[0]["median_error"] == pytest.approx(-0.01) and rows[1]["mean_error"] == pytest.approx(-0.15)


def test_the_published_prefill_points_are_binned(capsys):
    points = prefill_points()
    assert points and all(p["seq_len"] > 1 and p["algorithm"] in ("flash1", "flash2", "flash3", "flash4")
                          for p in points)
    assert not any(p["algorithm"] == "naive" or p["seq_len"] == 1 for p in points)
    # tritonbench PR #1267's causal 1k call: its ratio and error, as validate report gives them, land in its bin
    (pr1267,) = [p for p in points if p["file"] == "tritonbench-pr1267-h100.json" and p["seq_len"] == 1024]
    assert 0.7 <= pr1267["stream_ratio"] < 0.8 and pr1267["error"] == pytest.approx(129.1 / 141.6 - 1, abs=0.01)
    assert stream_bias_main(["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (row,) = [r for r in out["16-bit"] if r["ratio_from"] == 0.7]
    errors = [p["error"] for p in points if p["dtype"] != "fp8" and 0.7 <= p["stream_ratio"] < 0.8]
    assert row["n"] == len(errors) and pr1267["error"] in errors
    with pytest.raises(SystemExit) as bad:
        stream_bias_main(["--bin", "0"])
    assert bad.value.code == 2


def test_the_explain_notes_range_is_what_the_published_points_give():
    """STREAM_BIAS_RANGE, which the explain note prints, is the lowest and highest bin median (0.1 wide) of the
    published prefill points at STREAM_BIAS_RATIO or more, 16-bit and FP8 apart, to a whole percent."""
    points = prefill_points()
    for name, group in (("16-bit", [p for p in points if p["dtype"] != "fp8"]),
                        ("fp8", [p for p in points if p["dtype"] == "fp8"])):
        medians = [r["median_error"] for r in bins(group, 0.1) if r["ratio_from"] >= STREAM_BIAS_RATIO - 1e-9]
        assert medians, name
        assert (round(min(medians), 2), round(max(medians), 2)) == STREAM_BIAS_RANGE[name], (name, medians)
