"""What a relative-consistency audit over unpublished shapes (session 67) found, each mended: one mask written two
ways gets one time."""

import pytest

from simulator import simulate
from simulator.workload import Workload


# ---------------------------------------------------------------- one mask, one kernel path

def test_a_head_mix_whose_groups_all_run_one_pattern_is_that_pattern():
    # heads(2: A, 2: A) over 4 heads is A on every head, as heads(4: A) is: the same mask, so the same kernel path
    # (it had run as a mix: FA2 on Block-Sparse-Attention's kernel, never split, FlashInfer refused it)
    for text in ("heads(2: window(1k), 2: window(1k))", "causal&heads(4: window(1k))",
                 "heads(1: window(1k), 3: window(1k))"):
        assert Workload(heads=4, kv_heads=1, causal=True, pattern=text).pattern in ("window(1k)",
                                                                                    "causal&window(1k)"), text
    assert Workload(heads=4, pattern="heads(2: causal, 2: causal)").pattern is None
    assert Workload(heads=4, pattern="heads(2: causal, 2: causal)").causal
    # groups that differ stay a mix, and counts that do not sum to --heads are still refused
    assert Workload(heads=4, pattern="heads(2: window(1k), 2: causal)").pattern == "heads(2: window(1k), 2: causal)"
    with pytest.raises(Exception, match="must sum to 4"):
        Workload(heads=4, pattern="heads(2: window(1k), 1: window(1k))")


@pytest.mark.parametrize("hw, algo, window, shape", [
    # B300 FA2 decode: 0.0498 ms as a mix (one unsplit Block-Sparse-Attention launch) against 0.0358 ms as the window
    ("b300", "flash2", "1k", dict(seq_len=1, kv_len=65536, batch=16, heads=4, kv_heads=1)),
    # H20 FA3 decode: 18.0 us as a mix (2 splits) against 13.9 us as the window (1 split)
    ("h20", "flash3", "256", dict(seq_len=1, kv_len=4096, batch=16, heads=16, kv_heads=4, head_dim=64)),
    ("h100", "flash2", "1k", dict(seq_len=8192, heads=32, kv_heads=8)),
    ("h100", "flashinfer-prefill", "1k", dict(seq_len=8192, heads=32, kv_heads=8)),
])
def test_a_head_mix_of_one_pattern_times_as_that_pattern(hw, algo, window, shape):
    h = shape["heads"]
    half = f"{h // 2}: window({window})"
    mix = simulate(hw=hw, algo=algo, causal=True, pattern=f"heads({half}, {half})", **shape)
    plain = simulate(hw=hw, algo=algo, causal=True, pattern=f"window({window})", **shape)
    assert mix["time_s"] == plain["time_s"] and mix["splits"] == plain["splits"]
    assert mix["speedup"] == plain["speedup"]
