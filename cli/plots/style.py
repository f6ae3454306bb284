"""One look for every attnsim figure: fonts, grid, colours, size ticks, captions and saving.

Colours are fixed per hardware and per algorithm so the same machine or kernel
looks the same in every plot. A figure whose lines differ by hardware colours
them by hardware (markers tell the algorithms apart); otherwise by algorithm.
"""

import zlib
from pathlib import Path

from einsum_cascades.errors import UserError

FORMATS = (".png", ".svg", ".pdf")
PNG_DPI = 150
FIGSIZE = (7.5, 4.8)
TITLE_CHARS_PER_INCH = 11  # characters of the 10.5 pt title font per inch of figure width

HW_COLORS = {"a100": "#1f77b4", "h100": "#2ca02c", "h200": "#9467bd", "b200": "#d62728",
             "fusemax": "#ff7f0e", "flat": "#8c564b",
             # every other bundled machine its own colour, a variant near its family's (the name hash gave H200 and
             # B300 one purple, and three parts one grey in plot evidence)
             "a100-40gb": "#6baed6", "a100-pcie": "#08519c", "a800": "#17becf", "a800-pcie": "#0e7c86",
             "h100-pcie": "#74c476", "h800": "#006d2c", "h20": "#bcbd22", "gb200": "#fb6a4a", "b300": "#e377c2",
             "gb300": "#7f2704"}
ALGO_COLORS = {"naive": "#7f7f7f", "flash1": "#17becf", "flash2": "#1f77b4", "flash3": "#d62728",
               "flash-decoding": "#9467bd", "unfused": "#7f7f7f", "flat": "#8c564b",
               "fusemax-cascade": "#bcbd22", "fusemax-arch": "#e377c2", "fusemax": "#ff7f0e",
               # the other kernel families, each its own (the name hash gave flash4 and flashinfer-decode one look)
               "flash4": "#e6ab02", "flashmla": "#393b79",
               "flashinfer-decode": "#8c6d31", "flashinfer-single-decode": "#bd9e39",
               "flashinfer-decode-tc": "#1b9e77", "flashinfer-single-decode-tc": "#66a61e",
               "flashinfer-prefill": "#e7298a", "flashinfer-prefill-fa2": "#7b4173",
               "flashinfer-single-prefill": "#d95f02"}
ALGO_MARKERS = {"naive": "x", "flash1": "v", "flash2": "o", "flash3": "s", "flash-decoding": "D",
                "unfused": "x", "flat": "v", "fusemax-cascade": "^", "fusemax-arch": "D", "fusemax": "s",
                "flash4": "*", "flashmla": "H", "flashinfer-decode": "p", "flashinfer-single-decode": "8",
                "flashinfer-decode-tc": "d", "flashinfer-single-decode-tc": "H", "flashinfer-prefill": "p",
                "flashinfer-prefill-fa2": "d", "flashinfer-single-prefill": "8",
                # the bundled cascades (a cascade @MAPPING takes its cascade's marker)
                "attention-1pass": "s", "attention-2pass": "<", "attention-3pass": "x", "attention-3pass-deferred": ">",
                "attention-naive": "X", "attention-decode-splitkv": "h", "attention-sigmoid": "^",
                "attention-differential": "D", "attention-linear": "v", "attention-lightning": "P"}
_FALLBACK_MARKERS = ("o", "*", "p", "d", "8", "H")
_FALLBACK = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")
_HW_LABELS = {"fusemax": "FuseMax", "flat": "FLAT"}
# one colour per line where lines share a machine and a kernel (a --batch or --head-dim list): matplotlib's tab10,
# then the darker halves of tab20b, so that up to 16 lines differ in colour before any repeats
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")

_RC = {
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 8.5, "legend.framealpha": 0.9, "axes.grid": True, "axes.grid.which": "major",
    "grid.alpha": 0.35, "grid.linestyle": ":", "lines.linewidth": 1.6, "lines.markersize": 5.5,
    "axes.spines.top": False, "axes.spines.right": False, "figure.figsize": FIGSIZE, "svg.fonttype": "none",
}


