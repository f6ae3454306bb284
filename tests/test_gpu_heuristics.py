"""The launch heuristics of the real kernels (split-KV counts, GQA packing) and what block-sparse kernels load."""

from dataclasses import replace

import pytest
import numpy as np

from simulator import Workload, evaluate, hardware, run_points, simulate
from simulator.gpu_kernels import should_pack_gqa
from simulator.gpu_model import fused_config

LLAMA_DECODE = dict(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=131072)


def test_flash_decoding_splits_for_twice_the_sms():
    """FA2 passes 2 x SMs (264 on an H100) to its heuristic. 8 CTAs (32 query heads packed per KV head),
    1024 key blocks of 128: the best eligible efficiency is 32 splits (256/264 = 0.97); the fewest within
    85% of it is 28 (224/264 = 0.848 >= 0.85 * 0.97)."""
    r = evaluate(hardware("h100"), "flash-decoding", Workload(**LLAMA_DECODE))
    assert r.detail["splits"] == 28


def test_flash_decoding_time_never_drops_as_the_batch_grows():
    """Helper-11's case: splitting for only 148 slots left half of B200's 296 CTA slots idle at batch 24."""
    hw = hardware("b200")
    times = [evaluate(hw, "flash-decoding", Workload(batch=b, heads=8, kv_heads=1, head_dim=256, seq_len=1,
                                                     kv_len=131072)).time_s for b in range(1, 65)]
    assert times == sorted(times)


def test_flash3_decode_splits_the_kv_range_and_prefill_does_not():
    """A decode call goes through FA3's KV-cache entry point (num_splits = 0: its heuristic, over the SMs):
    8 packed CTAs on 132 SMs, 745 key blocks of 176 -> 15 splits (120/132 >= 0.85). Prefill is
    flash_attn_func's num_splits = 1, even where the grid is small."""
    hw = hardware("h100")
    decode = evaluate(hw, "flash3", Workload(**LLAMA_DECODE))
    assert decode.detail["splits"] == 15
    assert decode.time_s < evaluate(hw, "naive", Workload(**LLAMA_DECODE)).time_s
    prefill = evaluate(hw, "flash3", Workload(heads=16, head_dim=64, seq_len=1024, causal=True))
    assert prefill.detail["splits"] == 1


@pytest.mark.parametrize("seq_len, group, block_q, packed", [
    (1, 4, 128, True),  # 1/128 of a tile unpacked, 4/128 packed
    (255, 8, 192, True),  # 255/384 = 0.66 < 0.9 * 2040/2112
    (256, 8, 192, True),  # 256/384 = 0.67 < 0.9 * 2048/2112
    (4096, 8, 192, False),  # 4096/4224 = 0.97 >= 0.9 * 32768/32832
    (16, 1, 128, False),  # MHA: nothing to pack
    (259, 2, 64, True),  # a tie, 259/320 = 0.9 * 518/576 exactly: float32 fills compared in double, as FA3 does
    (262, 2, 64, False),
])
def test_fa3_packs_gqa_heads_when_tiles_fill_better(seq_len, group, block_q, packed):
    assert should_pack_gqa(seq_len, group, block_q) is packed


def test_gqa_packing_groups_columns_the_way_single_points_decide_it():
    """run_points groups FA3 points by their packing; a column must never mix packed and unpacked points."""
    points = [dict(hardware=hw, algorithm="flash3", heads=32, kv_heads=8, head_dim=d, kv_len=1000, seq_len=n)
              for hw in ("h100", "a100") for d in (64, 128, 256) for n in range(1, 600, 3)]
    assert run_points(points) == [simulate(**{"hw" if k == "hardware" else "algo" if k == "algorithm" else k: v
                                              for k, v in p.items()}) for p in points]


def test_no_step_where_a_fixed_short_query_threshold_used_to_be():
    hw, shape = hardware("h100"), dict(batch=8, heads=64, kv_heads=8, head_dim=64, kv_len=131072)
    t255, t256 = (evaluate(hw, "flash3", Workload(seq_len=n, **shape)).time_s for n in (255, 256))
    assert t255 <= t256 <= t255 * 1.02


