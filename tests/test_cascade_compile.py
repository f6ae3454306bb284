"""Any cascade compiled to a cost on a GPU mapping (issue 11): the families are mappings of library cascades."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import Workload, evaluate, hardware, simulate

H100 = hardware("h100")


@pytest.mark.parametrize("hw_name, family", [("h100", "flash3"), ("a100", "flash2"), ("b200", "flash4"),
                                             ("h100", "flash-decoding")])
def test_the_one_pass_cascade_on_a_family_is_that_family(hw_name, family):
    """One code path: attention-1pass@FAMILY and FAMILY price the same kernel."""
    hw, wl = hardware(hw_name), Workload(batch=2, heads=16, kv_heads=4, head_dim=128, seq_len=4096, causal=True)
    assert evaluate(hw, f"attention-1pass@{family}", wl).time_s == evaluate(hw, family, wl).time_s


def test_standard_attention_is_the_three_pass_cascade_unfused():
    wl = Workload(batch=2, heads=16, seq_len=4096)
    assert evaluate(H100, "attention-3pass@unfused", wl).time_s == evaluate(H100, "naive", wl).time_s


def test_a_cascade_without_a_mapping_runs_on_the_machines_default_family():
    wl = Workload(seq_len=8192)
    assert simulate("h100", "attention-sigmoid", seq_len=8192)["time_s"] == \
        evaluate(H100, "attention-sigmoid@flash3", wl).time_s


def test_a_three_pass_cascade_is_slower_than_the_one_pass_cascade_on_h100():
    wl = Workload(heads=32, head_dim=128, seq_len=65536)
    one, three = (evaluate(H100, f"attention-{n}pass@flash3", wl) for n in (1, 3))
    assert three.time_s > 1.5 * one.time_s
    assert three.detail["passes"] == 3 and three.detail["multipass"] in ("recompute", "store")


def test_recomputing_and_storing_the_crossing_scores_are_both_priced_and_the_cheaper_taken():
    r = evaluate(H100, "attention-3pass@flash3", Workload(heads=32, seq_len=16384))
    seconds = r.detail["multipass_seconds"]
    assert set(seconds) == {"recompute", "store"}
    assert r.time_s == pytest.approx(min(seconds.values()))


def test_a_second_exp_per_score_doubles_exp_ops_and_slows_an_exp_bound_call(tmp_path):
    base = (Path(__file__).resolve().parent.parent / "einsum_cascades" / "library" / "attention-1pass.cascade").read_text()
    mine = tmp_path / "double-exp.cascade"
    mine.write_text(base.replace("exp(BQK[m1,m0,p] - RM[m1+1,p])", "exp(exp(BQK[m1,m0,p] - RM[m1+1,p]))"))
    wl = Workload(heads=32, head_dim=64, seq_len=65536)
    one, two = evaluate(H100, "attention-1pass", wl), evaluate(H100, str(mine), wl)
    assert two.cost.exp_ops == pytest.approx(2 * one.cost.exp_ops, rel=0.01)
    assert two.time_s > 1.2 * one.time_s and two.bound == "exp"


def test_sigmoid_attention_is_no_slower_than_softmax_attention():
    for d in (64, 128):
        wl = Workload(heads=32, head_dim=d, seq_len=16384)
        assert evaluate(H100, "attention-sigmoid", wl).time_s <= evaluate(H100, "attention-1pass", wl).time_s


def test_linear_attention_is_far_faster_than_softmax_attention_at_64k():
    wl = Workload(heads=32, head_dim=128, seq_len=65536)
    linear, softmax = evaluate(H100, "attention-linear", wl), evaluate(H100, "flash3", wl)
    assert linear.time_s * 20 < softmax.time_s
    assert linear.cost.tensor_flops < softmax.cost.tensor_flops / 50  # O(N d^2) against O(N^2 d)


@pytest.mark.parametrize("algo, needle", [
    ("attention-1pass@fusemax", "accelerator configuration"),
    ("attention-1pass@bogus", "bad mapping 'bogus'"),
    ("bogus.cascade@flash3", "cascade file 'bogus.cascade': no such file"),
    ("attention-sigmoid@unfused", "the unfused GPU mapping runs standard attention"),
])
def test_bad_mappings_are_one_line_exit_2(algo, needle):
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", algo])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and needle in r.output


def test_a_cascade_that_is_not_attention_is_refused(tmp_path):
    bad = tmp_path / "not-attention.cascade"
    bad.write_text("# reference: softmax\nS[m,p] = Q[e,p] * K[e,m]\n")
    r = CliRunner().invoke(cli, ["simulate", "--algo", str(bad)])
    assert r.exit_code == 2 and "does not produce an attention output from Q, K, V" in r.output


def test_cascade_check_without_a_reference_line_says_softmax_is_assumed(tmp_path):
    mine = tmp_path / "mine.cascade"
    mine.write_text("QK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QK[m,p])\nSN[m,p] = exp(QK[m,p] - GM[p])\n"
                    "SD[p] = sum(SN[m,p])\nA[m,p] = SN[m,p] / SD[p]\nAV[f,p] = A[m,p] * V[f,m]\n")
    r = CliRunner().invoke(cli, ["cascade", "check", str(mine)])
    assert r.exit_code == 0 and "softmax assumed" in r.output and "header None" not in r.output
    r = CliRunner().invoke(cli, ["cascade", "check", str(mine), "--reference", "sigmoid"])
    assert r.exit_code == 1 and "reference sigmoid" in r.output


def test_explain_lists_each_einsums_unit_and_the_passes():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "attention-3pass@flash3", "--explain"])
    assert r.exit_code == 0, r.output
    assert "QK     score       pass 1  tensor 2*E = 256" in r.output and "3 passes over the keys" in r.output
