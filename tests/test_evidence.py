"""`attnsim validate evidence` and the `--explain` line that quotes it: the model's errors on the bundled published
timings per hardware model and family, the points a bundled figure was fitted from counted apart."""

import csv
import io
import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from validation.measured_file import load
from cli.main import cli
from validation.evidence import evidence, published_results
from validation.report import predict

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "validation" / "published"


def run(*args):
    return CliRunner().invoke(cli, list(args))


def rows_json(*args) -> list[dict]:
    r = run("validate", "evidence", "--format", "json", *args)
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_a_row_pools_the_sets_points_as_validate_report_predicts_them():
    """Recomputed from `validate report`'s own predictions of the row's sets: the same points, median, bias,
    worst and count within 10%."""
    row = rows_json("--hw", "h100", "--algo", "flashinfer-decode")[0]
    assert row["n"] >= 20 and len(row["sets"]) >= 2
    errors = [p["error"] for name in row["sets"] for p in predict(load(str(PUBLISHED / name)), None, [])
              if p["algorithm"] == "flashinfer-decode" and p["hardware"] == "h100"]
    assert len(errors) == row["n"]
    assert row["model_median_abs_error"] == pytest.approx(statistics.median(abs(e) for e in errors))
    assert row["model_median_error"] == pytest.approx(statistics.median(errors))
    assert row["model_max_abs_error"] == pytest.approx(max(abs(e) for e in errors))
    assert row["model_within_10pct"] == sum(abs(e) <= 0.1 for e in errors)
    q1, _, q3 = statistics.quantiles([abs(e) for e in errors], n=4, method="inclusive")
    assert row["model_abs_error_quartiles"] == pytest.approx([q1, q3])


def test_points_a_figure_was_fitted_from_are_not_evidence():
    """b200.toml's mma_sync figures are fitted from every B200 flash2 set (their sources name the calibrate
    command): those points count apart, and the row holds no evidence of its own."""
    row = rows_json("--hw", "b200", "--algo", "flash2")[0]
    assert row["n"] == 0 and row["model_median_abs_error"] is None
    assert row["fitted_points"] >= 30 and "tritonbench-pr171-b200.json" in row["fitted_sets"]
    # every point of every row is either evidence or fitted, and each set's rows agree with bench/accuracy's roles
    for r in published_results():
        for file_row in r["rows"]:
            ev = evidence((file_row["hardware"],), (file_row["algorithm"],))[0]
            target = ev["fitted_sets"] if file_row["role"].startswith("fit") else ev["sets"]
            assert r["file"] in target


def test_filters_do_not_change_the_figures():
    every = {(r["hardware"], r["algorithm"]): r for r in evidence()}
    for r in evidence(("h100", "a100-pcie"), ("flash3", "flashinfer-decode")):
        assert r == every[(r["hardware"], r["algorithm"])]
    assert {r["hardware"] for r in rows_json("--hw", "h100,h200")} == {"h100", "h200"}


def test_csv_and_table():
    r = run("validate", "evidence", "--hw", "h100", "--format", "csv")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.output)))
    assert rows and all(row["hardware"] == "h100" for row in rows)
    assert any(row["algorithm"] == "flash3" and int(row["n"]) > 0 for row in rows)
    r = run("validate", "evidence", "--hw", "h100", "--algo", "flash3", "--format", "table")
    assert r.exit_code == 0 and "flash3" in r.output and "Traceback" not in r.output


def test_no_timing_is_an_answer_not_an_error():
    r = run("validate", "evidence", "--hw", "h800", "--algo", "flash3", "--format", "table")
    assert r.exit_code == 0, r.output
    assert "no published timing of flash3 on h800" in " ".join(r.output.split())
    assert rows_json("--hw", "h800", "--algo", "flash3") == []


