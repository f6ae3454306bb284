"""The listing commands' tables (hw, model, method, cascade, validate report) never cut a value at any
terminal width: no ellipsis, no line wider than the terminal, and every name, number and unit whole on
one line; what does not fit is named below the table, or the rows print as ``title: value`` blocks."""

import pytest
from click.testing import CliRunner
from rich.console import Console

from cli._fit import print_fitted
from cli.main import cli

FIXTURE = "tests/data/synthetic-h100-results.json"
WHOLE = {  # command -> values that must each appear unbroken on one line
    ("hw", "list"): ["a100-40gb", "fusemax", "2250.0 TFLOP/s", "400 GiB/s DRAM", "256x256+256 PEs", "132 SMs"],
    ("hw", "show", "h100"): ["tensor_flops_per_clk_sm.fp16", "4096 flop/clk/SM", "hbm_achievable_bw", "1830 MHz"],
    ("hw", "show", "fusemax"): ["pe2d_rows", "940 MHz", "peak_2d_macs"],
    ("model", "list"): ["mistral-7b", "window(4096)", "gpt3-175b"],
    ("method", "list"): ["seerattention", "nsa-select@kv-outer", "flash-decoding", "minference-vs", "2410.13276",
                         "sinks(64)|window(256))", "vertical_slash(1000,6096),"],
    ("cascade", "list"): ["attention-3pass-deferred", "attention-decode-splitkv"],
    ("cascade", "show", "attention-1pass"): ["mac=E*M0*M1*P", "BQK[m1,m0,p]"],
    ("validate", "report", FIXTURE, "--format", "table"): ["attnsim-naive", "-43.2%", "2.27 ms",
                                                          "speedup sparse_vs_dense", "88.4%"],
}


@pytest.mark.parametrize("width", [80, 60, 40])
@pytest.mark.parametrize("args", list(WHOLE), ids=" ".join)
def test_every_value_whole_and_every_line_within_the_terminal(args, width):
    r = CliRunner().invoke(cli, list(args), env={"COLUMNS": str(width)})
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "…" not in r.stdout
    assert max(len(line) for line in lines) <= width, r.stdout
    for value in WHOLE[args]:
        assert any(value in line for line in lines), (value, r.stdout)


def _print(width, *args, **kw) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))
    print_fitted(*args, console=console, **kw)
    return console.export_text()


def test_a_table_that_fits_keeps_its_columns_and_wraps_only_text():
    out = _print(40, ("name", "peak", "about"), [["h100", "989.4 TFLOP/s", "a long free text that wraps"]],
                 text=("about",))
    assert "989.4 TFLOP/s" in out and "about" in out.splitlines()[1] and "wraps" in out


def test_columns_in_drop_go_first_and_are_named_then_rows_become_blocks():
    rows = [["a" * 12, "b" * 12, "c" * 12]]
    assert "left out at 36 columns: y" in _print(36, ("x", "y", "z"), rows, drop=("y",))
    blocks = _print(20, ("x", "y", "z"), rows, drop=("y",))
    assert blocks.split() == ["x:", "a" * 12, "y:", "b" * 12, "z:", "c" * 12]
