"""Predicted vs measured times of a validation results file (validation/FORMAT.md)."""

import statistics

from cli.plots import style
from einsum_cascades.errors import UserError

BAND = 0.10  # the shaded band: predictions within ±10 % of the measurement
CAUSAL_MARKERS = {False: "o", True: "^"}


def kernel_colours(points: list[dict]) -> dict[str, str]:
    """kernel -> colour: the first kernel of each algorithm takes the algorithm's colour, others a fallback."""
    out, used = {}, set()
    for p in points:
        kernel, algo = p["kernel"], p["algorithm"]
        if kernel not in out:
            out[kernel] = style.algo_color(algo) if algo not in used else style.algo_color(f"{kernel}:{algo}")
            used.add(algo)
    return out


def median_abs_error(points: list[dict]) -> float:
    return statistics.median(abs(p["error"]) for p in points)


def validation_figure(results: str, hw: str | None, output: str) -> None:
    """Scatter every usable point of ``results`` (predicted with ``hw``, else the file's device model);
    ``results`` is a validation file or a user's measured points (validation/measured_file.py)."""
    from validation.measured_file import load
    from validation.report import report_doc

    style.check_output(output)
    doc = load(results)
    if hw is not None:
        from cli.validate_report import override_note

        override_note(doc, hw)
    validation_scatter(report_doc(doc, hw), results, output)


def validation_scatter(data: dict, results: str, output: str) -> None:
    """Scatter the points of a report (``validation.report``) of file ``results``."""
    style.check_output(output)
    points = data["points"]
    if not points:
        raise UserError(f"{results}: no usable points (every point has ok = false or no measured_s)")
    plt = style.pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    colours = kernel_colours(points)
    for kernel, colour in colours.items():
        for causal, marker in CAUSAL_MARKERS.items():
            mine = [p for p in points if p["kernel"] == kernel and bool(p["causal"]) == causal]
            if mine:
                algo = mine[0]["algorithm"]
                ax.scatter([p["measured_s"] for p in mine], [p["predicted_s"] for p in mine], color=colour,
                           marker=marker, s=28, alpha=0.85, edgecolor="white", linewidth=0.4, zorder=3,
                           label=f"{kernel} ({algo}){', causal' if causal else ''}")
    under = [p for p in points if p.get("below_floor")]
    if under:  # measured faster than any kernel can run the call (validation.roofline.floor_time_s): the row is wrong
        ax.scatter([p["measured_s"] for p in under], [p["predicted_s"] for p in under], marker="o", s=110,
                   facecolor="none", edgecolor="black", linewidth=1.0, zorder=4,
                   label=f"measured under the floor no kernel can beat ({len(under)}): check the row")
    _identity(ax, points)
    style.seconds_axis(ax.xaxis)
    style.seconds_axis(ax.yaxis)
    ax.set_xlabel("measured time per call")
    ax.set_ylabel(f"predicted time per call (model {data['hardware']})")
    worst = max(abs(p["error"]) for p in points)
    style.set_title(ax, f"Predicted vs measured: {data['device'].get('name', '?')}",
                    f"median |error| {median_abs_error(points):.1%} over {len(points)} point{'s' * (len(points) != 1)}, "
                    f"max {worst:.1%}")
    ax.legend(loc="best", fontsize=8)  # the corner that hides the fewest points (both halves hold some)
    style.save(fig, output)


def _identity(ax, points) -> None:
    """The y = x line and the ±BAND band over the span of the data."""
    values = [p[k] for p in points for k in ("measured_s", "predicted_s")]
    lo, hi = min(values) / 1.5, max(values) * 1.5
    xs = [lo, hi]
    ax.fill_between(xs, [x * (1 - BAND) for x in xs], [x * (1 + BAND) for x in xs], color="0.85", zorder=1,
                    label=f"±{BAND:.0%}")
    ax.plot(xs, xs, color="0.3", linewidth=1.0, zorder=2, label="predicted = measured")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
