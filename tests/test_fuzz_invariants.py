"""bench/fuzz_invariants.py: a seeded random sweep of calls keeps every invariant, and its checks catch a break."""

import simulator.api as api
from bench.fuzz_invariants import check, main, run

CHUNKED = ("h100", "flash3", dict(batch=8, heads=16, kv_heads=4, head_dim=64, dtype="bf16", seq_len=4096,
                                  pattern="chunked(4k)"))


def test_a_seeded_sweep_keeps_every_invariant():
    report = run(seed=7, points=500, walks=6)
    assert report["checked"] >= 100, report["checked"]  # most draws run; the kernels refuse the rest in one line
    assert report["failures"] == [], report["failures"][:3]


def test_a_refused_call_is_skipped_not_failed():
    assert check("a100", "flashmla", dict(batch=1, heads=16, kv_heads=1, head_dim=576, v_head_dim=512, seq_len=1,
                                          kv_len=4096)) is None  # FlashMLA is Hopper's only


def test_an_unexplained_speedup_over_one_over_density_is_a_failure(monkeypatch):
    """The chunked FA3 call at head dim 64 beats 1/block density by 16%, which its note explains; without the
    note the sweep reports it."""
    assert check(*CHUNKED) == []
    monkeypatch.setattr(api, "density_note", lambda *a: None)
    assert any(b.startswith("density:") for b in check(*CHUNKED))


def test_a_time_under_a_roof_is_a_failure(monkeypatch):
    """A roof printed above the time (as --scope layer's stream-launch roof once was) is reported."""
    from dataclasses import replace

    import bench.fuzz_invariants as fuzz

    real = fuzz.evaluate
    monkeypatch.setattr(fuzz, "evaluate", lambda *a: (lambda r: replace(r, times={**r.times, "hbm": 2 * r.time_s}))(
        real(*a)))
    assert any(b.startswith("roofs:") for b in check(*CHUNKED))


def test_the_command_line_exits_1_on_a_failure(monkeypatch, capsys):
    assert main(["--seed", "3", "--points", "40", "--walks", "0"]) == 0
    monkeypatch.setattr("bench.fuzz_invariants.check", lambda *a: ["roofs: made up"])
    assert main(["--seed", "3", "--points", "5", "--walks", "0"]) == 1
    assert "invariants broken: 5" in capsys.readouterr().out


def test_the_sweep_lists_a_causal_call_dearer_than_its_full_one(monkeypatch):
    """A causal call visits at most the full call's tiles: the A100's 128-token FA2 call is within the listing's
    margin (18% over until its last wave took the right occupancy), and a schedule that charged the causal grid
    the slots' rate again would be listed; other calls are not compared (None)."""
    import simulator.cta_work as cta_work
    from bench.fuzz_invariants import CAUSAL_OVER, causal_over

    call = dict(batch=4, heads=64, kv_heads=8, head_dim=64, dtype="bf16", seq_len=128)
    assert 1.0 < causal_over("a100", "flash2", call) < 1 + CAUSAL_OVER
    assert causal_over("a100", "flash2", {**call, "seq_len": 1, "kv_len": 4096}) is None
    assert causal_over("a100", "naive", call) is None
    monkeypatch.setattr(cta_work, "equal_rows", lambda tiles, splits=1: bool(tiles.uniform))
    # as an unequal grid, dispatched CTA by CTA at each SM's occupancy (cta_work.occupancy_span): the same figure
    assert causal_over("a100", "flash2", call) < 1 + CAUSAL_OVER
    monkeypatch.setattr(cta_work, "OCCUPANCY_CTAS_PER_SLOT", 0)  # every CTA at the slots' rate
    assert causal_over("a100", "flash2", call) > 1 + CAUSAL_OVER
