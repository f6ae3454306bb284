"""Where the time goes, per algorithm.

GPUs: the seconds each resource would need if it alone bounded the call
(``Result.times``), grouped per algorithm, with the predicted time marked.
Accelerators: per-Einsum cycles stacked on the array each Einsum is bound to,
beside the DRAM time in cycles, with the predicted latency marked.
"""

import math
from dataclasses import dataclass

from cli.plots import style
from cli.plots.series import variant_text, varying_keys
from einsum_cascades.errors import UserError

WORKLOAD_FIELDS = ("batch", "heads", "kv_heads", "head_dim", "v_head_dim", "seq_len", "kv_len", "causal", "dtype",
                   "pattern", "sparsity", "block_size", "scope", "estimate", "page_size", "varlen", "num_splits")
GPU_RESOURCES = {"tensor": "tensor cores", "exp": "exp (SFU)", "fma": "FP32 FMA", "smem": "shared memory",
                 "l2": "L2", "hbm": "HBM", "launch": "kernel launch", "compute": "on-chip schedule",
                 "combine": "combine (split-KV, partials)", "stream_fill": "HBM first byte + last tile",
                 "writeback": "cold L2 write-back", "prepare": "FA3 scheduler kernel (varlen)",
                 "permute": "token permutation copies",
                 "estimate": "index estimate (--estimate)"}
RESOURCE_COLORS = {"tensor": "#d62728", "exp": "#ff7f0e", "fma": "#bcbd22", "smem": "#9467bd", "l2": "#17becf",
                   "hbm": "#1f77b4", "launch": "#7f7f7f", "compute": "#2ca02c", "combine": "#8c564b", "writeback": "#aec7e8",
                   "prepare": "#c49c94", "permute": "#98df8a", "estimate": "#e377c2",
                   "stream_fill": "#7b4173"}
GIGA = 1e9
INCHES_PER_GROUP = 1.9  # the figure widens with the number of algorithms so labels never collide
GREY_PAIR = 14  # tab20's grey pair (grey is DRAM's)
TAB20C_GREYS = 16  # tab20c's last four colours are greys
DRAM_COLOR = "0.55"


@dataclass(frozen=True, slots=True)
class Group:
    """One evaluated point: its label, the result and the machine it ran on."""

    label: str
    result: object
    spec: object


def evaluate_points(points: list[dict]) -> list[Group]:
    """Evaluate each point (as ``expand_points`` gives them); label them by what varies among them."""
    from simulator.api import default_algorithm, evaluate, hardware
    from simulator.workload import Workload

    from simulator.methods import method_calls, with_method

    groups = []
    for p in points:
        if p.get("method"):  # what the method's code runs at this shape (simulate's rows_of does the same)
            p = with_method(p["method"], {}, {k: v for k, v in p.items() if v is not None})
            if calls := method_calls(p["method"], p):
                raise UserError(f"plot breakdown draws one kernel call a bar group, and --method {p['method']} at "
                                f"seq-len {p['seq_len']} is several: {calls[0]}; plot the calls as --algo points, or "
                                "see each with simulate --explain")
        spec = hardware(p["hardware"])
        algo = p["algorithm"] or default_algorithm(spec)
        wl = Workload(**{k: p[k] for k in WORKLOAD_FIELDS if p.get(k) is not None})
        groups.append(Group("", evaluate(spec, algo, wl), spec))
    if len({g.spec.kind for g in groups}) > 1:
        raise UserError("breakdown compares one kind of machine: give GPUs or accelerators in --hw, not both")
    rows = [_fields(g) for g in groups]
    split = varying_keys(rows, exclude="")
    many_hw = len({r["hardware"] for r in rows}) > 1
    return [Group(_label(r, split, many_hw), g.result, g.spec) for r, g in zip(rows, groups)]


def fitting(groups: list[Group]) -> tuple[list[Group], str]:
    """The groups whose tensors fit their machine's memory, and a note on those left out ('' when none)."""
    from simulator.capacity import need

    fits = [g for g in groups if (lambda n, have: have is None or n <= have)(*need(g.spec, g.result))]
    if len(fits) == len(groups):
        return groups, ""
    left = ", ".join(dict.fromkeys(f"{g.result.algorithm} on {g.spec.display_name}" for g in groups if g not in fits))
    return fits, f"{len(groups) - len(fits)} of {len(groups)} points left out ({left}: does not fit in memory)"


def _fields(g: Group) -> dict:
    wl = g.result.workload
    return {"hardware": g.result.hardware, "algorithm": g.result.algorithm,
            **{k: getattr(wl, k) for k in WORKLOAD_FIELDS}}


