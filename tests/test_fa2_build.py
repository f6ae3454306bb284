"""FA2's split count by build: v2.5.7 and later ask the heuristic over twice the SMs, earlier releases (the
FlashInfer post's FA 2.4.2) over the SMs; a published file's ``fa2_build`` says which one it timed."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware
from simulator.gpu_kernels import fa2_splits
from simulator.kernel_configs import current_fa2_build, fa2_build
from simulator.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
DECODE = Workload(batch=1, heads=32, kv_heads=32, head_dim=128, seq_len=1, kv_len=32768)


def test_fa2_2_4_2_splits_a_few_cta_call_over_the_sms_and_today_over_twice_them():
    h100 = hardware("h100")
    # 32 heads x 1 query block, 256 key blocks of 128: the first eligible split count within 85% of the best
    # wave efficiency, over 264 "SMs" today (7 x 32 = 224 CTAs) and over 132 in 2.4.2 (4 x 32 = 128 of 132)
    assert fa2_splits(h100, DECODE) == 7
    with fa2_build("2.4.2"):
        assert current_fa2_build() == "2.4.2"
        assert fa2_splits(h100, DECODE) == 4
        older = evaluate(h100, "flash-decoding", DECODE).time_s
    assert current_fa2_build() == "current"
    assert older != evaluate(h100, "flash-decoding", DECODE).time_s
    full = Workload(batch=4, heads=32, head_dim=128, seq_len=256, kv_len=8192)  # 512 query blocks: no split either way
    with fa2_build("2.4.2"):
        assert fa2_splits(h100, full) == 1
    assert fa2_splits(h100, full) == 1


def test_a_bad_fa2_build_names_what_is_allowed(tmp_path):
    with pytest.raises(UserError, match="bad fa2_build '2.3': allowed current, 2.4.2"):
        with fa2_build("2.3"):
            pass
    path = ROOT / "validation" / "published" / "flashinfer-decode-h100.json"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(path.read_text()), "fa2_build": "2.3"}))
    r = CliRunner().invoke(cli, ["validate", "report", str(bad)])
    assert r.exit_code == 2 and "fa2_build" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("name", ["flashinfer-decode-h100.json", "flashinfer-decode-a100-pcie.json"])
def test_the_flashinfer_post_times_fa2_2_4_2_and_its_files_say_so(name):
    doc = json.loads((ROOT / "validation" / "published" / name).read_text())
    assert doc["fa2_build"] == "2.4.2" and "v2.4.2" in doc["fa2_build_why"]
    assert any(p["kernel"].startswith("flash-attn-2.4.2") for p in doc["points"])


def test_the_post_s_fa2_append_of_256_queries_runs_unsplit_as_2_4_2_does():
    """Fig. 7's FA 2.4.2 line at 256 queries is flat near 150 TFLOP/s on the H100: 32 heads x 4 query blocks of 64
    reach 0.8 x 132 SMs, so v2.4.2 does not split, and the call runs 64 CTAs on 64 SMs; today's heuristic (over
    264) splits it in 2 and would run twice as fast."""
    from validation.report import predict

    doc = json.loads((ROOT / "validation" / "published" / "flashinfer-append-h100.json").read_text())
    points = [p for p in doc["points"] if p["algorithm"] == "flash2" and p["seq_len"] == 256 and p["kv_len"] >= 16384]
    assert len(points) == 3
    as_built = predict({**doc, "points": points}, None, [])
    today = predict({**{k: v for k, v in doc.items() if k != "fa2_build"}, "points": points}, None, [])
    assert all(abs(p["error"]) < 0.12 for p in as_built)
    assert all(p["error"] < -0.4 for p in today)


def test_your_own_measurements_may_name_the_builds_they_timed(tmp_path):
    point = {"hardware": "h100", "algorithm": "flash2", "heads": 32, "seq_len": 256, "kv_len": 65536,
             "scope": "kernel-warm", "measured_ms": 1.8}
    own = tmp_path / "own.json"
    predicted = {}
    for build in (None, "2.4.2"):
        own.write_text(json.dumps({"points": [point], **({"fa2_build": build} if build else {})}))
        r = CliRunner().invoke(cli, ["validate", "report", str(own), "--format", "json"])
        assert r.exit_code == 0, r.output
        predicted[build] = json.loads(r.stdout)["points"][0]["predicted_s"]
    assert predicted["2.4.2"] > 1.5 * predicted[None]  # unsplit, 64 lone CTAs, against two splits
    own.write_text(json.dumps({"points": [point], "fa2_build": "2.3"}))
    r = CliRunner().invoke(cli, ["validate", "report", str(own)])
    assert r.exit_code == 2 and r.output.count("\n") == 1
    assert "own.json: bad fa2_build '2.3': allowed current, 2.4.2" in r.output and "row" not in r.output


def test_the_report_says_which_builds_it_predicted_as():
    path = str(ROOT / "validation" / "published" / "flashinfer-append-h100.json")
    data = json.loads(CliRunner().invoke(cli, ["validate", "report", path, "--format", "json"]).stdout)
    assert data["builds"] == {"fa3_build": "current", "fa2_build": "2.4.2", "flashinfer_build": "0.0.1",
                              "flashmla_build": "2025-04", "natten_build": "current"}
    table = CliRunner().invoke(cli, ["validate", "report", path, "--format", "table"], env={"COLUMNS": "120"}).stdout
    assert "kernels predicted as built then: FA2 as 2.4.2, FlashInfer as 0.0.1" in table
    own = CliRunner().invoke(cli, ["validate", "report", "tests/data/synthetic-h100-results.json", "--format", "table"])
    assert own.exit_code == 0 and "predicted as built then" not in own.stdout  # today's code: nothing to say


def test_calibrate_predicts_a_files_points_as_its_builds_ran():
    """`attnsim calibrate --kernels` fits from the same predictions `validate report` makes: a file's fa2_build
    reaches the fit's points."""
    from validation.kernel_fit import _errors, _points
    from validation.report import predict

    doc = json.loads((ROOT / "validation" / "published" / "flashinfer-append-h100.json").read_text())
    hw = hardware("h100")
    points = _points({"points": [{**p, "fa2_build": doc["fa2_build"]} for p in doc["points"]]}, hw)
    assert len(points) == 10 and all(p[4] == {"fa2_build": "2.4.2"} for p in points)
    reported = sorted(p["error"] for p in predict(doc, None, []) if p["algorithm"] == "flash2")
    assert sorted(_errors(hw, points, {})) == pytest.approx(reported)
