"""heads(n1: P1, n2: P2, ...): parsing, how & and | distribute over the groups, and the mix's densities as the
head-weighted mean of its groups' (closed forms), with one-line errors."""

import json

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.sparsity import PatternError, head_groups, parse_pattern, tile_counts


def groups(text, heads):
    return [(n, str(p)) for n, p in head_groups(parse_pattern(text), heads)]


def test_a_mix_prints_as_it_parses_and_round_trips():
    p = parse_pattern("heads(16: full, 16: sinks(128) | window(384))")
    assert str(p) == "heads(16:full,16:sinks(128)|window(384))"
    assert parse_pattern(str(p)) == p


def test_causal_and_or_distribute_over_the_groups():
    assert groups("causal&heads(16: full, 16: sinks(128)|window(384))", 32) == [
        (16, "causal&full"), (16, "causal&(sinks(128)|window(384))")]
    assert groups("heads(8: window(1k), 24: topk(4))|sinks(64)", 32) == [
        (8, "window(1k)|sinks(64)"), (24, "topk(4)|sinks(64)")]


def test_two_mixes_combine_on_the_common_refinement_of_their_head_ranges():
    # heads 0-7: a & c, 8-15: b & c, 16-31: b & d
    assert groups("heads(8: window(1k), 24: sinks(64)) & heads(16: causal, 16: chunked(2k))", 32) == [
        (8, "window(1k)&causal"), (8, "sinks(64)&causal"), (16, "sinks(64)&chunked(2k)")]


def test_a_group_may_be_a_mix_and_equal_neighbours_merge():
    assert groups("heads(16: heads(8: full, 8: causal), 16: causal)", 32) == [(8, "full"), (24, "causal")]


@pytest.mark.parametrize("text, heads, needle", [
    ("heads(16: full, 8: causal)", 32, "gives 24 heads, but --heads is 32"),
    ("heads(16: heads(8: full, 4: causal), 16: causal)", 32, "its group has 16"),
])
def test_counts_that_do_not_sum_are_named(text, heads, needle):
    with pytest.raises(PatternError, match=needle):
        head_groups(parse_pattern(text), heads)


def test_a_mix_is_never_lowered_as_one_mask():
    with pytest.raises(PatternError, match="lower the groups one by one"):
        tile_counts(parse_pattern("heads(1: full, 1: causal)"), 256, 256, 64, 64)


def test_block_and_element_density_of_a_mix_are_the_head_weighted_means():
    """Closed forms at 8k tokens, 1k tiles: full attends 64 tiles of 64, causal 36 (28 full + 8 diagonal),
    causal elements n(n+1)/2; window(1k) (the last 1024 keys, diagonal included) touches 8 + 7 tiles, none whole."""
    n, tiles = 8192, 64
    result = CliRunner().invoke(cli, ["pattern", "show", "heads(3: full, 1: causal, 4: window(1k))", "--seq-len", "8k",
                                      "--block-size", "1k", "--json"])
    data = json.loads(result.output)
    assert data["heads"] == 8
    assert data["block_density"] == (3 * 64 + 1 * 36 + 4 * (8 + 7)) / (8 * tiles)
    window_elements = sum(min(q + 1, 1024) for q in range(n))
    expected = (3 * n * n + n * (n + 1) // 2 + 4 * window_elements) / (8 * n * n)
    assert data["element_density"] == pytest.approx(expected, rel=1e-12)
    assert [g["heads"] for g in data["groups"]] == [3, 1, 4]
    assert data["full_blocks"] == 3 * 64 + 1 * 28 + 4 * 0


@pytest.mark.parametrize("args, needle", [
    (("heads(16: full, 8: causal)", "--seq-len", "1k", "--heads", "32"), "must sum to 32"),
    (("heads(16 full)", "--seq-len", "1k"), "head count and ':'"),
    (("heads(0: full, 32: causal)", "--seq-len", "1k"), "head counts >= 1"),
    (("heads(1: full, 1: causal)", "--seq-len", "1k", "--png", "x.png"), "draw a group's pattern"),
])
def test_bad_mixes_are_one_line_and_exit_2(args, needle):
    result = CliRunner().invoke(cli, ["pattern", "show", *args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error:") and needle in lines[0]
