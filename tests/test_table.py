"""The simulate table never cuts a value: at 80 columns (and narrower) every line fits and every value
of every point is printed whole; what does not fit is named, or the points are printed as blocks."""

import json

import pytest
from click.testing import CliRunner

from cli._table import COLUMNS, cells, layout
from cli.main import cli
from simulator import Workload, evaluate, hardware, run_points, simulate


def _table(width: int, *args) -> str:
    r = CliRunner().invoke(cli, ["simulate", *args, "--format", "table"], env={"COLUMNS": str(width)})
    assert r.exit_code == 0, r.output
    return r.stdout


README = ("--hw", "h100", "--algo", "flash2", "--seq-len", "32k", "--sparsity", "0.9")
DECODE = ("--model", "llama3-8b", "--seq-len", "1", "--kv-len", "128k", "--algo", "flash-decoding,flash2",
          "--pattern", "window(4k)")


@pytest.mark.parametrize("width", [200, 80, 60, 40])
@pytest.mark.parametrize("args", [README, DECODE, ("--hw", "a100,h100,h200", "--seq-len", "16k,64k", "--causal")])
def test_no_line_is_wider_than_the_terminal_and_no_value_is_cut(width, args):
    """Every line fits, and every value of the columns never left out (hw, algo, N, mask, time, bound,
    speedup) is printed whole, in the table, the shared line above it, or a block."""
    out = _table(width, *args)
    assert "…" not in out
    assert max(len(line) for line in out.splitlines()) <= width
    flat = " ".join(out.split())
    for row in json.loads(CliRunner().invoke(cli, ["simulate", *args, "--format", "json"]).stdout):
        for column, cell in zip(COLUMNS, cells(row)):
            if not column.drop:
                assert " ".join(cell.split()) in flat, (cell, out)


def test_columns_all_rows_share_move_above_the_table_before_any_is_dropped():
    rows = run_points([dict(hardware="h100", algorithm="flash3", seq_len=n) for n in (4096, 8192)])
    shown, dropped, shared = layout(rows, 80)
    assert "hw=h100" in shared and "algo=flash3" in shared and not dropped


def test_the_table_reports_the_tile_and_the_solved_pattern():
    row = simulate("h100", "flash3", seq_len=32768, pattern="causal&window(1k)", sparsity=0.9)
    det = evaluate(hardware("h100"), "flash3", Workload(seq_len=32768, pattern="causal&window(1k)", sparsity=0.9)).detail
    assert row["tile"] == f"{det['block_q']}x{det['block_kv']}"
    assert row["lowered_pattern"].startswith("causal&window(") and row["lowered_pattern"] != "causal&window(1k)"
    assert row["lowered_pattern"] in _table(80, "--seq-len", "32k", "--pattern", "causal&window(1k)", "--sparsity", "0.9")


def test_the_estimate_column_shows_only_when_a_point_estimates_its_index():
    assert "estimate" not in _table(200, *README)
    out = _table(200, "--method", "minference", "--hw", "h100", "--seq-len", "32k")
    assert "estimate" in out and "minference-vs" in out


def test_the_shape_shows_the_value_head_dim_where_it_differs():
    """MLA prefill (d=192, d_v=128) printed as 1x32/32x192, the shape of a d=192, d_v=192 call."""
    out = _table(200, "--hw", "h100", "--head-dim", "192", "--v-head-dim", "128", "--seq-len", "8k")
    assert "1x32/32x192/128" in out
    assert "1x32/32x128 " in _table(200, "--hw", "h100", "--seq-len", "8k")  # equal dims: no '/d_v'
