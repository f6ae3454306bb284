"""FlashInfer's tensor-core decode (simulator.flashinfer_tc): the fa2 prefill kernel run on one query."""

import json
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware
from simulator.flashinfer_tc import FAMILY, chunks, flashinfer_build, prefill_tile
from simulator.workload import Workload

ROOT = Path(__file__).resolve().parents[1]


def _decode(kv_len, heads=32, kv_heads=4, d=128, dtype="fp16"):
    return Workload(batch=1, heads=heads, kv_heads=kv_heads, head_dim=d, seq_len=1, kv_len=kv_len, dtype=dtype)


@pytest.mark.parametrize("hw_name, d, group, tile_q, tile_kv, smem, regs, ctas", [
    # 16 packed rows: one warp on the rows, four on the keys; NUM_MMA_KV the largest of 8/4/2/1 under half the SM's
    # smem (3 at d=128 on a 228 KiB SM -> 2), registers from ptxas
    ("h100", 128, 8, 16, 128, 69632, 168, 3),
    ("h100", 64, 8, 16, 256, 67584, 128, 3),
    ("h100", 256, 8, 16, 64, 73728, 256, 2),
    ("h100", 128, 32, 64, 128, 81920, 256, 2),  # 32 packed rows: the 64-row tile, four warps on the rows, NUM_MMA_KV 8
    ("a100", 128, 8, 16, 128, 69632, 136, 2),  # 164 KiB of smem: two CTAs; sm_80's build holds 134 registers
])
def test_the_tile_follows_the_dispatch(hw_name, d, group, tile_q, tile_kv, smem, regs, ctas):
    hw = hardware(hw_name)
    tile = prefill_tile(hw, d, group, 2)
    assert (tile.cta_tile_q, tile.cta_tile_kv, tile.smem_bytes, tile.regs, tile.ctas_per_sm(hw)) == (
        tile_q, tile_kv, smem, regs, ctas)


def test_the_0_0_1_build_runs_four_query_warps_on_64_key_tiles():
    hw = hardware("h100")
    with flashinfer_build("0.0.1"):
        tile = prefill_tile(hw, 128, 8, 2)
        assert (tile.cta_tile_q, tile.cta_tile_kv, tile.warps_q, tile.smem_bytes, tile.ctas_per_sm(hw)) == (
            64, 64, 4, 48 * 1024, 3)
        # chunks: min(grid, kv_len / 128), not at least 256 keys
        assert chunks(hw, _decode(2048), tile) == (16, 128)
        assert chunks(hw, _decode(65536), tile) == (99, 662)
        assert evaluate(hw, FAMILY, _decode(8192)).detail["startup_s"] == 2 * hw.dram_latency_s  # Q, then K/V
    assert evaluate(hw, FAMILY, _decode(8192)).detail["startup_s"] == hw.dram_latency_s  # Q beside the first K/V
    with pytest.raises(UserError, match="bad flashinfer_build '0.5': allowed 0.6.16, 0.0.1"):
        with flashinfer_build("0.5"):
            pass


def test_the_kv_split_fills_the_resident_ctas_with_chunks_of_at_least_256_keys():
    hw = hardware("h200")
    tile = prefill_tile(hw, 128, 8, 2)  # 3 CTAs per SM x 132 SMs over 4 KV heads: up to 99 chunks
    assert chunks(hw, _decode(1024), tile) == (4, 256)
    assert chunks(hw, _decode(32768), tile) == (99, 331)
    assert chunks(hw, _decode(256), tile) == (1, 256)  # one chunk: no split, no merge kernel
    one = evaluate(hw, FAMILY, _decode(256))
    assert one.cost.launches == 1 and one.detail["merge_s"] == 0.0
    assert evaluate(hw, FAMILY, _decode(1024)).cost.launches == 2


def test_a_chunk_takes_an_even_share_of_the_keys_and_a_short_one_waits_a_whole_round_trip():
    hw = hardware("h200")
    tile = prefill_tile(hw, 128, 8, 2)
    assert chunks(hw, _decode(1000), tile) == (4, 250)  # counted at >= 256 keys, then ceil_div(kv_len, chunks)
    short = evaluate(hw, FAMILY, _decode(16))
    assert short.detail["in_flight_bytes_per_cta"] == 16 * 2 * 128 * 2
    assert short.detail["stream_s"] >= hw.hbm_latency_s


