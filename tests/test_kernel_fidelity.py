"""The GPU model's kernel mechanisms (issue 10), each as a closed form or a property that can fail."""

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from einsum_cascades.errors import UserError
from simulator import Workload, evaluate, hardware
from simulator.api import run_points, simulate
from simulator.explain import explain_gpu as explain
from gpu_models.spec import HardwareError
from simulator.gpu_kernels import kernel_config
from validation.kernel_fit import KERNEL_TARGETS

ROOT = Path(__file__).resolve().parent.parent
GPUS = ("a100", "a100-40gb", "h100", "h200", "b200")


# The cuBLAS BF16 rate each GPU's gemm_efficiency cites (stas00/ml-engineering, 'Maximum Achievable Matmul
# FLOPS', free clocks): the model must reproduce it at the clock it runs the SMs at, whatever that clock is.
PUBLISHED_GEMM_TFLOPS = {"a100": 271.2, "a100-40gb": 271.2, "h100": 794.5, "h200": 794.5, "b200": 1745.0}


@pytest.mark.parametrize("name", GPUS)
def test_the_cycle_clock_is_the_clock_the_efficiencies_are_quoted_at(name):
    """Published efficiencies already include throttling: the model applies each at the clock it is a
    fraction of, once (A100: 1410 MHz, not 1200 x 0.85), so the GEMM rate it runs is the published one."""
    hw = hardware(name)
    achieved = hw.gemm_efficiency * hw.sms * hw.tensor_flops_per_clk_sm["bf16"] * hw.sustained_clock_hz
    assert achieved == pytest.approx(PUBLISHED_GEMM_TFLOPS[name] * 1e12, rel=2e-3)
    if name != "b200":  # B200's SMs run at the 1965 MHz a free-running B200 holds, above the peak's clock
        assert hw.sustained_clock_hz == hw.tensor_clock_hz


def test_a_locked_clock_is_predicted_at_that_clock():
    """A published file whose benchmark locked the SM clock (device clock_locked_mhz) is predicted with the
    SMs at that clock: a compute-bound FA4 point takes the clock ratio longer at 1755 MHz than at 1965."""
    from validation.report import predict

    point = dict(kernel="flash-attn-4", algorithm="flash4", batch=4, heads=16, kv_heads=16, head_dim=128,
                 seq_len=8192, kv_len=8192, causal=False, dtype="bf16", measured_s=1e-3)
    doc = {"format": "attnsim-validation/1", "device": {"name": "B200", "attnsim_hw": "b200"}, "points": [point]}
    free = predict(doc, None)[0]["predicted_s"]
    locked = predict({**doc, "device": {**doc["device"], "clock_locked_mhz": 1755}}, None)[0]["predicted_s"]
    assert 1.0 < locked / free <= 1965 / 1755 + 1e-9
    assert locked / free > 1.08  # tensor-bound: nearly all of the time is SM cycles


def test_decode_computes_whole_query_tiles():
    """One query in FA2's split-KV kernel still runs its 64-row MMAs and softmax over whole tiles."""
    hw, wl = hardware("h100"), Workload(heads=8, head_dim=128, seq_len=1, kv_len=4096)
    r = evaluate(hw, "flash-decoding", wl)
    block_q, block_kv = r.detail["block_q"], r.detail["block_kv"]
    tiles = 8 * 4096 // block_kv
    assert r.cost.tensor_flops == tiles * block_q * block_kv * 2 * 2 * 128
    assert r.cost.exp_ops == tiles * block_q * block_kv + tiles * block_q  # + one correction exp per row


def test_a_value_head_dim_of_its_own_sets_the_pv_flops_and_the_v_and_o_bytes():
    hw = hardware("h100")
    wl = Workload(batch=1, heads=8, head_dim=192, v_head_dim=128, seq_len=4096)
    r = evaluate(hw, "flash3", wl)
    assert r.flops == 2 * (192 + 128) * 8 * 4096 * 4096
    width = (192 + 128) * 2  # a row of Q and O, or of K and V
    assert r.cost.hbm_bytes == pytest.approx(8 * 4096 * width * 2)  # Q, O and K, V once (L2 holds a head)
    same = evaluate(hw, "flash3", replace(wl, v_head_dim=192))
    assert same.flops > r.flops and same.cost.hbm_bytes > r.cost.hbm_bytes


@pytest.mark.parametrize("hw_name, algo, d, dv", [
    ("a100", "flash2", 192, 128),  # FA2: one head dim for Q, K and V (flash_api.cpp mha_fwd CHECK_SHAPE(v, ...))
    ("h100", "flash-decoding", 192, 128),
    ("a100", "flash3", 192, 128),  # FA3's own V head dim is Hopper-only
    ("h100", "flash3", 256, 128),  # and only for the pairs it has kernels for
    ("a100", "flash2", 64, 128),  # a wider V pads Q and K
    ("a100", "flash1", 64, 128),
])
def test_a_kernel_without_a_v_head_dim_of_its_own_runs_the_call_zero_padded(hw_name, algo, d, dv):
    hw, pad = hardware(hw_name), max(d, dv)
    seq = 1 if algo == "flash-decoding" else 2048
    wl = Workload(batch=2, heads=8, head_dim=d, v_head_dim=dv, seq_len=seq, kv_len=2048, causal=seq > 1)
    r, padded = evaluate(hw, algo, wl), evaluate(hw, algo, replace(wl, head_dim=pad, v_head_dim=pad))
    assert (r.time_s, r.cost.hbm_bytes, r.cost.tensor_flops) == (padded.time_s, padded.cost.hbm_bytes,
                                                                 padded.cost.tensor_flops)
    assert r.flops == padded.flops * (d + dv) / (2 * pad)  # useful FLOPs stay the caller's
    assert r.workload.v_head_dim == dv and r.detail["padded_head_dim"] == pad
    row = simulate(hw_name, algo, **{k: getattr(wl, k) for k in ("batch", "heads", "head_dim", "v_head_dim",
                                                                 "seq_len", "kv_len", "causal")})
    assert f"run as {pad}/{pad}" in row["note"] and row["v_head_dim"] == dv
    explained = explain(hw, algo, wl, r)
    assert f"runs as d={pad} dv={pad}" in explained and f"d={d} dv={dv}" in explained


def test_fa3_on_hopper_and_fa4_run_their_own_v_head_dims_unpadded():
    for hw_name, algo in (("h100", "flash3"), ("b200", "flash4")):
        wl = Workload(batch=2, heads=8, head_dim=192, v_head_dim=128, seq_len=4096, causal=True)
        r = evaluate(hardware(hw_name), algo, wl)
        assert "padded_head_dim" not in r.detail and r.cost.hbm_bytes < 2 * 8 * 4096 * 4 * 192 * 2
    h100, wl = hardware("h100"), Workload(batch=2, heads=8, head_dim=192, v_head_dim=128, seq_len=4096)
    assert evaluate(h100, "flash3", wl).time_s < evaluate(h100, "flash3", replace(wl, v_head_dim=192)).time_s


def test_fa4_splits_a_call_with_its_own_v_head_dim_only_with_64_key_tiles():
    """_get_fwd_config: a split (192, 128) call narrows tile_n to 64 where it has >= 64 key blocks, else runs
    unsplit (its fp32 partial O would overflow shared memory)."""
    b200 = hardware("b200")
    for kv_len, splits, block_kv in ((4096, 1, 128), (16384, 9, 64)):
        r = evaluate(b200, "flash4", Workload(heads=16, head_dim=192, v_head_dim=128, seq_len=1, kv_len=kv_len))
        assert (r.detail["splits"], r.detail["block_kv"]) == (splits, block_kv)
    same = evaluate(b200, "flash4", Workload(heads=16, head_dim=128, seq_len=1, kv_len=4096))
    assert (same.detail["splits"], same.detail["block_kv"]) == (9, 128)


def test_fa4_sizes_its_kv_ring_as_setup_attributes_does():
    """flash_fwd_sm100.py _setup_attributes: (224 KiB - Q and O) // stage stages; at (192, 128) a ring of 2 takes
    an uneven third stage; a split call's O is fp32 (overlapping Q where dv >= 128) and its ring is sized for its
    own (narrowed) key tile."""
    from simulator.splits import fa4_layout

    b200 = hardware("b200")
    causal = kernel_config("flash4", b200, Workload(heads=16, head_dim=192, v_head_dim=128, seq_len=8192,
                                                    causal=True))
    assert (causal.block_q, causal.kv_share, causal.kv_stages) == (256, 1, 1.5)  # 96 KiB of Q: 2 stages, then 3
    assert causal.smem_bytes <= b200.smem_per_block_bytes
    for d, dv, kv_len, block_kv, stages in ((192, 128, 65536, 64, 6), (64, 64, 32768, 128, 11)):
        wl = Workload(heads=32, kv_heads=8, head_dim=d, v_head_dim=dv, seq_len=1, kv_len=kv_len)
        splits, cfg = fa4_layout(b200, wl, kernel_config("flash4", b200, wl))
        assert splits > 1 and (cfg.block_kv, cfg.kv_stages) == (block_kv, stages / 2)


@pytest.mark.parametrize("hw_name, algo", [("a100", "flash2"), ("a100", "flash-decoding"), ("h100", "flash3"),
                                            ("a100", "flash3"), ("b200", "flash4")])
def test_a_kv_head_packing_more_query_heads_than_a_tile_runs_several_tiles_per_query(hw_name, algo):
    """Falcon-7B decode (71 query heads on one KV head) and MQA with 256 or 512 heads: FA2's swap makes the group
    the query length (ceil(71 / 64) = 2 query blocks), FA3 and FA4 count ceil(group / kBlockM) m-blocks and still
    split the one query's keys. Was: a division by zero (FA2, FA3) or an unsplit call (FA4 at 256 heads). More heads
    may cost less: the split heuristics give fewer heads more splits, whose combine waits more L2 round trips (FA2 on
    A100: 128 splits and 65 trips, 9.5 us, at 32 heads against 64 splits at 71: 27.65 us against 24.2; FA3 on H100:
    86 splits at 71 heads, 57 at 256; FA4 on B200 from 256 to 512 heads)."""
    hw = hardware(hw_name)
    times = [evaluate(hw, algo, Workload(heads=h, kv_heads=1, head_dim=64, seq_len=1, kv_len=32768)).time_s
             for h in (32, 71, 256, 512)]
    assert all(math.isfinite(t) for t in times) and all(b >= 0.85 * a for a, b in zip(times, times[1:]))
    assert times[-1] > times[0]
    assert times[-1] < 3 * times[0]  # 16x the query heads: the K/V is read once per KV head, not once a tile


def test_fa3_splits_a_one_query_call_whose_heads_fill_two_tiles():
    h100 = hardware("h100")
    r = evaluate(h100, "flash3", Workload(heads=256, kv_heads=1, head_dim=128, seq_len=1, kv_len=8192))
    assert r.detail["splits"] > 1 and r.detail["block_q"] == 128


