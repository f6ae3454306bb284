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


A100 = FUSEMAX.parent / "a100.toml"


def _sm8x(tmp_path, arch: str) -> str:
    """An A100 file moved to another sm_8x arch; sm_86 and sm_89 with their 100 KB of shared memory an SM (99 KB a
    CTA: the CUDA C++ Programming Guide's table), sm_87 (Orin) with sm_80's 164 KB."""
    text = A100.read_text().replace('name = "a100"', f'name = "my-{arch}"').replace('arch = "sm_80"', f'arch = "{arch}"')
    if arch in ("sm_86", "sm_89"):
        lines = [line.replace("value = 164,", "value = 100,") if line.startswith("smem_per_sm_bytes") else
                 line.replace("value = 163,", "value = 99,") if line.startswith("smem_per_block_bytes") else line
                 for line in text.splitlines(keepends=True)]
        assert any("value = 100," in line for line in lines) and any("value = 99," in line for line in lines)
        text = "".join(lines)
    return user_file(tmp_path, text, f"my-{arch}.toml")


@pytest.mark.parametrize("d, pattern, causal, tile", [
    (128, None, True, "64x64"), (128, None, False, "128x32"),
    (128, "window(1k)", True, "128x32"),  # a local call is not Is_causal: the non-causal branch
    (96, None, True, "64x64"), (96, None, False, "128x64"), (64, None, True, "128x128"), (192, None, True, "128x64")])
def test_fa2_on_sm89_takes_its_is_sm8x_tiles(tmp_path, d, pattern, causal, tile):
    """flash_fwd_launch_template.h run_mha_fwd_hdim96/128: 'For sm86 or sm89, 64 x 64 is the fastest for causal ...
    and 128 x 32 (48 KB smem) is the fastest for non-causal'; attnsim had run the sm_80 tiles on every sm_8x GPU."""
    wl = dict(head_dim=d, seq_len=4096, causal=causal, pattern=pattern)
    assert simulate(_sm8x(tmp_path, "sm_89"), algo="flash2", **wl)["tile"] == tile
    assert simulate(_sm8x(tmp_path, "sm_80"), algo="flash2", **wl)["tile"] == simulate("a100", algo="flash2", **wl)["tile"]


@pytest.mark.parametrize("d, pattern, tile", [(128, None, "128x128"), (128, "window(1k)", "128x96"),
                                              (256, None, "128x64"), (256, "window(1k)", "128x48"), (64, None, "128x112")])
def test_fa3_sm80_path_on_sm89_takes_tile_size_fwd_sm8x_sm86_or_89_tiles(tmp_path, d, pattern, tile):
    """hopper/tile_size.h tile_size_fwd_sm8x(sm86_or_89 = params.arch == 86 || 89): 8 warps and 128 keys at hdim 128,
    64 keys at 256 (48 local); sm_87 takes sm_80's tiles."""
    wl = dict(head_dim=d, seq_len=4096, causal=True, pattern=pattern)
    assert simulate(_sm8x(tmp_path, "sm_89"), algo="flash3", **wl)["tile"] == tile
    assert simulate(_sm8x(tmp_path, "sm_87"), algo="flash3", **wl)["tile"] == simulate("a100", algo="flash3", **wl)["tile"]


@pytest.mark.parametrize("hw, more, pages", [("b200", "flash2 / flash4", "or flashinfer-decode"),
                                             ("h100", "flash2 / flash3 / flash4", "or flash3 / flashinfer-decode"),
                                             ("a100", "flash2 / flash3", "or flash3 / flashinfer-decode")])
def test_refusals_point_to_families_that_run_on_the_gpu(hw, more, pages):
    """A decode kernel's --seq-len refusal and FA2's page-size refusal named flash3 on a B200, where it does not
    build (and FA4 takes pages at its key tile only, so it is no choice for 16-token pages)."""
    assert f"use 1, or {more} for more queries" in one_line_error("simulate", "--hw", hw, "--algo", "flashinfer-decode",
                                                                  "--seq-len", "4")
    assert one_line_error("simulate", "--hw", hw, "--algo", "flash-decoding", "--seq-len", "1", "--kv-len", "4k",
                          "--page-size", "16").endswith(f"use 256, 512, ..., {pages}")