def _label(row: dict, split: list[str], many_hw: bool) -> str:
    head = (f"{style.hw_label(row['hardware'])}\n" if many_hw else "") + row["algorithm"]
    rest = variant_text(tuple((k, row[k]) for k in split))
    return f"{head}\n{rest}" if rest else head


def gpu_bars(groups: list[Group]) -> list[str]:
    """The resources to draw, in GPU_RESOURCES order (any others after), with time in some result."""
    present = dict.fromkeys(k for g in groups for k, t in g.result.times.items() if t > 0)
    return [k for k in GPU_RESOURCES if k in present] + [k for k in present if k not in GPU_RESOURCES]


def accel_stacks(group: Group) -> dict[str, list[tuple[str, float]]]:
    """'2D array' / '1D array' -> [(Einsum, cycles)], 'DRAM' -> [('DRAM', cycles at the array clock)]."""
    r, clock = group.result, group.spec.clock_hz
    cycles, arrays = r.detail["einsum_cycles"], r.detail["arrays"]
    two = [(e, c) for e, c in cycles.items() if arrays[e] == "array2d"]
    one = [(e, c) for e, c in cycles.items() if arrays[e] == "array1d"]
    return {"2D array": two, "1D array": one, "DRAM": [("DRAM", r.times["dram"] * clock)]}


def breakdown_figure(groups: list[Group], output: str, note: str = "") -> None:
    """GPU resource bars or accelerator Einsum stacks, whichever kind the groups ran on."""
    plt = style.pyplot()
    fig, ax = plt.subplots(figsize=(max(7.5, INCHES_PER_GROUP * len(groups) + 3.5), 5.2))
    rows = [_fields(g) for g in groups]
    machines = ", ".join(dict.fromkeys(g.spec.display_name for g in groups))
    keys = ("batch", "heads", "head_dim", "seq_len", "dtype", "mask", "scope", "page_size", "varlen", "num_splits")
    if groups[0].spec.kind == "gpu":
        _gpu(ax, groups)
        what = "bars: time each resource alone would need; black: predicted time"
    else:
        _accel(ax, groups)
        what = "bars: per-Einsum cycles on the array each is bound to, and DRAM time; black: predicted latency"
    style.set_title(ax, f"Time breakdown on {machines}", what, style.caption(rows, keys), note)
    style.save(fig, output)


TICK_CHARS = 16  # characters a group's tick line holds beside its neighbours' (INCHES_PER_GROUP at the tick font)


def _tick(label: str) -> str:
    """A group's tick label, broken into lines that fit its width: before a cascade's @MAPPING, then at hyphens and
    path separators (attention-softcap@flash2 beside flashinfer-single-prefill once ran into one another)."""
    import re
    import textwrap

    lines = []
    for part in re.split(r"(?=@)", label):  # a space after each slash is a place textwrap may break, taken out after
        lines += [line.replace("/ ", "/") for line in textwrap.wrap(part.replace("/", "/ "), TICK_CHARS,
                                                                     break_on_hyphens=True, break_long_words=False)]
    return style.literal("\n".join(lines))


