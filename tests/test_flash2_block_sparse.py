"""``flash2`` with a mask FA2 cannot state runs Block-Sparse-Attention's kernel (gpu_kernels.fa2_block_sparse): one
launch over (query blocks, batch, heads), never split, no one-query GQA swap, compiled for head dims 32, 64, 128."""

import pytest

from einsum_cascades.errors import UserError
from simulator.api import evaluate, hardware
from simulator.gpu_kernels import fa2_block_sparse, kernel_config
from simulator.workload import Workload

H100 = hardware("h100")


@pytest.mark.parametrize("kw, block_sparse", [
    (dict(), False),
    (dict(causal=True), False),
    (dict(pattern="causal&window(1k)"), False),  # FA2's own window_size
    (dict(pattern="window(512,128)"), False),
    (dict(sparsity=0.5), True),  # random empty tiles: a block list
    (dict(pattern="causal&sinks(64)"), True),  # a streaming head
    (dict(pattern="sinks(64)|window(1k)"), True),
    (dict(pattern="causal&strided(8)"), True),
    (dict(pattern="heads(16: full, 16: sinks(64)|window(256))"), True),
    (dict(pattern="causal&vertical_slash(64, 512)"), False),  # MInference's own kernel
])
def test_which_calls_run_block_sparse_attention(kw, block_sparse):
    assert fa2_block_sparse(Workload(heads=32, seq_len=4096, **kw)) is block_sparse


def test_its_kernel_never_splits_nor_swaps():
    """mha_varlen_fwd_block runs run_mha_fwd_block (flash_api.cpp @ 49d6c39e): one launch of FA2's forward tiles,
    where FA2's own call of the same shape splits. H100, 32/8 heads, 128 queries over 32k keys: FA2's heuristic
    gives 4 splits of 64 x 128 tiles, Block-Sparse-Attention 32 CTAs of 128 x 64 (before 2026-12-07 attnsim priced
    the sparse call with FA2's 4 splits, 128.5 us at --sparsity 0.5)."""
    shape = dict(heads=32, kv_heads=8, seq_len=128, kv_len=32768)
    dense = evaluate(H100, "flash2", Workload(**shape))
    sparse = evaluate(H100, "flash2", Workload(sparsity=0.5, **shape))
    assert dense.detail["splits"] == 4 and (dense.detail["block_q"], dense.detail["block_kv"]) == (64, 128)
    assert sparse.detail["splits"] == 1 and (sparse.detail["block_q"], sparse.detail["block_kv"]) == (128, 64)
    one = Workload(heads=32, kv_heads=8, seq_len=1, kv_len=32768, sparsity=0.5)
    assert kernel_config("flash2", H100, Workload(heads=32, kv_heads=8, seq_len=1, kv_len=32768)).pack_gqa
    assert not kernel_config("flash2", H100, one).pack_gqa
    assert evaluate(H100, "flash2", one).detail["splits"] == 1


def test_its_head_dims_are_32_64_and_128():
    mask = dict(seq_len=2048, causal=True, pattern="causal&sinks(64)|window(256)")
    assert kernel_config("flash2", H100, Workload(head_dim=96, **mask)).head_dims == (128, 128)
    assert kernel_config("flash2", H100, Workload(head_dim=96, causal=True, seq_len=2048)).head_dims is None  # FA2's 96
    for kw in (dict(head_dim=256), dict(head_dim=64, v_head_dim=192)):  # a V wider than Q and K: padded to it
        with pytest.raises(UserError, match="Block-Sparse-Attention's kernel, built for head dims of at most 128"):
            evaluate(H100, "flash2", Workload(**kw, **mask))
    assert evaluate(H100, "flash2", Workload(head_dim=256, seq_len=2048, pattern="causal&window(256)")).time_s > 0


def test_explain_says_flash_decoding_walks_an_index_no_library_ships():
    from simulator.explain import explain_gpu

    wl = Workload(heads=32, kv_heads=8, seq_len=1, kv_len=32768, sparsity=0.5)
    for algo, says in (("flash-decoding", True), ("flash2", False)):
        text = " ".join(explain_gpu(H100, algo, wl, evaluate(H100, algo, wl)).split())
        assert ("a pairing no library ships" in text) is says and "binary search before Q" in text
        assert ("one launch over query blocks x heads, no split over the keys" in text) is not says


def test_simulate_notes_why_the_block_sparse_call_is_slower_than_its_split_dense_baseline():
    from simulator.api import simulate

    row = simulate("h100", "flash2", heads=32, kv_heads=8, seq_len=128, kv_len=32768, sparsity=0.5)
    assert row["speedup"] < 1 and "no split-KV path: its 32 CTAs fill 0.24 of a wave" in row["note"]
    assert "splits the keys 4 ways" in row["note"]
    long = simulate("h100", "flash2", heads=32, seq_len=8192, sparsity=0.5)  # neither splits: no note
    assert "split-KV" not in (long["note"] or "")
