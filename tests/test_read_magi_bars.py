"""validation/published/read_magi_bars.py: the bar reader behind the magiattention-blog-*-h100.json sets, on a drawn
chart whose values are known."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location("read_magi_bars", Path("validation/published/read_magi_bars.py"))
R = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(R)

ZERO, PER_UNIT = 1500, 2.0  # the drawn chart: 0 TFLOP/s at row 1500, 2 px per TFLOP/s


def _row(value):
    return ZERO - value * PER_UNIT


def _chart(values):
    """A white chart with gridlines every 100 TFLOP/s (the 600 line under a legend box), a frame at 0, and for each
    series six bars (60 px wide) each with a white-faced diamond marker on its top; another colour's thick line
    crosses every bar halfway up."""
    im = np.full((1600, 1400, 3), 255, dtype=int)
    for v in range(100, 700, 100):
        im[int(_row(v)) - 1:int(_row(v)) + 2, 20:1380] = R.GRID
    im[int(_row(600)) - 20:int(_row(600)) + 20, 300:1100] = (250, 250, 250)  # the legend hides that gridline
    im[ZERO:ZERO + 4, 20:1380] = (204, 204, 204)  # the frame at 0
    for s, (name, colour) in enumerate(R.SERIES.items()):
        for k, v in enumerate(values[name]):
            left = 60 + 200 * k + 70 * s
            top = int(round(_row(v)))
            im[top:ZERO, left:left + 60] = colour
            cy, cx = _row(v), left + 30
            for dy in range(-12, 13):
                for dx in range(-12, 13):
                    if abs(dy) + abs(dx) <= 12:  # the marker: a diamond, its edge the colour, its face white
                        im[int(round(cy)) + dy, cx + dx] = colour if abs(dy) + abs(dx) > 7 else (255, 255, 255)
            im[int(_row(v / 2)) - 8:int(_row(v / 2)) + 8, left:left + 60] = (237, 216, 163)  # a line across
    return im


def test_the_reader_scales_on_the_gridlines_and_reads_each_bar_and_marker():
    values = {"fa2": [187.5, 271.0, 327.5, 350.5, 362.5, 366.0], "fa3": [282.5, 584.0, 662.5, 656.5, 671.5, 679.0]}
    im = _chart(values)
    zero, per_unit = R.scale(im)
    assert zero == pytest.approx(ZERO, abs=0.5) and per_unit == pytest.approx(PER_UNIT, rel=1e-3)
    for name, colour in R.SERIES.items():
        found = R.bars(im, colour, zero)
        assert len(found) == len(R.LENGTHS)
        tops = [(zero - top + 0.5) / per_unit for top, _ in found]
        assert tops == pytest.approx(values[name], abs=0.6)
        marks = [(zero - R.marker_centre(im, top, centre)) / per_unit for top, centre in found]
        assert marks == pytest.approx(values[name], abs=0.6)


def test_a_bar_crossed_by_a_line_is_one_bar_and_a_legend_patch_is_none():
    values = {"fa2": [100.0] * 6, "fa3": [200.0] * 6}
    im = _chart(values)
    im[100:160, 500:560] = R.SERIES["fa2"]  # a legend patch of the series' colour, far above the axis
    zero, _ = R.scale(im)
    assert len(R.bars(im, R.SERIES["fa2"], zero)) == 6
