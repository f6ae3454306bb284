"""--algo nsa-select: NSA's selected attention per query token, and its KV-outer order (simulator.nsa_select).

What is proved: the selection counts in closed form and their conservation (every selection is some block's
selector); the query-outer kernel's work follows the tokens' selected blocks and pads its group to 16 MMA rows;
the KV-outer order is the one that pays off for a small group and not for NSA's group of 16; the baseline is dense
FlashAttention; bad selections, blocks and head dims exit 2 with one line.
"""

import numpy as np
import pytest

from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware, simulate
from simulator.nsa_select import counts
from simulator.workload import Workload

NSA = dict(causal=True, pattern="topk(16)", heads=64, kv_heads=4, head_dim=128)  # NSA's 27B model: GQA of 16


def test_each_token_keeps_min_k_blocks_and_every_selection_lands_on_a_block():
    wl = Workload(seq_len=4096, kv_len=4096 + 100, **NSA)
    tokens, kept, selectors = counts(wl, 16, 64)
    p = np.arange(4096) + 100  # each query token's key position
    assert (tokens == np.bincount(p // 64, minlength=tokens.size)).all()  # tokens per own block
    assert (kept == np.minimum(16, np.arange(tokens.size) + 1)).all()  # its own block and earlier ones, at most k
    assert np.dot(tokens, kept) == np.minimum(16, p // 64 + 1).sum()
    assert selectors.sum() == pytest.approx(np.dot(tokens, kept))  # conservation
    assert selectors[-1] == tokens[-1]  # the last block: only its own tokens choose it


def test_query_outer_work_follows_the_selected_blocks():
    hw = hardware("h100")
    t8, t16 = (evaluate(hw, "nsa-select", Workload(seq_len=1 << 17, **{**NSA, "pattern": f"topk({k})"}))
               for k in (8, 16))
    pairs = [np.dot(*counts(t.workload, k, 64)[:2]) * 4 for t, k in ((t8, 8), (t16, 16))]  # x 4 KV heads
    tile_s = t16.detail["tile_cycles"] / hw.sustained_clock_hz
    # every added (token, block) pair costs one tile on one of the SMs (the work is spread evenly over them)
    added = (t16.times["compute"] - t8.times["compute"]) / ((pairs[1] - pairs[0]) * tile_s / hw.sms)
    assert added == pytest.approx(1.0, rel=0.02)


def test_the_group_is_padded_to_sixteen_mma_rows():
    hw = hardware("h100")
    small = evaluate(hw, "nsa-select", Workload(seq_len=1 << 16, **{**NSA, "heads": 16}))  # G = 4 -> 16 rows
    full = evaluate(hw, "nsa-select", Workload(seq_len=1 << 16, **NSA))  # G = 16
    assert small.detail["block_q"] == full.detail["block_q"] == 16
    assert small.times["compute"] == pytest.approx(full.times["compute"], rel=0.02)  # a quarter of the rows useful


def test_kv_outer_pays_off_for_a_small_group_only():
    hw = hardware("h100")

    def time(algo, **kw):
        return evaluate(hw, algo, Workload(seq_len=1 << 16, **{**NSA, **kw})).time_s

    assert time("nsa-select@kv-outer", heads=4) < time("nsa-select", heads=4)  # G = 1: 15 of 16 rows padding
    assert time("nsa-select@kv-outer") > time("nsa-select")  # G = 16: every row used, no partials to merge


def test_the_baseline_is_dense_flashattention():
    row = simulate("h100", "nsa-select", seq_len=1 << 15, **NSA)
    assert row["baseline"] == "flash3" and row["speedup"] == pytest.approx(row["baseline_time_s"] / row["time_s"])
    assert simulate("a100", "nsa-select", seq_len=1 << 15, **NSA)["baseline"] == "flash2"


@pytest.mark.parametrize("hw, kwargs, match", [
    ("h100", dict(pattern="causal&window(512)"), "each token attends the topk\\(k\\) blocks it selects"),
    ("h100", dict(pattern="topk(16)|sinks(64)"), "each token attends the topk"),
    ("h100", dict(block_size=48), "bad block-size 48 for nsa-select"),
    ("a100", dict(head_dim=192), "at most 128 channels on a100"),
])
def test_bad_calls_are_refused(hw, kwargs, match):
    with pytest.raises(UserError, match=match):
        evaluate(hardware(hw), "nsa-select", Workload(seq_len=4096, **{**NSA, **kwargs}))


def test_more_queries_than_keys_attend_no_negative_keys():
    """Bottom-right causal: of 4,096 queries over 256 keys only the last 256 see any; the own block's causal half
    was taken off every query, so the call attended a negative number of keys (flops -1.4e9). Fuzz audit."""
    short = simulate(hw="h100", algo="nsa-select", seq_len=4096, kv_len=256, causal=True, pattern="topk(16)")
    assert short["flops"] > 0 and short["tflops"] > 0
    # the 256 queries that see keys attend as the same 256 queries of a 256-token call do
    alone = simulate(hw="h100", algo="nsa-select", seq_len=256, kv_len=256, causal=True, pattern="topk(16)")
    assert short["flops"] == pytest.approx(alone["flops"])
