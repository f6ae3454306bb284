"""Text that is not a table (simulate --explain, cascade check, calibrate --kernels' fits) fits the
terminal: a long line folds at a comma, a colon or before ' = ', with a hanging indent, never inside a
number, a unit or a quoted name; the words are the same as on a terminal wide enough for every line."""

import pathlib

import pytest
from click.testing import CliRunner

from cli._wrap import fit_lines, wrap_line
from cli.main import cli
from simulator.api import hardware
from validation.kernel_fit import Fit, fit_table

EXPLAIN = [  # one point per explain layout: fused tiles, masks, decode, FA1, accelerators, layer scope, sparse methods
    ("--hw", "h100", "--seq-len", "8k"),
    ("--hw", "b200", "--algo", "flash4", "--seq-len", "8k", "--pattern", "causal&window(4k)"),
    ("--hw", "a100", "--algo", "flash1", "--seq-len", "8k"),
    ("--hw", "h100", "--algo", "flash-decoding", "--seq-len", "1", "--kv-len", "32k", "--scope", "layer"),
    ("--hw", "h100", "--algo", "flashinfer-decode", "--seq-len", "1", "--kv-len", "32k"),
    ("--hw", "h100", "--algo", "attention-3pass@flash3", "--seq-len", "8k"),
    ("--hw", "h100", "--seq-len", "32k", "--method", "minference"),
    ("--hw", "fusemax", "--algo", "fusemax-arch", "--seq-len", "8k"),
    ("--hw", "fusemax", "--algo", "flat", "--seq-len", "8k"),
]
CASCADES = sorted(str(p) for p in [*pathlib.Path("einsum_cascades/library").glob("*.cascade"),
                                   *pathlib.Path("docs/examples").glob("*.cascade")])


def _out(width: int, *args) -> str:
    r = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})
    assert r.exit_code in (0, 1), r.output  # cascade check exits 1 on a FAIL, still printing its line
    return r.stdout


def _check_fitted(narrow: str, wide: str, width: int) -> None:
    assert max(len(line) for line in narrow.splitlines()) <= width, narrow
    assert narrow.split() == wide.split()  # the same words in the same order: only breaks and indents differ


@pytest.mark.parametrize("args", EXPLAIN, ids=" ".join)
def test_explain_fits_80_columns_with_the_words_of_a_wide_terminal(args):
    wide = _out(1000, "simulate", *args, "--explain")
    _check_fitted(_out(80, "simulate", *args, "--explain"), wide, 80)


def test_explain_keeps_a_formula_on_one_line_where_the_terminal_is_wide_enough():
    exposed = hardware("h100").wgmma_softmax_exposed  # the fitted share, printed to three places
    rule = f"= max(max(G, S) + {exposed:.3f}*min(G, S), l2, latency), G = max(tensor, smem), S = max(exp, fma) = "
    assert rule in _out(200, "simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "8k", "--explain")
    folded = _out(80, "simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "8k", "--explain").splitlines()
    tile = next(i for i, line in enumerate(folded) if line.startswith("  tile = "))
    assert folded[tile].endswith("G = max(tensor, smem),") and folded[tile + 1].startswith("      S = max(exp, fma)")


def test_the_accelerator_explain_table_is_as_wide_as_its_values():
    lines = _out(1000, "simulate", "--hw", "fusemax", "--algo", "fusemax", "--seq-len", "8k", "--explain").splitlines()
    einsums = [line for line in lines if line.endswith(" cycles") and line.startswith("  ")]
    assert einsums and max(len(line) for line in einsums) <= 80
    assert len({line.index(" cycles") for line in einsums}) == 1  # still aligned


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("name", CASCADES)
def test_cascade_check_fits_the_terminal(name, width):
    _check_fitted(_out(width, "cascade", "check", name), _out(1000, "cascade", "check", name), width)


def test_cascade_check_without_a_reference_line_folds_outside_the_quoted_name(tmp_path):
    text = pathlib.Path("docs/examples/sigmoid.cascade").read_text()
    path = tmp_path / "no-reference.cascade"
    path.write_text("\n".join(line for line in text.splitlines() if not line.startswith("# reference")))
    out = _out(40, "cascade", "check", str(path))
    _check_fitted(out, _out(1000, "cascade", "check", str(path)), 40)
    assert any("'# reference:'" in line for line in out.splitlines())


def test_a_line_breaks_after_punctuation_outside_brackets_first():
    line = "total: a (b, c), d = 12 ms, e"
    assert wrap_line(line, 20) == ["total: a (b, c),", "    d = 12 ms, e"]


def test_a_number_keeps_its_unit_and_a_token_wider_than_the_terminal_stays_whole():
    assert wrap_line("x" * 30 + " 1.5 ms", 32) == ["x" * 30 + " 1.5 ms"]  # no place: a space beside a digit
    assert wrap_line("time " + "y" * 40, 20) == ["time", "    " + "y" * 40]
    # a word that ends in a digit is a word: a line may break after it (it overflowed a 40-column table before)
    assert wrap_line("of attention-3pass@flash2 itself; of the family", 30) == [
        "of attention-3pass@flash2", "    itself; of the family"]
    assert any("2,816 cycles" in part for part in wrap_line("a tile of 2,816 cycles and more", 18))


def test_lines_that_fit_are_left_as_they_are():
    text = "  a   b  = 1,234  [tensor]\nshort"
    assert fit_lines(text, 80) == text


def test_calibrate_fit_table_fits_80_columns_and_keeps_every_figure():
    fits = [Fit("unfused", {"unfused_hbm_efficiency": 0.6121}, 20, 0.099, 0.107, 0.151, ("naive",)),
            Fit("mma_sync", {"mma_sync_efficiency": 0.4135, "mma_sync_softmax_exposed": 0.52}, 135, 0.04, 0.045,
                1.217, ("flash1", "flash2", "flash-decoding"))]
    table = fit_table(fits)
    assert max(len(line) for line in table.splitlines()) <= 80, table
    for value in ("unfused: naive", "mma_sync: flash1,flash2,flash-decoding", "unfused_hbm_efficiency", "0.6121",
                  "mma_sync_softmax_exposed", "0.5200", "135", "4.0%", "4.5%", "121.7%", "LOO med", "written"):
        assert value in table
    header, first = table.splitlines()[3], table.splitlines()[5]
    assert len(header) == len(first)  # each header right-aligned over its numbers
