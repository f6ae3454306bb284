"""flashinfer-prefill: FlashInfer's batch prefill, its fa3 backend on Hopper (simulator.flashinfer_sm90) and its fa2
backend elsewhere (simulator.flashinfer_tc.flashinfer_batch_prefill)."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator import tiles as tile_source
from simulator.api import evaluate, hardware
from simulator.flashinfer_sm90 import FAMILY, config, extra_tiles
from simulator.flashinfer_regs import PREFILL_REGS
from simulator.flashinfer_tc import PAGED_TILE_INSTRUCTIONS, PREFILL_FAMILY, _batch_prefill_work, plan, prefill_tile
from simulator.workload import Workload

ROOT = Path(__file__).resolve().parents[1]
H100, H200, A100 = hardware("h100"), hardware("h200"), hardware("a100")

# sizeof(SharedStorage) of the kernels compiled at nightly-v0.6.16-20260730 (nvcc 13.0, sm_90a): Q, two K stages,
# two V stages that O reuses, and 80 B of barriers
COMPILED_SMEM = {(64, 64, False, False): 90_192, (128, 128, False, False): 229_456, (128, 128, True, False): 163_920,
                 (256, 256, False, False): 196_688, (64, 64, False, True): 73_808, (128, 128, False, True): 131_152,
                 (256, 256, False, True): 163_920}


@pytest.mark.parametrize("key, tile", [((64, 64, False, False), (192, 128)), ((128, 128, False, False), (128, 192)),
                                       ((128, 128, True, False), (128, 128)), ((256, 256, False, False), (128, 64)),
                                       ((192, 128, False, False), (128, 128)), ((64, 64, False, True), (192, 96)),
                                       ((128, 128, True, True), (128, 96)), ((256, 256, False, True), (128, 32))])
def test_tiles_and_warpgroups_are_the_kernels(key, tile):
    """getCTATileSize (ragged, TMA) and BatchPrefillWithPagedKVCacheDispatched (paged, cp.async); CTA_Q / 64
    consumer warpgroups beside the producer; one CTA an SM (setmaxnreg fills the register file)."""
    d, dv, causal, paged = key
    cfg = config(d, dv, 2, causal, paged)
    assert (cfg.block_q, cfg.block_kv) == tile
    assert cfg.warps == 4 * tile[0] // 64 and cfg.producer_warps == 4 and cfg.tensor_path == "wgmma"
    assert not cfg.pack_gqa and cfg.persistent and cfg.ctas_per_sm(H100) == 1
    if key in COMPILED_SMEM:
        assert 0 <= COMPILED_SMEM[key] - cfg.smem_bytes <= 128


def test_one_kernel_no_split_and_no_gqa_packing():
    """No KV split, merge or scheduler kernel, even where FA3 splits (a short call over a long cache); a work
    tile is one query head's CTA_Q queries, so a GQA call runs as many work tiles as an MHA one."""
    short = Workload(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=128, kv_len=65536, causal=True)
    r = evaluate(H100, FAMILY, short)
    assert r.cost.launches == 1 and r.detail["splits"] == 1
    assert not {"combine", "prepare"} & {k for k, v in r.times.items() if v}
    assert evaluate(H100, "flash3", short).detail["splits"] > 1
    gqa = evaluate(H100, FAMILY, Workload(batch=2, heads=32, kv_heads=4, head_dim=128, seq_len=2048))
    mha = evaluate(H100, FAMILY, Workload(batch=2, heads=32, kv_heads=32, head_dim=128, seq_len=2048))
    assert gqa.time_s == pytest.approx(mha.time_s, rel=0.05)  # tiles per query head; only HBM bytes differ


