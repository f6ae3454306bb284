"""--num-splits: the KV split count a call asks for (flash_attn_with_kvcache(num_splits=N), FlashInfer's
plan(disable_split_kv=True)), in place of the kernel's own split heuristic."""

import csv
import io
import json
import re
from dataclasses import replace

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware, run_points, simulate
from simulator.workload import MAX_NUM_SPLITS, Workload


def _decode(**kw):
    return Workload(**{**dict(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=16384), **kw})


@pytest.mark.parametrize("bad", [-1, MAX_NUM_SPLITS + 1, 1.5, True, "4"])
def test_a_bad_count_is_a_user_error(bad):
    with pytest.raises(UserError, match="num-splits"):
        Workload(num_splits=bad)


@pytest.mark.parametrize("hw, algo, wl", [
    ("h100", "flash-decoding", _decode()),
    ("a100", "flash-decoding", _decode(batch=1, kv_len=65536)),
    ("h100", "flash3", _decode()),
    ("a100", "flash3", _decode(kv_len=8192)),
    ("b200", "flash4", _decode(batch=1)),
    ("h100", "flash-decoding", _decode(page_size=256)),
])
def test_asking_for_the_heuristic_s_own_count_changes_nothing(hw, algo, wl):
    """The count is the only thing the heuristic decides: the same count given runs the same call."""
    spec = hardware(hw)
    auto = evaluate(spec, algo, wl)
    given = evaluate(spec, algo, replace(wl, num_splits=auto.detail["splits"]))
    assert auto.detail["splits"] > 1 or algo == "flash3" and hw == "a100"
    assert given.time_s == pytest.approx(auto.time_s, rel=1e-12)
    assert given.detail["splits"] == auto.detail["splits"]


def test_fa2_runs_the_count_it_is_given_and_its_regular_kernel_at_one():
    """set_params_splitkv: num_splits >= 1 skips num_splits_heuristic; run_mha_fwd runs the regular kernel at one
    split on a contiguous cache (no combine), the split-KV kernel on a paged one (force_split_kernel)."""
    spec = hardware("h100")
    one, four = (evaluate(spec, "flash-decoding", _decode(num_splits=n)) for n in (1, 4))
    assert one.detail["splits"] == 1 and "combine" not in one.times and one.cost.launches == 1
    assert four.detail["splits"] == 4 and four.times["combine"] > 0 and four.cost.launches == 2
    assert one.detail["block_q"] == 128 and four.detail["block_q"] == 64  # the split-KV kernel's 64-row tile
    paged = evaluate(spec, "flash-decoding", _decode(num_splits=1, page_size=256))
    assert paged.detail["block_q"] == 64 and paged.detail["splits"] == 1
    assert one.time_s > four.time_s  # 8 CTAs stream all 16k keys each: the reason the split exists
    with pytest.raises(UserError, match="at most 128"):
        evaluate(spec, "flash-decoding", _decode(num_splits=129))


def test_fa3_takes_the_count_as_a_cap_on_each_sequence_s_own():
    """flash_prepare_scheduler.cu: num_splits_dynamic = clamp(ceil(key blocks / blocks per SM), 1, num_splits)."""
    spec = hardware("h100")
    auto = evaluate(spec, "flash3", _decode(batch=4))
    capped = evaluate(spec, "flash3", _decode(batch=4, num_splits=64))
    assert capped.detail["splits"] == auto.detail["splits"] < 64
    one = evaluate(spec, "flash3", _decode(batch=4, num_splits=1))
    assert one.detail["splits"] == 1 and "combine" not in one.detail["kernels"]
    assert "combine" in auto.detail["kernels"] and one.time_s > auto.time_s
    two = evaluate(spec, "flash3", _decode(batch=4, num_splits=2))
    assert two.detail["splits"] == 2 and one.time_s > two.time_s > auto.time_s


def test_fa4_runs_the_count_and_narrows_its_tile_for_192_128():
    spec = hardware("b200")
    eight = evaluate(spec, "flash4", _decode(batch=1, num_splits=8))
    assert eight.detail["splits"] == 8
    # _get_fwd_config: a split call with its own V head dim re-runs the heuristic at 64-key tiles where it has 64
    # key blocks, else runs one split (4k keys: 32 blocks of 128)
    mla = evaluate(spec, "flash4", _decode(batch=1, head_dim=192, v_head_dim=128, kv_len=4096, num_splits=8))
    assert mla.detail["splits"] == 1


