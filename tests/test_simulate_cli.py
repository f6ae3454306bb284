"""`attnsim simulate` through click's test runner: formats, lists, --from, errors."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli

DESIGN_KEYS = {"hardware", "algorithm", "baseline", "batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len",
               "causal", "pattern", "sparsity", "block_density", "time_s", "baseline_time_s", "speedup", "bound",
               "flops", "hbm_bytes", "onchip_bytes", "energy_j", "utilization"}


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_json_has_the_design_keys_and_the_default_baseline():
    r = run("simulate", "--hw", "h100", "--algo", "flash2", "--seq-len", "32k", "--sparsity", "0.9", "--format", "json")
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.output)
    assert DESIGN_KEYS <= set(row)
    assert row["baseline"] == "flash2"  # sparse: the dense run of the same algorithm
    assert 1 < row["speedup"] < 1 / row["block_density"]
    assert 0.05 < row["block_density"] < 0.15


def test_dense_default_baseline_is_naive_and_default_algo_is_flash3_on_h100():
    (row,) = json.loads(run("simulate", "--seq-len", "8k", "--format", "json").output)
    assert (row["algorithm"], row["baseline"]) == ("flash3", "naive")
    assert row["speedup"] > 1


def test_lists_give_the_cartesian_product_in_order():
    r = run("simulate", "--hw", "a100,h100", "--seq-len", "1k,4k,16k", "--algo", "flash2", "--format", "json")
    rows = json.loads(r.output)
    assert [(x["hardware"], x["seq_len"]) for x in rows] == [
        (h, n) for h in ("a100", "h100") for n in (1024, 4096, 16384)]


def test_model_preset_sets_the_shape():
    (row,) = json.loads(run("simulate", "--hw", "fusemax", "--model", "bert", "--seq-len", "16k", "--format", "json").output)
    assert (row["batch"], row["heads"], row["head_dim"], row["algorithm"]) == (64, 12, 64, "fusemax")
    assert row["energy_j"] > 0


def test_llama_preset_is_gqa():
    (row,) = json.loads(run("simulate", "--model", "llama3-8b", "--format", "json").output)
    assert (row["heads"], row["kv_heads"]) == (32, 8)


def test_csv_output_has_a_header_and_one_line_per_point():
    r = run("simulate", "--seq-len", "1k,2k", "--format", "csv")
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("hardware,algorithm,baseline") and len(lines) == 3


def test_from_csv_keeps_input_order_and_fills_missing_columns(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text("hardware,seq_len,causal\nh100,16k,true\na100,1k,false\nh200,4096,\n")
    rows = json.loads(run("simulate", "--from", str(f), "--head-dim", "64", "--format", "json").output)
    assert [(r["hardware"], r["seq_len"], r["causal"], r["head_dim"]) for r in rows] == [
        ("h100", 16384, True, 64), ("a100", 1024, False, 64), ("h200", 4096, False, 64)]


def test_explain_prints_formulas_and_the_bound():
    r = run("simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "8k", "--explain")
    assert r.exit_code == 0, r.output
    assert "(Bc*Br*T_s + Br*T_r)/(R_tc*eff)" in r.output and "cascade attention-1pass" in r.output and "bound:" in r.output


def test_explain_shows_what_each_work_tile_adds_and_the_fa4_hand_offs_only_on_b200():
    """tile_cost.prologue_cycles term by term: FA4 (tcgen05) names its fitted turnaround, FA3 on H100 (Q
    prefetched by its persistent producer) no latency and no turnaround."""
    from simulator.api import hardware

    fa4 = " ".join(run("simulate", "--hw", "b200", "--algo", "flash4", "--seq-len", "8k", "--explain").output.split())
    turnaround = f"the warp roles' hand-offs {hardware('b200').tcgen05_tile_turnaround:,.0f}"
    assert "per work tile" in fa4 and turnaround in fa4 and "the first load's latency" in fa4
    fa3 = " ".join(run("simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "8k", "--explain").output.split())
    assert "per work tile" in fa3 and "hand-offs" not in fa3 and "first load's latency" not in fa3


def test_explain_names_the_mask_of_every_head_group_never_none():
    """--sparsity alone has no mask expression: the group line said 'None' before."""
    r = run("simulate", "--hw", "h100", "--algo", "flash2", "--seq-len", "32k", "--sparsity", "0.9", "--explain")
    group = next(line for line in r.output.splitlines() if line.strip().startswith("group 1:"))
    assert "None" not in group and "random empty tiles" in group


@pytest.mark.parametrize("args, needle", [
    (("--hw", "h999"), "h999"),
    (("--algo", "flash9"), "flash9"),
    (("--hw", "b200", "--algo", "flash3"), "flash3"),
    (("--hw", "h100", "--algo", "fusemax"), "fusemax"),
    (("--sparsity", "1.0"), "sparsity"),
    (("--sparsity", "-0.1"), "sparsity"),
    (("--seq-len", "0"), "seq-len"),
    (("--seq-len", "12q"), "12q"),
    (("--heads", "32", "--kv-heads", "5"), "kv-heads"),
    (("--model", "gpt9"), "gpt9"),
    (("--pattern", "window(4k"), "window"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", *args])
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output


def test_bad_csv_row_names_the_row(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text("seq_len\n4k\nlots\n")
    r = CliRunner().invoke(cli, ["simulate", "--from", str(f)])
    assert r.exit_code == 2 and "row 2" in r.output and "lots" in r.output


def test_lists_of_machines_and_algorithms_skip_the_pairs_that_cannot_run(tmp_path):
    r = CliRunner().invoke(cli, ["sweep", "--hw", "b200,h100,fusemax", "--algo", "flash2,flash3,fusemax",
                                 "--seq-len", "1k,4k", "-o", str(tmp_path / "s.json")])
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "s.json").read_text())
    pairs = [(row["hardware"], row["algorithm"]) for row in rows]
    assert pairs == [("b200", "flash2")] * 2 + [("h100", "flash2")] * 2 + [("h100", "flash3")] * 2 + [("fusemax", "fusemax")] * 2
    assert "skipping flash3 on b200: algorithm 'flash3' does not build for b200" in r.output
    assert r.output.count("skipping") == 5


MATRIX = ["--hw", "h100", "--algo", "flashinfer-decode,flash3", "--seq-len", "1,2k", "--kv-len", "4k"]


def test_a_matrix_of_kernels_and_shapes_leaves_out_the_shapes_a_kernel_refuses(tmp_path):
    """As a machine a kernel does not run on is left out of a matrix, so is a shape its kernel refuses there: the
    decode kernel at 2k queries, with one stderr line; the rest run."""
    r = CliRunner().invoke(cli, ["simulate", *MATRIX, "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(row["algorithm"], row["seq_len"]) for row in rows] == [("flashinfer-decode", 1), ("flash3", 1),
                                                                     ("flash3", 2048)]
    assert "skipping 1 of 4 points, their kernel refuses their shape: flashinfer-decode is a decode kernel" in r.output
    out = tmp_path / "m.csv"
    r = CliRunner().invoke(cli, ["sweep", *MATRIX, "-o", str(out)])
    assert r.exit_code == 0 and "wrote 3 rows" in r.output and len(out.read_text().splitlines()) == 4, r.output


@pytest.mark.parametrize("args", [
    ["--hw", "h100", "--algo", "flashinfer-decode", "--seq-len", "1,2k", "--kv-len", "4k"],  # one kernel: an error
    ["--hw", "h100", "--algo", "flashinfer-decode,flashinfer-decode-tc", "--seq-len", "2k,4k"],  # nothing runs
    ["--hw", "h100", "--algo", "flash2,flash3", "--seq-len", "1k,2k", "--heads", "32,30", "--kv-heads", "8"],  # a bad value
    # nothing runs, and the machine left out of the matrix is not noted before the error: its one line alone
    ["--hw", "h100,fusemax", "--algo", "flashinfer-single-decode,flash3", "--seq-len", "1,2", "--head-dim", "576"],
])
def test_outside_a_matrix_or_with_nothing_to_run_a_refusal_is_still_an_error(args, tmp_path):
    out = tmp_path / "s.csv"
    for command in (["simulate", *args], ["sweep", *args, "-o", str(out)]):
        r = CliRunner().invoke(cli, command)
        assert r.exit_code == 2 and "attnsim: error:" in r.output and len(r.output.strip().splitlines()) == 1, r.output
        assert not out.exists()


@pytest.mark.parametrize("hw, algo", [("b200", "flash3"), ("b200,h100", "flash3"), ("h100", "flash2,fusemax")])
def test_an_algorithm_that_cannot_run_on_a_machine_asked_for_is_an_error(hw, algo):
    r = CliRunner().invoke(cli, ["simulate", "--hw", hw, "--algo", algo])
    assert r.exit_code == 2 and "attnsim: error: algorithm" in r.output and "Traceback" not in r.output


def test_explain_says_how_a_split_call_divides_its_keys():
    """FA3 splits each query block's own key range; FA2's split-KV kernel (flash-decoding) the whole range."""
    import subprocess

    args = ["attnsim", "simulate", "--hw", "h100", "--seq-len", "1", "--kv-len", "128k", "--heads", "32",
            "--kv-heads", "8", "--pattern", "window(4k)", "--explain"]
    fa3 = subprocess.run(args + ["--algo", "flash3"], capture_output=True, text=True)
    fa2 = subprocess.run(args + ["--algo", "flash-decoding"], capture_output=True, text=True)
    assert fa3.returncode == fa2.returncode == 0
    assert "query block's own n key blocks" in fa3.stdout.replace("\n    ", " ")
    assert "whole key range" in fa2.stdout.replace("\n    ", " ")


def test_a_paged_cache_picks_the_kernel_path_and_is_a_column(tmp_path):
    """--page-size: FA2's KV-cache call runs its split-KV kernel even at one split (mha_fwd_kvcache
    force_split_kernel), FA3 decode gathers pages without TMA (get_pagedkv_tma), and the row says the page size;
    from a points file too. A family that reads contiguous K/V, or FA2's pages off 256, is one line and exit 2."""
    base = ["simulate", "--hw", "a100", "--algo", "flash-decoding", "--batch", "64", "--heads", "32", "--seq-len", "1",
            "--kv-len", "4k", "--format", "json"]
    plain, paged = (json.loads(run(*base, *extra).output)[0] for extra in ([], ["--page-size", "256"]))
    assert (plain["page_size"], paged["page_size"]) == (None, 256)
    assert (plain["tile"], paged["tile"]) == ("128x64", "64x128") and paged["speedup"] is not None
    points = tmp_path / "p.csv"
    points.write_text("hardware,algorithm,heads,kv_heads,seq_len,kv_len,page_size\nh100,flash3,32,8,1,8k,16\n"
                      "h100,flash3,32,8,1,8k,\n")
    rows = json.loads(run("simulate", "--from", str(points), "--format", "json").output)
    assert [r["page_size"] for r in rows] == [16, None] and rows[0]["tile"] == "128x128" != rows[1]["tile"]
    for args, needle in ((["--algo", "flash2", "--page-size", "16"], "multiple of 256"),
                         (["--algo", "naive", "--page-size", "16"], "contiguous K/V"),
                         (["--hw", "b200", "--algo", "flash4", "--page-size", "16"], "cp.async"),
                         (["--hw", "fusemax", "--page-size", "16"], "accelerator")):
        result = CliRunner().invoke(cli, ["simulate", "--hw", "h100", *args])
        assert result.exit_code == 2 and needle in result.output and "Traceback" not in result.output


