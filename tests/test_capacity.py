"""Memory capacity: a point whose tensors do not fit the machine's HBM has no time.

The footprints are written as the formulas they claim (FA1 paper Algorithm 0 for naive's S and P;
FlashAttention's fp32 softmax_lse and split partials for the fused kernels)."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import Workload, evaluate, hardware, run_points, simulate
from simulator.capacity import footprint, need


def test_naive_holds_q_k_v_o_and_two_score_matrices():
    wl = Workload(batch=2, heads=16, kv_heads=4, head_dim=64, seq_len=1000, kv_len=3000)
    parts = footprint("naive", wl)
    assert parts["Q"] == parts["O"] == 2 * 16 * 1000 * 64 * 2
    assert parts["K"] == parts["V"] == 2 * 4 * 3000 * 64 * 2
    assert parts["S"] == parts["P"] == 2 * 16 * 1000 * 3000 * 2
    assert "mask" not in parts and "mask" in footprint("naive", Workload(seq_len=1000, causal=True))


def test_fused_kernels_add_fp32_lse_and_split_partials():
    wl = Workload(batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536)
    assert footprint("flash2", wl)["LSE"] == 4 * 32 * 1 * 4
    assert footprint("flash-decoding", wl, splits=1)["split partials"] == 0
    assert footprint("flash-decoding", wl, splits=16)["split partials"] == 16 * 4 * 32 * 1 * (128 + 1) * 4


def test_fp8_flash3_writes_its_output_in_bf16():
    wl = Workload(head_dim=128, seq_len=4096, dtype="fp8")
    assert footprint("flash3", wl)["O"] == 2 * footprint("flash3", wl)["Q"]


def test_naive_at_128k_does_not_fit_an_h100_and_flash3_does():
    """1 TiB of scores (twice: S and P) against 80 GiB of HBM."""
    hw = hardware("h100")
    wl = Workload(seq_len=128 * 1024)
    needed, have = need(hw, evaluate(hw, "naive", wl))
    assert needed > 2 * 32 * (128 * 1024) ** 2 * 2 and have == 80 * 2**30
    assert need(hw, evaluate(hw, "flash3", wl))[0] < have


def test_a_row_that_does_not_fit_has_no_time_and_says_why():
    row = simulate("h100", "naive", seq_len=128 * 1024)
    assert row["fits"] is False and row["time_s"] is None and row["speedup"] is None
    assert row["note"].startswith("does not fit: naive needs 2.2 TB of HBM (S 1.1 TB, P 1.1 TB")
    assert "85.9 GB" in row["note"]


def test_a_baseline_that_does_not_fit_leaves_the_speedup_empty_not_wrong():
    row = simulate("h100", "flash3", seq_len=128 * 1024)
    assert row["fits"] is True and row["time_s"] > 0
    assert row["baseline_fits"] is False and row["speedup"] is None and row["baseline_time_s"] is None


def test_a_point_and_its_baseline_that_both_do_not_fit_have_no_time_at_all():
    """naive over naive at 128k: neither time is believed (before: the baseline's time stayed in the row)."""
    for row in (simulate("h100", "naive", seq_len=128 * 1024),
                run_points([dict(hardware="h100", algorithm="naive", seq_len=n) for n in (64 * 1024, 128 * 1024)])[1]):
        assert row["fits"] is False and row["baseline_fits"] is False
        assert row["time_s"] is None and row["baseline_time_s"] is None and row["baseline_energy_j"] is None


def test_columns_and_points_agree_on_fits():
    points = [dict(hardware="h100", algorithm="naive", seq_len=n) for n in (4096, 32768, 65536)]
    rows = run_points(points)
    assert [r["fits"] for r in rows] == [True, False, False]
    assert [r["fits"] for r in (run_points([p])[0] for p in points)] == [True, False, False]


def test_a_column_of_points_notes_what_does_not_fit_as_each_point_alone_does():
    """Column notes are made a column at a time (numpy orders every point's tensors, each byte count is formatted
    once): each reads as the point's own, tensors largest first, ties (Q, K, V, O) in the footprint's order."""
    points = [dict(hardware="h100", algorithm=algo, seq_len=n, batch=b, heads=h)  # 64 a column: numpy's, imported
              for algo in ("naive", "flash3") for n in (16384, 32768, 65536, 131072) for b in (1, 2, 3, 5)
              for h in (8, 16, 24, 32)]
    rows = run_points(points)
    assert {r["fits"] for r in rows} == {True, False} and any(r["fits"] and r["baseline_fits"] is False for r in rows)
    alone = [simulate(p["hardware"], p["algorithm"], seq_len=p["seq_len"], batch=p["batch"], heads=p["heads"])
             for p in points]
    assert [r["note"] for r in rows] == [r["note"] for r in alone]


def test_accelerators_state_no_capacity():
    assert simulate("fusemax", "fusemax", seq_len=1 << 20, batch=64, heads=16, head_dim=64)["fits"] is None


def _cli(*args):
    return CliRunner().invoke(cli, list(args))


def test_one_point_that_does_not_fit_is_an_error_naming_need_and_capacity():
    r = _cli("simulate", "--algo", "naive", "--seq-len", "128k")
    assert r.exit_code == 2
    assert "naive needs 2.2 TB of HBM" in r.stderr and "H100 SXM5 80GB has 85.9 GB" in r.stderr


def test_in_a_list_the_row_stays_with_fits_false_and_a_note():
    r = _cli("simulate", "--algo", "naive", "--seq-len", "4k,128k", "--format", "json")
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert [row["fits"] for row in rows] == [True, False] and rows[1]["time_s"] is None
    assert "attnsim: note: 1 of 2 points (no time): does not fit" in r.stderr


@pytest.mark.parametrize("kind", ["speedup", "roofline"])
def test_plots_leave_out_points_that_do_not_fit_and_say_so(tmp_path, kind):
    algos = "naive,flash3" if kind == "roofline" else "flash3"
    r = _cli("plot", kind, "--algo", algos, "--seq-len", "4k,128k", "-o", str(tmp_path / "f.png"))
    assert r.exit_code == 0, r.output
    assert "points left out" in r.stderr and "does not fit in H100 memory" in r.stderr


def test_an_absorbed_mla_call_near_capacity_is_timed_or_marked_never_nan():
    """MLA's absorbed form keeps no V of its own: the pre-check that skips timing an unfittable call counted one,
    so a flash3 call between the two sizes (batch 603 at 4k keys on an H100: 45.5 GB, 86.0 GB with a V) came back
    untimed yet marked as fitting, its time nan. Found by a fuzz audit."""
    import math

    for algo in ("flash3", "flashmla"):
        rows = run_points([dict(hardware="h100", algorithm=algo, batch=b, heads=16, head_dim=576,
                                v_head_dim=512, seq_len=1, kv_len=4096, dtype="bf16") for b in (602, 603, 1300)])
        for row in rows[:2]:
            assert row["fits"] is True and row["time_s"] > 0 and not math.isnan(row["time_s"]), (algo, row["batch"])
        assert rows[2]["fits"] is False and rows[2]["time_s"] is None
