"""Chunked local attention through FlashInfer (simulator.flashinfer_chunks): FlashInfer has no chunk mask, so an
engine cuts each request into one request per chunk (vLLM make_local_attention_virtual_batches) and calls the batch
wrappers on them. The chunked call must cost what those pieces cost, be reported on the caller's shape, and be
refused in one line where the pieces differ in length or a one-request kernel would get several."""

import pytest
from hypothesis import given, settings, strategies as st
from click.testing import CliRunner

from cli.main import cli
from simulator import Workload, evaluate, hardware
from simulator.api import simulate
from simulator.flashinfer_chunks import chunk_width, virtual_batches
from einsum_cascades.errors import UserError

H100, A100 = hardware("h100"), hardware("a100")
HEADS = {"heads": 32, "kv_heads": 8, "head_dim": 128}


@pytest.mark.parametrize("hw", [H100, A100])
@pytest.mark.parametrize("family", ["flashinfer-prefill", "flashinfer-prefill-fa2"])
def test_whole_chunks_cost_the_batch_of_their_pieces(hw, family):
    chunked = evaluate(hw, family, Workload(batch=2, seq_len=32768, pattern="causal&chunked(8k)", **HEADS))
    pieces = evaluate(hw, family, Workload(batch=8, seq_len=8192, causal=True, **HEADS))
    assert chunked.time_s == pieces.time_s
    assert chunked.flops == pieces.flops
    assert chunked.cost.hbm_bytes == pieces.cost.hbm_bytes
    assert chunked.workload.batch == 2 and chunked.workload.seq_len == 32768  # reported on the caller's shape
    assert chunked.block_density == pytest.approx(pieces.block_density / 4)  # over the caller's 4x larger grid
    assert chunked.detail["virtual_batches"] == (8, 8192, 8192, True)


def test_the_chunked_prefill_costs_what_flash3s_chunk_mask_does():
    """FA3 takes the chunk as a mask (attention_chunk); FlashInfer's pieces hold the same tiles and bytes. The times
    differ by the schedulers only: FA3's dynamic longest-first one against FlashInfer's host-planned static lists
    (flashinfer_sm90.plan_makespan), 1.3% apart here."""
    wl = Workload(seq_len=32768, pattern="causal&chunked(8k)", **HEADS)
    fi, fa3 = evaluate(H100, "flashinfer-prefill", wl), evaluate(H100, "flash3", wl)
    assert fi.flops == fa3.flops
    assert fi.time_s == pytest.approx(fa3.time_s, rel=0.03)


@pytest.mark.parametrize("family", ["flashinfer-decode", "flashinfer-single-decode", "flashinfer-decode-tc",
                                    "flashinfer-single-decode-tc"])
def test_a_decode_step_reads_its_own_chunk(family):
    """The query at key 19,999 sits in the third 8k chunk: keys 16,384..19,999, 3,616 of them."""
    chunked = evaluate(H100, family, Workload(seq_len=1, kv_len=20000, pattern="causal&chunked(8k)", **HEADS))
    plain = evaluate(H100, family, Workload(seq_len=1, kv_len=3616, **HEADS))
    assert chunked.time_s == plain.time_s
    assert chunked.workload.kv_len == 20000
    assert chunked.block_density == pytest.approx(3616 / 20000)


def test_a_prefill_inside_one_chunk_is_one_piece():
    """3k new queries after 13k cached keys, 4k chunks: every query in the last chunk (keys 12,288..16,383)."""
    wl = Workload(seq_len=3072, kv_len=16384, pattern="causal&chunked(4k)", **HEADS)
    assert virtual_batches("flashinfer-single-prefill", wl) == Workload(seq_len=3072, kv_len=4096, causal=True,
                                                                        **HEADS)
    chunked = evaluate(H100, "flashinfer-single-prefill", wl)
    assert chunked.time_s == evaluate(H100, "flashinfer-single-prefill",
                                      Workload(seq_len=3072, kv_len=4096, causal=True, **HEADS)).time_s


def test_chunks_without_causal_are_bidirectional_pieces():
    virtual = virtual_batches("flashinfer-prefill", Workload(seq_len=16384, pattern="chunked(4k)", **HEADS))
    assert (virtual.batch, virtual.seq_len, virtual.kv_len, virtual.causal, virtual.pattern) == (4, 4096, 4096,
                                                                                                False, None)
    assert virtual_batches("flashinfer-prefill", Workload(seq_len=16384, causal=True, pattern="chunked(4k)",
                                                         **HEADS)).causal


