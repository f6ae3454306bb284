"""flashinfer-single-prefill: FlashInfer's single_prefill_with_kv_cache (fa2 backend), the tensor-core decode's
prefill kernel on a prefill call (simulator.flashinfer_tc.flashinfer_single_prefill)."""

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware
from simulator.flashinfer_tc import (PREFILL_FAMILY, _prefill_work, chunks, flashinfer_build, prefill_tile)
from simulator.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
H100 = hardware("h100")


def test_more_than_64_packed_rows_run_the_128_row_tile_at_two_ctas_an_sm():
    """FA2DetermineCtaTileQ: 128 rows past 64 packed rows (d < 256); its registers (240-255) leave 2 CTAs an SM."""
    tile = prefill_tile(H100, 128, 1, 2, PREFILL_FAMILY, rows=4096)
    assert (tile.cta_tile_q, tile.warps_q, tile.warps_kv) == (128, 4, 1)
    assert tile.ctas_per_sm(H100) == 2
    assert prefill_tile(H100, 128, 4, 2, PREFILL_FAMILY, rows=16 * 4).cta_tile_q == 64  # 16 queries x group 4
    assert prefill_tile(H100, 256, 1, 2, PREFILL_FAMILY, rows=4096).cta_tile_q == 64  # d = 256: 64 at most
    with flashinfer_build("0.0.1"):  # num_frags_x 2 past 64 packed rows: 4 warps x 2 x 16 = 128 rows
        assert prefill_tile(H100, 128, 1, 2, PREFILL_FAMILY, rows=256).cta_tile_q == 128


def test_a_causal_query_tile_stops_at_its_last_query_and_masks_from_its_first():
    """Bottom-right causal: query q sees keys up to kv_len - seq_len + q. 256 queries over 1024 keys in 128-row
    tiles of 64 keys: tile 0 (queries 0-127) runs keys 0..895 (14 tiles), masked from key 769 (tile 12)."""
    wl = Workload(heads=32, head_dim=128, seq_len=256, kv_len=1024, causal=True)
    tile = prefill_tile(H100, 128, 1, 2, PREFILL_FAMILY, rows=256, causal=True)
    work = _prefill_work(wl, tile, 1, 1024, causal=True)
    assert work == [(14, 2), (16, 2)]
    dense = _prefill_work(wl, tile, 1, 1024, causal=False)
    assert dense == [(16, 0), (16, 0)]
    split = _prefill_work(wl, tile, 2, 512, causal=True)  # chunk 1 (keys 512-1023) holds each tile's diagonal
    assert split == [(8, 0), (8, 0), (6, 2), (8, 2)]


def test_the_split_follows_the_kernels_chunk_rule_and_adds_a_merge():
    wl = Workload(heads=32, head_dim=128, seq_len=128, kv_len=65536)
    tile = prefill_tile(H100, 128, 1, 2, PREFILL_FAMILY, rows=128)
    n_chunks, chunk = chunks(H100, wl, tile)
    assert n_chunks == 2 * 132 // 32 and chunk == -(-65536 // n_chunks)  # 2 CTAs an SM x 132 SMs over 32 tiles
    r = evaluate(H100, PREFILL_FAMILY, wl)
    assert r.detail["splits"] == n_chunks and r.times["combine"] > 0 and r.cost.launches == 2
    long = evaluate(H100, PREFILL_FAMILY, Workload(heads=32, head_dim=128, seq_len=8192, kv_len=8192))
    assert long.detail["splits"] == 1 and long.times["combine"] == 0


def test_causal_costs_about_half_and_time_grows_with_the_call():
    dense = evaluate(H100, PREFILL_FAMILY, Workload(heads=32, head_dim=128, seq_len=8192))
    causal = evaluate(H100, PREFILL_FAMILY, Workload(heads=32, head_dim=128, seq_len=8192, causal=True))
    assert 0.45 < causal.time_s / dense.time_s < 0.65
    times = [evaluate(H100, PREFILL_FAMILY, Workload(heads=32, head_dim=128, seq_len=n, causal=True)).time_s
             for n in (512, 1024, 2048, 4096)]
    assert times == sorted(times)
    assert dense.time_s >= dense.times["tensor"]  # no time beats a roof


