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


@pytest.mark.parametrize("args, needle", [
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
