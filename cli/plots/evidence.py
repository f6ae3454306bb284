"""The model's errors on the bundled published timings, per hardware model and family, beside the one-line
roofline's (validation/evidence.py): the figure of `attnsim validate evidence`."""

from cli.plots import style
from einsum_cascades.errors import UserError

BAND = 0.10  # the reference line: within 10 %
FLOOR = 0.001  # errors below 0.1 % are drawn at it (a log axis has no 0)


def evidence_figure(rows: list[dict], output: str, calls: str = "", split: bool = False) -> None:
    """One line per (hardware, family) row with points no figure was fitted from: the model's median |error| (a
    dot) and its quartiles (a bar), the roofline's median (a hollow diamond), on a log axis of |predicted /
    measured - 1|; ``calls``: the rows hold only such calls ('decode', 'prefill 16-bit': validate_evidence.select),
    said in the subtitle; ``split``: a row per phase and width, named so."""
    style.check_output(output)
    rows = [r for r in rows if r["n"]]
    if not rows:
        where = f" in {calls} calls" if calls else ""
        raise UserError(f"nothing to plot: no published timing of these families on these GPUs{where} that no bundled "
                        "figure was fitted from (attnsim validate evidence lists what there is)")
    plt = style.pyplot()
    fig, ax = plt.subplots(figsize=(7.5, max(2.6, 0.27 * len(rows) + 1.6)))
    ys = range(len(rows))[::-1]  # the first row at the top
    for y, r in zip(ys, rows):
        colour = style.hw_color(r["hardware"])
        q1, q3 = r["model_abs_error_quartiles"]
        ax.plot([max(q1, FLOOR), max(q3, FLOOR)], [y, y], color=colour, linewidth=2.2, alpha=0.45, zorder=2,
                solid_capstyle="round")
        ax.scatter([max(r["model_median_abs_error"], FLOOR)], [y], color=colour, s=30, zorder=3)
        if r["roofline_median_abs_error"] is not None:
            ax.scatter([max(r["roofline_median_abs_error"], FLOOR)], [y], facecolor="none", edgecolor="0.35",
                       marker="D", s=26, linewidth=1.0, zorder=3)
    ax.axvline(BAND, color="0.45", linestyle="--", linewidth=0.9, zorder=1)
    ax.set_xscale("log")
    ax.set_xlim(FLOOR, 3.0)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}" if x >= 0.01 else f"{x:.1%}"))
    ax.set_yticks(list(ys))
    regime = (lambda r: f"  {r['phase']} {r['precision']}") if split else (lambda r: "")
    ax.set_yticklabels([style.literal(f"{r['hardware']}  {r['algorithm']}{regime(r)} ({r['n']})") for r in rows],
                       fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="y", visible=False)
    clipped = any(min(x for x in (r["model_abs_error_quartiles"][0], r["model_median_abs_error"],
                                  r["roofline_median_abs_error"]) if x is not None) < FLOOR for r in rows)
    ax.set_xlabel("|predicted / measured - 1|" + (f" (under {FLOOR:.1%} drawn at {FLOOR:.1%})" if clipped else ""))
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.3", marker="o", linestyle="-", linewidth=2.2, alpha=0.7,
                      label="attnsim median (bar: quartiles)"),
               Line2D([], [], color="0.35", marker="D", markerfacecolor="none", linestyle="none",
                      label="one-line roofline median"),
               Line2D([], [], color="0.45", linestyle="--", linewidth=0.9, label=f"{BAND:.0%}")]
    # below the x label whatever the figure's height: anchored at the axes' bottom, padded in font sizes
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), borderaxespad=4.2, ncol=3,
              fontsize=7.5, frameon=False)
    n = sum(r["n"] for r in rows)
    style.set_title(ax, "attnsim against published timings, per GPU model and family"
                    + (", phase and input width" if split else ""),
                    f"{n} {calls} calls no figure was fitted from (counts in brackets)" if calls else
                    f"{n} points no bundled figure was fitted from (counts in brackets)")
    style.save(fig, output)