def test_a_sliding_window_loads_one_masked_tile_before_it():
    """get_swa_begin_kv_tile_idx: (q_tile * CTA_Q + kv_len - qo_len - window_left) / CTA_KV - 1; at 2k tokens,
    window_left 1024, 128 x 128 tiles, query tiles 9..15 start their window at key tile >= 1: 7 extra tiles."""
    wl = Workload(batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=2048, causal=True, pattern="window(1024,0)")
    assert extra_tiles(wl, 128, 128, 16).tolist() == [0] * 9 + [1] * 7
    geometric = tile_source.tile_rows(wl, 128, 128).visited
    r = evaluate(H200, FAMILY, wl)
    assert r.detail["head_groups"][0]["visited"] == geometric + 7
    assert extra_tiles(Workload(seq_len=2048, causal=True), 128, 128, 16) is None
    out = CliRunner().invoke(cli, ["simulate", "--hw", "h200", "--algo", FAMILY, "--batch", "4", "--heads", "32",
                                   "--kv-heads", "8", "--seq-len", "2k", "--pattern", "window(1024,0)", "--explain"])
    text = out.output.replace("\n    ", " ")
    assert "fa3 backend" in text and "7 of 16 query tiles also load and compute the masked key tile" in text


def test_layer_scope_reads_the_engines_pages():
    """A serving engine's call reads a paged cache: BatchPrefillWithPagedKVCacheWrapper's cp.async tiles."""
    layer = evaluate(H100, FAMILY, Workload(batch=4, heads=32, kv_heads=8, seq_len=2048, scope="layer", causal=True))
    assert (layer.detail["block_q"], layer.detail["block_kv"]) == (128, 96)


@pytest.mark.parametrize("args, needle", [
    (["--hw", "a100", "--pattern", "window(256,16)"], "flashinfer-prefill on a100 (its fa2 backend) takes dense, causal"),
    (["--pattern", "strided(64)"], "window over past keys"),  # a custom mask: not the fa3 backend's
    (["--pattern", "causal&strided(64)"], "window over past keys"),
    (["--hw", "a100", "--head-dim", "160", "--v-head-dim", "128"], "(its fa2 backend) runs head dims 64, 128, 256"),
    (["--hw", "a100", "--head-dim", "192", "--v-head-dim", "128", "--page-size", "16"], "(page.cuh paged_kv_t has one head dim for K and V)"),
    (["--dtype", "fp8"], "fp8 kernels (hopper/quantization/) are not modelled"),
    (["--head-dim", "96"], "runs head dims 64, 128 and 256"),
    (["--head-dim", "192", "--v-head-dim", "128", "--page-size", "16"], "takes equal head dims"),
    (["--pattern", "chunked(1k)|sinks(4)"], "or chunked(w) alone or with causal"),  # a lone chunk: pieces (D6)
    (["--pattern", "window(256,16)"], "window over past keys"),
    (["--sparsity", "0.5"], "--sparsity 0.5"),
    (["--block-size", "64"], "FlashInfer's own tiles (prefill_sm90.cuh)"),
])
def test_what_it_does_not_model_is_a_one_line_error(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--algo", FAMILY, "--seq-len", "2k", *args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_tileops_long_window_calls_are_held_out_within_ten_percent():
    """TileOPs' H200 nightly (1500 MHz, CUPTI, L2 flushed): FlashInfer's ragged prefill at 2k tokens, windows of
    1024 keys; the 512-token calls sit where every fused family runs slower than the model (docs/kernels.md N)."""
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/tileops-nightly-2026-09-07-h200.json",
                                 "--format", "json"])
    points = [p for p in json.loads(r.output)["points"] if p["algorithm"] == FAMILY]
    assert len(points) == 8
    long = [p for p in points if p["seq_len"] == 2048]
    assert len(long) == 4 and all(abs(p["error"]) < 0.10 for p in long)
    assert all(p["error"] < 0 for p in points if p["seq_len"] == 512)


def test_off_hopper_it_runs_the_fa2_batch_kernel_the_single_prefills_tile():
    """backend "auto" off sm90a is fa2: BatchPrefillWithRaggedKVCacheKernel, the single prefill's tile; one request
    costs what single_prefill_with_kv_cache does (the work item's reads aside)."""
    for kw in (dict(seq_len=4096, causal=True), dict(seq_len=1024)):
        wl = Workload(batch=1, heads=32, kv_heads=8, head_dim=128, **kw)
        batch, single = evaluate(A100, FAMILY, wl), evaluate(A100, PREFILL_FAMILY, wl)
        assert batch.detail["backend"] == "fa2" and batch.detail["cta_tile_q"] == single.detail["cta_tile_q"]
        assert batch.time_s == pytest.approx(single.time_s, rel=0.02)
    out = CliRunner().invoke(cli, ["simulate", "--hw", "a100", "--algo", FAMILY, "--batch", "4", "--seq-len", "2k",
                                   "--explain"]).output.replace("\n    ", " ")
    assert "batch prefill, fa2 backend" in out and "BatchPrefillWithRaggedKVCacheKernel" in out


