"""--method presets: published methods as data with sources (simulator.methods), one command each.

What is proved: a preset sets pattern, estimate and kernel, and dense FlashAttention as the baseline; explicit
options win over it; per-point patterns (DuoAttention's head split over whole KV heads, NATTEN's square grid)
are filled from the point; every method runs on A100, H100 and B200; unknown names and impossible lengths exit 2
with one line; ``attnsim method list`` shows every method with its source.
"""

import json
import re

import pytest
from click.testing import CliRunner

from cli._workload_opts import expand_points
from cli.main import cli
from simulator import run_points, simulate
from einsum_cascades.errors import UserError
from simulator.methods import METHODS, fill_pattern


def _opts(**given):
    base = dict(hardware=["h100"], algorithm=None, seq_len=[65536], kv_len=None, sparsity=None, batch=None,
                heads=None, kv_heads=None, head_dim=None, causal=None, dtype=None, pattern=None, block_size=None,
                model=None, baseline=None, estimate=None, method=None)
    return {**base, **given}


def test_a_preset_sets_pattern_estimate_kernel_and_a_dense_flashattention_baseline():
    (p,) = expand_points(_opts(method="minference"))
    assert (p["pattern"], p["estimate"], p["algorithm"], p["block_size"], p["causal"]) == (
        "vertical_slash(1000,6096)", "minference-vs", "flash2", 64, True)
    assert p["baseline"] == "flash3"  # the machine's best dense family
    (p,) = expand_points(_opts(method="seerattention", hardware=["b200"]))
    assert (p["sparsity"], p["estimate"], p["baseline"]) == (0.9, "seer-gate", "flash4")


def test_explicit_options_win_over_the_preset():
    (p,) = expand_points(_opts(method="minference", pattern="vertical_slash(500,2000)", algorithm=["flash3"],
                               estimate="minference-block", block_size=128, causal=False, baseline="naive"))
    assert (p["pattern"], p["algorithm"], p["estimate"], p["block_size"], p["causal"], p["baseline"]) == (
        "vertical_slash(500,2000)", "flash3", "minference-block", 128, False, "naive")
    (p,) = expand_points(_opts(method="seerattention", sparsity=[0.5]))
    assert p["sparsity"] == 0.5


@pytest.mark.parametrize("heads, kv_heads, expected", [
    (32, 32, "heads(8: full, 24: sinks(64)|window(256))"),  # MHA: a 25% retrieval ratio (the README's Llama-2-7B)
    (32, 8, "heads(16: full, 16: sinks(64)|window(256))"),  # 4 of 8 KV heads streaming, 4 query heads each
    (64, 2, "heads(32: full, 32: sinks(64)|window(256))"),
    (8, 1, "full"),  # half of one KV head rounds to none
])
def test_duoattention_streams_half_a_gqa_models_kv_heads_and_three_quarters_of_an_mha_models(heads, kv_heads,
                                                                                             expected):
    assert fill_pattern("duoattention", METHODS["duoattention"].pattern,
                        dict(heads=heads, kv_heads=kv_heads)) == expected


def test_natten_lays_the_tokens_on_a_square_grid():
    assert fill_pattern("natten", METHODS["natten"].pattern, dict(seq_len=1 << 20)) == "window2d(1024,1024,7,7)"


@pytest.mark.parametrize("args, match", [
    (["--method", "bogus"], "bad --method 'bogus': allowed " + ", ".join(METHODS)),
    (["--method", "natten", "--seq-len", "128k"], "bad --seq-len '131072' for --method natten"),
    (["--method", "quest", "--seq-len", "4k"], "Quest estimates each decode step"),
    (["--method", "minference", "--estimate", "bogus"], "bad --estimate 'bogus'"),
])
def test_bad_methods_exit_2_with_one_line(args, match):
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and match in result.output