@pytest.mark.parametrize("hw, algo, wl, match", [
    ("h100", "flash3", Workload(seq_len=4096, num_splits=2), "decode calls only"),
    ("h100", "flash3", _decode(varlen=True, num_splits=2), "varlen"),
    ("h100", "flash4", _decode(num_splits=2), "SM 9.0"),
    ("h200", "flash4", Workload(heads=9, seq_len=128, kv_len=62208, num_splits=0), "gives 14 splits"),
    ("b200", "flash4", _decode(head_dim=256, num_splits=2), "head dim 256"),
    ("b200", "flash4", _decode(head_dim=256, num_splits=0), "head dim 256"),
    ("h100", "flashinfer-decode-tc", _decode(num_splits=0), "num_splits=0"),
    ("h100", "flashinfer-single-prefill", Workload(seq_len=4096, num_splits=0), "num_splits=0"),
    ("h100", "flash3", Workload(seq_len=4096, num_splits=0), "decode calls only"),
    ("h100", "flash2", _decode(num_splits=1), "flash-decoding"),
    ("h100", "flashinfer-decode", _decode(num_splits=1), "takes no split count"),
    ("h100", "flashmla", _decode(heads=16, kv_heads=1, head_dim=576, v_head_dim=512, num_splits=1),
     "takes no split count"),
    ("h100", "flashinfer-decode-tc", _decode(num_splits=2), "disable_split_kv"),
    ("h100", "naive", _decode(num_splits=1), "takes no split count"),
    ("fusemax", "fusemax", Workload(num_splits=1), "accelerator"),
])
def test_calls_without_such_a_count_are_refused(hw, algo, wl, match):
    with pytest.raises(UserError, match=match):
        evaluate(hardware(hw), algo, wl)


def test_one_split_is_flashinfer_s_disable_split_kv():
    """PrefillSplitQOKVIndptr with disable_split_kv: one KV chunk a request, no merge, a CUDA graph's too."""
    spec = hardware("h100")
    for algo, wl in (("flashinfer-decode-tc", _decode(batch=1)), ("flashinfer-decode-tc", _decode(scope="layer")),
                     ("flashinfer-prefill-fa2", Workload(seq_len=128, kv_len=65536, causal=True))):
        auto, off = evaluate(spec, algo, wl), evaluate(spec, algo, replace(wl, num_splits=1))
        assert auto.detail["splits"] > 1 and off.detail["splits"] == 1, algo
        assert off.times["combine"] == 0 < auto.times["combine"] and off.cost.launches == 1 < auto.cost.launches
        assert off.time_s > auto.time_s


def test_simulate_and_run_points_agree_and_baselines_drop_the_count():
    points = [dict(hardware="h100", algorithm="flash-decoding", seq_len=1, kv_len=n, heads=32, kv_heads=8,
                   num_splits=s) for n in (4096, 65536) for s in (1, 8)]
    rows = run_points(points)
    for p, row in zip(points, rows):
        alone = simulate(p["hardware"], p["algorithm"], None, **{k: v for k, v in p.items()
                                                                 if k not in ("hardware", "algorithm")})
        assert row == alone
        assert row["num_splits"] == row["splits"] == p["num_splits"] and row["speedup"] is not None


def test_the_cli_lists_counts_and_prints_the_splits_run():
    runner = CliRunner()
    out = runner.invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "1", "--kv-len", "32k",
                              "--kv-heads", "8", "--num-splits", "1,2,256", "--format", "csv"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [(r["num_splits"], r["splits"]) for r in rows][:2] == [("1", "1"), ("2", "2")]
    assert int(rows[2]["splits"]) < 256  # the cap: each sequence's own count
    table = runner.invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash-decoding", "--seq-len", "1",
                                "--kv-len", "32k", "--num-splits", "1,8", "--format", "table"])
    assert table.exit_code == 0 and "32k 1 split " in table.output and "32k 8 splits" in table.output
    capped = runner.invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "1", "--kv-len", "32k",
                                 "--kv-heads", "8", "--num-splits", "64", "--format", "table"])
    assert capped.exit_code == 0 and re.search(r"64 splits \(\d+ run\)", capped.output), capped.output
    bad = runner.invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash2", "--num-splits", "1"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "--num-splits" in bad.output


