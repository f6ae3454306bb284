"""Invariants every GPU prediction must satisfy, as property tests."""

import re
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from simulator import Workload, evaluate, hardware, simulate
from simulator.limits import kernel_error

GPUS = ("a100", "h100", "h200", "b200")
FUSED = ("flash1", "flash2", "flash3", "flash-decoding")
sizes = st.sampled_from([256, 512, 1000, 1024, 2048, 4096, 8192, 16384, 65536])
heads = st.sampled_from([(8, 8), (16, 16), (32, 8), (32, 32), (64, 8)])
dims = st.sampled_from([64, 128, 256])
fast = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _algos(hw_name):
    """The families modelled on the GPU (FA1 and FA3 stop at sm_90, FA4 starts at sm_90: its Hopper path)."""
    return ("naive", "flash2", "flash-decoding") + {"b200": ("flash4",), "a100": ("flash1", "flash3")}.get(
        hw_name, ("flash1", "flash3", "flash4"))


@fast
@given(hw_name=st.sampled_from(GPUS), n=sizes, hk=heads, d=dims, causal=st.booleans(), batch=st.sampled_from([1, 2, 8]))
def test_time_never_beats_a_roof(hw_name, n, hk, d, causal, batch):
    hw = hardware(hw_name)
    wl = Workload(batch=batch, heads=hk[0], kv_heads=hk[1], head_dim=d, seq_len=n, causal=causal)
    for algo in _algos(hw_name):
        if kernel_error(hw, algo, wl):  # e.g. flash1 (FA1) at head dim 256: the kernel refuses it
            continue
        r = evaluate(hw, algo, wl)
        for unit in ("tensor", "exp", "fma", "hbm", "l2", "launch"):
            assert r.time_s >= r.times[unit] * (1 - 1e-9), (algo, unit)


@pytest.mark.parametrize("algo", ["attention-decode-splitkv", "attention-3pass", "attention-2pass"])
def test_a_multipass_cascade_over_a_mask_that_visits_every_tile_is_no_faster_than_dense(algo):
    """strided(7) leaves every tile visited (block density 1): the passes store and re-read whole score tiles,
    so the masked call cannot undercut the dense one (it once did by 29%: stored scores were counted per
    attended element)."""
    row = simulate("h100", algo, seq_len=4096, pattern="strided(7)")
    assert row["block_density"] == 1.0 and row["baseline"] == algo
    assert row["speedup"] <= 1.0 + 1e-9


@fast
@given(hw_name=st.sampled_from(GPUS), n=st.sampled_from([4096, 16384, 65536]), s=st.floats(0.05, 0.95),
       d=dims, causal=st.booleans())
