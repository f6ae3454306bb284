"""Read the FlashInfer post's decode and append figures off their PNGs, as `flashinfer-decode-a100-pcie.json`,
`flashinfer-batch-gqa-h100.json`, the two `flashinfer-append-*.json` files, `flashinfer-prefill-h100.json` and the
two `flashinfer-decode-fp8-*.json` files and `flashinfer-page-size-a100-pcie.json` were read.

The PNGs are in github.com/flashinfer-ai/flashinfer-ai.github.io, assets/imgs/, as replaced on 2024-02-05 by
commit 1543b2e (unchanged at 8e7a2f6): single-decode-benchmark.png (Fig. 5), batch-decode-benchmark.png
(Fig. 6), single-gqa-benchmark.png (Fig. 8), batch-gqa-benchmark.png (Fig. 9); single-append-benchmark.png
(Fig. 7), single-prefill-benchmark.png (Fig. 4), fp8-attention.png (Fig. 11) and page-effect-benchmark.png (Fig. 12, the A100
PCIe panel only) as first committed (1205f4e).
Fetch them, then:

    python3 validation/published/read_flashinfer_plots.py DIR [--panel a100|h100]

prints, per figure, series and KV length, the value read at that length (bandwidth utilization in %; Fig. 7:
and 4: TFLOP/s, from their TFLOP/s panels), and the height of the colour run it was read from (a marker standing clear of
the others: 16-21 px for dots and stars, 28-29 px for circles; a taller run is two markers merged, a shorter one a
marker partly under another line: for Fig. 7's markers the value a whole marker would have from the run's bottom
edge, "top hidden", follows).

How: each panel's axes are the black spines; its x and y scales come from the gray gridlines (Figs. 4, 5, 7, 8: a
linear axis with lines every 10k tokens; Fig. 9: every 1k; Fig. 6: a logarithmic one with lines at 100, 1k and
10k; y: lines every 20 or 25 points, or 100 TFLOP/s, from 0 at the bottom spine; a gridline hidden under a flat
series is skipped, its neighbours' spacing counting it). A value is the centre of a run of the series' colour
(matplotlib's Set1: red 228,26,28; blue 55,126,184; green 77,175,74; orange 255,127,0; grey 153,153,153) in the
three pixel columns at the point's KV length.
Fig. 6 draws FlashInfer solid and vLLM dashed in one colour: FlashInfer's is the upper run. Fig. 7 draws FlashInfer
with and without split-KV in one colour: with it, the upper run. Fig. 4 draws each kernel without the causal mask
(solid) and with it (dotted) in one colour: without it, the upper run.
Prints figures, writes nothing.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = {"red": (228, 26, 28), "blue": (55, 126, 184), "green": (77, 175, 74), "grey": (153, 153, 153),
           "orange": (255, 127, 0)}
GRID, BLACK = (128, 128, 128), (0, 0, 0)
LENGTHS = [2 ** k for k in range(5, 17)]  # 32 .. 65536, the benchmarks' axes
CIRCLE_PX = 29  # a circle marker's height where nothing covers it (Fig. 7's FA 2.4.2 markers)
STAR_PX = 21  # a star marker's (Fig. 7's FlashInfer markers; the split-KV ones lie under the fp16-accumulator line)
# figure -> (file, y gridline step, x scale, series: name -> (colour, KV lengths read)); the H100 panel is the
# first, the A100 PCIe one the second, except where PANELS says otherwise
FIGURES = {
    "5": ("single-decode-benchmark.png", 25, "linear", {
        "FlashInfer w/ split-kv": ("red", LENGTHS), "FlashAttention 2.4.2": ("green", LENGTHS)}),
    "6": ("batch-decode-benchmark.png", 20, "log", {
        "FlashInfer batch_size=1": ("green", LENGTHS), "FlashInfer batch_size=16": ("blue", LENGTHS[:8]),
        "FlashInfer batch_size=64": ("red", LENGTHS[:6])}),
    "8": ("single-gqa-benchmark.png", 20, "linear", {
        "FlashInfer Tensor Cores": ("red", LENGTHS), "FlashAttention 2.4.2": ("green", LENGTHS),
        "FlashInfer CUDA Cores": ("blue", LENGTHS)}),
    "9": ("batch-gqa-benchmark.png", 20, "linear-1k", {
        "FlashInfer CUDA Cores batch_size=64": ("blue", LENGTHS[:9])}),
    # Fig. 7 (append: 128 or 256 queries against a KV cache), its TFLOP/s panels (0-500, lines every 100); the
    # fp32-accumulator FlashInfer lines, solid with split-KV above dotted without it, share a colour
    "7": ("single-append-benchmark.png", 100, "linear", {
        "append_len=128, FA 2.4.2": ("green", LENGTHS[6:], CIRCLE_PX),
        "append_len=256, FA 2.4.2": ("grey", LENGTHS[6:], CIRCLE_PX),
        "append_len=128, FlashInfer (fp32 qk-accum)": ("blue", LENGTHS[6:], STAR_PX),
        "append_len=256, FlashInfer (fp32 qk-accum)": ("orange", LENGTHS[6:], STAR_PX)}),
}
# Fig. 4 (single prefill: queries = keys), TFLOP/s (0-500, lines every 100): solid lines without the causal mask
# above dotted ones with it, in one colour per kernel (the f16 qk-accumulator FlashInfer lines, red, left out)
FIGURES["4"] = ("single-prefill-benchmark.png", 100, "linear", {
    "FA 2.4.2 (w/o causal above w/ causal)": ("green", LENGTHS[6:], CIRCLE_PX),
    "FlashInfer f32 qk-accum (w/o causal above w/ causal)": ("blue", LENGTHS[6:], STAR_PX)})
# Fig. 11 (FP8 decode: FlashInfer's single decode on an 8-bit KV cache), its bandwidth-utilization lines (left axis,
# lines every 20): FlashInfer fp8's is the upper red run (the dotted red one below is its latency, right axis)
FIGURES["11"] = ("fp8-attention.png", 20, "linear", {"FlashInfer fp8 BWUtil": ("red", LENGTHS[6:11])})
# Fig. 12 (batch decode at page sizes 1, 4, 8 and 16 and the single decode, batch 1; one panel, the A100 PCIe): the
# lines lie on one another, page_size=1's red dots drawn last, on top
FIGURES["12"] = ("page-effect-benchmark.png", 20, "linear", {
    "FlashInfer batch decode (page_size=1)": ("red", LENGTHS[6:])})
# Fig. 7's eight panels run bandwidth | TFLOP/s, a row per GPU: H100, A100 PCIe, RTX Ada 6000, RTX 4090; Fig. 4's
# four TFLOP/s panels H100 | A100 PCIe, then the two Ada cards
PANELS = {"7": {"h100": 1, "a100": 3}, "12": {"a100": 0}}
# Fig. 12's legend covers most of its 20-60% gridlines: a line counts from 5% of the width shown
LINE_FRACTION = {"12": 0.05}


def _mask(im, colour, tol):
    return np.abs(im - np.array(colour)).sum(axis=2) <= tol


def _runs(idx):
    out = []
    for i in idx:
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([int(i), int(i)])
    return out


def _centres(idx):
    return [(a + b) / 2 for a, b in _runs(idx)]


def panels(im):
    """Axes boxes (x0, x1, y0, y1: inside the spines), top row first, left to right."""
    black = _mask(im, BLACK, 10)
    rows = _centres(np.where(black.sum(axis=1) > 400)[0])
    cols = _centres(np.where(black.sum(axis=0) > 300)[0])
    spans = [(a, b) for a, b in zip(cols, cols[1:]) if b - a > 800]
    # a spine runs across a whole panel; a row of legend text (Fig. 12's, inside its one panel) does not
    rows = [r for r in rows if any(black[int(r), int(a) + 3:int(b) - 2].mean() >= 0.9 for a, b in spans)]
    boxes = []
    for top, bottom in zip(rows, rows[1:]):
        for left, right in zip(cols, cols[1:]):
            inner = black[int(top) + 3:int(bottom) - 2, int(left) + 3:int(right) - 2]
            if bottom - top > 300 and right - left > 800 and inner.mean() < 0.08:  # Fig. 12: its legend, 5%
                boxes.append((int(left) + 3, int(right) - 2, int(top) + 3, int(bottom) - 2))
    return boxes


def scales(im, box, y_step, x_kind, line_fraction=0.3):
    """(x pixel of a KV length, utilization of a y pixel) from the panel's gridlines (a horizontal one: gridline
    pixels over ``line_fraction`` of the width)."""
    x0, x1, y0, y1 = box
    grid = _mask(im, GRID, 5)[y0:y1, x0:x1]
    vx = [c + x0 for c in _centres(np.where(grid.sum(axis=0) > (y1 - y0) * 0.3)[0])]
    hy = [c + y0 for c in _centres(np.where(grid.sum(axis=1) > (x1 - x0) * line_fraction)[0])]
    per_line = _spacing(hy)  # pixels between gridlines; a line hidden under a series is skipped, not counted
    per_point = per_line / y_step  # pixels per utilization point (or TFLOP/s)
    zero = hy[-1] + per_point * y_step  # the bottom spine is 0, one step below the lowest line
    if x_kind.startswith("linear"):  # lines at 0, 10k, 20k, ... (linear-1k: 0, 1k, 2k, ...)
        per_token = _spacing(vx) / (1_000 if x_kind == "linear-1k" else 10_000)
        return (lambda n: vx[0] + n * per_token), (lambda y: (zero - y) / per_point)
    per_decade = _spacing(vx)  # lines at 100, 1k, 10k
    return (lambda n: vx[0] + (math.log10(n) - 2) * per_decade), (lambda y: (zero - y) / per_point)


def _spacing(lines) -> float:
    """Pixels from one gridline to the next: each line's step count from the first is its distance over the
    smallest gap, rounded (a line hidden under a flat series leaves a double gap), and the spacing is the
    distance from the first line to the last over their step count."""
    steps = round((lines[-1] - lines[0]) / min(b - a for a, b in zip(lines, lines[1:])))
    return (lines[-1] - lines[0]) / steps


def read(im, box, colour, x_px, value, marker_px=None):
    """Runs of ``colour`` in the columns at x: (utilization at the run's centre, run height), top first; with
    ``marker_px`` (the marker's whole height), a run shorter than that also gives the value a whole marker whose
    top edge is hidden would have (its centre half a marker above the run's bottom edge), the run's third item."""
    x0, x1, y0, y1 = box
    x = int(round(x_px))
    if not x0 <= x < x1:
        return []
    hit = _mask(im[y0:y1, x - 1:x + 2], COLOURS[colour], 12).any(axis=1)  # the three columns only
    return [(round(value((a + b) / 2 + y0), 1), b - a + 1,
             *([round(value(b - (marker_px - 1) / 2 + y0), 1)] if marker_px and b - a + 1 < marker_px - 1 else []))
            for a, b in _runs(np.where(hit)[0])]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Read the FlashInfer post's Figs. 4-9, 11 and 12 off their PNGs.")
    parser.add_argument("dir", help="folder holding single-prefill-benchmark.png, single-decode-benchmark.png, "
                                    "batch-decode-benchmark.png, single-append-benchmark.png, "
                                    "single-gqa-benchmark.png, batch-gqa-benchmark.png, fp8-attention.png and "
                                    "page-effect-benchmark.png")
    parser.add_argument("--panel", choices=("h100", "a100"), default="a100",
                        help="the H100 SXM panel (top left) or the A100 PCIe one (top right); default a100")
    args = parser.parse_args(argv)
    folder = Path(args.dir)
    missing = [f for f, *_ in FIGURES.values() if not (folder / f).is_file()]
    if missing:
        parser.error(f"{args.dir}: no {', '.join(missing)} there")
    for fig, (name, y_step, x_kind, series) in FIGURES.items():
        where = PANELS.get(fig, {"h100": 0, "a100": 1})
        if args.panel not in where:  # Fig. 12 has the A100 PCIe panel only
            continue
        im = np.array(Image.open(folder / name).convert("RGB")).astype(int)
        boxes = panels(im)
        if len(boxes) <= where[args.panel]:
            print(f"Fig. {fig}: {name} has no panel {where[args.panel] + 1}", file=sys.stderr)
            return 1
        box = boxes[where[args.panel]]
        x_of, value = scales(im, box, y_step, x_kind, LINE_FRACTION.get(fig, 0.3))
        print(f"Fig. {fig} ({name}, {args.panel} panel)")
        for label, (colour, lengths, *marker) in series.items():
            cells = []
            for n in lengths:
                runs = read(im, box, colour, x_of(n), value, *marker)
                if runs:
                    cells.append(f"{n}: " + " / ".join(f"{v:.1f} ({h} px" + (f"; top hidden: {r[0]:.1f}" if r else "")
                                                       + ")" for v, h, *r in runs))
            print(f"  {label}: " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
