"""Input mends of a user audit: a JSON key given twice, a measured point without its length, --hw replacing rows'
own GPUs, run_points on no list, integral floats as counts, ``sweep -o -``, and hardware TOMLs beside a points file."""

import json
from pathlib import Path

import numpy as np
import pytest

from einsum_cascades.errors import UserError
from einsum_cascades.units import parse_count
from simulator.api import run_points, simulate
from simulator.points_file import read_points
from validation.measured_file import load

ROOT = Path(__file__).resolve().parent.parent
H100_TOML = ROOT / "gpu_models" / "specs" / "h100.toml"


from cli_runner import one_line_error, run  # noqa: E402  (tests/cli_runner.py)


# ---------------------------------------------------------------- 1a: a JSON key given twice

@pytest.mark.parametrize("command, name, text", [
    (("validate", "report"), "m.json",
     '[{"hardware": "h100", "seq_len": 4096, "measured_ms": 0.5}, '
     '{"hardware": "h100", "algorithm": "flash3", "seq_len": 4096, "measured_ms": 0.5, "measured_ms": 0.7}]'),
    (("validate", "report"), "m.json", '{"points": [{"seq_len": 4096, "measured_ms": 0.5}, '
                                       '{"seq_len": 1024, "measured_ms": 0.5, "measured_ms": 0.7}]}'),
    (("simulate", "--from"), "p.json", '[{"seq_len": 4096}, {"seq_len": 4096, "measured_ms": 1, "measured_ms": 2}]'),
])
def test_a_json_point_giving_a_key_twice_is_refused_naming_the_key_and_the_row(tmp_path, command, name, text):
    """json.loads keeps the last of two values silently (0.7 was predicted as if measured); as a CSV header naming
    a column twice, it is an error naming the key and the row."""
    path = tmp_path / name
    path.write_text(text)
    line = one_line_error(*command, path)
    assert f"{name} row 2: key 'measured_ms' appears twice" in line


def test_a_results_file_point_or_top_level_key_given_twice_is_refused(tmp_path):
    point = '{"kernel": "k", "algorithm": "flash3", "seq_len": 4096, "seq_len": 8192, "measured_s": 0.001}'
    path = tmp_path / "r.json"
    path.write_text('{"format": "x", "device": {"name": "H100"}, "points": [' + point + "]}")
    assert "point 0: key 'seq_len' appears twice" in one_line_error("validate", "report", path)
    path.write_text('{"points": [{"seq_len": 4096, "measured_s": 1}], "points": []}')
    assert "key 'points' appears twice at the top level" in one_line_error("validate", "report", path)


# ---------------------------------------------------------------- 1b: a measured point needs its seq_len

@pytest.mark.parametrize("text, needle", [
    ("hardware,algorithm,causal,measured_ms\nh100,flash3,true,0.5\n", "row 1: no seq_len column"),
    ("seq_len,measured_ms\n4k,0.5\n,0.6\n", "row 2: no seq_len:"),
])
def test_a_measured_point_without_its_length_is_refused_not_predicted_at_4096(tmp_path, text, needle):
    path = tmp_path / "m.csv"
    path.write_text(text)
    line = one_line_error("validate", "report", path)
    assert needle in line and "needs seq_len" in line and "measured time" in line


