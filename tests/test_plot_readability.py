"""Plots people can read: labelled log ticks where the curves are, accelerator points on (never above)
the roof that binds them, and breakdown colours no two Einsums share."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from cli.plots.breakdown import _part_colour, einsum_palette  # noqa: E402
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
    looks = [_part_colour(f"E{i}", colours, palette) for i in range(18)]
    assert len(set(looks)) == 18 and all(c != _part_colour("DRAM", colours, palette) for c in looks)


def test_a_latency_above_every_bar_names_the_stall_it_holds():
    """fusemax-arch's predicted latency is well above its 2D, 1D and DRAM bars: the fill/drain stall (no bar
    draws it) is written under the latency, in seconds at the array's clock."""
    from cli.plots.breakdown import _accel_text, evaluate_points

    arch, fused = evaluate_points([dict(hardware="fusemax", algorithm=a, batch=64, heads=12, head_dim=64, seq_len=65536)
                                   for a in ("fusemax-arch", "fusemax")])
    stall_s = arch.result.detail["stall_cycles"] / arch.spec.clock_hz
    assert stall_s > 0.25 * arch.result.time_s and f"incl. {stall_s:.3g} s fill/drain stall" in _accel_text(arch)
    assert "stall" not in _accel_text(fused)


@pytest.mark.parametrize("algo,kw", [
    ("flash3", dict(seq_len=1, kv_len=8192, kv_heads=4)), ("flash-decoding", dict(seq_len=1, kv_len=8192)),
    ("flash3", dict(seq_len=16384, pattern="window2d(128,128,7,7)")), ("flash2", dict(seq_len=4096, causal=True)),
])
def test_every_roof_a_breakdown_draws_has_a_name_and_a_colour_of_its_own(algo, kw):
    """The breakdown names each roof in words and gives it its own colour (no raw key such as 'prepare' in the
    legend, no two resources sharing a colour)."""
    from cli.plots.breakdown import GPU_RESOURCES, RESOURCE_COLORS
    from simulator import Workload, evaluate, hardware

    r = evaluate(hardware("h100"), algo, Workload(heads=32, head_dim=128, **kw))
    assert set(r.times) <= set(GPU_RESOURCES) and set(GPU_RESOURCES) == set(RESOURCE_COLORS)
    assert len(set(RESOURCE_COLORS.values())) == len(RESOURCE_COLORS)


def _time_axis_labels(lo: float, hi: float) -> list[tuple[str, object]]:
    """(label, window extent) of every labelled tick on a square log axis of seconds from lo to hi, as the
    validation scatter draws it (7 x 6 inches, equal aspect)."""
    from cli.plots.style import seconds_axis

    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.plot([lo, hi], [lo, hi])
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    seconds_axis(ax.xaxis)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    out = [(t.get_text(), t.get_window_extent(renderer)) for t in ax.xaxis.get_majorticklabels()
           + ax.xaxis.get_minorticklabels() if t.get_text() and t.get_visible()]
    plt.close(fig)
    return out


@pytest.mark.parametrize("lo, hi", [(150e-6, 5e-3), (8e-6, 600e-6), (150e-6, 1.1e-3), (1e-6, 1.0)])
def test_time_tick_labels_on_the_validation_scatter_never_overlap(lo, hi):
    """A 1.5-decade scatter labelled 200, 300, 400 and 600 us beside the decades, and '300 us' ran into
    '400 us' (2026-12-06); now 2 and 5 within two decades, 2, 3, 4 and 6 within one."""
    labels = _time_axis_labels(lo, hi)
    assert len(labels) >= 3  # still labelled where the points are
    boxes = sorted((box.x0, box.x1, text) for text, box in labels)
    for (x0, x1, a), (y0, _, b) in zip(boxes, boxes[1:]):
        assert x1 <= y0, f"{a!r} overlaps {b!r}"


def test_roofline_point_labels_never_overlap_and_say_how_many_were_left_out(tmp_path, monkeypatch):
    """A decode sweep stacks every point at one intensity: each label that finds no free spot is left out (a label
    drawn over another reads as neither), the ends of each kernel's series are placed first, the count left out is
    written on the plot, and N, which every point shares, is in the caption instead of every label."""
    from cli.plots import roofline, style
    from simulator import hardware

    kept = {}
    monkeypatch.setattr(style, "save", lambda fig, output: kept.setdefault("fig", fig))
    rows = run_points([dict(hardware="h100", algorithm=a, heads=32, kv_heads=8, seq_len=1, kv_len=n)
                       for a in ("flash3", "flashinfer-decode", "flash-decoding") for n in (1024 << i for i in range(8))])
    roofline.roofline_figure(hardware("h100"), rows, "", str(tmp_path / "r.png"))
    fig = kept["fig"]
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if t.get_text().startswith("Nkv=")]
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert all(not a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    notes = [t.get_text() for t in ax.texts if "left out" in t.get_text()]
    assert len(labels) + int(notes[0].split()[0]) == len(rows) if notes else len(labels) == len(rows)
    for algo in ("flash3", "flashinfer-decode", "flash-decoding"):  # every series keeps its two ends
        texts = [t.get_text() for t in labels if t.get_color() == style.algo_color(algo)]
        assert {"Nkv=1k", "Nkv=128k"} <= set(texts), (algo, texts)
    assert "N=1" in ax.get_title() and "labels: Nkv" in ax.get_legend().get_title().get_text()
    plt.close(fig)


def test_a_title_over_axes_pushed_aside_by_long_labels_is_wrapped_to_stay_on_the_figure(tmp_path, monkeypatch):
    """Long tick labels push the axes, and the title centred over them, to one side: save wraps it again to the room
    left, so no line runs off the figure (the evidence plot's --split labels did)."""
    from cli.plots import style

    fig, ax = plt.subplots(figsize=(7.5, 3))
    ax.barh(range(3), [1, 2, 3])
    ax.set_yticks(range(3))
    ax.set_yticklabels(["h100  flashinfer-single-decode-tc  decode 16-bit (6)"] * 3)
    style.set_title(ax, "attnsim against published timings, per GPU model and family, phase and input width",
                    "282 points no bundled figure was fitted from (counts in brackets)")
    kept = {}
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: kept.setdefault("box", ax.title.get_window_extent(
        fig.canvas.get_renderer())))
    style.save(fig, str(tmp_path / "t.png"))
    box = kept["box"]
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width and ax.get_title().count("\n") >= 2
