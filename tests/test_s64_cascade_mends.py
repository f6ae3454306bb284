"""Mends of a user audit's cascade findings (s64): a Q, K or V read with a rank the workload does not bind is
refused where the cascade is loaded (``V[f,z]`` had been priced with Z = F); passes over the query rank are refused
where a cascade is costed; evaluate takes a Cascade load_cascade gave, and load_cascade checks what cascade show
does; a missing cascade file is named as such; an accelerator call whose arrays work in series says bound
compute; the accelerator breakdown gives each Einsum a colour and keeps its legend on the figure; FLAT fetches an
input two Einsums of a pass read once."""

import pytest

from einsum_cascades import load_cascade
from einsum_cascades.errors import UserError

SOFTMAX = ("QK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QK[m,p])\nSN[m,p] = exp(QK[m,p] - GM[p])\n"
           "SD[p] = sum(SN[m,p])\nA[m,p] = SN[m,p] / SD[p]\nAV[f,p] = A[m,p] * V[f,m]\n")


from cli_runner import one_line_error, run, user_file  # noqa: E402  (tests/cli_runner.py)


# 1. a rank the workload does not bind


@pytest.mark.parametrize("command", [("cascade", "show"), ("simulate", "--hw", "fusemax", "--algo"),
                                     ("simulate", "--hw", "h100", "--algo"), ("cascade", "check")])
def test_a_typoed_key_rank_on_v_is_refused_naming_tensor_rank_and_ranks_allowed(tmp_path, command):
    """AV[f,p] = QK[m,p] * V[f,z] showed mac=F*M*P*Z and was simulated with Z = F (100x FuseMax's cost)."""
    path = user_file(tmp_path, "# reference: none\nQK[m,p] = Q[e,p] * K[e,m]\nAV[f,p] = QK[m,p] * V[f,z]\n")
    line = one_line_error(*command, path)
    assert ":3: V[f,z] reads the attention input V with rank z at its positions" in line
    assert "it is V[f,m], features then positions" in line and "the key rank m or a partition of it" in line


def test_a_query_rank_at_the_keys_positions_is_refused(tmp_path):
    line = one_line_error("cascade", "show", user_file(tmp_path, SOFTMAX.replace("K[e,m]", "K[e,p]")))
    assert "K[e,p] reads the attention input K with rank p at its positions" in line and "key rank m" in line


def test_a_position_rank_among_the_features_is_refused(tmp_path):
    line = one_line_error("cascade", "show", user_file(tmp_path, SOFTMAX.replace("V[f,m]", "V[p,m]")))
    assert "V[p,m] reads the attention input V with the position rank p among its features" in line


def test_the_same_wording_as_a_miscounted_input():
    """The three-index read refused before reads as the new refusal does: the read, the input, what it is."""
    from einsum_cascades import parse_cascade
    from einsum_cascades.reference import attention_input_error

    three = attention_input_error(parse_cascade(SOFTMAX.replace("Q[e,p]", "Q[e,p,m]"), "mine"))
    unbound = attention_input_error(parse_cascade(SOFTMAX.replace("Q[e,p]", "Q[e,z]"), "mine"))
    assert "Q[e,p,m] reads the attention input Q with 3 indices: it is Q[e,p], features then positions" in three
    assert "Q[e,z] reads the attention input Q with rank z at its positions" in unbound
    assert "it is Q[e,p], features then positions" in unbound and "the query rank p" in unbound


def test_bundled_cascades_and_partitions_still_load():
    """Partitions of p and m (lightning's p1*P0 + p0, split-KV's m2*M1*M0 + ...) and a split feature rank
    (differential's g*E0 + e0) are bound ranks."""
    from einsum_cascades import cascade_names

    for name in cascade_names():
        load_cascade(name)


# 2. passes over the query rank


COLUMN_SOFTMAX = ("# reference: none\nQK[m,p] = Q[e,p] * K[e,m]\nGM[m] = max(QK[m,p])\nSN[m,p] = exp(QK[m,p] - GM[m])\n"
                  "SD[m] = sum(SN[m,p])\nA[m,p] = SN[m,p] / SD[m]\nAV[f,p] = A[m,p] * V[f,m]\n")