def test_a_measured_point_with_its_length_still_takes_the_documented_defaults_for_the_other_sizes(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("seq_len,measured_ms\n8k,1.0\n")
    p = load(str(path))["points"][0]
    assert p["seq_len"] == 8192 and "heads" not in p and "batch" not in p  # simulate's defaults, as FORMAT.md says


def test_a_points_file_for_simulate_may_still_leave_seq_len_out(tmp_path):
    """--from asks for predictions, not comparisons: a missing size is simulate's default there, as documented."""
    path = tmp_path / "p.csv"
    path.write_text("hardware,algorithm\nh100,flash3\n")
    assert read_points(str(path)) == [{"hardware": "h100", "algorithm": "flash3"}]


# ---------------------------------------------------------------- 1c: --hw overriding the rows' own GPUs

def test_hw_replacing_the_rows_own_hardware_or_device_says_how_many_on_stderr(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("hardware,device,seq_len,measured_ms\nh100,,4k,0.5\n,NVIDIA A100-SXM4-80GB,4k,1.0\n"
                    ",NVIDIA H200,4k,0.4\n,,4k,0.5\n")
    r = run("validate", "report", path, "--hw", "a100", "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["points"][0]["hardware"] == "a100"  # notes on stderr only
    assert "--hw a100 overrode the hardware or device column of 2 rows (of 4)" in r.stderr  # h100 and the H200
    path.write_text("hardware,seq_len,measured_ms\nh100,4k,0.5\na100,4k,1.0\n")
    r = run("validate", "report", path, "--hw", "h100", "--format", "json")
    assert "column of 1 row (of 2): it is predicted on h100, not on the GPU it names" in r.stderr  # the A100 row


def test_hw_naming_the_rows_own_model_prints_no_note(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("hardware,seq_len,measured_ms\nh100,4k,0.5\n")
    r = run("validate", "report", path, "--hw", "H100", "--format", "json")
    assert r.exit_code == 0 and "overrode" not in r.output, r.output


def test_a_device_disagreeing_with_the_hardware_column_is_still_an_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("hardware,device,seq_len,measured_ms\nh100,NVIDIA A100-SXM4-80GB,4k,0.5\n")
    assert "disagree" in one_line_error("validate", "report", path)


# ---------------------------------------------------------------- 2: run_points' argument, integral floats

@pytest.mark.parametrize("points", [5, 3.5, None, object()])
def test_run_points_on_no_list_is_a_user_error_naming_the_argument(points):
    with pytest.raises(UserError, match=r"run_points: points is \w+; pass a list \(or another sequence\) of point "
                                        "dicts"):
        run_points(points)


@pytest.mark.parametrize("value", [1024.0, np.float64(1024.0), np.float32(1024.0)])
def test_an_integral_float_count_is_the_int_it_holds_in_the_api(value):
    expected = run_points([dict(seq_len=1024, heads=16)])[0]
    row = run_points([dict(seq_len=value, heads=float(16))])[0]
    assert row["seq_len"] == 1024 and type(row["seq_len"]) is int and row["time_s"] == expected["time_s"]
    assert simulate(seq_len=value)["time_s"] == simulate(seq_len=1024)["time_s"]


def test_integral_floats_on_the_columns_path_match_ints():
    """64 points and more are grouped over numpy columns: the floats run there or alone, with the ints' numbers."""
    ints = run_points([dict(seq_len=1024 * i) for i in range(1, 70)])
    floats = run_points([dict(seq_len=float(1024 * i)) for i in range(1, 70)])
    assert [r["time_s"] for r in floats] == [r["time_s"] for r in ints]


@pytest.mark.parametrize("value", [1024.5, np.float64(1024.5), float("inf"), float("nan")])
def test_a_fractional_count_is_still_refused_with_the_existing_message(value):
    with pytest.raises(UserError, match=r"bad seq-len .*: must be a positive integer"):
        run_points([dict(seq_len=value)])


def test_parse_count_takes_an_integral_float_and_nothing_looser():
    assert (parse_count(4096.0), parse_count("4096.0"), parse_count(" 4096.00 "), parse_count("4k")) == (4096,) * 4
    for bad in ("4096.5", "1.5k", "4.0k", "4096.", ".0", 4096.5):
        with pytest.raises(UserError, match="use a positive integer with an optional k/m/g suffix"):
            parse_count(bad)


def test_points_and_measurement_files_take_counts_written_as_floats(tmp_path):
    """pandas writes an int column with a blank cell as floats (4096.0); JSON writers may write 4096.0 too."""
    csv_points = tmp_path / "p.csv"
    csv_points.write_text("seq_len,heads,num_splits,kv_len\n4096.0,32.0,,\n1,32,2.0,65536.0\n")
    assert read_points(str(csv_points)) == [{"seq_len": 4096, "heads": 32},
                                            {"seq_len": 1, "heads": 32, "num_splits": 2, "kv_len": 65536}]
    json_points = tmp_path / "p.json"
    json_points.write_text('[{"seq_len": 4096.0, "num_splits": 0.0}]')
    assert read_points(str(json_points)) == [{"seq_len": 4096, "num_splits": 0}]
    measured = tmp_path / "m.json"
    measured.write_text('[{"hardware": "h100", "seq_len": 4096.0, "head_dim": 128.0, "measured_ms": 0.5}]')
    p = load(str(measured))["points"][0]
    assert (p["seq_len"], p["head_dim"]) == (4096, 128)
    measured.write_text('[{"hardware": "h100", "seq_len": 4096.7, "measured_ms": 0.5}]')
    assert "row 1: bad seq_len '4096.7': use a positive integer" in one_line_error("validate", "report", measured)


def test_the_cli_takes_an_integral_float_size_but_not_a_fractional_one():
    r = run("simulate", "--seq-len", "4096.0", "--format", "json")
    assert r.exit_code == 0 and json.loads(r.stdout)[0]["seq_len"] == 4096, r.output
    for bad in ("1.5k", "4096.5"):
        assert f"bad --seq-len '{bad}'" in one_line_error("simulate", "--seq-len", bad)


# ---------------------------------------------------------------- 3: sweep -o -, one row

@pytest.mark.parametrize("fmt", [None, "csv", "json"])
def test_sweep_to_standard_output_writes_only_the_rows_there(fmt):
    r = run("sweep", "--seq-len", "1k,2k", "--jobs", "1", "-o", "-", *(("--format", fmt) if fmt else ()))
    assert r.exit_code == 0, r.output
    if fmt == "json":
        assert [row["seq_len"] for row in json.loads(r.stdout)] == [1024, 2048]
    else:
        lines = r.stdout.splitlines()
        assert lines[0].startswith("hardware,algorithm,") and len(lines) == 3
    assert r.stderr.strip() == "wrote 2 rows to standard output"


def test_sweep_format_naming_another_format_than_the_file_is_refused(tmp_path):
    line = one_line_error("sweep", "-o", tmp_path / "x.csv", "--format", "json")
    assert "bad --format json" in line and ".csv" in line


def test_sweep_of_one_point_says_one_row(tmp_path):
    out = tmp_path / "one.json"
    r = run("sweep", "--seq-len", "1k", "-o", out)
    assert r.exit_code == 0 and r.stderr.strip() == f"wrote 1 row to {out}", r.output


# ---------------------------------------------------------------- 4: a hardware TOML beside its points file

def _points_beside_toml(tmp_path, text: str) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    text_toml = H100_TOML.read_text().replace('name = "h100"', 'name = "mine"', 1)
    assert 'name = "mine"' in text_toml  # a file keeping a bundled model's name is refused
    (folder / "mine.toml").write_text(text_toml)
    path = folder / "p.csv"
    path.write_text(text)
    return path


def test_a_relative_toml_in_a_points_file_is_found_beside_the_file(tmp_path, monkeypatch):
    path = _points_beside_toml(tmp_path, "hardware,seq_len\nmine.toml,4k\nmine.toml:1500,4k\n")
    monkeypatch.chdir(tmp_path)  # not where the TOML is
    r = run("simulate", "--from", "data/p.csv", "--format", "json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert rows[0]["time_s"] == simulate(hw=str(H100_TOML), seq_len=4096)["time_s"]  # the same figures
    assert rows[1]["hardware"].endswith(":1500")
    measured = path.with_name("m.csv")
    measured.write_text("hardware,seq_len,measured_ms\nmine.toml,4k,0.5\n")
    assert load("data/m.csv")["points"][0]["hardware"] == str(Path("data") / "mine.toml")


def test_a_relative_toml_is_still_found_in_the_current_directory(tmp_path, monkeypatch):
    path = _points_beside_toml(tmp_path, "hardware,seq_len\ndata/mine.toml,4k\n")
    monkeypatch.chdir(tmp_path)
    assert read_points(str(path)) == [{"hardware": "data/mine.toml", "seq_len": 4096}]


def test_a_toml_found_nowhere_names_the_paths_tried(tmp_path, monkeypatch):
    path = _points_beside_toml(tmp_path, "hardware,seq_len\nnope.toml,4k\n")
    monkeypatch.chdir(tmp_path)
    line = one_line_error("simulate", "--from", path)
    assert "no such hardware file 'nope.toml'" in line
    assert f"{tmp_path / 'data' / 'nope.toml'} (beside the file)" in line
    assert f"{tmp_path / 'nope.toml'} (the current directory)" in line
