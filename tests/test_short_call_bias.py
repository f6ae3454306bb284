"""bench/short_call_bias.py's figures, the quartiles simulator.gpu_model quotes, and the explain note they give."""

import json

import pytest

from bench.short_call_bias import main as short_main, quartiles, short_points, summary
from simulator import Workload, evaluate, hardware
from simulator.explain import explain_accel, explain_gpu
from simulator.gpu_model import SHORT_CALL_GAP_US, SHORT_CALL_S

H100 = hardware("h100")
SHORT = Workload(batch=1, heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=2048)


def test_the_quoted_quartiles_are_the_published_points_today():
    points = short_points()
    assert len(points) >= 10 and all(p["scope"] == "kernel" and p["predicted_s"] < SHORT_CALL_S for p in points)
    q = quartiles([p["gap_s"] * 1e6 for p in points])
    assert [round(x, 1) for x in q] == list(SHORT_CALL_GAP_US), q  # re-run the script and update them together


def test_quartiles_and_summary():
    assert quartiles([3.0]) == (3.0, 3.0, 3.0)
    assert quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)
    s = summary([dict(file="a", algorithm="x", gap_s=1e-6), dict(file="a", algorithm="x", gap_s=3e-6),
                 dict(file="b", algorithm="y", gap_s=-1e-6)])
    assert [(g["file"], g["n"], g["median_us"]) for g in s["groups"]] == [("a", 2, 2.0), ("b", 1, -1.0)]
    assert s["all"]["n"] == 3 and s["all"]["min_us"] == -1.0 and s["all"]["max_us"] == 3.0


def test_explain_notes_a_short_flushed_gpu_call_only():
    r = evaluate(H100, "flashinfer-single-decode-tc", SHORT)
    assert r.time_s < SHORT_CALL_S
    assert "bench/short_call_bias.py" in explain_gpu(H100, "flashinfer-single-decode-tc", SHORT, r)
    warm = Workload(batch=1, heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=2048, scope="kernel-warm")
    r = evaluate(H100, "flashinfer-single-decode-tc", warm)
    assert "bench/short_call_bias.py" not in explain_gpu(H100, "flashinfer-single-decode-tc", warm, r)
    long = Workload(batch=8, heads=32, head_dim=128, seq_len=8192, causal=True)
    r = evaluate(H100, "flash3", long)
    assert r.time_s > SHORT_CALL_S and "bench/short_call_bias.py" not in explain_gpu(H100, "flash3", long, r)
    fusemax, tiny = hardware("fusemax"), Workload(seq_len=128)
    r = evaluate(fusemax, "fusemax", tiny)
    assert r.time_s < SHORT_CALL_S and "bench/short_call_bias.py" not in explain_accel(fusemax, "fusemax", tiny, r)


def test_the_script_prints_and_refuses_a_bad_threshold(capsys):
    assert short_main(["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["all"]["n"] == len(short_points())
    with pytest.raises(SystemExit) as exit_:
        short_main(["--under", "0"])
    assert exit_.value.code == 2