@pytest.mark.parametrize("hw", ["h100", "fusemax"])
def test_passes_over_the_queries_are_refused_where_costed(tmp_path, hw):
    """A softmax over the queries (passes: m=1, p=3) was priced as one pass: 7.19 ms on an H100 where the 3-pass
    softmax over the keys takes 11.5 ms, 19.9 ms on FuseMax against 161 ms."""
    path = user_file(tmp_path, COLUMN_SOFTMAX)
    line = one_line_error("simulate", "--hw", hw, "--algo", path, "--seq-len", "16k", "--head-dim", "64")
    assert "3 passes over the query rank p are not modelled" in line
    assert "GM[m] = max(QK[m,p])" in line and "one pass over the queries" in line


def test_passes_over_the_queries_are_refused_by_the_python_api(tmp_path):
    from simulator import simulate

    with pytest.raises(UserError, match="passes over the query rank p are not modelled"):
        simulate(hw="fusemax", algo=user_file(tmp_path, COLUMN_SOFTMAX), seq_len=1024)


def test_cascade_show_still_shows_passes_over_the_queries(tmp_path):
    r = run("cascade", "show", user_file(tmp_path, COLUMN_SOFTMAX))
    assert r.exit_code == 0 and "passes: e=1, f=1, m=1, p=3" in r.output


# 3. the Python API: a Cascade object, and load_cascade's checks


def test_evaluate_costs_a_cascade_load_cascade_gave_as_its_name():
    """evaluate(hardware("fusemax"), load_cascade("attention-1pass"), W) said "bad algo '# Cascade 5, ...'"."""
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    wl = Workload(seq_len=4096, head_dim=64)
    for hw in ("fusemax", "h100"):
        by_object = evaluate(hardware(hw), load_cascade("attention-1pass"), wl)
        assert by_object.time_s == evaluate(hardware(hw), "attention-1pass", wl).time_s


def test_evaluate_costs_a_loaded_cascade_file_as_its_path(tmp_path):
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    path, wl = user_file(tmp_path, SOFTMAX), Workload(seq_len=4096, head_dim=64)
    assert evaluate(hardware("h100"), load_cascade(path), wl).time_s == evaluate(hardware("h100"), path, wl).time_s


def test_simulate_takes_a_loaded_cascade_too():
    from simulator import simulate

    row = simulate(hw="fusemax", algo=load_cascade("attention-1pass"), seq_len=4096)
    assert row["algorithm"] == "attention-1pass" and row["time_s"] == simulate(
        hw="fusemax", algo="attention-1pass", seq_len=4096)["time_s"]


def test_a_cascade_parsed_from_text_says_to_pass_its_name_or_path():
    from einsum_cascades import parse_cascade
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    with pytest.raises(UserError, match="pass the cascade's name or file path, not a Cascade object"):
        evaluate(hardware("fusemax"), parse_cascade(SOFTMAX, "mine"), Workload(seq_len=1024))


def test_load_cascade_refuses_what_cascade_show_refuses(tmp_path):
    """load_cascade on a file reading an undefined tensor (SDD) succeeded in Python; cascade show refused it."""
    path = user_file(tmp_path, SOFTMAX.replace("/ SD[p]", "/ SDD[p]"))
    with pytest.raises(UserError, match="SDD is read but never computed"):
        load_cascade(path)
    assert "SDD is read but never computed" in one_line_error("cascade", "show", path)


# 4. a cascade file that is not there


@pytest.mark.parametrize("algo", ["missing.cascade", "missing.cascade@flash3", "nodir/x.cascade", "./nodir/x"])
def test_simulate_names_a_missing_cascade_file(algo):
    """simulate --algo missing.cascade listed 600 characters of families instead of saying the file is missing."""
    line = one_line_error("simulate", "--hw", "h100", "--algo", algo)
    name = algo.partition("@")[0]
    assert line == f"attnsim: error: cascade file {name!r}: no such file"


def test_a_file_not_named_cascade_is_named_as_such(tmp_path):
    path = user_file(tmp_path, SOFTMAX, "mine.txt")
    line = one_line_error("simulate", "--hw", "h100", "--algo", path)
    assert f"cascade file {path!r}: --algo takes a cascade file whose name ends in .cascade" in line


def test_a_misspelt_family_still_lists_the_families():
    assert "unknown algorithm 'flash9' (did you mean flash4?)" in one_line_error("simulate", "--algo", "flash9")


# 5. the bound of an accelerator call whose arrays work in series

