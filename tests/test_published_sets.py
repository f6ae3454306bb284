"""Every development set in validation/published/ is a faithful, self-consistent transcription.

Each file must say it is published (not measured by attnsim) and where its figures come from, name the
hardware model it is judged on, and hold points whose FLOPs and times follow from the shapes and the
stated conventions: a point whose FLOPs, time or byte count were typed or converted wrongly fails here.
"""

import json
import math
import re
from pathlib import Path

import pytest

from einsum_cascades.library import cascade_names
from simulator.algorithms import FUSED_MAPPINGS
from simulator.api import ALGORITHMS, hardware
from simulator.workload import DTYPE_BYTES, Workload

PUBLISHED = Path(__file__).resolve().parent.parent / "validation" / "published"
FILES = sorted(PUBLISHED.glob("*.json"))
SHAPE_KEYS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "dtype", "pattern", "sparsity")
REL = 1e-9  # conversions are exact arithmetic; only printed values carry rounding


def load(path):
    return json.loads(path.read_text())


def fa_flops(p):
    """The FlashAttention benchmarks' convention: 2*B*H*Nq*Nkv*(d + d_v) (4*B*H*Nq*Nkv*d when d_v = d), halved for
    causal (square causal only)."""
    dv = p.get("v_head_dim", p["head_dim"])
    f = 2.0 * p["batch"] * p["heads"] * p["seq_len"] * p["kv_len"] * (p["head_dim"] + dv)
    return f / 2 if p["causal"] else f


def qkv_bytes(p):
    """FlashInfer's decode benchmarks: bytes read = Q + K + V, O not counted."""
    per_request = p["heads"] * p["seq_len"] * p["head_dim"] + 2 * p["kv_len"] * p["kv_heads"] * p["head_dim"]
    return DTYPE_BYTES[p["dtype"]] * p["batch"] * per_request


def test_there_are_published_sets():
    assert len(FILES) >= 2, "validation/published/ should hold the FA3 table and the other development sets"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_is_marked_published_and_names_its_origin(path):
    doc = load(path)
    assert doc["format"] == "attnsim-validation/1"
    assert "NOT measured by attnsim" in doc["source"], "a published set must say it was not measured"
    assert re.search(r"arXiv \d{4}\.\d{4,5}|github\.com|flashinfer-ai\.github\.io|pull request #\d+|issue #\d+",
                     doc["source"]), "source must name the paper, post, issue or pull request the figures come from"
    device = doc["device"]
    assert "(published" in device["name"]
    assert re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", device["date"]), "date of the source, YYYY-MM"
    hardware(device["attnsim_hw"])  # a bundled hardware model, so `validate report` can judge the file
    assert doc["points"], "a development set without points"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_points_have_valid_shapes_and_known_families(path):
    for i, p in enumerate(load(path)["points"]):
        assert p["ok"] is True and p["kernel"], f"point {i}"
        Workload(**{k: p[k] for k in SHAPE_KEYS if k in p})  # raises on a shape attnsim cannot state
        mapped = (p["algorithm"] or "").rpartition("@")  # a bundled cascade on a fused family's kernel
        assert p["algorithm"] in ALGORITHMS or (p["algorithm"] is None and "no family" in p.get("note", "")) or (
            mapped[0] in cascade_names() and mapped[2] in FUSED_MAPPINGS), (
            f"point {i}: algorithm {p['algorithm']!r} is neither an attnsim family, a bundled cascade@family, nor "
            "null with a note saying why")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_flops_follow_the_fa_convention(path):
    for i, p in enumerate(load(path)["points"]):
        assert math.isclose(p["flops"], fa_flops(p), rel_tol=REL), f"point {i}: flops {p['flops']} != {fa_flops(p)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_times_follow_from_the_published_figure(path):
    doc = load(path)
    for i, p in enumerate(doc["points"]):
        t = p["measured_s"]
        if "published_ms" in p:  # the source prints a time: that is the measurement
            assert math.isclose(t, p["published_ms"] / 1e3, rel_tol=REL), f"point {i}"
            if p.get("published_tflops"):  # and its TFLOP/s column agrees to its printed digits
                assert abs(p["flops"] / t / 1e12 / p["published_tflops"] - 1) < 0.5 / p["published_tflops"] + 1e-3, (
                    f"point {i}: printed TFLOP/s disagrees with printed time")
        elif p.get("published_tflops"):
            assert math.isclose(t, p["flops"] / (p["published_tflops"] * 1e12), rel_tol=REL), f"point {i}"
        else:  # a bandwidth figure: time = bytes / (utilization x the peak the source used)
            assert math.isclose(p["bytes"], qkv_bytes(p), rel_tol=REL), f"point {i}: bytes {p['bytes']}"
            util, peak = p["published_bandwidth_utilization"], doc["peak_bandwidth_bytes_s"]
            assert 0 < util <= 1 and peak > 1e11
            assert math.isclose(t, p["bytes"] / (util * peak), rel_tol=REL), f"point {i}"


def test_the_conventions_catch_a_mistyped_point():
    """The checks above can fail: a causal point priced as dense, or a time off by a unit, is caught."""
    p = {"batch": 2, "heads": 16, "kv_heads": 16, "head_dim": 128, "seq_len": 8192, "kv_len": 8192, "causal": True}
    dense = dict(p, causal=False)
    assert not math.isclose(fa_flops(dense), fa_flops(p), rel_tol=REL)
    decode = dict(p, seq_len=1, kv_len=4096, kv_heads=4, dtype="fp16")
    assert qkv_bytes(decode) == 2 * 2 * (16 * 128 + 2 * 4096 * 4 * 128)


@pytest.mark.parametrize("path", sorted(PUBLISHED.glob("*.json")), ids=lambda p: p.name)
def test_every_published_set_loads_as_a_results_file(path):
    """validate report and bench/accuracy.py read each set whole (a null algorithm marks a kernel without a
    family, which the report skips, not a malformed file)."""
    from validation.report import load_results

    assert load_results(str(path))["points"]
