"""FlashInfer 0.0.1's CUDA-core decode kernels (simulator.flashinfer_decode): the launch code's thread blocks and
split heuristics as closed forms, and the time's mechanisms as properties that can fail."""

import json
import math
import re
import statistics
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator import Workload, evaluate, hardware
from simulator.flashinfer_decode import BATCH, SINGLE, _stream_seconds, decode_config, merge_kernel, merge_rounds

ROOT = Path(__file__).resolve().parent.parent
KIB = 1024


def _decode(**sizes) -> Workload:
    return Workload(**{"heads": 32, "kv_heads": 32, "head_dim": 128, "seq_len": 1, **sizes})


@pytest.mark.parametrize("family, group, block, tile, smem", [
    # SingleDecodeWithKVCache: 2 stages x (K + V) x tile*bdy*bdz rows x 128 x 2 B, + m/d per (ty, tz)
    (SINGLE, 1, (16, 1, 8), 8, 2 * 2 * 64 * 128 * 2 + 2 * 8 * 4),
    (SINGLE, 8, (16, 8, 4), 1, 2 * 2 * 32 * 128 * 2 + 2 * 32 * 4),  # 512 threads for group 8
    # BatchDecodeWithPagedKVCacheDispatched: + the K page pointers (tile x threads x 8 B)
    (BATCH, 1, (16, 1, 8), 4, 2 * 2 * 32 * 128 * 2 + 4 * 128 * 8),
    (BATCH, 4, (16, 4, 2), 1, 2 * 2 * 8 * 128 * 2 + 1 * 128 * 8),
    (BATCH, 8, (16, 8, 1), 1, 2 * 2 * 8 * 128 * 2 + 1 * 128 * 8),
])
def test_thread_blocks_follow_the_launch_code(family, group, block, tile, smem):
    cfg = decode_config(family, 128, group, 2, sm=90)
    assert (cfg.bdx, cfg.bdy, cfg.bdz) == block and cfg.vec == 8 and cfg.tile == tile and cfg.smem_bytes == smem


