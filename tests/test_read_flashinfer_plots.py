"""validation/published/read_flashinfer_plots.py: the plot reader behind flashinfer-decode-a100-pcie.json, on a
drawn panel whose values are known."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location("read_flashinfer_plots",
                                              Path("validation/published/read_flashinfer_plots.py"))
R = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(R)


def _panel_image():
    """Two side-by-side panels 1000 x 400 px: spines, gridlines every 10k tokens (x, from 0 at px 50 of the
    panel, 10 px per 1k) and every 20 points (y, 0 at the bottom spine, 4 px per point), and in the right panel
    a red marker (16 px tall) at 8k tokens and 30%, with a blue one at 16k and 55%."""
    im = np.full((500, 2300, 3), 255, dtype=int)
    for left in (100, 1200):
        right, top, bottom = left + 1000, 50, 450
        im[top - 1:top + 2, left:right + 1] = im[bottom - 1:bottom + 2, left:right + 1] = R.BLACK
        im[top:bottom + 1, left - 1:left + 2] = im[top:bottom + 1, right - 1:right + 2] = R.BLACK
        for k in range(7):  # x gridlines at 0, 10k, .., 60k
            im[top + 2:bottom - 1, left + 50 + 100 * k] = R.GRID
        for v in (20, 40, 60, 80):
            im[bottom - 4 * v, left + 2:right - 1] = R.GRID
    x = lambda n: 1200 + 50 + n // 100  # noqa: E731  (the right panel)
    y = lambda v: 450 - 4 * v  # noqa: E731
    im[y(30) - 8:y(30) + 8, x(8192) - 3:x(8192) + 4] = R.COLOURS["red"]
    im[y(55) - 10:y(55) + 11, x(16384) - 3:x(16384) + 4] = R.COLOURS["blue"]
    return im


def test_the_reader_finds_the_panels_scales_and_values_of_a_drawn_plot():
    im = _panel_image()
    boxes = R.panels(im)
    assert len(boxes) == 2 and boxes[0][0] < boxes[1][0]
    x_of, value = R.scales(im, boxes[1], 20, "linear")
    assert x_of(10_000) == pytest.approx(1350) and value(450) == pytest.approx(0, abs=0.3)
    red = R.read(im, boxes[1], "red", x_of(8192), value)
    assert len(red) == 1 and red[0][0] == pytest.approx(30, abs=0.2) and red[0][1] == 16
    (blue,) = R.read(im, boxes[1], "blue", x_of(16384), value)
    assert blue[0] == pytest.approx(55, abs=0.2) and blue[1] == 21
    assert R.read(im, boxes[1], "green", x_of(8192), value) == []


def test_a_folder_without_the_figures_is_one_line_and_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        R.main([str(tmp_path)])
    assert stop.value.code == 2
    assert "no single-decode-benchmark.png" in capsys.readouterr().err


def test_one_panel_with_a_legend_over_its_gridlines():
    """Fig. 12's layout: one panel whose legend box (rows of black text inside the axes) hides most of the 20-60
    gridlines; the text rows are not spines, and the hidden lines count from 5% of the width."""
    im = np.full((500, 1300, 3), 255, dtype=int)
    left, right, top, bottom = 100, 1200, 50, 450
    im[top - 1:top + 2, left:right + 1] = im[bottom - 1:bottom + 2, left:right + 1] = R.BLACK
    im[top:bottom + 1, left - 1:left + 2] = im[top:bottom + 1, right - 1:right + 2] = R.BLACK
    for k in range(7):
        im[top + 2:bottom - 1, left + 50 + 100 * k] = R.GRID
    for v in (20, 40, 60, 80):
        im[bottom - 4 * v, left + 2:right - 1] = R.GRID
    im[bottom - 4 * 65:bottom - 4 * 15, left + 150:right - 20] = 255  # the legend's white box over the lines
    for row in range(bottom - 4 * 60, bottom - 4 * 20, 40):  # its lines of text: 600 black pixels each
        im[row:row + 3, left + 200:left + 800] = R.BLACK
    (box,) = R.panels(im)
    assert box[2] < top + 5 and box[3] > bottom - 5
    x_of, value = R.scales(im, box, 20, "linear", line_fraction=0.05)
    assert value(bottom) == pytest.approx(0, abs=0.3) and value(bottom - 4 * 40) == pytest.approx(40, abs=0.3)
