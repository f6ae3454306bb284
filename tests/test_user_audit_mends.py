"""What two first-time users' audits (2026-12-07) found, each mended: one mask written two ways gets one baseline, a
method's causal preset takes the user's causal&X, --sparsity on full is refused, --explain beside a format, hardware
typos named as typos, sizes in ASCII digits, a cascade's reference (or none) honoured and its mismatch said, a
sparsity list's dense points on the same baseline, and the occupancy schedule's numba loop equal to its Python one."""

import json
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import simulate
from simulator.workload import Workload


def run(*args):
    return CliRunner().invoke(cli, list(args))


def fails(*args) -> str:
    r = run(*args)
    assert r.exit_code == 2, (args, r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: "), r.stderr
    return lines[0]


# ---------------------------------------------------------------- one mask, one baseline

def test_a_pattern_that_is_causal_or_full_however_written_is_the_flag_or_nothing():
    for text in ("causal", "causal&causal", "causal&full", "dense&causal", "(causal)"):
        wl = Workload(pattern=text)
        assert (wl.pattern, wl.causal) == (None, True), text
    for text in ("full&full", "full|causal", "full|sinks(4)"):
        assert (Workload(pattern=text).pattern, Workload(pattern=text).causal) == (None, False), text
    assert Workload(pattern="causal&window(4k)").pattern == "causal&window(4k)"


def test_a_pattern_that_is_causal_or_full_with_a_sparsity_is_the_flag_with_it():
    """--pattern full --sparsity 0.9 had been random tiles while full&full was refused; now both are --sparsity 0.9
    alone, and --pattern causal --sparsity 0.9 is --causal --sparsity 0.9."""
    plain, full = simulate(hw="h100", seq_len=32768, sparsity=0.9), simulate(hw="h100", seq_len=32768,
                                                                              pattern="full&full", sparsity=0.9)
    assert plain == full
    flag = simulate(hw="h100", seq_len=32768, causal=True, sparsity=0.9)
    assert flag == simulate(hw="h100", seq_len=32768, pattern="causal", sparsity=0.9)


def test_a_causal_mask_is_compared_with_dense_causal_attention_however_its_causality_is_written():
    """--pattern 'causal&window(4k)' had taken dense non-causal attention as its baseline (30.8x where
    --causal --pattern 'window(4k)' said 15.2x for the same kernel time)."""
    shape = dict(hw="h100", seq_len=131072, heads=8)
    inside = simulate(**shape, pattern="causal&window(4k)")
    flag = simulate(**shape, causal=True, pattern="window(4k)")
    assert inside["time_s"] == flag["time_s"] and inside["baseline_time_s"] == flag["baseline_time_s"]
    causal_dense = simulate(**shape, causal=True, baseline="flash3")
    assert inside["baseline_time_s"] == pytest.approx(causal_dense["time_s"])
    assert inside["speedup"] * inside["block_density"] < 1  # within 1/density of the causal half's tiles
    as_flag, as_pattern = simulate(hw="h100", seq_len=8192, causal=True), simulate(hw="h100", seq_len=8192,
                                                                                   pattern="causal")
    assert as_flag == as_pattern  # --pattern causal is --causal: the same row, baseline naive


def test_the_mask_column_says_causal_once():
    r = run("simulate", "--hw", "h100", "--seq-len", "16k", "--causal", "--pattern", "causal&window(1k)",
            "--format", "table")
    assert r.exit_code == 0 and "causal causal&" not in r.output and "causal&window(1k)" in r.output


# ---------------------------------------------------------------- methods take the user's causal&X

@pytest.mark.parametrize("method, written, plain", [("nsa", "causal&topk(16)", "topk(16)"),
                                                    ("moba", "causal&topk(3)", "topk(3)")])
def test_a_causal_method_takes_causal_and_its_own_mask_as_the_mask(method, written, plain):
    """The method's causal preset wrapped the user's causal&topk(16) in causal&(...), which the selection kernel
    refused, naming --causal the user never typed (and NSA for MoBA)."""
    from simulator.api import run_points

    a, b = run_points([dict(hardware="h100", seq_len=16384, method=method, pattern=p) for p in (written, plain)])
    assert a["time_s"] == b["time_s"] and a["estimate_s"] == b["estimate_s"]


def test_minference_solves_its_lines_for_a_sparsity():
    """--method minference --sparsity 0.95 had failed on the solver's own placeholder (vertical_slash(64k,64k):
    'no periodic mask'): the clustered lines are MInference's index, which the solver now scales like any size."""
    from simulator.api import run_points

    row, = run_points([dict(hardware="h100", seq_len=65536, method="minference", sparsity=0.95)])
    assert abs(row["block_density"] - 0.05) < 0.01 and row["lowered_pattern"].startswith("causal&vertical_slash(")


# ---------------------------------------------------------------- output and messages

def test_explain_beside_a_format_writes_the_row_to_stdout_and_the_explanation_to_stderr():
    r = run("simulate", "--hw", "h100", "--seq-len", "4k", "--explain", "--format", "json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)[0]["time_s"] > 0 and "per-tile SM cycles" in r.stderr
    table = run("simulate", "--hw", "h100", "--seq-len", "4k", "--explain")
    assert "per-tile SM cycles" in table.stdout and not table.stdout.lstrip().startswith("[")


def test_explain_shows_the_terms_after_the_body():
    r = run("simulate", "--hw", "h100", "--seq-len", "1k", "--causal", "--explain")
    assert "time = body " in r.output and "+ launch " in r.output
    naive = run("simulate", "--hw", "h100", "--seq-len", "1k", "--algo", "naive", "--explain")
    assert "time = body " not in naive.output  # its kernels' times hold their own launches
    method = run("simulate", "--hw", "h100", "--method", "minference", "--seq-len", "4k", "--explain")
    assert "+ estimate " in " ".join(method.output.split())  # the index step before the kernel, not in its body
    layer = run("simulate", "--hw", "h100", "--seq-len", "1", "--kv-len", "8k", "--scope", "layer", "--explain")
    assert "- graph_launches " in " ".join(layer.output.split())


@pytest.mark.parametrize("typo, model", [("a1000", "a100"), ("h2000", "h200"), ("b2000", "b200"), ("hh100", "h100")])
def test_a_hardware_typo_is_a_typo_not_another_gpus_device(typo, model):
    """'a1000' (the RTX A1000, another GPU) had been called 'the device of the a100 model'."""
    line = fails("simulate", "--hw", typo)
    assert f"did you mean {model}?" in line and "is the device of" not in line


def test_a_pasted_device_name_still_names_its_model():
    line = fails("simulate", "--hw", "NVIDIA A100-SXM4-80GB")
    assert "is the device of the a100 model: use a100" in line


@pytest.mark.parametrize("args", [("--seq-len", "３２k"), ("--seq-len", "٣٢k"), ("--pattern", "window(１k)")])
def test_sizes_are_ascii_digits(args):
    fails("simulate", *args)


def test_a_size_past_its_limit_is_named_as_typed():
    assert "bad --seq-len '1000000000000': at most 1g" in fails("simulate", "--seq-len", "1000000000000")
    assert "bad --seq-len '2g' (of '1k..4g')" in fails("simulate", "--seq-len", "1k..4g")


def test_an_accelerator_names_the_mask_it_refuses():
    line = fails("simulate", "--hw", "fusemax", "--model", "llama3-8b")
    assert "--no-causal" in line and "--pattern" not in line
    assert "a mask (--sparsity)" in fails("simulate", "--hw", "fusemax", "--sparsity", "0.5")


def test_plot_speedup_suggests_a_baseline_that_fits(tmp_path):
    line = fails("plot", "speedup", "--hw", "h100", "--seq-len", "128k..1m", "-o", str(tmp_path / "s.png"))
    assert "--baseline flash2 on an A100, flash3 on Hopper" in line


# ---------------------------------------------------------------- cascades

NO_SOFTMAX = "# reference: softmax\nS[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = S[m,p] * V[f,m]\n"


def test_a_cascade_file_that_misses_its_reference_is_priced_with_a_note(tmp_path):
    path = tmp_path / "wrong.cascade"
    path.write_text(NO_SOFTMAX)
    row = simulate(hw="h100", algo=str(path), seq_len=4096)
    assert row["time_s"] > 0 and "does not compute its reference, softmax attention" in row["note"]
    assert simulate(hw="h100", algo="attention-1pass", seq_len=4096)["note"] is None


def test_reference_none_in_the_file_is_what_the_option_is(tmp_path):
    path = tmp_path / "plain.cascade"
    path.write_text(NO_SOFTMAX.replace("softmax", "none"))
    r = run("cascade", "check", str(path))
    assert r.exit_code == 0 and "no reference compared" in r.output
    assert simulate(hw="h100", algo=str(path), seq_len=4096)["note"] is None  # none: nothing to miss


def test_lightning_attention_is_causal_by_construction():
    causal = simulate(hw="h100", algo="attention-lightning", seq_len=4096, causal=True)
    plain = simulate(hw="h100", algo="attention-lightning", seq_len=4096)
    assert causal["time_s"] == plain["time_s"]  # the same kernel, against causal or full standard attention
    assert causal["baseline_time_s"] == simulate(hw="h100", algo="naive", seq_len=4096, causal=True)["time_s"]
    assert "causal by construction" in fails("simulate", "--algo", "attention-lightning", "--pattern", "window(1k)")
    assert "has no score tensor" in fails("simulate", "--algo", "attention-linear", "--causal")


# ---------------------------------------------------------------- sweeps and bounds

def test_a_sparsity_list_from_zero_keeps_one_baseline(tmp_path):
    out = tmp_path / "s.csv"
    r = run("sweep", "--hw", "a100", "--algo", "flash2", "--seq-len", "8k", "--sparsity", "0,0.5", "-o", str(out))
    assert r.exit_code == 0, r.output
    import csv

    rows = list(csv.DictReader(out.open()))
    assert [row["baseline"] for row in rows] == ["flash2", "flash2"] and float(rows[0]["speedup"]) == 1.0
    assert simulate(hw="a100", algo="flash2", seq_len=8192)["baseline"] == "naive"  # a lone dense point


def test_a_cuda_core_decode_is_bound_where_its_utilization_says():
    row = simulate(hw="h100", algo="flashinfer-decode", seq_len=1, kv_len=32768, batch=64, heads=64, kv_heads=8)
    assert row["bound"] == "fma" and row["utilization"]["fma"] == max(row["utilization"].values()) > 0.9


def test_the_occupancy_loop_in_numba_is_the_python_loop():
    """cta_work.occupancy_span runs _schedule_kernels.occupancy_events once numba is loaded: the same steps on
    arrays, so the same span, zero-work rows, long spans and near-equal works (the tie rule) included (a CTA of 1e-9
    cycles had never ended at 1e7: its share stayed under the clock's rounding)."""
    code = r"""
import sys, json
import numpy as np
import simulator.cta_work as cw
cw.OCCUPANCY_NUMBA_CTAS = int(sys.argv[1])
rng = np.random.default_rng(5)
out = []
for trial in range(60):
    k, sms, rows, rep = (int(rng.integers(1, 5)), int(rng.integers(1, 12)), int(rng.integers(1, 40)),
                         int(rng.integers(1, 4)))
    base = rng.random(rows) * 100 + (1e7 if trial % 7 == 0 else 0)
    if trial % 5 == 0:
        base[rng.random(rows) < 0.3] = 0.0
    if trial % 3 == 0:  # near-equal works, one work by the tie rule (cta_work.OCCUPANCY_TIE), and a row apart
        base = 50.0 * (1 + 1e-4 * rng.random(rows)) + 20.0 * (np.arange(rows) == 0)
    out.append(cw.occupancy_span({m: base * (1 + 0.3 * m) for m in range(1, k + 1)}, rep, sms, k, bool(trial % 2)))
print(json.dumps([out, "numba" in sys.modules]))
"""
    py, py_numba = json.loads(subprocess.run([sys.executable, "-c", code, str(10 ** 9)], capture_output=True, text=True,
                                             check=True).stdout)
    nb, nb_numba = json.loads(subprocess.run([sys.executable, "-c", code, "0"], capture_output=True, text=True,
                                             check=True).stdout)
    assert not py_numba and nb_numba
    assert np.allclose(py, nb, rtol=1e-12, atol=0)


def test_fusemax_is_compared_with_unfused_on_its_own_architecture_by_default():
    """The FuseMax paper's Unfused baseline runs on the FLAT/Unfused architecture (an exp unit in the 1D array, a 32
    MiB buffer); on FuseMax's own arrays it had come out twice as slow (19x at BERT 1k, the paper's ~10x)."""
    row = simulate(hw="fusemax", seq_len=1024, batch=64, heads=12, head_dim=64)
    named = simulate(hw="fusemax", seq_len=1024, batch=64, heads=12, head_dim=64, baseline="unfused@flat")
    assert row["baseline"] == "unfused@flat" and row["speedup"] == named["speedup"] and 8 < row["speedup"] < 14
    assert simulate(hw="flat", seq_len=1024, batch=64, heads=12, head_dim=64)["baseline"] == "unfused"


def test_a_command_line_option_every_from_row_overrides_is_said(tmp_path):
    path = tmp_path / "pts.csv"
    path.write_text("hardware,seq_len\nh100,4096\na100,8192\n")
    r = run("simulate", "--from", str(path), "--seq-len", "1k", "--heads", "16", "--format", "csv")
    assert r.exit_code == 0 and "so the command line's --seq-len changes nothing" in r.stderr
    assert "--heads" not in r.stderr  # a column the rows leave out: the command line's value is used
    quiet = run("simulate", "--from", str(path), "--heads", "16", "--format", "csv")
    assert "changes nothing" not in quiet.stderr


# ---------------------------------------------------------------- the second round of audits

def test_a_mask_that_attends_no_key_ahead_is_compared_with_dense_causal_attention():
    """Whether the dense baseline is causal is read from the mask, not from how it is written: window(4k) alone
    (FA's (w-1, 0)) had doubled its speedup against dense non-causal attention."""
    shape = dict(hw="h100", seq_len=32768)
    flag = simulate(**shape, causal=True, pattern="window(4k)")
    for text in ("window(4k)", "causal&window(4k)", "causal&window(4k)|causal&window(2k)", "window(4k)|window(2k,0)"):
        row = simulate(**shape, pattern=text)
        assert (row["time_s"], row["baseline_time_s"]) == (flag["time_s"], flag["baseline_time_s"]), text
    mix = simulate(hw="a100", algo="flash2", seq_len=16384, pattern="heads(16: causal, 16: causal&window(1k))")
    causal_mix = simulate(hw="a100", algo="flash2", seq_len=16384, causal=True,
                          pattern="heads(16: full, 16: window(1k))")
    assert mix["baseline_time_s"] == causal_mix["baseline_time_s"]
    two_sided = simulate(**shape, pattern="window(4k,4k)")
    assert two_sided["baseline_time_s"] == simulate(**shape, baseline="flash3")["time_s"]  # looks ahead: non-causal


def test_the_default_and_the_named_same_kernel_baseline_agree_under_block_size():
    a = simulate(hw="a100", algo="flash2", seq_len=16384, sparsity=0.9, block_size=64)
    b = simulate(hw="a100", algo="flash2", seq_len=16384, sparsity=0.9, block_size=64, baseline="flash2")
    assert a["speedup"] == b["speedup"]


def test_from_refuses_a_list_option_and_gives_each_row_its_own_baseline(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("hardware,seq_len\nh100,8192\na100,8192\n")
    assert "with --from: one value" in fails("simulate", "--from", str(path), "--sparsity", "0,0.9")
    r = run("simulate", "--from", str(path), "--sparsity", "0.9", "--format", "json")
    assert [row["baseline"] for row in json.loads(r.stdout)] == ["flash3", "flash2"]


def test_evaluate_names_a_wrong_argument():
    from simulator.api import evaluate, hardware

    from einsum_cascades.errors import UserError

    assert evaluate("h100", "flash3", Workload()).time_s == evaluate(hardware("h100"), "flash3", Workload()).time_s
    with pytest.raises(UserError, match="bad algo 'None'"):
        evaluate(hardware("h100"), None, Workload())
    with pytest.raises(UserError, match="the workload is dict"):
        evaluate(hardware("h100"), "flash3", dict(seq_len=4096))
    from einsum_cascades import load_cascade

    with pytest.raises(UserError, match="bad cascade None"):
        load_cascade(None)


def test_simulate_takes_a_method():
    from simulator.api import run_points

    one = simulate(hw="h100", method="minference", seq_len=65536)
    assert one == run_points([dict(hardware="h100", method="minference", seq_len=65536)])[0]


def test_hw_show_at_a_locked_clock_shows_the_peaks_at_that_clock():
    r = run("hw", "show", "h100:1500", "--json")
    assert r.exit_code == 0, r.output
    derived = json.loads(r.stdout)["derived"]
    assert derived["tensor_peak_flops.fp16"] == pytest.approx(132 * 4096 * 1500e6)  # not 1830 MHz's 989.4 TFLOP/s
    assert derived["fp32_peak_flops"] == pytest.approx(2 * 132 * 128 * 1500e6)  # not 1980 MHz's


def test_a_mis_cased_measured_column_is_named(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("algorithm,MEASURED_MS\nflash3,6.9\n")
    assert "unknown column 'MEASURED_MS'" in fails("validate", "report", str(path))
    assert "fit with --kernels" in fails("calibrate", str(path), "-o", str(tmp_path / "x.toml"))


@pytest.mark.parametrize("hw, algo, shape", [("a100", "flash2", dict(seq_len=32768)), ("h100", "flash3", dict(seq_len=32768)),
                                             ("b200", "flash4", dict(seq_len=32768)),
                                             ("h100", "flash-decoding", dict(seq_len=1, kv_len=32768, batch=8))])
def test_a_window_sized_by_sparsity_runs_as_its_lowered_pattern_written(hw, algo, shape):
    """The lowered_pattern of a window --sparsity sized, run as written, is the same call (FA2 32k had been 9.35 ms
    on the block-sparse path against 10.24 ms for the window written)."""
    solved = simulate(hw=hw, algo=algo, pattern="causal&window(1k)", sparsity=0.9, **shape)
    written = simulate(hw=hw, algo=algo, pattern=solved["lowered_pattern"], **shape)
    assert solved["time_s"] == written["time_s"] and solved["block_density"] == written["block_density"]
