"""FlashInfer's decode with a sliding window (window_left, FlashInfer PR #406): the CUDA-core kernels load and score
every cached key and mask those before the window (decode.cuh), paying the mask's instructions; the tensor-core
batch path (the prefill kernel) starts its chunks at the window (prefill.cuh kv_start_idx) and plans its split on
the window's pages (scheduler.cuh). Properties that fail if either path is priced the other way."""

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import Workload, evaluate, hardware
from simulator.flashinfer_decode import BATCH, SINGLE, WINDOW_LOOP_SASS, decode_config, row_cycles, window_ops
from simulator.flashinfer_tc import BATCH_FAMILY as TC_BATCH, FAMILY as TC_SINGLE, flashinfer_build

H100 = hardware("h100")


def _decode(**sizes) -> Workload:
    return Workload(**{"batch": 16, "heads": 64, "kv_heads": 8, "head_dim": 128, "seq_len": 1, "kv_len": 32768,
                       **sizes})


def test_window_instructions_come_from_the_loop_counts():
    """Per (row, query head) (c8 - c4) / 8 and per iteration (2 c4 - c8) / 2 of the loop counts, with the window
    less without it: the method that reproduces the 0.6.16 loop's 49.9 instructions a row."""
    (c8, c4), _ = WINDOW_LOOP_SASS[BATCH]
    assert (c8 - c4) / 8 == pytest.approx(49.875)
    assert window_ops(BATCH) == (pytest.approx(1.875), pytest.approx(6.0))
    assert window_ops(SINGLE) == (pytest.approx(2.0), pytest.approx(1.0))


def test_the_window_adds_issue_cycles_not_fp32_work():
    plain, masked = decode_config(BATCH, 128, 8, 2), decode_config(BATCH, 128, 8, 2, window=True)
    extra = row_cycles(masked, H100) - row_cycles(plain, H100)
    per_row, per_iteration = window_ops(BATCH)
    issue = 4 * 32 * H100.issue_efficiency
    assert extra == pytest.approx(16 * (per_row + per_iteration / 8) / issue)


@pytest.mark.parametrize("family", [BATCH, SINGLE])
def test_cuda_core_decode_reads_every_key_under_a_window(family):
    batch = 16 if family == BATCH else 1
    dense = evaluate(H100, family, _decode(batch=batch))
    windowed = evaluate(H100, family, _decode(batch=batch, pattern="window(128)"))
    assert windowed.cost.hbm_bytes == dense.cost.hbm_bytes  # the same K/V bytes: nothing is skipped
    assert windowed.time_s >= dense.time_s  # and the mask's instructions on top
    assert windowed.detail["window_left"] == 127 and windowed.flops == pytest.approx(dense.flops * 128 / 32768)


def test_tensor_core_batch_decode_reads_only_the_window():
    """window(l, 0) over 32k keys costs what a dense call of l + 1 keys does when the plan's effective pages,
    ceil((l + 16) / 16), equal the shorter call's pages (here 257 both)."""
    windowed = evaluate(H100, TC_BATCH, _decode(pattern="window(4096,0)"))
    short = evaluate(H100, TC_BATCH, _decode(kv_len=4097))
    assert windowed.cost.hbm_bytes == pytest.approx(short.cost.hbm_bytes, rel=1e-3)
    assert windowed.time_s == pytest.approx(short.time_s, rel=1e-3)
    assert windowed.time_s < evaluate(H100, TC_BATCH, _decode()).time_s / 4


def test_a_window_over_every_key_is_the_dense_call():
    assert evaluate(H100, TC_BATCH, _decode(kv_len=4096, pattern="window(8192,0)")).time_s == \
        evaluate(H100, TC_BATCH, _decode(kv_len=4096)).time_s


def test_the_plan_splits_the_windows_pages():
    """window(128): 9 effective pages (ceil((127 + 16) / 16)) split at the 8-page minimum: 2 planned chunks, the
    second starting past the last key: 128 busy CTAs of 256 launched, and the merge kernel runs."""
    r = evaluate(H100, TC_BATCH, _decode(pattern="window(128)"))
    assert r.detail["splits"] == 2 and r.detail["chunk_keys"] == 128
    assert r.detail["ctas"] == 16 * 8 and r.detail["launched_ctas"] == 2 * 16 * 8 and r.detail["merge_s"] > 0


@pytest.mark.parametrize("args, needle", [
    (["--algo", TC_SINGLE, "--pattern", "window(128)"], "skips them"),
    (["--algo", BATCH, "--pattern", "strided(8)"], "--pattern strided(8)"),
    (["--algo", TC_BATCH, "--pattern", "window(64)|sinks(4)"], "--pattern window(64)|sinks(4)"),
    (["--algo", BATCH, "--pattern", "chunked(1k)"], "--pattern chunked(1k)"),
    (["--algo", BATCH, "--sparsity", "0.5"], "--sparsity 0.5"),
])
def test_masks_the_decode_kernels_do_not_take_are_one_line_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--seq-len", "1", "--kv-len", "8k", "--heads", "32", "--kv-heads", "8",
                                 *args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_flashinfer_001_has_no_window():
    with flashinfer_build("0.0.1"), pytest.raises(Exception, match="0.0.1's decode takes no mask"):
        evaluate(H100, BATCH, _decode(kv_heads=32, heads=32, pattern="window(128)"))


@pytest.mark.parametrize("family, needle", [(BATCH, "still loads and scores every cached key"),
                                            (TC_BATCH, "so the kernel reads its 128 keys")])
def test_explain_says_what_the_window_does(family, needle):
    r = CliRunner().invoke(cli, ["simulate", "--algo", family, "--seq-len", "1", "--kv-len", "32k", "--batch", "16",
                                 "--heads", "64", "--kv-heads", "8", "--pattern", "window(128)", "--explain"])
    assert r.exit_code == 0 and needle in " ".join(r.output.split()), r.output