@pytest.mark.parametrize("algo", ["flash-decoding", "flash2", "flash3"])
def test_sparse_decode_loads_only_the_key_blocks_it_visits(algo):
    """A 4k window and 128 sinks over a 1M KV cache: a block-sparse kernel never loads the other blocks."""
    shape = dict(heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=1 << 20)
    sparse = simulate("h100", algo, pattern="window(4k)|sinks(128)", **shape)
    dense_kv = 2 * 8 * (1 << 20) * 128 * 2
    assert sparse["hbm_bytes"] < 0.01 * dense_kv
    assert sparse["speedup"] > 10  # over the dense run of the same kernel


def test_a_split_call_does_the_tiles_of_its_own_key_range():
    """FA2 splits the whole key range: a 16k window (128 blocks) lands in one or two splits that do all of
    its tiles, not 128/splits tiles each as an even spread would say. With a window FA2 also keeps the
    query heads apart (seqlenq_ngroups_swapped needs no window): 8 heads x 29 splits of ceil(8192 / 29) =
    283 blocks, so the split holding the window does 128 tiles while the dense call's 110 splits do 75
    each: the windowed decode is slower than the dense one, as in the kernel."""
    shape = dict(heads=8, kv_heads=1, head_dim=128, seq_len=1, kv_len=1 << 20)
    hw = hardware("h100")
    window, dense = (evaluate(hw, "flash-decoding", Workload(pattern=p, **shape)) for p in ("window(16k)", None))
    assert (window.detail["splits"], window.detail["packed_gqa"]) == (29, False)
    assert (dense.detail["splits"], dense.detail["packed_gqa"]) == (110, True)
    assert window.time_s > dense.time_s


def test_fa3_split_counts_do_not_skip_counts_with_equal_blocks_per_split():
    """FA2 skips a split count that leaves as many blocks per split as the one before; FA3 does not, so
    FA3 never lands on 33 one-block splits here and a longer KV cache does not run faster."""
    hw, shape = hardware("h100"), dict(batch=16, heads=8, kv_heads=1, head_dim=256, seq_len=16)
    t = [evaluate(hw, "flash3", Workload(kv_len=n, **shape)).time_s for n in (2624, 2688)]
    assert t[0] <= t[1]


def test_sliding_window_prefill_reads_each_kv_block_once():
    """The CTAs in flight reach a window's span of K/V, which L2 holds: HBM traffic is compulsory only."""
    wl = Workload(heads=32, head_dim=128, seq_len=1 << 20, pattern="causal&window(4k)")
    r = evaluate(hardware("h100"), "flash2", wl)
    compulsory = 4 * wl.heads * wl.seq_len * wl.head_dim * wl.dtype_bytes  # Q, O, K, V once
    assert r.cost.hbm_bytes == pytest.approx(compulsory, rel=1e-3)
    assert r.bound == "tensor"