def _gpu(ax, groups: list[Group]) -> None:
    resources = gpu_bars(groups)
    from matplotlib.patches import Patch

    width = 0.84 / len(resources)
    for i, g in enumerate(groups):
        for j, res in enumerate(resources):
            t = g.result.times.get(res)
            if t:
                ax.bar(i - 0.42 + (j + 0.5) * width, t, width, color=RESOURCE_COLORS.get(res, "0.6"))
        line = _mark_predicted(ax, i, g.result.time_s, f"{_human(g.result.time_s)}, {g.result.bound}-bound",
                               label="predicted time")
    ax.set_yscale("log")
    shortest = min(t for g in groups for t in g.result.times.values() if t > 0)
    ax.set_ylim(bottom=10.0 ** math.floor(math.log10(shortest)))
    style.seconds_axis(ax.yaxis)
    ax.set_ylabel("time (log scale)")
    ax.set_xticks(range(len(groups)), [_tick(g.label) for g in groups])
    ax.grid(axis="x", visible=False)
    handles = [Patch(color=RESOURCE_COLORS.get(r, "0.6"), label=GPU_RESOURCES.get(r, r)) for r in resources]
    ax.legend(handles=[line, *handles], loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    ax.set_ylim(top=ax.get_ylim()[1] * 3)


def _accel(ax, groups: list[Group]) -> None:
    clocks = {g.spec.clock_hz for g in groups}
    if len(clocks) > 1:
        raise UserError("breakdown counts cycles, so the accelerators in --hw must share one clock; plot them one at a time")
    palette = einsum_palette()
    colours: dict[str, object] = {}  # Einsum -> colour, in order of first appearance; also marks what is labelled
    ticks, names = [], []
    for i, g in enumerate(groups):
        for j, (bar, parts) in enumerate(accel_stacks(g).items()):
            x, bottom = i + (j - 1) * 0.27, 0.0
            for name, cycles in parts:
                first = name not in colours
                ax.bar(x, cycles / GIGA, 0.25, bottom=bottom, color=_part_colour(name, colours, palette),
                       edgecolor="white", linewidth=0.5, label=name if first else None)
                bottom += cycles / GIGA
            ticks.append(x)
            names.append(f"{bar.split()[0]}\n{_human(bottom * GIGA / g.spec.clock_hz)}")
        _mark_predicted(ax, i, g.result.time_s * g.spec.clock_hz / GIGA, _accel_text(g),
                        label="predicted latency" if i == 0 else None)
    ax.set_xticks(ticks, names, fontsize=8)
    ax.grid(axis="x", visible=False)
    for i, g in enumerate(groups):
        ax.annotate(g.label, (i, 0), xycoords=("data", "axes fraction"), xytext=(0, -30), textcoords="offset points",
                    ha="center", va="top", fontweight="bold", fontsize=8.5)
    ax.set_ylabel(f"cycles (×10⁹) at {groups[0].spec.clock_hz / 1e6:.0f} MHz")
    ax.set_ylim(top=ax.get_ylim()[1] * 1.08)
    _legend_beside(ax)


LEGEND_FONT_PT = 8.5
LEGEND_PAD_IN = 0.15  # between the axes and the legend


def _legend_beside(ax) -> None:
    """The legend right of the axes in as many columns as keep it within the axes' height (four cascades' 25
    Einsums and DRAM ran off the figure's bottom in one), the figure widened by its width so that the bars keep
    theirs."""
    import math

    fig = ax.figure
    fig.tight_layout()  # the axes' height as the figure will give it
    renderer = fig.canvas.get_renderer()
    room = ax.get_window_extent(renderer).height
    count = len(ax.get_legend_handles_labels()[1])
    for ncol in range(1, count + 1):
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.0, ncol=ncol,
                           fontsize=LEGEND_FONT_PT, columnspacing=1.0)
        box = legend.get_window_extent(renderer)
        if box.height <= room or math.ceil(count / ncol) == 1:
            break
    legend.set_bbox_to_anchor((1.0 + LEGEND_PAD_IN * fig.dpi / ax.get_window_extent(renderer).width, 1.0))
    width, height = fig.get_size_inches()
    fig.set_size_inches(width + box.width / fig.dpi + LEGEND_PAD_IN, height)


def _accel_text(g: Group) -> str:
    """'24.5 s, array1d-bound', naming the pipeline stall the latency holds and no bar draws (fusemax-arch)."""
    stall = g.result.detail.get("stall_cycles") or 0
    return (f"{_human(g.result.time_s)}, {g.result.bound}-bound"
            + (f"\nincl. {_human(stall / g.spec.clock_hz)} fill/drain stall" if stall else ""))


def einsum_palette() -> list:
    """54 distinct colours, none grey (DRAM's): tab20's nine dark hues, then their light shades, then tab20b's
    and tab20c's hues shade by shade (a fourth cascade's Einsums had taken the first ones' colours again)."""
    import matplotlib

    pairs = matplotlib.colormaps["tab20"].colors
    hues = [i for i in range(0, len(pairs), 2) if i != GREY_PAIR]
    b, c = matplotlib.colormaps["tab20b"].colors, matplotlib.colormaps["tab20c"].colors
    return ([pairs[i] for i in hues] + [pairs[i + 1] for i in hues]
            + [b[hue + shade] for shade in range(4) for hue in range(0, 20, 4)]
            + [c[hue + shade] for shade in range(4) for hue in range(0, TAB20C_GREYS, 4)])


def _part_colour(name: str, colours: dict, palette) -> object:
    """The colour of one stacked part, the same for an Einsum name in every group: DRAM grey; Einsums the
    palette's colours in order of first appearance, past its end hues around the colour wheel (golden-angle
    steps), so that no two legend entries share a colour."""
    import colorsys

    if name not in colours:
        i = sum(n != "DRAM" for n in colours)
        beyond = i - len(palette)
        colours[name] = DRAM_COLOR if name == "DRAM" else palette[i] if beyond < 0 else \
            colorsys.hls_to_rgb((beyond * 0.381966) % 1.0, 0.45 + 0.2 * (beyond % 2), 0.65)
    return colours[name]


def _mark_predicted(ax, x: float, y: float, text: str, label):
    """A black bar across the group at the predicted time, with the time written above; returns the line."""
    line = ax.plot([x - 0.44, x + 0.44], [y, y], color="black", linewidth=2.0, label=label, zorder=4)[0]
    ax.annotate(text, (x, y), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=8)
    return line


def _human(seconds: float) -> str:
    from cli._output import human_time

    return human_time(seconds)