def test_validate_report_predicts_each_point_at_its_count(tmp_path):
    """A measured file's num_splits (attnsim's own split-KV decode kernel records it) is the count predicted."""
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"points": [
        {"hardware": "h100", "algorithm": "flash-decoding", "heads": 32, "kv_heads": 8, "seq_len": 1,
         "kv_len": 65536, "num_splits": s, "measured_ms": 0.1} for s in (1, 32)]}))
    out = CliRunner().invoke(cli, ["validate", "report", str(path), "--format", "json"])
    assert out.exit_code == 0, out.output
    one, many = json.loads(out.output)["points"]
    assert one["num_splits"] == 1 and many["num_splits"] == 32
    assert one["predicted_s"] > 3 * many["predicted_s"]


def test_a_layer_call_passes_fa3_what_vllm_passes_under_cuda_graphs():
    """vLLM's flash_attn backend: num_splits = max_num_splits (16) for a graph-captured batch of at most 512 tokens,
    0 (FA3's heuristic) for a larger one; --num-splits states another."""
    from simulator.splits import VLLM_GRAPH_NUM_SPLITS, VLLM_MAX_CUDAGRAPH_TOKENS, engine_num_splits

    spec = hardware("h100")
    mqa = Workload(heads=128, kv_heads=1, seq_len=1, kv_len=65536)
    kernel, layer = evaluate(spec, "flash3", replace(mqa, page_size=16)), evaluate(spec, "flash3", replace(
        mqa, scope="layer"))
    assert kernel.detail["splits"] > VLLM_GRAPH_NUM_SPLITS == layer.detail["splits"]
    assert evaluate(spec, "flash3", replace(mqa, scope="layer", num_splits=32)).detail["splits"] == 32
    assert engine_num_splits(replace(mqa, scope="layer", batch=VLLM_MAX_CUDAGRAPH_TOKENS)) == VLLM_GRAPH_NUM_SPLITS
    assert engine_num_splits(replace(mqa, scope="layer", seq_len=VLLM_MAX_CUDAGRAPH_TOKENS + 1)) is None  # eager
    assert engine_num_splits(replace(mqa, page_size=16)) is None


@pytest.mark.parametrize("algo, wl", [
    ("flashinfer-single-decode", _decode(batch=1)),
    ("flashinfer-single-decode-tc", _decode(batch=1)),
    ("flashinfer-single-prefill", Workload(seq_len=128, kv_len=65536)),
])
def test_flashinfer_s_single_request_kernels_without_a_tmp_buffer_run_unsplit(algo, wl):
    """prefill.cuh / decode.cuh Single*Dispatched: ``tmp == nullptr`` -> one CTA per KV head (and query tile) over
    every key, no merge; the post's 'w/o split-kv' lines (flashinfer-append-*.json) are such calls."""
    spec = hardware("h100")
    auto, off = evaluate(spec, algo, wl), evaluate(spec, algo, replace(wl, num_splits=1))
    assert auto.detail["splits"] > 1 == off.detail["splits"]
    assert off.cost.launches == 1 < auto.cost.launches and off.time_s > auto.time_s
    with pytest.raises(UserError, match="tmp buffer"):
        evaluate(spec, algo, replace(wl, num_splits=2))


def test_the_unsplit_append_lines_are_held_out_flashinfer_points():
    from bench._published import predicted_points

    points = [p for p in predicted_points() if p.get("kernel") == "flashinfer-0.0.1-append-no-split"]
    assert len(points) == 23 and all(p["algorithm"] == "flashinfer-single-prefill" for p in points)
    assert all(p["num_splits"] == 1 for p in points)



def test_a_points_file_states_the_count_per_row(tmp_path):
    """--from: a num_splits column, empty for the kernel's own choice; a bad count names its row."""
    good = tmp_path / "p.csv"
    good.write_text("hardware,algorithm,heads,kv_heads,seq_len,kv_len,num_splits\n"
                    "h100,flash-decoding,32,8,1,32k,1\nh100,flash-decoding,32,8,1,32k,\n")
    out = CliRunner().invoke(cli, ["simulate", "--from", str(good), "--format", "json"])
    assert out.exit_code == 0, out.output
    one, auto = json.loads(out.output)
    assert (one["num_splits"], one["splits"]) == (1, 1) and auto["num_splits"] is None and auto["splits"] > 1
    bad = tmp_path / "b.csv"
    bad.write_text("hardware,algorithm,seq_len,kv_len,num_splits\nh100,flash-decoding,1,32k,-1\n")
    out = CliRunner().invoke(cli, ["simulate", "--from", str(bad)])
    assert out.exit_code == 2 and "num" in out.output and out.output.count("\n") == 1


