"""How a fused kernel's compute and HBM stream combine (gpu_model.overlapped, the fitted stream_overlap_loss)."""

import json
import math
from dataclasses import replace

import pytest

from gpu_models.spec import HardwareError
from simulator import Workload, evaluate, hardware
from simulator.explain import explain_gpu
from simulator.gpu_model import overlap_exponent, overlapped, stream_ratio
from simulator.workload import Workload as W
from validation import kernel_fit

H100 = hardware("h100")
PREFILL = W(seq_len=512)
DECODE = W(seq_len=1, kv_len=8192)
# short calls whose stream nears their compute, and long ones where it does not
SHORT = [("flash3", Workload(batch=b, heads=h, head_dim=d, seq_len=n, causal=c))
         for b, h, d, n, c in ((32, 16, 128, 512, True), (32, 8, 256, 512, True), (32, 16, 128, 512, False),
                               (16, 8, 256, 1024, True), (64, 16, 128, 256, False))]
LONG = [("flash3", Workload(batch=1, heads=16, head_dim=d, seq_len=16384, causal=c))
        for d in (64, 128, 256) for c in (False, True)]


@pytest.mark.parametrize("loss, compute, stream, expected", [
    (None, 2.0, 1.0, 2.0),  # no figure: the larger of the two
    (0.0, 2.0, 1.0, 2.0),
    (1.0, 2.0, 1.0, 3.0),  # nothing overlaps: the sum
    (0.26, 1.0, 1.0, 1.26),  # equal halves: the loss itself
    (0.26, 1.0, 0.2, (1 + 0.2 ** overlap_exponent(replace(H100, stream_overlap_loss=0.26))) ** (
        1 / overlap_exponent(replace(H100, stream_overlap_loss=0.26)))),
])
def test_the_blend_runs_from_the_larger_to_the_sum(loss, compute, stream, expected):
    hw = replace(H100, stream_overlap_loss=loss)
    assert overlapped(hw, PREFILL, {}, compute, stream) == pytest.approx(expected, rel=1e-12)
    assert overlapped(hw, PREFILL, {}, stream, compute) == pytest.approx(expected, rel=1e-12)  # symmetric


def test_p_is_such_that_equal_halves_cost_one_plus_the_loss():
    for loss in (0.05, 0.26, 0.5, 0.99):
        p = overlap_exponent(replace(H100, stream_overlap_loss=loss))
        assert 2 ** (1 / p) == pytest.approx(1 + loss)
    assert math.isinf(overlap_exponent(replace(H100, stream_overlap_loss=0.0)))


def test_decode_and_families_with_their_own_stream_take_the_larger():
    """A decode call's SM time is its loads' latency chain; FlashInfer's kernels wait for their bytes in flight
    inside their compute: neither blends (a decode call by its tile's share of real rows only)."""
    hw = replace(H100, stream_overlap_loss=0.5)
    assert overlapped(hw, DECODE, {}, 1.0, 1.0) == 1.0  # one query and no tile_fill: the larger
    assert overlapped(hw, PREFILL, {"stream_s": 1.0}, 1.0, 1.0) == 1.0
    assert overlapped(hw, PREFILL, {"tile_fill": 0.25}, 1.0, 1.0) == pytest.approx(1.0 + 0.25 * 0.5)
    wl = W(seq_len=128, kv_len=8192)
    assert evaluate(hw, "flashinfer-single-prefill", wl).time_s == evaluate(
        replace(hw, stream_overlap_loss=0.0), "flashinfer-single-prefill", wl).time_s
    r = evaluate(hw, "flash3", DECODE)
    base = evaluate(replace(hw, stream_overlap_loss=0.0), "flash3", DECODE).time_s
    assert r.detail["tile_fill"] == pytest.approx(1 / r.detail["block_q"])  # one row of 128 (MHA: no packing)
    assert base <= r.time_s <= base * (1 + 0.5 * r.detail["tile_fill"])