def test_only_a_lone_chunk_is_cut():
    assert chunk_width(Workload(pattern="causal&chunked(8k)")) == 8192
    assert chunk_width(Workload(pattern="full&chunked(2k)")) == 2048
    assert chunk_width(Workload(pattern="chunked(8k)|sinks(4)")) is None
    assert chunk_width(Workload(pattern="window(128)&chunked(8k)")) is None
    assert chunk_width(Workload(pattern="window(128)")) is None
    assert virtual_batches("flashinfer-prefill", Workload(pattern="causal")) is None


def test_unequal_pieces_are_refused():
    """5k queries after 11k keys: the first piece 1k queries, then a whole chunk: not one shape."""
    with pytest.raises(UserError, match="multiples of 4096"):
        virtual_batches("flashinfer-prefill", Workload(seq_len=5120, kv_len=16384, pattern="causal&chunked(4k)"))


def test_a_one_request_kernel_gets_no_virtual_batch():
    with pytest.raises(UserError, match="use flashinfer-prefill or flashinfer-prefill-fa2"):
        evaluate(H100, "flashinfer-single-prefill", Workload(seq_len=16384, pattern="causal&chunked(4k)", **HEADS))


def test_the_speedup_is_over_the_dense_call():
    row = simulate("h100", "flashinfer-prefill", seq_len=32768, pattern="causal&chunked(8k)", **HEADS)
    dense = simulate("h100", "flashinfer-prefill", seq_len=32768, causal=True, **HEADS)  # causal&X: dense causal
    assert row["speedup"] == pytest.approx(dense["time_s"] / row["time_s"])
    assert row["batch"] == 1 and row["pattern"] == "causal&chunked(8k)"


def test_the_cli_explains_the_pieces_and_refuses_in_one_line():
    base = ["simulate", "--hw", "h100", "--heads", "32", "--kv-heads", "8"]
    ok = CliRunner().invoke(cli, base + ["--algo", "flashinfer-prefill", "--seq-len", "32k", "--pattern",
                                         "causal&chunked(8k)", "--explain"])
    assert ok.exit_code == 0, ok.output
    assert "make_local_attention_virtual_batches" in ok.output and "4 request(s) of 8,192 queries" in ok.output
    bad = CliRunner().invoke(cli, base + ["--algo", "flashinfer-prefill", "--seq-len", "5k", "--kv-len", "16k",
                                          "--pattern", "causal&chunked(4k)"])
    assert bad.exit_code == 2 and len(bad.output.strip().splitlines()) == 1
    other = CliRunner().invoke(cli, base + ["--algo", "flashinfer-decode", "--seq-len", "1", "--kv-len", "16k",
                                            "--pattern", "chunked(8k)|sinks(4)"])
    assert other.exit_code == 2 and "chunked(w)" in other.output


def test_the_pages_must_divide_the_chunk():
    """vLLM asserts attn_chunk_size % block_size == 0: each piece's block table starts at its chunk's first page."""
    with pytest.raises(UserError, match="page size that divides 8192"):
        virtual_batches("flashinfer-decode", Workload(seq_len=1, kv_len=20000, page_size=48,
                                                      pattern="causal&chunked(8k)"))
    assert virtual_batches("flashinfer-decode", Workload(seq_len=1, kv_len=20000, page_size=16,
                                                         pattern="causal&chunked(8k)")).kv_len == 3616


@pytest.mark.parametrize("family", ["flashinfer-decode", "flashinfer-single-decode-tc"])
def test_a_decode_kernel_refuses_a_prefill_in_the_callers_words(family):
    with pytest.raises(UserError, match="got --seq-len 16384"):
        evaluate(H100, family, Workload(seq_len=16384, pattern="causal&chunked(8k)", **HEADS))


@settings(max_examples=60, deadline=None)
@given(w=st.sampled_from([256, 1024, 3000, 8192]), chunks=st.integers(1, 4), extra=st.integers(0, 3),
       decode=st.booleans(), tail=st.integers(0, 8191))
def test_alike_pieces_cost_their_plain_call(w, chunks, extra, decode, tail):
    """Whole chunks after ``extra`` chunks of cache, or one query anywhere in a chunk: the chunked call costs the
    plain call of its pieces, its block density is the attended share of the caller's grid, at most 1."""
    if decode:
        wl = Workload(seq_len=1, kv_len=extra * w + 1 + tail % w, pattern=f"causal&chunked({w})", **HEADS)
        family, keys = "flashinfer-decode", 1 + tail % w
        plain = Workload(seq_len=1, kv_len=keys, **HEADS)
    else:
        wl = Workload(seq_len=chunks * w, kv_len=(chunks + extra) * w, pattern=f"causal&chunked({w})", **HEADS)
        family, plain = "flashinfer-prefill-fa2", Workload(batch=chunks, seq_len=w, causal=True, **HEADS)
    chunked = evaluate(A100, family, wl)
    assert chunked.time_s == evaluate(A100, family, plain).time_s
    assert 0 < chunked.block_density <= 1
