"""Read the FlashInfer v0.2 release post's bar chart off its PNG, as `flashinfer-v02-prefill-h100.json` was read.

The PNG is assets/imgs/fa3-template.png in github.com/flashinfer-ai/flashinfer-ai.github.io (the post
_posts/2024-12-12-flashinfer-v02-release.md, 'Performance comparison between dense/vector-sparse attention on FA-2
and FA-3 templates on H100 SXM5'). Fetch it, then:

    python3 validation/published/read_flashinfer_bars.py fa3-template.png

prints, per setting (top to bottom) and series, the TFLOP/s a bar reaches. How: the x axis starts at the dark
left spine (0 TFLOP/s) and its light gridlines stand at 200, 400 and 600, so a bar's value is the distance from the
spine to its right edge over the gridlines' spacing; a bar is a run of rows of its series' colour (the chart's:
blue 66,133,244; red 234,67,53; yellow 251,188,4; green 52,168,83), its right edge half a pixel past the last
pixel of that colour on its middle row. Prints figures, writes nothing.
"""

import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from read_flashinfer_plots import _runs  # noqa: E402  (the sibling reader's runs of adjacent pixel indices)

SERIES = {"FlashInfer FA2 (sparse, page_size=1)": (66, 133, 244), "FlashInfer FA2 (contiguous)": (234, 67, 53),
          "FlashInfer FA3 (sparse, page_size=1)": (251, 188, 4), "FlashInfer FA3 (contiguous)": (52, 168, 83)}
SETTINGS = ["B=128, L=1024", "B=64, L=2048", "B=32, L=4096", "B=8, L=8192", "B=1, L=32768"]  # the y labels, top first
GRID = (204, 204, 204)
GRID_VALUES = (200, 400, 600)


def scale(im):
    """(x pixel of 0, pixels per TFLOP/s) from the spine and the gridlines at 200, 400 and 600."""
    spine = int(np.argmax((im.sum(axis=2) < 300).sum(axis=0)))
    grid = np.abs(im - np.array(GRID)).sum(axis=2) < 60
    lines = [(a + b) / 2 for a, b in _runs(np.where(grid.sum(axis=0) > 300)[0])]
    if len(lines) != len(GRID_VALUES):
        raise SystemExit(f"expected gridlines at {GRID_VALUES}, found {len(lines)}")
    per_unit = (lines[-1] - lines[0]) / (GRID_VALUES[-1] - GRID_VALUES[0])
    return spine, per_unit


def bars(im, colour):
    """Each bar of ``colour``, top first: (right edge in pixels, bar height in pixels)."""
    hit = np.abs(im - np.array(colour)).sum(axis=2) < 60
    out = []
    for a, b in _runs(np.where(hit.sum(axis=1) > 50)[0]):
        xs = np.where(hit[(a + b) // 2])[0]
        out.append((xs.max() + 0.5, b - a + 1))
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: read_flashinfer_bars.py fa3-template.png", file=sys.stderr)
        return 2
    im = np.array(Image.open(argv[0]).convert("RGB")).astype(int)
    zero, per_unit = scale(im)
    print(f"x: 0 at px {zero}, {per_unit:.4f} px per TFLOP/s")
    for name, colour in SERIES.items():
        found = bars(im, colour)
        if len(found) != len(SETTINGS):
            print(f"{name}: {len(found)} bars, expected {len(SETTINGS)}", file=sys.stderr)
            return 1
        print(f"{name}: " + "; ".join(f"{s}: {(edge - zero) / per_unit:.1f} ({h} px)"
                                      for s, (edge, h) in zip(SETTINGS, found)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