def test_fa2_masks_every_tile_of_a_local_call_and_fa3_only_the_edges():
    """FA2's Mask::apply_mask runs on every tile of an Is_local call (mask.h, Need_masking), FA3's and FA4's
    only on the tiles the window's edges cut: a 4k window on an A100 costs FA2 the mask's FP32 work on every
    tile, so its tile is the partial one; FA3 (sm80 path) keeps unmasked middle tiles."""
    hw = hardware("a100")
    shape = dict(batch=2, heads=32, kv_heads=8, head_dim=64, seq_len=16384, causal=True)
    local = evaluate(hw, "flash2", Workload(pattern="window(4096)", **shape))
    assert local.detail["every_tile_masked"]
    assert local.detail["tile_cycles"] == local.detail["partial_tile_cycles"]
    causal = evaluate(hw, "flash2", Workload(**shape))
    assert not causal.detail["every_tile_masked"]
    assert causal.detail["tile_cycles"] < causal.detail["partial_tile_cycles"]
    fa3 = evaluate(hw, "flash3", Workload(pattern="window(4096)", **shape))
    assert not fa3.detail["every_tile_masked"]
    # sinks beside the window (a union, at any depth) are Block-Sparse-Attention's streaming kernel, not FA2's
    # window_size; a --sparsity that refits the window's size runs the solved window as FA2's own call (since
    # 2026-12-07, gpu_model._solved_window: it had been priced on the block-sparse path)
    for pattern in ("sinks(64)|window(256)", "causal&(sinks(64)|window(256))"):
        streaming = evaluate(hw, "flash2", Workload(**{**shape, "causal": False}, pattern=pattern))
        assert not streaming.detail["every_tile_masked"]
    refit = evaluate(hw, "flash2", Workload(pattern="window(1k)", sparsity=0.8, **shape))
    assert refit.detail["every_tile_masked"] and refit.detail["solved_window"].startswith("causal&window(")
    written = evaluate(hw, "flash2", Workload(pattern=refit.detail["solved_window"], **{**shape, "causal": False}))
    assert refit.time_s == written.time_s
    assert fa3.detail["tile_cycles"] < fa3.detail["partial_tile_cycles"]


def test_fa4_on_hopper_masks_every_tile_of_a_causal_or_local_call():
    """FA4's Hopper mainloop (flash_fwd_sm90.py) passes its mask_fn, bound with mask_causal and mask_local, to the
    "remaining iterations have no masking" loop too: a causal or local call pays the mask's FP32 work on every
    tile it visits, where FA3 and FA4 on Blackwell mask only the diagonal's (or the window edges') tiles, and a
    non-causal call masks none but its last partial key block."""
    hw = hardware("h100")
    shape = dict(batch=2, heads=16, head_dim=256, seq_len=8192)
    causal = evaluate(hw, "flash4", Workload(causal=True, **shape))
    assert causal.detail["every_tile_masked"]
    assert causal.detail["tile_cycles"] == causal.detail["partial_tile_cycles"]
    local = evaluate(hw, "flash4", Workload(causal=True, pattern="window(1024)", **shape))
    assert local.detail["every_tile_masked"]
    assert not evaluate(hw, "flash4", Workload(**shape)).detail["every_tile_masked"]
    fa3 = evaluate(hw, "flash3", Workload(causal=True, **shape))
    assert not fa3.detail["every_tile_masked"] and fa3.detail["tile_cycles"] < fa3.detail["partial_tile_cycles"]
    assert not evaluate(hardware("b200"), "flash4", Workload(causal=True, **shape)).detail["every_tile_masked"]


def test_fa2_masks_at_the_instruction_count_of_its_sass():
    """FA2's mask costs what its SASS counts (kernel_configs.FA2_MASK_OPS): a local call's window mask on every
    tile, more instructions a score than a causal call's diagonal mask, each by the build of the GPU's arch;
    FA3 keeps the generic count. The local tile's CUDA-core time carries exactly the counted instructions."""
    from simulator.kernel_configs import FA2_MASK_OPS, fa2_mask_ops
    from simulator.tile_cost import MASK_FP32_PER_SCORE, tile_cycles

    assert fa2_mask_ops(90, True) == 234 / 64 and fa2_mask_ops(90, False) == 162 / 64
    assert fa2_mask_ops(86, True) == FA2_MASK_OPS["local"][80]  # sm_86 runs FA2's sm_80 build
    assert fa2_mask_ops(103, True) == FA2_MASK_OPS["local"][100]
    shape = dict(batch=1, heads=64, kv_heads=8, head_dim=128, seq_len=16384, causal=True)
    for name, sm in (("a100", 80), ("h100", 90), ("b200", 100)):
        hw = hardware(name)
        local_wl, causal_wl = Workload(pattern="window(1024)", **shape), Workload(**shape)
        local = fused_config(hw, "flash2", local_wl)
        assert local.mask_ops_per_score == FA2_MASK_OPS["local"][sm]
        assert fused_config(hw, "flash2", causal_wl).mask_ops_per_score == FA2_MASK_OPS["causal"][sm]
        if sm < 100:  # FA3 runs on sm80 and sm90 only
            assert fused_config(hw, "flash3", local_wl).mask_ops_per_score is None
    # on the A100 the tile's softmax is its FP32 work, which carries the counted instructions a score exactly
    hw, wl = hardware("a100"), Workload(pattern="window(1024)", **shape)
    local = fused_config(hw, "flash2", wl)
    masked = tile_cycles(local, hw, wl, partial=True).softmax
    unmasked = tile_cycles(replace(local, mask_ops_per_score=0.0), hw, wl, partial=True).softmax
    generic = tile_cycles(replace(local, mask_ops_per_score=None), hw, wl, partial=True).softmax
    scores = local.block_q * local.block_kv
    assert masked - unmasked == pytest.approx(FA2_MASK_OPS["local"][80] * scores / hw.fp32_fma_per_clk_sm)
    assert generic - unmasked == pytest.approx(MASK_FP32_PER_SCORE * scores / hw.fp32_fma_per_clk_sm)


