"""validation/published/read_magi_bars.py: the bar reader behind the magiattention-blog-*-h100.json sets, on a drawn
chart whose values are known."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location("read_magi_bars", Path("validation/published/read_magi_bars.py"))
R = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(R)

ZERO, PER_UNIT = 1500, 2.0  # the drawn chart: 0 TFLOP/s at row 1500, 2 px per TFLOP/s (by default)


def _chart(values, step=100, per_unit=PER_UNIT):
    """A white chart with gridlines every ``step`` TFLOP/s (the sixth under a legend box), a frame at 0, and for each
    series in ``values`` six bars (60 px wide) each with a white-faced diamond marker on its top; another colour's
    thick line crosses every bar halfway up."""
    def _row(value):
        return ZERO - value * per_unit

    im = np.full((1600, 1400, 3), 255, dtype=int)
    for v in range(step, 7 * step, step):
        im[int(_row(v)) - 1:int(_row(v)) + 2, 20:1380] = R.GRID
    im[int(_row(6 * step)) - 20:int(_row(6 * step)) + 20, 300:1100] = (250, 250, 250)  # the legend hides that line
    im[ZERO:ZERO + 4, 20:1380] = (204, 204, 204)  # the frame at 0
    for s, name in enumerate(values):
        colour = R.SERIES[name]
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
    for name in values:
        found = R.bars(im, R.SERIES[name], zero)
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


def test_a_b200_panel_reads_on_its_200_tflops_gridlines():
    """The B200 panels draw FA4 alone on gridlines 200 TFLOP/s apart (--grid-step 200); the H100 default would halve
    every reading."""
    values = {"fa4": [204.5, 834.0, 1379.5, 1334.5, 1298.5, 1296.5]}
    im = _chart(values, step=200, per_unit=1.0)
    zero, per_unit = R.scale(im, 200)
    assert zero == pytest.approx(ZERO, abs=0.5) and per_unit == pytest.approx(1.0, rel=1e-3)
    found = R.bars(im, R.SERIES["fa4"], zero)
    assert [(zero - top + 0.5) / per_unit for top, _ in found] == pytest.approx(values["fa4"], abs=1.1)
    assert not R.bars(im, R.SERIES["fa3"], zero)  # a series the panel does not draw is skipped, not misread
    assert R.scale(im)[1] == pytest.approx(2.0, rel=1e-3)  # 200 px taken as 100 TFLOP/s: half the readings
