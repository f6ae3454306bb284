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
    ("hw", "list"): ["a100-40gb", "fusemax", "2250.0 TFLOP/s", "429 GB/s DRAM", "256x256+256 PEs", "132 SMs"],
    ("hw", "show", "h100"): ["tensor_flops_per_clk_sm.fp16", "4096 flop/clk/SM", "hbm_achievable_bw", "1830 MHz"],
    ("hw", "show", "fusemax"): ["pe2d_rows", "940 MHz", "peak_2d_macs"],
    ("model", "list"): ["mistral-7b", "window(4096)", "gpt3-175b"],
    ("method", "list"): ["seerattention", "nsa-select@kv-outer", "flashinfer-decode", "minference-vs", "2410.13276",
                         "sinks(64)|window(256))", "vertical_slash(1000,6096),"],
    ("cascade", "list"): ["attention-3pass-deferred", "attention-decode-splitkv"],
    ("cascade", "show", "attention-1pass"): ["mac=E*M0*M1*P", "BQK[m1,m0,p]"],
    ("validate", "report", FIXTURE, "--format", "table"): ["attnsim-naive", "-47.5%", "782 us",
                                                          "speedup sparse_vs_dense", "88.4%"],
    ("validate", "report", "validation/published/flash-attention-fa4-prs-b200.json", "--format", "table"):
        ["flash-attn-4", "flash4", "-2.1%", "causal"],
    # a kernel name longer than a text column's fold width beside a second text column (the masks)
    ("validate", "report", "validation/published/tileops-nightly-2026-09-07-h200.json", "--format", "table"):
        ["flash-attn-3-varlen", "44.8 us", "85.3 us", "258 us", "window(1024,0)"],  # measured times: data, not model
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


def test_validate_report_shows_the_value_head_dim_and_every_column_at_80():
    """FA4's d=192, d_v=128 points (MLA prefill) printed as 4x16/16x192, the shape of a d_v=192 call."""
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/flash-attention-fa4-prs-b200.json",
                                 "--format", "table"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 80, r.stdout
    assert "4x16/16x192/128" in r.stdout and "4x16/16x128 " in r.stdout and "left out" not in r.stdout
    assert "kernel=flash-attn-4  algorithm=flash4" in r.stdout  # the same in every row: above the table


def test_columns_with_one_value_in_every_row_move_above_the_table_before_any_is_dropped():
    rows = [["flash-attn-4", "flash4", "4x16/16x192/128", "+3.5%"], ["flash-attn-4", "flash4", "4x16/16x128", "+9.1%"]]
    headers = ("kernel", "algorithm", "shape", "error")
    out = _print(40, headers, rows, shared=("kernel", "algorithm", "shape"), drop=("algorithm",))
    assert out.splitlines()[0] == "kernel=flash-attn-4  algorithm=flash4" and "left out" not in out
    assert "4x16/16x192/128" in out and max(len(line) for line in out.splitlines()) <= 40
    wide = _print(80, headers, rows, shared=("kernel", "algorithm", "shape"))
    assert "kernel=" not in wide and "flash-attn-4" in wide.splitlines()[-2]  # a table that fits keeps them


def test_text_columns_give_way_to_the_number_columns_they_were_measured_beside():
    """rich narrows the widest wrapping column first, then widens each back to its min_width: without caps a
    folded long word and a second text column took the width the last number column was measured to need."""
    from rich import box

    rows = [["flashinfer-batch-decode-paged256", "1/4k", "dense", "44.8 us", "29.8 us", "-30.7%"],
            ["flash-attn-3-varlen", "512", "causal window(1024,0)", "47.2 us", "27.7 us", "-41.3%"]]
    for width in (77, 80):  # where the table just fits (validate report's borders)
        out = _print(width, ("kernel", "N", "mask", "measured", "predicted", "error"), rows, text=("kernel", "mask"),
                     box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        assert "-30.7%" in out and "-41.3%" in out and "window(1024,0)" in out
        assert max(len(line) for line in out.splitlines()) <= width


def test_a_long_kernel_name_stays_whole_where_it_fits_and_else_breaks_at_its_hyphens():
    rows = [["flashinfer-decode-tensor-cores", "1x32/4x128", "14.9 us"]]
    wide = _print(60, ("kernel", "shape", "measured"), rows, text=("kernel",), names=("kernel",))
    assert "flashinfer-decode-tensor-cores" in wide
    narrow = _print(48, ("kernel", "shape", "measured"), rows, text=("kernel",), names=("kernel",))
    assert "1x32/4x128" in narrow and "flashinfer-decode-tensor-cores" not in narrow  # shape kept, name broken
    pieces = [line.split("│")[1].strip() for line in narrow.splitlines() if line.startswith("│")]
    assert pieces == ["flashinfer-decode-", "tensor-cores"], narrow  # at a hyphen, never inside a word


def test_validate_report_keeps_a_shape_beside_a_30_character_kernel_name_at_80_columns():
    args = ["validate", "report", "validation/published/flashinfer-decode-h100.json", "--format", "table"]
    out = CliRunner().invoke(cli, args, env={"COLUMNS": "80"}).stdout
    assert "1x32/4x128" in out and "flashinfer-decode-" in out and "tensor-cores" in out
    assert "tensor-cor\n" not in out and "tensor-cor " not in out.replace("tensor-cores", "")
