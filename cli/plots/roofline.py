"""The roofline of one machine with each simulated kernel placed on it.

x is arithmetic intensity (useful attention FLOPs per HBM / DRAM byte), y the
attention FLOP/s the model predicts. Compute roofs are horizontal, bandwidth
roofs are slopes y = bandwidth * x.
"""

import math
from dataclasses import dataclass

from cli.plots import style
from cli.plots.series import SHORT_NAMES, variant_text, varying_keys
from simulator.result import SERIAL_BOUNDS
from simulator.workload import FMA_FLOPS

TERA = 1e12
MARGIN = 4.0  # how far the x axis reaches beyond the outermost point or ridge
MARKER_PT = 7
HALO_PT = 4  # a kernel's markers grow by this per kernel drawn on the same points (the two price alike)
# Where a point's label may go, in points from the marker: close first, then farther out.
LABEL_OFFSETS = ((7, 5), (7, -6), (-7, 5), (-7, -6), (0, 11), (0, -12), (7, 15), (7, -16), (-7, 15), (-7, -16),
                 (0, 22), (0, -23), (18, 0), (-18, 0))
SLOPE_LABEL_AT = 0.62  # where along each bandwidth roof (in log x) its name is written


@dataclass(frozen=True, slots=True)
class Roof:
    """A compute roof (``flops``, FLOP/s) or a bandwidth roof (``bytes_s``, B/s)."""

    label: str
    flops: float | None = None
    bytes_s: float | None = None


def flops_per_score(head_dim: int) -> int:
    """Attention FLOPs per score element (QK^T and PV, one FMA each per d): 4 * d."""
    return 2 * FMA_FLOPS * head_dim


def roofs(spec, dtype: str, head_dims) -> list[Roof]:
    """The machine's roofs; the exp / 1D-array roof as attention FLOP/s at each head dim (one op per score)."""
    if spec.kind == "gpu":
        tensor = spec.tensor_peak_flops(dtype, spec.sustained_clock_hz) * spec.gemm_efficiency
        out = [Roof(f"tensor {dtype}, achievable ({spec.gemm_efficiency:.0%} of peak)", flops=tensor)]
        out += [Roof(f"exp on SFUs, d={d} (4·d FLOP per exp)", flops=spec.sfu_peak_ops() * flops_per_score(d))
                for d in head_dims]
        return out + [Roof(f"HBM, achievable {spec.hbm_achievable_bw / TERA:.2f} TB/s", bytes_s=spec.hbm_achievable_bw),
                      Roof(f"L2 {spec.l2_bw_bytes_s / TERA:.0f} TB/s", bytes_s=spec.l2_bw_bytes_s)]
    out = [Roof(f"2D array {spec.pe2d_rows}×{spec.pe2d_cols} MACs", flops=spec.peak_2d_macs * FMA_FLOPS)]
    out += [Roof(f"1D array {spec.pe1d_count} PEs, d={d} (1 op per score)", flops=spec.peak_1d_ops * flops_per_score(d))
            for d in head_dims]
    return out + [Roof(f"DRAM {spec.dram_bw_bytes_s / 1e9:.0f} GB/s", bytes_s=spec.dram_bw_bytes_s)]


def kernel_points(rows: list[dict]) -> dict[str, list[tuple]]:
    """algorithm -> [(label, FLOP per byte, FLOP/s)] in input order; the label is N plus any other field that varies
    (N alone where nothing else does; without N where it does not vary and something else does: a decode sweep's
    'Nkv=32k', its one query in the caption)."""
    others = varying_keys(rows, exclude="seq_len")
    with_n = _labels_hold_n(rows)
    out: dict[str, list[tuple]] = {}
    for r in rows:
        parts = [style.size_label(r["seq_len"])] if with_n else []
        label = ", ".join(parts + [variant_text(tuple((k, r[k]) for k in others))]).strip(", ")
        out.setdefault(r["algorithm"], []).append((label, r["flops"] / r["hbm_bytes"], r["flops"] / r["time_s"]))
    return out


def label_names(rows: list[dict]) -> str:
    """What a point's label holds, for the legend's title: 'N', 'N, d', or 'Nkv' where N does not vary."""
    others = [SHORT_NAMES[k] for k in varying_keys(rows, exclude="seq_len")]
    return ", ".join((["N"] if _labels_hold_n(rows) else []) + others)


def _labels_hold_n(rows: list[dict]) -> bool:
    """Whether the point labels give N: unless every point shares it and another field varies (the caption then
    gives it)."""
    return len({r["seq_len"] for r in rows}) > 1 or not varying_keys(rows, exclude="seq_len")