def test_a_long_cache_streams_at_hbm_bandwidth_and_beats_the_cuda_core_kernel_at_group_8():
    """The CUDA-core kernel's group-8 call is bound by its instructions; the tensor-core one by HBM."""
    hw = hardware("h200")
    wl = _decode(256 * 1024)
    tc = evaluate(hw, FAMILY, wl)
    assert tc.bound == "hbm"
    kv_bytes = wl.kv_heads * wl.kv_len * 2 * wl.head_dim * 2
    assert tc.time_s >= kv_bytes / (hw.hbm_bw_bytes_s * hw.hbm_efficiency)
    assert tc.time_s < 0.6 * evaluate(hw, "flashinfer-single-decode", wl).time_s


def test_time_grows_with_the_cache():
    hw = hardware("h100")
    times = [evaluate(hw, FAMILY, _decode(n)).time_s for n in (256, 1024, 4096, 16384, 65536, 262144)]
    assert times == sorted(times)


def test_the_published_tensor_core_points_within_8_percent_median_on_today_s_build():
    """TileOPs' H200 nightly times FlashInfer 0.6.16's tensor-core single decode (8 points, 1k-256k keys)."""
    from validation.measured_file import load
    from validation.report import predict

    doc = load(str(ROOT / "validation" / "published" / "tileops-nightly-2026-09-07-h200.json"))
    points = [p for p in predict(doc, None, []) if p["algorithm"] == FAMILY]
    assert len(points) == 8
    assert statistics.median(abs(p["error"]) for p in points) < 0.08
    assert all(abs(p["error"]) < 0.08 for p in points if p["kv_len"] >= 8192)


def test_the_blog_file_predicts_its_tensor_core_points_as_0_0_1(tmp_path):
    from validation.measured_file import load
    from validation.report import predict

    path = ROOT / "validation" / "published" / "flashinfer-decode-h100.json"
    doc = load(str(path))
    assert doc["flashinfer_build"] == "0.0.1"
    tc = [p for p in doc["points"] if p.get("algorithm") == FAMILY]
    assert len(tc) == 6
    as_built = {p["kv_len"]: p["predicted_s"] for p in predict({**doc, "points": tc}, None, [])}
    today = {p["kv_len"]: p["predicted_s"] for p in predict(
        {**{k: v for k, v in doc.items() if k != "flashinfer_build"}, "points": tc}, None, [])}
    assert as_built != today
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(path.read_text()), "flashinfer_build": "0.5"}))
    r = CliRunner().invoke(cli, ["validate", "report", str(bad)])
    assert r.exit_code == 2 and "flashinfer_build" in r.output


@pytest.mark.parametrize("args, needle", [
    (["--seq-len", "4"], "--seq-len 4"),
    (["--seq-len", "1", "--batch", "2"], "--batch 2"),
    (["--seq-len", "1", "--heads", "128", "--kv-heads", "1"], "group 128"),
    (["--seq-len", "1", "--head-dim", "96"], "--head-dim 96"),
    (["--seq-len", "1", "--dtype", "fp8"], "fp8"),
    (["--seq-len", "1", "--page-size", "16"], "--page-size 16"),
    (["--seq-len", "1", "--pattern", "strided(64)"], "--pattern strided(64)"),
    (["--seq-len", "1", "--block-size", "64"], "--block-size 64"),
])
def test_what_the_tensor_core_path_does_not_run_is_one_line_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--algo", FAMILY, "--kv-len", "8k", *args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


@pytest.mark.parametrize("args, needle", [
    (["--seq-len", "2"], "--seq-len 2"),
    (["--seq-len", "1", "--heads", "96", "--kv-heads", "1"], "group 96"),
    (["--seq-len", "1", "--dtype", "fp8"], "fp8"),
])
def test_what_the_batch_tensor_core_path_does_not_run_is_one_line_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--algo", "flashinfer-decode-tc", "--batch", "8", "--kv-len", "8k", *args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_explain_shows_the_tile_split_and_stream():
    r = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["simulate", "--hw", "h200", "--algo", FAMILY, "--heads", "32",
                                                       "--kv-heads", "4", "--seq-len", "1", "--kv-len", "32k",
                                                       "--explain"])
    assert r.exit_code == 0, r.output
    assert "CTA_TILE_Q 16 packed rows x 128 keys" in r.output
    assert "99 chunk(s) of 331 keys" in r.output
    # MergeStates' cp.async pipeline: 32 chunks a DRAM round trip at d = 128 (flashinfer_decode.merge_rounds)
    assert "merge kernel" in r.output and "4 DRAM round trips for 99 chunks" in " ".join(r.output.split())