def test_padded_calls_price_alike_over_columns_and_one_by_one():
    from unittest import mock

    import simulator.api as api

    points = [dict(hardware="a100", algorithm="flash2", head_dim=192, v_head_dim=128, seq_len=512 * (1 + i % 16),
                   batch=1 + i // 16) for i in range(64)]
    with mock.patch.object(api, "_simulate_columns", wraps=api._simulate_columns) as columns:
        together = run_points(points)
    assert columns.called  # 64 points of one plan: evaluated over columns
    for point, row in zip(points, together):
        alone = simulate(point["hardware"], point["algorithm"], **{k: v for k, v in point.items()
                                                                    if k not in ("hardware", "algorithm")})
        assert (row["time_s"], row["flops"], row["hbm_bytes"], row["note"]) == (alone["time_s"], alone["flops"],
                                                                                alone["hbm_bytes"], alone["note"])


@pytest.mark.parametrize("seq_len, causal, block_q, share, poly", [
    (4096, False, 256, 2, 0.1875),  # two 128-row tiles per CTA, 2-CTA MMA, the 2-CTA ex2 split
    (4096, True, 256, 1, 0.125),  # causal: no 2-CTA MMA
    (200, False, 256, 1, 0.125),  # packed queries over 128 but not over 256: q_stage 2, no 2-CTA
    (100, False, 128, 1, 0.125),  # one 128-row tile (q_stage 1)
])
def test_fa4_configuration_follows_its_interface(seq_len, causal, block_q, share, poly):
    cfg = kernel_config("flash4", hardware("b200"), Workload(heads=16, head_dim=128, seq_len=seq_len, causal=causal))
    assert (cfg.block_q, cfg.block_kv, cfg.kv_share, cfg.exp_poly_fraction) == (block_q, 128, share, poly)
    assert cfg.tensor_path == "tcgen05" and cfg.readers == 0


@pytest.mark.parametrize("two_cta, causal, local, d16, fp8, pack, share", [
    (True, False, False, 128, False, False, 0.1875),  # _TUNING_CONFIG (True, False, 128): freq 10, start 1
    (False, True, False, 128, False, False, 0.125),  # (False, True, 128): freq 16
    (False, False, False, 128, False, False, 0.125),  # no entry: freq 16 by default up to d = 128
    (False, False, False, 128, False, True, 0.1875),  # packed GQA, non-causal, d > 64: freq 10
    (False, False, False, 64, False, True, 0.125),  # ... not at d = 64
    (False, False, True, 128, False, True, 0.125),  # ... nor local
    (True, False, False, 192, False, False, 0.1875),  # (True, False, 192): freq 16 from fragment 0
    (False, True, False, 192, False, False, 0.0625),  # (False, True, 192): freq 32
    (False, False, True, 192, False, False, 0.0),  # one CTA at d = 192 without an entry: emulation off
    (False, True, False, 128, True, False, 0.25),  # _FP8_TUNING_CONFIG (False, True, 128): freq 8
    (True, True, False, 256, False, False, 0.28125),  # the hd256 kernel: freq 14, 6 pairs, from fragment 0
])
def test_fa4_emulates_the_exponentials_its_tuning_table_says(two_cta, causal, local, d16, fp8, pack, share):
    from simulator.kernel_configs import fa4_exp_poly_fraction

    assert fa4_exp_poly_fraction(two_cta, causal, local, d16, fp8, pack) == share


def test_fa4_runs_head_dim_256_in_its_dedicated_kernel():
    """sm100_hd256_2cta_fmha_forward.py: no pack_gqa, no split-KV, not persistent (launch order), one K/V pair
    in flight (kv_stage 4 of 128 columns), and no window, mask_mod or block sparsity."""
    b200 = hardware("b200")
    cfg = kernel_config("flash4", b200, Workload(heads=32, kv_heads=8, head_dim=256, seq_len=8192, causal=True))
    assert (cfg.pack_gqa, cfg.persistent, cfg.longest_first, cfg.kv_stages, cfg.kv_share) == (False, False, False,
                                                                                              1.0, 2)
    # its correction warps rescale all of O every key block (correction_rescale, no threshold), where the d = 128
    # kernel rescales only when a row max grows past 2^8
    assert cfg.rescale_fraction == 1.0
    assert kernel_config("flash4", b200, Workload(heads=32, head_dim=128, seq_len=8192)).rescale_fraction == 0.0
    decode = evaluate(b200, "flash4", Workload(heads=16, head_dim=256, seq_len=1, kv_len=32768))
    assert decode.detail["splits"] == 1
    assert evaluate(b200, "flash4", Workload(heads=16, head_dim=128, seq_len=1, kv_len=32768)).detail["splits"] > 1
    for bad in (dict(pattern="causal&window(1024)"), dict(sparsity=0.5)):
        with pytest.raises(UserError, match="dedicated kernel"):
            evaluate(b200, "flash4", Workload(head_dim=256, seq_len=8192, **bad))


def test_fa4_on_the_b300_runs_every_exponential_on_its_doubled_mufu():
    """sm_103 (the B300): MUFU.EX2 at twice the B200's rate, and FA4 emulates no exp2 there (is_sm103 turns the
    tuning table's emulation off), except in the head-dim-256 kernel, which keys its tuning as sm_100. At d = 64,
    where the B200's tile waits on its exponentials, the B300 runs more than its higher clock faster; the
    B300's MMAs are the B200's, so a call bound by them gains about the clock alone."""
    b200, b300 = hardware("b200"), hardware("b300")
    assert (b300.arch, b300.sfu_ops_per_clk_sm, b200.sfu_ops_per_clk_sm) == ("sm_103", 32, 16)
    wl128 = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    assert kernel_config("flash4", b200, wl128).exp_poly_fraction > 0
    assert kernel_config("flash4", b300, wl128).exp_poly_fraction == 0
    wl256 = Workload(heads=16, head_dim=256, seq_len=8192, causal=True)
    assert kernel_config("flash4", b300, wl256).exp_poly_fraction == kernel_config("flash4", b200, wl256).exp_poly_fraction > 0
    clock = b300.sustained_clock_hz / b200.sustained_clock_hz
    wl64 = Workload(batch=2, heads=32, head_dim=64, seq_len=16384)
    assert evaluate(b200, "flash4", wl64).time_s / evaluate(b300, "flash4", wl64).time_s > 1.3 * clock
    with pytest.raises(UserError, match="use flash4"):
        evaluate(b300, "flash3", wl128)


def test_fa4_runs_a_causal_window_as_local():
    """_resolve_causal_local_window: causal with a window is local (is_causal False), so at (192, 128) one CTA
    emulates no exponential; plain causal keeps its 6.25%."""
    b200 = hardware("b200")
    wl = Workload(heads=16, head_dim=192, v_head_dim=128, seq_len=8192, causal=True)
    assert kernel_config("flash4", b200, wl).exp_poly_fraction == 0.0625
    assert kernel_config("flash4", b200, replace(wl, pattern="window(1024)")).exp_poly_fraction == 0.0


def test_a_serving_engines_fa3_prefill_is_varlen():
    """--scope layer: vLLM hands every layer's call the scheduler metadata it computed once for the step
    (get_scheduler_metadata; mha_fwd skip_scheduler_metadata_computation), so the call runs no scheduler kernel;
    an unsplit one zeroes the tile counter with a fill on sm90 (where a varlen call always needs it), none on sm80;
    and on sm80 an unsplit varlen call runs the single-tile scheduler (UsePersistentScheduler = (causal &&
    !Varlen) || (Varlen && Split)): not persistent, query blocks in launch order."""
    wl = Workload(head_dim=128, seq_len=2048, heads=32, kv_heads=8, causal=True)
    for hw_name, layer_kernels in (("h100", ["tile counter fill", "attention"]), ("a100", ["attention"])):
        kernel, layer = (evaluate(hardware(hw_name), "flash3", replace(wl, scope=s)) for s in ("kernel", "layer"))
        assert kernel.detail["kernels"] == ["tile counter fill", "attention"]
        assert layer.detail["kernels"] == layer_kernels and "prepare" not in layer.times
        assert "scheduler" not in layer.detail["layer_kernels"]
        # a split (decode) call's combine zeroes the counter: attention and combine alone
        decode = evaluate(hardware(hw_name), "flash3", Workload(batch=8, heads=32, kv_heads=8, seq_len=1,
                                                                kv_len=8192, scope="layer"))
        assert decode.detail["kernels"] == ["attention (split-KV)", "combine"]
    a100 = hardware("a100")
    assert kernel_config("flash3", a100, wl).persistent
    cfg = kernel_config("flash3", a100, replace(wl, scope="layer"))
    assert not cfg.persistent and not cfg.longest_first


def test_fa4_persistent_work_tiles_each_wait_a_memory_latency_for_their_q():
    """FA4 releases a work tile's Q only after its key loop, so even persistent, each work tile waits one memory
    latency for the next Q; FA3's persistent kernel (q_prefetch) does not."""
    from simulator.tile_cost import prologue_cycles, tile_cycles

    b200 = hardware("b200")
    wl = Workload(batch=4, heads=16, head_dim=128, seq_len=8192)
    cfg = kernel_config("flash4", b200, wl)
    assert cfg.persistent and not cfg.q_prefetch
    tile = tile_cycles(cfg, b200, wl, partial=False)
    waits = prologue_cycles(cfg, b200, wl, cfg.block_q, tile, 1)
    hidden = prologue_cycles(replace(cfg, q_prefetch=True), b200, wl, cfg.block_q, tile, 1)
    assert waits - hidden == pytest.approx(b200.hbm_latency_s * b200.sustained_clock_hz)
    assert kernel_config("flash3", hardware("h100"), Workload(head_dim=128, seq_len=8192)).q_prefetch


def test_fa3_on_hopper_uses_its_tile_table():
    h100 = hardware("h100")
    tiles = {(d, c): (cfg.block_q, cfg.block_kv, cfg.p_through_smem) for d in (64, 128, 256) for c in (False, True)
             for cfg in [kernel_config("flash3", h100, Workload(head_dim=d, causal=c))]}
    assert tiles == {(64, False): (192, 192, True), (64, True): (192, 128, False), (128, False): (128, 176, False),
                     (128, True): (128, 128, False), (256, False): (128, 80, False), (256, True): (128, 80, False)}


def test_fa3_uses_its_local_tiles_under_a_sliding_window():
    """tile_size_fwd_sm90's is_local column: 128 x 128 at d=128 (not 176), 128 x 64 at d=256. A window as
    long as the keys is no window: mha_fwd calls it causal, and the causal column's tile runs."""
    h100 = hardware("h100")
    for d, tile in ((128, (128, 128)), (256, (128, 64)), (64, (192, 128))):
        cfg = kernel_config("flash3", h100, Workload(head_dim=d, seq_len=16384, pattern="window(4k)"))
        assert (cfg.block_q, cfg.block_kv) == tile
    whole = kernel_config("flash3", h100, Workload(head_dim=256, seq_len=4096, causal=True, pattern="window(4k)"))
    causal = kernel_config("flash3", h100, Workload(head_dim=256, seq_len=4096, causal=True))
    assert (whole.block_q, whole.block_kv) == (causal.block_q, causal.block_kv) == (128, 80)


def test_fa2_hdim256_tile_depends_on_the_smem_per_sm():
    """flash_fwd_launch_template.h: 128 x 64 with 8 warps on an A100, 64 x 64 with 4 warps on an H100."""
    a100, h100 = (kernel_config("flash2", hardware(n), Workload(head_dim=256)) for n in ("a100", "h100"))
    assert (a100.block_q, a100.warps) == (128, 8) and (h100.block_q, h100.warps) == (64, 4)


def test_few_ctas_are_held_to_the_memory_latency_of_their_loads_in_flight():
    """Little's law per CTA: a call with one CTA per KV head streams no faster than its pipeline's K/V
    stages per loaded-memory latency, whatever the HBM roof says; CTAs sharing an SM each have their own, and
    each waits its own chain: FA2's split-KV loop waits for K(n), then for V(n) (each issued one GEMM ahead,
    tests/test_fa2_chain.py), two latencies a tile where the GEMMs are short."""
    hw = replace(hardware("h100"), hbm_latency_s=20e-6)  # a memory slow enough that its latency binds
    wl = Workload(heads=8, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536)
    r = evaluate(hw, "flash-decoding", wl)
    cfg = kernel_config("flash-decoding", hw, wl)
    tiles_per_cta = math.ceil(65536 // cfg.block_kv / r.detail["splits"])
    latency_bound = tiles_per_cta * hw.hbm_latency_s / cfg.kv_stages
    assert r.time_s >= latency_bound
    # two of these CTAs share an SM, each with its own loads in flight and its own chain of two waits a tile:
    # the two overlap (not four waits a tile), and neither beats its chain (until 2026-12-06 the model gave one)
    assert cfg.ctas_per_sm(hw) == 2 and 2 * latency_bound <= r.time_s < 1.25 * 2 * latency_bound
    faster = evaluate(replace(hw, hbm_latency_s=hw.hbm_latency_s / 2), "flash-decoding", wl)
    assert faster.time_s < 0.75 * r.time_s  # the latency binds, so halving it nearly halves the time


def test_layer_scope_adds_the_serving_engines_kernels():
    hw = hardware("h100")
    wl = Workload(heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=32768, batch=4)
    kernel, layer = (evaluate(hw, "flash3", replace(wl, scope=s)) for s in ("kernel", "layer"))
    appended = 2 * 4 * 8 * 1 * (128 + 128) * 2  # read and write the new K and V
    append = hw.graph_launch_s + hw.hbm_latency_s + appended / (hw.hbm_bw_bytes_s * hw.hbm_efficiency)
    launches = kernel.cost.launches * (hw.graph_launch_s - hw.launch_overhead_s)
    # an HBM-bound decode: the benchmark's dirty L2 (kernel scope) is not there in a serving layer
    assert kernel.bound == "hbm" and kernel.times["writeback"] > 0 and layer.times["writeback"] == 0
    extra = layer.detail["layer_kernels"]
    # a decode call's scheduler kernel is the kernel scope's (test_fa3_decode_runs_its_scheduler_kernel); the layer's
    # call takes the step's metadata from the engine (vLLM's get_scheduler_metadata) and runs none
    assert set(extra) == {"kv_append", "graph_launches"} and "prepare" in kernel.times and "prepare" not in layer.times
    assert extra["kv_append"] == pytest.approx(append)
    assert extra["graph_launches"] == pytest.approx(layer.cost.launches * (hw.graph_launch_s - hw.launch_overhead_s))
    assert kernel.cost.launches == layer.cost.launches + 1 and launches < 0
    # the engine's paged cache (16-token blocks, 1-token pages) takes FA3's cp.async gather and its tiles
    # (hopper/tile_size.h: paged_kv_non_TMA, 128 x 128 at d=128 where TMA takes 128 x 176): little changes
    assert (kernel.detail["block_kv"], layer.detail["block_kv"]) == (176, 128)
    attention = layer.time_s - sum(extra.values())
    # the same HBM-bound stream; the layer's call skips the scheduler kernel (a round trip) and runs vLLM's one-warpgroup
    # tile under its split cap of 16
    assert attention == pytest.approx(kernel.time_s - kernel.times["writeback"], rel=0.04)
    assert attention < kernel.time_s - kernel.times["writeback"]


def test_a_serving_engines_fa3_call_gathers_a_paged_cache_without_tma():
    """--scope layer: FA3 reads K/V from a paged cache whose page size is no multiple of kBlockN (vLLM's
    16-token blocks, SGLang's 1-token pages), so hopper/flash_api.cpp takes paged_kv_non_TMA: the local
    column's tiles up to d=192 (tile_size.h tests is_local || paged_kv_non_TMA) and GQA heads always packed
    (get_pack_gqa); d=256 keeps its 128 x 80."""
    from simulator.gpu_kernels import kernel_config
    from simulator.splits import fa3_layout

    hw = hardware("h100")
    for d, tma, paged in ((64, (192, 192), (192, 128)), (128, (128, 176), (128, 128)), (256, (128, 80), (128, 80))):
        wl = Workload(heads=32, kv_heads=8, head_dim=d, seq_len=8192)
        kernel, layer = (kernel_config("flash3", hw, replace(wl, scope=s)) for s in ("kernel", "layer"))
        assert (kernel.block_q, kernel.block_kv) == tma and (layer.block_q, layer.block_kv) == paged
    wl = Workload(heads=32, kv_heads=8, head_dim=128, seq_len=8192)  # should_pack_gqa leaves 8k tokens unpacked
    for scope, packed in (("kernel", False), ("layer", True)):
        w = replace(wl, scope=scope)
        assert fa3_layout(hw, w, kernel_config("flash3", hw, w))[1].pack_gqa is packed


@pytest.mark.parametrize("algo", ["flash2", "flash3", "flash-decoding"])
def test_kernel_scope_writes_back_the_dirty_l2_its_reads_evict(algo):
    """A benchmark flushes L2 by writing a buffer before the timed launch: an HBM-bound call's reads evict up
    to one L2 of dirty lines, which share the HBM stream; a compute-bound prefill hides them."""
    hw = hardware("h100")
    bw = hw.hbm_bw_bytes_s * hw.hbm_efficiency
    for kv_len, capped in ((2048, False), (262144, True)):
        wl = Workload(heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=kv_len)
        kernel, layer = (evaluate(hw, algo, replace(wl, scope=s)) for s in ("kernel", "layer"))
        expected = (hw.l2_bytes if capped else kernel.cost.hbm_bytes) / bw
        assert (hw.l2_bytes < kernel.cost.hbm_bytes) == capped
        assert kernel.times["writeback"] == pytest.approx(expected) and layer.times["writeback"] == 0
        if algo != "flash3":  # FA3's layer call runs the paged kernel's tiles (and so its own split count)
            assert kernel.time_s <= layer.time_s - sum(layer.detail["layer_kernels"].values()) + expected + 1e-12
    prefill = Workload(heads=32, kv_heads=32, head_dim=128, seq_len=16384)
    if algo != "flash-decoding":
        kernel, layer = (evaluate(hw, algo, replace(prefill, scope=s)) for s in ("kernel", "layer"))
        assert kernel.bound == "tensor" or kernel.bound == "smem"
        # the layer call runs the paged kernel's tiles (FA3's paged_kv_non_TMA ones, FA2's split-KV kernel)
        assert kernel.time_s == pytest.approx(layer.time_s - sum(layer.detail["layer_kernels"].values()),
                                              rel=0.02 if algo == "flash3" else 0.1)


def test_unfused_kernels_never_stream_faster_than_the_measured_stream():
    from gpu_models.spec import HardwareError

    hw = hardware("h100")
    with pytest.raises(HardwareError, match="unfused_hbm_efficiency"):
        replace(hw, unfused_hbm_efficiency=hw.hbm_efficiency + 0.01)


from validation.report import at_clock  # noqa: E402


def _synthetic_file(tmp_path, spec, points) -> str:
    doc = {"format": "attnsim-validation/1", "source": "synthetic: the model's own predictions",
           "device": {"name": "synthetic", "attnsim_hw": "h100"}, "micro": [], "points": []}
    for algo, wl in points:
        doc["points"].append({"kernel": algo, "algorithm": algo, **{k: getattr(wl, k) for k in (
            "batch", "heads", "kv_heads", "head_dim", "seq_len", "kv_len", "causal", "dtype")},
            "measured_s": evaluate(spec, algo, wl).time_s, "ok": True})
    path = tmp_path / "synthetic.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_calibrate_kernels_recovers_the_figures_that_made_the_timings(tmp_path):
    """Timings made by the model with known wgmma figures are fitted back to them, with ~0 LOO error."""
    truth = replace(hardware("h100"), wgmma_efficiency=0.62, wgmma_softmax_exposed=0.35)
    points = [("flash3", Workload(batch=2, heads=16, head_dim=d, seq_len=n, causal=c))
              for d in (64, 128, 256) for n in (2048, 8192) for c in (False, True)]
    from validation.kernel_fit import calibrate_kernels

    toml, fits = calibrate_kernels([_synthetic_file(tmp_path, truth, points)])
    assert {f.target for f in fits} <= {"wgmma", "overlap"}  # the 2k-token calls can tell the overlap too
    (fit,) = [f for f in fits if f.target == "wgmma"]
    assert fit.n == len(points)
    assert fit.values["wgmma_efficiency"] == pytest.approx(0.62, abs=0.01)
    assert fit.values["wgmma_softmax_exposed"] == pytest.approx(0.35, abs=0.03)
    assert fit.loo_max_abs_error < 0.01
    assert "attnsim calibrate --kernels" in toml["wgmma_efficiency"]["source"]


def test_calibrate_kernels_is_not_set_by_one_point_the_model_does_not_describe(tmp_path, monkeypatch):
    """A small call timed around a host-side dispatch gap reads twice the kernel's time; under the soft-L1 loss
    the other points stay explained and the efficiency moves a few times less than under least squares."""
    import math
    import statistics

    import validation.kernel_fit as kernel_fit

    truth = replace(hardware("h100"), mma_sync_efficiency=0.5, mma_sync_softmax_exposed=0.4)
    points = [("flash2", Workload(batch=2, heads=16, head_dim=d, seq_len=n, causal=c))
              for d in (64, 128) for n in (1024, 4096, 16384) for c in (False, True)]
    path = _synthetic_file(tmp_path, truth, points)
    doc = json.loads(open(path).read())
    doc["points"][0]["measured_s"] *= 2.0
    open(path, "w").write(json.dumps(doc))

    def fit():
        hw = hardware("h100")
        pts = kernel_fit._points(doc, hw)
        ranges = kernel_fit._identifiable(kernel_fit.targets(hw)["mma_sync"], pts)
        grid = {k: kernel_fit._span(*r, kernel_fit._COARSE) for k, r in ranges.items()}
        values = kernel_fit._minimise(hw, ranges, pts, grid, kernel_fit._REFINE_ROUNDS)
        return values, kernel_fit._errors(hw, pts[1:], values)

    robust, errors = fit()
    assert statistics.median(map(abs, errors)) < 0.01
    assert robust["mma_sync_efficiency"] == pytest.approx(0.5, abs=0.03)
    monkeypatch.setattr(kernel_fit, "_loss", lambda hw, pts, v: sum(
        math.log1p(e) ** 2 for e in kernel_fit._errors(hw, pts, v)))
    squares, _ = fit()
    assert abs(squares["mma_sync_efficiency"] - 0.5) > 2 * abs(robust["mma_sync_efficiency"] - 0.5)
    assert kernel_fit.soft_l1(0.01) == pytest.approx(0.01 ** 2, rel=0.01)  # quadratic near 0
    assert kernel_fit.soft_l1(10.0) == pytest.approx(2 * kernel_fit.LOSS_SCALE * 10.0, rel=0.02)  # linear far out


def test_calibrate_kernels_cli_prints_the_fit_and_writes_a_loadable_toml(tmp_path):
    truth = replace(hardware("h100"), mma_sync_efficiency=0.5, mma_sync_softmax_exposed=0.8)
    points = [("flash2", Workload(batch=2, heads=16, head_dim=d, seq_len=n)) for d in (64, 128) for n in (1024, 4096)]
    out = tmp_path / "fit.toml"
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", _synthetic_file(tmp_path, truth, points), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "mma_sync_efficiency" in r.output and "LOO" in r.output
    from gpu_models import load_hardware

    assert load_hardware(str(out)).mma_sync_efficiency == pytest.approx(0.5, abs=0.02)


def test_calibrate_kernels_fits_a_users_own_measured_csv(tmp_path):
    """A user's own timings in `validate report`'s CSV (the simulate --from columns, measured_ms, a device or
    hardware column per row) fit back the figures that made them, a row's NAME:MHZ hardware at its locked clock;
    a row that names no GPU, or rows of two GPUs, are one-line errors."""
    truth = replace(hardware("h100"), wgmma_efficiency=0.62, wgmma_softmax_exposed=0.35)
    shapes = [Workload(batch=2, heads=16, head_dim=d, seq_len=n, causal=c)
              for d in (64, 128, 256) for n in (2048, 8192) for c in (False, True)]
    rows = ["algorithm,batch,heads,head_dim,seq_len,causal,hardware,device,measured_ms"]
    for i, wl in enumerate(shapes):
        locked = i % 2 == 0  # every other call timed with the SMs locked at 1500 MHz
        spec = at_clock(truth, 1500) if locked else truth
        ms = evaluate(spec, "flash3", wl).time_s * 1e3
        where = "h100:1500," if locked else ",NVIDIA H100 80GB HBM3"  # hardware, device
        rows.append(f"flash3,{wl.batch},{wl.heads},{wl.head_dim},{wl.seq_len},{str(wl.causal).lower()},{where},{ms!r}")
    mine = tmp_path / "mine.csv"
    mine.write_text("\n".join(rows) + "\n")
    out = tmp_path / "mine.toml"
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(mine), "-o", str(out)])
    assert r.exit_code == 0, r.output
    from gpu_models import load_hardware

    fitted = load_hardware(str(out))
    assert fitted.wgmma_efficiency == pytest.approx(0.62, abs=0.01)
    assert fitted.wgmma_softmax_exposed == pytest.approx(0.35, abs=0.03)
    assert f"attnsim calibrate --kernels {mine}" in out.read_text()
    # a machine of its own: a table of both tells them apart, and --explain quotes no bundled model's evidence for it
    assert fitted.name == "h100-calibrated"
    r = CliRunner().invoke(cli, ["simulate", "--hw", f"h100,{out}", "--format", "csv"])
    assert [line.split(",")[0] for line in r.output.splitlines()[1:]] == ["h100", str(out)]
    r = CliRunner().invoke(cli, ["simulate", "--hw", str(out), "--explain"])
    assert "published evidence: none for a model of your own (h100-calibrated)" in " ".join(r.output.split())
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("algorithm,seq_len,measured_ms\nflash3,4k,1.0\n")
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(nameless), "-o", str(out)])
    assert r.exit_code == 2 and "row 1: no hardware or device column" in r.output and len(r.output.splitlines()) == 1
    two = tmp_path / "two.csv"
    two.write_text("algorithm,seq_len,hardware,measured_ms\nflash3,4k,h100,1.0\nflash3,4k,h200,1.0\n")
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(two), "-o", str(out)])
    assert r.exit_code == 2 and "one GPU at a time" in r.output and len(r.output.splitlines()) == 1