LIN2 = ("# reference: none\nK2[e,m] = K[e,m] * 1.0\nQ2[e,p] = Q[e,p] * 1.0\nKV[e,f] = K2[e,m] * V[f,m]\n"
        "KS[e] = sum(K2[e,m])\nNUM[f,p] = Q2[e,p] * KV[e,f]\nDEN[p] = Q2[e,p] * KS[e]\nAV[f,p] = NUM[f,p] / DEN[p]\n")


def _accel(algo: str, seq_len: int = 16384, head_dim: int = 64, hw: str = "fusemax"):
    from simulator.api import evaluate, hardware
    from simulator.workload import Workload

    return evaluate(hardware(hw), algo, Workload(seq_len=seq_len, head_dim=head_dim))


def test_arrays_in_series_past_every_roof_are_compute_bound(tmp_path):
    """lin2 on FuseMax: roofs dram 0.625 ms, 1D 0.558 ms, the arrays in series 0.839 ms; it said bound: dram."""
    r = _accel(user_file(tmp_path, LIN2))
    assert r.time_s == r.times["compute"] and max(r.times[u] for u in ("array2d", "array1d", "dram")) < 0.8 * r.time_s
    assert r.bound == "compute"


def test_fusemax_arch_past_its_roofs_is_compute_bound_and_stall_keeps_its_meaning():
    """+Architecture at 16k, d=128: 90.6 ms where its 1D roof is 37.4 ms and its stalls 35.7 ms said array1d; at
    d=64 its stalls (35.7 ms) outlast every unit (19.4 ms) and it stays stall-bound; +Binding stays array-bound."""
    arch = _accel("fusemax-arch", head_dim=128)
    assert arch.bound == "compute" and arch.times["array1d"] < 0.5 * arch.time_s
    assert _accel("fusemax-arch").bound == "stall"
    assert _accel("fusemax", head_dim=128).bound == "array1d"


def test_the_explanation_says_what_compute_means(tmp_path):
    r = run("simulate", "--hw", "fusemax", "--algo", "fusemax-arch", "--seq-len", "16k", "--head-dim", "128",
            "--explain")
    assert r.exit_code == 0 and "bound: compute" in r.output and "(compute: the arrays' work in series" in r.output


def test_unfused_names_its_longest_phases_bound():
    """FLAT's Unfused: phases QK 40.6 ms [dram], softmax 142.8 ms [array1d], AV 40.6 ms [dram] in series (224 ms);
    no roof makes 90% of it (DRAM's, 161 ms, had named it): the softmax's array, as a GPU's naive names its
    longest kernel's bound."""
    r = _accel("unfused", head_dim=128, hw="flat")
    assert r.detail["phase_bounds"] == {"QK": "dram", "softmax": "array1d", "AV": "dram"}
    assert r.bound == "array1d" and r.time_s == sum(r.detail["phase_seconds"].values())
    out = run("simulate", "--hw", "flat", "--algo", "unfused", "--seq-len", "16k", "--head-dim", "128",
              "--explain").output
    assert "softmax 142.7848 ms [array1d]" in out and "the bound of the longest phase, softmax" in out


def test_the_roofline_marks_a_compute_bound_point_on_its_own_throughput():
    from cli.plots.roofline import binding_roofs
    from simulator import simulate

    row = simulate(hw="fusemax", algo="fusemax-arch", seq_len=16384, head_dim=128)
    assert row["bound"] == "compute"
    (x, y), = binding_roofs([row])["fusemax-arch"]
    assert y == pytest.approx(row["flops"] / row["time_s"])


# 6. the accelerator breakdown's colours, hatching and legend

FOUR = ("attention-1pass", "sig", "lin", "p_4pass")
FOUR_TEXT = {
    "sig": "# reference: sigmoid\nS[m,p] = Q[e,p] * K[e,m]\nG[m,p] = sigmoid(S[m,p])\nAV[f,p] = G[m,p] * V[f,m]\n",
    "lin": ("# reference: none\nKV[e,f] = K[e,m] * V[f,m]\nKS[e] = sum(K[e,m])\nNUM[f,p] = Q[e,p] * KV[e,f]\n"
            "DEN[p] = Q[e,p] * KS[e]\nAV[f,p] = NUM[f,p] / DEN[p]\n"),
    "p_4pass": "# reference: none\n" + SOFTMAX.replace("AV[f,p] = A[m,p] * V[f,m]\n", "AM[p] = max(A[m,p])\n"
                                                        "A2[m,p] = A[m,p] / AM[p]\nAV[f,p] = A2[m,p] * V[f,m]\n")}


