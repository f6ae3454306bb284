"""Bad inputs a fuzz of every subcommand found handled badly: each now exits 2 with one short line naming the
value and what is allowed."""

import pytest

from cli_runner import one_line_error, user_file  # noqa: E402  (tests/cli_runner.py)


@pytest.mark.parametrize("command", [("cascade", "show"), ("cascade", "check"), ("simulate", "--algo")])
def test_a_megabyte_tensor_name_is_refused_in_a_short_line(tmp_path, command):
    """simulate quoted the name whole in its 'does not produce an attention output' error: a 1 MB stderr line."""
    path = user_file(tmp_path, "Y" * 1_000_000 + "[f,p] = Q[e,p] * K[e,m] * V[f,m]\n")
    line = one_line_error(*command, path)
    assert "is 1,000,000 characters long; at most 64" in line and len(line) < 300


@pytest.mark.parametrize("command", [("simulate",), ("sweep", "-o", "-")])
def test_a_float_range_with_an_empty_count_is_refused(command):
    """'0..0.99:' ran as '0..0.99' (10 values): the ':' with no N after it was read as no ':' at all."""
    line = one_line_error(*command, "--sparsity", "0..0.99:")
    assert "bad --sparsity range '0..0.99:'" in line and "LOW..HIGH:N" in line and "N >= 2" in line

