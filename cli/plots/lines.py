"""The speedup-vs-sequence-length and speedup-vs-sparsity figures."""

from cli.plots import style
from cli.plots.series import Series, baseline_text, line_series, series_baseline

LINESTYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))  # one per value of a second dimension; "--" is the ideal
IDEAL_COLOR = "black"
LOG_Y_ABOVE = 10  # a speedup-vs-length axis turns log when the largest speedup is this many times the smallest
LOG_Y_ABOVE_IF_ASKED = 3  # below this span a log axis would show a single tick
LOG_TICKS = (1.0, 2.0, 5.0)  # labelled ticks per decade on a log speedup axis
LOG_TICKS_NARROW = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # ... on an axis spanning under NARROW_SPAN (about 2 decades),
NARROW_SPAN = 100  # so that every curve has labelled ticks beside it (the decode plot spans 0.2x to 5x)
LEGEND_INSIDE_MAX = 3  # more legend entries than this go below the axes, in columns, the figure taller to hold them
LEGEND_GAP_IN = 0.5  # inches from the axes' bottom to the legend's top: room for the tick labels and the x label
LEGEND_ROW_IN = 0.2  # inches of figure height per legend row (8.5 pt text, its marker and spacing)
LEGEND_CHAR_IN = 0.065  # inches per character of a legend label at 8.5 pt
LEGEND_HANDLE_IN = 0.75  # inches a legend column takes beside its label: the line sample, its padding, the gap
HALO_MARKER, HALO_WIDTH = 3.5, 2.4  # points of marker and line width a hidden series gains per series over it
MAX_HALOS = 3  # at most that many rings: ten series on one line once drew markers a tenth of the plot wide


def speedup_figure(rows: list[dict], note: str, output: str) -> None:
    """Speedup over each row's baseline vs sequence length, a line per hardware x algorithm (x variant).
    With one query length and several KV lengths (decode: --seq-len 1 --kv-len 1k..1m) the x axis is the
    KV length instead."""
    x_key = "kv_len" if len({r["seq_len"] for r in rows}) == 1 and len({r["kv_len"] for r in rows}) > 1 else "seq_len"
    series = line_series(rows, x_key)
    fig, ax = _lines(series, ideal=False)
    style.log2_size_axis(ax, [x for s in series for x in s.x])
    what = "KV length" if x_key == "kv_len" else "sequence length"
    ax.set_xlabel("KV length Nkv (tokens)" if x_key == "kv_len" else "sequence length N (tokens)")
    style.set_title(ax, f"{_over(series)} vs {what}: {_machines(rows, series)}", style.caption(rows), note)
    style.save(fig, output)


def sparsity_figure(rows: list[dict], note: str, output: str) -> None:
    """Speedup over the dense run vs sparsity, with the ideal 1 / block density dashed."""
    series = line_series(rows, "sparsity")
    fig, ax = _lines(series, ideal=True)
    ax.set_xlabel("sparsity (fraction of empty tiles)")
    ax.set_xlim(left=min(x for s in series for x in s.x) - 0.02)  # from the first value drawn (0.5..0.95: 0.48)
    keys = ("batch", "heads", "head_dim", "seq_len", "dtype", "scope", "page_size", "varlen", "num_splits")
    style.set_title(ax, f"{_over(series)} vs sparsity: {_machines(rows, series)}",
                    f"{style.caption(rows, keys)}  {_sparse_mask(rows)}", note)
    style.save(fig, output)


def _sparse_mask(rows) -> str:
    """How the empty tiles are chosen: at random, or by sizing the --pattern to each sparsity."""
    masks = {style.mask_label({**r, "sparsity": 0}) for r in rows}
    if len(masks) > 1:
        return ""
    mask = masks.pop()
    if any(r.get("pattern") for r in rows):
        return f"mask {mask}, sized to each sparsity"
    return "causal & random empty tiles" if mask == "causal" else "random empty tiles"


def _over(series) -> str:
    text = baseline_text(series)
    return f"Speedup over {text}" if text else "Speedup over each line's baseline"


def _machines(rows, series: list[Series]) -> str:
    """The machines of the title, and the one algorithm every line runs, which their labels leave out."""
    machines = list(dict.fromkeys(r["hardware"] for r in rows))
    text = ", ".join(style.hw_label(h) for h in machines)
    algorithms = {s.algorithm for s in series}
    if len(algorithms) > 1:
        return text
    return f"{text} {algorithms.pop()}" if len(machines) == 1 else f"{text} ({algorithms.pop()})"


def _lines(series: list[Series], ideal: bool):
    """Draw every series (and its ideal line) on fresh axes with the speedup y axis set up."""
    plt = style.pyplot()
    fig, ax = plt.subplots()
    colors, styles = _colors(series), _linestyles(series)
    shared_baseline = baseline_text(series) is not None
    ys = []
    rc = plt.rcParams
    for i, s in enumerate(series):
        label = _label(s, series)
        if not shared_baseline:
            label += f" (vs {series_baseline(s)})"
        over = min(_covering(s, series[i + 1:]), MAX_HALOS)  # drawn wider: the series drawn on it leave it showing
        if over:  # and said: a thick line is one that others lie on, not a wider kind
            label += f" (= {', '.join(_covering_labels(s, series[i + 1:], series))})"
        ax.plot(s.x, s.speedup, color=colors[i], marker=style.algo_marker(s.algorithm), linestyle=styles[i],
                label=label, markersize=rc["lines.markersize"] + HALO_MARKER * over,
                linewidth=rc["lines.linewidth"] + HALO_WIDTH * over)
        ys.extend(s.speedup)
    shared = ideal and _one_ideal(series)  # one dashed black line where every series has the same ideal
    if ideal:
        # one black line, or each in its line's colour: their tiles and baselines differ
        for s, color in zip(series[:1], [IDEAL_COLOR]) if shared else zip(series, colors):
            marker = {} if shared else dict(marker=style.algo_marker(s.algorithm), markersize=3.5, fillstyle="none")
            ax.plot(s.x, s.ideal, color=color, linestyle="--", linewidth=1.0, zorder=4, **marker)  # on top
            ys.extend(s.ideal)
        what = "1 / block density" + ("" if all(k == 1.0 for s in series for k in s.dense_speedup)
                                      else " x dense speedup")
        ax.plot([], [], color=IDEAL_COLOR if shared else "0.4", linestyle="--", linewidth=1.0,
                label=f"ideal: {what}" if shared else f"dashed: each line's ideal\n({what})")
    ax.axhline(1.0, color="0.5", linewidth=0.8, zorder=0)
    _speedup_axis(ax, ys, log=ideal)
    _legend(fig, ax)
    return fig, ax


