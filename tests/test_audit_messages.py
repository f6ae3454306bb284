"""One-line errors and hints an audit found naming the wrong thing: each names the bad value and what is allowed."""

import pytest
from click.testing import CliRunner

from cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200"})


def one_line(r) -> str:
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1, r.output
    return lines[0]


@pytest.mark.parametrize("value", ["1.0", "-0.1", "nan"])
def test_plot_sparsity_names_a_value_out_of_range_not_the_count(tmp_path, value):
    line = one_line(run("plot", "sparsity", "--hw", "h100", "--seq-len", "4k", "--sparsity", value,
                        "-o", str(tmp_path / "x.png")))
    assert "must be in [0, 1)" in line


def test_a_comma_list_where_one_machine_is_taken_says_so():
    assert "takes one machine, not a comma list" in one_line(run("hw", "show", "h100,a100"))


def test_a_missing_cascade_file_is_no_such_file(tmp_path):
    assert "no such file" in one_line(run("cascade", "show", str(tmp_path / "none.cascade")))


def test_a_json_nan_names_its_file(tmp_path):
    f = tmp_path / "m.json"
    f.write_text('[{"hardware": "h100", "algorithm": "flash3", "seq_len": 4096, "measured_ms": NaN}]')
    assert one_line(run("validate", "report", str(f))).startswith(f"attnsim: error: {f}: NaN is not a JSON number")


def test_the_sibling_hint_keeps_the_calls_asked_for():
    r = run("validate", "evidence", "--hw", "h800", "--algo", "flash3", "--phase", "decode", "--format", "table")
    assert "--hw h20 --algo flash3 --phase decode" in " ".join(r.output.split())
    r = run("validate", "evidence", "--hw", "h100", "--algo", "flash3", "--phase", "decode", "--precision", "8-bit",
            "--format", "table")
    assert "no sm_90 part has any of these calls" in " ".join(r.output.split())
