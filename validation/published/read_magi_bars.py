"""Read MagiAttention's kernel-level bar charts off their PNGs, as the `magiattention-blog-*.json` sets were read.

The PNGs are the forward panels of the post 'Long-Context Attention Benchmark: From Kernel Efficiency to
Distributed Scalability' (SandAI-org/MagiAttention docs/source/blog/cp_benchmark.md), in that repository at
assets/magi_attn/exp/kernel/{h100,b200}/{full_mask,causal_mask,sw_causal_mask}/fwd/flops_report.png (added in
09fc31b2, 2026-02-28; the H100 ones git blobs 775b732e, 533526e7 and 8a08db35, the B200 ones ae6d72e7, a4f34f0e and
0bd236cb). Fetch one, then:

    python3 validation/published/read_magi_bars.py flops_report.png                   # an H100 panel
    python3 validation/published/read_magi_bars.py flops_report.png --grid-step 200   # a B200 panel

prints, per series attnsim has a family for (fa2 and fa3 on the H100 panels, fa4 on the B200 ones) and per bar
from left to right (1k ... 32k tokens), the TFLOP/s the bar's marker centre and its flat top stand at. How: the y
axis is the light-grey gridlines (every 100 TFLOP/s on the H100 panels, 200 on the B200 ones, as their labels read;
those the legend hides are not needed) fitted to a line, 0 one spacing below the lowest; a bar is a run of
columns whose lowest run of the series' colour (other series' lines across it bridged) stands on the axis; its top
is the most common top row over its columns; its marker (a white-faced 'D' centred on the value) is a white blob
closed in on every side on the bar's middle column near its top, its centre the blob's mean row. Prints figures,
writes nothing.
"""

import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_flashinfer_plots import _runs  # noqa: E402  (the sibling reader's runs of adjacent pixel indices)

SERIES = {"fa2": (187, 172, 209), "fa3": (199, 95, 133), "fa4": (218, 136, 129)}  # the charts' FA colours
GRID = (234, 234, 234)
GRID_STEP = 100  # TFLOP/s between gridlines on the H100 panels (the B200 ones: 200, --grid-step 200)
LENGTHS = ("1k", "2k", "4k", "8k", "16k", "32k")  # the x labels, left to right
MIN_BAR_PX = 40  # a bar is at least this many columns wide
FOOT_PX = 80  # a bar's run of its colour ends this near the row of 0 (the axis line and others' lines over its foot)
MIN_RUN_PX = 60  # and is at least this tall (a line through the values is a few px thick)
GAP_PX = 40  # runs of a bar's colour parted by fewer rows are one (other series' lines cross the bars)
MARKER_REACH_PX = 60  # the marker ('D', about 50 px across) is looked for this near the bar's top and centre
MARKER_MIN_PX = 50  # its white face holds at least this many pixels
MARKER_MAX_PX = 60  # and spans fewer rows and columns than this (the charts' faces: about 30)


def scale(im, step=GRID_STEP):
    """(row of 0 TFLOP/s, pixels per TFLOP/s) from the gridlines ``step`` TFLOP/s apart (as the panel's y labels
    read): rows of the grid colour across much of the plot, each assigned its multiple of ``step`` by its distance
    from the lowest, fitted to a line."""
    grid = (np.abs(im - np.array(GRID)).sum(axis=2) < 6).sum(axis=1) > im.shape[1] * 0.15
    rows = np.array([(a + b) / 2 for a, b in _runs(np.where(grid)[0])])
    if len(rows) < 3:
        raise SystemExit(f"expected gridlines every {step} TFLOP/s, found {len(rows)}")
    rows = rows[::-1]  # bottom first
    spacing = np.median(np.diff(rows))  # negative: rows count down the image as values go up
    index = np.round((rows - rows[0]) / spacing)
    slope, first = np.polyfit(index, rows, 1)  # row = first + slope * index
    # the lowest detected line is 1 x step, the next gridline down being the axis (0 is drawn by the frame, not the
    # grid colour)
    per_unit = -slope / step
    zero = first - slope  # one step below the lowest line
    return zero, per_unit