def test_the_layer_scope_adds_the_append_and_graph_launches():
    hw = hardware("h100")
    kernel = evaluate(hw, FAMILY, _decode(8192))
    layer = evaluate(hw, FAMILY, replace(_decode(8192), scope="layer"))
    assert set(layer.detail["layer_kernels"]) == {"kv_append", "graph_launches"}
    assert layer.detail["cold_l2_writeback_bytes"] == 0 and kernel.detail["cold_l2_writeback_bytes"] > 0


def _batch(batch, kv_len, scope="kernel", page=None):
    return Workload(batch=batch, heads=64, kv_heads=8, head_dim=128, seq_len=1, kv_len=kv_len, scope=scope,
                    page_size=page)


@pytest.mark.parametrize("batch, kv_len, page, graph, expect", [
    # fit = 2 x 132 SMs / 8 KV heads = 33 work items per head; the smallest chunk (in pages) that fits
    (16, 32768, 16, False, (2, 16384, True, 32)),
    (64, 4096, 16, False, (1, 4096, False, 64)),  # 64 requests already overflow 33: no split
    (1, 4096, 16, False, (32, 128, True, 32)),  # chunks of at least 128 tokens (8 pages)
    (1, 4096, 1, False, (32, 128, True, 32)),  # 1-token pages: still 128 pages at least
    # a CUDA graph's plan always splits (and merges), its grid sized for any query lengths of the same total:
    # ceil(64 rows x 8 / 16) + 64 - 1 = 95 tiles
    (64, 4096, 16, True, (1, 4096, True, 95)),
    (4, 4096, 16, True, (8, 512, True, 33)),  # ... and pads its grid to the fit
])
def test_the_batch_plan_follows_prefill_split_qo_kv_indptr(batch, kv_len, page, graph, expect):
    from simulator.flashinfer_tc import BATCH_FAMILY, plan

    hw = hardware("h100")
    wl = _batch(batch, kv_len, page=page)
    assert plan(hw, wl, prefill_tile(hw, 128, 8, 2, BATCH_FAMILY), graph) == expect


def test_the_batch_kernel_holds_two_ctas_per_sm_and_reads_its_pages_first():
    from simulator.flashinfer_tc import BATCH_FAMILY

    hw = hardware("h100")
    tile = prefill_tile(hw, 128, 8, 2, BATCH_FAMILY)
    assert (tile.regs, tile.ctas_per_sm(hw)) == (184, 2)  # ptxas: 182 registers (the single kernel's 168 hold 3)
    r = evaluate(hw, BATCH_FAMILY, _batch(16, 32768))
    assert r.detail["startup_s"] == pytest.approx(4 * hw.dram_latency_s)  # 3 dependent loads, then the first K/V
    assert r.detail["page_size"] == 16 and r.cost.launches == 2
    layer = evaluate(hw, BATCH_FAMILY, _batch(64, 4096, scope="layer"))
    assert layer.detail["merge_s"] > 0 and layer.detail["launched_ctas"] == 95 * 8
    with flashinfer_build("0.0.1"), pytest.raises(UserError, match="as FlashInfer 0.6.16 plans and runs it"):
        evaluate(hw, BATCH_FAMILY, _batch(16, 32768))


def test_the_batch_tensor_core_kernel_streams_where_the_cuda_core_one_is_bound_by_instructions():
    hw = hardware("h100")
    wl = _batch(64, 4096)
    tc, cuda = evaluate(hw, "flashinfer-decode-tc", wl), evaluate(hw, "flashinfer-decode", wl)
    assert tc.bound == "hbm" and cuda.bound == "fma" and tc.time_s < 0.7 * cuda.time_s
    times = [evaluate(hw, "flashinfer-decode-tc", _batch(8, n)).time_s for n in (256, 1024, 4096, 16384, 65536)]
    assert times == sorted(times)


def test_the_issue_1572_opener_s_decode_benchmark_within_10_percent_for_fa3_and_the_tensor_core_path():
    """A held-out set (in no fit): FA3 and FlashInfer's tensor-core path on the H100 PCIe and the H20."""
    from validation.measured_file import load
    from validation.report import predict

    for name in ("attention-tests-decode-h100-pcie.json", "attention-tests-decode-h20.json"):
        points = predict(load(str(ROOT / "validation" / "published" / name)), None, [])
        assert len(points) == 6
        assert all(abs(p["error"]) < 0.10 for p in points if p["algorithm"] in ("flash3", "flashinfer-decode-tc"))


def test_the_row_names_the_prefill_kernel_s_tile():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", FAMILY, "--heads", "32", "--kv-heads", "4",
                                 "--seq-len", "1", "--kv-len", "8k", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["tile"] == "16x128"
