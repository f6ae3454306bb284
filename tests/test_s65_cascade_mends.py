"""Mends of three cascade-compiler defects (s65): a product of two separate sums (``Q[e,p] * K[x,m]``, a mistyped
rank) is refused where the cascade is loaded; an Einsum whose only readers are in a later pass is placed in their
pass (recomputed there, not held across the boundary); passes over the query rank are refused in one line where
costed and still shown and checked."""

import pytest

from einsum_cascades import cascade_names, load_cascade
from einsum_cascades.errors import UserError

from cli_runner import one_line_error, run  # tests/cli_runner.py

DEFERRED = ("# reference: softmax\nQK[m,p] = Q[e,p] * K[e,m]\nGM[p] = max(QK[m,p])\nSN[m,p] = exp(QK[m,p] - GM[p])\n"
            "SD[p] = sum(SN[m,p])\nSNV[f,p] = SN[m,p] * V[f,m]\nAV[f,p] = SNV[f,p] / SD[p]\n")


def _file(tmp_path, text: str, name: str = "mine.cascade") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# 1. a product of separate sums


@pytest.mark.parametrize("command", [("cascade", "show"), ("cascade", "check"), ("simulate", "--hw", "h100", "--algo"),
                                     ("simulate", "--hw", "fusemax", "--algo")])
def test_a_mistyped_feature_rank_is_refused_naming_the_einsum_and_the_rank_meant(tmp_path, command):
    """Q[e,p] * K[x,m] bound x to E and summed e over Q, x over K: cascade check failed it (max |error| 2.96) while
    simulate priced an E*E*M*P product."""
    line = one_line_error(*command, _file(tmp_path, DEFERRED.replace("K[e,m]", "K[x,m]")))
    assert ":2:" in line and "QK sums e over Q[e,p] alone and x over K[x,m] alone" in line
    assert "did you mean K[e,m] (or Q[x,p])?" in line


def test_a_mistyped_key_rank_between_computed_tensors_is_refused(tmp_path):
    path = _file(tmp_path, DEFERRED.replace("SN[m,p] * V[f,m]", "SN[n,p] * V[f,m]"))
    with pytest.raises(UserError, match=r"SNV sums n over SN\[n,p\] alone and m over V\[f,m\] alone.*"
                                        r"did you mean V\[f,n\] \(or SN\[m,p\]\)"):
        load_cascade(path)


def test_a_partitioned_read_is_renamed_in_the_suggestion(tmp_path):
    text = str(load_cascade("attention-1pass")).replace("Q[e,p] * BK[e,m1,m0]", "Q[e,p] * BK[x,m1,m0]")
    with pytest.raises(UserError, match=r"did you mean BK\[e,m1,m0\]"):
        load_cascade(_file(tmp_path, text))


def test_one_factor_summing_a_rank_alone_is_allowed(tmp_path):
    """sum over m of SN[m,p] * W[p] is W times the sum of SN: exact, so loaded, shown and checked."""
    text = DEFERRED.replace("SD[p] = sum(SN[m,p])", "W[p] = GM[p] * 0 + 1\nSD[p] = sum(SN[m,p] * W[p])")
    r = run("cascade", "check", _file(tmp_path, text))
    assert r.exit_code == 0 and "ok" in r.output, r.output


def test_a_rank_the_workload_does_not_bind_keeps_its_own_message(tmp_path):
    """V[f,z] is also a separate sum (z over V alone): the more specific refusal names it."""
    line = one_line_error("cascade", "show", _file(tmp_path, DEFERRED.replace("V[f,m]", "V[f,z]")))
    assert "V[f,z] reads the attention input V with rank z at its positions" in line


def test_no_bundled_cascade_multiplies_separate_sums():
    from einsum_cascades.validate import separate_sums_error

    for name in cascade_names():
        assert all(separate_sums_error(e.line, name) is None for e in load_cascade(name).einsums), name