@example(hw_name="a100", n=4096, s=0.0625, d=128, causal=True)  # beats 1/density by 0.02% (38 waves)
def test_sparse_speedup_never_exceeds_inverse_density(hw_name, n, s, d, causal):
    """Up to list scheduling's slack: the sparse run cannot beat perfect packing of its work, and the
    dense run's greedy schedule is within one longest CTA (at most twice the mean CTA, causal) of
    perfect packing (Graham's bound), so speedup <= (dense/sparse blocks) * (1 + 2 / waves). A
    sparse run can fill the dense run's ragged waves better and beat 1/density by that much, as a
    GPU would; by more, the model would be wrong."""
    algo = {"a100": "flash2", "b200": "flash4"}.get(hw_name, "flash3")
    if algo == "flash4" and d == 256:
        algo = "flash2"  # FA4's hd256 kernel has no block sparsity (test_kernel_limits)
    assume(algo != "flash2" or d <= 128)  # nor has Block-Sparse-Attention's past 128 (test_flash2_block_sparse)
    row = simulate(hw_name, algo, batch=8, seq_len=n, head_dim=d, sparsity=s, causal=causal)
    assert row["baseline"] == algo
    hw = hardware(hw_name)
    dense = evaluate(hw, algo, Workload(batch=8, seq_len=n, head_dim=d, causal=causal))
    waves = 8 * 32 * -(-n // dense.detail["block_q"]) / (hw.sms * dense.detail["ctas_per_sm"])
    assert row["speedup"] <= dense.block_density / row["block_density"] * (1 + 2 / waves)


@fast
@given(hw_name=st.sampled_from(GPUS), hk=heads, d=dims, causal=st.booleans())
def test_time_grows_with_sequence_length(hw_name, hk, d, causal):
    hw = hardware(hw_name)
    for algo in _algos(hw_name):
        if kernel_error(hw, algo, Workload(head_dim=d)):
            continue
        times = [evaluate(hw, algo, Workload(heads=hk[0], kv_heads=hk[1], head_dim=d, seq_len=n, causal=causal)).time_s
                 for n in (512, 1024, 2048, 4096, 8192, 16384)]
        assert times == sorted(times), algo
        # short calls: a split heuristic may fill the GPU better one length up (as the kernels' own do: FA2 on a
        # B200 at 8 heads, 128 -> 256 tokens, one split -> two, 7% less), by a few
        # percent; no kernel's time falls by more (FA3's 16-token call once paid a decode call's scheduler kernel)
        short = [evaluate(hw, algo, Workload(heads=hk[0], kv_heads=hk[1], head_dim=d, seq_len=n, causal=causal)).time_s
                 for n in (1, 2, 8, 16, 32, 64, 128, 256, 512)]
        assert all(b >= 0.9 * a for a, b in zip(short, short[1:])), (algo, short)


def test_naive_moves_the_score_matrix_through_hbm():
    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    r = evaluate(hardware("h100"), "naive", wl)
    score_matrix = wl.batch * wl.heads * wl.seq_len * wl.kv_len * wl.dtype_bytes
    # GEMM writes S, softmax reads S and writes P, GEMM reads P
    assert r.cost.hbm_bytes >= 4 * score_matrix


@pytest.mark.parametrize("n, causal, extra_s", [
    (4096, False, 0),  # a 8 KB score row fits in shared memory: softmax reads S once, writes P
    (262144, False, 2),  # a 512 KB row does not: each of the 3 softmax passes reads S from memory
    (1024, True, 0),  # mask kernel: read S, write S; the 2 MB mask is read once and then hits L2
    (8192, True, 0),  # a 128 MB mask too: the FA3 paper's causal H100 timings show no step of a read per head
])
def test_naive_hbm_bytes_kernel_by_kernel(n, causal, extra_s):
    hw, wl = hardware("h100"), Workload(batch=1, heads=4, head_dim=64, seq_len=n, causal=causal)
    s_bytes = wl.batch * wl.heads * n * n * wl.dtype_bytes
    qkvo = 4 * wl.batch * wl.heads * n * wl.head_dim * wl.dtype_bytes
    layout = 2 * 3 * wl.batch * wl.heads * n * wl.head_dim * wl.dtype_bytes  # Q, K, V copied per head: read + write
    mask = n * n * wl.dtype_bytes
    mask_hbm = mask if causal else 0
    build = n * n * (4 + 8 + 6) if causal else 0  # fp32 full, triu, cast to fp16: once per call
    gemms, softmax, mask_kernel = 2 * s_bytes, (2 + extra_s) * s_bytes, (2 * s_bytes + mask_hbm) if causal else 0
    assert evaluate(hw, "naive", wl).cost.hbm_bytes == pytest.approx(
        qkvo + layout + gemms + softmax + mask_kernel + build)


@pytest.mark.parametrize("n", [16384, 32768])
def test_standard_attention_hbm_is_theta_nd_plus_n_squared(n):
    hw, d = hardware("h100"), 64
    hbm = [evaluate(hw, "naive", Workload(heads=8, head_dim=d, seq_len=m)).cost.hbm_bytes for m in (n, 2 * n)]
    assert hbm[1] / hbm[0] == pytest.approx(4, rel=0.01)  # the N^2 term dominates


def test_flash1_hbm_follows_its_key_blocks():
    """FA1 re-reads Q and its fp32 o_tmp and log-sum-exp once per 256-key block (fmha_fprop_kernel_1xN.h): once
    they miss L2, HBM ~ N^2 (d b + 2 (dv + 1) 4) / 256 per head, the FA1 paper's Theorem 2 with M fixed by the
    kernel's block: 4x for 2x the tokens, ~2x for 2x the head dim on an A100; on an H100 head dim 128 runs
    128-key blocks (run_fmha_fp16_sm80 off sm_8x), so twice the re-reads again."""
    def hbm(gpu, n, d):
        small_l2 = replace(hardware(gpu), l2_bytes=1 << 20)  # so the re-reads go to HBM
        return evaluate(small_l2, "flash1", Workload(heads=8, head_dim=d, seq_len=n)).cost.hbm_bytes

    n, d = 16384, 64
    rereads = 8 * (n // 256) * n * (d * 2 + 2 * (d + 1) * 4)
    assert hbm("h100", n, d) == pytest.approx(rereads, rel=0.05)
    assert hbm("h100", 2 * n, d) / hbm("h100", n, d) == pytest.approx(4, rel=0.05)
    assert hbm("a100", n, 2 * d) / hbm("a100", n, d) == pytest.approx(2, rel=0.05)
    assert hbm("h100", n, 2 * d) / hbm("h100", n, d) == pytest.approx(4, rel=0.05)


def test_fused_kernels_read_kv_from_l2_when_heads_in_flight_fit():
    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, head_dim=128, seq_len=8192)
    r = evaluate(hw, "flash2", wl)
    compulsory = 4 * wl.heads * wl.seq_len * wl.head_dim * wl.dtype_bytes  # Q, K, V, O once
    assert r.cost.hbm_bytes == pytest.approx(compulsory)
    assert r.cost.l2_bytes > 10 * compulsory  # K/V re-read per query block, served by L2


def test_flash_attn_func_splits_a_decode_call_as_flash_decoding_does():
    """FA2's mha_fwd asks set_params_splitkv for num_splits = 0 (the heuristic): a one-query call with few
    heads runs the split-KV kernel, as flash_attn_with_kvcache does; unsplit it would be far slower."""
    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=131072)
    split, plain = evaluate(hw, "flash-decoding", wl), evaluate(hw, "flash2", wl)
    assert plain.detail["splits"] == split.detail["splits"] > 1
    assert plain.time_s == pytest.approx(split.time_s)
    one = evaluate(replace(hw, sms=8), "flash2", replace(wl, heads=16, kv_heads=16))  # 16 CTAs fill 2 x 8 SMs
    assert one.detail["splits"] == 1