def bars(im, colour, zero):
    """Each bar of ``colour``, left to right: (top row, centre column). A bar stands on the axis: in each of its
    columns the lowest run of the colour (runs parted by another series' line joined) ends within FOOT_PX rows
    of the row of 0 and is taller than the line drawn through the values; its top is where that run ends going
    up."""
    hit = np.abs(im - np.array(colour)).sum(axis=2) < 12
    top_of = {}
    for x in np.where(hit[:int(zero)].any(axis=0))[0]:
        runs = _merged(_runs(np.where(hit[:int(zero), x])[0]), GAP_PX)
        a, b = runs[-1]  # the lowest
        if zero - b <= FOOT_PX and b - a + 1 >= MIN_RUN_PX:
            top_of[int(x)] = int(a)
    out = []
    for a, b in _runs(np.array(sorted(top_of))):
        if b - a + 1 >= MIN_BAR_PX:  # a stray column of a marker or a line near the axis is not a bar
            tops = [top_of[x] for x in range(a, b + 1)]
            out.append((Counter(tops).most_common(1)[0][0], (a + b) // 2))
    return out


def _merged(runs, gap):
    """Runs (first, last) joined where fewer than ``gap`` rows part them (another series' line across a bar)."""
    out = []
    for a, b in runs:
        if out and a - out[-1][1] - 1 < gap:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def marker_centre(im, top, centre, reach=MARKER_REACH_PX):
    """The centre row of the marker's white face near the bar's top, or None: within ``reach`` rows and columns of
    (top, centre), a blob of near-white pixels closed in on all four sides within ``reach`` by drawn pixels (the
    white background above the line is open upwards), no larger than a marker's face and spanning the bar's middle
    column (not the white between a gridline, a bar's top and a taller neighbour), its mean row: of several, the one
    nearest the top."""
    r0, c0 = max(0, top - reach), max(0, centre - reach)
    win = im[r0:top + reach, c0:centre + reach]
    light = win.min(axis=2) >= 240
    drawn = ~light
    closed = np.zeros_like(light)
    for i, j in zip(*np.where(light)):
        if (drawn[max(0, i - reach):i, j].any() and drawn[i + 1:i + reach, j].any()
                and drawn[i, max(0, j - reach):j].any() and drawn[i, j + 1:j + reach].any()):
            closed[i, j] = True
    found = []
    seen = np.zeros_like(closed)
    for i, j in zip(*np.where(closed)):
        if seen[i, j]:
            continue
        blob, todo = [], [(i, j)]
        seen[i, j] = True
        while todo:
            y, x = todo.pop()
            blob.append((y, x))
            for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                v, u = y + dy, x + dx
                if 0 <= v < closed.shape[0] and 0 <= u < closed.shape[1] and closed[v, u] and not seen[v, u]:
                    seen[v, u] = True
                    todo.append((v, u))
        rows, cols = [y for y, _ in blob], [x for _, x in blob]
        compact = max(rows) - min(rows) < MARKER_MAX_PX and max(cols) - min(cols) < MARKER_MAX_PX
        centred = min(cols) <= centre - c0 <= max(cols)  # the marker is centred on the bar: its face spans the middle
        if compact and centred and len(blob) >= MARKER_MIN_PX:
            found.append(r0 + float(np.mean(rows)))
    return min(found, key=lambda row: abs(row - top)) if found else None


def read(path, step=GRID_STEP):
    """{series: [(length, TFLOP/s at the marker centre or None, TFLOP/s at the bar top)]} for one PNG."""
    im = np.array(Image.open(path).convert("RGB")).astype(int)
    zero, per_unit = scale(im, step)
    out = {}
    for name, colour in SERIES.items():
        found = bars(im, colour, zero)
        if not found:  # the H100 panels draw fa2 and fa3, the B200 ones fa4
            continue
        if len(found) != len(LENGTHS):
            raise SystemExit(f"{path}: series {name}: expected {len(LENGTHS)} bars, found {len(found)}")
        rows = []
        for length, (top, centre) in zip(LENGTHS, found):
            mark = marker_centre(im, top, centre)
            rows.append((length, None if mark is None else (zero - mark) / per_unit, (zero - top + 0.5) / per_unit))
        out[name] = rows
    return zero, per_unit, out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    step = GRID_STEP
    if len(argv) == 3 and argv[1] == "--grid-step" and argv[2].isdigit() and int(argv[2]) > 0:
        step = int(argv[2])
    elif len(argv) != 1:
        print("usage: read_magi_bars.py flops_report.png [--grid-step TFLOPS]  (200 for the B200 panels)",
              file=sys.stderr)
        return 2
    zero, per_unit, series = read(argv[0], step)
    print(f"y: 0 at row {zero:.1f}, {per_unit:.4f} px per TFLOP/s")
    for name, rows in series.items():
        for length, mark, top in rows:
            shown = "-" if mark is None else f"{mark:.2f}"
            print(f"{name:4s} {length:>4s}  marker centre {shown:>7s}  bar top {top:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
