"""The other commands through click's test runner: cascade, pattern, hw, sweep, validate report, calibrate."""

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli

FIXTURE = str(Path(__file__).parent / "data" / "synthetic-h100-results.json")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_help_reads_like_a_front_page():
    r = run("--help")
    assert r.exit_code == 0 and "attnsim simulate" in r.output and "Commands" in r.output


def test_cascade_show_json_has_the_documented_keys():
    data = json.loads(run("cascade", "show", "attention-1pass", "--json").output)
    assert {"name", "einsums", "passes", "ops", "inputs", "outputs"} <= set(data)
    assert data["passes"]["m"] == 1 and data["ops"]["AV"] == {"div": "F*P"}


def test_cascade_check_passes_and_fails(tmp_path):
    assert run("cascade", "check", "attention-3pass").exit_code == 0
    wrong = tmp_path / "wrong.cascade"
    wrong.write_text("# reference: softmax\nQK[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,m]\n")
    r = run("cascade", "check", str(wrong))
    assert r.exit_code == 1 and "FAIL" in r.output


def test_cascade_graph_writes_a_png(tmp_path):
    out = tmp_path / "g.png"
    assert run("cascade", "show", "attention-3pass", "--graph", str(out)).exit_code == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_pattern_show_json_and_png(tmp_path):
    r = run("pattern", "show", "causal&window(1k)|sinks(64)", "--seq-len", "8k", "--json")
    data = json.loads(r.output)
    assert {"seq_len", "kv_len", "block_size", "element_density", "block_density", "full_blocks",
            "partial_blocks", "empty_blocks"} <= set(data)
    assert data["full_blocks"] + data["partial_blocks"] + data["empty_blocks"] == 64 * 64
    out = tmp_path / "m.png"
    assert run("pattern", "show", "causal", "--seq-len", "4k", "--png", str(out)).exit_code == 0
    assert out.stat().st_size > 1000


def test_hw_list_and_show():
    assert "h100" in run("hw", "list").output
    data = json.loads(run("hw", "show", "h100", "--json").output)
    assert data["sms"] == 132 and "sms" in data["sources"]