@pytest.mark.parametrize("args, says", [
    (("--hw", "h100x"), "unknown hardware model 'h100x'"),
    (("--hw", "h100:1500"), "unknown hardware model 'h100:1500'"),
    (("--algo", "fa3"), "did you mean flash3?"),
    (("--algo", ""), "empty"),
    (("--format", "xml"), "xml"),
])
def test_bad_input_is_one_line(args, says):
    r = run("validate", "evidence", *args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.output, r.output


def _explain(*args) -> str:
    r = run("simulate", *args, "--explain")
    assert r.exit_code == 0, r.output
    return " ".join(r.output.split())


def test_explain_quotes_the_evidence():
    row = evidence(("h100",), ("flash3",), "prefill", "16-bit")[0]
    text = _explain("--hw", "h100", "--algo", "flash3")
    assert (f"published evidence (attnsim validate evidence --hw h100 --algo flash3 --phase prefill --precision "
            f"16-bit): {row['n']} prefill 16-bit timings of flash3 on h100 in {len(row['sets'])} sets, none used in "
            f"a fit: median |error| {row['model_median_abs_error']:.1%}") in text
    assert "only the" in _explain("--hw", "b200", "--algo", "flash2")  # fitted points only
    assert "no timing of flash3 on h800" in _explain("--hw", "h800", "--algo", "flash3")
    assert ("published evidence (attnsim validate evidence --hw h100 --algo flash3 --phase prefill --precision 16-bit)"
            in _explain("--hw", "h100:1500", "--algo", "flash3"))
    assert "published evidence" not in _explain("--hw", "fusemax")  # accelerators: no published kernel timings
    # a cascade with no timing of its own: the family it runs on, said as such
    assert (f"published evidence: none of attention-sigmoid itself; of the family it runs on, flash3 (attnsim "
            f"validate evidence --hw h100 --algo flash3 --phase prefill --precision 16-bit): {row['n']} prefill "
            f"16-bit timings of flash3") in _explain("--hw", "h100", "--algo", "attention-sigmoid")
    assert "only the 6 prefill 16-bit timings of attention-nosoftmax@flash2 on a100" in _explain(
        "--hw", "a100", "--algo", "attention-nosoftmax@flash2")


def test_a_part_without_timings_quotes_another_part_of_its_architecture():
    """No published FA4 timing of a B300 exists; the GB300 (the same sm_103 SM) has some: --explain says there are none
    on the B300, then quotes the GB300's, named as another part. A family no part of its architecture has timings
    of still rests on its mechanisms alone."""
    row = evidence(("gb300",), ("flash4",), "prefill", "16-bit")[0]
    text = _explain("--hw", "b300", "--algo", "flash4", "--batch", "2", "--seq-len", "8k", "--dtype", "bf16")
    assert ("published evidence: no timing of flash4 on b300 in attnsim's sets; on gb300, another sm_103 part "
            "(attnsim validate evidence --hw gb300 --algo flash4 --phase prefill --precision 16-bit): "
            f"{row['n']} prefill 16-bit timings of flash4 on gb300") in text
    h800 = _explain("--hw", "h800", "--algo", "flash3")
    assert "no timing of flash3 on h800 in attnsim's sets; on h" in h800 and "another sm_90 part" in h800
    alone = _explain("--hw", "b300", "--algo", "flashinfer-prefill-fa2", "--seq-len", "4k", "--dtype", "bf16")
    assert "the prediction rests on the kernel's mechanisms" in alone and "another" not in alone


def test_explain_quotes_the_evidence_of_calls_like_its_own():
    """A call quotes the timings of calls like it (its phase, decode or prefill, and its input width) of its family
    on its GPU; where the sets hold none, the line says so before it quotes the nearest they do hold: the same
    phase, then the same width, then every call."""
    decode = evidence(("h200",), ("flash3",), "decode")[0]
    prefill = evidence(("h200",), ("flash3",), "prefill", "16-bit")[0]
    prefill8 = evidence(("h200",), ("flash3",), "prefill", "8-bit")[0]
    assert decode["n"] and prefill["n"] and prefill8["n"]
    assert decode["n"] + prefill["n"] + prefill8["n"] == evidence(("h200",), ("flash3",))[0]["n"]
    assert (f"(attnsim validate evidence --hw h200 --algo flash3 --phase decode --precision 16-bit): {decode['n']} "
            f"decode 16-bit timings of flash3 on h200") in _explain("--hw", "h200", "--algo", "flash3", "--seq-len",
                                                                     "1", "--kv-len", "8k", "--dtype", "bf16")
    assert (f"(attnsim validate evidence --hw h200 --algo flash3 --phase prefill --precision 16-bit): "
            f"{prefill['n']} prefill 16-bit timings") in _explain("--hw", "h200", "--algo", "flash3", "--seq-len", "2k")
    # no 8-bit decode call of flash3 on the H200: its decode calls, every width
    assert (f"(attnsim validate evidence --hw h200 --algo flash3 --phase decode): none of decode 8-bit calls; "
            f"{decode['n']} decode timings") in _explain("--hw", "h200", "--algo", "flash3", "--seq-len", "1",
                                                         "--kv-len", "8k", "--dtype", "fp8")
    # no decode call of flash3 on the H100 at all: its 16-bit calls (all prefill)
    assert not evidence(("h100",), ("flash3",), "decode")
    sixteen = evidence(("h100",), ("flash3",), None, "16-bit")[0]
    assert (f"(attnsim validate evidence --hw h100 --algo flash3 --precision 16-bit): none of decode 16-bit calls; "
            f"{sixteen['n']} 16-bit timings") in _explain("--hw", "h100", "--algo", "flash3", "--seq-len", "1",
                                                          "--kv-len", "8k")
    # the H100's FA3 FP8 set: an 8-bit call quotes it alone, a 16-bit call leaves it out (worst 50% against 27%)
    eight = evidence(("h100",), ("flash3",), "prefill", "8-bit")[0]
    assert eight["n"] == 24 and eight["model_median_abs_error"] > 2 * sixteen["model_median_abs_error"]
    assert f"{eight['n']} prefill 8-bit timings" in _explain("--hw", "h100", "--algo", "flash3", "--dtype", "fp8")
    assert ("(attnsim validate evidence --hw b200 --algo flash2): none of decode 16-bit calls; only the 32 16-bit "
            "timings ") in _explain("--hw", "b200", "--algo", "flash2", "--seq-len", "1", "--kv-len", "8k")


def test_phase_and_precision_split_each_rows_points():
    """--phase keeps the decode calls (at most 16 queries a request) or the prefill calls, --precision the calls of
    one input width: per (GPU, family) each partitions the row's points, held out and fitted alike, and each row
    says its phase and precision."""
    every = {(r["hardware"], r["algorithm"]): r for r in rows_json()}
    halves = {ph: {(r["hardware"], r["algorithm"]): r for r in rows_json("--phase", ph)}
              for ph in ("decode", "prefill")}
    assert {r["phase"] for r in every.values()} == {"all"}
    assert all(r["phase"] == ph for ph, rows in halves.items() for r in rows.values())
    for key, row in every.items():
        parts = [halves[ph].get(key) for ph in ("decode", "prefill")]
        assert sum(p["n"] for p in parts if p) == row["n"], key
        assert sum(p["fitted_points"] for p in parts if p) == row["fitted_points"], key
    assert len(halves["decode"]) > 10 and len(halves["prefill"]) > 10
    widths = {pr: {(r["hardware"], r["algorithm"]): r for r in rows_json("--precision", pr)}
              for pr in ("8-bit", "16-bit")}
    assert {r["precision"] for r in every.values()} == {"all"}
    for key, row in every.items():  # the published sets hold 8- and 16-bit calls only
        assert sum(w[key]["n"] for w in widths.values() if key in w) == row["n"], key
    # a decode row is recomputed from validate report's own predictions of its sets' one-query calls
    row = halves["decode"][("h200", "flash3")]
    errors = [p["error"] for name in row["sets"] for p in predict(load(str(PUBLISHED / name)), None, [])
              if p["algorithm"] == "flash3" and p["hardware"] == "h200" and p["seq_len"] <= 16]
    assert len(errors) == row["n"] and row["model_median_abs_error"] == pytest.approx(
        statistics.median(abs(e) for e in errors))
    r = run("validate", "evidence", "--hw", "h800", "--algo", "flash3", "--phase", "decode", "--format", "table")
    assert r.exit_code == 0 and "no published timing of flash3 (decode calls) on h800" in " ".join(r.output.split())
    # --split: a row per phase and width of each GPU and family, partitioning the row of every call
    split = rows_json("--split")
    assert {(r["phase"], r["precision"]) for r in split} <= {(ph, pr) for ph in ("decode", "prefill")
                                                             for pr in ("8-bit", "16-bit")}
    for key, row in every.items():
        parts = [r for r in split if (r["hardware"], r["algorithm"]) == key]
        assert sum(r["n"] for r in parts) == row["n"] and sum(r["fitted_points"] for r in parts) == row["fitted_points"]
    assert [(r["phase"], r["precision"]) for r in rows_json("--split", "--hw", "h200", "--algo", "flash3")] == [
        ("decode", "16-bit"), ("prefill", "8-bit"), ("prefill", "16-bit")]
    assert {r["phase"] for r in rows_json("--split", "--phase", "decode")} == {"decode"}
    r = run("validate", "evidence", "--split", "--hw", "h100", "--format", "table")
    assert r.exit_code == 0 and "prefill 8-bit" in r.output and "prefill 16-bit" in r.output
    r = run("validate", "evidence", "--phase", "training")
    assert r.exit_code == 2 and "'training' is not one of 'decode', 'prefill'" in r.output


def test_explain_on_a_machine_given_as_a_toml(tmp_path):
    """--explain re-runs the point on the machine as given: a TOML's path, not its name (which no bundled model
    has), and says no published timing is of a model of the user's own."""
    toml = tmp_path / "mine.toml"
    toml.write_text((ROOT / "gpu_models" / "specs" / "h100.toml").read_text().replace('name = "h100"',
                                                                                       'name = "my-h100"', 1))
    text = _explain("--hw", str(toml), "--seq-len", "2k")
    assert "published evidence: none for a model of your own (my-h100)" in text
    points = tmp_path / "p.csv"
    points.write_text("seq_len\n2k\n")
    assert "my-h100" in _explain("--from", str(points), "--hw", str(toml))
    # a copy that keeps the bundled name is refused as it loads (its rows would read as the bundled model's); two
    # files of one name of their own are refused side by side: notes naming the machine could not tell them apart
    bundled = (ROOT / "gpu_models" / "specs" / "h100.toml").read_text()
    same = tmp_path / "same.toml"
    same.write_text(bundled)
    r = run("simulate", "--hw", str(same), "--explain")
    assert r.exit_code == 2 and "is named 'h100', the name of a bundled model: pick another name" in r.output
    twin = tmp_path / "twin.toml"
    twin.write_text(toml.read_text())
    r = run("simulate", "--hw", f"{toml},{twin}")
    assert r.exit_code == 2 and "both machines named 'my-h100'" in r.output and len(r.output.splitlines()) == 1


def test_plot_evidence(tmp_path):
    """The figure: one line per row with evidence; a selection with none is a one-line error, not an empty figure."""
    import matplotlib.image

    out = tmp_path / "evidence.png"
    r = run("plot", "evidence", "--hw", "h100,h200", "-o", str(out))
    assert r.exit_code == 0, r.output
    height, width = matplotlib.image.imread(str(out)).shape[:2]
    rows = [row for row in evidence(("h100", "h200")) if row["n"]]
    assert width > 600 and height > 40 * len(rows)  # a line per row, each readable
    r = run("plot", "evidence", "--hw", "h800", "--algo", "flash3", "-o", str(tmp_path / "none.png"))
    assert r.exit_code == 2 and "nothing to plot" in r.output and r.output.strip().count("\n") == 0, r.output
    assert not (tmp_path / "none.png").exists()
    # one phase's calls: fewer rows (the H100 sets hold fewer families with decode calls), and none is an error
    decode = tmp_path / "decode.png"
    assert run("plot", "evidence", "--hw", "h100,h200", "--phase", "decode", "-o", str(decode)).exit_code == 0
    decode_rows = [row for row in evidence(("h100", "h200"), phase="decode") if row["n"]]
    assert 0 < len(decode_rows) < len(rows)
    assert matplotlib.image.imread(str(decode)).shape[0] < height
    r = run("plot", "evidence", "--hw", "h100", "--algo", "flash3", "--phase", "decode", "-o", str(tmp_path / "n.png"))
    assert r.exit_code == 2 and "in decode calls" in r.output and r.output.strip().count("\n") == 0, r.output
    eight = tmp_path / "eight.png"  # one input width: the 8-bit calls' few rows
    assert run("plot", "evidence", "--precision", "8-bit", "-o", str(eight)).exit_code == 0
    assert 0 < len([row for row in evidence(precision="8-bit") if row["n"]]) < len(rows)
    assert matplotlib.image.imread(str(eight)).shape[0] < height
    # --split: a row per phase and width of each GPU and family (the H100's FA3 and FlashInfer single decode hold
    # 8- and 16-bit calls, so the figure has more rows than without it)
    whole, regimes = tmp_path / "whole.png", tmp_path / "regimes.png"
    assert run("plot", "evidence", "--hw", "h100", "-o", str(whole)).exit_code == 0
    assert run("plot", "evidence", "--hw", "h100", "--split", "-o", str(regimes)).exit_code == 0
    assert matplotlib.image.imread(str(regimes)).shape[0] > matplotlib.image.imread(str(whole)).shape[0]
    r = run("plot", "evidence", "--precision", "32-bit", "-o", str(tmp_path / "n.png"))
    assert r.exit_code == 2 and "in 32-bit calls" in r.output, r.output


def test_validate_report_sets_a_users_timings_beside_the_published_evidence(tmp_path):
    """A user's file: after the summary, a line per (model, family) of its points; a bundled set: none (it would
    quote itself)."""
    mine = tmp_path / "mine.csv"
    mine.write_text("hardware,algorithm,batch,heads,kv_heads,head_dim,seq_len,kv_len,causal,measured_ms\n"
                    "h100,flash3,2,32,8,128,4k,4k,true,0.45\nh800,flash3,1,32,32,128,4k,4k,true,0.5\n"
                    "h200,flash3,64,32,8,128,1,8k,false,0.3\n")
    r = run("validate", "report", str(mine), "--format", "table")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    row = evidence(("h100",), ("flash3",), "prefill", "16-bit")[0]
    assert f"{row['n']} prefill 16-bit timings of flash3 on h100" in text and "no timing of flash3 on h800" in text
    decode = evidence(("h200",), ("flash3",), "decode", "16-bit")[0]  # a decode call: its GPU's and family's decode
    assert f"--phase decode --precision 16-bit): {decode['n']} decode 16-bit timings of flash3 on h200" in text
    r = run("validate", "report", str(PUBLISHED / "fa3-paper-h100.json"), "--format", "table")
    assert r.exit_code == 0 and "published evidence" not in r.output
    assert "published evidence" not in run("validate", "report", str(mine), "--format", "json").output


def test_the_evidence_table_points_to_another_part_of_the_architecture():
    """`validate evidence --hw b300 --algo flash4` finds no row; it says so and names the command for the GB300's."""
    r = run("validate", "evidence", "--hw", "b300", "--algo", "flash4", "--format", "table")
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "no published timing of flash4 on b300" in text
    assert "another sm_103 part has some: attnsim validate evidence --hw gb300 --algo flash4" in text