def test_explain_says_why_an_fa2_decode_call_does_not_pack_or_split():
    """A windowed one-query GQA call loses FA2's head swap, and a paged MHA decode through the varlen entry runs one
    split: --explain says why, not only that (a sweep found both cliffs unexplained)."""
    def explain(*args):
        r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--batch", "16", "--heads", "32", "--head-dim", "128",
                                     "--seq-len", "1", "--kv-len", "32768", "--explain", *args])
        assert r.exit_code == 0, r.output
        return " ".join(r.output.split())

    windowed = explain("--algo", "flash-decoding", "--kv-heads", "8", "--causal", "--pattern", "causal&window(65536)")
    assert "query heads are not packed into the tile's rows" in windowed and "seqlenq_ngroups_swapped" in windowed
    assert "not packed" not in explain("--algo", "flash-decoding", "--kv-heads", "8")
    paged = explain("--algo", "flash2", "--kv-heads", "32", "--page-size", "256")
    assert "num_splits > 1 is not supported for varlen paged KV" in paged


def test_explain_says_why_a_warm_call_has_no_write_back_roof():
    """Under --scope layer or kernel-warm the cold L2's write-back roof is absent, and --explain says why."""
    def explain(scope):
        r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "1", "--kv-len", "8k",
                                     "--scope", scope, "--explain"])
        assert r.exit_code == 0, r.output
        return " ".join(r.output.split())

    assert "no cold-L2 write-back: --scope layer" in explain("layer")
    assert "no cold-L2 write-back" not in explain("kernel") and "writeback" in explain("kernel")