def _label(s: Series, series: list[Series]) -> str:
    """A line's legend label: what tells it from the others (the machine where they differ, the algorithm where
    they differ, the split fields' values); the title holds what they share. One line alone: machine and kernel."""
    parts = [style.hw_label(s.hardware)] if len({t.hardware for t in series}) > 1 else []
    if len({t.algorithm for t in series}) > 1:
        parts.append(s.algorithm)
    head = " ".join(parts) if parts or s.variant else f"{style.hw_label(s.hardware)} {s.algorithm}"
    return ", ".join(filter(None, (head, s.variant_text())))


def _colors(series: list[Series]) -> list[str]:
    """Each line's colour: its machine's (lines of several machines) or its kernel's, where no two lines share one;
    else a colour per line (style.series_color), so that lines differing only in a split field are told apart by
    colour, not by dash style alone."""
    by_hw = len({s.hardware for s in series}) > 1
    fixed = [style.hw_color(s.hardware) if by_hw else style.algo_color(s.algorithm) for s in series]
    return fixed if len(set(fixed)) == len(fixed) else [style.series_color(i) for i in range(len(series))]


def _linestyles(series: list[Series]) -> list:
    """Dash styles telling the values of a second dimension apart (the last field that splits the lines: d=64
    solid, d=128 dash-dot), where the lines differ in two or more (machine, kernel, split fields); else solid."""
    dims = [s.variant for s in series]
    if len({(s.hardware, s.algorithm) for s in series}) > 1:
        dims = [((None, (s.hardware, s.algorithm)), *s.variant) for s in series]
    if not dims or len(dims[0]) < 2:
        return ["-"] * len(series)
    values = list(dict.fromkeys(d[-1][1] for d in dims))
    return [LINESTYLES[values.index(d[-1][1]) % len(LINESTYLES)] for d in dims]


def _legend(fig, ax) -> None:
    """A few entries inside the axes; more below them, in as many columns as the labels allow, the figure made
    taller by the legend's rows so that the axes keep their height."""
    import math

    from matplotlib.transforms import offset_copy

    labels = ax.get_legend_handles_labels()[1]
    if len(labels) <= LEGEND_INSIDE_MAX:
        ax.legend(loc="best")
        return
    width, height = fig.get_size_inches()
    longest = max(len(line) for label in labels for line in label.splitlines())
    ncol = max(1, min(len(labels), int(width // (longest * LEGEND_CHAR_IN + LEGEND_HANDLE_IN))))
    lines = math.ceil(len(labels) / ncol) * max(len(label.splitlines()) for label in labels)
    fig.set_size_inches(width, height + LEGEND_GAP_IN + lines * LEGEND_ROW_IN)
    below = offset_copy(ax.transAxes, fig=fig, y=-LEGEND_GAP_IN, units="inches")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=ncol, borderaxespad=0.0)


def _covering_labels(s: Series, later: list[Series], series: list[Series] | None = None) -> list[str]:
    """The labels (``_label`` among ``series``, else machine and kernel) of the series drawn after ``s`` that lie
    on it (at most MAX_HALOS, then '...')."""
    names = [_label(t, series) if series else f"{style.hw_label(t.hardware)} {t.algorithm}"
             + (f", {t.variant_text()}" if t.variant else "") for t in _lying_on(s, later)]
    return names[:MAX_HALOS] + (["..."] if len(names) > MAX_HALOS else [])


def _one_ideal(series: list[Series]) -> bool:
    """Whether every series has the same ideal line (the same x and values)."""
    first = series[0]
    return all(s.x == first.x and all(style.same(a, b) for a, b in zip(s.ideal, first.ideal)) for s in series[1:])


def _covering(s: Series, later: list[Series]) -> int:
    """How many series drawn after ``s`` lie on it (the same x, speedups ``style.same``): two kernels the model
    prices alike (FlashInfer's fa3 backend and FA3 on a chunked call) would otherwise show as one line."""
    return len(_lying_on(s, later))


def _lying_on(s: Series, later: list[Series]) -> list[Series]:
    """The series drawn after ``s`` that lie on it: the same x, speedups ``style.same``."""
    return [t for t in later if t.x == s.x and all(style.same(a, b) for a, b in zip(t.speedup, s.speedup))]


def _speedup_axis(ax, ys, log: bool) -> None:
    """Speedup ticks as '2×'; a log scale for wide ranges, sooner when ``log`` asks (the 1 / (1 - s) curves)."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    positive = [y for y in ys if y > 0]
    span = max(positive) / min(positive) if positive else 1.0
    if span > (LOG_Y_ABOVE_IF_ASKED if log else LOG_Y_ABOVE):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=LOG_TICKS_NARROW if span < NARROW_SPAN else LOG_TICKS))
        ax.yaxis.set_minor_locator(LogLocator(base=10, subs="auto"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_ylabel("speedup (×)")