@pytest.mark.parametrize("pattern, causal, seq_len, kv_len, fa2, fa3", [
    ("window(256)", True, 4096, 4096, True, True),
    # window(w) is FA's (w - 1, 0): FA2 drops a side >= seqlen_k, FA3 one >= seqlen_k - 1, then it is causal
    ("window(4096)", True, 4096, 4096, True, False),
    ("window(4097)", True, 4096, 4096, False, False),
    ("window(128,128)", False, 4096, 4096, True, True),
    ("window(5000,5000)", False, 4096, 4096, False, False),  # both sides dropped: full attention
    ("window(100,5000)", False, 4096, 4096, True, True),  # the left side stays
    ("chunked(8192)", True, 4096, 4096, True, True),  # FA3's attention_chunk is always local
    ("window(64)", True, 1, 4096, True, True),  # decode: (63, 0) keeps its left side
])
def test_flashattention_calls_a_window_local_as_mha_fwd_normalizes_it(pattern, causal, seq_len, kv_len, fa2, fa3):
    """gpu_kernels.fa_local follows mha_fwd (FA2 csrc/flash_attn/flash_api.cpp, FA3 hopper/flash_api.cpp)."""
    from simulator.gpu_kernels import fa_local

    wl = Workload(pattern=pattern, causal=causal, seq_len=seq_len, kv_len=kv_len)
    assert (fa_local(wl, fa3=False), fa_local(wl, fa3=True)) == (fa2, fa3)


def test_fa2_swaps_one_query_gqa_only_when_no_window_side_is_left():
    """seqlenq_ngroups_swapped needs window_size_left < 0 and right < 0 after mha_fwd's normalization: a
    window(w) keeps right = 0, window(l, r) wider than the cache on both sides is full attention."""
    from simulator.gpu_kernels import fa2_swapped

    shape = dict(heads=32, kv_heads=8, seq_len=1, kv_len=4096)
    assert fa2_swapped(Workload(**shape))
    assert not fa2_swapped(Workload(pattern="window(8192)", **shape))
    assert fa2_swapped(Workload(pattern="window(5000,5000)", **shape))
    assert not fa2_swapped(Workload(pattern="window(100,5000)", **shape))