def test_fa3_is_faster_than_fa2_on_hopper_at_long_sequences():
    hw = hardware("h100")
    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    assert evaluate(hw, "flash3", wl).time_s < evaluate(hw, "flash2", wl).time_s


@pytest.mark.parametrize("hw_name, algo, needle", [("b200", "flash3", "sm_80..sm_90; use flash4"),
                                                   ("a100", "flash4", "which attnsim does not model (it models "
                                                                      "sm_90..sm_103); use flash3"),
                                                   ("b200", "flash1", "sm_80..sm_90; use flash4")])
def test_a_family_is_refused_where_its_kernels_do_not_build(hw_name, algo, needle):
    from einsum_cascades.errors import UserError

    with pytest.raises(UserError, match=re.escape(needle)):
        evaluate(hardware(hw_name), algo, Workload())


def test_flash3_on_ampere_is_its_sm80_path():
    """FA3's SM80 path: mma.sync tiles of 128 query rows, GQA always packed (hopper/flash_api.cpp get_pack_gqa)."""
    r = evaluate(hardware("a100"), "flash3", Workload(heads=32, kv_heads=8, seq_len=4096))
    assert r.detail["block_q"] == 128
    assert r.detail["packed_gqa"] is True


def test_softmax_exposure_moves_a_tile_from_max_to_sum_of_gemm_and_softmax():
    """exposed = 0: a tile costs max(GEMMs, softmax); 1: their sum; in between, max + exposed * min."""
    from dataclasses import replace as with_field

    hw = hardware("h100")
    wl = Workload(batch=1, heads=32, head_dim=64, seq_len=16384)
    hidden, serial, half = (evaluate(with_field(hw, wgmma_softmax_exposed=x), "flash3", wl) for x in (0.0, 1.0, 0.5))
    from simulator.explain import tile_formulas, tile_values

    values, cfg = tile_values(hw, "flash3", wl)
    t = {unit: float(expr.subs(values)) for unit, expr in tile_formulas(cfg).items()}
    gemm, softmax = max(t["tensor"], t["smem"]), max(t["exp"], t["fma"])
    assert hidden.detail["tile_cycles"] == pytest.approx(max(gemm, softmax, t["l2"], t["latency"]))
    assert serial.detail["tile_cycles"] == pytest.approx(gemm + softmax)
    assert half.detail["tile_cycles"] == pytest.approx(max(gemm, softmax) + 0.5 * min(gemm, softmax))
    assert hidden.time_s < half.time_s < serial.time_s
    fa2 = [evaluate(with_field(hw, wgmma_softmax_exposed=x), "flash2", wl).time_s for x in (0.0, 1.0)]
    assert fa2[0] == fa2[1]  # FA2 runs on mma.sync: the wgmma figures do not touch it


@pytest.mark.parametrize("name, algo, shape", [
    ("h100", "flash3", dict(dtype="fp8")),  # the producer's V transpose in smem
    ("h100", "flash3", dict(head_dim=72)),  # the 96 kernel's MMAs and smem tiles
    ("a100", "flash2", dict(head_dim=80)),
    ("h20", "flash3", dict()),  # the capped rule: max(G, max(G_sm, S) + e min(G_sm, S))
    ("h20", "flash2", dict(head_dim=112)),
    ("b200", "flash4", dict(head_dim=72)),
    ("a100", "flash2", dict(causal=True, pattern="window(1024)")),  # FA2 masks every tile of a local call
    ("h100", "flash4", dict(causal=True)),  # FA4 on Hopper masks every tile of a causal call
])
def test_explain_formulas_give_the_tile_the_model_prices(name, algo, shape):
    """--explain's per-unit formulas, at its values, are the tile_cost terms the model combines."""
    from simulator.explain import tile_formulas, tile_values
    from simulator.gpu_kernels import kernel_config
    from simulator.tile_cost import tile_cycles

    hw, wl = hardware(name), Workload(batch=2, heads=16, seq_len=8192, **shape)
    values, cfg = tile_values(hw, algo, wl)
    masked = evaluate(hw, algo, wl).detail["every_tile_masked"]
    assert masked == ("pattern" in shape or (algo, name) == ("flash4", "h100"))
    t = {unit: float(expr.subs(values)) for unit, expr in tile_formulas(cfg, masked).items()}
    tile = tile_cycles(kernel_config(algo, hw, wl), hw, wl, partial=masked)
    assert max(t["tensor"], t["smem"]) == pytest.approx(tile.gemm)
    assert max(t["exp"], t["fma"]) == pytest.approx(tile.softmax)