def test_the_fa2_plan_splits_only_what_does_not_fill_the_gpu():
    """PrefillBinarySearchKVChunkSize: the smallest KV chunk (>= 128 tokens of a ragged cache) whose work items fit
    2 x SMs / KV heads; split only when that chunk is shorter than the request. 4 x 4k causal queries (64 query
    tiles each) never split; 2 requests of 16 queries over 64k keys do, and merge."""
    long = Workload(batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=4096, causal=True)
    tile = prefill_tile(A100, 128, 4, 2, PREFILL_FAMILY, rows=4096 * 4, causal=True)
    assert plan(A100, long, tile, graph=False, page=1)[:3] == (1, 4096, False)
    short = Workload(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=16, kv_len=65536)
    tile = prefill_tile(A100, 128, 4, 2, PREFILL_FAMILY, rows=64)
    count, chunk, split, _ = plan(A100, short, tile, graph=False, page=1)
    assert split and count == 2 * 108 // 8 // 2 and chunk == -(-65536 // count)  # 13 chunks each of 2 requests
    r = evaluate(A100, FAMILY, short)
    assert r.detail["splits"] == count and r.cost.launches == 2 and r.times["combine"] > 0
    work = _batch_prefill_work(short, tile, count, chunk, False)
    assert len(work) == 2 * count and work[:count] == work[count:]  # request-major, KV chunk fastest


def test_flashinfer_prefill_fa2_is_the_fa2_backend_on_any_gpu():
    """backend="fa2" asked for: the fa2 batch kernel on Hopper too; off Hopper it is what "auto" runs."""
    wl = Workload(batch=8, heads=32, head_dim=128, seq_len=8192, causal=True)
    hopper = evaluate(H100, "flashinfer-prefill-fa2", wl)
    assert hopper.detail["backend"] == "fa2" and hopper.detail["schedule"] == "flashinfer-prefill-fa2"
    assert hopper.time_s > 1.5 * evaluate(H100, FAMILY, wl).time_s  # mma.sync against wgmma
    assert evaluate(A100, "flashinfer-prefill-fa2", wl).time_s == pytest.approx(evaluate(A100, FAMILY, wl).time_s)
    out = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flashinfer-prefill-fa2", "--seq-len", "4k",
                                   "--causal", "--explain"]).output.replace("\n    ", " ")
    assert 'fa2 backend (backend="fa2")' in out


def test_the_v02_charts_fa2_ragged_calls_are_held_out_within_five_percent():
    """The FlashInfer 0.2 post's H100 chart: the fa2 backend on a ragged cache, 128 requests of 1k to one of 32k.
    The short requests' 32,768 CTAs each load Q, wait for their first K/V and write O outside the tile loop (a
    prologue, as FA2's CTAs pay it): without it the 1k call came out 15% fast, the 32k one right."""
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/flashinfer-v02-prefill-h100.json",
                                 "--format", "json"])
    points = [p for p in json.loads(r.output)["points"] if p["kernel"] == "flashinfer-0.2-fa2-ragged"]
    assert len(points) == 5 and all(abs(p["error"]) < 0.05 for p in points)
    wl = Workload(batch=128, heads=32, head_dim=128, seq_len=1024, causal=True, varlen=True)
    det = evaluate(H100, "flashinfer-prefill-fa2", wl).detail
    assert det["prologue_cycles"] > det["tile_cycles"]  # Q and O (128 rows) and the first K/V through L2
    out = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flashinfer-prefill-fa2", "--batch", "128",
                                   "--seq-len", "1k", "--causal", "--varlen", "--explain"]).output.replace("\n    ", " ")
    assert "per CTA outside its loop" in out


