"""Mends of session 68: a copy of a bundled accelerator keeps its baseline machine (the TOML's baseline_machine line,
not a rule keyed by the bundled name)."""

from pathlib import Path

import pytest

from cli_runner import one_line_error, user_file  # noqa: E402  (tests/cli_runner.py)
from simulator import simulate

FUSEMAX = Path(__file__).resolve().parents[1] / "gpu_models" / "specs" / "fusemax.toml"


def _copy(tmp_path, drop_baseline=False, machine=None) -> str:
    lines = FUSEMAX.read_text().replace('name = "fusemax"', 'name = "my-fusemax"').splitlines(keepends=True)
    if drop_baseline:
        lines = [line for line in lines if not line.startswith("baseline_machine")]
    text = "".join(lines)
    if machine:
        text = text.replace('baseline_machine = { value = "flat"', f'baseline_machine = {{ value = "{machine}"')
    return user_file(tmp_path, text, "my-fusemax.toml")


def test_a_renamed_copy_of_fusemax_compares_with_unfused_on_flat_as_the_bundled_file_does(tmp_path):
    """The copy had run its baseline on itself (a 10.81x speedup where the bundled file says 6.00x)."""
    wl = dict(seq_len=65536)
    bundled, mine = simulate("fusemax", **wl), simulate(_copy(tmp_path), **wl)
    assert bundled["baseline"] == mine["baseline"] == "unfused@flat"
    assert mine["speedup"] == pytest.approx(bundled["speedup"], rel=1e-12)


def test_a_copy_without_the_line_runs_its_baseline_on_itself(tmp_path):
    row = simulate(_copy(tmp_path, drop_baseline=True), seq_len=65536)
    assert row["baseline"] == "unfused" and row["speedup"] > simulate("fusemax", seq_len=65536)["speedup"]


@pytest.mark.parametrize("machine", ["h100", "no-such-machine"])
def test_a_baseline_machine_that_is_not_a_bundled_accelerator_is_refused_in_one_line(tmp_path, machine):
    line = one_line_error("simulate", "--hw", _copy(tmp_path, machine=machine))
    assert "baseline_machine must be" in line and "bundled accelerator (flat, fusemax)" in line and machine in line