@pytest.mark.parametrize("hw", ["a100", "h100", "b200"])
@pytest.mark.parametrize("name", list(METHODS))
def test_every_method_runs_on_every_gpu(hw, name):
    lengths = ["--seq-len", "1", "--kv-len", "64k"] if name == "quest" else ["--seq-len", "64k"]
    shape = (["--heads", "64", "--kv-heads", "4"] if name == "nsa" else
             ["--model", "llama2-7b"] if name == "quest" else ["--model", "llama3-8b"])  # Quest's kernels: MHA
    result = CliRunner().invoke(cli, ["simulate", "--method", name, "--hw", hw, *lengths, *shape, "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)  # a row's note goes to stderr
    assert row["speedup"] > 0 and row["baseline"] == {"a100": "flash2", "h100": "flash3", "b200": "flash4"}[hw]
    assert ("NATTEN's Ampere kernel" in (row["note"] or "")) == (name == "natten" and hw == "a100")
    assert (row["estimate_s"] is not None) == (METHODS[name].estimate is not None)


def test_method_list_names_every_method_and_its_source():
    result = CliRunner().invoke(cli, ["method", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, m in METHODS.items():
        paper = re.search(r"\d{4}\.\d{5}", m.source)  # its arXiv id (NAT's is a CVPR paper)
        assert name in result.output and (paper.group() if paper else "CVPR 2023") in result.output
    assert "…" not in result.output  # values wrap, never cut; `method show` has the code each is taken from
    shown = json.loads(CliRunner().invoke(cli, ["method", "show", "nsa", "--json"]).output)
    assert shown["algorithm"] == "nsa-select" and "2502.11089" in shown["source"]


def test_a_from_file_row_may_name_its_method(tmp_path):
    """A row's method fills what the row leaves out (its own values win); the JSON row names the method."""
    path = tmp_path / "points.csv"
    path.write_text("method,seq_len,hardware,estimate\nminference,65536,a100,\nminference,65536,a100,minference-block\n"
                    ",4096,h100,\n")
    result = CliRunner().invoke(cli, ["simulate", "--from", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    first, second, plain = json.loads(result.output)
    assert (first["method"], first["pattern"], first["causal"], first["estimate"], first["baseline"]) == (
        "minference", "vertical_slash(1000,6096)", True, "minference-vs", "flash2")
    assert second["estimate"] == "minference-block"
    assert plain["method"] is None and plain["estimate"] is None


def test_moba_runs_its_own_chunk_causal_and_one_chunk_as_plain_causal_attention():
    """moba_efficient.py @ 61e456bc: each chunk's own queries over it causally, the gathered later queries over it
    not, both FA2 varlen calls at FA2's own tile; with one chunk (4k tokens, 4096-key chunks) moba_attn_varlen
    returns one causal flash_attn_varlen_func before the gate. A sweep found MoBA's own chunk priced whole and
    not causal (twice FA2's causal call on one chunk)."""
    from simulator import Workload, evaluate, hardware
    from simulator.api import run_points

    h100 = hardware("h100")
    fa2 = evaluate(h100, "flash2", Workload(heads=32, head_dim=128, seq_len=4096, causal=True, varlen=True))
    (one,) = run_points([dict(hardware="h100", method="moba", seq_len=4096)])
    assert (one["algorithm"], one["estimate"], one["pattern"], one["varlen"]) == ("flash2", None, None, True)
    assert one["time_s"] == fa2.time_s and "flash_attn_varlen_func" in one["note"]
    (two,) = run_points([dict(hardware="h100", method="moba", seq_len=8192)])
    causal8k = evaluate(h100, "flash2", Workload(heads=32, head_dim=128, seq_len=8192, causal=True, varlen=True))
    kernel = two["time_s"] - two["estimate_s"]
    assert causal8k.time_s < kernel < 1.25 * causal8k.time_s  # top-3 of 2 chunks: every key, causal, then a merge


def test_minference_runs_its_64x64_four_warp_kernel_at_every_head_dim():
    """vllm-project/flash-attention's sparse kernel is Flash_fwd_kernel_traits<d, 64, 64, 4> at every head dim
    (flash_fwd_sparse_launch_template.h), and FA2's 64-row tiles all run 4 warps: a 64-row --block-size on FA2's
    8-warp head dims (160, 192) takes 4 warps, where it was refused ('a multiple of 128') until 2026-12-07."""
    from simulator import Workload, hardware
    from simulator.api import run_points
    from simulator.gpu_model import fused_config

    h100 = hardware("h100")
    cfg = fused_config(h100, "flash2", Workload(head_dim=192, seq_len=16384, block_size=64))
    assert (cfg.block_q, cfg.block_kv, cfg.warps) == (64, 64, 4)
    assert fused_config(h100, "flash2", Workload(head_dim=192, seq_len=16384, block_size=128)).warps == 8
    rows = run_points([dict(hardware="h100", method="minference", head_dim=d, seq_len=16384) for d in (128, 192)])
    assert all(r["time_s"] > 0 and r["tile"] == "64x64" for r in rows)


def test_quest_runs_its_kernel_over_the_compacted_pages():
    """Quest's attention is its FlashInfer fork over the budget's pages alone (approx_attn.cu): the attention's time
    does not move with the cache behind it, and Quest's kernels refuse GQA and several requests in one line."""
    def attention(kv):
        row = simulate(hw="h100", algo="flashinfer-decode", pattern="budget(4k)", batch=1, heads=32, kv_heads=32,
                       head_dim=128, seq_len=1, kv_len=kv, dtype="fp16")
        return row["time_s"], row["block_density"]

    times = [attention(kv) for kv in (64 << 10, 96 << 10, 160 << 10, 1 << 20)]
    assert max(t for t, _ in times) == pytest.approx(min(t for t, _ in times), rel=1e-9)
    assert [d for _, d in times] == pytest.approx([4 / 64, 4 / 96, 4 / 160, 4 / 1024])
    dense = simulate(hw="h100", algo="flashinfer-decode", batch=1, heads=32, kv_heads=32, head_dim=128, seq_len=1,
                     kv_len=4096, dtype="fp16", page_size=16)["time_s"]
    assert times[0][0] != dense  # Quest's fork runs FlashInfer 0.0.1's loop, not today's
    for extra in (["--kv-heads", "8"], ["--batch", "2"]):
        r = CliRunner().invoke(cli, ["simulate", "--method", "quest", "--model", "llama2-7b", "--seq-len", "1",
                                     "--kv-len", "64k", *extra])
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
        assert "num_qo_heads == num_kv_heads" in r.output


@pytest.mark.parametrize("extra, shape", [
    ([], (64, 4, 128, 128)),  # NSA's 27B model's heads and groups (arXiv 2502.11089 Sec. 4.1), on every GPU
    (["--model", "llama3-8b"], (32, 8, 128, 128)),  # a model's call wins over the method's model
    (["--heads", "32"], (32, 32, 128, 128)),  # a given shape is never mixed with the method's
])
def test_a_method_runs_on_its_papers_model_unless_a_shape_is_given(extra, shape):
    r = CliRunner().invoke(cli, ["simulate", "--method", "nsa", "--hw", "h100", "--seq-len", "16k", *extra,
                                 "--format", "json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)
    assert (row["heads"], row["kv_heads"], row["head_dim"], row["v_head_dim"]) == shape
    if "--model" in extra:  # the Python API takes no model: a call's fields
        return
    given = {k.lstrip("-").replace("-", "_"): int(v) for k, v in zip(extra[::2], extra[1::2])}
    (api,) = run_points([{"hardware": "h100", "method": "nsa", "seq_len": 16384, **given}])
    assert (api["heads"], api["kv_heads"], api["head_dim"], api["v_head_dim"]) == shape


def test_quest_prices_whole_pages_and_refuses_what_its_kernels_do_not_run():
    """topk picks 16-token pages: budget(17) reads two; another page size, or a --sparsity (a sweep sets one), is
    refused in one line naming it."""
    def keys(budget):
        row = simulate(hw="h100", algo="flashinfer-decode", pattern=f"budget({budget})", seq_len=1, kv_len=32768)
        return row["block_density"] * 32768

    assert keys(17) == pytest.approx(32) and keys(16) == pytest.approx(16) and keys(1) == pytest.approx(16)
    for extra, says in ((["--page-size", "64"], "--page-size 64"), (["--sparsity", "0.5"], "--sparsity 0.5")):
        r = CliRunner().invoke(cli, ["simulate", "--method", "quest", "--seq-len", "1", "--kv-len", "32k", *extra])
        assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and says in r.output, r.output


def test_nsa_refuses_a_sparsity_and_a_decode_step_reads_its_selected_blocks():
    r = CliRunner().invoke(cli, ["simulate", "--method", "nsa", "--seq-len", "64k", "--sparsity", "0.5"])
    assert r.exit_code == 2 and "topk(k)" in r.output and len(r.output.strip().splitlines()) == 1
    # one token reads its own block and 15 earlier ones, however long the cache behind them
    rows = [simulate(hw="h100", algo="nsa-select", pattern="topk(16)", causal=True, block_size=64, heads=64,
                     kv_heads=4, seq_len=1, kv_len=kv) for kv in (8192, 65536, 1 << 20)]
    assert max(r["hbm_bytes"] for r in rows) == pytest.approx(min(r["hbm_bytes"] for r in rows), rel=1e-6)
    assert rows[0]["hbm_bytes"] < 4 * 16 * 64 * 256 * 2 * 1.1  # K and V of 16 blocks a KV head, Q and O besides


def test_rows_of_a_file_take_their_own_method_and_no_other_preset(tmp_path):
    """--from: a row naming a method gets that method's model where it names no shape, and none of the command
    line's method's settings (its block size, here) leak into it."""
    f = tmp_path / "rows.csv"
    f.write_text("method,seq_len,kv_len\nnsa,16384,\nquest,1,32768\n")
    r = CliRunner().invoke(cli, ["simulate", "--method", "nsa", "--from", str(f), "--format", "json"])
    assert r.exit_code == 0, r.output
    nsa, quest = json.loads(r.stdout)
    assert (nsa["heads"], nsa["kv_heads"], nsa["block_size"]) == (64, 4, 64)
    assert (quest["algorithm"], quest["heads"], quest["kv_heads"], quest["block_size"]) == ("flashinfer-decode", 32,
                                                                                          32, None)
    f.write_text("seq_len,heads\n16384,32\n")  # a row's shape is taken whole
    r = CliRunner().invoke(cli, ["simulate", "--method", "nsa", "--from", str(f), "--format", "json"])
    (row,) = json.loads(r.stdout)
    assert (row["heads"], row["kv_heads"]) == (32, 32)


def test_prefill_methods_run_what_their_code_runs_at_decode():
    """MInference (minfer_attn_forward: q_len == 1 returns dense flash_attn_func) and MoBA (moba_layer: q_len !=
    kv_len calls flash_attn_func, causal) prune prefill only; SeerAttention decodes with a Triton kernel attnsim
    does not model. Until 2026-12-07 a one-query MInference call ran its vertical-slash mask (block density 1.69)
    and estimate (7 ms) at a speedup of 0.01, and SeerAttention a gate and 90% sparsity it never runs."""
    from simulator.api import run_points
    from simulator.workload import Workload
    from simulator import evaluate, hardware

    h100 = hardware("h100")
    dense = evaluate(h100, "flash2", Workload(heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=32768))
    for name in ("minference", "moba"):
        (row,) = run_points([dict(method=name, seq_len=1, kv_len=32768, heads=32, kv_heads=8)], hardware="h100")
        assert (row["algorithm"], row["pattern"], row["estimate"], row["block_density"]) == ("flash2", None, None, 1)
        assert row["time_s"] == dense.time_s and "prefill only" in row["note"] and row["method"] == name
    # the user's own values stay: a named kernel and mask are kept, only the preset's give way
    (own,) = run_points([dict(method="minference", seq_len=1, kv_len=32768, algorithm="flash-decoding")])
    assert own["algorithm"] == "flash-decoding"
    (prefill,) = run_points([dict(method="minference", seq_len=8192)])
    assert prefill["pattern"] == "vertical_slash(1000,6096)" and "prefill only" not in prefill["note"]
    # a method on another kernel than its dense baseline says so; on its baseline's kernel it says nothing
    assert prefill["note"].startswith("minference runs flash2 against flash3: the speedup holds the two kernels'")
    (streaming,) = run_points([dict(method="streamingllm", seq_len=8192)])
    assert streaming["algorithm"] == streaming["baseline"] == "flash3" and streaming["note"] is None
    with pytest.raises(UserError, match="flash_decode_leftpad"):
        run_points([dict(method="seerattention", seq_len=1, kv_len=32768)])
    result = CliRunner().invoke(cli, ["simulate", "--method", "seerattention", "--seq-len", "1", "--kv-len", "8k"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_duoattention_runs_what_its_inference_code_runs():
    """duo_attn/patch/llama.py (llama_duo_attention_forward_one_way_reordered): a prompt (queries = keys) is one
    flash_attn_func(causal=True) on every head; decode is two flash_attn_func calls (retrieval heads over the cache,
    streaming heads over sink + recent + new keys), run apart and summed. Until 2026-12-07 the preset ran the mask on Block-Sparse-Attention's kernel (the
    training path) at every shape: 1.99x on an A100 prefill, and at decode 3.5x slower than dense (a one-query
    mix lost FA2's GQA packing and split). Half of one KV head rounds to no streaming head, and says so."""
    (one,) = run_points([dict(method="duoattention", seq_len=8192, kv_heads=1)])
    assert (one["algorithm"], one["pattern"]) == ("flash2", None) and "rounds to none" in one["note"]
    (two,) = run_points([dict(method="duoattention", seq_len=8192, kv_heads=2)])
    assert (two["algorithm"], two["pattern"], two["causal"]) == ("flash2", None, True)
    assert two["note"].startswith("DuoAttention prefills a prompt dense")
    dense = run_points([dict(algorithm="flash2", seq_len=8192, kv_heads=2, causal=True)])[0]
    assert two["time_s"] == dense["time_s"]
    # decode: two calls, summed; the baseline is the dense call of every head
    (dec,) = run_points([dict(method="duoattention", seq_len=1, kv_len=32768, kv_heads=8, batch=4)])
    full, stream = run_points([dict(algorithm="flash2", seq_len=1, kv_len=kv, heads=16, kv_heads=4, batch=4,
                                    causal=True) for kv in (32768, 64 + 256 + 1)])
    assert dec["time_s"] == pytest.approx(full["time_s"] + stream["time_s"])
    assert dec["flops"] == pytest.approx(full["flops"] + stream["flops"]) and dec["heads"] == 32
    base = run_points([dict(algorithm="flash3", seq_len=1, kv_len=32768, kv_heads=8, batch=4, causal=True)])[0]
    assert dec["baseline_time_s"] == base["time_s"] and dec["speedup"] == pytest.approx(base["time_s"] / dec["time_s"])
    assert dec["note"].startswith("DuoAttention's decode is 2 flash_attn_func calls") and dec["speedup"] > 1
    (chunk,) = run_points([dict(method="duoattention", seq_len=4096, kv_len=65536)])  # chunked prefill: 320 + 4096
    assert "24 streaming heads over 4,416" in chunk["note"]  # MHA (32 / 32 by default): three quarters streaming
    text = CliRunner().invoke(cli, ["simulate", "--method", "duoattention", "--seq-len", "1", "--kv-len", "32k",
                                    "--explain"])
    assert text.exit_code == 0 and "call 2 of 2 (24 query heads, 321 keys)" in text.output, text.output
    result = CliRunner().invoke(cli, ["simulate", "--method", "duoattention", "--model", "llama3-8b", "--hw", "a100",
                                      "--seq-len", "128k", "--format", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["pattern"] is None, result.output


def test_a_method_run_on_a_stand_in_kernel_says_so_in_every_row():
    """SeerAttention's prefill runs its own Triton kernel (block_sparse_triton_fn after repeat_kv, microsoft/
    SeerAttention @ aba03e3 modules/attention_forward.py); attnsim runs FA2's block-sparse tiles in its place, and
    every row says so, as `method show` does (the preset had cited an FA2-based kernel as SeerAttention's own)."""
    (row,) = run_points([dict(method="seerattention", seq_len=16384)])
    assert row["note"].startswith("SeerAttention's own kernel is Triton") and "FA2's block-sparse" in row["note"]
    shown = CliRunner().invoke(cli, ["method", "show", "seerattention", "--json"])
    assert json.loads(shown.output)["stand_in"] == METHODS["seerattention"].stand_in
    assert not any(m.stand_in for name, m in METHODS.items() if name != "seerattention")


def test_a_preset_block_size_another_kernel_refuses_is_named_as_the_preset_s():
    """--method minference --algo flash3 said 'bad block-size 64', a value the user never gave: it is the preset's,
    for MInference's FA2-based kernel, and the error now says so and what to do."""
    result = CliRunner().invoke(cli, ["simulate", "--method", "minference", "--algo", "flash3", "--seq-len", "32k"])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "the block size is --method minference's, for its flash2 kernel" in result.output
    result = CliRunner().invoke(cli, ["simulate", "--algo", "flash-decoding", "--num-splits", "1000", "--seq-len", "1",
                                      "--kv-len", "32k"])
    assert result.exit_code == 2 and "at most 256 (FA3's and FA4's limit" in result.output


def test_duoattention_calls_survive_defaults_options_and_memory(tmp_path):
    """The second audit of the two-call rows: a method given as a default recursed without end (the calls took it
    back from the defaults), a default --pattern ran on both calls and on the 'dense' baseline, the calls' notes were
    dropped (a point that does not fit said only the calls' note), fits was each call's alone though the calls are
    in memory together, and explicit options were dropped without a word."""
    (row,) = run_points([dict(seq_len=1, kv_len=65536, kv_heads=8)], method="duoattention", pattern="window(1k)")
    (same,) = run_points([dict(method="duoattention", seq_len=1, kv_len=65536, kv_heads=8)])
    assert row["time_s"] == same["time_s"] and row["baseline_time_s"] == same["baseline_time_s"]
    assert row["pattern"] == "heads(16: full, 16: sinks(64)|window(256))"
    (big,) = run_points([dict(method="duoattention", hardware="a100", seq_len=32768, kv_len=524288, batch=60,
                              kv_heads=8, dtype="bf16")])
    assert big["fits"] is False and big["time_s"] is None and big["memory_bytes"] > 85.9e9
    assert big["note"].startswith("does not fit: the 2 calls need 101 GB of HBM together")
    (flash3,) = run_points([dict(method="duoattention", seq_len=1, kv_len=65536, kv_heads=8, algorithm="flash3")])
    assert flash3["algorithm"] == "flash3" and "(run here on flash3, as asked)" in flash3["note"]
    for key, value in (("sparsity", 0.5), ("pattern", "window(1k)"), ("estimate", "quest"), ("block_size", 128)):
        with pytest.raises(UserError, match=f"bad --{key.replace('_', '-')} .* none of which runs it"):
            run_points([dict(method="duoattention", seq_len=1, kv_len=65536, **{key: value})])
    out = tmp_path / "b.png"
    result = CliRunner().invoke(cli, ["plot", "breakdown", "--method", "duoattention", "--seq-len", "1", "--kv-len",
                                      "64k", "-o", str(out)])
    assert result.exit_code == 2 and "is several: DuoAttention's decode is 2 flash_attn_func calls" in result.output
    result = CliRunner().invoke(cli, ["plot", "breakdown", "--method", "minference", "--seq-len", "1", "--kv-len",
                                      "64k", "-o", str(out)])
    assert result.exit_code == 0, result.output  # its dense call, where it had refused its own preset's estimate


def test_method_preset_value_given_explicitly_is_the_users():
    """A mask field the user gives is theirs even where it equals the preset's: at one query MInference's code runs
    dense FA2, so --estimate minference-vs is refused as --estimate moba-gate is (the command line had passed the
    preset's values on as its own, so the API could not tell them apart and dropped the explicit one silently)."""
    base = ["simulate", "--method", "minference", "--seq-len", "1", "--kv-len", "32k", "--model", "llama3-8b"]
    for estimate in ("minference-vs", "moba-gate"):
        result = CliRunner().invoke(cli, [*base, "--estimate", estimate])
        assert result.exit_code == 2 and f"bad --estimate '{estimate}' for --method minference" in result.output
    result = CliRunner().invoke(cli, [*base, "--block-size", "64"])
    assert result.exit_code == 2 and "bad --block-size '64'" in result.output
    result = CliRunner().invoke(cli, [*base, "--format", "json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.output[result.output.index("["):])
    assert row["algorithm"] == "flash2" and row["estimate"] is None and row["pattern"] is None
    with pytest.raises(UserError, match="bad --estimate 'minference-vs'"):
        run_points([dict(method="minference", seq_len=1, kv_len=32768, estimate="minference-vs")])
    # the preset's own values on its prefill points, given or not, run as before
    (given,) = run_points([dict(method="minference", seq_len=32768, estimate="minference-vs")])
    (preset,) = run_points([dict(method="minference", seq_len=32768)])
    assert given["time_s"] == preset["time_s"] and given["estimate"] == "minference-vs"