def test_kernels_whose_mma_warps_issue_their_own_loads_blend_whole_at_one_query():
    """FA2's split-KV decode and FA3's SM80 path cp.async each K/V tile from the warps that run the MMAs and wait for
    it (cp_async_wait + __syncthreads) before its GEMM: a decode call's padded MMAs and its stream contend as a
    prefill's do, so they take the whole blend; FA3 on Hopper, whose TMA producer loads apart from the MMA warps,
    keeps the tile's share of real rows (the published TileOPs and attention-tests decode calls)."""
    hw = replace(H100, stream_overlap_loss=0.5)
    assert overlapped(hw, DECODE, {"tile_fill": 0.01, "loads_in_mma_warps": True}, 1.0, 1.0) == pytest.approx(1.5)
    assert overlapped(hw, DECODE, {"tile_fill": 0.01, "loads_in_mma_warps": False}, 1.0, 1.0) == pytest.approx(1.005)
    wl = W(batch=16, heads=32, seq_len=1, kv_len=32768, page_size=256)
    for name, algo, whole in (("h100", "flash-decoding", True), ("a100", "flash3", True), ("h100", "flash3", False)):
        spec = hardware(name)
        r = evaluate(spec, algo, wl)
        assert r.detail["loads_in_mma_warps"] is whole, (name, algo)
        none = evaluate(replace(spec, stream_overlap_loss=0.0), algo, wl).time_s
        compute, stream = r.times["compute"], r.times["hbm"] + r.times["stream_fill"] + r.times["writeback"]
        p = overlap_exponent(spec)
        lo, hi = sorted((compute, stream))
        full = hi * (1 + (lo / hi) ** p) ** (1 / p) - hi  # what the whole blend adds
        added = r.time_s - none
        assert added == pytest.approx(full, rel=1e-6, abs=1e-12) if whole else added < 0.05 * full + 1e-12, (name, algo)
    # --explain says why the blend is whole at one query
    text = explain_gpu(hardware("a100"), "flash3", wl, evaluate(hardware("a100"), "flash3", wl))
    assert "whole at one query: the MMA warps issue and wait for their own" in " ".join(text.split())


def test_the_blend_rises_with_the_rows_a_tile_holds_not_at_two_queries():
    """GQA decode on FA3 packs the group's query heads into its tile: 1, 2, 4 ... 32 queries fill 4 to 128 of its
    128 rows, and the time rises smoothly through them (it stepped by 6.5% from one query to two when the blend
    switched on at more than one query)."""
    times = [evaluate(H100, "flash3", Workload(batch=8, heads=32, kv_heads=8, seq_len=n, kv_len=32768)).time_s
             for n in (1, 2, 4, 8, 16, 32)]
    steps = [b / a - 1 for a, b in zip(times, times[1:])]
    assert all(0 <= s < 0.04 for s in steps), steps


def test_a_short_prefill_pays_the_blend_and_a_long_one_hardly():
    no = replace(H100, stream_overlap_loss=0.0)
    algo, short = SHORT[0]
    r, base = evaluate(H100, algo, short), evaluate(no, algo, short)
    assert stream_ratio(base) > 0.7 and r.time_s > 1.08 * base.time_s
    assert r.bound == base.bound  # the bound stays the larger roof's
    text = explain_gpu(H100, algo, short, r)
    assert "blended: (C^p + S^p)^(1/p)" in " ".join(text.split())
    assert "blended" not in explain_gpu(H100, *LONG[1], evaluate(H100, *LONG[1]))  # under 0.1%: no line
    algo, long = LONG[1]
    assert evaluate(H100, algo, long).time_s == pytest.approx(evaluate(no, algo, long).time_s, rel=2e-3)