def pyplot():
    """matplotlib.pyplot on the Agg backend with the attnsim style applied."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update(_RC)
    return plt


def check_output(path: str) -> Path:
    """The output path, if its extension is a figure format and a file can be written beside it."""
    from cli._files import check_target

    return check_target(path, FORMATS)


def literal_text(artist) -> None:
    """Titles, labels, legends and notes print as written: a '$' in a name the user gave (a .cascade path, a
    kernel or device in a results file) would start matplotlib's math mode, and a bad formula raised a
    traceback. Tick labels keep math mode (log axes write 10^x with it); names on ticks go through ``literal``."""
    from matplotlib.axis import Tick
    from matplotlib.text import Text

    if isinstance(artist, Tick):
        return
    if isinstance(artist, Text):
        artist.set_parse_math(False)
    for child in artist.get_children():
        literal_text(child)


def literal(text: str) -> str:
    """``text`` for a tick label, with '$' escaped so that matplotlib prints it rather than start math mode."""
    return text.replace("$", r"\$")


def save(fig, path: str) -> None:
    """Lay the figure out tightly and write it, atomically, in the format its extension names."""
    import matplotlib.pyplot as plt

    from cli._files import atomic_path

    fmt = Path(path).suffix.lower()[1:]
    literal_text(fig)
    fig.tight_layout()
    if _fit_titles(fig):
        fig.tight_layout()
    try:
        with atomic_path(path, FORMATS) as tmp:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI if fmt == "png" else None)
    except OSError as err:
        raise UserError(f"cannot write {path!r}: {err.strerror or err}") from None
    finally:
        plt.close(fig)


def set_title(ax, *lines: str) -> None:
    """Title the axes with ``lines``, each wrapped to the figure's width so none is cut off (``save`` wraps them
    again, narrower, where long tick labels push the axes, over which the title is centred, to one side)."""
    ax.attnsim_title_lines = [line for line in lines if line]  # as given, for save to wrap again
    _fill_title(ax, int(ax.figure.get_figwidth() * TITLE_CHARS_PER_INCH))


def _fill_title(ax, width: int) -> None:
    import textwrap

    ax.set_title("\n".join(textwrap.fill(line, width) for line in ax.attnsim_title_lines))


def _fit_titles(fig) -> bool:
    """Wrap each title that runs past the figure's edge to the room its axes' centre leaves; whether any was."""
    renderer = fig.canvas.get_renderer()
    inches, changed = fig.get_figwidth(), False
    for ax in fig.axes:
        if not hasattr(ax, "attnsim_title_lines"):
            continue
        box = ax.title.get_window_extent(renderer)
        if box.x0 >= 0 and box.x1 <= fig.bbox.width:
            continue
        position = ax.get_position()
        centre = (position.x0 + position.x1) / 2 * inches
        room = 2 * min(centre, inches - centre)
        _fill_title(ax, max(20, int(room * TITLE_CHARS_PER_INCH * 0.95)))
        changed = True
    return changed


def hw_color(name: str) -> str:
    """A machine's colour; a GPU with its SMs locked (``h100:1500``) takes its machine's, lighter the lower the
    clock, so a free and a locked H100 read as one part."""
    from gpu_models.loader import split_clock

    machine, mhz = split_clock(name)
    if mhz is None:
        return HW_COLORS.get(name, _fallback(name))
    from matplotlib.colors import to_hex, to_rgb

    t = min(0.7, max(0.25, 1.0 - mhz / 2000.0))  # share of white: 0.25 at 1500 MHz, 0.4 at 1200, 0.5 at 1000
    return to_hex([c + (1.0 - c) * t for c in to_rgb(hw_color(machine))])


def series_color(i: int) -> str:
    """The colour of the ``i``-th of several lines that share a machine and a kernel."""
    return SERIES_COLORS[i % len(SERIES_COLORS)]


def algo_color(name: str) -> str:
    return ALGO_COLORS.get(name, _fallback(name))


SAME = 0.01  # values this close (relative) draw on top of each other: the lower mark is drawn larger (lines, roofline)


def same(a: float, b: float) -> bool:
    """Whether two plotted values would hide one another (within SAME of ``b``)."""
    return abs(a - b) <= SAME * max(abs(b), 1e-30)


def algo_marker(name: str) -> str:
    """A marker per algorithm; a cascade with a mapping takes its cascade's, a user's file a stable one."""
    base = name if name in ALGO_MARKERS else name.rpartition("@")[0] or name
    return ALGO_MARKERS.get(base, _FALLBACK_MARKERS[zlib.crc32(base.encode()) % len(_FALLBACK_MARKERS)])


def _fallback(name: str) -> str:
    """A stable colour for names without one (a user's TOML machine, a new kernel)."""
    return _FALLBACK[zlib.crc32(name.encode()) % len(_FALLBACK)]


def hw_label(name: str) -> str:
    """'h100' -> 'H100', 'fusemax' -> 'FuseMax', 'h100:1500' -> 'H100 @1500 MHz'; a path-named machine keeps its name."""
    from gpu_models.loader import split_clock

    machine, mhz = split_clock(name)
    if mhz is not None:
        return f"{hw_label(machine)} @{mhz:g} MHz"
    return _HW_LABELS.get(name, name.upper() if name.isalnum() else name)


def size_label(n: int) -> str:
    """Sequence-length tick text: 1024 -> '1k', 1048576 -> '1M'."""
    from einsum_cascades.units import format_size

    return format_size(int(n)).replace("m", "M").replace("g", "G")


def log2_size_axis(ax, sizes) -> None:
    """A log2 x axis with one '1k', '4k', ... tick per size plotted (every other one past 12)."""
    ticks = sorted(set(sizes))
    if len(ticks) > 12:
        ticks = ticks[::2]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [size_label(t) for t in ticks])
    ax.minorticks_off()


