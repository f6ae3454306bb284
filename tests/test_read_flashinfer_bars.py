"""validation/published/read_flashinfer_bars.py: the bar reader behind flashinfer-v02-prefill-h100.json, on a drawn
chart whose values are known."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

SPEC = importlib.util.spec_from_file_location("read_flashinfer_bars", Path("validation/published/read_flashinfer_bars.py"))
R = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(R)


def test_the_reader_scales_on_the_gridlines_and_reads_each_bar():
    """A spine at px 100, gridlines at 200, 400 and 600 TFLOP/s (2 px each), five green bars of known values."""
    im = np.full((700, 1500, 3), 255, dtype=int)
    im[:, 100] = (51, 51, 51)
    for v in R.GRID_VALUES:
        im[:, 100 + 2 * v] = R.GRID
    values = [391.5, 471.0, 532.5, 567.5, 602.0]
    for k, v in enumerate(values):
        im[50 + 120 * k:75 + 120 * k, 101:100 + int(round(2 * v))] = R.SERIES["FlashInfer FA3 (contiguous)"]
    zero, per_unit = R.scale(im)
    assert zero == 100 and per_unit == pytest.approx(2.0)
    found = R.bars(im, R.SERIES["FlashInfer FA3 (contiguous)"])
    assert [(edge - zero) / per_unit for edge, _ in found] == pytest.approx(values, abs=0.3)
    assert all(h == 25 for _, h in found)
