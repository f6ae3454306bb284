"""Points whose timed window holds the host's dispatch of the call (``host_in_window``, validation/FORMAT.md): a fit
takes them only from HOST_WINDOW_FIT_MIN_S up, and the results format checks the field's type."""

import json

import pytest

from einsum_cascades.errors import UserError
from simulator import hardware
from validation import kernel_fit
from validation.report import check_results

B200 = hardware("b200")
PUBLISHED = "validation/published/cudnn-frontend-sdpa-b200.json"


def _point(seq_len: int, measured_s: float, host: bool | None) -> dict:
    point = {"kernel": "flash-attn-2", "algorithm": "flash2", "batch": 1, "heads": 16, "kv_heads": 16,
             "head_dim": 128, "seq_len": seq_len, "kv_len": seq_len, "causal": False, "dtype": "bf16",
             "measured_s": measured_s, "ok": True}
    if host is not None:
        point["host_in_window"] = host
    return point


def _doc(points: list[dict]) -> dict:
    return {"format": "attnsim-validation/1", "source": "test", "device": {"name": "NVIDIA B200"}, "points": points}


def test_a_fit_takes_a_host_timed_call_only_from_a_millisecond_up():
    short, long = kernel_fit.HOST_WINDOW_FIT_MIN_S * 0.9, kernel_fit.HOST_WINDOW_FIT_MIN_S * 1.1
    taken = kernel_fit.fit_points(_doc([_point(1024, short, True), _point(8192, long, True),
                                        _point(1024, short, False), _point(2048, short, None)]), B200)
    lengths = sorted(p[0].seq_len for p in taken["mma_sync"])
    assert lengths == [1024, 2048, 8192]  # the short host-timed call alone is left out


def test_the_published_b200_sdpa_set_is_fitted_from_its_long_calls_only():
    """cudnn-frontend's B200 SDPA benchmark records its start event on an idle GPU (its file's host_why): every point
    says so, and the fit takes its FA2 calls of 4k tokens and more (1.6 ms and up), none of its 512-2k ones."""
    with open(PUBLISHED) as f:
        doc = json.load(f)
    assert doc["host_why"] and all(p["host_in_window"] is True for p in doc["points"])
    taken = kernel_fit.fit_points(doc, B200, only=("mma_sync",))["mma_sync"]
    flash2 = [p for p in doc["points"] if p["algorithm"] == "flash2"]
    assert sorted({p[0].seq_len for p in taken}) == [4096 * 2 ** i for i in range(6)]
    assert len(taken) == sum(p["measured_s"] >= kernel_fit.HOST_WINDOW_FIT_MIN_S for p in flash2) < len(flash2)


@pytest.mark.parametrize("value", ["yes", 1, 0.0])
def test_host_in_window_must_be_true_or_false(value):
    with pytest.raises(UserError, match="host_in_window must be true or false"):
        check_results(_doc([_point(1024, 1e-3, None) | {"host_in_window": value}]), "f.json")
    check_results(_doc([_point(1024, 1e-3, True), _point(1024, 1e-3, None)]), "f.json")