def test_columns_and_single_calls_blend_alike():
    """run_points evaluates many points of one plan over columns: the blend there (decode rows included) is the
    single call's."""
    from unittest import mock

    import simulator.api as api

    points = [dict(hardware="h100", algorithm="flash3", batch=8, heads=16, head_dim=128, seq_len=n, kv_len=max(n, 4096),
                   causal=False) for n in (1, 2, 64, 256, 512, 1024, 2048, 4096) * 2]
    with mock.patch.object(api, "_simulate_columns", wraps=api._simulate_columns) as columns:
        together = api.run_points(points)
    assert columns.called
    for point, row in zip(points, together):
        alone = api.simulate(point["hardware"], point["algorithm"],
                             **{k: v for k, v in point.items() if k not in ("hardware", "algorithm")})
        assert row["time_s"] == alone["time_s"], point


@pytest.mark.parametrize("value", [-0.1, 1.5, "some"])
def test_the_loss_must_be_a_fraction(value):
    with pytest.raises(HardwareError, match="stream_overlap_loss must be a fraction in \\[0, 1\\]"):
        replace(H100, stream_overlap_loss=value)


def test_every_gpu_with_fused_kernels_carries_a_cited_loss():
    for name in ("a100", "a100-40gb", "a100-pcie", "a800", "a800-pcie", "h100", "h100-pcie", "h20", "h200", "h800", "b200", "gb200"):
        hw = hardware(name)
        assert 0 < hw.stream_overlap_loss < 1, name
        assert "attnsim calibrate --kernels" in hw.sources["stream_overlap_loss"], name


from synthetic import synthetic_file as _file  # noqa: E402  (tests/synthetic.py)


def test_calibrate_recovers_the_loss_that_made_the_timings(tmp_path):
    """Timings made with a known loss are fitted back to it (--only overlap), from the short calls and the long
    ones together; the other figures stay as bundled."""
    truth = replace(H100, stream_overlap_loss=0.45)
    toml, fits = kernel_fit.calibrate_kernels([_file(tmp_path, truth, SHORT + LONG)], only=("overlap",))
    (fit,) = fits
    assert fit.target == "overlap" and fit.n == len(SHORT + LONG)
    assert fit.values["stream_overlap_loss"] == pytest.approx(0.45, abs=0.01)
    assert fit.loo_max_abs_error < 0.01
    assert "--only overlap" in toml["stream_overlap_loss"]["source"]


def test_the_loss_is_not_fitted_from_calls_that_cannot_tell_it(tmp_path):
    """Long calls' streams are a few % of their compute: the loss moves them by well under 1%, so without
    MIN_POINTS calls at a stream of half their compute or more the target is not fitted at all."""
    path = _file(tmp_path, H100, LONG + SHORT[:kernel_fit.MIN_POINTS - 1])
    doc = json.loads(open(path).read())
    assert "overlap" not in kernel_fit.fit_points(doc, H100, only=("overlap",))
    from einsum_cascades.errors import UserError

    with pytest.raises(UserError, match="for overlap, fused prefill calls whose HBM stream is at least 0.5 of their "
                                        "compute"):
        kernel_fit.calibrate_kernels([path], only=("overlap",))
    assert "overlap" in kernel_fit.fit_points(json.loads(open(_file(tmp_path, H100, LONG + SHORT)).read()), H100)


def test_explain_says_how_many_of_a_decode_tiles_rows_hold_queries():
    """A decode call's tile is mostly padding that costs compute as real rows do: --explain says how much (FA2's GQA
    decode on an A100, the group's 4 query heads in a 128-row tile), and says nothing of the kind for a prefill."""
    wl = W(batch=64, heads=32, kv_heads=8, seq_len=1, kv_len=8192)
    a100 = hardware("a100")
    text = " ".join(explain_gpu(a100, "flash-decoding", wl, evaluate(a100, "flash-decoding", wl)).split())
    assert "4 of the tile's 128 rows hold packed query heads (3%)" in text
    prefill = W(seq_len=8192)
    assert "rows hold" not in explain_gpu(H100, "flash3", prefill, evaluate(H100, "flash3", prefill))
