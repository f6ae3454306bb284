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
    plain, masked = decode_config(BATCH, 128, 8, 2, sm=90), decode_config(BATCH, 128, 8, 2, window=True, sm=90)
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


def test_tensor_core_single_decode_computes_the_keys_before_its_window():
    """The single prefill kernel on one query starts at key 0: a window leaves its bytes and its time (masked tiles
    cost at least full ones) as they were, and its useful work the window's."""
    dense = evaluate(H100, TC_SINGLE, _decode(batch=1))
    windowed = evaluate(H100, TC_SINGLE, _decode(batch=1, pattern="window(128)"))
    assert windowed.cost.hbm_bytes == dense.cost.hbm_bytes and windowed.time_s >= dense.time_s
    assert windowed.flops == pytest.approx(dense.flops * 128 / 32768)


def test_the_single_kernels_masked_tiles_per_chunk():
    """window_iteration per chunk: 32k keys in 4 chunks of 8k, 128-key tiles, window_left 127, GQA 8 (ceil(16 / 8)
    = 2): every tile of the first three chunks and the last chunk's tiles up to key 32,642 take the mask."""
    from simulator.flashinfer_tc import _single_window_tiles

    tile = PrefillTile("0.6.16", 16, 128, 1, 4, 0, 168)
    wl = _decode(batch=1)
    assert _single_window_tiles(wl, tile, 4, 8192, 127) == [(64, 64), (64, 64), (64, 64), (64, 64)]
    assert _single_window_tiles(wl, tile, 4, 8192, 8191) == [(64, 64), (64, 64), (64, 64), (64, 1)]


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
    (["--algo", BATCH, "--pattern", "strided(8)"], "--pattern strided(8)"),
    (["--algo", TC_BATCH, "--pattern", "window(64)|sinks(4)"], "--pattern window(64)|sinks(4)"),
    (["--algo", BATCH, "--pattern", "chunked(1k)&window(64)"], "--pattern chunked(1k)&window(64)"),
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


# The fa2 prefill kernels (FlashInfer's batch prefill off Hopper, flashinfer-prefill-fa2, and the single prefill)

from simulator.flashinfer_tc import PrefillTile, _attended, _tile_work  # noqa: E402

A100 = hardware("a100")
TILE = PrefillTile("0.6.16", 128, 64, 4, 1, 0, 256)  # 128 query rows x 64 keys


def _prefill(**sizes) -> Workload:
    return Workload(**{"batch": 2, "heads": 32, "kv_heads": 8, "head_dim": 128, "seq_len": 16384, **sizes})


def test_a_query_tile_of_the_batch_kernel_starts_at_its_window():
    """Queries 1280-1407 of 4k, window_left 255: keys 1025-1407 in six 64-key tiles, the two its diagonal cuts and
    the two before its last query's window (1152) masked; the single kernel walks from key 0 and masks the tiles
    before the window too."""
    wl = Workload(heads=1, kv_heads=1, head_dim=128, seq_len=4096, causal=True)
    assert _tile_work(wl, TILE, 4096, True, 0, 10, left=255, skip=True, split=False) == (6, 4)
    tiles, masked = _tile_work(wl, TILE, 4096, True, 0, 10, left=255, skip=False, split=False)
    # every tile up to the diagonal; window_iteration = ceil((1408 - 255) / 64) = 19 (the kernel counts from one past
    # the tile's last query, (bx + 1) x CTA_TILE_Q), so tiles 0-18 and the diagonal's two: all but one masked
    assert tiles == 22 and masked == 21
    assert _tile_work(wl, TILE, 4096, True, 0, 10) == (22, 2)  # causal alone


def test_attended_scores_follow_the_window():
    assert _attended(4, 4, True, None) == 10 and _attended(4, 4, True, 1) == 7 and _attended(4, 4, False, None) == 16


def test_fa2_batch_prefill_skips_what_the_window_leaves_out():
    causal = evaluate(A100, "flashinfer-prefill", _prefill(causal=True))
    windowed = evaluate(A100, "flashinfer-prefill", _prefill(pattern="window(1k)"))
    assert windowed.time_s < causal.time_s / 5 and windowed.cost.l2_bytes < causal.cost.l2_bytes / 5
    assert windowed.cost.hbm_bytes == causal.cost.hbm_bytes  # a prefill's windows cover every key between them
    assert windowed.flops == pytest.approx(causal.flops * (1024 * 16384 - 1024 * 1023 / 2) / (16384 * 16385 / 2))
    wide = evaluate(A100, "flashinfer-prefill", _prefill(pattern="window(16k)"))  # no narrower than the keys
    assert wide.time_s == causal.time_s


def test_the_single_prefill_pays_for_the_keys_before_its_window():
    wl = dict(batch=1)
    causal = evaluate(A100, "flashinfer-single-prefill", _prefill(causal=True, **wl))
    windowed = evaluate(A100, "flashinfer-single-prefill", _prefill(pattern="window(1k)", **wl))
    assert windowed.time_s >= causal.time_s and windowed.cost.hbm_bytes == causal.cost.hbm_bytes
    assert windowed.flops < causal.flops / 5  # the useful work is the window's


@pytest.mark.parametrize("algo, hw, pattern, ok", [
    ("flashinfer-prefill", "a100", "window(1k)", True),
    ("flashinfer-prefill-fa2", "h100", "window(2k,0)", True),
    ("flashinfer-single-prefill", "h100", "window(1k)", True),
    ("flashinfer-prefill", "a100", "window(1k,16)", False),
    ("flashinfer-single-prefill", "a100", "chunked(1k)|sinks(4)", False),  # a lone chunk: D6's pieces
])
def test_the_prefill_families_take_a_window_over_past_keys(algo, hw, pattern, ok):
    r = CliRunner().invoke(cli, ["simulate", "--hw", hw, "--algo", algo, "--seq-len", "4k", "--pattern", pattern])
    assert (r.exit_code == 0) == ok and (ok or "window over past keys" in r.output), r.output


@pytest.mark.parametrize("algo, needle", [("flashinfer-single-prefill", "masks them"),
                                          ("flashinfer-prefill-fa2", "start at the window's first key")])
def test_explain_of_a_one_query_prefill_with_a_window(algo, needle):
    """A prefill family on one query prints the decode layout; its window line is the prefill's (no window_keys)."""
    r = CliRunner().invoke(cli, ["simulate", "--hw", "a100", "--algo", algo, "--seq-len", "1", "--kv-len", "32k",
                                 "--heads", "32", "--kv-heads", "8", "--pattern", "window(128)", "--explain"])
    assert r.exit_code == 0 and needle in " ".join(r.output.split()), r.output


def test_the_window_variant_holds_its_own_registers():
    """ptxas of the use_sliding_window build: the group-4 fp16 batch kernel at d = 128 holds 61 registers (64
    allocated), a CTA an SM fewer than the 56 of the window-free build; group 8 stays at 64 allocated."""
    plain, masked = decode_config(BATCH, 128, 4, 2, sm=90), decode_config(BATCH, 128, 4, 2, window=True, sm=90)
    assert (plain.regs, masked.regs) == (56, 64)
    assert (plain.ctas_per_sm(H100), masked.ctas_per_sm(H100)) == (9, 8)
    assert decode_config(BATCH, 128, 8, 2, sm=90).regs == decode_config(BATCH, 128, 8, 2, window=True, sm=90).regs == 64