def test_fa3_splits_each_rows_own_key_range_so_a_windowed_decode_does_not_grow_with_the_cache():
    """FA3 splits a row's [n_block_min, n_block_max) (hopper/block.h), not the whole key range as FA2 does: a
    4k window over a 32k or a 128k cache is the same work. get_num_splits counts the blocks a local call loads
    (min(seqlen_k, left + right + 1 + kBlockM) = 4224 keys, 33 blocks: 15 splits on 132 SMs)."""
    from simulator.splits import fa3_row_range_splits

    hw = hardware("h100")
    shape = dict(batch=1, heads=32, kv_heads=8, seq_len=1, head_dim=128, causal=True)
    short, long_ = (evaluate(hw, "flash3", Workload(kv_len=n, pattern="window(4096)", **shape)) for n in (32768, 131072))
    assert short.detail["splits"] == long_.detail["splits"] == 15
    assert short.time_s == pytest.approx(long_.time_s)
    assert short.time_s < evaluate(hw, "flash3", Workload(kv_len=32768, **shape)).time_s
    full, partial = fa3_row_range_splits(np.array([30]), np.array([3]), 15)
    assert (full + partial).tolist() == [[3] * 11 + [0] * 4]
    assert full.sum() == pytest.approx(30) and partial.sum() == pytest.approx(3)


def test_fa3_decode_splits_follow_the_prepare_kernels_dynamic_count():
    """prepare_varlen_num_blocks (hopper/flash_prepare_scheduler.cu): 8192 keys in 176-key blocks are 47 blocks,
    blocks_per_sm = ceil(47 x 1.1 x 8 / 132) = 4, so the call runs ceil(47 / 4) = 12 splits, under
    get_num_splits' 15."""
    wl = Workload(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=8192, head_dim=128)
    result = evaluate(hardware("h100"), "flash3", wl)
    assert (result.detail["block_kv"], result.detail["splits"]) == (176, 12)


def test_fa4_split_heuristic_counts_a_causal_windows_whole_cache():
    """flash_attn/cute/interface.py _get_fwd_config: seqlen_k_loaded adds (right or seqlen_k), so a causal
    window's right = 0 counts the whole cache; window(l, r) with r > 0 counts l + r + 1 + 128 keys."""
    from simulator.splits import _fa4_loaded

    shape = dict(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=131072, head_dim=128)
    assert _fa4_loaded(Workload(pattern="window(4096)", causal=True, **shape)) == 131072
    assert _fa4_loaded(Workload(pattern="window(2048,16)", **shape)) == 2048 + 16 + 1 + 128
    assert _fa4_loaded(Workload(pattern="window(2048,16)", causal=True, **shape)) == 131072


@pytest.mark.parametrize("head_dim, scope, causal_tile", [(128, "kernel", False), (128, "layer", True),
                                                         (64, "layer", False), (256, "layer", False)])
def test_fa3_drops_causal_for_one_query_but_at_hdim_128_over_a_paged_cache(head_dim, scope, causal_tile):
    """hopper/flash_api.cpp mha_fwd: seqlen_q == 1 with no window is not causal, except at head dims 65-128
    over a paged cache (kBlockN 128 for paged KV and TMA). A one-query causal call then runs the non-causal
    tile (d=128: 128 x 176) and costs what the non-causal call does."""
    from simulator.gpu_kernels import kernel_config

    hw = hardware("h100")
    shape = dict(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=8000, head_dim=head_dim, scope=scope)
    causal, plain = (kernel_config("flash3", hw, Workload(causal=c, **shape)) for c in (True, False))
    assert (causal == plain) != causal_tile
    if head_dim == 128:
        assert causal.block_kv == (128 if causal_tile else 176)
    if not causal_tile:
        t = [evaluate(hw, "flash3", Workload(causal=c, **shape)).time_s for c in (True, False)]
        assert t[0] == pytest.approx(t[1])


@pytest.mark.parametrize("pattern, causal, seq_len, kv_len, fa2, fa3", [
    ("window(512)", False, 31, 31, "causal", "causal"),  # left 511 dropped, right = 0 left: set_params' is_causal
    ("window(512)", False, 600, 600, "local", "local"),
    (None, True, 1, 4096, "full", "full"),  # one query: causal dropped
    ("window(4097)", True, 1, 4096, "causal", "full"),  # FA2 keeps right = 0 (< seqlen_k); FA3 drops it (>= 0)
    ("window(5000,5000)", False, 4096, 4096, "full", "full"),
])
def test_flashattention_mask_modes_follow_mha_fwd(pattern, causal, seq_len, kv_len, fa2, fa3):
    """gpu_kernels.fa_mask_mode: what mha_fwd's normalization leaves of a window and a causal flag."""
    from simulator.gpu_kernels import fa_mask_mode

    wl = Workload(pattern=pattern, causal=causal, seq_len=seq_len, kv_len=kv_len)
    assert (fa_mask_mode(wl, fa3=False), fa_mask_mode(wl, fa3=True)) == (fa2, fa3)


