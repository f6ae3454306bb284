"""Mends of three cascade-compiler defects (s65): a product of two separate sums (``Q[e,p] * K[x,m]``, a mistyped
rank) is refused where the cascade is loaded; an Einsum whose only readers are in a later pass is placed in their
pass (recomputed there, not held across the boundary); passes over the query rank are refused in one line where
costed and still shown and checked."""

import pytest

from einsum_cascades import cascade_names, load_cascade
from einsum_cascades.errors import UserError

from cli_runner import one_line_error, run, user_file  # tests/cli_runner.py

DEFERRED = ("# reference: softmax\nQK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QK[m,p])\nSN[m,p] = exp(QK[m,p] - GM[p])\n"
            "SD[p] = sum(SN[m,p])\nSNV[f,p] = SN[m,p] * V[f,m]\nAV[f,p] = SNV[f,p] / SD[p]\n")


# 1. a product of separate sums


@pytest.mark.parametrize("command", [("cascade", "show"), ("cascade", "check"), ("simulate", "--hw", "h100", "--algo"),
                                     ("simulate", "--hw", "fusemax", "--algo")])
def test_a_mistyped_feature_rank_is_refused_naming_the_einsum_and_the_rank_meant(tmp_path, command):
    """Q[e,p] * K[x,m] bound x to E and summed e over Q, x over K: cascade check failed it (max |error| 2.96) while
    simulate priced an E*E*M*P product."""
    line = one_line_error(*command, user_file(tmp_path, DEFERRED.replace("K[e,m]", "K[x,m]")))
    assert ":2:" in line and "QK sums e over Q[e,p] alone and x over K[x,m] alone" in line
    assert "did you mean K[e,m] (or Q[x,p])?" in line


def test_a_mistyped_key_rank_between_computed_tensors_is_refused(tmp_path):
    path = user_file(tmp_path, DEFERRED.replace("SN[m,p] * V[f,m]", "SN[n,p] * V[f,m]"))
    with pytest.raises(UserError, match=r"SNV sums n over SN\[n,p\] alone and m over V\[f,m\] alone.*"
                                        r"did you mean V\[f,n\] \(or SN\[m,p\]\)"):
        load_cascade(path)


def test_a_partitioned_read_is_renamed_in_the_suggestion(tmp_path):
    text = str(load_cascade("attention-1pass")).replace("Q[e,p] * BK[e,m1,m0]", "Q[e,p] * BK[x,m1,m0]")
    with pytest.raises(UserError, match=r"did you mean BK\[e,m1,m0\]"):
        load_cascade(user_file(tmp_path, text))


def test_one_factor_summing_a_rank_alone_is_allowed(tmp_path):
    """sum over m of SN[m,p] * W[p] is W times the sum of SN: exact, so loaded, shown and checked."""
    text = DEFERRED.replace("SD[p] = sum(SN[m,p])", "W[p] = GM[p] * 0 + 1\nSD[p] = sum(SN[m,p] * W[p])")
    r = run("cascade", "check", user_file(tmp_path, text))
    assert r.exit_code == 0 and "ok" in r.output, r.output


def test_a_rank_the_workload_does_not_bind_keeps_its_own_message(tmp_path):
    """V[f,z] is also a separate sum (z over V alone): the more specific refusal names it."""
    line = one_line_error("cascade", "show", user_file(tmp_path, DEFERRED.replace("V[f,m]", "V[f,z]")))
    assert "V[f,z] reads the attention input V with rank z at its positions" in line


def test_no_bundled_cascade_multiplies_separate_sums():
    from einsum_cascades.validate import separate_sums_error

    for name in cascade_names():
        assert all(separate_sums_error(e.line, name) is None for e in load_cascade(name).einsums), name



# 2. recompute instead of hold

RECOMPUTE = DEFERRED.replace("SN[m,p] = exp(QK[m,p] - GM[p])",
                             "QK2[m,p] = Q[e,p] * K[e,m]\nSN[m,p] = exp(QK2[m,p] - GM[p])")


def test_scores_recomputed_in_the_pass_that_reads_them_are_placed_there(tmp_path):
    """QK2 had been put in pass 1 (each Einsum at its earliest pass) and priced as M scores held per query."""
    from einsum_cascades.passes import einsum_passes
    from einsum_cascades.ops import extent

    c = load_cascade(user_file(tmp_path, RECOMPUTE))
    level = einsum_passes(c, "m")
    assert (level["QK"], level["GM"], level["QK2"], level["SN"]) == (1, 1, 2, 2)
    assert c.passes()["m"] == 2
    assert c.footprint("m") == extent("f") + 2  # SNV's row and GM, SD: the running state, no fiber of scores


def test_show_prints_the_recompute_in_pass_2_and_no_held_fiber(tmp_path):
    r = run("cascade", "show", user_file(tmp_path, RECOMPUTE))
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if "QK2[m,p]" in line)
    assert row.split()[1] == "2", row
    assert "live footprint per query row over m: F + 2" in r.output


def test_a_gpu_prices_the_recompute_as_the_deferred_cascade_recomputing_its_scores(tmp_path):
    """Two QK GEMMs and PV: the time attention-3pass-deferred takes when it recomputes its scores (before, QK2 ran
    in pass 1 and was recomputed in pass 2 again: three QK GEMMs)."""
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    path, wl = user_file(tmp_path, RECOMPUTE), Workload(seq_len=4096)
    for family in ("flash3", "flash2"):
        mine = evaluate(hardware("h100"), f"{path}@{family}", wl)
        deferred = evaluate(hardware("h100"), f"attention-3pass-deferred@{family}", wl)
        assert mine.time_s == pytest.approx(deferred.detail["multipass_seconds"]["recompute"], rel=1e-12)
        assert mine.detail["multipass_seconds"]["store"] == mine.detail["multipass_seconds"]["recompute"]