ALL_GPUS = ("a100", "a100-40gb", "a100-pcie", "a800", "a800-pcie", "h100", "h100-pcie", "h20", "h200", "h800",
            "b200", "gb200")


@pytest.mark.parametrize("hw_name", ALL_GPUS)
def test_no_family_beats_a_roof_on_any_bundled_gpu(hw_name):
    """Every GPU family the part runs, at a few prefill and decode shapes (MHA and GQA, d 64-256, fp16/bf16):
    the time is never below any unit's roof. A fuzz over every bundled GPU found FlashInfer's CUDA-core decode
    under its own fma roof on the A100s (the roof counted conversions the FP32 pipe does not run)."""
    from simulator.gpu_kernels import GPU_FAMILIES

    hw = hardware(hw_name)
    shapes = [dict(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=4096, causal=True),
              dict(batch=1, heads=16, kv_heads=16, head_dim=64, seq_len=16384),
              dict(batch=4, heads=8, kv_heads=8, head_dim=256, seq_len=2048, dtype="bf16"),
              dict(batch=64, heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=8192),
              dict(batch=1, heads=64, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536)]
    checked = 0
    for algo in GPU_FAMILIES:
        for shape in shapes:
            wl = Workload(**shape)
            try:
                if kernel_error(hw, algo, wl):
                    continue
                r = evaluate(hw, algo, wl)
            except Exception as err:  # a family that refuses the shape says so in one line (UserError)
                assert type(err).__name__ in ("UserError", "Unsupported"), (algo, shape, err)
                continue
            checked += 1
            for unit in ("tensor", "exp", "fma", "hbm", "l2", "launch"):
                assert r.time_s >= r.times[unit] * (1 - 1e-9), (algo, shape, unit, r.time_s, r.times[unit])
    assert checked >= 10, checked


@fast
@given(hw_name=st.sampled_from(ALL_GPUS), hk=st.sampled_from([(32, 32), (32, 8), (64, 8), (32, 4), (128, 16)]),
       batch=st.sampled_from([1, 4, 64, 256]), kv=st.sampled_from([512, 1000, 2048, 8192, 32768]),
       queries=st.sampled_from([1, 2, 8]), paged=st.booleans(), dtype=st.sampled_from(["fp16", "bf16"]))
@example(hw_name="h100", hk=(32, 4), batch=1, kv=512, queries=8, paged=False, dtype="bf16")
def test_decode_time_grows_with_the_cache_in_every_family(hw_name, hk, batch, kv, queries, paged, dtype):
    """Every GPU family the part runs, on a decode step: twice and four times the cached keys never take less time
    at the same split count. Across a change of split count they may, as the kernels do: FA3 never splits 4 key
    blocks or fewer (hopper/heuristics.h num_splits_heuristic: "we never split for hdim = 128 and seqlen_k = 512"),
    so one request of 8 queries over 4 KV heads runs 4 CTAs through 3 blocks each at 512 keys and 24 CTAs of one
    block (and a combine) at 1k, which the model puts 7% faster (the example)."""
    _grows_at_each_split_count(hw_name, lambda n: dict(
        batch=batch, heads=hk[0], kv_heads=hk[1], head_dim=128, seq_len=queries, kv_len=n, dtype=dtype,
        page_size=64 if paged else None), kv)


@fast
@given(hw_name=st.sampled_from(ALL_GPUS), hk=st.sampled_from([(32, 32), (32, 8), (64, 8), (16, 16)]),
       batch=st.sampled_from([1, 2, 8]), n=st.sampled_from([256, 1000, 2048, 4096]), d=dims, causal=st.booleans(),
       pattern=st.sampled_from([None, "window(512)", "window(2048)"]))
def test_prefill_time_grows_with_the_sequence_in_every_family(hw_name, hk, batch, n, d, causal, pattern):
    """Every GPU family the part runs, queries = keys, dense or under a sliding window: twice and four times the
    tokens never take less time at the same split count (a fuzz of 5,800 such steps found none that did)."""
    _grows_at_each_split_count(hw_name, lambda tokens: dict(
        batch=batch, heads=hk[0], kv_heads=hk[1], head_dim=d, seq_len=tokens, causal=causal, pattern=pattern), n)


