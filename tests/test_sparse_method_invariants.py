"""Invariants of the sparse methods' calls, as property tests.

What is proved: MInference's vertical-slash call is never faster than its tiles allow (speedup over the same
kernel's dense run <= dense tiles / its blocks and strips, up to list scheduling's slack, as for any mask); an
estimate only ever adds time; NSA's selection never beats the blocks its tokens keep.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator import Workload, evaluate, hardware, simulate

fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(hw_name=st.sampled_from(["a100", "h100", "b200"]), n=st.sampled_from([16384, 65536, 262144]),
       v=st.integers(30, 2000), s=st.integers(50, 8000), place=st.sampled_from(["log", "even"]))
def test_vertical_slash_speedup_never_exceeds_its_tiles(hw_name, n, v, s, place):
    """Speedup over the same kernel's dense causal run <= (dense tiles / blocks and strips) * (1 + 2 / waves):
    Graham's bound on the dense run's greedy schedule (tests/test_simulator_invariants.py)."""
    pattern = f"vertical_slash({v},{s},place={place})"
    row = simulate(hw_name, "flash2", seq_len=n, causal=True, pattern=pattern, block_size=64)
    dense = evaluate(hardware(hw_name), "flash2", Workload(seq_len=n, causal=True, block_size=64))
    waves = 32 * (n // 64) / (hardware(hw_name).sms * dense.detail["ctas_per_sm"])
    assert row["speedup"] <= dense.block_density / row["block_density"] * (1 + 2 / waves)


@fast
@given(name=st.sampled_from(["minference-vs", "minference-block", "seer-gate", "nsa-compress", "moba-gate"]),
       n=st.sampled_from([8192, 65536, 262144]))
def test_an_estimate_only_adds_time(name, n):
    call = dict(seq_len=n, causal=True, heads=32, kv_heads=8, block_size=64,
                pattern="vertical_slash(1000,6096)" if name == "minference-vs" else "topk(16)")
    algo = "nsa-select" if name in ("nsa-compress", "moba-gate") else "flash2"
    plain, est = simulate("h100", algo, **call), simulate("h100", algo, estimate=name, **call)
    assert est["estimate_s"] > 0 and est["time_s"] > plain["time_s"] and est["speedup"] < plain["speedup"]


@pytest.mark.parametrize("algo", ["nsa-select", "nsa-select@kv-outer"])
def test_selection_never_beats_its_kept_blocks(algo):
    """The selected attention cannot take less time than its useful tensor work at the tensor roof: every kept
    (token, block) pair costs at least its G x 64 x (d + dv) multiply-adds."""
    hw = hardware("h100")
    wl = Workload(seq_len=65536, heads=64, kv_heads=4, causal=True, pattern="topk(16)")
    r = evaluate(hw, algo, wl)
    useful = r.flops / (hw.sms * hw.tensor_flops_per_clk_sm["fp16"] * hw.sustained_clock_hz)
    assert r.time_s > useful