def test_calibrate_kernels_clock_locked_states_the_clock_of_every_point(tmp_path):
    """--clock-locked F, as validate report takes it: every point ran at F, so the figures come out per clock; a row
    or file that states another lock, or the option without --kernels, is a one-line error."""
    truth = replace(hardware("h100"), mma_sync_efficiency=0.55, mma_sync_softmax_exposed=0.6)
    shapes = [Workload(batch=2, heads=16, head_dim=d, seq_len=n) for d in (64, 128) for n in (1024, 4096, 16384)]
    rows = ["algorithm,batch,heads,head_dim,seq_len,device,measured_ms"]
    rows += [f"flash2,{wl.batch},{wl.heads},{wl.head_dim},{wl.seq_len},NVIDIA H100 80GB HBM3,"
             f"{evaluate(at_clock(truth, 1200), 'flash2', wl).time_s * 1e3!r}" for wl in shapes]
    mine, out = tmp_path / "locked.csv", tmp_path / "locked.toml"
    mine.write_text("\n".join(rows) + "\n")
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(mine), "--clock-locked", "1200", "-o", str(out)])
    assert r.exit_code == 0, r.output
    from gpu_models import load_hardware

    assert load_hardware(str(out)).mma_sync_efficiency == pytest.approx(0.55, abs=0.01)
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(mine), "-o", str(out)])  # taken as free clocks
    assert r.exit_code == 0 and load_hardware(str(out)).mma_sync_efficiency < 0.5
    clash = tmp_path / "clash.csv"
    clash.write_text("algorithm,seq_len,hardware,measured_ms\nflash2,4k,h100:1500,1.0\n")
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(clash), "--clock-locked", "1600", "-o", str(out)])
    assert r.exit_code == 2 and "1500 MHz and --clock-locked 1600" in r.output and len(r.output.splitlines()) == 1
    r = CliRunner().invoke(cli, ["calibrate", str(clash), "--clock-locked", "1600", "-o", str(out)])
    assert r.exit_code == 2 and "add --kernels" in r.output and len(r.output.splitlines()) == 1