def test_fusemax_charges_the_second_qk_and_holds_no_scores(tmp_path):
    """At 64k keys the deferred cascade's QK spills to DRAM; the recompute cascade's QK2 runs in pass 2 instead."""
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    wl = Workload(seq_len=65536)
    mine = evaluate(hardware("fusemax"), user_file(tmp_path, RECOMPUTE), wl)
    deferred = evaluate(hardware("fusemax"), "attention-3pass-deferred", wl)
    cycles = mine.detail["einsum_cycles"]
    assert cycles["QK2"] == cycles["QK"] == deferred.detail["einsum_cycles"]["QK"] > 0
    assert "crossing" not in mine.detail and deferred.detail["crossing"] == "spilled to DRAM"
    assert mine.detail["rule"].endswith("then QK2+SN+SD+SNV")
    assert mine.cost.hbm_bytes < deferred.cost.hbm_bytes / 10


def test_a_chain_of_recomputed_tensors_moves_together(tmp_path):
    """QK2 read only by X, X only in pass 2: both move (X alone would make QK2 cross instead)."""
    from einsum_cascades.passes import einsum_passes

    text = RECOMPUTE.replace("SN[m,p] = exp(QK2[m,p] - GM[p])",
                             "X[m,p] = QK2[m,p] * 0.5\nSN[m,p] = exp(X[m,p] - GM[p])")
    level = einsum_passes(load_cascade(user_file(tmp_path, text)), "m")
    assert (level["QK2"], level["X"], level["SN"]) == (2, 2, 2)


@pytest.mark.parametrize("text, stays", [
    # X reads the scores pass 1 needs: moving X would hold QK across the boundary in its place
    (DEFERRED.replace("SN[m,p] = exp(QK[m,p] - GM[p])", "X[m,p] = QK[m,p] * 0.5\nSN[m,p] = exp(X[m,p] - GM[p])"),
     "X"),
    # LM2 (M1 per query) reads BQK (M per query), which pass 1 needs: it stays, so M1 values cross, not M
    (str(load_cascade("attention-2pass")).replace("CF[m1,p]     = exp(LM[m1,p] - GM[p])",
                                                  "LM2[m1,p] = max(BQK[m1,m0,p])\nCF[m1,p] = exp(LM2[m1,p] - GM[p])"),
     "LM2"),
])
def test_an_einsum_whose_operands_stay_behind_stays_with_them(tmp_path, text, stays):
    from einsum_cascades.passes import einsum_passes

    assert f"{stays}[m" in text  # the replacement took
    assert einsum_passes(load_cascade(user_file(tmp_path, text)), "m")[stays] == 1


def test_bundled_cascades_move_nothing_but_a_copy_of_v():
    """Every bundled cascade runs each computing Einsum in its earliest pass already; only attention-2pass's BV
    (a view of V, read in pass 2) is placed with its reader."""
    from einsum_cascades.passes import _earliest, einsum_passes, families

    for name in cascade_names():
        c = load_cascade(name)
        fam = families(c)
        early, late = _earliest(c, "m", fam), einsum_passes(c, "m")
        moved = {n: (early[n], late[n]) for n in early if early[n] != late[n]}
        assert moved == ({"BV": (1, 2)} if name == "attention-2pass" else {}), name


# 3. passes over the query rank

COLUMN_SOFTMAX = DEFERRED.replace("# reference: softmax", "# reference: none").replace("GM[p]", "GM[m]").replace(
    "SD[p]", "SD[m]")


@pytest.mark.parametrize("command", [("simulate", "--hw", "h100", "--algo"), ("simulate", "--hw", "flat", "--algo"),
                                     ("sweep", "--hw", "fusemax", "--seq-len", "1k,2k", "-o", "OUT", "--algo"),
                                     ("simulate", "--hw", "h100", "--algo", "flash3", "--baseline")])
def test_passes_over_the_queries_are_refused_in_one_line_naming_both_einsums(tmp_path, command):
    command = [tmp_path / "out.csv" if a == "OUT" else a for a in command]  # a sweep writes nothing: it is refused
    line = one_line_error(*command, user_file(tmp_path, COLUMN_SOFTMAX))
    assert "3 passes over the query rank p are not modelled" in line
    assert "GM reduces over the queries in 'GM[m] = max(QK[m,p])', so SN needs a second pass over them" in line
    assert "attnsim costs cascades that make one pass over the queries" in line


def test_a_points_file_row_with_passes_over_the_queries_is_refused_naming_the_row(tmp_path):
    points = tmp_path / "points.csv"
    points.write_text(f"hardware,algorithm,seq_len\nh100,flash3,4096\nh100,{user_file(tmp_path, COLUMN_SOFTMAX)},4096\n")
    line = one_line_error("simulate", "--from", points)
    assert "points.csv row 2:" in line and "so SN needs a second pass over them" in line


def test_cascade_check_still_runs_passes_over_the_queries(tmp_path):
    """Only costing is refused: the oracle runs it, and a softmax over the queries is not softmax attention."""
    r = run("cascade", "check", user_file(tmp_path, COLUMN_SOFTMAX))
    assert r.exit_code == 0 and "ran on random inputs" in r.output, r.output
    r = run("cascade", "check", user_file(tmp_path, COLUMN_SOFTMAX.replace("# reference: none", "# reference: softmax")))
    assert r.exit_code == 1 and "FAIL" in r.output, r.output
