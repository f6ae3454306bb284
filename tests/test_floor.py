"""The floor (validation.roofline.floor_time_s): a time no kernel can beat. Every published timing lies above it,
no prediction of any family falls under it, and `validate report` names a user's point measured under it."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from gpu_models.loader import bundled_names
from simulator.api import evaluate, hardware
from einsum_cascades.errors import UserError
from simulator.gpu_kernels import GPU_FAMILIES
from simulator.workload import Workload
from validation.report import _WORKLOAD_FIELDS, hardware_for
from validation.roofline import FLOOR_MARGIN, floor_time_s, roofline_flops

PUBLISHED = Path(__file__).resolve().parent.parent / "validation" / "published"
GPUS = [name for name in bundled_names() if hardware(name).kind == "gpu"]
CALLS = {  # prefill (tensor-bound floor), decode (HBM-bound), MHA at d=256, MLA's absorbed decode, a warm decode
    "prefill": Workload(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=8192, causal=True),
    "decode": Workload(batch=64, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=8192),
    "mha256": Workload(batch=4, heads=8, kv_heads=8, head_dim=256, seq_len=4096),
    "mla": Workload(batch=32, heads=128, kv_heads=1, head_dim=576, v_head_dim=512, seq_len=1, kv_len=4096,
                    page_size=64),
    "warm-decode": Workload(batch=8, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=32768,
                            scope="kernel-warm"),
    "window": Workload(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=32768, pattern="causal&window(4k)"),
    "window-decode": Workload(batch=32, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536,
                              pattern="sinks(64)|window(4k)"),
    "sparse": Workload(batch=1, heads=32, head_dim=128, seq_len=16384, sparsity=0.9),
    "mla-waves": Workload(batch=16, heads=64, kv_heads=16, head_dim=576, v_head_dim=512, seq_len=1024, kv_len=2048,
                          page_size=64),  # FlashMLA's grid of 1,024 CTAs: eight waves on an H100
}


def test_every_published_timing_lies_above_its_floor():
    checked = 0
    for path in sorted(PUBLISHED.glob("*.json")):
        doc = json.loads(path.read_text())
        for p in doc["points"]:
            if not p.get("measured_s"):
                continue
            spec = hardware(p.get("hardware") or hardware_for(doc, None))
            if spec.kind != "gpu":
                continue
            wl = Workload(**{k: p[k] for k in _WORKLOAD_FIELDS if p.get(k) is not None})
            floor = floor_time_s(spec, wl, p.get("algorithm") or "flash2")  # cuDNN and Triton compute softmax attention too
            if floor is not None:
                checked += 1
                assert p["measured_s"] >= FLOOR_MARGIN * floor[0], (path.name, p.get("kernel"), floor)
    assert checked > 900  # most published points are dense or causal


def test_no_published_timing_lies_under_the_floor_of_its_predicted_call():
    """As `validate report` sees them: at the FLOPs of the scores each call's mask keeps, windows and sparse calls too."""
    from bench._published import predicted_points

    points = predicted_points()
    masked = [p for p in points if p["floor_s"] and (p["pattern"] not in (None, "causal", "full") or p["sparsity"])]
    assert len(points) > 900 and len(masked) > 50
    assert [(p["file"], p["kernel"]) for p in points if p["below_floor"]] == []


@pytest.mark.parametrize("gpu", GPUS)
def test_no_family_predicts_under_the_floor(gpu):
    spec, ran = hardware(gpu), 0
    for name, wl in CALLS.items():
        for family in GPU_FAMILIES:
            try:
                result = evaluate(spec, family, wl)
            except UserError:  # the family does not run this call or GPU
                continue
            floor, bound = floor_time_s(spec, wl, family, result.flops)
            ran += 1
            assert result.time_s >= floor, (gpu, family, name, result.time_s, floor, bound)
    assert ran >= 5


