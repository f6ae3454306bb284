"""The speedup-vs-sequence-length and speedup-vs-sparsity figures."""

from cli.plots import style
from cli.plots.series import Series, baseline_text, line_series, series_baseline

LINESTYLES = ("-", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))  # one per variant (e.g. per sparsity); "--" is the ideal
IDEAL_COLOR = "black"
LOG_Y_ABOVE = 10  # a speedup-vs-length axis turns log when the largest speedup is this many times the smallest
LOG_Y_ABOVE_IF_ASKED = 3  # below this span a log axis would show a single tick
LOG_TICKS = (1.0, 2.0, 5.0)  # labelled ticks per decade on a log speedup axis
LOG_TICKS_NARROW = (1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # ... on an axis spanning under NARROW_SPAN (about 2 decades),
NARROW_SPAN = 100  # so that every curve has labelled ticks beside it (the decode plot spans 0.2x to 5x)
LEGEND_INSIDE_MAX = 3  # more legend entries than this go outside the axes, on the right
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
    style.set_title(ax, f"{_over(series)} vs {what}: {_machines(rows)}", style.caption(rows), note)
    style.save(fig, output)


def sparsity_figure(rows: list[dict], note: str, output: str) -> None:
    """Speedup over the dense run vs sparsity, with the ideal 1 / block density dashed."""
    series = line_series(rows, "sparsity")
    fig, ax = _lines(series, ideal=True)
    ax.set_xlabel("sparsity (fraction of empty tiles)")
    ax.set_xlim(left=min(x for s in series for x in s.x) - 0.02)  # from the first value drawn (0.5..0.95: 0.48)
    keys = ("batch", "heads", "head_dim", "seq_len", "dtype", "scope", "page_size", "varlen", "num_splits")
    style.set_title(ax, f"{_over(series)} vs sparsity: {_machines(rows)}",
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


def _machines(rows) -> str:
    return ", ".join(style.hw_label(h) for h in dict.fromkeys(r["hardware"] for r in rows))


def _lines(series: list[Series], ideal: bool):
    """Draw every series (and its ideal line) on fresh axes with the speedup y axis set up."""
    plt = style.pyplot()
    fig, ax = plt.subplots()
    by_hw = len({s.hardware for s in series}) > 1
    variants = list(dict.fromkeys(s.variant for s in series))
    shared_baseline = baseline_text(series) is not None
    ys = []
    rc = plt.rcParams
    for i, s in enumerate(series):
        color = style.hw_color(s.hardware) if by_hw else style.algo_color(s.algorithm)
        label = f"{style.hw_label(s.hardware)} {s.algorithm}" + (f", {s.variant_text()}" if s.variant else "")
        if not shared_baseline:
            label += f" (vs {series_baseline(s)})"
        over = min(_covering(s, series[i + 1:]), MAX_HALOS)  # drawn wider: the series drawn on it leave it showing
        if over:  # and said: a thick line is one that others lie on, not a wider kind
            label += f" (= {', '.join(_covering_labels(s, series[i + 1:]))})"
        ax.plot(s.x, s.speedup, color=color, marker=style.algo_marker(s.algorithm),
                linestyle=LINESTYLES[variants.index(s.variant) % len(LINESTYLES)], label=label,
                markersize=rc["lines.markersize"] + HALO_MARKER * over,
                linewidth=rc["lines.linewidth"] + HALO_WIDTH * over)
        ys.extend(s.speedup)
    shared = ideal and _one_ideal(series)  # one dashed black line where every series has the same ideal
    if ideal:
        for s in series[:1] if shared else series:  # else each in its series' colour: tiles and baselines differ
            color = IDEAL_COLOR if shared else style.hw_color(s.hardware) if by_hw else style.algo_color(s.algorithm)
            marker = {} if shared else dict(marker=style.algo_marker(s.algorithm), markersize=3.5, fillstyle="none")
            ax.plot(s.x, s.ideal, color=color, linestyle="--", linewidth=1.0, zorder=4, **marker)  # on top
            ys.extend(s.ideal)
        what = "1 / block density" + ("" if all(k == 1.0 for s in series for k in s.dense_speedup)
                                      else " x dense speedup")
        ax.plot([], [], color=IDEAL_COLOR if shared else "0.4", linestyle="--", linewidth=1.0,
                label=f"ideal: {what}" if shared else f"dashed: each line's ideal\n({what})")
    ax.axhline(1.0, color="0.5", linewidth=0.8, zorder=0)
    _speedup_axis(ax, ys, log=ideal)
    ax.legend(**_legend_place(len(series) + ideal))
    return fig, ax


def _covering_labels(s: Series, later: list[Series]) -> list[str]:
    """The short names of the series drawn after ``s`` that lie on it (at most MAX_HALOS, then '...')."""
    names = [f"{style.hw_label(t.hardware)} {t.algorithm}" + (f", {t.variant_text()}" if t.variant else "")
             for t in _lying_on(s, later)]
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


def _legend_place(entries: int) -> dict:
    """Inside the axes for a few lines; outside on the right for many."""
    if entries <= LEGEND_INSIDE_MAX:
        return {"loc": "best"}
    return {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