# minor ticks labelled on a log time axis, by its span in decades: 2, 3, 4 and 6 within one decade, 2 and 5 within
# two (2, 3, 4 and 6 there crowd into each other: '300 us400 us' on a square validation scatter), none beyond
MINOR_LABELS = ((1.0, (2, 3, 4, 6)), (2.0, (2, 5)))
# wider, the decades are labelled, and 2 and 5 in the part of a decade beyond the first or last one in view (points
# at 0.2-0.5 ms below a 1 ms tick had no label beside them), where their label keeps this far from the decade's:
# a label's width across an x axis (6 characters of 9 pt and a gap), its height and a gap up a y axis
EDGE_LABEL_ROOM_IN = {"x": 0.6, "y": 0.3}


def seconds_axis(axis) -> None:
    """Tick labels in human time units (1 ms, 10 us) on a log axis of seconds: the decades, and on an axis spanning
    up to two decades some minor ticks (MINOR_LABELS), so a narrow range reads '400 us', not '4 x 10^-4'; wider,
    2 and 5 beyond the outermost decades (EDGE_LABEL_ROOM_IN)."""
    import math

    from matplotlib.ticker import Formatter, LogFormatter

    from cli._output import human_time

    class HumanTime(LogFormatter):
        def __call__(self, x, pos=None):
            return (human_time(x) if x > 0 else "0") if super().__call__(x, pos) else ""

    class HumanTimeMinor(Formatter):
        def __call__(self, x, pos=None):
            lo, hi = sorted(self.axis.get_view_interval())
            if x <= 0 or lo <= 0:
                return ""
            span = math.log10(hi / lo)
            digit = x / 10 ** math.floor(math.log10(x) + 1e-9)
            labelled = next((digits for most, digits in MINOR_LABELS if span <= most), None)
            if labelled is None:
                labelled = (2, 5) if _beyond_decades(self.axis, x, lo, hi, span) else ()
            return human_time(x) if any(abs(digit - d) < 1e-6 for d in labelled) else ""

    axis.set_major_formatter(HumanTime())
    axis.set_minor_formatter(HumanTimeMinor())


