"""User cascades a property fuzz of the cascade path (show, check, simulate on GPUs and accelerators) found handled
badly: each now compiles to a cost, or is refused with exit status 2 and one line, in seconds."""

import time

import pytest

from cli_runner import one_line_error, run, user_file  # noqa: E402  (tests/cli_runner.py)


def _chain(n: int) -> str:
    """A cascade of n Einsums, each reading the one before it."""
    return ("X0[m,p] = Q[e,p] * K[e,m]\n" + "".join(f"X{i + 1}[m,p] = X{i}[m,p] + 1\n" for i in range(n - 2))
            + f"AV[f,p] = X{n - 2}[m,p] * V[f,m]\n")


def test_cascade_show_counts_the_passes_once(tmp_path, monkeypatch):
    """show labelled each Einsum's pass by counting every family's passes again (pass_label -> count_passes), each
    count quadratic in the Einsums: a 400-line cascade took 80 s, a 2000-line one never ended."""
    import einsum_cascades.passes as passes

    calls = []
    counted = passes.count_passes
    monkeypatch.setattr(passes, "count_passes", lambda c: calls.append(c) or counted(c))
    r = run("cascade", "show", user_file(tmp_path, _chain(40)))
    assert r.exit_code == 0, r.output
    assert len(calls) == 1


def test_an_accelerator_plan_counts_the_ops_once_per_plan(tmp_path, monkeypatch):
    """The accelerator binding's roles took the whole cascade's op counts once per Einsum (quadratic): a 2000-line
    cascade on fusemax took 83 s. The calls no longer grow with the cascade's length."""
    from einsum_cascades.cascade import Cascade

    calls = []
    counted = Cascade.op_counts
    monkeypatch.setattr(Cascade, "op_counts", lambda self: calls.append(self) or counted(self))
    made = []
    for n in (5, 10, 40):  # the first call also plans the bundled baseline
        calls.clear()
        path = user_file(tmp_path, _chain(n), f"chain{n}.cascade")
        r = run("simulate", "--hw", "fusemax", "--algo", path + "@fusemax", "--format", "json")
        assert r.exit_code == 0, r.output
        made.append(len(calls))
    assert made[1] == made[2]


def test_a_thousand_line_cascade_is_shown_and_priced_in_seconds(tmp_path):
    path = user_file(tmp_path, _chain(1000))
    for args in (("cascade", "show", path), ("simulate", "--hw", "fusemax", "--algo", path + "@fusemax")):
        start = time.perf_counter()
        r = run(*args)
        assert r.exit_code == 0, r.output
        assert time.perf_counter() - start < 20


def test_a_cascade_past_a_thousand_lines_is_refused(tmp_path):
    """A 10,000-line cascade took a minute on fusemax; past 1,000 Einsum lines one is refused, naming the line."""
    path = user_file(tmp_path, _chain(1001))
    line = one_line_error("simulate", "--hw", "fusemax", "--algo", path + "@fusemax")
    assert f"{path}:1001:1: more than 1,000 Einsum lines; a cascade has at most 1,000" in line


def _time(*args) -> float:
    import json

    r = run("simulate", *args, "--seq-len", "1k", "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)[0]["time_s"]


@pytest.mark.parametrize("hw, cascade, mapping", [("fusemax", "attention-1pass", "fusemax-arch"),
                                                  ("b200", "attention-decode-splitkv", "flash4")])
def test_naming_vs_features_rank_otherwise_changes_no_time(tmp_path, hw, cascade, mapping):
    """The cost model found V's features by the literal rank name f: a bundled cascade with f written g9 ran 15%
    faster on fusemax-arch (its V-side Einsums left off the 1D array's f-walking group) and 1e-6 off on B200
    flash4 (SPNV's rescale priced per row tile, not per output element)."""
    import re

    from einsum_cascades.library import _library_dir

    text = _library_dir().joinpath(f"{cascade}.cascade").read_text()
    renamed = user_file(tmp_path, "\n".join(line if line.startswith("#") else re.sub(r"\bf\b", "g9", line)
                                            for line in text.splitlines()))
    assert _time("--hw", hw, "--algo", f"{renamed}@{mapping}") == _time("--hw", hw, "--algo", f"{cascade}@{mapping}")


@pytest.mark.parametrize("text, says", [
    ("AV[f,p] = Q[e,p] * K[e,m] * V[f,m] + Q[99999,p]\n", "index 99999 of Q's axis 1 is past its extent, 16"),
    ("QK[m,p] = Q[e,p] * K[e,m]\nAV[f] = QK[m,p] * V[f,m]\n", "output AV has shape (16,)")])
def test_a_cascade_its_check_refuses_is_priced_with_a_note(tmp_path, text, says):
    """A cascade whose check refuses it (an index past its rank's extent, an output other than AV[f,p]) was priced
    with no note at all, as if it computed attention; its row now says why it cannot be checked."""
    import json

    path = user_file(tmp_path, text)
    r = run("simulate", "--hw", "h100", "--algo", path + "@flash2", "--format", "json")
    assert r.exit_code == 0, r.output
    note = json.loads(r.stdout)[0]["note"] or ""
    assert "cannot be checked against its reference, softmax attention" in note and says in note


def test_check_refuses_lightning_at_unequal_lengths_as_simulate_does():
    """attention-lightning takes its query chunks from the keys': check at P != M had failed deep in the oracle with
    'an index is past the extent of its rank'; it now says what simulate says, in one line, exit 2."""
    r = run("cascade", "check", "attention-lightning", "--seq-len", "48", "--kv-len", "80")
    assert r.exit_code == 2
    assert "needs --kv-len equal to --seq-len (48), got 80" in r.output and len(r.output.strip().splitlines()) == 1
    assert run("cascade", "check", "attention-lightning", "--seq-len", "48").exit_code == 0


def test_a_cascade_of_many_outputs_is_refused_in_one_readable_line(tmp_path):
    """check and simulate had listed every output of a user's cascade in their refusal (300 names on one line)."""
    text = "QK[m,p] = Q[e,p] * K[e,m]\n" + "".join(f"O{i}[f,p] = QK[m,p] * V[f,m]\n" for i in range(300))
    path = user_file(tmp_path, text)
    for args in (("cascade", "check", path), ("simulate", "--algo", path + "@flash2")):
        line = one_line_error(*args)
        assert "O0, O1, O2, O3, O4, O5, O6, O7, ... (300 in all)" in line and "O8," not in line and len(line) < 400


def test_explain_says_a_cascades_extents_size_the_check_not_the_kernel(tmp_path):
    """'# extents: M0=4' sizes the oracle's chunks; a GPU mapping walks its own key tiles, so a cascade priced with
    M0=99999999 costs what M0=4 costs: --explain says so where the user reads the Einsums."""
    r = run("simulate", "--hw", "h100", "--algo", "attention-2pass@flash2", "--seq-len", "4k", "--explain")
    assert r.exit_code == 0, r.output
    assert "its '# extents: M0=4' sizes the chunks attnsim cascade check runs; the kernel walks its own key tiles" \
        in " ".join(r.output.split())