@pytest.mark.parametrize("args, needle", [
    (["--batch", "2"], "serves one request"),
    (["--seq-len", "4k", "--kv-len", "1k", "--causal"], "--kv-len >= --seq-len"),
    (["--pattern", "strided(64)"], "window over past keys"),
    (["--sparsity", "0.5"], "--sparsity 0.5"),
    (["--head-dim", "96"], "runs head dims 64, 128, 256"),
    (["--scope", "layer"], "one request's kernel call"),
    (["--varlen"], "--varlen"),
])
def test_what_it_does_not_model_is_a_one_line_error(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", PREFILL_FAMILY, *args])
    assert r.exit_code == 2, r.output
    assert needle in r.output and r.output.count("\n") == 1 and "Traceback" not in r.output


def test_the_2024_build_runs_causal_calls_on_its_causal_kernels():
    """0.0.1 instantiates SinglePrefillWithKVCacheKernel with CAUSAL a template flag: its own registers."""
    wl = Workload(heads=32, head_dim=64, seq_len=4096, causal=True)
    with flashinfer_build("0.0.1"):
        causal = prefill_tile(H100, 64, 1, 2, PREFILL_FAMILY, rows=4096, causal=True)
        dense = prefill_tile(H100, 64, 1, 2, PREFILL_FAMILY, rows=4096)
        assert (causal.regs, dense.regs) == (240, 232) and causal.cta_tile_q == 128  # 234 and 232, allocated by 8
        assert evaluate(H100, PREFILL_FAMILY, wl).time_s < evaluate(H100, PREFILL_FAMILY, wl.__class__(
            heads=32, head_dim=64, seq_len=4096)).time_s
    with pytest.raises(UserError, match="GQA groups of 1, 4, 8"), flashinfer_build("0.0.1"):
        evaluate(H100, PREFILL_FAMILY, Workload(heads=32, kv_heads=16, head_dim=128, seq_len=1024))


@pytest.mark.parametrize("name", ["flashinfer-append-h100.json", "flashinfer-append-a100-pcie.json"])
def test_the_posts_split_kv_appends_are_held_out_within_ten_percent(name):
    """Fig. 7's FlashInfer 0.0.1 lines with split-KV (held out: no figure is fitted from them)."""
    from validation.report import predict

    doc = json.loads((ROOT / "validation" / "published" / name).read_text())
    points = [p for p in doc["points"] if p["algorithm"] == PREFILL_FAMILY]
    assert len(points) >= 7
    errors = [p["error"] for p in predict({**doc, "points": points}, None, [])]
    assert statistics.median(abs(e) for e in errors) < 0.10


def test_a_gqa_prefill_reads_each_ctas_key_tiles_through_l2_once():
    """Query tiles of a KV head each read its K/V through L2, only the key tiles they run (half, causal): a long
    GQA prefill is tensor-bound, near FA2's time, not held to an L2 read of every tile by every query tile."""
    wl = Workload(heads=32, kv_heads=8, head_dim=128, seq_len=16384, causal=True)
    r, fa2 = evaluate(H100, PREFILL_FAMILY, wl), evaluate(H100, "flash2", wl)
    assert r.bound == "tensor" and r.times["l2"] < 0.5 * r.time_s
    assert 0.85 < r.time_s / fa2.time_s < 1.15


def test_explain_says_which_backend_it_is_on_hopper():
    args = ["simulate", "--algo", PREFILL_FAMILY, "--seq-len", "4k", "--causal", "--explain"]
    hopper = CliRunner().invoke(cli, [*args, "--hw", "h100"]).output
    ampere = CliRunner().invoke(cli, [*args, "--hw", "a100"]).output
    assert "prefill kernel on 4,096 queries (causal" in hopper.replace("\n    ", " ")
    assert "fa3 one" in hopper and "fa3 one" not in ampere


@pytest.mark.parametrize("family", ["flashinfer-prefill-fa2", "flashinfer-single-prefill"])
def test_a_call_shorter_than_a_key_tile_is_one_round_trip(family):
    """A chunk of fewer keys than CTA_TILE_KV is one iteration: its stream waits one DRAM round trip, not a whole
    tile's bytes over the few keys in flight (which put a 1-key call at 133 us, 15 times a 1,025-key one)."""
    a100 = hardware("a100")
    times = [evaluate(a100, family, Workload(seq_len=1, kv_len=n, heads=32, kv_heads=8)).time_s
             for n in (1, 16, 64, 128, 129, 1025)]
    assert times == sorted(times)
    assert times[0] < 2 * a100.hbm_latency_s + 10e-6


A100 = hardware("a100")


def test_deepseeks_192_128_prefill_takes_its_own_tile_and_bytes():
    """HEAD_DIM_QK 192, HEAD_DIM_VO 128 (FlashInfer's tests/attention/test_deepseek_mla.py runs it on fa2): the
    128-row tile (FA2DetermineCtaTileQ of HEAD_DIM_VO), K/V smem of (192 + 128) x 16 x NUM_WARPS_KV a NUM_MMA_KV
    step beside a 128 x 192 Q tile: on an A100 half of 164 KB holds 3 steps, DISPATCH_NUM_MMA_KV takes 2, 32 keys;
    its own registers as the JIT builds it for sm_80 (245 and 240 allocated as 248 and 240), two CTAs an SM."""
    tile = prefill_tile(A100, 192, 1, 2, PREFILL_FAMILY, rows=4096, causal=True, dv=128)
    assert (tile.cta_tile_q, tile.cta_tile_kv, tile.regs) == (128, 32, 248)
    assert tile.smem_bytes == 128 * 192 * 2 + 32 * (192 + 128) * 2 and tile.ctas_per_sm(A100) == 2
    assert prefill_tile(A100, 192, 1, 2, PREFILL_FAMILY, rows=4096, dv=128).regs == 240  # non-causal (sm_90a: 247)
    pair = Workload(heads=16, head_dim=192, v_head_dim=128, seq_len=4096, causal=True)
    for family in (PREFILL_FAMILY, "flashinfer-prefill", "flashinfer-prefill-fa2"):
        r = evaluate(A100, family, pair)
        assert r.detail["cta_tile_q"] == 128 and r.detail["cta_tile_kv"] == 32
        # K and V rows of 192 and 128, Q of 192, O of 128: what the call moves
        q_k_v_o = 16 * 4096 * (192 + 192 + 128 + 128) * 2
        assert r.cost.hbm_bytes == pytest.approx(q_k_v_o)
        assert r.time_s >= max(r.times["tensor"], r.times["hbm"])  # no time beats a roof
    # between its neighbours: more work than 128/128, less than 256/256
    times = [evaluate(A100, PREFILL_FAMILY, Workload(heads=16, head_dim=d, v_head_dim=dv, seq_len=4096,
                                                      causal=True)).time_s for d, dv in ((128, 128), (192, 128),
                                                                                         (256, 256))]
    assert times == sorted(times)


@pytest.mark.parametrize("algo, args, needle", [
    (PREFILL_FAMILY, ["--head-dim", "192", "--v-head-dim", "96"], "and (192, 128) (DeepSeek's prefill)"),
    ("flashinfer-single-decode-tc", ["--seq-len", "1", "--kv-len", "4k", "--head-dim", "192", "--v-head-dim", "128"],
     "with V of the same width (FlashInfer"),
    ("flashinfer-prefill", ["--hw", "a100", "--head-dim", "192", "--v-head-dim", "128", "--scope", "layer"],
     "takes equal head dims (page.cuh paged_kv_t has one head dim"),
])
def test_pairs_the_fa2_kernels_do_not_take_are_one_line_errors(algo, args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--hw", "a100", "--algo", algo, "--seq-len", "2k", *args])
    assert r.exit_code == 2 and needle in r.output and r.output.count("\n") == 1, r.output


def test_the_2024_build_has_one_head_dim():
    with flashinfer_build("0.0.1"), pytest.raises(UserError, match="one head dim for Q, K and V"):
        prefill_tile(A100, 192, 1, 2, PREFILL_FAMILY, rows=4096, dv=128)


def test_the_batch_prefill_takes_its_own_kernels_registers():
    """BatchPrefillWith{Ragged,Paged}KVCacheKernel hold their own registers (ptxas, batch_prefill_*_kernel_inst.jinja),
    not the single kernel's: 4 queries of GQA 4/1 (16 packed rows, 16 x 128 tiles) at d = 128, causal, take 168
    (ragged) or 182 (paged) where SinglePrefillWithKVCacheKernel takes 178; three CTAs an SM on an H100, not two."""
    single, ragged, paged = (prefill_tile(H100, 128, 4, 2, PREFILL_FAMILY, rows=16, causal=True, kernel=k)
                             for k in ("single", "ragged", "paged"))
    assert (single.regs, ragged.regs, paged.regs) == (184, 168, 184)  # allocated in 8s: 178, 168, 182
    assert (single.ctas_per_sm(H100), ragged.ctas_per_sm(H100)) == (2, 3)
    wl = Workload(batch=4, heads=32, kv_heads=8, seq_len=4, kv_len=1024, causal=True)
    assert evaluate(H100, "flashinfer-prefill-fa2", wl).detail["regs"] == ragged.regs
    assert evaluate(H100, "flashinfer-prefill-fa2", replace(wl, page_size=16)).detail["regs"] == paged.regs
    assert evaluate(H100, PREFILL_FAMILY, replace(wl, batch=1)).detail["regs"] == single.regs