def test_a_split_point_pairs_with_standard_attention_of_its_shape():
    from validation.report import speedup_errors

    shape = dict(hardware="h100", batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=4096, causal=False,
                 pattern=None, sparsity=0.0, page_size=None, varlen=False, dtype="fp16")
    naive = {**shape, "kernel": "torch-standard", "algorithm": "naive", "num_splits": None,
             "measured_s": 2e-4, "predicted_s": 2.2e-4}
    split = {**shape, "kernel": "attnsim-decode-splitkv", "algorithm": "flash-decoding", "num_splits": 8,
             "measured_s": 2e-5, "predicted_s": 2.1e-5}
    pairs = speedup_errors([naive, split])
    assert [(s["kind"], s["kernel"]) for s in pairs] == [("fused_vs_naive", "attnsim-decode-splitkv")]


def test_fa4_on_blackwell_splits_a_prefill_call_when_asked_and_zero_runs_its_heuristic():
    """FA4's flash_attn_func runs one split unless asked (num_splits=1 by default); num_splits=0 runs
    interface.py's num_splits_heuristic, min(SMs // m-blocks, 128, key blocks), for any call, which NVIDIA's
    cudnn-frontend SDPA benchmark asks for (PR #607): 9 heads of 985 queries (q_stage 2: 4 m-blocks of 256 rows)
    against 62,208 keys on a GB200 (152 SMs) fill 36 CTAs and split 152 // 36 = 4 ways; 8k queries fill the SMs
    (288 m-blocks) and run one. Split, the call runs faster than unsplit; a count runs that count."""
    spec = hardware("gb200")
    short = Workload(heads=9, head_dim=128, seq_len=985, kv_len=62208, dtype="bf16")
    alone, auto = evaluate(spec, "flash4", short), evaluate(spec, "flash4", replace(short, num_splits=0))
    assert (alone.detail["splits"], auto.detail["splits"]) == (1, 4)
    assert auto.time_s < 0.5 * alone.time_s
    assert evaluate(spec, "flash4", replace(short, num_splits=3)).detail["splits"] == 3
    full = replace(short, seq_len=8192, num_splits=0)
    assert evaluate(spec, "flash4", full).detail["splits"] == 1
    # the FA2 KV-cache entry point's heuristic is what it runs unasked: 0 changes nothing there
    dec = _decode(batch=2)
    assert evaluate(hardware("h100"), "flash-decoding", replace(dec, num_splits=0)).time_s == \
        evaluate(hardware("h100"), "flash-decoding", dec).time_s


