"""``flashmla``: FlashMLA's dense decoding kernel (deepseek-ai/FlashMLA csrc/sm90/decode/dense), MLA's absorbed form
on Hopper: one latent KV head of 576 columns whose first 512 are V, 64-row tiles of packed query rows, 64-key pages,
the get_mla_metadata split of a batch's blocks over SM parts, and the combine kernel."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator.api import evaluate, hardware
from simulator.flashmla import FIXED_OVERHEAD_BLOCKS, flashmla_build, schedule
from simulator.limits import kernel_error
from simulator.workload import Workload
from test_bad_inputs_review import one_line_error

H100, H20 = hardware("h100"), hardware("h20")
ROOT = Path(__file__).resolve().parent.parent


def mla(**kw):
    return Workload(**{**dict(batch=128, heads=128, kv_heads=1, head_dim=576, v_head_dim=512, seq_len=1,
                              kv_len=4096, dtype="bf16"), **kw})


def test_schedule_is_get_mla_metadatas_greedy_split():
    parts, splits = schedule(128, 64, 66)  # 128 requests of 64 blocks over 66 parts: payload 139 = 2 requests + 1
    assert [p[0] for p in parts] == [128] * 64 + [0, 0] and splits == 1
    assert all(p[2] == 0 for p in parts)
    parts, splits = schedule(1, 64, 132)  # one request: payload ceil(69 / 132) + 5 = 6, one block a part
    assert [p[0] for p in parts[:64]] == [1] * 64 and all(p[0] == 0 for p in parts[64:]) and splits == 64
    for batch, blocks, n in ((7, 33, 20), (300, 2, 132), (5, 1000, 132)):  # every block lands on one part
        parts, _ = schedule(batch, blocks, n)
        assert sum(p[0] for p in parts) == batch * blocks
        payload = -(-batch * (blocks + FIXED_OVERHEAD_BLOCKS) // n) + FIXED_OVERHEAD_BLOCKS
        assert all(p[0] + p[1] * FIXED_OVERHEAD_BLOCKS <= payload for p in parts)


def test_v_costs_no_bytes_of_its_own():
    r = evaluate(H100, "flashmla", mla(heads=16))
    k = 128 * 4096 * 576 * 2
    assert k <= r.cost.hbm_bytes < 1.01 * k  # K once, Q and O and the block table a sliver; no V stream
    assert r.bound == "hbm" and r.detail["m_blocks"] == 1 and r.detail["sm_parts"] == 132


def test_65_packed_rows_take_two_tiles_and_halve_the_sm_parts():
    """FlashMLA issue #30's H20 step: 16 heads x 4 queries fill one 64-row tile, x 5 take two, so num_sm_parts
    halves and each K block is read by two CTAs: the call takes twice as long."""
    four, five = (evaluate(H20, "flashmla", mla(heads=16, seq_len=n)) for n in (4, 5))
    assert (four.detail["m_blocks"], five.detail["m_blocks"]) == (1, 2)
    assert (four.detail["sm_parts"], five.detail["sm_parts"]) == (78, 39)
    assert 1.8 < five.time_s / four.time_s < 2.1


def test_more_tiles_and_kv_heads_than_sms_run_in_waves():
    """A grid of num_m_block x h_k x num_sm_parts CTAs, one an SM: once the packed rows' tiles and the KV heads
    outnumber the SMs, num_sm_parts is 1 and the CTAs run in waves, each its part's whole run. (The model once
    took one wave, and 64 tiles x 16 KV heads came out under its own tensor roof.)"""
    many = evaluate(H100, "flashmla", mla(batch=16, heads=64, kv_heads=16, seq_len=1024, kv_len=2048))
    det = many.detail
    assert (det["m_blocks"], det["sm_parts"], det["waves"]) == (64, 1, 8)  # 1,024 CTAs over 132 SMs
    assert many.times["compute"] == pytest.approx(8 * det["longest_part_cycles"] / det["clock_hz"])
    assert many.time_s >= max(many.times[unit] for unit in ("tensor", "smem", "l2", "hbm"))
    one = evaluate(H100, "flashmla", mla(heads=16, seq_len=4))  # 64 rows, 132 parts: one wave
    assert one.detail["waves"] == 1


def test_a_split_request_pays_the_combine():
    one = evaluate(H100, "flashmla", mla(batch=1, kv_len=65536))
    assert one.detail["splits"] > 1 and one.times["combine"] > 0 and one.cost.launches == 2
    full = evaluate(H100, "flashmla", mla(batch=132, heads=64))
    assert full.detail["split_segments"] == 0 and full.times["combine"] == 0


@pytest.mark.parametrize("kw, needle", [
    (dict(head_dim=192, v_head_dim=128), "absorbed form"),
    (dict(head_dim=512), "asserts both"),  # dense_decode.h lets 512 through; the sm90 launcher asserts 576
    (dict(page_size=16), "64-token blocks only"),
    (dict(pattern="window(1k)"), "dense decoding kernel"),
    (dict(seq_len=8192, kv_len=4096), "--kv-len >= --seq-len"),
])
def test_what_flashmla_does_not_run_is_refused(kw, needle):
    assert needle in kernel_error(H100, "flashmla", mla(**kw))


@pytest.mark.parametrize("args, needle", [
    (["--hw", "a100"], "does not build for a100"),
    (["--hw", "h100", "--dtype", "fp8"], "has no fp8 kernel"),
    (["--hw", "h100", "--varlen"], "not flashmla's"),
])
def test_cli_refuses_in_one_line(args, needle):
    assert needle in one_line_error("simulate", "--algo", "flashmla", "--heads", "128", "--kv-heads", "1",
                                    "--head-dim", "576", "--v-head-dim", "512", "--seq-len", "1", "--kv-len", "4k",
                                    *args)


def test_cli_explains_the_schedule():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flashmla", "--heads", "128", "--kv-heads", "1",
                                 "--head-dim", "576", "--v-head-dim", "512", "--seq-len", "1", "--kv-len", "4k",
                                 "--batch", "128", "--explain"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "FlashMLA dense decoding" in r.output and "66 SM parts" in r.output


def test_the_layers_cache_append_is_the_latent_row():
    from simulator.layer import APPEND_PASSES

    layer = evaluate(H100, "flashmla", mla(batch=64, heads=16, scope="layer"))
    appended = APPEND_PASSES * 64 * 1 * 1 * 576 * 2  # one 576-wide row a new token: V is inside it
    expected = H100.graph_launch_s + H100.hbm_latency_s + appended / (H100.hbm_bw_bytes_s * H100.hbm_efficiency)
    assert layer.detail["layer_kernels"]["kv_append"] == pytest.approx(expected, rel=1e-12)


def test_the_model_note_points_decode_at_flashmla():
    r = CliRunner().invoke(cli, ["simulate", "--model", "deepseek-v3", "--seq-len", "1", "--kv-len", "4k"])
    assert "--algo flashmla (FlashMLA)" in r.output and "--head-dim 576 --v-head-dim 512" in r.output


def test_an_mla_model_runs_its_absorbed_form_on_flashmla(tmp_path):
    """--model gives MLA's prefill form (192/128 over 128 KV heads); flashmla takes the absorbed form from it,
    where the command line does not set the fields; other families keep the prefill form."""
    r = CliRunner().invoke(cli, ["simulate", "--model", "deepseek-v3", "--hw", "h100", "--algo", "flashmla,flash3",
                                 "--seq-len", "1", "--kv-len", "4k", "--format", "json"])
    assert r.exit_code == 0, r.output
    rows = {row["algorithm"]: row for row in json.loads(r.stdout)}
    assert (rows["flashmla"]["head_dim"], rows["flashmla"]["v_head_dim"], rows["flashmla"]["kv_heads"]) == (576, 512, 1)
    assert (rows["flash3"]["head_dim"], rows["flash3"]["v_head_dim"], rows["flash3"]["kv_heads"]) == (192, 128, 128)
    config = tmp_path / "config.json"  # a DeepSeek-V2-Lite-like config: kv_lora_rank 512, rope 64
    config.write_text(json.dumps({"architectures": ["DeepseekV2ForCausalLM"], "num_attention_heads": 16,
                                  "num_key_value_heads": 16, "hidden_size": 2048, "kv_lora_rank": 512,
                                  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128}))
    r = CliRunner().invoke(cli, ["simulate", "--model", str(config), "--hw", "h100", "--algo", "flashmla",
                                 "--seq-len", "1", "--kv-len", "4k", "--kv-heads", "2", "--format", "json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.stdout)[0]
    assert (row["head_dim"], row["v_head_dim"], row["kv_heads"]) == (576, 512, 2)  # --kv-heads given: kept


def test_memory_bound_published_calls_within_2_percent():
    """Held out (in no fit): FlashMLA's first kernel on an H100, memory-bound (the new kernel's schedule changed the
    compute-bound calls, not these)."""
    result = CliRunner().invoke(cli, ["validate", "report", "validation/published/flashmla-achatbot-pr123-h100.json",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    errors = [p["error"] for p in json.loads(result.output)["points"]]
    assert len(errors) == 5 and all(abs(e) < 0.02 for e in errors), errors


def test_the_footprint_holds_k_alone_and_the_accumulators_flashmla_allocates():
    from simulator.capacity import _footprint

    r = evaluate(H100, "flashmla", mla(batch=64))
    parts = _footprint(r)
    assert "V" not in parts and parts["K"] == 64 * 4096 * 576 * 2
    # out_accum / lse_accum: batch + num_sm_parts splits of every query head's rows, fp32 (dense_decode.h)
    assert parts["split partials"] == (64 + 66) * 128 * 1 * 513 * 4


def test_fa3_runs_the_absorbed_form_through_its_qv_path_on_hopper():
    """flash3 at (576, 512): hopper/ HasQv with LargeHeadDimV, tile_size_fwd_sm90(64, 512) = 64 x 64 with P through
    smem, two MMA warpgroups; K rope (64) and the latent V (512) loaded once, 576 columns a key."""
    from simulator.gpu_kernels import kernel_config

    cfg = kernel_config("flash3", H100, mla())
    assert (cfg.block_q, cfg.block_kv, cfg.warps) == (64, 64, 8) and cfg.p_through_smem and cfg.v_in_k
    r = evaluate(H100, "flash3", mla(heads=16))
    k = 128 * 4096 * 576 * 2
    assert k <= r.cost.hbm_bytes < 1.02 * k
    fmla = evaluate(H100, "flashmla", mla(heads=16))
    assert 0.85 < r.time_s / fmla.time_s < 1.15  # the same bytes, memory-bound both
    assert "qv path" in kernel_error(H100, "flash3", mla(head_dim=64))  # FA3's own (64, 512) spelling
    assert "Hopper only" in kernel_error(hardware("a100"), "flash3", mla())
    assert "fp16/bf16 only" in kernel_error(H100, "flash3", mla(dtype="fp8"))


def test_the_naive_baseline_of_the_absorbed_form_is_deepseeks_reference():
    """At (576, 512) naive is DeepSeek-V3's reference (inference/model.py, attn_impl "absorb"): einsums over the
    cached latent broadcast over the heads, no repeat_kv copies; the cache is read once a request by each GEMM."""
    r = evaluate(H100, "naive", mla(batch=64))
    assert "layout" not in r.detail["kernel_seconds"]
    cache = 64 * 4096
    scores = 64 * 128 * 4096 * 2
    assert r.cost.hbm_bytes < (cache * (576 + 512) * 2 + 4 * scores) * 1.05  # no per-head K or V
    flashmla = evaluate(H100, "flashmla", mla(batch=64))
    assert 1.5 < r.time_s / flashmla.time_s < 6  # a fused kernel's gain, not repeat_kv's 600x


@pytest.mark.parametrize("algo", ["flash2", "flash-decoding", "flashinfer-decode", "flash1"])
def test_other_families_say_the_absorbed_form_is_not_theirs(algo):
    assert "MLA's absorbed form" in kernel_error(H100, algo, mla())


def test_the_first_release_pays_each_blocks_softmax_and_a_combine_launch():
    """flashmla_build("2025-02"): nothing overlaps a block's softmax (compute_attn_1rowblock_splitkv_mla: QK^T, wait,
    softmax, then PV), and the combine kernel is launched after every call, split or not, without PDL."""
    compute_bound = mla(batch=16, heads=16, kv_len=65536, page_size=64)
    today = evaluate(H100, "flashmla", compute_bound)
    with flashmla_build("2025-02"):
        first = evaluate(H100, "flashmla", compute_bound)
    assert (first.detail["build"], today.detail["build"]) == ("2025-02", "2025-04")
    assert first.detail["tile_cycles"] > today.detail["tile_cycles"] and first.time_s > today.time_s
    unsplit = mla(batch=132, heads=64, kv_len=256, page_size=64)
    with flashmla_build("2025-02"):
        old = evaluate(H100, "flashmla", unsplit)
    new = evaluate(H100, "flashmla", unsplit)
    assert old.detail["split_segments"] == new.detail["split_segments"] == 0
    assert (old.cost.launches, new.cost.launches) == (2, 1)
    with pytest.raises(Exception, match="bad flashmla_build '2025-03': allowed 2025-04, 2025-02"):
        with flashmla_build("2025-03"):
            pass


def test_the_published_sets_of_the_first_release_say_so():
    """The three sets that timed FlashMLA's February 2025 kernel name it, and the report predicts them as built."""
    for name in ("flashmla-achatbot-pr123-h100.json", "flashmla-issue30-h20.json", "flashmla-etap-h20.json"):
        doc = json.loads((ROOT / "validation" / "published" / name).read_text())
        assert doc["flashmla_build"] == "2025-02" and doc["flashmla_build_why"], name
    r = CliRunner().invoke(cli, ["validate", "report", "validation/published/flashmla-issue30-h20.json", "--format",
                                 "json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["builds"]["flashmla_build"] == "2025-02"


def test_split_partials_are_counted_once_and_stay_in_l2_while_they_fit():
    """A split request's fp32 partial O and LSE go to L2 (22 MB here, under the H100's 50 MiB) and the combine reads
    them once and writes the split requests' O (dense_decode.h o_accum; smxx/decode/combine). The model once put
    them in the main kernel's HBM bytes twice (written and read) and again in the combine's time, so 32 requests
    took 18% longer than 64 (62 against 53 us)."""
    call = dict(heads=32, seq_len=4, kv_len=1024)
    r = evaluate(H100, "flashmla", mla(batch=32, **call))
    det = r.detail
    assert det["split_requests"] == 32 and det["partial_bytes"] > 20e6 and det["partial_spill_bytes"] == 0
    k_q_table = 32 * 1024 * 576 * 2 + 32 * 32 * 4 * 576 * 2 + 32 * 16 * 4
    bw = H100.hbm_bw_bytes_s * H100.hbm_efficiency
    o = 32 * 32 * 4 * 512 * 2
    # O is all the combine's (every request is split), counted in the call's bytes since 2026-12-07, not in the
    # main kernel's HBM roof
    assert r.cost.hbm_bytes == pytest.approx(k_q_table + o)
    assert r.times["hbm"] == pytest.approx(k_q_table / H100.stream_bw(False))
    assert r.times["combine"] == pytest.approx(det["combine_s"])
    bytes_s = det["partial_bytes"] / H100.l2_bw_bytes_s + o / bw  # the partials from L2, O to HBM
    assert bytes_s < det["combine_s"] < bytes_s + 2e-6  # plus one round trip
    times = [evaluate(H100, "flashmla", mla(batch=b, **call)).time_s for b in (8, 16, 32, 48, 64, 96, 128)]
    assert times == sorted(times), times
