"""A user's file that times one call in several rows, or passes one file twice: the speedups pair a call once,
a note says so, the floor notes stay a handful, and calibrate refuses a file given twice and says which figure
it held rather than fitted."""

import json

from click.testing import CliRunner

from cli.main import cli


def test_a_call_timed_in_several_rows_pairs_once_and_is_noted(tmp_path):
    f = tmp_path / "rows.csv"
    f.write_text("hardware,algorithm,seq_len,causal,measured_ms\n" + "h100,flash2,4k,false,0.5\n" * 3
                 + "h100,naive,4k,false,2\n" * 2)
    r = CliRunner().invoke(cli, ["validate", "report", str(f), "--format", "json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert len(data["points"]) == 5 and len(data["speedups"]) == 1  # not 3 x 2
    assert "2 call(s) timed in more than one row (rows 1, 2, 3" in r.stderr


def test_floor_notes_stay_a_handful(tmp_path):
    f = tmp_path / "fast.csv"  # 25 rows each faster than any kernel could run them
    f.write_text("hardware,algorithm,seq_len,batch,measured_ms\n"
                 + "".join(f"h100,flash3,16k,{b},0.001\n" for b in range(1, 26)))
    r = CliRunner().invoke(cli, ["validate", "report", str(f), "--format", "json"])
    assert r.exit_code == 0, r.output
    notes = [line for line in r.stderr.splitlines() if "under the" in line or "more rows measured" in line]
    assert len(notes) == 11 and notes[-1].startswith("attnsim: note: 15 more rows measured under that floor")


def test_calibrate_refuses_a_file_given_twice_and_says_what_it_held(tmp_path):
    pub = "validation/published/fa3-paper-h100.json"
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", "--only", "wgmma", pub, pub, "-o", str(tmp_path / "x.toml")])
    assert r.exit_code == 2 and "given twice" in r.output and len(r.output.strip().splitlines()) == 1
    f = tmp_path / "one-shape.csv"  # three timings of one shape: the exposure cannot be told from the efficiency
    f.write_text("hardware,algorithm,seq_len,causal,measured_ms\n" + "h100,flash2,4k,false,0.5\n"
                 "h100,flash2,4k,false,0.6\nh100,flash2,4k,false,0.7\n")
    out = tmp_path / "fit.toml"
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(f), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "mma_sync_softmax_exposed held at 1, not fitted" in r.stderr
    assert "mma_sync_softmax_exposed   1.0000  held" in r.stdout
    assert "held at 1, not fitted, by `attnsim calibrate" in out.read_text()