def test_the_cli_takes_num_splits_0_as_the_heuristic():
    out = CliRunner().invoke(cli, ["simulate", "--hw", "gb200", "--algo", "flash4", "--heads", "9", "--seq-len", "985",
                                   "--kv-len", "62208", "--num-splits", "0", "--format", "json"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output)[0]
    assert (row["num_splits"], row["splits"]) == (0, 4)
    out = CliRunner().invoke(cli, ["simulate", "--hw", "gb200", "--algo", "flash4", "--num-splits", "0,1,2"])
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize("hw", ["b200", "gb300"])
def test_a_split_fa4_call_runs_the_one_cta_kernel(hw):
    """interface.py: ``use_2cta_instrs = ... and not is_split_kv``. A dense non-causal d = 128 call with more than 256
    packed queries runs the 2-CTA MMA unsplit (each CTA of a pair loads half of each K/V tile) but not split: there
    each CTA loads whole tiles and its exponentials take the 1-CTA tuning entry on sm_100 (the default frequency 16,
    not the (2-CTA, non-causal, 128) entry's 10); sm_103 emulates none either way."""
    from simulator.gpu_kernels import kernel_config
    from simulator.kernel_configs import fa4_exp_poly_fraction
    from simulator.splits import fa4_layout

    spec = hardware(hw)
    wl = Workload(heads=9, head_dim=128, seq_len=2048, kv_len=62208, dtype="bf16")
    unsplit = fa4_layout(spec, wl, kernel_config("flash4", spec, wl))
    split = fa4_layout(spec, replace(wl, num_splits=2), kernel_config("flash4", spec, replace(wl, num_splits=2)))
    assert (unsplit[0], unsplit[1].kv_share, split[0], split[1].kv_share) == (1, 2, 2, 1)
    one_cta = fa4_exp_poly_fraction(False, False, False, 128, False, False)
    expected = (0.0, 0.0) if hw == "gb300" else (fa4_exp_poly_fraction(True, False, False, 128, False, False), one_cta)
    assert (unsplit[1].exp_poly_fraction, split[1].exp_poly_fraction) == expected
    assert one_cta != fa4_exp_poly_fraction(True, False, False, 128, False, False)


def test_fa4_on_hopper_runs_num_splits_0_where_its_heuristic_gives_one():
    """interface.py runs num_splits_heuristic on sm_90 too (over the sm90 tile's query blocks, q_stage 1), then the
    sm90 branch asserts not is_split_kv. NVIDIA's cudnn-frontend benchmark passes 0 on its H200: 9 heads of 985
    queries (8 blocks of 128) against 62,208 keys fill 72 of 132 SMs, 132 // 72 = 1 split, so the call runs, and
    as the unsplit call; 128 queries (9 blocks) would split 14 ways and fail (refused above)."""
    spec = hardware("h200")
    call = Workload(heads=9, seq_len=985, kv_len=62208, dtype="bf16")
    assert evaluate(spec, "flash4", replace(call, num_splits=0)).time_s == evaluate(spec, "flash4", call).time_s


def test_fa4_s_head_dim_256_kernel_runs_num_splits_0_where_its_heuristic_gives_one():
    """interface.py picks the split count (num_splits_heuristic over packed query blocks: pack_gqa is on for 32/2
    heads when the count is picked) before it picks the dedicated (256, 256) kernel, which asserts not is_split_kv:
    Qwen3.5's 2k-token causal call (2 KV heads x 2048 x 16 packed rows = 256 query blocks of 256, 148 // 256 = 0 on
    a B200) runs; a decode call the heuristic would split is refused (above)."""
    spec = hardware("gb200")
    call = Workload(heads=32, kv_heads=2, head_dim=256, seq_len=2048, causal=True, dtype="bf16")
    assert evaluate(spec, "flash4", replace(call, num_splits=0)).time_s == evaluate(spec, "flash4", call).time_s


def test_a_points_file_takes_0_as_the_split_heuristic(tmp_path):
    """A CSV or JSON row's num_splits 0 is --num-splits 0 (the kernel's heuristic), as NVIDIA's benchmark passes it;
    a negative count is a one-line error naming the row."""
    good = tmp_path / "good.csv"
    good.write_text("hardware,algorithm,heads,head_dim,seq_len,kv_len,dtype,num_splits\n"
                    "gb200,flash4,9,128,985,62208,bf16,0\n")
    r = CliRunner().invoke(cli, ["simulate", "--from", str(good), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["splits"] == 4
    bad = tmp_path / "bad.csv"
    bad.write_text("hardware,algorithm,seq_len,num_splits\nh100,flash3,4k,-1\n")
    r = CliRunner().invoke(cli, ["simulate", "--from", str(bad)])
    assert r.exit_code == 2 and "row 1: bad num_splits '-1'" in r.output
    for value in ("2.5", "true", "[2]"):  # a JSON count that is no whole number, never a silent one
        bad = tmp_path / "bad.json"
        bad.write_text('[{"hardware": "h100", "algorithm": "flash-decoding", "seq_len": 1, "num_splits": %s}]' % value)
        r = CliRunner().invoke(cli, ["simulate", "--from", str(bad)])
        assert r.exit_code == 2 and "bad num_splits" in r.output and "use 0" in r.output, (value, r.output)


@pytest.mark.parametrize("kv_len, says", [("568", True), ("567", False)])
def test_explain_says_fa3_prices_keys_past_queries_as_a_kv_cache_call(kv_len, says):
    """A call whose keys outnumber its queries is priced as flash_attn_with_kvcache (its scheduler kernel, num_splits
    0); --explain says so, since flash_attn_func over the same lengths launches neither (a fuzz found the 13% step
    between 567 and 568 keys of 567 queries)."""
    result = CliRunner().invoke(cli, ["simulate", "--hw", "h200", "--algo", "flash3", "--seq-len", "567", "--kv-len",
                                      kv_len, "--batch", "5", "--heads", "16", "--kv-heads", "8", "--head-dim", "64",
                                      "--explain"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert ("priced as flash_attn_with_kvcache" in result.output) is says