def _grows_at_each_split_count(hw_name: str, shape, n: int) -> None:
    """Every GPU family the part runs, at ``shape(n)``, ``shape(2n)`` and ``shape(4n)``: where two neighbours run
    the same split count, the longer takes no less time; a family that refuses a shape says so in one line."""
    from simulator.gpu_kernels import GPU_FAMILIES

    hw = hardware(hw_name)
    for algo in GPU_FAMILIES:
        runs = []
        for size in (n, 2 * n, 4 * n):
            try:
                wl = Workload(**shape(size))
                if kernel_error(hw, algo, wl):
                    break
                r = evaluate(hw, algo, wl)
            except Exception as err:
                assert type(err).__name__ in ("UserError", "Unsupported"), (algo, err)
                break
            runs.append((r.detail.get("splits"), r.time_s))
        for (s0, t0), (s1, t1) in zip(runs, runs[1:]):
            if s0 == s1:
                assert t1 >= t0, (algo, runs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hw_name=st.sampled_from(ALL_GPUS), hk=st.sampled_from([(8, 8), (32, 8), (64, 16), (128, 1), (16, 4)]),
       dims=st.sampled_from([(64, 64), (128, 128), (256, 256), (192, 128), (576, 512)]),
       batch=st.sampled_from([1, 4, 16, 128]), queries=st.sampled_from([1, 2, 7, 512, 1024, 4096]),
       extra_keys=st.sampled_from([0, 5, 4096, 65536]), causal=st.booleans(),
       mask=st.sampled_from([None, None, "window(1k)", "sinks(64)|window(512)", "causal&chunked(2k)"]),
       paged=st.sampled_from([None, 16, 64]), scope=st.sampled_from(["kernel", "kernel-warm", "layer"]))
def test_no_family_predicts_under_its_floor_or_a_roof(hw_name, hk, dims, batch, queries, extra_keys, causal, mask,
                                                       paged, scope):
    """Random shapes, masks, pages and scopes on every family: the time is never under the floor no kernel can beat
    (validation.roofline.floor_time_s, at the FLOPs of the scores the mask keeps) nor under any unit's roof. A fuzz
    of this kind found FlashMLA at 64 tiles x 16 KV heads (1,024 CTAs of one an SM) priced in one wave, under its
    own tensor roof."""
    from einsum_cascades.errors import UserError
    from simulator.gpu_kernels import GPU_FAMILIES
    from validation.roofline import floor_time_s

    hw = hardware(hw_name)
    try:
        wl = Workload(batch=batch, heads=hk[0], kv_heads=hk[1], head_dim=dims[0], v_head_dim=dims[1],
                      seq_len=queries, kv_len=queries + extra_keys, causal=causal, pattern=mask, page_size=paged,
                      scope=scope)
    except UserError:
        return
    for algo in GPU_FAMILIES:
        try:
            r = evaluate(hw, algo, wl)
        except UserError:  # the family refuses the call in one line
            continue
        floor = floor_time_s(hw, wl, algo, r.flops)
        assert floor is None or r.time_s >= floor[0], (algo, wl, r.time_s, floor)
        for unit in ("tensor", "exp", "fma", "smem", "l2", "hbm"):
            assert r.time_s >= r.times.get(unit, 0.0) * (1 - 1e-9), (algo, wl, unit, r.time_s, r.times[unit])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.sampled_from([("h200", "h100"), ("h800", "h100"), ("a100", "a100-40gb"), ("a800", "a100"),
                             ("a100", "a100-pcie")]),
       hk=st.sampled_from([(8, 8), (32, 8), (64, 16), (128, 1)]), d=st.sampled_from([64, 128, 256]),
       batch=st.sampled_from([1, 4, 32, 128]), queries=st.sampled_from([1, 4, 512, 4096]),
       extra_keys=st.sampled_from([0, 2048, 65536]), causal=st.booleans(), paged=st.sampled_from([None, 64]),
       scope=st.sampled_from(["kernel", "kernel-warm", "layer"]))
def test_a_part_with_as_much_of_everything_is_never_slower(pair, hk, d, batch, queries, extra_keys, causal, paged,
                                                           scope):
    """Parts of one SM count, the first with as much of everything: the H200 (the H100's SMs, more and faster HBM), the
    H800 (the H100 with NVLink cut), the A100 80GB against the 40GB and the PCIe card, the A800 against the A100: the
    first never takes longer, at the same split count. Parts of different SM counts are left out: the stream model
    runs a grid of more CTAs than slots wave by wave (a full wave at the HBM rate, a tail at its own latency), so a
    part with more slots can put more bytes in its first wave and end a little later (FlashInfer's CUDA-core decode,
    1,024 CTAs: 104.1 us on the GB200 against 102.0 on the B200); a continuous dispatch (the HBM busy until the last
    slots' worth of CTAs) has no such step, but took the held-out decode sets from 3.8% to 4.1% (tried 2026-12-06)."""
    from einsum_cascades.errors import UserError
    from simulator.gpu_kernels import GPU_FAMILIES

    more, less = (hardware(name) for name in pair)
    try:
        wl = Workload(batch=batch, heads=hk[0], kv_heads=hk[1], head_dim=d, seq_len=queries,
                      kv_len=queries + extra_keys, causal=causal, page_size=paged, scope=scope)
    except UserError:
        return
    for algo in GPU_FAMILIES:
        try:
            a, b = evaluate(more, algo, wl), evaluate(less, algo, wl)
        except UserError:
            continue
        if a.detail.get("splits") == b.detail.get("splits"):
            assert a.time_s <= b.time_s * (1 + 1e-3), (pair, algo, wl, a.time_s, b.time_s)  # the figures' 3 digits


