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


def test_a_row_whose_hardware_and_device_disagree_is_refused(tmp_path):
    f = tmp_path / "m.csv"
    f.write_text("hardware,device,algorithm,seq_len,measured_ms\nh100,NVIDIA A100-SXM4-80GB,flash2,4k,1.5\n")
    line = one_line(run("validate", "report", str(f)))
    assert "row 1: hardware 'h100' and device 'NVIDIA A100-SXM4-80GB' (the a100 model) disagree" in line
    f.write_text("hardware,device,algorithm,seq_len,measured_ms\nh100,NVIDIA H100 80GB HBM3,flash2,4k,1.5\n")
    assert run("validate", "report", str(f)).exit_code == 0  # agreeing columns are fine


def test_names_are_case_blind_as_hw_show_is():
    assert run("validate", "evidence", "--hw", "H100", "--algo", "flash3", "--format", "json").exit_code == 0
    r = run("validate", "evidence", "--hw", "H100", "--algo", "flash3", "--format", "table")
    assert "no published timing" not in r.output
    assert run("cascade", "show", "ATTENTION-1PASS").exit_code == 0


def test_a_row_measured_far_over_its_prediction_gets_a_note(tmp_path):
    f = tmp_path / "slow.csv"  # 500 ms for a 4k-token FA3 call: milliseconds written for microseconds
    f.write_text("hardware,algorithm,seq_len,measured_ms\nh100,flash3,4k,500\n")
    r = CliRunner().invoke(cli, ["validate", "report", str(f), "--format", "json"])
    assert r.exit_code == 0 and "row 1: measured 500 ms, 1,102 times the" in r.stderr


def test_a_user_cascade_is_refused_where_its_inputs_are_not_q_k_v_as_fed(tmp_path):
    """simulate priced Q[e,p,x] with an invented extent, and Q[e] as if whole; both commands now point at the line."""
    good = open("docs/examples/softmax-online-2tile.cascade").read()
    assert "Q[e,p]" in good and "GM[p]" in good
    for text, says in ((good.replace("Q[e,p]", "Q[e,p,x]", 1), "Q[e,p,x] reads the attention input Q with 3 indices"),
                       (good.replace("Q[e,p]", "Q[e]", 1), "Q[e] reads the attention input Q with 1 index"),
                       (good.replace("- GM[p]", "- GMM[p]", 1), "GMM is read but never computed")):
        f = tmp_path / "c.cascade"
        f.write_text(text)
        for args in (["simulate", "--algo", f"{f}@flash2", "--seq-len", "4k"], ["cascade", "check", str(f)],
                     ["cascade", "show", str(f)]):  # show drew the table of a cascade the others refuse (audit)
            line = one_line(run(*args))
            assert says in line and f"{f}:" in line, line


def test_size_ranges_name_what_was_given():
    assert "range '1k..'" in one_line(run("sweep", "--seq-len", "1k..", "-o", "x.csv"))
    assert "an empty item" in one_line(run("sweep", "--seq-len", "1k,,2k", "-o", "x.csv"))


def test_a_binary_cascade_file_is_named_not_a_codec_trace(tmp_path):
    f = tmp_path / "b.cascade"
    f.write_bytes(b"\xff\xfe\x00binary")
    assert "not UTF-8 text (byte 0 is 0xff)" in one_line(run("cascade", "check", str(f)))


def test_a_family_with_an_at_that_names_no_machine_says_so():
    line = one_line(run("simulate", "--baseline", "flash2@nosuch", "--seq-len", "4k"))
    assert "'nosuch' after '@' is no machine" in line