def test_fa3_runs_a_window_wider_than_the_keys_as_causal():
    """window(512) over 31 keys is FA3's (-1, 0): causal, so the causal column's 128 x 128 tile and the tile
    counter fill run, not the non-causal 128 x 176 tile."""
    result = evaluate(hardware("h100"), "flash3", Workload(heads=32, kv_heads=4, seq_len=31, pattern="window(512)"))
    assert (result.detail["block_q"], result.detail["block_kv"]) == (128, 128)
    assert result.detail["kernels"][0] == "tile counter fill"


def test_fa3_dispatches_local_tiles_longest_first_like_causal_ones():
    """flash_fwd_launch_template.h: LPT = Is_causal || Is_local (the dynamic persistent scheduler); a local call
    runs with Is_causal false, so the config must not key its order on causal alone."""
    from simulator.gpu_kernels import kernel_config

    hw = hardware("h100")
    local = kernel_config("flash3", hw, Workload(seq_len=4096, causal=True, pattern="window(256,0)"))
    full = kernel_config("flash3", hw, Workload(seq_len=4096))
    assert local.longest_first and not full.longest_first
    # FA4 (flash_fwd_sm100.py): SingleTileLPTScheduler for is_causal or is_local, a two-sided window too
    b200 = hardware("b200")
    assert kernel_config("flash4", b200, Workload(seq_len=4096, pattern="window(256,256)")).longest_first
    assert not kernel_config("flash4", b200, Workload(seq_len=4096)).longest_first


def test_fa3_chunked_decode_loads_one_chunk_whatever_the_cache():
    """attention_chunk clips both window sides to chunk - 1 (hopper/flash_api.cpp mha_fwd), so get_num_splits
    counts 8192 + 128 keys, and each split takes its share of the query's own chunk."""
    from simulator.splits import _fa3_local_sides

    hw = hardware("h100")
    shape = dict(batch=1, heads=40, kv_heads=8, seq_len=1, head_dim=128, causal=True, pattern="chunked(8192)")
    assert _fa3_local_sides(Workload(kv_len=262144, **shape)) == (8191, 0)
    t = [evaluate(hw, "flash3", Workload(kv_len=n, **shape)).time_s for n in (16384, 262144)]
    assert t[0] == pytest.approx(t[1])


@pytest.mark.parametrize("d, local, tile", [(64, False, 112), (64, True, 96), (128, False, 64), (128, True, 48),
                                             (192, True, 64), (256, True, 64), (256, False, 96)])
def test_fa3_sm80_tiles_follow_tile_size_fwd_sm8x(d, local, tile):
    """hopper/tile_size.h tile_size_fwd_sm8x (sm80): a local call takes the narrower key tile. A causal call runs
    persistent, longest first; a local one (Is_causal false, not varlen) the single-tile scheduler, in order
    (flash_fwd_launch_template.h: UsePersistentScheduler = (Is_causal && !Varlen) || (Varlen && Split))."""
    from simulator.gpu_kernels import kernel_config

    wl = Workload(seq_len=8192, head_dim=d, causal=True, pattern="window(1024)" if local else None)
    cfg = kernel_config("flash3", hardware("a100"), wl)
    assert (cfg.block_q, cfg.block_kv, cfg.longest_first, cfg.persistent) == (128, tile, not local, not local)