def test_single_request_split_follows_its_heuristic():
    """max_grid = 3 CTAs/SM x 132 (64 KiB of stages each); chunks of max(ceil(n / (max_grid // Hkv)), 256) keys;
    no split (and no merge kernel) at 256 keys or fewer."""
    hw = hardware("h100")
    assert decode_config(SINGLE, 128, 1, 2, sm=90).ctas_per_sm(hw) == 3
    for kv_len in (1024, 65536):
        chunk = max(math.ceil(kv_len / (3 * 132 // 32)), 256)
        r = evaluate(hw, SINGLE, _decode(kv_len=kv_len))
        assert r.detail["splits"] == math.ceil(kv_len / chunk) and r.detail["ctas"] == 32 * r.detail["splits"]
        assert r.cost.launches == 2
    short = evaluate(hw, SINGLE, _decode(kv_len=256))
    assert short.detail["splits"] == 1 and short.cost.launches == 1 and short.detail["merge_s"] == 0


def test_batch_split_changes_the_ctas_only_when_the_grid_is_short():
    """BatchDecodeWithPagedKVCacheWorkEstimation: no split once batch x Hkv reaches 6 CTAs/SM x 132 = 792; else
    the fewest pages per chunk whose chunks fit: 4096 pages of 16 keys, at most 792 // 32 = 24 chunks."""
    hw = hardware("h100")
    full = evaluate(hw, BATCH, _decode(batch=64, kv_len=1024))
    assert full.detail["splits"] == 1 and full.detail["ctas"] == 64 * 32 and full.cost.launches == 1
    short = evaluate(hw, BATCH, _decode(batch=1, kv_len=65536))
    pages = math.ceil(4096 / 24)  # 171 pages per chunk
    assert short.detail["splits"] == math.ceil(4096 / pages) == 24 and short.detail["ctas"] == 24 * 32
    assert short.cost.launches == 2 and short.detail["merge_s"] > 0


@pytest.mark.parametrize("head_dim, per_round", [(64, 64), (128, 32), (256, 16)])
def test_merge_kernel_waits_a_round_trip_per_four_iterations(head_dim, per_round):
    """cascade.cuh MergeStatesLargeNumIndexSetsKernel: 128 threads, bdx = d / 8 lanes a row (vec_size 8 for the
    fp16 partials), bdy = 128 / bdx chunks an iteration, 4 cp.async stages in flight: per_round chunks land per
    dependent round trip; the last partial chunk costs a whole round."""
    assert merge_rounds(1, head_dim) == merge_rounds(per_round, head_dim) == 1
    assert merge_rounds(per_round + 1, head_dim) == 2 and merge_rounds(3 * per_round + 1, head_dim) == 4
    hw, wl = hardware("h100"), _decode(kv_len=65536, head_dim=head_dim)
    assert merge_kernel(hw, wl, 0.0, 3 * per_round + 1, True)[0] - merge_kernel(hw, wl, 0.0, per_round, True)[0] == \
        pytest.approx(3 * hw.dram_latency_s)


def test_time_per_byte_falls_as_the_bytes_in_flight_rise_until_hbm_bounds_it():
    """Little's law: a wave whose CTAs keep few bytes requested waits a loaded latency per in-flight window."""
    hw = hardware("h100")
    bw = hw.hbm_bw_bytes_s * hw.hbm_efficiency
    times = [_stream_seconds(64, 792, 1 << 20, 1 << 20, in_flight, hw.hbm_latency_s, bw, 1.0)[0]
             for in_flight in (4 * KIB, 8 * KIB, 16 * KIB, 64 * KIB, 1 << 20)]
    assert times == sorted(times, reverse=True) and times[0] == pytest.approx(2 * times[1])
    assert times[-1] == pytest.approx(64 * (1 << 20) / bw)  # enough in flight: HBM bounds it


def test_gqa_with_few_kv_heads_is_latency_bound_and_many_requests_stream_at_hbm_bandwidth():
    """Group 8 with 4 KV heads: 8 rows a stage, 8 KiB in flight per CTA, 64 CTAs; 64 MHA requests fill the GPU."""
    hw = hardware("h100")
    few = evaluate(hw, BATCH, _decode(kv_heads=4, kv_len=2048))
    assert few.bound == "latency" and few.detail["in_flight_bytes_per_cta"] == 4 * 8 * 128 * 2
    assert evaluate(hw, BATCH, _decode(batch=64, kv_len=1024)).bound == "hbm"


def test_a_large_gqa_group_on_one_request_is_cuda_core_bound():
    """Each K/V row serves the group's 8 query heads with FMAs, shuffles and exps on the CUDA cores: the loop is
    CUDA-core bound; on 32 CTAs for 264 slots no unit of the GPU is near its roof, so the call's bound is the grid
    (gpu_model.grid_bound), as a fused family's is."""
    hw = hardware("h100")
    r = evaluate(hw, SINGLE, _decode(kv_heads=4, kv_len=2048))
    assert r.detail["cuda_core_s"] > r.detail["stream_s"]
    assert r.bound == "grid" and r.detail["grid"] == {"work_tiles": 32, "slots": 264, "persistent": False}
    assert r.utilization["fma"] < 0.5


def test_nvbench_cold_write_back_is_counted_for_the_kernel_not_the_layer():
    """nvbench's cold timing memsets an L2-sized buffer before the launch: the kernel's reads write back up to an
    L2 of dirty lines. A serving layer (graph replay) has no such flush."""
    hw = hardware("h100")
    small, big = _decode(kv_len=1024), _decode(kv_len=65536)
    kv_small = 32 * 1024 * 2 * 128 * 2
    assert evaluate(hw, SINGLE, small).detail["cold_l2_writeback_bytes"] == kv_small + 32 * 128 * 2
    assert evaluate(hw, SINGLE, big).detail["cold_l2_writeback_bytes"] == hw.l2_bytes
    layer = evaluate(hw, SINGLE, replace(big, scope="layer"))
    assert layer.detail["cold_l2_writeback_bytes"] == 0


def test_flashinfer_points_of_the_published_set_within_8_percent_median():
    """FlashInfer's own decode figures (blog Figs. 5, 6 and Fig. 8's CUDA-core line): the published file's
    CUDA-core FlashInfer points."""
    from validation.measured_file import load
    from validation.report import predict

    doc = load(str(ROOT / "validation" / "published" / "flashinfer-decode-h100.json"))
    points = [p for p in predict(doc, None, []) if p["algorithm"] in (SINGLE, BATCH)]
    assert len(points) == 27
    assert statistics.median(abs(p["error"]) for p in points) < 0.08
    # Fig. 8's GQA single decode (added 2026-12-05): the long calls within 3% since the loop's time blends its
    # stream and its CUDA-core time (_loop_time), the 4k call still 21% fast by a per-call cost the model lacks
    # (docs/kernels.md D1): pinned, so that a change that explains it, or widens it, shows here
    gqa = [p["error"] for p in points if p["algorithm"] == SINGLE and p["kv_heads"] == 4]
    assert len(gqa) == 4 and -0.25 < gqa[0] < -0.15 and all(abs(e) < 0.08 for e in gqa[1:]), gqa


@pytest.mark.parametrize("args, needle", [
    (["--algo", BATCH, "--seq-len", "1", "--heads", "32", "--kv-heads", "2"], "group 16"),
    (["--algo", BATCH, "--seq-len", "1", "--heads", "28", "--kv-heads", "4"], "group 7"),
    (["--algo", BATCH, "--seq-len", "1", "--head-dim", "96"], "--head-dim 96"),
    (["--algo", BATCH, "--seq-len", "8"], "--seq-len 8"),
    (["--algo", SINGLE, "--seq-len", "1", "--batch", "4"], "--batch 4"),
    (["--algo", BATCH, "--seq-len", "1", "--pattern", "sinks(4)&window(1k)"], "--pattern sinks(4)&window(1k)"),
    (["--algo", BATCH, "--seq-len", "1", "--block-size", "64"], "--block-size 64"),
])
def test_what_flashinfer_does_not_dispatch_is_one_line_exit_2(args, needle):
    r = CliRunner().invoke(cli, ["simulate", "--kv-len", "4k", *args])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


@pytest.mark.parametrize("base, edit, needle", [
    ("h100", lambda text: re.sub(r"(?m)^dram_latency_s = .*\n", "", text), "dram_latency_s"),
    ("a100", lambda text: text.replace('arch = "sm_80"', 'arch = "sm_86"'), "tabulated for sm_80, sm_90 and sm_100"),
])
@pytest.mark.parametrize("algo", [BATCH, "flashinfer-decode-tc"])
def test_flashinfer_on_a_gpu_it_is_not_modelled_for_is_one_line_exit_2(tmp_path, base, edit, needle, algo):
    """A GPU model without a pointer-chase latency, or of an architecture whose builds' registers are not tabulated
    (flashinfer_regs), gets one line naming what is missing; the bundled GPUs have both."""
    toml = tmp_path / "mine.toml"
    text = edit((ROOT / "gpu_models" / "specs" / f"{base}.toml").read_text())
    toml.write_text(text.replace(f'name = "{base}"', 'name = "mine"'))
    r = CliRunner().invoke(cli, ["simulate", "--kv-len", "4k", "--seq-len", "1", "--algo", algo, "--hw", str(toml)])
    assert r.exit_code == 2 and needle in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_a_causal_decode_call_attends_every_key():
    """One query at the end of the cache sees every key: causal changes nothing (LLM presets set it)."""
    hw = hardware("h100")
    assert evaluate(hw, BATCH, _decode(kv_len=4096, causal=True)).time_s == evaluate(hw, BATCH, _decode(kv_len=4096)).time_s


def test_explain_shows_the_thread_block_split_and_write_back():
    r = CliRunner().invoke(cli, ["simulate", "--algo", BATCH, "--seq-len", "1", "--kv-len", "64k", "--explain"])
    assert r.exit_code == 0, r.output
    assert "(bdx, bdy, bdz) = (16, 1, 8)" in r.output and "24 chunk(s)" in r.output and "written back" in r.output
    rows = json.loads(CliRunner().invoke(cli, ["simulate", "--algo", BATCH, "--seq-len", "1", "--kv-len", "64k",
                                               "--format", "json"]).output)
    assert rows[0]["algorithm"] == BATCH and rows[0]["time_s"] > 0


@pytest.mark.parametrize("group, bf16, sass", [(8, False, 55.85), (4, False, 61.83), (8, True, 63.98), (4, True, 69.83)])
def test_cuda_core_instructions_per_lane_and_row_match_the_kernels_sass(group, bf16, sass):
    """Per (K/V row, query head) and lane at d=128: the per-element conversions and FMAs, the reduction, the row's
    scale, softmax and shared-memory loads, and each iteration's fixed work over the group's rows, against the SASS
    of FlashInfer 0.6.16's decode.cuh @ 8da13a29 for sm_90a (61.83 / 55.85 at fp16, 8 more at bf16, whose
    conversion takes 1.5 instructions per element); 128 lanes issue per clock per SM. ITERATION_OPS is the
    difference of the two fp16 counts; their level, and the bf16 counts, come from the per-element and per-row
    terms alone."""
    from simulator.flashinfer_decode import lane_fp32_ops, row_cycles

    hw = replace(hardware("h100"), cuda_core_issue_efficiency=None)  # every issue slot filled
    cfg = decode_config(BATCH, 128, group, 2, bf16, sm=90)
    per_lane_row = row_cycles(cfg, hw) * hw.fp32_fma_per_clk_sm / cfg.bdx
    assert per_lane_row == pytest.approx(sass, rel=0.02)
    fitted = hardware("h100")  # the loop fills a fitted share of the slots: its cycles grow by 1 / that share
    assert row_cycles(cfg, fitted) == pytest.approx(row_cycles(cfg, hw) / fitted.cuda_core_issue_efficiency)
    assert lane_fp32_ops(cfg) - lane_fp32_ops(decode_config(BATCH, 128, group, 2, sm=90)) == (8 if bf16 else 0)


def test_registers_hold_a_batch_decode_sm_to_eight_ctas_and_bf16_is_slower_when_cuda_cores_bind():
    """64 registers x 128 threads: 8 CTAs per SM (threads alone would allow 16); with the SMs locked at 1500 MHz
    an H200's group-8 decode is CUDA-core bound, and bf16's conversions make it slower than fp16 (TileOPs' nightly
    of 2026-09-07 timed this call at 227.2 us in bf16 and 199.2 us in fp16: 1.14)."""
    from validation.report import at_clock

    hw = at_clock(hardware("h200"), 1500)
    assert decode_config(BATCH, 128, 8, 2, sm=90).ctas_per_sm(hw) == 8
    wl = Workload(batch=16, heads=64, kv_heads=8, head_dim=128, seq_len=1, kv_len=4096)
    fp16, bf16 = (evaluate(hw, BATCH, replace(wl, dtype=t)) for t in ("fp16", "bf16"))
    assert fp16.detail["cuda_core_s"] > fp16.detail["stream_s"]
    assert bf16.time_s / fp16.time_s == pytest.approx(1.14, abs=0.03)


@pytest.mark.parametrize("family, d, group, dtype, ctas", [
    (BATCH, 128, 8, "fp16", 8),  # 63 registers, allocated as 64: 65536 // (128 x 64)
    (BATCH, 128, 8, "bf16", 9),  # 56
    (BATCH, 256, 8, "fp16", 4),  # 256 threads x 56
    (BATCH, 128, 4, "fp16", 9),  # 56
    (BATCH, 128, 4, "fp8", 7),  # 72
    (SINGLE, 128, 4, "fp16", 10),  # 48: 65536 // (128 x 48)
    (SINGLE, 128, 8, "fp16", 2),  # 61 -> 64, 512 threads
    (SINGLE, 128, 1, "fp16", 3),  # shared memory binds first (90 -> 96 registers would allow 5)
])
def test_occupancy_counts_each_kernels_registers_as_allocated(family, d, group, dtype, ctas):
    """cudaOccupancyMaxActiveBlocksPerMultiprocessor, which the split heuristics ask, counts registers per warp in
    256-register units; each kernel's count is ptxas's for FlashInfer 0.6.16's decode.cuh (sm_90a)."""
    cfg = decode_config(family, d, group, 1 if dtype == "fp8" else 2, dtype == "bf16", sm=90)
    assert cfg.ctas_per_sm(hardware("h100")) == ctas


@pytest.mark.parametrize("group", [2, 3])
def test_groups_2_and_3_run_as_flashinfer_0_6_16_dispatches_them(group):
    """DISPATCH_GQA_GROUP_SIZE (0.6.16) compiles groups 1, 2, 3, 4 and 8: bdy = group rows of one KV head's query
    heads, 128 threads (group 3: 120 or 96, bdz = 128 // (bdx x 3)), the registers ptxas gives those kernels."""
    hw = hardware("h100")
    cfg = decode_config(BATCH, 128, group, 2, sm=90)
    assert (cfg.bdx, cfg.bdy, cfg.bdz, cfg.regs) == (16, group, {2: 4, 3: 2}[group], {2: 56, 3: 56}[group])
    r = evaluate(hw, BATCH, Workload(batch=16, heads=8 * group, kv_heads=8, seq_len=1, kv_len=4096))
    assert r.time_s > 0 and r.detail["ctas_per_sm"] == cfg.ctas_per_sm(hw)


def test_a_last_partial_wave_of_cuda_core_work_shares_each_sm_among_fewer_ctas():
    """Each SM issues ceil(CTAs / SMs) CTAs' instructions at its rate: 2048 CTAs on 114 SMs holding 8 each is 18
    CTAs' work per SM (2.25 waves), not 3 whole waves of 8."""
    hw = hardware("h100-pcie")
    wl = Workload(batch=128, heads=128, kv_heads=16, head_dim=128, seq_len=1, kv_len=16384, page_size=128,
                  scope="kernel-warm")
    r = evaluate(hw, BATCH, wl)
    assert r.detail["ctas"] == 2048 and r.detail["ctas_per_sm"] == 8 and r.detail["waves"] == 3
    per_cta = r.detail["chunk_keys"] * r.detail["row_head_cycles"] * wl.group / hw.sustained_clock_hz
    assert r.detail["cuda_core_s"] == pytest.approx(18 * per_cta)


def test_the_issue_width_is_the_schedulers_and_only_fp32_instructions_wait_for_an_a100_s_narrower_pipe():
    """4 warp schedulers issue 128 lane-instructions a clock on every GPU; the A100's FP32 pipe takes 64 a clock,
    so only its FFMAs and FADDs (not the 16-bit HADD2.F32 conversions) are held to that: at group 8 the loop is
    issue-bound there as on Hopper, not twice as slow."""
    from simulator.flashinfer_decode import row_cycles

    cfg = decode_config(BATCH, 128, 8, 2, sm=90)
    a100, h100 = hardware("a100"), hardware("h100")
    assert row_cycles(cfg, a100) == pytest.approx(row_cycles(cfg, h100) * h100.issue_efficiency / a100.issue_efficiency)
    fp32_only = cfg.bdx * (cfg.vec * 2 + math.log2(cfg.bdx) + 6) / a100.fp32_fma_per_clk_sm
    assert fp32_only < row_cycles(cfg, a100)


@pytest.mark.parametrize("algo, batch, kv_heads, noted", [(SINGLE, 1, 4, True), (SINGLE, 1, 16, True),
                                                          (SINGLE, 1, 32, False), (BATCH, 8, 8, False),
                                                          (BATCH, 8, 4, False)])
def test_explain_notes_the_single_kernel_gqa_gap(algo, batch, kv_heads, noted):
    """The held-out Fig. 8 CUDA-core GQA calls run 10-24% longer than predicted (docs/kernels.md D1): --explain says
    so on a single-request GQA call, not on MHA nor on the batch kernel (whose GQA calls the model meets)."""
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", algo, "--batch", str(batch), "--heads", "32",
                                 "--kv-heads", str(kv_heads), "--seq-len", "1", "--kv-len", "16k", "--explain"])
    assert r.exit_code == 0, r.output
    assert ("Fig. 8, 32/4" in " ".join(r.output.split())) is noted


def test_the_quoted_gqa_gap_is_the_published_points_today():
    """SINGLE_GQA_FAST, which --explain quotes, is the range of the Fig. 8 CUDA-core GQA calls' errors in both files."""
    from validation.measured_file import load
    from simulator.flashinfer_decode import SINGLE_GQA_FAST
    from validation.report import predict

    errors = [p["error"] for name in ("flashinfer-decode-h100.json", "flashinfer-decode-a100-pcie.json")
              for p in predict(load(str(ROOT / "validation" / "published" / name)), None, [])
              if p["algorithm"] == SINGLE and p["kv_heads"] == 4]
    assert len(errors) == 10
    assert (round(-max(errors), 2), round(-min(errors), 2)) == SINGLE_GQA_FAST, errors


@pytest.mark.parametrize("hw_name", ["a100", "a100-pcie", "a800", "h100", "h20", "h200"])
@pytest.mark.parametrize("family", [BATCH, SINGLE])
@pytest.mark.parametrize("heads, kv_heads, d, dtype", [(32, 32, 128, "fp16"), (64, 8, 128, "fp16"),
                                                        (32, 8, 256, "bf16"), (32, 4, 64, "fp16")])
def test_cuda_core_decode_never_beats_its_roofs(hw_name, family, heads, kv_heads, d, dtype):
    """The ``fma`` roof counts the instructions the FP32 pipe runs (the FFMAs, the reduction's FADDs, the row's
    bookkeeping), the same ones ``row_cycles`` prices at that pipe's width. It once counted the fp16/bf16
    conversions too, which run elsewhere, and an A100's group-8 decode (64 FP32 lanes a clock per SM) came out 10%
    faster than its own fma roof."""
    hw = hardware(hw_name)
    for batch, kv in ((1, 65536), (16, 16384), (128, 4096)):
        wl = _decode(batch=batch if family == BATCH else 1, heads=heads, kv_heads=kv_heads, head_dim=d, kv_len=kv,
                     dtype=dtype)
        r = evaluate(hw, family, wl)
        for unit in ("tensor", "exp", "fma", "hbm", "l2", "launch"):
            assert r.time_s >= r.times[unit] * (1 - 1e-9), (unit, batch, kv, r.time_s, r.times[unit])


@pytest.mark.parametrize("group, sass_001, sass_0616", [(8, 62.54, 55.85), (4, 68.58, 61.83)])
def test_flashinfer_0_0_1s_loop_scales_every_product_by_sm_scale(group, sass_001, sass_0616):
    """0.0.1's compute_qk (decode.cuh @ 9f49803b) writes ``s[j] += q_vec[i] * k_vec[i] * sm_scale``: an FMUL more
    per K element, on the FP32 pipe, than v0.1.0 and later (which scale the reduced score). Its per-lane count per
    (row, query head) matches 0.0.1's SASS within 2%, as 0.6.16's matches its own; a published file's
    ``flashinfer_build`` picks the loop."""
    from simulator.flashinfer_decode import FMUL_001, lane_fp32_pipe_ops, row_cycles
    from simulator.flashinfer_tc import flashinfer_build

    hw = replace(hardware("h100"), cuda_core_issue_efficiency=None)
    old, new = (decode_config(BATCH, 128, group, 2, build=b, sm=90) for b in ("0.0.1", "0.6.16"))
    for cfg, sass in ((old, sass_001), (new, sass_0616)):
        assert row_cycles(cfg, hw) * hw.fp32_fma_per_clk_sm / cfg.bdx == pytest.approx(sass, rel=0.02)
    assert lane_fp32_pipe_ops(old) - lane_fp32_pipe_ops(new) == pytest.approx(old.vec * FMUL_001)  # the FMULs
    # and its registers (ptxas, sm_90a): 70 at group 8 (allocated 72: 7 CTAs an SM, not 8), 63 at group 4 (8, not 9)
    assert (old.ctas_per_sm(hw), new.ctas_per_sm(hw)) == ((7, 8) if group == 8 else (8, 9))
    with flashinfer_build("0.0.1"):
        assert decode_config(BATCH, 128, group, 2, sm=90).build == "0.0.1"
    assert decode_config(BATCH, 128, group, 2, sm=90).build == "0.6.16"


def test_the_blog_posts_cuda_core_files_say_they_ran_flashinfer_0_0_1():
    """Every published file read off the FlashInfer introduction post (early 2024) names build 0.0.1, so its
    CUDA-core points run 0.0.1's loop; today's benchmarks (TheRainstorm/attention_tests, TileOPs) name none."""
    for path in sorted((ROOT / "validation" / "published").glob("*.json")):
        doc = json.loads(path.read_text())
        if "introduce-flashinfer" in doc.get("source", ""):
            assert doc.get("flashinfer_build") == "0.0.1", path.name
        elif path.name.startswith(("attention-tests", "tileops")):
            assert "flashinfer_build" not in doc, path.name


def test_a_cuda_core_loop_runs_at_the_fp32_clock_where_the_board_holds_it_and_a_lock_replaces_it():
    """No tensor work: on a 700 W Hopper SXM module the loop runs at the clock NVIDIA quotes the FP32 peak at (1980
    MHz, H100 whitepaper Table 3), not the tensor peak's 1830 (cuda_core_clock_hz); the H100 PCIe (350 W) and the
    A100s keep their sustained clock; a locked clock replaces it. The CUDA-core time scales with the clock."""
    from validation.report import at_clock

    wl = _decode(batch=64, heads=32, kv_heads=4, kv_len=8192)
    free, locked = evaluate(hardware("h100"), BATCH, wl), evaluate(at_clock(hardware("h100"), 1830), BATCH, wl)
    assert free.detail["clock_hz"] == 1980e6 and locked.detail["clock_hz"] == 1830e6
    assert locked.detail["cuda_core_s"] / free.detail["cuda_core_s"] == pytest.approx(1980 / 1830, rel=1e-3)
    for name in ("h100-pcie", "a100", "a100-pcie"):
        hw = hardware(name)
        assert hw.cuda_core_clock == hw.sustained_clock_hz and evaluate(hw, BATCH, wl).detail["clock_hz"] == hw.sustained_clock_hz
    for name in ("h200", "h800", "h20"):
        assert hardware(name).cuda_core_clock == 1980e6


def test_explain_says_which_builds_loop_it_priced():
    """--explain names the FlashInfer build whose CUDA-core loop it counted (a published file's flashinfer_build)
    and that loop's arithmetic per lane and row: 0.0.1 an FMUL more per K element (vec_size 8 at d = 128)."""
    from simulator.explain import explain_gpu as explain
    from simulator.flashinfer_tc import flashinfer_build

    hw, wl = hardware("h100"), _decode(batch=64, kv_heads=4, kv_len=8192)
    today = explain(hw, BATCH, wl, evaluate(hw, BATCH, wl))
    with flashinfer_build("0.0.1"):
        old = explain(hw, BATCH, wl, evaluate(hw, BATCH, wl))
    assert "FlashInfer 0.6.16's CUDA-core loop (the scale once per row): 42 arithmetic" in " ".join(today.split())
    assert "loop = (C^p + S^p)^(1/p), p = 3.00" in " ".join(today.split())  # the stream and loop blend (_loop_time)
    assert "FlashInfer 0.0.1's CUDA-core loop (an FMUL by sm_scale on every K element): 49 arithmetic" in " ".join(old.split())


def test_the_loop_blends_its_stream_and_its_cuda_core_time():
    """The decode warps compute and also issue and wait for the next stages' cp.async, so the loop takes
    (C^p + S^p)^(1/p) of its CUDA-core time C and its stream S (the GPU's stream_overlap_loss: at C = S, 1 + that
    loss times either), the larger of the two where no loss is given."""
    from simulator.flashinfer_decode import _loop_time

    hw = hardware("h100")
    assert _loop_time(hw, 1.0, 1.0) == pytest.approx(1.0 + hw.stream_overlap_loss)
    assert 1.0 < _loop_time(hw, 1.0, 0.4) < 1.03
    assert _loop_time(replace(hw, stream_overlap_loss=None), 1.0, 1.0) == 1.0


def test_a_group_the_cuda_core_kernel_lacks_names_the_tensor_core_path():
    """Llama 4's 40 query over 8 KV heads (group 5): DISPATCH_GQA_GROUP_SIZE has no 5; the refusal names the family
    that runs it (use_tensor_cores=True), and that family does."""
    wl = Workload(batch=8, heads=40, kv_heads=8, head_dim=128, seq_len=1, kv_len=8192)
    with pytest.raises(UserError, match="use flashinfer-decode-tc"):
        evaluate(hardware("h100"), "flashinfer-decode", wl)
    assert evaluate(hardware("h100"), "flashinfer-decode-tc", wl).time_s > 0


def test_a_longer_cache_never_decodes_faster_across_a_chunk_boundary():
    """The CTAs of a split call run side by side, so the stream's latency term is the longest chunk's, not the mean
    chunk's: 272 keys (chunks of 256 and 16) had decoded 16% faster than 256 (one chunk), 528 faster than 512."""
    from simulator import simulate

    for algo in ("flashinfer-single-decode", "flashinfer-decode", "flashinfer-decode-tc",
                 "flashinfer-single-decode-tc"):
        times = [simulate(hw="h100", algo=algo, heads=32, kv_heads=8, seq_len=1, kv_len=kv)["time_s"]
                 for kv in range(256, 1100, 16)]
        assert all(b >= a * (1 - 1e-9) for a, b in zip(times, times[1:])), algo
