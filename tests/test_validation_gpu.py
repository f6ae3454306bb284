"""On a CUDA GPU with CuPy: every kernel of the quick suite (and the selftest's awkward shapes) matches
the float64 oracle. Skipped elsewhere; run with `python3 -m pytest -m gpu`."""

import pytest

from einsum_cascades.errors import UserError
from validation import gpu, runner, selftest, suite, torch_ref

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def cp():
    try:
        return gpu.require_gpu()
    except UserError:
        pytest.skip("needs a CUDA GPU with CuPy")


def _points(points):
    return [p for p in points if p.kernel not in suite.TORCH_KERNELS or torch_ref.available()]


@pytest.mark.parametrize("point", _points(suite.quick_points()), ids=runner.label)
def test_quick_suite_outputs_match_the_oracle(cp, point):
    rec = runner.measure(cp, point)
    assert rec["ok"], rec.get("error")


@pytest.mark.parametrize("point", _points(selftest.attention_points()), ids=lambda p: f"{runner.label(p)} {p.dtype}")
def test_edge_shapes_match_the_oracle(cp, point):
    rec = runner.measure(cp, point)
    assert rec["ok"], rec.get("error")