def test_the_paged_fa2_kernel_pays_its_page_arithmetic_each_tile():
    """BatchPrefillWithPagedKVCacheKernel recomputes each K/V row's page, page index and offset every key tile (0.6.16
    SASS: 163 instructions a warp more than the ragged kernel at d=128 on the 128 x 64 tile). Over 1-token pages the
    v0.2 chart's fa2 bars are then within 8% (3-7% fast; 8-12% without it), the ragged ones within 3%."""
    wl = Workload(batch=32, heads=32, head_dim=128, seq_len=4096, causal=True, varlen=True)
    ragged = evaluate(H100, "flashinfer-prefill-fa2", wl)
    paged = evaluate(H100, "flashinfer-prefill-fa2", replace(wl, varlen=False, page_size=1))
    assert ragged.detail["paged_tile_cycles"] == 0 and paged.detail["paged_tile_cycles"] == PAGED_TILE_INSTRUCTIONS[
        90][(128, 128, 4)] == 163
    assert paged.detail["tile_cycles"] == ragged.detail["tile_cycles"] + 163
    paged_tiles = {key for tables in PREFILL_REGS.values() for kernel, table in tables.items()
                   for key in table if isinstance(key[0], int)}  # no (192, 128): ragged only
    assert all(paged_tiles <= set(PAGED_TILE_INSTRUCTIONS[sm]) for sm in PREFILL_REGS)  # every tile it launches
    assert 1.03 < paged.time_s / ragged.time_s < 1.08
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/flashinfer-v02-prefill-h100.json",
                                 "--format", "json"])
    points = [p for p in json.loads(r.output)["points"] if p["kernel"] == "flashinfer-0.2-fa2-paged-page1"]
    assert len(points) == 5 and all(-0.08 < p["error"] < 0 for p in points)


def test_the_host_plan_is_blind_to_the_window():
    """PrefillSM90Plan estimates a query tile at 2 x CTA_Q + the keys to its causal end, whatever window_left says:
    under a window the tiles it thinks short and long cost alike, so its lists run longer than a longest-first
    schedule of the same tiles (17% at 2 x 2k tokens, 32/8 heads, window 1024 on the H200), and --explain says so.
    Without a mask every tile costs the same: the model takes its closed-form waves there, no plan."""
    wl = Workload(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=2048, pattern="window(1024,0)", dtype="bf16")
    plan = evaluate(H200, FAMILY, wl).detail["host_plan"]
    assert plan["planned"] > 1.15 * plan["longest_first"] and not plan["same_schedule"]
    dense = evaluate(H200, FAMILY, replace(wl, pattern=None)).detail
    assert "host_plan" not in dense
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h200", "--algo", FAMILY, "--batch", "2", "--heads", "32",
                                 "--kv-heads", "8", "--seq-len", "2k", "--pattern", "window(1024,0)", "--explain"])
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "host plan (PrefillSM90Plan)" in text and "(the window not seen)" in text


def test_the_plan_orders_heads_then_requests_then_tiles_last_first():
    """plan_makespan hands the plan its estimates last query tile first (a causal 4 x 128 request: estimates 768,
    640, 512, 384 on 128-row tiles) and returns the longest list in true work."""
    from simulator.flashinfer_sm90 import plan_makespan

    wl = Workload(batch=1, heads=1, kv_heads=1, head_dim=128, seq_len=512, causal=True)
    record = {}
    span = plan_makespan(wl, 128, record)(np.array([1.0, 2.0, 3.0, 4.0]), 2, 3)
    # items in order (est, true): (768, 4), (640, 3), (512, 2), (384, 1), twice; each to the least estimate, ties
    # to the lower CTA: c0 768+640+384 (true 4+3+1), c1 640+768 (3+4), c2 512+384+512 (2+1+2); longest first
    # would deal 4, 4, 3 | 3, 2, 2 | 1, 1 for 7
    assert span == 8.0 and record["planned"] == 8.0 and record["longest_first"] == 7.0