def test_what_sets_the_floor():
    h100 = hardware("h100")
    t, bound = floor_time_s(h100, CALLS["prefill"], "flash3")
    assert bound == "tensor"  # every FLOP at 4096 flop/clk/SM and the 1980 MHz boost clock, above the 1830 of the peak
    assert t == pytest.approx(roofline_flops(CALLS["prefill"]) / (132 * 4096 * 1980e6))
    t, bound = floor_time_s(h100, CALLS["decode"], "flash-decoding")
    kv = 2 * 64 * 8 * 8192 * 128 * 2
    assert bound == "hbm" and t == pytest.approx((kv + 64 * 32 * 128 * 2) / 3.35e12)
    mla = CALLS["mla"]  # V is K's own first 512 columns: read once
    assert floor_time_s(h100, mla, "flashmla")[0] == pytest.approx((32 * 4096 * 576 + 32 * 128 * 576) * 2 / 3.35e12)
    cold = floor_time_s(h100, replace(CALLS["warm-decode"], scope="kernel"), "flash3")[0]
    warm = floor_time_s(h100, CALLS["warm-decode"], "flash3")[0]  # up to the L2's 50 MiB may be there already
    assert warm == pytest.approx(cold - 50 * 2**20 / 3.35e12)


def test_a_mask_that_may_skip_keys_has_no_floor():
    h100 = hardware("h100")
    for given in ({"pattern": "window(1k)"}, {"sparsity": 0.5}, {"pattern": "causal&chunked(1k)"}):
        assert floor_time_s(h100, Workload(seq_len=8192, **given), "flash3") is None
    assert floor_time_s(h100, Workload(seq_len=8192, pattern="causal"), "flash3") is not None


def test_under_a_mask_the_floor_counts_the_kept_scores_and_the_keys_a_query_keeps():
    h100 = hardware("h100")
    wl = Workload(batch=32, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536, pattern="window(4k)")
    result = evaluate(h100, "flash3", wl)
    t, bound = floor_time_s(h100, wl, "flash3", result.flops)
    assert result.flops == pytest.approx(4 * 128 * 4096 * 32 * 32)  # a decode query keeps its window's 4096 keys
    assert bound == "hbm" and t == pytest.approx((32 * 32 * 128 + 32 * 8 * 4096 * 256) * 2 / 3.35e12)
    assert result.time_s >= t
    prefill = Workload(seq_len=32768, pattern="causal&window(4k)")
    result = evaluate(h100, "flash3", prefill)
    assert floor_time_s(h100, prefill, "flash3", result.flops)[0] == pytest.approx(
        result.flops / (132 * 4096 * 1980e6))
    assert floor_time_s(h100, prefill, "flash3", result.flops)[0] < floor_time_s(h100, Workload(seq_len=32768,
                                                                                            causal=True), "flash3")[0]


def test_a_cascade_has_no_floor():
    """A cascade may compute other work than Q K^T and P V over every score: linear attention none of it, and its
    predicted time lies far under softmax attention's floor."""
    h100, wl = hardware("h100"), Workload(seq_len=8192)
    assert floor_time_s(h100, wl, "attention-linear") is None
    assert evaluate(h100, "attention-linear", wl).time_s < floor_time_s(h100, wl, "flash3")[0] / 5


def test_report_names_a_point_measured_under_the_floor(tmp_path):
    csv = tmp_path / "mine.csv"  # row 2: 64 requests of 4k keys read 1.07 GB, 321 us at 3.35 TB/s
    csv.write_text("hardware,algorithm,batch,heads,kv_heads,head_dim,seq_len,kv_len,measured_ms\n"
                   "h100,flash-decoding,64,32,8,128,1,4k,0.40\n"
                   "h100,flash-decoding,64,32,8,128,1,4k,0.12\n")
    r = CliRunner().invoke(cli, ["validate", "report", str(csv), "--format", "json"])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.output.splitlines() if line.startswith("attnsim: note:")]
    assert len(notes) == 2 and "row 2: measured 120 us is under the 321 us" in notes[0], notes
    assert "timed in more than one row (rows 1, 2" in notes[1]  # the same call twice: said once
    points = json.loads(r.output[:r.output.index("attnsim: note:")])["points"]
    assert [p["below_floor"] for p in points] == [False, True]
    assert points[0]["floor_bound"] == "hbm" and points[0]["floor_s"] == pytest.approx(321e-6, rel=0.01)