def test_fa3_sm80_decode_runs_the_varlen_split_tile_when_it_splits():
    """A decode call is varlen (cache_seqlens); get_num_splits sizes with the varlen tile, and a split call runs
    tile_size_fwd_sm8x's varlen_and_split tile: d=128, 8 warps, 112 keys, Q in registers, persistent. With the
    scheduler kernel's dynamic splits, get_num_splits counts one sequence (num_splits_dynamic_ptr ? 1 : b), so a
    batch of 64 still runs the Split kernel and the combine, each sequence unsplit (blocks_per_sm =
    ceil(64 x 586 x 1.1 x 8 / 108) >= 586 blocks). A 256-key cache (3 blocks) never splits: the plain varlen
    tile, 4 warps and 64 keys, not persistent, no combine."""
    hw = hardware("a100")
    shape = dict(heads=32, kv_heads=8, seq_len=1, head_dim=128)
    split = evaluate(hw, "flash3", Workload(batch=1, kv_len=65536, **shape))
    assert split.detail["splits"] > 1 and (split.detail["block_kv"], split.detail["ctas_per_sm"]) == (112, 1)
    busy = evaluate(hw, "flash3", Workload(batch=64, kv_len=65536, **shape))
    assert busy.detail["splits"] == 1 and (busy.detail["block_kv"], busy.detail["ctas_per_sm"]) == (112, 1)
    assert busy.detail["kernels"][-2:] == ["attention (split-KV)", "combine"]
    short = evaluate(hw, "flash3", Workload(batch=1, kv_len=256, **shape))
    assert short.detail["splits"] == 1 and (short.detail["block_kv"], short.detail["ctas_per_sm"]) == (64, 2)
    assert "combine" not in short.detail["kernels"]
    # a cascade on the family keeps its own work on the split tile (the layout replaces the tile, not the config)
    sigmoid = evaluate(hw, "attention-sigmoid@flash3", Workload(batch=1, kv_len=65536, **shape))
    assert sigmoid.detail["block_kv"] == 112 and sigmoid.time_s != pytest.approx(split.time_s)


def test_only_a_top_level_causal_makes_flashattention_causal():
    """``full|causal`` is full attention and ``heads(16: full, 16: causal)`` a mix: FA3 gets no causal tile or
    tile counter fill for them; ``--pattern causal`` and ``--causal`` are the same call, on FA3 and on FA4."""
    from simulator.gpu_kernels import kernel_config, pattern_causal

    assert not pattern_causal(Workload(pattern="full|causal"))
    assert not pattern_causal(Workload(pattern="heads(16: full, 16: causal)"))
    assert pattern_causal(Workload(pattern="causal&window(256)")) and pattern_causal(Workload(pattern="causal"))
    h100, b200 = hardware("h100"), hardware("b200")
    assert kernel_config("flash3", h100, Workload(seq_len=8192, pattern="full|causal")).block_kv == 176
    for hw, algo in ((h100, "flash3"), (b200, "flash4")):
        flag, pattern = (evaluate(hw, algo, Workload(seq_len=8192, **kw)) for kw in (dict(causal=True),
                                                                                    dict(pattern="causal")))
        assert flag.time_s == pytest.approx(pattern.time_s)


def test_flash_decoding_never_swaps_a_windowed_call():
    """mha_fwd_kvcache tests seqlenq_ngroups_swapped on the window as given, before dropping sides past the
    cache, where mha_fwd (flash2) drops them first."""
    from simulator.gpu_kernels import fa2_swapped

    wl = Workload(heads=32, kv_heads=8, seq_len=1, kv_len=4096, pattern="window(5000,5000)")
    assert fa2_swapped(wl) and not fa2_swapped(wl, kvcache=True)
    assert not evaluate(hardware("h100"), "flash-decoding", wl).detail["packed_gqa"]


def test_the_split_heuristic_compares_in_float_as_the_kernels_do():
    """num_splits_heuristic keeps n_waves, eff and max_efficiency in float and compares eff >= 0.85 * max in double:
    one CTA over 20 key blocks on 132 SMs ties 17/132 against 0.85 x 20/132 and picks 18 (in double, 17)."""
    from simulator.splits import _num_splits

    assert _num_splits(132, 1, 20, 4) == 18