def test_the_gb200_never_waits_longer_on_memory_than_the_b200_in_one_wave():
    """The same die and HBM3e with more SMs at a higher clock: where the grid fits one wave, no call takes longer.
    Its HBM latency was once derived from its SM count (1.40 us against the B200's 1.37), and these came out 1-2.5%
    slower."""
    gb200, b200 = hardware("gb200"), hardware("b200")
    calls = [("flash4", Workload(batch=32, heads=8, kv_heads=4, head_dim=256, seq_len=4, kv_len=131072, dtype="fp8")),
             ("flash4", Workload(batch=1, heads=16, head_dim=256, seq_len=1, kv_len=131072, dtype="bf16", scope="layer")),
             ("flash2", Workload(batch=1, heads=16, kv_heads=16, head_dim=256, seq_len=1, kv_len=131072, scope="layer")),
             ("flash2", Workload(batch=1, heads=16, kv_heads=1, head_dim=64, seq_len=2, kv_len=2048, scope="layer"))]
    for algo, wl in calls:
        assert evaluate(gb200, algo, wl).time_s <= evaluate(b200, algo, wl).time_s, (algo, wl)


def test_a_mask_that_keeps_every_tile_beats_dense_only_by_a_tile_change_and_says_so():
    """FA3 at head dim 64 runs a local call (chunked: is_local) at 192 x 128, P in registers, and a dense one at
    192 x 192, P through smem (hopper/tile_size.h): a chunk as long as the sequence keeps every tile, yet the
    call costs less per score than its dense baseline. The row's note says why (docs/kernels.md R); at head dim
    128 over 16k tokens the same mask stays within 1/block density and says nothing."""
    kw = dict(batch=8, heads=16, kv_heads=4, dtype="bf16", pattern="chunked(4k)")
    row = simulate("h100", "flash3", head_dim=64, seq_len=4096, **kw)
    assert row["baseline"] == "flash3" and row["block_density"] == 1.0 and row["speedup"] > 1.1
    assert row["tile"] == "192x128"
    assert "beats 1/block density by" in row["note"] and "192x192" in row["note"]
    within = simulate("h100", "flash3", head_dim=128, seq_len=16384, **kw)
    assert within["speedup"] * within["block_density"] <= 1.02 and within["note"] is None


def test_the_tile_note_needs_the_same_family_as_baseline():
    """Against another family (FA2, at its own tile) a masked FA3 call is faster for being another kernel, not for
    its tile: no tile note."""
    row = simulate("h100", "flash3", baseline="flash2", head_dim=64, seq_len=4096, batch=8, heads=16, kv_heads=4,
                   dtype="bf16", pattern="chunked(4k)")
    assert row["baseline"] == "flash2" and row["speedup"] * row["block_density"] > 1.02 and row["note"] is None


@pytest.mark.parametrize("hw_name, algo, kw", [
    ("h100", "naive", dict(batch=4, heads=1, kv_heads=1, seq_len=1, kv_len=512)),  # its launch roof was 24 us over 17
    ("h20", "naive", dict(batch=4, heads=16, kv_heads=2, seq_len=2, kv_len=16384)),  # its compute held stream launches
    ("gb200", "naive", dict(batch=1, heads=8, kv_heads=1, seq_len=4, kv_len=1024, causal=True)),
    ("h100", "flash3", dict(batch=16, heads=32, kv_heads=8, seq_len=1, kv_len=4096)),
    ("b200", "flash4", dict(batch=1, heads=32, kv_heads=8, seq_len=1, kv_len=32768)),
    ("h100", "flashinfer-decode", dict(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=4096, page_size=16)),
    ("h100", "flashmla", dict(batch=32, heads=32, kv_heads=1, head_dim=576, v_head_dim=512, seq_len=4, kv_len=1024)),
])
def test_a_layer_call_is_no_faster_than_any_of_its_roofs(hw_name, algo, kw):
    """--scope layer replays every kernel from a CUDA graph: the launch roof (and standard attention's kernels in
    turn, whose compute holds their launches) is the graph's, so the time, which takes graph launches, stays at or
    above every roof it prints (it once printed a stream-launch roof above the time)."""
    r = evaluate(hardware(hw_name), algo, Workload(scope="layer", dtype="bf16", **kw))
    assert r.detail["layer_kernels"]["graph_launches"] < 0
    for unit, t in r.times.items():
        assert r.time_s >= t * (1 - 1e-9), (unit, r.time_s, t)


def test_the_density_note_is_for_a_masked_call_against_its_own_kernel_on_the_same_gpu():
    """A dense H100 FA2 call against FA2 on an A100 (--baseline flash2@a100) is faster for the GPU, not for a
    mask: no note (it once said the call beat 1/block density by 108%)."""
    row = simulate("h100", "flash2", baseline="flash2@a100", heads=1, head_dim=64, seq_len=11009)
    assert row["speedup"] > 2 and row["note"] is None