def roofline_figure(spec, rows: list[dict], note: str, output: str) -> None:
    """Roofs of ``spec`` on log-log axes with each (algorithm, seq len) point labelled."""
    plt = style.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    ax.set_xscale("log")
    ax.set_yscale("log")
    style.plain_log_axis(ax.xaxis)  # 200 TFLOP/s, not 2 x 10^2
    style.plain_log_axis(ax.yaxis)
    the_roofs = roofs(spec, rows[0]["dtype"], sorted({r["head_dim"] for r in rows}))
    if spec.kind == "accelerator":  # each configuration runs its own 1D ops per score: its roofs are marked per point
        the_roofs = [r for r in the_roofs if not r.label.startswith("1D")]
    points = kernel_points(rows)
    x_lo, x_hi = _x_range(the_roofs, points)
    slopes = _draw_roofs(ax, the_roofs, x_lo, x_hi)
    names = list(points)
    for i, (algo, pts) in enumerate(points.items()):
        over = _covering(pts, [points[a] for a in names[i + 1:]])  # drawn larger: the points on it leave a rim
        ax.plot([x for _, x, _ in pts], [y / TERA for _, _, y in pts], linestyle="none", color=style.algo_color(algo),
                marker=style.algo_marker(algo), markersize=MARKER_PT + HALO_PT * over, label=algo, zorder=3)
    if spec.kind == "accelerator":
        _mark_binding_roofs(ax, rows)
    memory = "HBM" if spec.kind == "gpu" else "DRAM"
    ax.set_xlabel(f"arithmetic intensity (attention FLOP per {memory} byte)")
    ax.set_ylabel("attention throughput (TFLOP/s)")
    ax.set_xlim(x_lo, x_hi)
    ys = [y / TERA for pts in points.values() for _, _, y in pts]
    top = max(r.flops for r in the_roofs if r.flops) / TERA
    ax.set_ylim(min(ys + [top]) / MARGIN, top * 1.8)
    keys = ("batch", "heads", "head_dim", "dtype", "mask", "scope", "page_size", "varlen", "num_splits")
    if not _labels_hold_n(rows):
        keys = ("batch", "heads", "head_dim", "queries", *keys[3:])  # N is no label's: the caption says it
    marks = ("bars: each point's binding roof (1D-array roofs depend on the configuration's ops per score; "
             "compute- or stall-bound: the arrays' work in series, at the point)") \
        if spec.kind == "accelerator" else ""
    style.set_title(ax, f"Roofline: {spec.display_name}", style.caption(rows, keys), marks, note)
    legend = ax.legend(loc="best", title=f"kernel (labels: {label_names(rows)})")
    style.literal_text(fig)
    fig.tight_layout()  # the label angles and collisions below are measured on the final layout
    _label_slopes(ax, slopes)
    _label_points(ax, points, avoid=legend)
    style.save(fig, output)


def _covering(pts: list[tuple], later: list[list[tuple]]) -> int:
    """How many kernels drawn after these points lie on every one of them (the same labels, x and y
    ``style.same``): FlashInfer's fa3 backend under FA3 would otherwise not show."""
    mine = {label: (x, y) for label, x, y in pts}
    return sum(len(other) == len(pts) and all(label in mine and style.same(x, mine[label][0])
                                              and style.same(y, mine[label][1]) for label, x, y in other)
               for other in later)


def binding_roofs(rows: list[dict]) -> dict[str, list[tuple]]:
    """algorithm -> [(FLOP per byte, FLOP/s)]: the throughput each point would reach if the unit that binds it
    were all there was (its attention FLOPs over that unit's time alone). A point sits on or under it; one bound
    by the arrays' work in series (compute, stall: accel_model._bound) sits on it, that work being its time."""
    out: dict[str, list[tuple]] = {}
    for r in rows:
        # the bound unit's time alone / the point's time
        busy = 1.0 if r["bound"] in SERIAL_BOUNDS else r["utilization"].get(r["bound"])
        if busy:
            out.setdefault(r["algorithm"], []).append((r["flops"] / r["hbm_bytes"], r["flops"] / (busy * r["time_s"])))
    return out


def _mark_binding_roofs(ax, rows) -> None:
    """A short bar in each point's colour on the roof of the unit that binds it (the 2D or 1D array at that
    configuration's ops per score, or DRAM)."""
    for algo, marks in binding_roofs(rows).items():
        ax.plot([x for x, _ in marks], [y / TERA for _, y in marks], linestyle="none", marker="_", markersize=22,
                markeredgewidth=2.2, color=style.algo_color(algo), zorder=2)
    ax.plot([], [], linestyle="none", marker="_", markersize=14, markeredgewidth=2.2, color="0.3",
            label="binding roof (a unit's, or the arrays' work in series)")


def _x_range(the_roofs, points) -> tuple[float, float]:
    top = max(r.flops for r in the_roofs if r.flops)
    ridges = [top / r.bytes_s for r in the_roofs if r.bytes_s]
    xs = [x for pts in points.values() for _, x, _ in pts] + ridges
    return _decade_floor(min(xs) / MARGIN), _decade_ceil(max(xs) * MARGIN)


def _decade_floor(v: float) -> float:
    return 10.0 ** math.floor(math.log10(v))


