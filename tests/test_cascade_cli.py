"""`attnsim cascade list | show | check` through click's test runner, as a user would call them."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades import cascade_names, load_cascade


def run(*args):
    return CliRunner().invoke(cli, ["cascade", *args])


def test_list_shows_every_cascade_with_its_passes_over_m():
    r = run("list")
    assert r.exit_code == 0
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in r.output.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert {name: rows[name] for name in cascade_names()} == {
        "attention-1pass": "1", "attention-2pass": "2", "attention-3pass": "3", "attention-3pass-deferred": "2",
        "attention-decode-splitkv": "1", "attention-linear": "1", "attention-naive": "2", "attention-sigmoid": "1",
        "attention-nosoftmax": "1",
        "attention-differential": "1", "attention-lightning": "1", "attention-softcap": "1"}


def test_show_text_has_einsums_passes_ops_and_footprint():
    r = run("show", "attention-3pass")
    assert r.exit_code == 0
    assert "GM[p]   = max(QK[m,p])" in r.output and "mac=E*M*P" in r.output
    assert "passes: e=1, f=1, m=3, p=1" in r.output and "live footprint per query row over m: M" in r.output


def test_show_marks_initialisation_lines_and_the_split_rank_pass():
    assert "RM[0,p]       = -inf" in run("show", "attention-1pass").output
    assert "2 (m2)" in run("show", "attention-decode-splitkv").output


def test_show_json_has_the_documented_keys():
    r = run("show", "attention-1pass", "--json")
    data = json.loads(r.output)
    assert {"name", "einsums", "passes", "ops", "inputs", "outputs"} <= set(data)
    assert data["name"] == "attention-1pass" and data["passes"]["m"] == 1
    assert data["ops"]["BQK"] == {"mac": "E*M0*M1*P"} and data["ops"]["AV"] == {"div": "F*P"}
    assert data["einsums"][0] == {"output": "BK", "text": "BK[e,m1,m0]   = K[e, m1*M0 + m0]", "init": None}
    assert set(data["inputs"]) == {"Q", "K", "V"} and data["outputs"] == ["AV"]
    assert data["footprint_per_query"] == "F + 2"


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_graph_is_written(tmp_path, suffix):
    out = tmp_path / f"g{suffix}"
    r = run("show", "attention-1pass", "--graph", str(out))
    assert r.exit_code == 0 and out.stat().st_size > 5000
    assert out.read_bytes()[:4] == b"\x89PNG" if suffix == ".png" else b"<svg" in out.read_bytes()[:2000]


def test_check_passes_for_every_bundled_cascade():
    for name in cascade_names():
        kv_len = "16" if "P0" in load_cascade(name).default_extents else "32"  # lightning: queries chunked with keys
        r = run("check", name, "--seq-len", "16", "--kv-len", kv_len, "--head-dim", "8")
        assert r.exit_code == 0 and "ok" in r.output, r.output


def test_check_fails_with_exit_1_for_a_wrong_cascade(tmp_path):
    wrong = tmp_path / "unnormalised.cascade"
    wrong.write_text("# softmax without the normaliser\n# reference: softmax\n"
                     "QK[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,m]\n")
    r = run("check", str(wrong))
    assert r.exit_code == 1 and "FAIL" in r.output


def test_a_users_file_can_be_shown_and_checked(tmp_path):
    inside, deferred = tmp_path / "inside.cascade", tmp_path / "deferred.cascade"
    head = "# reference: softmax\nS[m,p] = Q[e,p] * K[e,m]\nG[p] = max(S[m,p])\nN[m,p] = exp(S[m,p] - G[p])\n" \
           "D[p] = sum(N[m,p])\n"
    inside.write_text(head + "O[f,p] = N[m,p] * V[f,m] / D[p]\n")  # every term waits for D: a third pass
    deferred.write_text(head + "NV[f,p] = N[m,p] * V[f,m]\nO[f,p] = NV[f,p] / D[p]\n")
    assert json.loads(run("show", str(inside), "--json").output)["passes"]["m"] == 3
    assert json.loads(run("show", str(deferred), "--json").output)["passes"]["m"] == 2
    assert run("check", str(inside), "--seq-len", "8").exit_code == 0
    assert run("check", str(deferred), "--seq-len", "8").exit_code == 0


@pytest.mark.parametrize("args, needle", [
    (("show", "nope"), "unknown cascade 'nope': allowed attention-1pass"),
    (("check", "attention-1pass", "--kv-len", "30"), "not a multiple of M0=4"),
    (("check", "attention-1pass", "--seq-len", "0"), "--seq-len"),
    (("show", "attention-1pass", "--graph", "g.txt"), "g.txt"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_a_malformed_file_is_one_line_naming_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.cascade"
    bad.write_text("# reference: softmax\nQK[m,p] = Q[e,p] * K[e,m]\nGM[p] = maximum(QK[m,p])\n")
    r = run("show", str(bad))
    assert r.exit_code == 2
    assert r.output.strip() == f"attnsim: error: {bad}:3:9: unknown function 'maximum': allowed exp, elu1, sigmoid, tanh, max " \
                               f"(and the reductions max, sum)"


def test_help_stays_light():
    code = "import sys; from cli.main import cli; print(sorted({'sympy', 'networkx', 'matplotlib'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_check_offers_every_reference_the_library_names():
    """`cascade check --reference` takes each reference a cascade's '# reference:' line may name (the bundled
    attention-differential, -lightning and -nosoftmax default to theirs), and none."""
    from cli.cascade_cmd import check
    from einsum_cascades.reference import REFERENCES

    choice = next(p for p in check.params if p.name == "reference").type.choices
    assert set(choice) == set(REFERENCES) | {"none"}


def test_check_refuses_inputs_past_the_oracle_before_drawing_them():
    """`cascade check --seq-len 1g` drew 128 GiB of random inputs (a MemoryError traceback) before the executor's
    size check could refuse the run: now one line, exit 2, as at 64k."""
    for n in ("1g", "64k"):
        result = CliRunner().invoke(cli, ["cascade", "check", "attention-1pass", "--seq-len", n])
        assert result.exit_code == 2 and "numpy oracle" in result.output and "Traceback" not in result.output
