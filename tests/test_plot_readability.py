"""Plots people can read: labelled log ticks where the curves are, accelerator points on (never above)
the roof that binds them, and breakdown colours no two Einsums share."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from cli.plots.breakdown import _part_style, einsum_palette  # noqa: E402
from cli.plots.lines import _speedup_axis  # noqa: E402
from cli.plots.roofline import binding_roofs  # noqa: E402
from simulator import run_points  # noqa: E402


def _labelled_ticks(ys) -> list[float]:
    fig, ax = plt.subplots()
    ax.plot(range(len(ys)), ys)
    _speedup_axis(ax, ys, log=False)
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    plt.close(fig)
    return [t for t in ax.get_yticks() if lo <= t <= hi]


def test_a_narrow_log_axis_labels_ticks_beside_each_curve():
    """The decode plot: flash2 between 0.25x and 0.55x, flash3 between 1.4x and 4.1x."""
    ticks = _labelled_ticks([0.25, 0.3, 0.55, 1.4, 2.0, 4.1])
    assert sum(0.25 <= t <= 0.55 for t in ticks) >= 2 and sum(1.4 <= t <= 4.1 for t in ticks) >= 3


def test_accelerator_points_sit_on_or_under_their_binding_roof():
    rows = run_points([dict(hardware="fusemax", algorithm=a, batch=64, heads=12, head_dim=64, seq_len=n)
                       for a in ("unfused", "flat", "fusemax") for n in (1024, 16384, 262144)])
    roofs = binding_roofs(rows)
    for r in rows:
        x = r["flops"] / r["hbm_bytes"]
        (roof,) = [y for rx, y in roofs[r["algorithm"]] if rx == x]
        assert r["flops"] / r["time_s"] <= roof * (1 + 1e-9)
    # FuseMax's 1D array runs far fewer ops per score than FLAT's: its roof is ~7x higher, not one shared line
    assert min(y for _, y in roofs["fusemax"]) > 5 * max(y for _, y in roofs["flat"] if y < 50e12)


def test_eighteen_einsums_get_eighteen_distinct_looks():
    palette = einsum_palette()
    colours: dict = {}
    looks = [_part_style(f"E{i}", colours, palette) for i in range(18)]
    assert len(set(looks)) == 18 and all(c != _part_style("DRAM", colours, palette)[0] for c, _ in looks)


def test_a_latency_above_every_bar_names_the_stall_it_holds():
    """fusemax-arch's predicted latency is well above its 2D, 1D and DRAM bars: the fill/drain stall (no bar
    draws it) is written under the latency, in seconds at the array's clock."""
    from cli.plots.breakdown import _accel_text, evaluate_points

    arch, fused = evaluate_points([dict(hardware="fusemax", algorithm=a, batch=64, heads=12, head_dim=64, seq_len=65536)
                                   for a in ("fusemax-arch", "fusemax")])
    stall_s = arch.result.detail["stall_cycles"] / arch.spec.clock_hz
    assert stall_s > 0.25 * arch.result.time_s and f"incl. {stall_s:.3g} s fill/drain stall" in _accel_text(arch)
    assert "stall" not in _accel_text(fused)