def test_calibrate_kernels_without_usable_points_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"device": {"attnsim_hw": "h100"}, "points": []}))
    r = CliRunner().invoke(cli, ["calibrate", "--kernels", str(empty), "-o", str(tmp_path / "x.toml")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "nothing to fit" in r.output


def test_calibrate_kernels_fits_the_cuda_core_issue_rate_from_the_decode_calls_it_binds(tmp_path):
    """FlashInfer decode timings made with a known issue efficiency are fitted back to it from the calls whose
    CUDA-core loop outlasts their K/V stream (GQA group 8); the stream-bound MHA calls cannot tell it and are left
    out of the fit's points. --only picks the target; the other targets' points are not fitted."""
    from validation.kernel_fit import calibrate_kernels

    truth = replace(hardware("h100"), cuda_core_issue_efficiency=0.7)
    bound = [("flashinfer-decode", Workload(batch=b, heads=64, kv_heads=8, head_dim=128, seq_len=1, kv_len=n))
             for b, n in ((16, 4096), (4, 32768), (8, 8192))]
    streamed = [("flashinfer-decode", Workload(batch=b, heads=32, head_dim=128, seq_len=1, kv_len=n))
                for b, n in ((16, 2048), (64, 512))]
    flash3 = [("flash3", Workload(batch=2, heads=16, head_dim=d, seq_len=4096)) for d in (64, 128, 256)]
    path = _synthetic_file(tmp_path, truth, bound + streamed + flash3)
    toml, fits = calibrate_kernels([path], only=("cuda_core",))
    (fit,) = fits
    assert fit.target == "cuda_core" and fit.n == len(bound)
    assert fit.values["cuda_core_issue_efficiency"] == pytest.approx(0.7, abs=0.01)
    assert fit.loo_max_abs_error < 0.01
    assert "--only cuda_core" in toml["cuda_core_issue_efficiency"]["source"]
    assert {f.target for f in calibrate_kernels([path])[1]} == {"cuda_core", "wgmma"}
    fast = evaluate(replace(truth, cuda_core_issue_efficiency=None), "flashinfer-decode", bound[0][1])
    assert evaluate(truth, "flashinfer-decode", bound[0][1]).detail["cuda_core_s"] == pytest.approx(
        fast.detail["cuda_core_s"] / 0.7, rel=1e-9)


@pytest.mark.parametrize("args, needle", [
    (["--kernels", "--only", "wgmma,cuda"], "--only 'wgmma,cuda': unknown target 'cuda': allowed mma_sync, wgmma, "
                                           "tcgen05, unfused, cuda_core, overlap (comma list)"),
    (["--kernels", "--only", "wgmma,"], "--only 'wgmma,': an empty target: allowed"),
    (["--kernels", "--only", "tcgen05"], "--only tcgen05: h100 (sm_90) has no tcgen05 tensor-core path"),
    (["--only", "wgmma"], "--only wgmma: it picks the targets of a kernel fit; add --kernels"),
])
def test_calibrate_only_names_its_bad_value_in_one_line(tmp_path, args, needle):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"device": {"attnsim_hw": "h100"}, "points": []}))
    r = CliRunner().invoke(cli, ["calibrate", *args, str(path), "-o", str(tmp_path / "x.toml")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and needle in r.output, r.output


@pytest.mark.parametrize("value", [0.0, 1.2, "fast"])
def test_cuda_core_issue_efficiency_must_be_a_fraction(value):
    with pytest.raises(HardwareError, match="cuda_core_issue_efficiency must be a fraction"):
        replace(hardware("h200"), cuda_core_issue_efficiency=value)


@pytest.mark.parametrize("name", GPUS)
def test_every_fitted_figure_cites_a_command_whose_files_exist(name):
    """The calibration rule: each fitted figure is reproduced by one command (bench/check_calibration.py
    re-runs them); its files must be in the repository."""
    hw = hardware(name)
    fitted = {k: v for k, v in hw.sources.items() if "calibrate --kernels" in v}
    assert fitted, f"{name} has no fitted figure"
    for key, source in fitted.items():
        command = re.search(r"`attnsim calibrate --kernels ([^`]+)`", source)
        assert command, (key, source)
        words = command.group(1).split()
        if words[0] == "--only":  # `--kernels --only TARGETS FILE ...`
            assert set(words[1].split(",")) <= set(KERNEL_TARGETS), (key, words[1])
            words = words[2:]
        for path in words:
            assert (ROOT / path).is_file(), (key, path)
            assert json.loads((ROOT / path).read_text())["source"], path  # a published set names its origin
    assert math.isfinite(hw.mma_sync_efficiency)


def test_flash1_runs_fa1s_kernel_traits():
    """FA1 (fmha_fprop_fp16_kernel.sm80.cu @ 765741c): 16 query rows x 256 keys per step (128 keys when the call
    has exactly 128), 4 warps splitting the keys, K kept in registers up to head dim 64."""
    from simulator.gpu_kernels import kernel_config

    a100 = hardware("a100-40gb")
    cfg = kernel_config("flash1", a100, Workload(batch=16, heads=8, head_dim=64, seq_len=4096))
    assert (cfg.block_q, cfg.block_kv, cfg.warps, cfg.k_in_regs) == (16, 256, 4, True)
    assert cfg.ctas_per_sm(a100) == 2  # 128 threads at up to 255 registers: two CTAs fill the register file
    assert not kernel_config("flash1", a100, Workload(head_dim=128, seq_len=4096)).k_in_regs
    assert kernel_config("flash1", a100, Workload(head_dim=64, seq_len=128)).block_kv == 128


def test_flash1_runs_its_128_key_kernel_on_any_call_of_at_most_128_keys():
    """mha_fwd (fmha_api.cpp @ 765741c) rounds max_seq_len <= 128 up to 128, and run_fmha_fp16_sm80 takes the
    S = 128 traits (K in registers, 0x08u) for it: 1 to 128 keys run one 128-key block, not a 256-key one (a
    127-key call cost twice a 128-key one until 2026-12-07); D = 128 off sm_8x runs the 128-key traits at every
    length ("Need to use the same block size as backward")."""
    from simulator.gpu_kernels import kernel_config

    a100, h100 = hardware("a100"), hardware("h100")
    for kv in (1, 64, 127, 128):
        cfg = kernel_config("flash1", a100, Workload(head_dim=128, seq_len=kv, kv_len=kv))
        assert (cfg.block_kv, cfg.k_in_regs) == (128, True)
    assert kernel_config("flash1", a100, Workload(head_dim=128, seq_len=129, kv_len=129)).block_kv == 256
    long = kernel_config("flash1", h100, Workload(head_dim=128, seq_len=4096))
    assert (long.block_kv, long.k_in_regs) == (128, True)
    assert kernel_config("flash1", h100, Workload(head_dim=64, seq_len=4096)).block_kv == 256

    def time(kv):
        return evaluate(a100, "flash1", Workload(batch=4, heads=64, kv_heads=8, head_dim=128, seq_len=kv,
                                                 kv_len=kv)).time_s

    assert time(127) <= time(128) < time(129)


def test_flash1_steps_run_their_phases_in_turn():
    """A step's GEMMs, shared-memory reductions and softmax are separated by barriers: the step costs their sum,
    and more shared memory per step (K re-read at head dim 128) lengthens it by exactly its bytes."""
    from simulator.flash1 import _phases, step_cycles, step_smem_bytes
    from simulator.gpu_kernels import kernel_config

    a100 = hardware("a100-40gb")
    wl = Workload(batch=16, heads=8, head_dim=64, seq_len=4096)
    cfg = kernel_config("flash1", a100, wl)
    parts, softmax, _ = _phases(cfg, a100, wl, partial=False)
    assert step_cycles(cfg, a100, wl, partial=False)[0] == pytest.approx(parts["tensor"] + parts["smem"] + softmax)
    assert softmax == max(parts["exp"], parts["fma"])
    k_from_smem = replace(cfg, k_in_regs=False)
    extra = step_smem_bytes(k_from_smem, wl) - step_smem_bytes(cfg, wl)
    assert extra == cfg.block_kv * 64 * 2
    assert step_cycles(k_from_smem, a100, wl, False)[0] - step_cycles(cfg, a100, wl, False)[0] == pytest.approx(
        extra / a100.smem_bytes_per_clk_sm)


def test_flash1_refuses_a_block_size_and_blackwell():
    with pytest.raises(UserError, match="flash1 runs FlashAttention-1's fixed steps"):
        evaluate(hardware("a100"), "flash1", Workload(seq_len=4096, block_size=64))
    with pytest.raises(UserError, match="does not build for b200"):
        evaluate(hardware("b200"), "flash1", Workload(seq_len=4096))


def test_fa3_by_build_dispatch_order_and_d64_tile():
    """Today's FA3 hands the longest causal query blocks out first; the builds the FA3 paper benchmarks (July
    2024, DynamicPersistentTileScheduler: atomicAdd, m ascending) the shortest first, so each head's longest come
    last: at d=256 (128 x 80 in both modes) their causal / non-causal time exceeds the visited-tile fraction by
    the tail (about 1.15x), and today's does not."""
    from simulator.kernel_configs import fa3_build

    h100 = hardware("h100")
    causal = Workload(head_dim=256, causal=True)
    assert kernel_config("flash3", h100, causal).longest_first
    n, bm, bn = 16384, 128, 80
    visited = sum(min(math.ceil(n / bn), math.ceil((m + 1) * bm / bn)) for m in range(n // bm))
    fraction = visited / ((n // bm) * math.ceil(n / bn))

    def ratio():
        t = {c: evaluate(h100, "flash3", Workload(batch=1, heads=8, head_dim=256, seq_len=n, causal=c)).time_s
             for c in (False, True)}
        return t[True] / t[False]

    today = ratio()
    with fa3_build("2024-07"):
        assert not kernel_config("flash3", h100, causal).longest_first
        paper = ratio()
    assert paper > 1.08 * fraction and today < 1.03 * fraction
    assert kernel_config("flash3", h100, causal).longest_first  # the block restores today's order
    d64 = Workload(head_dim=64)  # non-causal: today 192 x 192 with P through smem; the paper's build 192 x 128
    assert (kernel_config("flash3", h100, d64).block_kv, kernel_config("flash3", h100, d64).p_through_smem) == (192, True)
    with fa3_build("2024-07"):
        cfg = kernel_config("flash3", h100, d64)
        assert (cfg.block_q, cfg.block_kv, cfg.p_through_smem) == (192, 128, False)
    # fp8: the first public FP8 kernel's tiles (5018ac6a) in the 2024 build, tile_size_fwd_sm90's today
    fp8 = {d: Workload(head_dim=d, dtype="fp8") for d in (64, 128, 256)}
    assert [kernel_config("flash3", h100, w).block_kv for w in fp8.values()] == [160, 224, 128]
    with fa3_build("2024-07"):
        assert [(kernel_config("flash3", h100, w).block_q, kernel_config("flash3", h100, w).block_kv)
                for w in fp8.values()] == [(192, 128), (128, 256), (128, 128)]
    with pytest.raises(UserError, match="bad fa3_build 'lpt': allowed current, 2024-07"):
        with fa3_build("lpt"):
            pass


def test_a_published_file_predicts_with_its_fa3_build(tmp_path):
    """validate report and calibrate --kernels predict a file's FA3 points as the build it declares runs."""
    from validation.report import load_results, predict

    doc = load_results("validation/published/fa3-paper-h100.json")
    assert doc["fa3_build"] == "2024-07"
    causal = [p for p in doc["points"] if p["algorithm"] == "flash3" and p["causal"]][:3]
    declared = predict({**doc, "points": causal}, None)
    today = predict({**{k: v for k, v in doc.items() if k != "fa3_build"}, "points": causal}, None)
    assert all(a["predicted_s"] > b["predicted_s"] for a, b in zip(declared, today))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**doc, "fa3_build": "lpt", "points": causal}))
    with pytest.raises(UserError, match="fa3_build"):
        predict(load_results(str(bad)), None)


@pytest.mark.parametrize("algo", ["flash2", "flash3", "flash-decoding", "flashinfer-decode"])
def test_a_benchmark_without_an_l2_flush_pays_no_write_backs(algo):
    """--scope kernel-warm: a benchmark that repeats the call without flushing L2 (torch.utils.benchmark, a
    plain CUDA-event loop) leaves no dirty lines for the call's reads to evict: the same kernels as --scope
    kernel less the write-back, and none of the serving layer's kernels."""
    hw = hardware("h100")
    wl = Workload(heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=32768, batch=4)
    cold, warm = (evaluate(hw, algo, replace(wl, scope=s)) for s in ("kernel", "kernel-warm"))
    assert cold.times["writeback"] > 0 and warm.times["writeback"] == 0
    assert "layer_kernels" not in warm.detail and warm.cost.launches == cold.cost.launches
    assert warm.time_s < cold.time_s
    assert warm.cost.hbm_bytes == cold.cost.hbm_bytes  # the call's own bytes: still read from HBM (see docs L)
    assert warm.detail.get("block_kv") == cold.detail.get("block_kv")  # not the serving layer's paged tiles


def test_the_standard_attention_baseline_pays_the_cold_write_backs_once():
    """--scope kernel on the naive baseline: the flushed L2's dirty lines (one L2 of them) are written back by
    its first kernel, the layout copies, and no other kernel changes; kernel-warm pays none."""
    hw = hardware("h100")
    wl = Workload(heads=16, head_dim=128, seq_len=1024, batch=16, causal=True)
    cold, warm = (evaluate(hw, "naive", replace(wl, scope=s)) for s in ("kernel", "kernel-warm"))
    assert cold.detail["cold_l2_writeback_bytes"] == hw.l2_bytes and warm.detail["cold_l2_writeback_bytes"] == 0
    extra = {k: cold.detail["kernel_seconds"][k] - warm.detail["kernel_seconds"][k] for k in cold.detail["kernel_seconds"]}
    assert extra.pop("layout") == pytest.approx(hw.l2_bytes / (hw.hbm_bw_bytes_s * hw.strided_efficiency))
    assert all(v == 0 for v in extra.values())
    assert list(cold.detail["kernel_seconds"]) == ["layout", "gemm_qk", "mask_build", "mask", "softmax", "gemm_pv"]
    assert cold.time_s - warm.time_s == pytest.approx(hw.l2_bytes / (hw.hbm_bw_bytes_s * hw.strided_efficiency))


def test_published_files_that_time_without_a_flush_are_read_warm():
    """A published file whose source says its benchmark ran without an L2 flush is predicted as kernel-warm, or
    says in scope_why why not (cuDNN's script writes fresh inputs just before each call)."""
    for path in sorted(Path("validation/published").glob("*.json")):
        doc = json.loads(path.read_text())
        scopes = {p.get("scope", "kernel") for p in doc["points"]}
        if "no L2 flush" in doc["source"]:
            assert scopes == {"kernel-warm"} or "scope_why" in doc, path.name
        if "scope_why" in doc:
            assert doc["scope_why"].split(",")[0] in scopes, path.name


def test_kernel_warm_is_a_gpu_scope():
    r = CliRunner().invoke(cli, ["simulate", "--hw", "fusemax", "--seq-len", "4k", "--scope", "kernel-warm"])
    assert r.exit_code == 2 and "applies to GPUs; fusemax is an accelerator" in r.output
    assert len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--seq-len", "1", "--kv-len", "32k", "--heads", "32",
                                 "--kv-heads", "8", "--scope", "kernel-warm", "--format", "json"])
    assert r.exit_code == 0 and json.loads(r.output)[0]["scope"] == "kernel-warm"


def test_fa4_pays_its_tile_turnaround_once_per_work_tile():
    """tcgen05_tile_turnaround: cycles each work tile of a CTA adds (simulator.tile_cost.prologue_cycles); a
    persistent dense call of 2,048 work tiles on 148 SMs runs 14 of them on its busiest SM. FA2 on the same
    GPU (mma_sync) does not pay it."""
    hw = hardware("b200")
    wl = Workload(batch=4, heads=16, head_dim=128, seq_len=8192)
    base, more = (evaluate(replace(hw, tcgen05_tile_turnaround=x), "flash4", wl) for x in (0.0, 1000.0))
    assert base.bound == more.bound == "tensor"
    assert (more.time_s - base.time_s) * hw.sustained_clock_hz == pytest.approx(14 * 1000.0, rel=0.02)
    fa2 = [evaluate(replace(hw, tcgen05_tile_turnaround=x), "flash2", wl).time_s for x in (0.0, 1000.0)]
    assert fa2[0] == fa2[1]


def test_calibrate_recovers_a_tile_turnaround_from_timings_at_several_lengths(tmp_path):
    """FA4 timings made with known tcgen05 figures are fitted back to them: lengths tell a work tile's fixed
    cycles from its key tiles', head dims the softmax exposure from the MMA rate. One length alone cannot,
    and holds the turnaround at 0. (A coarser first grid than calibrate's, to keep the test short.)"""
    import validation.kernel_fit as kernel_fit

    truth = replace(hardware("b200"), tcgen05_efficiency=0.85, tcgen05_softmax_exposed=0.5,
                    tcgen05_tile_turnaround=2500.0)
    points = [("flash4", Workload(batch=2, heads=16, head_dim=d, seq_len=n, causal=c))
              for d in (64, 128) for n in (1024, 4096, 16384) for c in (False, True)]
    doc = json.loads(open(_synthetic_file(tmp_path, truth, points)).read())
    hw = hardware("b200")
    pts = kernel_fit._points(doc, hw)
    ranges = kernel_fit._identifiable(kernel_fit.targets(hw)["tcgen05"], pts)
    values = kernel_fit._minimise(hw, ranges, pts, {k: kernel_fit._span(*r, 6) for k, r in ranges.items()},
                                  kernel_fit._REFINE_ROUNDS)
    assert values["tcgen05_tile_turnaround"] == pytest.approx(2500.0, abs=250.0)
    assert values["tcgen05_efficiency"] == pytest.approx(0.85, abs=0.02)
    assert max(map(abs, kernel_fit._errors(hw, pts, values))) < 0.01
    one_length = [p for p in pts if p[0].seq_len == 4096]
    assert kernel_fit._identifiable(kernel_fit.targets(hw)["tcgen05"], one_length)["tcgen05_tile_turnaround"] == (0, 0)


def test_the_kernel_timed_without_its_softmax_tells_the_exposure_at_one_head_dim(tmp_path):
    """At one head dim a tile's G/efficiency + exposed * S pins only the sum; the same kernel timed with its softmax
    compiled out (attention-nosoftmax@flash2: S down to the scores' conversion) separates the two figures, as the
    A100 fit does with GPU_travel's 'No softmax' FA2 columns. Without the ablation the exposure is held at 1."""
    import validation.kernel_fit as kernel_fit

    truth = replace(hardware("a100"), mma_sync_efficiency=0.7, mma_sync_softmax_exposed=0.6)
    shapes = [Workload(batch=b, heads=32, head_dim=128, seq_len=n) for b, n in ((16, 1024), (1, 4096))]
    points = [(algo, wl) for wl in shapes for algo in ("flash2", "attention-nosoftmax@flash2")]
    doc = json.loads(open(_synthetic_file(tmp_path, truth, points)).read())
    hw = hardware("a100")
    pts = kernel_fit._points(doc, hw)
    assert [p[1] for p in pts] == [a for a, _ in points] and {p[3] for p in pts} == {"mma_sync"}
    ranges = kernel_fit._identifiable(kernel_fit.targets(hw)["mma_sync"], pts)
    assert ranges["mma_sync_softmax_exposed"] == (0.0, 1.0)
    values = kernel_fit._minimise(hw, ranges, pts, {k: kernel_fit._span(*r, 8) for k, r in ranges.items()},
                                  kernel_fit._REFINE_ROUNDS)
    assert values["mma_sync_softmax_exposed"] == pytest.approx(0.6, abs=0.03)
    assert values["mma_sync_efficiency"] == pytest.approx(0.7, abs=0.01)
    softmax_only = [p for p in pts if p[1] == "flash2"]
    held = kernel_fit._identifiable(kernel_fit.targets(hw)["mma_sync"], softmax_only)
    assert held["mma_sync_softmax_exposed"] == (1.0, 1.0)


def test_fa3_fp8_transposes_v_in_shared_memory_and_16_bit_does_not():
    """wgmma reads 8-bit B operands K-major only: FA3's producer re-writes each V tile transposed (LDSM.T, STSM),
    2 x Bc x dv bytes of smem traffic per tile beside the MMAs' reads; at d=256 (128 x 128 tiles) that makes the
    fp8 tile smem-bound, where fp16 stays tensor-bound."""
    from simulator.gpu_kernels import kernel_config
    from simulator.tile_cost import tile_cycles

    hw = hardware("h100")
    wl = Workload(batch=1, heads=8, head_dim=256, seq_len=16384, dtype="fp8")
    cfg = kernel_config("flash3", hw, wl)
    assert cfg.transpose_v and not kernel_config("flash3", hw, replace(wl, dtype="fp16")).transpose_v
    with_t, without = tile_cycles(cfg, hw, wl, False), tile_cycles(replace(cfg, transpose_v=False), hw, wl, False)
    assert with_t.bound == "smem" and without.bound == "tensor"
    kv_tile = cfg.block_kv * (256 + 256)  # K and V rows, 1 byte each
    reads_and_fill = cfg.readers * kv_tile + cfg.block_q * 256 + kv_tile  # 2 consumer WGs, Q, the TMA fill
    assert with_t.gemm * hw.smem_bytes_per_clk_sm == pytest.approx(reads_and_fill + 2 * cfg.block_kv * 256)


@pytest.mark.parametrize("hw_name,algo", [("h100", "flash3"), ("b200", "flash4")])
def test_fp8_calls_write_their_output_in_16_bits(hw_name, algo):
    """FA3 and FA4 write an fp8 call's O in bf16 (hopper/flash_api.cpp out_type; flash_attn/cute/interface.py
    out_torch_dtype): a call whose K/V fit L2 moves Q, K, V at 1 byte an element and O at 2, and its footprint
    holds O at 2 bytes."""
    b, h, n, d = 1, 8, 4096, 128
    wl = Workload(batch=b, heads=h, head_dim=d, seq_len=n, dtype="fp8")
    r = evaluate(hardware(hw_name), algo, wl)
    assert r.cost.hbm_bytes == pytest.approx(b * h * n * d * (3 * 1 + 2))
    from simulator.capacity import footprint
    assert footprint(algo, wl)["O"] == b * h * n * d * 2


def test_fa3_decode_runs_its_scheduler_kernel():
    """A decode call comes through flash_attn_with_kvcache with cache_seqlens (seqused_k), so FA3 is varlen and
    launches prepare_varlen_num_blocks first (hopper/flash_api.cpp mha_fwd): split, that is three launches
    (scheduler, attention, combine) and one dependent read; a prefill call whose keys are its own queries has
    neither; one against a longer cache, and a serving engine's paged call, have the scheduler kernel."""
    hw = hardware("h100")
    decode = Workload(heads=32, kv_heads=4, head_dim=128, seq_len=1, kv_len=4096)
    r = evaluate(hw, "flash3", decode)
    assert r.detail["splits"] > 1 and r.cost.launches == 3
    assert r.times["prepare"] == hw.hbm_latency_s
    assert r.times["combine"] < hw.launch_overhead_s  # its bytes alone: its launch is one of the three
    prefill = Workload(heads=32, kv_heads=8, head_dim=128, seq_len=4096)
    p = evaluate(hw, "flash3", prefill)
    assert "prepare" not in p.times and p.cost.launches == 1
    # a prefill against a longer cache (chunked prefill, speculative queries) is a KV-cache call too: varlen
    chunk = evaluate(hw, "flash3", replace(prefill, kv_len=16384))
    assert chunk.times["prepare"] == hw.hbm_latency_s
    layer = evaluate(hw, "flash3", replace(prefill, scope="layer"))  # the engine's paged call: the step's metadata
    assert "prepare" not in layer.times and "scheduler" not in layer.detail["layer_kernels"]


def test_fa3_zeroes_its_tile_counter_with_a_kernel_of_its_own():
    """The dynamic persistent scheduler's counter is zeroed by a fill kernel before the call when FA3 needs it and no
    scheduler kernel does it (hopper/flash_api.cpp mha_fwd, scheduler_needs_semaphore): on sm90 causal or local
    calls of one split, on sm80 causal ones; the July 2024 builds, causal ones (torch::zeros)."""
    from simulator.kernel_configs import fa3_build

    def launches(hw_name, **kw):
        return evaluate(hardware(hw_name), "flash3", Workload(heads=16, head_dim=128, seq_len=4096, **kw)).cost.launches

    assert launches("h100") == 1 and launches("h100", causal=True) == 2
    assert launches("h100", pattern="window(512)") == 2
    assert launches("a100", causal=True) == 2 and launches("a100", pattern="window(512)") == 1
    with fa3_build("2024-07"):
        assert launches("h100", causal=True) == 2 and launches("h100", pattern="window(512)") == 1
    decode = evaluate(hardware("h100"), "flash3", Workload(heads=32, kv_heads=4, head_dim=128, seq_len=1,
                                                             kv_len=4096, causal=True))
    assert decode.cost.launches == 3  # its scheduler kernel zeroes the counter: prepare, attention, combine


@pytest.mark.parametrize("hw_name,algo,kw", [
    ("h100", "flash3", dict(seq_len=4096)), ("h100", "flash3", dict(seq_len=4096, causal=True)),
    ("h100", "flash3", dict(seq_len=1, kv_len=8192, kv_heads=4)), ("a100", "flash2", dict(seq_len=1, kv_len=65536)),
    ("h100", "flash-decoding", dict(seq_len=1, kv_len=8192)), ("b200", "flash4", dict(seq_len=1, kv_len=8192)),
    ("h100", "flash3", dict(seq_len=16384, pattern="window2d(128,128,7,7)")),
    ("h100", "attention-3pass@flash3", dict(seq_len=1, kv_len=8192, kv_heads=4)),
])
def test_explain_names_every_kernel_the_launch_roof_counts(hw_name, algo, kw):
    r = evaluate(hardware(hw_name), algo, Workload(heads=32, head_dim=128, **kw))
    kernels = r.detail["kernels"]
    assert len(kernels) == r.cost.launches
    assert (r.detail["splits"] > 1) == any(k.endswith("combine") for k in kernels)
    out = CliRunner().invoke(cli, ["simulate", "--hw", hw_name, "--algo", algo, "--heads", "32", "--explain",
                                   *[f"--{k.replace('_', '-')}={v}" if not isinstance(v, bool) else f"--{k}"
                                     for k, v in kw.items()]], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert f"kernels launched ({len(kernels)}, the launch roof): {', '.join(kernels)}" in " ".join(out.stdout.split())


def test_fa2_on_a_capped_part_is_held_by_the_cap_not_by_the_mma_sync_ceiling():
    """FA2 on the H20: its mma.sync ceiling (2731 flop/clk/SM) is far above the 1037 cap, so raising the
    ceiling to the full wgmma rate leaves its GEMM cycles as they are, while on the H100 they shrink by the
    ratio and the call speeds up."""
    from simulator.tile_cost import tile_cycles

    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=2048)
    for name, moves in (("h20", False), ("h100", True)):
        hw = hardware(name)
        full = hw.uncapped_tensor_flops_per_clk_sm or hw.tensor_flops_per_clk_sm  # the SM's wgmma rate
        lifted = replace(hw, mma_sync_flops_per_clk_sm=dict(full))
        cfg = kernel_config("flash2", hw, wl)
        before, after = (tile_cycles(cfg, spec, wl, False).gemm for spec in (hw, lifted))
        assert (after == pytest.approx(before * 2731 / 4096)) if moves else (after == before)
        if moves:
            assert evaluate(lifted, "flash2", wl).time_s < 0.9 * evaluate(hw, "flash2", wl).time_s


def test_a_chip_level_cap_stretches_the_gemms_not_the_softmax_the_sm_leaves_exposed():
    """The H20 caps a GH100 SM's tensor rate at the chip: FA3's exposed softmax share is the SM's, set against
    its GEMMs at the SM's own rate, so at d=128 the capped GEMMs (four times longer) hide the whole softmax and
    the exposure no longer moves the time; on the H100 it does. A part whose uncapped rate equals its rate is
    the part without a cap."""
    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    for name, moves in (("h20", False), ("h100", True)):
        hw = hardware(name)
        serial = replace(hw, wgmma_softmax_exposed=1.0)  # 0.92 -> 1: 0.08 of the softmax more
        before, after = evaluate(hw, "flash3", wl).time_s, evaluate(serial, "flash3", wl).time_s
        assert (after > 1.02 * before) if moves else (after == before)
    h20 = hardware("h20")
    uncapped = replace(h20, uncapped_tensor_flops_per_clk_sm=None)
    same = replace(h20, uncapped_tensor_flops_per_clk_sm=dict(h20.tensor_flops_per_clk_sm))
    assert evaluate(same, "flash3", wl).time_s == evaluate(uncapped, "flash3", wl).time_s
    assert evaluate(uncapped, "flash3", wl).time_s > 1.05 * evaluate(h20, "flash3", wl).time_s


@pytest.mark.parametrize("name, algo, compiled", [("h100", "flash3", 96), ("a100", "flash2", 96),
                                                  ("a100", "flash3", 96), ("b200", "flash4", 80),
                                                  ("a100-40gb", "flash1", 128)])
def test_a_head_dim_between_compiled_ones_runs_the_next_kernel_up(name, algo, compiled):
    """FA2 (static_switch.h HEADDIM_SWITCH) and FA3 (flash_api.cpp round_up_headdim) run head dim 72 in their
    96 kernel, FA4 pads to 16 (80), FA1 (run_fmha_fp16_sm80: 16, 32, 64, 128) its 128 kernel: the MMAs span the
    compiled head dim, zero-filled, while HBM holds the call's."""
    hw = hardware(name)
    call, kernel = (evaluate(hw, algo, Workload(batch=4, heads=16, head_dim=h, seq_len=8192)) for h in (72, compiled))
    assert call.cost.tensor_flops == kernel.cost.tensor_flops
    assert call.cost.hbm_bytes < kernel.cost.hbm_bytes
    assert call.time_s == pytest.approx(kernel.time_s, rel=0.03)
    assert kernel_config(algo, hw, Workload(head_dim=72)).head_dims == (compiled, compiled)
    assert kernel_config(algo, hw, Workload(head_dim=compiled)).head_dims is None


@pytest.mark.parametrize("dv, compiled, tile", [(64, None, (192, 192)), (128, (64, 256), (128, 96)),
                                                (192, (64, 256), (128, 96)), (256, None, (128, 96))])
def test_fa3_runs_a_wider_value_head_dim_with_head_dim_64_in_its_64_x_256_kernel(dv, compiled, tile):
    """hopper/flash_api.cpp run_mha_fwd_constexpr: on sm90, d <= 64 with dv in (64, 256] runs the (64, 256) kernel,
    whose tile (tile_size_fwd_sm90) is 128 x 96 with P in registers whatever the mask."""
    cfg = kernel_config("flash3", hardware("h100"), Workload(head_dim=64, v_head_dim=dv, seq_len=4096))
    assert cfg.head_dims == compiled and (cfg.block_q, cfg.block_kv) == tile


def test_review_mends_of_paged_padded_and_stacked_calls():
    """A paged flash2 call (mha_varlen_fwd over a block table) runs one split unless its GQA heads are swapped;
    lowered_pattern is the padded call's and FA4's narrowed tile's; --explain's paged line follows the priced
    kernel; stacked tiles of one KV head read its K/V once; FA4 pages by TMA only at its key tile."""
    a100, b200 = hardware("a100"), hardware("b200")
    paged = evaluate(a100, "flash2", Workload(heads=8, seq_len=128, kv_len=32768, page_size=256))
    assert (paged.detail["block_q"], paged.detail["splits"]) == (64, 1)  # the split-KV kernel's tile, one split
    mask = dict(seq_len=8192, heads=16, pattern="strided(64)", sparsity=0.6)
    assert (simulate("a100", "flash2", head_dim=64, v_head_dim=128, **mask)["lowered_pattern"]
            == simulate("a100", "flash2", head_dim=128, **mask)["lowered_pattern"])
    layer = Workload(batch=64, seq_len=1, kv_len=4096, scope="layer")  # MHA: not swapped
    engine = evaluate(a100, "flash2", layer)  # a serving engine's flash2 call is mha_varlen_fwd over its pages too
    assert (engine.detail["block_q"], engine.detail["splits"]) == (64, 1)
    assert "the split-KV kernel even at one split" in explain(a100, "flash2", layer, engine)
    stacked = evaluate(a100, "flash3", Workload(heads=256, kv_heads=1, seq_len=2048, kv_len=65536))
    assert stacked.cost.hbm_bytes == pytest.approx(2048 * 256 * 128 * 2 * 2 + 65536 * 128 * 2 * 2)
    with pytest.raises(UserError, match="key tile"):
        evaluate(b200, "flash4", Workload(heads=16, head_dim=192, v_head_dim=128, seq_len=1, kv_len=16384,
                                          page_size=128))


def test_flash_decoding_decides_its_split_by_mha_fwd_kvcaches_swap():
    """mha_fwd_kvcache tests seqlenq_ngroups_swapped before it drops window sides past the cache, so a window
    stops the swap there (flash_attn_func's mha_fwd swaps once the sides are gone): the split decision and the
    kernel it picks follow the kvcache rule."""
    h100 = hardware("h100")
    wl = Workload(batch=8, heads=32, kv_heads=8, seq_len=1, kv_len=8192, pattern="window(100000,100000)")
    r = evaluate(h100, "flash-decoding", wl)
    assert r.detail["splits"] == 1 and r.detail["block_q"] == 128  # the regular kernel: unswapped, one split


def test_fa4_layer_call_runs_its_scheduler_kernel_only_when_it_splits():
    """FA4's varlen call builds scheduler metadata only for a split call (interface.py: is_split_kv and
    is_varlen_q -> _get_scheduler_metadata)."""
    b200 = hardware("b200")
    decode = evaluate(b200, "flash4", Workload(batch=8, heads=32, kv_heads=8, seq_len=1, kv_len=8192, scope="layer"))
    prefill = evaluate(b200, "flash4", Workload(batch=2, heads=32, kv_heads=8, seq_len=4096, scope="layer"))
    assert decode.detail["splits"] > 1 and "scheduler" in decode.detail["layer_kernels"]
    assert prefill.detail["splits"] == 1 and "scheduler" not in prefill.detail["layer_kernels"]


def test_naive_gqa_reads_each_kv_head_once_in_its_repeat_copy():
    """repeat_kv expands K and V to every query head and copies: the copy writes a query head's worth each but
    reads the shared KV head's once (the other heads' reads hit L2)."""
    h100 = hardware("h100")
    mha, gqa = (evaluate(h100, "naive", Workload(batch=2, heads=32, kv_heads=kv, seq_len=2048)) for kv in (32, 8))
    assert mha.cost.hbm_bytes - gqa.cost.hbm_bytes == pytest.approx(2 * (32 - 8) * 2048 * (128 + 128) * 2)


def test_naive_strided_kernels_stream_at_their_own_fraction():
    """PyTorch vectorizes an element-wise kernel only when every operand is contiguous (CUDALoops.cuh
    gpu_kernel_impl_nocast): the standard attention's layout copies (strided views in) and its mask add (a
    broadcast mask) stream at unfused_strided_efficiency, the GEMMs and the softmax at unfused_hbm_efficiency;
    a TOML without the strided figure streams them all at the latter."""
    from gpu_models.spec import HardwareError

    h100 = hardware("h100")
    wl = Workload(batch=4, heads=16, head_dim=128, seq_len=2048, causal=True)
    r = evaluate(h100, "naive", wl)
    s_bytes = 4 * 16 * 2048 * 2048 * 2
    mask_add = (2 * s_bytes + 2048 * 2048 * 2) / (h100.hbm_bw_bytes_s * h100.unfused_strided_efficiency)
    assert r.detail["kernel_seconds"]["mask"] == pytest.approx(mask_add + h100.launch_overhead_s)
    same = replace(h100, unfused_strided_efficiency=None)
    assert same.strided_efficiency == same.unfused_hbm_efficiency
    assert evaluate(same, "naive", wl).time_s < r.time_s  # the strided kernels are the slower streams
    with pytest.raises(HardwareError, match="unfused_strided_efficiency"):
        replace(h100, unfused_strided_efficiency=h100.hbm_efficiency + 0.01)


@pytest.mark.parametrize("hw_name, algo, kv_len", [("h100", "flash3", 1), ("h100", "flash2", 1), ("b200", "flash4", 64)])
def test_a_call_whose_visited_tiles_reach_no_key_still_prices(hw_name, algo, kv_len):
    """Causal over 4k queries and so few keys that random empty tiles leave no K/V to reach: the L2 working set is
    empty (it once divided by it: ZeroDivisionError)."""
    r = evaluate(hardware(hw_name), algo, Workload(seq_len=4096, kv_len=kv_len, causal=True, sparsity=0.5))
    assert math.isfinite(r.time_s) and r.time_s > 0


def test_a_split_prefill_writes_its_partials_and_spills_what_l2_cannot_hold():
    """FA2's split-KV kernel writes each split's partial O and LSE in fp32 instead of O (compute_attn_1rowblock_splitkv:
    oaccum); the combine writes O. A decode call's partials are kilobytes and stay in L2; a 304-token prefill at d=256
    splits 5 ways on an A100 (num_splits_heuristic over 2 x 108 SMs) and writes 50 MB of partials, 8 MB past its L2."""
    from simulator.gpu_model import SPLIT_PARTIAL_BYTES, _split_partials
    from simulator.gpu_kernels import kernel_config

    a100 = hardware("a100")
    wl = Workload(heads=32, head_dim=256, seq_len=304)
    r = evaluate(a100, "flash2", wl)
    assert r.detail["splits"] == 5
    rows = 32 * 304
    partials = rows * 5 * SPLIT_PARTIAL_BYTES * 257
    extra = _split_partials(kernel_config("flash2", a100, wl), a100, wl, 5)
    assert extra == pytest.approx(partials - a100.l2_bytes - rows * 256 * 2)
    decode = Workload(heads=32, head_dim=128, seq_len=1, kv_len=32768)
    d = evaluate(a100, "flash-decoding", decode)
    assert d.detail["splits"] > 1
    assert _split_partials(kernel_config("flash-decoding", a100, decode), a100, decode, d.detail["splits"]) < 0  # O saved
    assert _split_partials(kernel_config("flash2", a100, wl), a100, wl, 1) == 0.0
    # the call's bytes count the combine's too: it writes O and reads back the spilled partials (until 2026-12-07 a
    # split call reported its Q, K and V without O, the combine's seconds in its time but not its bytes)
    unsplit = evaluate(a100, "flash-decoding", replace(decode, num_splits=1))
    assert d.cost.hbm_bytes == unsplit.cost.hbm_bytes == 32 * 2 * 128 * 2 + 32 * 32768 * 128 * 2 * 2
    assert r.cost.hbm_bytes == pytest.approx(4 * rows * 256 * 2 + 2 * (partials - a100.l2_bytes))  # Q, K, V, O


def test_on_a_capped_part_no_kernels_mmas_outrun_the_gemm_measured_under_the_cap():
    """The H20's tensor rate is capped at the chip (148 TFLOP/s); a large torch.matmul reaches 96.1% of it
    (gemm_efficiency, measured). An attention kernel's MMAs there run at the lower of its path's fitted efficiency
    (the H100's wgmma 1.0) and that share: FA3's tensor-bound tiles take 1/0.961 as long. An uncapped part (the
    H100, or the H20 with its cap lifted) keeps its path's figure."""
    h20, h100 = hardware("h20"), hardware("h100")
    assert h20.tensor_capped and not h100.tensor_capped
    assert h20.mma_path("wgmma")[0] == h20.gemm_efficiency == 0.961
    assert h100.mma_path("wgmma")[0] == h100.wgmma_efficiency
    lifted = replace(h20, uncapped_tensor_flops_per_clk_sm=dict(h20.tensor_flops_per_clk_sm))
    assert not lifted.tensor_capped and lifted.mma_path("wgmma")[0] == h20.wgmma_efficiency
    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    capped, free = evaluate(h20, "flash3", wl), evaluate(replace(h20, gemm_efficiency=1.0), "flash3", wl)
    assert capped.time_s / free.time_s == pytest.approx(1 / 0.961, rel=0.01)


def test_a_layer_call_runs_vllm_s_one_warpgroup_fa3_decode_tile():
    """vllm_flash_attn hopper/heuristics.h use_one_mma_wg: head dim 64/128, no window, seqlen_q x group <= 64 ->
    one MMA warpgroup on 64 rows (tile_size_fwd_sm90); upstream FA3 (--scope kernel) keeps 128."""
    spec = hardware("h20")
    wl = Workload(batch=256, heads=64, kv_heads=8, seq_len=1, kv_len=8192)
    layer, kernel = evaluate(spec, "flash3", replace(wl, scope="layer")), evaluate(spec, "flash3", replace(
        wl, page_size=16))
    assert (layer.detail["block_q"], layer.detail["block_kv"]) == (64, 128) and kernel.detail["block_q"] == 128
    assert layer.bound == "tensor" and layer.time_s < 0.6 * kernel.time_s  # half the padded rows' MMAs
    for other in (replace(wl, scope="layer", head_dim=256), replace(wl, scope="layer", seq_len=9),
                  replace(wl, scope="layer", pattern="window(1k)")):
        assert evaluate(spec, "flash3", other).detail["block_q"] == 128, other


def test_a_layer_call_of_the_cuda_core_flashinfer_decode_says_vllm_runs_tensor_cores():
    row = simulate("h100", "flashinfer-decode", None, heads=32, kv_heads=8, seq_len=1, kv_len=8192, scope="layer")
    assert "use_tensor_cores=True" in row["note"] and "flashinfer-decode-tc" in row["note"]
    assert not simulate("h100", "flashinfer-decode", None, heads=32, kv_heads=8, seq_len=1, kv_len=8192)["note"]


def test_a_uniform_grid_s_last_wave_runs_at_its_own_occupancy():
    """NVIDIA cudnn-frontend's A100 PCIe FA2 calls (held out): 9 heads of 2k, 4k and 8k queries against 62,208 keys
    run 144, 288 and 576 CTAs on 108 SMs x 2 slots, measured 1 : 1.57 : 3.07. At 4k the 72 CTAs left after the full
    wave run alone on 72 SMs (the block scheduler spreads before it stacks), each at a lone CTA's rate, so the call
    takes well under two full waves; at 8k the 144 left fill 36 SMs twice and 72 once, and the 2k call is one
    wave: those keep their slots. The old slots gave 1 : 2 : 3."""
    spec = hardware("a100-pcie")
    t = [evaluate(spec, "flash2", Workload(heads=9, seq_len=q, kv_len=62208, dtype="bf16")).time_s
         for q in (2048, 4096, 8192)]
    assert 1.4 < t[1] / t[0] < 1.7 and abs(t[2] / t[0] - 3.0) < 0.05


def test_a_masked_grid_of_equal_ctas_runs_its_last_wave_as_a_dense_one():
    """A causal call of one query block a head (128 tokens on FA2's 128-row tile) has equal CTAs, each a full and a
    diagonal tile: its last wave runs at its own occupancy like the dense call's, so the causal call costs the dense
    one plus its mask, not the slots' full rate (a causal 128-token A100 call came out 18% dearer than the dense
    one until 2026-12-07); a grid of unequal rows (4k causal) keeps the slots."""
    from simulator.cta_work import equal_rows
    from simulator.gpu_model import fused_config
    from simulator.tiles import tile_rows

    a100 = hardware("a100")

    def call(**kw):
        return evaluate(a100, "flash2", Workload(batch=4, heads=64, kv_heads=8, head_dim=64, dtype="bf16", **kw))

    causal, dense = call(seq_len=128, causal=True), call(seq_len=128)
    assert causal.detail["last_wave"]["ctas"] == dense.detail["last_wave"]["ctas"] == 4 * 64 - 216
    mask = causal.detail["partial_tile_cycles"] / causal.detail["tile_cycles"]
    assert dense.time_s < causal.time_s < dense.time_s * mask
    cfg = fused_config(a100, "flash2", Workload(seq_len=4096, causal=True))
    assert not equal_rows(tile_rows(Workload(seq_len=4096, causal=True), cfg.block_q, cfg.block_kv))
    assert "last_wave" not in call(seq_len=4096, causal=True).detail


def test_explain_names_a_grid_s_last_wave():
    """--explain says when a grid's last wave runs at its own occupancy, and says nothing where it fills its slots."""
    def explain(q):
        r = CliRunner().invoke(cli, ["simulate", "--hw", "a100-pcie", "--algo", "flash2", "--heads", "9", "--seq-len",
                                     str(q), "--kv-len", "62208", "--dtype", "bf16", "--explain"])
        assert r.exit_code == 0, r.output
        return " ".join(r.output.split())
    assert "grid: 1 full wave(s) of 108 x 2 CTAs" in explain(4096) and "the 72 left, 1 an SM" in explain(4096)
    assert "full wave(s)" not in explain(8192)  # its 144 left fill 36 SMs twice: the slots' rate
    assert "grid: 576 work tiles (heads x query blocks x splits) on 108 x 2 CTA slots: one CTA each, 2.67 wave(s)" \
        in explain(8192)
    persistent = CliRunner().invoke(cli, ["simulate", "--hw", "h100", "--algo", "flash3", "--seq-len", "8k",
                                          "--explain"]).output
    assert "persistent CTAs, one a slot, loop over them" in " ".join(persistent.split())


@pytest.mark.parametrize("algo", ["flash2", "flash3"])
def test_one_mask_written_two_ways_runs_one_way(algo):
    """A & A and A | A are A, and windows under & intersect into one window FlashAttention takes as its own
    (window(1k)&window(2k) is window(1k)): the audit found causal|causal 5% slower than causal on FA3 (another
    tile) and window(1k)&window(2k) 9% faster than window(1k) on FA2 (the block-sparse path, no every-tile mask)."""
    from simulator.api import run_points

    def time(pattern, hw="a100" if algo == "flash2" else "h100"):
        return run_points([dict(hardware=hw, algorithm=algo, seq_len=16384, pattern=pattern)])[0]["time_s"]

    assert time("causal|causal") == time("causal&causal") == time("causal")
    assert time("window(1k)&window(2k)") == time("window(1k)&window(1k)") == time("window(1k)")
    assert time("window(512,512)&window(1k)") == time("window(512,0)")
    # and a union of windows is the window of the wider sides, FA's own call (it had run FA2's block-sparse path)
    assert time("window(1k)|window(2k)") == time("window(2k)")
    assert time("window(1k)|window(512,512)") == time("window(1023,512)")


def test_a_call_too_small_to_fill_the_gpu_is_grid_bound_not_unit_bound():
    """A 512-token causal FA3 call of 8 heads runs 32 CTAs on 132 SMs: it was 'tensor-bound' at 5% of the tensor roof.
    A partial wave whose unit still works near its roof (a long decode's HBM stream) keeps that unit's name; the
    column path (a sweep) names it as the scalar path does."""
    from simulator.api import run_points

    small, decode = run_points([dict(hardware="h100", algorithm="flash3", seq_len=512, heads=8, causal=True),
                                dict(hardware="h100", algorithm="flash3", seq_len=1, kv_len=131072, kv_heads=8,
                                     dtype="bf16")])
    assert small["bound"] == "grid" and max(small["utilization"].values()) < 0.5
    assert decode["bound"] == "hbm"
    points = [dict(hardware="h100", algorithm="flash3", seq_len=n, heads=8, causal=True) for n in (512, 1024, 65536)
              for _ in range(30)]  # enough for the column path
    rows = run_points(points)
    alone = [run_points([p])[0]["bound"] for p in points[::30]]
    assert [r["bound"] for r in rows[::30]] == alone and alone[0] == "grid" and alone[-1] != "grid"