def _beyond_decades(axis, x: float, lo: float, hi: float, span: float) -> bool:
    """Whether ``x`` lies below the first decade in view or above the last, with room for its label beside that
    decade's (EDGE_LABEL_ROOM_IN, at the axis's length in inches)."""
    import math

    first, last = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    place = math.log10(x)
    gap = first - place if place < first else place - last if place > last else 0.0
    box = axis.axes.get_position()
    fig_w, fig_h = axis.figure.get_size_inches()
    inches = box.width * fig_w if axis.axis_name == "x" else box.height * fig_h
    return gap > 0 and gap * inches / span >= EDGE_LABEL_ROOM_IN[axis.axis_name]


def plain_log_axis(axis) -> None:
    """Tick labels as plain numbers (200, 1,000, 0.5) on a log axis, where matplotlib writes 2 x 10^2: on the same
    ticks it labels (the decades, and some minor ticks on a narrow axis)."""
    from matplotlib.ticker import LogFormatterSciNotation

    class Plain(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            if not super().__call__(x, pos):
                return ""
            return f"{x:,.0f}" if x >= 1 else f"{x:.3g}"

    axis.set_major_formatter(Plain())
    axis.set_minor_formatter(Plain(labelOnlyBase=False))


def caption(rows: list[dict], keys=("batch", "heads", "head_dim", "seq_len", "dtype", "mask", "scope",
                                    "page_size", "varlen", "num_splits")) -> str:
    """The workload fields all rows share, e.g. 'B=1  H=32  d=128  fp16  dense' (the value head dim and the KV
    length where they differ, 'd=192/128', 'N=1/8k'; the scope when it is not the default kernel, 'scope
    kernel-warm'; a paged cache's 'pages of 16'; a varlen call's 'varlen'; a split count asked for, '4 splits')."""
    parts = []
    for key in keys:
        values = {_caption_value(r, key) for r in rows}
        if len(values) == 1:
            parts.append(values.pop())
    return "  ".join(p for p in parts if p)


def _caption_value(row: dict, key: str) -> str:
    if key == "heads":
        kv = row.get("kv_heads") or row["heads"]
        return f"H={row['heads']}" + (f"/{kv} KV" if kv != row["heads"] else "")
    if key == "mask":
        return mask_label(row)
    if key == "scope":
        return "" if row.get("scope", "kernel") == "kernel" else f"scope {row['scope']}"
    if key == "page_size":
        return f"pages of {row['page_size']}" if row.get("page_size") else ""
    if key == "varlen":
        return "varlen" if row.get("varlen") else ""
    if key == "num_splits":
        n = row.get("num_splits")
        return f"{n} split{'s' * (n != 1)}" if n else ""
    if key == "head_dim":
        dv = row.get("v_head_dim")
        return f"d={row['head_dim']}" + (f"/{dv}" if dv and dv != row["head_dim"] else "")
    if key == "queries":  # the query length alone, where the KV length is a label's
        return f"N={size_label(row['seq_len'])}"
    if key == "seq_len":
        kv = row.get("kv_len")
        return f"N={size_label(row['seq_len'])}" + (f"/{size_label(kv)}" if kv and kv != row["seq_len"] else "")
    return {"batch": "B={}", "dtype": "{}"}[key].format(row[key])


def mask_label(row: dict) -> str:
    """'dense', 'causal', 'causal & window(4k)', 'sparsity 0.9'."""
    parts = ["causal"] if row.get("causal") else []
    if row.get("pattern"):
        parts.append(str(row["pattern"]))
    if row.get("sparsity"):
        parts.append(f"sparsity {row['sparsity']:g}")
    return " & ".join(parts) or "dense"