@pytest.mark.parametrize("args, needle", [
    (("cascade", "show", "nope"), "nope"),
    (("pattern", "show", "windw(3)", "--seq-len", "1k"), "windw"),
    (("pattern", "show", "causal", "--seq-len", "1q"), "1q"),
    (("hw", "show", "z80"), "z80"),
    (("sweep", "--seq-len", "8k..1k", "-o", "x.csv"), "8k..1k"),
    (("sweep", "--seq-len", "1k", "-o", "x.txt"), "x.txt"),
    (("sweep", "--seq-len", "1k", "-o", "/nonexistent-dir/x.csv"), "nonexistent"),
    (("sweep", "--sparsity", "0..0.9:1", "-o", "x.csv"), "0..0.9:1"),
    (("validate", "report", "missing.json"), "missing.json"),
    (("calibrate", FIXTURE, "-o", "out.txt"), "out.txt"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_sweep_writes_the_cartesian_product(tmp_path):
    out = tmp_path / "s.csv"
    r = run("sweep", "--hw", "a100,h100", "--algo", "flash2", "--seq-len", "1k..8k", "--sparsity", "0..0.5:3",
            "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * 4 * 3
    assert [int(r["seq_len"]) for r in rows[:4 * 3:3]] == [1024, 2048, 4096, 8192]
    assert not list(tmp_path.glob(".*partial"))  # the temporary file was moved into place


def _parallel_sweep(tmp_path, monkeypatch, name, *extra):
    import cli.sweep_cmd as sweep_cmd

    monkeypatch.setattr(sweep_cmd, "PARALLEL_AFTER_S", 0.0)  # fork the workers at once
    out = tmp_path / name
    r = run("sweep", "--hw", "h100", "--algo", "flash2,flash3", "--seq-len", "1k..16k", "--sparsity", "0,0.5,0.9",
            "--batch", "1,4", "-o", str(out), *extra)
    return r, out


def test_a_sweep_on_workers_writes_the_rows_a_single_process_writes(tmp_path, monkeypatch):
    one, one_out = _parallel_sweep(tmp_path, monkeypatch, "one.csv", "--jobs", "1")
    two, two_out = _parallel_sweep(tmp_path, monkeypatch, "two.csv", "--jobs", "2")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    assert two_out.read_bytes() == one_out.read_bytes() and len(one_out.read_text().splitlines()) == 1 + 2 * 5 * 3 * 2


def test_a_sweep_worker_that_dies_ends_the_sweep_with_one_line(tmp_path, monkeypatch):
    import os

    import simulator.api

    monkeypatch.setattr(simulator.api, "rows_of", lambda points, defaults: os._exit(9))  # as a SIGKILL leaves it
    r, out = _parallel_sweep(tmp_path, monkeypatch, "dead.csv", "--jobs", "2")
    assert r.exit_code == 1 and "worker" in r.output and len(r.output.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_sweep_tasks_keep_points_that_share_a_grid_together():
    """A worker task holds every point of one lowered grid whatever the hardware, batch or sparsity (so no two
    workers lower or schedule it), dense points go in contiguous runs, and every point is in one task."""
    from cli.sweep_cmd import _tasks

    sparse = [dict(hardware=hw, algorithm="flash2", seq_len=n, sparsity=s, batch=b, heads=8, head_dim=128)
              for hw in ("h100", "h200") for n in (1024, 4096) for s in (0.5, 0.9) for b in (1, 4)]
    dense = [dict(hardware="h100", algorithm="flash2", seq_len=n, batch=64, heads=32, head_dim=128) for n in (8192, 1024)]
    points = dense + sparse
    tasks = _tasks(points, 1, size=100)
    assert sorted(i for t in tasks for i in t) == list(range(1, len(points)))
    assert tasks[0] == [1]  # the dense point after `first`, alone in its run
    by_len = {n: [i for i, p in enumerate(points) if p.get("sparsity") and p["seq_len"] == n] for n in (1024, 4096)}
    assert sorted(tasks[1:]) == sorted(by_len.values())  # one task per grid, both machines in it
    assert all(len(t) <= 3 for t in _tasks(points, 0, size=3))  # cut to the task size


def test_sweep_json(tmp_path):
    out = tmp_path / "s.json"
    assert run("sweep", "--hw", "fusemax", "--model", "bert", "--seq-len", "1k,4k", "-o", str(out)).exit_code == 0
    rows = json.loads(out.read_text())
    assert [r["seq_len"] for r in rows] == [1024, 4096] and rows[0]["energy_j"] > 0


def test_validate_report_on_the_synthetic_fixture():
    data = json.loads(run("validate", "report", FIXTURE, "--format", "json").output)
    assert data["hardware"] == "h100" and len(data["points"]) == 3  # the failed point is left out
    p = data["points"][0]
    assert {"algorithm", "batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "causal", "pattern",
            "sparsity", "measured_s", "predicted_s"} <= set(p)
    assert p["error"] == pytest.approx(p["predicted_s"] / p["measured_s"] - 1)
    kinds = {s["kind"] for s in data["speedups"]}
    assert kinds == {"fused_vs_naive", "sparse_vs_dense"}
    assert set(data["summary"]["per_algorithm"]) == {"naive", "flash2"}


def test_validate_report_pairs_fused_points_with_every_naive_kernel_of_their_shape(tmp_path):
    """attnsim's naive and PyTorch's standard attention both ran: one speedup pair each, one summary row each."""
    doc = json.loads(Path(FIXTURE).read_text())
    torch_standard = {**doc["points"][0], "kernel": "torch-standard", "measured_s": 0.006}
    doc["points"].insert(1, torch_standard)
    path = tmp_path / "two-naive-kernels-synthetic.json"
    path.write_text(json.dumps(doc))
    data = json.loads(run("validate", "report", str(path), "--format", "json").output)
    pairs = [s for s in data["speedups"] if s["kind"] == "fused_vs_naive"]
    assert sorted((s["baseline_kernel"], round(s["measured"], 6)) for s in pairs) == [
        ("attnsim-naive", round(0.004 / 0.0012, 6)), ("torch-standard", round(0.006 / 0.0012, 6))]
    assert set(data["summary"]["per_kernel"]) == {"attnsim-naive", "torch-standard", "attnsim-fa2"}
    assert data["summary"]["per_kernel"]["torch-standard"]["n"] == 1
    table = run("validate", "report", str(path), "--format", "table").output
    assert "kernel torch-standard" in table and "kernel attnsim-fa2" in table


def test_validate_report_on_the_published_fa3_table():
    r = run("validate", "report", "validation/published/fa3-paper-h100.json", "--format", "json")
    data = json.loads(r.output)
    assert len(data["points"]) == 86 and data["summary"]["overall"]["n"] == 86


def test_calibrate_writes_a_loadable_toml_citing_the_measurements(tmp_path):
    out = tmp_path / "my-h100.toml"
    r = run("calibrate", FIXTURE, "-o", str(out))
    assert r.exit_code == 0, r.output
    from gpu_models import load_hardware

    spec = load_hardware(str(out))
    assert spec.hbm_efficiency == pytest.approx(3.0e12 / 3.35e12)
    assert spec.gemm_efficiency == pytest.approx(7.0e14 / (132 * 4096 * 1755e6))  # at the measured clock
    assert spec.sustained_clock_hz == 1755e6
    assert spec.launch_overhead_s == pytest.approx(2.5e-6)
    assert "synthetic-h100-results.json" in spec.sources["gemm_efficiency"]
    sim = json.loads(run("simulate", "--hw", str(out), "--seq-len", "8k", "--format", "json").output)
    assert sim[0]["hardware"] == str(out)  # the machine as given: the row runs again (--from)


def test_names_in_another_case_and_empty_list_items():
    """--algo, --baseline and --dtype take names in another case as --hw does (FLASH3, FLASH2@H100, FP16); a float
    list's empty item says so, as a size list's does; a range's steps are the decimals they mean."""
    from cli._params import _float_range

    r = CliRunner().invoke(cli, ["simulate", "--algo", "FLASH3", "--baseline", "Flash2@H100", "--dtype", "BF16",
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert (row["algorithm"], row["baseline"], row["dtype"]) == ("flash3", "flash2", "bf16")
    r = CliRunner().invoke(cli, ["simulate", "--sparsity", "0.5,"])
    assert r.exit_code == 2 and "bad --sparsity '0.5,': an empty item in the comma list" in r.stderr
    assert _float_range("0..0.95:20", "--sparsity")[1:3] == [0.05, 0.1] and _float_range("0..0.95:20", "x")[-1] == 0.95
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/fa3-paper-h100.json", "--hw", "h999"])
    assert r.exit_code == 2 and r.stderr.startswith("attnsim: error: --hw: unknown hardware 'h999'")