def _decade_ceil(v: float) -> float:
    return 10.0 ** math.ceil(math.log10(v))


def _draw_roofs(ax, the_roofs, x_lo, x_hi) -> list[tuple]:
    """Compute roofs from their ridge with the slowest memory to the right edge; slopes up to the top roof."""
    top = max(r.flops for r in the_roofs if r.flops)
    slowest = min(r.bytes_s for r in the_roofs if r.bytes_s)
    slopes = []
    for i, r in enumerate(the_roofs):
        if r.flops:
            x0 = max(x_lo, r.flops / slowest)
            ax.plot([x0, x_hi], [r.flops / TERA] * 2, color="black" if i == 0 else "0.45",
                    linestyle="-" if i == 0 else "-.", linewidth=1.4)
            ax.annotate(f"{r.label}: {r.flops / TERA:,.0f} TFLOP/s", (x_hi, r.flops / TERA), xytext=(-4, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8, color="0.2")
        else:
            x1 = top / r.bytes_s
            line = ax.plot([x_lo, x1], [x_lo * r.bytes_s / TERA, top / TERA], color="0.3",
                           linestyle="--" if r.bytes_s == slowest else ":", linewidth=1.3)[0]
            slopes.append((r, line))
    return slopes


def _label_slopes(ax, slopes) -> None:
    """Write each bandwidth roof's name along its line, rotated to the line's on-screen angle."""
    for r, line in slopes:
        (xa, xb), (ya, yb) = line.get_data()
        x = xa * (xb / xa) ** SLOPE_LABEL_AT
        y = x * r.bytes_s / TERA
        (px0, py0), (px1, py1) = ax.transData.transform([(x, y), (x * 10, y * 10)])
        angle = math.degrees(math.atan2(py1 - py0, px1 - px0))
        ax.annotate(r.label, (x, y), xytext=(0, 4), textcoords="offset points", rotation=angle,
                    rotation_mode="anchor", fontsize=8, color="0.2")


def _label_points(ax, points, avoid) -> None:
    """Label each point with its sequence length at the first nearby spot free of text, markers and ``avoid``."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    px = MARKER_PT * ax.figure.dpi / 72
    taken = [avoid.get_window_extent(renderer)]
    for t in ax.texts:
        box = t.get_window_extent(renderer)
        taken += _diagonal_boxes(box, len(t.get_text())) if t.get_rotation() else [box]
    for pts in points.values():
        for _, x, y in pts:
            cx, cy = ax.transData.transform((x, y / TERA))
            taken.append(Bbox.from_bounds(cx - px / 2, cy - px / 2, px, px))
    left_out = 0
    for algo, i in _label_order(points):  # each kernel's first and last points first, then the ones between
        label, x, y = points[algo][i]
        box = _place(ax, renderer, label, (x, y / TERA), style.algo_color(algo), taken)
        if box is None:
            left_out += 1
        else:
            taken.append(box)
    if left_out:
        many = left_out != 1
        ax.text(0.99, 0.01, f"{left_out} point label{'s' * many} left out where {'they' if many else 'it'} would "
                "overlap", transform=ax.transAxes, ha="right", va="bottom", fontsize=7, color="0.35")


def _label_order(points: dict) -> list[tuple]:
    """(algorithm, index) of every point: the ends of each kernel's series first (a sweep's range stays readable
    when its middle labels find no room), then the rest in order."""
    ends = [(a, i) for a, pts in points.items() for i in dict.fromkeys((0, len(pts) - 1))]
    return ends + [(a, i) for a, pts in points.items() for i in range(1, len(pts) - 1)]


def _diagonal_boxes(box, n: int) -> list:
    """A rotated label (rising left to right) as ``n`` small boxes along its diagonal, not its whole bounding box."""
    from matplotlib.transforms import Bbox

    w, h = box.width / n, box.height / n
    side = max(w, h) * 0.9
    return [Bbox.from_bounds(box.x0 + (i + 0.5) * w - side / 2, box.y0 + (i + 0.5) * h - side / 2, side, side)
            for i in range(n)]


def _place(ax, renderer, text, xy, colour, taken):
    """Try LABEL_OFFSETS in turn and keep the first spot free of text, markers and the legend, inside the axes;
    return its box, or None (no label) where every spot would overlap one: a label drawn over another reads as
    neither."""
    axes = ax.get_window_extent(renderer)
    for dx, dy in LABEL_OFFSETS:
        ann = ax.annotate(text, xy, xytext=(dx, dy), textcoords="offset points", fontsize=7.5, color=colour,
                          ha="left" if dx >= 0 else "right", va="center")
        box = ann.get_window_extent(renderer)
        inside = axes.x0 <= box.x0 and box.x1 <= axes.x1 and axes.y0 <= box.y0 and box.y1 <= axes.y1
        if inside and not any(box.overlaps(b) for b in taken):
            return box
        ann.remove()
    return None
