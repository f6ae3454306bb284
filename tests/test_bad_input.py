"""Bad input ends as one line on stderr and exit status 2 (DESIGN), for each case found by trying the CLI
with hostile values: empty names, sizes and lists past their stated bounds, broken files."""

import pytest
from click.testing import CliRunner

from cli.main import cli


def fails(*args) -> str:
    """Run the CLI; assert exit 2 with exactly one line on stderr and no traceback; return that line."""
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 2, (args, r.exit_code, r.stdout, r.stderr, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("option", ["--hw", "--algo", "--model", "--baseline", "--pattern"])
def test_an_empty_name_is_refused_and_named(option):
    assert f"bad {option} ''" in fails("simulate", option, "")


def test_a_list_with_an_empty_name_is_refused():
    assert "empty name" in fails("simulate", "--hw", "h100,,a100")


def test_a_size_past_the_bound_names_the_bound():
    assert "at most 1024g" in fails("simulate", "--seq-len", "99999999999999999999999k")
    assert "bad --seq-len 2g: at most 1g" in fails("simulate", "--seq-len", "2g")
    assert "bad --batch 2m: at most 1m" in fails("simulate", "--batch", "2m")


def test_a_tensor_past_an_exbibyte_is_refused():
    assert "at most 2**60 B" in fails("simulate", "--seq-len", "1g", "--batch", "1m")


def test_ranges_and_lists_are_capped(tmp_path):
    assert "1,000,000,000 values; at most 10,000" in fails("simulate", "--sparsity", "0..0.9:1000000000")
    assert "3,570,000 points; at most 1,000,000" in fails(
        "sweep", "--sparsity", "0..0.9:10000", "--batch", "1..1m", "--heads", "1..64k", "-o", str(tmp_path / "x.csv"))


def test_cascade_check_refuses_sizes_the_oracle_cannot_hold():
    line = fails("cascade", "check", "attention-3pass", "--seq-len", "64k")
    assert "at most 16,777,216" in line or "at most 268,435,456" in line


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--tolerance", "nan"), ("--tolerance", "-1"),
                                           ("--tolerance", "inf")])
def test_cascade_check_refuses_a_bad_seed_or_tolerance(option, value):
    assert option in fails("cascade", "check", "attention-3pass", option, value)