def test_calibrate_refuses_a_point_measured_under_the_floor(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("hardware,algorithm,batch,heads,kv_heads,head_dim,seq_len,kv_len,measured_ms\n"
                   + "h100,flash-decoding,64,32,8,128,1,4k,0.40\n" * 3 + "h100,flash-decoding,64,32,8,128,1,4k,0.12\n")
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(csv), "-o", str(tmp_path / "fit.toml")])
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert r.output.strip().splitlines() == [f"attnsim: error: {csv} row 4: measured 120 us is under the 321 us no "
                                             "kernel can beat on h100: check its shape, time unit and device"]
    assert not (tmp_path / "fit.toml").exists()


def test_the_scatter_rings_a_point_measured_under_the_floor(tmp_path, monkeypatch):
    from cli.plots import style, validation

    saved = []
    monkeypatch.setattr(style, "save", lambda fig, output: saved.append(fig))
    point = {"kernel": "mine", "algorithm": "flash-decoding", "causal": False, "measured_s": 1.2e-4,
             "predicted_s": 4.7e-4, "error": 2.9}
    data = {"hardware": "h100", "device": {"name": "mine.csv"},
            "points": [{**point, "below_floor": True}, {**point, "measured_s": 4e-4, "error": 0.18}]}
    validation.validation_scatter(data, "mine.csv", str(tmp_path / "v.png"))
    labels = [t.get_text() for t in saved[0].axes[0].get_legend().get_texts()]
    assert "measured under the floor no kernel can beat (1): check the row" in labels
    data["points"][0]["below_floor"] = False
    validation.validation_scatter(data, "mine.csv", str(tmp_path / "v.png"))
    assert not any("floor" in t.get_text() for t in saved[1].axes[0].get_legend().get_texts())


def test_explain_prints_the_floor_and_the_predictions_share_of_it():
    def explain(*args):
        r = CliRunner().invoke(cli, ["simulate", *args, "--explain"], env={"COLUMNS": "1000"})
        assert r.exit_code == 0, r.output
        return [line for line in r.output.splitlines() if line.startswith("floor:")]

    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    t, _ = floor_time_s(hardware("h100"), wl, "flash3")
    share = t / evaluate(hardware("h100"), "flash3", wl).time_s
    assert explain("--hw", "h100", "--algo", "flash3", "--batch", "2", "--heads", "16", "--seq-len", "8k") == [
        f"floor: {t * 1e3:.4f} ms, which no kernel beats on this GPU (every FLOP at the tensor peak at 1980 MHz); "
        f"this prediction runs at {share:.0%} of that speed"]
    decode = explain("--hw", "h100", "--algo", "flash-decoding", "--batch", "64", "--seq-len", "1", "--kv-len", "8k")
    assert len(decode) == 1 and "(the Q/K/V reads at the peak HBM bandwidth)" in decode[0]
    window = explain("--hw", "h100", "--seq-len", "8k", "--pattern", "window(1k)")  # the FLOPs of the kept scores
    assert len(window) == 1 and "(every FLOP of the scores the mask keeps at the tensor peak" in window[0]
    assert explain("--hw", "fusemax", "--seq-len", "8k") == []  # a GPU's floor
    assert explain("--hw", "h100", "--algo", "attention-linear", "--seq-len", "8k") == []  # a cascade's work differs


def test_a_locked_gpus_floor_is_at_its_lock():
    wl = Workload(seq_len=8192)
    free, locked = (floor_time_s(hardware(name), wl, "flash3")[0] for name in ("h100", "h100:1500"))
    assert locked == pytest.approx(free * 1980 / 1500)  # the SMs run no faster than the lock
    assert evaluate(hardware("h100:1500"), "flash3", wl).time_s >= locked