def test_a_mask_that_keeps_the_ragged_last_key_tile_says_what_it_loads():
    """Over 64k keys in 192-key tiles the last tile holds 64 keys, all a kernel loads there. A decode window keeps
    that tile in 1 of its 4 (FlashInfer's extra window tile counted), the dense call in 1 of 342, so an HBM-bound
    windowed call beats 1/block density (by 15%) and stays within the share of keys it loads: the note says so,
    with that share. At 65,472 keys (341 whole tiles) the same call has no ragged tile, stays within 1/block
    density and has no note (it once ran 41% past it: FlashInfer's extra tile was computed but not loaded)."""
    kw = dict(batch=32, heads=32, kv_heads=32, head_dim=128, dtype="bf16", scope="kernel-warm", seq_len=1,
              pattern="window(256,256)")
    row = simulate("h100-pcie", "flashinfer-prefill", kv_len=65536, **kw)
    assert row["baseline"] == "flashinfer-prefill" and row["speedup"] * row["block_density"] > 1.1
    assert "the last key tile holds 64 of its 192 keys" in row["note"]
    share = float(row["note"].split("it keeps ")[1].split(" ")[0])
    assert share == pytest.approx((4 - 128 / 192) / (342 - 128 / 192), abs=1e-4)
    assert row["speedup"] * share <= 1.1
    whole = simulate("h100-pcie", "flashinfer-prefill", kv_len=341 * 192, **kw)
    assert whole["speedup"] * whole["block_density"] <= 1.1 and whole["note"] is None


@pytest.mark.parametrize("kv_len, keys", [(65536, 3 * 192 + 64), (341 * 192, 3 * 192)])
def test_a_decode_window_reads_the_keys_its_tiles_hold(kv_len, keys):
    """FlashInfer's fa3 backend loads a decode window's key tiles, the one before the window included
    (get_swa_begin_kv_tile_idx's - 1), and its TMA fetches nothing past the last key: window(256) over 64k keys in
    192-key tiles reads 3 whole tiles and the last one's 64 keys; over 341 whole tiles, 3 tiles. The HBM roof
    against the dense call's (every key) says so."""
    hw = hardware("h100-pcie")
    kw = dict(batch=32, heads=32, kv_heads=32, head_dim=128, dtype="bf16", scope="kernel-warm", seq_len=1,
              kv_len=kv_len)
    masked = evaluate(hw, "flashinfer-prefill", Workload(pattern="window(256,256)", **kw))
    dense = evaluate(hw, "flashinfer-prefill", Workload(**kw))
    assert masked.times["hbm"] / dense.times["hbm"] == pytest.approx(keys / kv_len, rel=0.01)


def test_a_window_over_a_ragged_cache_counts_its_real_keys():
    """A 129-key window over 2,049 cached keys visits two whole tiles, the last holding one key: its FLOPs are 129
    keys a query (the mask's element density), not two whole tiles (they were, until 2026-12-07, which put FA4's
    time under the floor no kernel beats)."""
    from validation.roofline import floor_time_s

    h100 = hardware("h100")
    wl = Workload(batch=64, heads=32, kv_heads=8, head_dim=128, dtype="bf16", seq_len=1, kv_len=2049, causal=True,
                  pattern="causal&window(129)")
    r = evaluate(h100, "flash3", wl)
    assert r.flops == pytest.approx(64 * 32 * 129 * 2 * (128 + 128), rel=1e-9)
    fa4 = Workload(batch=128, heads=32, kv_heads=32, head_dim=256, dtype="bf16", seq_len=1, kv_len=2049, causal=True,
                   pattern="window(128,64)")
    r4 = evaluate(h100, "flash4", fa4)
    assert r4.time_s >= floor_time_s(h100, r4.workload, "flash4", r4.flops)[0]


def test_a_cold_estimate_reads_the_calls_tensors_from_hbm_whatever_their_size():
    """Under --scope kernel (L2 flushed before the call) Quest's page bounds come from HBM at 48k keys as at 64k, so
    the estimate grows with the cache instead of stepping up 2.7x where the bounds outgrow L2; a warm call keeps
    the small ones in L2."""
    from simulator.estimate import kernel_seconds, kernels

    h100 = hardware("h100")

    def first(kv, scope):
        wl = Workload(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=kv, pattern="budget(4k)",
                      estimate="quest", scope=scope)
        k = kernels(h100, wl)[0]
        return kernel_seconds(h100, wl, k, cold=scope == "kernel")

    (t48, b48), (t64, b64) = first(49152, "kernel"), first(65536, "kernel")
    assert b48 == b64 == "hbm" and t64 / t48 == pytest.approx(65536 / 49152, rel=0.1)
    warm, bound = first(49152, "kernel-warm")
    assert bound != "hbm" and warm < t48


