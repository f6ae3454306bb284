"""The cascade notation: what parses, what is rejected (always CascadeParseError naming file:line:col)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from einsum_cascades import CascadeParseError, cascade_names, parse_cascade
from einsum_cascades.errors import UserError
from einsum_cascades.library import _library_dir
from einsum_cascades.parser import Index, Num, Op, parse_lines


def test_notation_of_the_issue_parses_to_structured_lines():
    lines, header = parse_lines("# a summary\n# reference: softmax\n# extents: M0=4, M2=2\n"
                                "RM[0,p] = -inf\n"
                                "GM[p] = max(QK[m,p])  # reduction\n"
                                "RM[m1+1,p] = max(RM[m1,p], LM[m1,p])\n"
                                "BK[e,m1,m0] = K[e, m1*M0 + m0]\n"
                                "AV[f,p] = RNV[f,M1,p] / RD[M1,p]\n", "t")
    assert (header.summary, header.reference, header.extents) == ("a summary", "softmax", (("M0", 4), ("M2", 2)))
    init, gm, rm, bk, av = lines
    assert init.is_init and init.expr == Op("neg", (Num(math.inf),))
    assert (gm.reduce, str(gm.expr)) == ("max", "QK[m,p]")
    assert rm.reduce is None and rm.expr.name == "max" and rm.output.indices[0] == Index("next", "m1")
    assert bk.accesses()[0].indices[1] == Index("affine", (("m1", ("M0",)), ("m0", ())))
    assert av.accesses()[0].indices[1] == Index("final", "M1")


@pytest.mark.parametrize("text, where, message", [
    ("QK[m,p] = Q[e,p] * * K[e,m]", "t:1:20", "syntax error"),
    ("QK[m,p] = foo(Q[e,p])", "t:1:11", "unknown function 'foo'"),
    ("QK = Q[e,p]", "t:1:1", "left side must be a tensor"),
    ("QK[m,p] = Q[e,p]\nQK[m,p] = K[e,m]", "t:2:1", "QK is defined twice"),
    ("X[p] = __import__('os')", "t:1:8", "unknown function '__import__'"),
    ("X[p] = Q[e,p] ** 2", "t:1:8", "not allowed here"),
    ("X[p] = Q[p].T", "t:1:8", "not allowed here"),
    ("X[p] = Q", "t:1:8", "bare name 'Q'"),
    ("X[p] = max(Q[m,p]) + 1", "t:1:8", "reduction: it may only wrap the whole right side"),
    ("X[p] = sum(Q[p], K[p])", "t:1:8", "sum() takes one argument"),
    ("X[p] = exp(Q[p], K[p])", "t:1:8", "exp() takes one argument"),
    ("X[p] =   Q[1.5]", "t:1:12", "bad index '1.5'"),
    ("X[m1*M0] = Q[m]", "t:1:3", "bad index"),  # a left side may write a whole partition back, not a stride
    ("X[p] = Q[p] == 1", "t:1:13", "a second '='"),
    ("X[p] = max(Q[p], key=1)", "t:1:21", "no keyword argument (key=1)"),
    ("X[p] = Q[p] <= 1", "t:1:14", "comparison (==, <=, >=, !=)"),
    ("X[p] Q[p]", "t:1:1", "expected one '='"),
    ("Xé[p] = Q[p]", "t:1:2", "plain ASCII"),
    ("X[p] = Q[m+1,p]", "t:1:8", "bad index m+1"),
    ("X[p] = Q[M,p]", "t:1:8", "bad index M"),
    ("X[m,m] = Q[m]", "t:1:1", "rank 'm' appears twice"),
    ("X[m,p] = Q[e,p] * K[e,m]\nY[p] = X[p]", "t:2:8", "X[p] has 1 indices but X[m,p] has 2"),
    ("Q[e,p] = Q[e,p] * 2", "t:1:10", "Q reads itself"),
    ("A[p] = B[p]\nB[p] = A[p]", "t:1:1", "cycle (A -> B -> A)"),
    ("RM[m1+1,p] = max(RM[m1,p], X[m1,p])", "t:1:1", "needs an initial value: add a line RM[0,p]"),
    ("RM[0,p] = X[p]\nRM[m1+1,p] = RM[m1,p] + X[m1,p]", "t:1:1", "initial value must be a constant"),
    ("RM[0,q] = 0\nRM[m1+1,p] = RM[m1,p] + X[m1,p]", "t:1:1", "does not match RM[m1+1,p]: write RM[0,p]"),
    ("RM[0,p] = 0", "t:1:1", "initialised but never computed"),
    ("X[0,p] = 0\nX[m,p] = Q[m,p]", "t:1:1", "not iterative"),
    ("R[0,p] = 0\nR[i+1,p] = R[i,p] + X[i,p]\nY[p] = R[i+1,p] + R[J,p]", "t:3:19", "iterative over i"),
    ("R[0,p] = 0\nR[i+1,p] = R[i,p] + X[i,p]\nY[i,p] = R[I,p]", "t:3:10", "reads the final step R[I,p]"),
    # an iterative tensor read with fewer indices than its step's position (hypothesis found an IndexError here)
    ("KV[e,f,0] = 0\nKV[e,f,m1+1] = KV[ef,m1] + KC[e,f,m1]", "t:2:16", "read it with that index too"),
    ("BK[e,m1,m0] = K[e, m1*M1 + m0]", "t:1:15", "the stride of m1 must be M0"),
    ("# extents: M0=four\nX[p] = Q[p]", "t:1:1", "bad extent 'M0=four'"),
    ("# only comments", "t", "no Einsums found"),
    ("X[p] = " + "(" * 300 + "Q[p]" + ")" * 300, "t:1:", "nested"),
    ("X[p] = " + "-" * 5000 + "Q[p]", "t:1:8", "nested too deeply"),
    ("X[p] = " + "+".join(["Q[p]"] * 500), "t:1:8", "nested"),
    # a name past MAX_NAME characters: later errors quote names whole, so a 1 MB name made a 1 MB error line
    ("X[p] = " + "Y" * 100_000 + "[e,p]", "t:1:8", "is 100,000 characters long; at most 64"),
    ("X[" + "r" * 65 + ",p] = Q[p]", "t:1:3", "is 65 characters long; at most 64"),
    ("# reference: " + "z" * 1000 + "\nX[p] = Q[p]", "t:1:1", "reference 'zzz"),
    ("# extents: " + "Z" * 1000 + "=4\nX[p] = Q[p]", "t:1:1", "a NAME of at most 64 characters"),
])
def test_malformed_text_names_file_line_and_column(text, where, message):
    with pytest.raises(CascadeParseError) as err:
        parse_cascade(text, "t")
    assert str(err.value).startswith(where) and message in str(err.value), str(err.value)
    assert "\n" not in str(err.value) and isinstance(err.value, UserError)


def test_a_tensor_read_under_another_rank_name_is_allowed():
    c = parse_cascade("X[m,p] = Q[m,p] * 2\nY[f,p] = X[m,p] * V[f,m]")
    assert c.inputs == ("Q", "V") and c.outputs == ("Y",)


FUZZ_ALPHABET = "QKVRMXmpef01[],=+-*/()# maxsumexpinf\n.:'_\t"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=FUZZ_ALPHABET, max_size=80))
def test_fuzz_cascade_like_text_only_ever_raises_the_parse_error(text):
    _parse_and_maybe_run(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_fuzz_any_unicode_only_ever_raises_the_parse_error(text):
    _parse_and_maybe_run(text)


LIBRARY_TEXTS = [_library_dir().joinpath(f"{n}.cascade").read_text() for n in cascade_names()]


@settings(max_examples=250, deadline=None)
@given(st.sampled_from(LIBRARY_TEXTS), st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 3),
                                                          st.sampled_from(FUZZ_ALPHABET)), max_size=4))
def test_fuzz_mutated_library_files(text, edits):
    for pos, action, char in edits:  # delete, replace or insert a character, or swap two lines
        pos %= max(len(text), 1)
        if action == 0:
            text = text[:pos] + text[pos + 1:]
        elif action == 1:
            text = text[:pos] + char + text[pos + 1:]
        elif action == 2:
            text = text[:pos] + char + text[pos:]
        else:
            lines = text.splitlines()
            i = pos % max(len(lines), 1)
            lines[i:i + 2] = reversed(lines[i:i + 2])
            text = "\n".join(lines)
    _parse_and_maybe_run(text)


def _parse_and_maybe_run(text: str) -> None:
    """Parsing raises nothing but CascadeParseError; whatever parses, runs or raises a UserError."""
    try:
        c = parse_cascade(text, "fuzz")
    except CascadeParseError:
        return
    ranks = {v.upper() for e in c.einsums for v in e.vars}
    inputs = {t: np.ones((2,) * len(next(a for e in c.einsums for a in e.reads if a.tensor == t).indices))
              for t in c.inputs}
    try:
        c.op_counts(), c.passes(), str(c)
        c.run(inputs, {r: 2 for r in ranks if r not in c.default_extents})
    except UserError:
        pass


def test_a_fixed_position_picks_one_slice_of_a_rank():
    """A[0,m,p] on the right reads the first of two maps (differential attention's halves)."""
    c = parse_cascade("# extents: G=2\nQG[g,e0,p] = Q[g*E0 + e0, p]\nS[g,m,p] = QG[g,e0,p] * K[e0,m]\n"
                      "D[m,p] = S[0,m,p] - S[1,m,p]\n", "t")
    q, k = np.arange(8.0).reshape(4, 2), np.ones((2, 3))
    out = c.run({"Q": q, "K": k})["D"]
    assert np.allclose(out, k.T @ (q[:2] - q[2:]))  # [m, p]: both halves' scores, subtracted


def test_a_fixed_position_past_the_rank_is_a_user_error():
    c = parse_cascade("S[g,m,p] = Q[g,p] * K[g,m]\nD[m,p] = S[2,m,p]\n", "t")
    with pytest.raises(UserError, match="index 2 of S.s axis 1 is past its extent, 2 at this size"):
        c.run({"Q": np.ones((2, 3)), "K": np.ones((2, 3))})


def test_a_bare_rank_is_its_index_value_and_a_bare_extent_its_extent():
    """Decay tables from positions: DM[i,j] = exp(-(i - j)) below the diagonal (lightning attention's mask)."""
    c = parse_cascade("# extents: M0=3\n"
                      "DM[p0,m0] = exp(-0.5 * (p0 - m0)) * max(0, -max(-1, m0 - p0 - 1)) + 0 * Q[p0,m0]\n"
                      "W[m0] = M0 - m0 + 0 * K[m0]\n", "t")
    env = c.run({"Q": np.zeros((3, 3)), "K": np.zeros(3)})
    i, j = np.arange(3)[:, None], np.arange(3)[None, :]
    assert np.allclose(env["DM"], np.where(i >= j, np.exp(-0.5 * (i - j)), 0.0))
    assert np.allclose(env["W"], [3, 2, 1])


def test_a_bare_name_that_is_no_rank_of_the_einsum_is_refused():
    with pytest.raises(CascadeParseError, match="bare name 'q0'"):
        parse_cascade("X[p] = Q[p] * q0", "t")
    with pytest.raises(CascadeParseError, match="bare name 'P0'"):
        parse_cascade("X[p] = Q[p] * P0", "t")


def test_a_left_side_partition_writes_a_chunked_result_back_over_the_whole_rank():
    c = parse_cascade("# extents: P0=2\nQC[p1,p0] = Q[p1*P0 + p0]\nY[p1*P0 + p0] = QC[p1,p0] * 2\n", "t")
    assert np.allclose(c.run({"Q": np.arange(6.0)})["Y"], 2 * np.arange(6.0))


def test_a_sloppy_literal_is_a_syntax_error_not_a_python_warning():
    """Python parses "1if" with a SyntaxWarning on stderr; the cascade language calls it a syntax error."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CascadeParseError, match="invalid decimal literal"):
            parse_lines("Z[m] = A[m] * 1if 1else 2", "x.cascade")
