"""``attnsim pattern show`` through click's test runner: JSON contract, table, picture, one-line errors."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def show_json(*args):
    result = run("pattern", "show", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_json_has_the_documented_keys_and_closed_form_counts():
    data = show_json("causal", "--seq-len", "8k", "--block-size", "1k")
    assert {"seq_len", "kv_len", "block_size", "element_density", "block_density", "full_blocks",
            "partial_blocks", "empty_blocks"} <= set(data)
    assert (data["seq_len"], data["kv_len"], data["block_size"]) == (8192, 8192, 1024)
    assert (data["full_blocks"], data["partial_blocks"], data["empty_blocks"]) == (8 * 7 // 2, 8, 8 * 7 // 2)
    assert data["element_density"] == (8192 * 8193 // 2) / 8192 ** 2
    assert data["block_density"] == (28 + 8) / 64


def test_kv_len_and_default_block_size():
    data = show_json("causal", "--seq-len", "1", "--kv-len", "1m")  # decode: one query sees every key
    assert data["block_size"] == 128 and data["full_blocks"] == 8192 and data["element_density"] == 1.0


def test_none_is_no_mask_as_simulate_reads_it():
    data = show_json("none", "--seq-len", "1k")  # simulate --pattern none: every tile full
    assert data["full_blocks"] == 64 and data["element_density"] == 1.0 and data["empty_blocks"] == 0


def test_random_blocks_coins_follow_the_block_size():
    data = show_json("random_blocks(0.3)", "--seq-len", "4k", "--block-size", "64")
    assert data["partial_blocks"] == 0  # one coin per 64x64 tile: kept tiles are whole
    assert data["element_density"] == data["block_density"]


def test_table_is_human_friendly():
    result = run("pattern", "show", "causal&window(4k)|sinks(128)", "--seq-len", "64k")
    assert result.exit_code == 0, result.output
    assert "causal&window(4k)|sinks(128)" in result.output and "block density" in result.output
    assert "262,144 (512 x 512)" in result.output


def test_png_draws_the_tile_mask(tmp_path):
    out = tmp_path / "mask.png"
    result = run("pattern", "show", "causal&vertical_slash(16,8)", "--seq-len", "128k", "--block-size", "64",
                 "--png", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000


def test_new_terms_show_their_closed_form_counts():
    chunks = show_json("causal&chunked(2k)", "--seq-len", "8k", "--block-size", "1k")  # 4 chunks of 2x2 tiles
    assert (chunks["full_blocks"], chunks["partial_blocks"]) == (4 * 1, 4 * 2)
    window = show_json("window(1k,1k)", "--seq-len", "8k", "--block-size", "1k")  # tridiagonal, diagonal full
    assert (window["full_blocks"], window["partial_blocks"]) == (8, 2 * 7)
    topk = show_json("causal&topk(4)", "--seq-len", "8k", "--block-size", "1k")  # row i keeps min(4, i + 1)
    assert topk["full_blocks"] + topk["partial_blocks"] == sum(min(4, i + 1) for i in range(8))
    budget = show_json("sinks(128)|window(1k)|budget(4k)", "--seq-len", "1", "--kv-len", "128k")
    assert (budget["full_blocks"], budget["partial_blocks"]) == (1 + 1024 // 128 + 4096 // 128, 0)
    grid = show_json("window2d(64,64,8,8)", "--seq-len", "4k")  # 16x8 patches: 4 x 8 query tiles
    assert (grid["q_blocks"], grid["kv_blocks"]) == (32, 32) and grid["element_density"] == 64 / 4096
    assert show_json("full|sinks(4)", "--seq-len", "1k")["block_density"] == 1.0


@pytest.mark.parametrize("args, needle", [
    (("topk(0)", "--seq-len", "1k"), "topk takes k >= 1"),
    (("chunked(0)", "--seq-len", "1k"), "chunked takes positive sizes"),
    (("chunked(-4)", "--seq-len", "1k"), "got -4"),
    (("window2d(64,64,8,8)", "--seq-len", "8k"), "holds 4096 tokens"),
    (("window2d(8,8,9,3)", "--seq-len", "64"), "kh=9 is larger than the grid"),
    (("causal&window2d(8,8,3,3)", "--seq-len", "64"), "nothing but full"),
    (("window2d(64,64,8,8,q_tile=(8,8),kv_tile=(8,8))", "--seq-len", "4k"), "the kernel's tile is 128"),
    (("budget(8)|budget(9)", "--seq-len", "1k"), "one budget"),
    (("causal&windw(4k)", "--seq-len", "1k"), "windw"),
    (("causal&", "--seq-len", "1k"), "ends early"),
    (("window(4k", "--seq-len", "1k"), "ends early"),
    (("random_blocks(1.5)", "--seq-len", "1k"), "1.5"),
    (("causal", "--seq-len", "1q"), "1q"),
    (("causal", "--seq-len", "1k", "--block-size", "0"), "0"),
])
def test_bad_input_is_one_line_on_stderr_and_exit_2(args, needle):
    result = run("pattern", "show", *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error:") and needle in lines[0]