def test_a_ragged_tile_too_small_to_matter_is_not_mapped(monkeypatch):
    """A random sparse mask over 98k or 256k keys with a ragged last key tile: its one ragged column of 769 or 1,490
    can lift the mask's keys against its tiles by well under the note's slack, so the note's ragged share is not
    worked out, and the tile map of millions of tiles behind it (half a second a point: a 7,260-point sparse sweep
    took 24 s instead of 2.4 s) is not built; nor for a row that does not fit, whose note says only that. The
    window of the test above, where the ragged tile is 1 of 4, still is."""
    import simulator.tiles as tiles

    def refuse(*args):
        raise AssertionError("last_column_tiles called")

    monkeypatch.setattr(tiles, "last_column_tiles", refuse)
    simulate("h100", "flash2", seq_len=98304 + 17, sparsity=0.9)
    row = simulate("h100", "flash3", seq_len=256 * 1024, sparsity=0.5, batch=64, heads=16)  # 176-key tiles: ragged
    assert row["note"].startswith("does not fit")  # (the note a fitting row would get is not worked out either)
    simulate("h100", "flash3", seq_len=256 * 1024, sparsity=0.5, batch=1, heads=16)
    with pytest.raises(AssertionError, match="last_column_tiles called"):
        simulate("h100-pcie", "flashinfer-prefill", batch=32, heads=32, kv_heads=32, head_dim=128, dtype="bf16",
                 scope="kernel-warm", seq_len=1, kv_len=65536, pattern="window(256,256)")


@pytest.mark.parametrize("kw", [dict(head_dim=64), dict(dtype="fp8")])  # P through smem; fp8's V transpose
def test_the_smem_roof_counts_what_the_tile_counts(kw):
    """The smem roof (seconds if shared memory alone bound the call) is the call's tiles at the bytes each tile's smem
    term moves (Q re-read, P's round trip, fp8's V transpose included): on FA3's smem-bound tiles at head dim 64 and
    in fp8 it is the tiles times the tile's smem cycles, and above the tensor and exp roofs. It once left those terms
    out, so --explain named smem the bound while its roof table put smem 25-34% below tensor and exp (found by an
    audit of --explain's arithmetic)."""
    from simulator.gpu_kernels import kernel_config
    from simulator.tile_cost import tile_cycles

    hw, wl = hardware("h100"), Workload(seq_len=4096, **kw)
    r = evaluate(hw, "flash3", wl)
    cfg = kernel_config("flash3", hw, wl)
    tile = tile_cycles(cfg, hw, wl, partial=False)
    tiles = wl.heads * -(-4096 // cfg.block_q) * -(-4096 // cfg.block_kv)
    assert r.bound == "smem" and tile.bound == "smem"
    assert r.times["smem"] * hw.sms * hw.sustained_clock_hz / tiles == pytest.approx(tile.gemm, rel=1e-9)
    assert r.times["smem"] > max(r.times["tensor"], r.times["exp"])


def test_a_speedup_past_one_over_density_names_the_dense_calls_last_wave():
    """A fuzz audit: masked calls beat 1/block density with no note where the dense baseline's grid runs a last,
    part-empty wave (GB300 FA4, 2 x 1 heads of 64k tokens under window(1m): 512 CTAs for 3.37 waves of 152 slots;
    since window(1m) is compared with dense causal attention, a two-sided window against the dense call) or splits
    its keys otherwise; density_note names both."""
    from simulator import simulate

    row = simulate(hw="gb300", heads=1, batch=2, seq_len=65536, pattern="window(32k,32k)")
    assert row["speedup"] * row["block_density"] > 1.05
    assert "fill 3.37 waves of its 152 slots, so it runs 4" in row["note"]


def test_a_sparsity_target_few_tiles_miss_says_so():
    """A fuzz audit: --sparsity 0.3 on a causal call that visits one tile (4,096 queries over 128 keys, 256 x 256
    tiles) kept none, block density 0, with no word; a long call meets its target and says nothing."""
    from simulator import simulate

    few = simulate(hw="h100-pcie", heads=2, kv_heads=1, batch=16, seq_len=4096, kv_len=128, causal=True,
                   sparsity=0.3, block_size=256, dtype="fp8")
    assert few["block_density"] == 0.0 and "of the 1 tile(s) this call visits without it the coins kept 0" in few["note"]
    many = simulate(hw="h100", seq_len=32768, causal=True, sparsity=0.5)
    assert "flips a coin" not in (many["note"] or "")


def test_grid_names_a_call_whose_ctas_fill_at_most_half_the_slots_in_every_family():
    """gpu_model.grid_bound: a tiny call is 'grid' in every GPU family (FlashInfer's single prefill at 256 tokens
    had been 'tensor' at 2% of the roof), and a grid of nearly a wave keeps its unit's name (FlashInfer's CUDA-core
    decode at 1,024 CTAs for 1,056 slots: 'fma')."""
    from simulator import simulate

    for algo in ("flash3", "flashinfer-prefill", "flashinfer-single-prefill", "flash1"):
        row = simulate(hw="h100", algo=algo, seq_len=256, heads=4)
        assert row["bound"] == "grid", algo
    full = simulate(hw="h100", algo="flashinfer-decode", seq_len=1, kv_len=32768, batch=16, heads=64, kv_heads=8,
                    pattern="window(4k,0)")
    assert full["bound"] == "fma"