def _four_groups(tmp_path):
    from cli.plots.breakdown import evaluate_points

    algos = [a if a not in FOUR_TEXT else user_file(tmp_path, FOUR_TEXT[a], f"{a}.cascade") for a in FOUR]
    return evaluate_points([dict(hardware="fusemax", algorithm=a, seq_len=16384, head_dim=64) for a in algos])


def test_the_einsums_of_four_cascades_take_a_colour_each(tmp_path):
    """Past 20 Einsum names the palette came round again: p_4pass's QK took attention-1pass's BQK colour."""
    import matplotlib.pyplot as plt

    from cli.plots.breakdown import _accel

    fig, ax = plt.subplots()
    _accel(ax, _four_groups(tmp_path))
    handles, labels = ax.get_legend_handles_labels()
    colours = {label: tuple(h.patches[0].get_facecolor()) for h, label in zip(handles, labels) if hasattr(h, "patches")}
    plt.close(fig)
    assert len(colours) == 26 and len(set(colours.values())) == len(colours)  # 25 Einsum names and DRAM


def test_past_the_palette_colours_stay_distinct_and_never_drams():
    from cli.plots.breakdown import _part_colour, einsum_palette

    colours: dict = {}
    looks = [_part_colour(f"E{i}", colours, einsum_palette()) for i in range(80)]
    assert len(set(map(tuple, (matplotlib_rgb(c) for c in looks)))) == 80
    assert matplotlib_rgb(_part_colour("DRAM", colours, einsum_palette())) not in {matplotlib_rgb(c) for c in looks}


def matplotlib_rgb(colour) -> tuple:
    from matplotlib.colors import to_rgb

    return tuple(round(v, 6) for v in to_rgb(colour))


def test_no_bar_is_hatched_and_the_legend_stays_on_the_figure(tmp_path):
    """Light shades had been cross-hatched, which meant nothing; the one-column legend of 27 entries ran off the
    figure's bottom."""
    import matplotlib.pyplot as plt

    from cli.plots.breakdown import _accel

    fig, ax = plt.subplots(figsize=(11, 5.2))
    _accel(ax, _four_groups(tmp_path))
    fig.tight_layout()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend, whole = ax.get_legend().get_window_extent(renderer), fig.bbox
    hatches = {p.get_hatch() for p in ax.patches}
    plt.close(fig)
    assert hatches == {None}
    assert whole.x0 <= legend.x0 and legend.x1 <= whole.x1 + 1 and whole.y0 <= legend.y0 and legend.y1 <= whole.y1


# 7. FLAT fetches an input two Einsums of a pass read once

LIN = FOUR_TEXT["lin"]


def test_flat_fetches_an_input_two_einsums_read_once(tmp_path):
    """lin.cascade on FLAT read K (K^T V and sum K) and Q (numerator and denominator) from DRAM twice each: adding
    identity copies (lin2: K2 = K * 1.0, Q2 = Q * 1.0) made it 32% faster. Now the first reader stages the input
    through the buffer and the second reads it there: DRAM reads are Q, K and V once (and what spills)."""
    from simulator.accel_binding import binding, roles
    from simulator.api import hardware

    lin, lin2 = user_file(tmp_path, LIN, "lin.cascade"), user_file(tmp_path, LIN2, "lin2.cascade")
    table = binding(hardware("flat"), roles(lin), "flat", "flat").table
    assert table["KV"][0]["K"] == "dram gb" and table["KS"][0]["K"] == "gb"
    assert table["NUM"][0]["Q"] == "dram gb" and table["DEN"][0]["Q"] == "gb"
    one, copied = _accel(f"{lin}@flat", hw="flat"), _accel(f"{lin2}@flat", hw="flat")
    words = 32 * 3 * 16384 * 64  # Q, K and V of 32 heads, once
    assert words <= one.detail["accesses_words"]["reads"]["dram"] < 1.02 * words
    assert one.time_s <= copied.time_s


def test_an_input_one_einsum_reads_still_streams_from_dram():
    """attention-3pass on FLAT (the FuseMax paper's FLAT baseline): Q, K, V each read by one Einsum, streamed."""
    from simulator.accel_binding import binding, roles
    from simulator.api import hardware

    table = binding(hardware("flat"), roles("attention-3pass"), "flat", "flat").table
    assert table["QK"][0] == {"Q": "dram", "K": "dram"} and table["AV"][0]["V"] == "dram"
