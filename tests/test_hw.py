"""Hardware specs: bundled figures against datasheets, strict loading."""

from dataclasses import replace

import pytest

from gpu_models import HardwareError, list_hardware, load_hardware


def test_every_bundled_machine_loads_with_a_source_for_every_figure():
    assert set(list_hardware()) >= {"a100", "h100", "h200", "b200", "fusemax", "flat"}
    for name in list_hardware():
        spec = load_hardware(name)
        assert spec.sources and all(s.strip() for s in spec.sources.values())


@pytest.mark.parametrize("name, tflops", [("a100", 312), ("h100", 989.4), ("h200", 989.4), ("b200", 2250)])
def test_fp16_tensor_peaks_match_the_datasheets(name, tflops):
    assert load_hardware(name).tensor_peak_flops("fp16") == pytest.approx(tflops * 1e12, rel=2e-3)


def test_h100_peak_is_sms_times_rate_times_clock():
    h = load_hardware("h100")
    assert h.tensor_peak_flops("fp16") == 132 * 4096 * 1830e6
    assert h.fp32_peak_flops() == pytest.approx(66.9e12, rel=1e-3)  # 132 x 128 x 2 x 1980 MHz


def test_fusemax_figures():
    fm = load_hardware("fusemax")
    assert (fm.pe2d_rows, fm.pe2d_cols, fm.pe1d_count, fm.clock_hz) == (256, 256, 256, 940e6)
    assert fm.dram_bw_bytes_s == 400 * 2**30 and fm.global_buffer_bytes == 16 * 2**20
    assert fm.exp_cost == {"mac": 6}


def _write(tmp_path, text):
    base = (load_hardware.__globals__["spec_path"]("h100")).read_text()
    f = tmp_path / "gpu.toml"
    f.write_text(text(base))
    return str(f)


@pytest.mark.parametrize("edit, needle", [
    (lambda t: t + 'bogus = { value = 1, source = "x" }\n', "bogus"),
    (lambda t: t.replace('sms = { value = 132', 'smz = { value = 132'), "smz"),
    (lambda t: t.replace('unit = "TB/s", source = "NVIDIA H100 datasheet', 'unit = "furlongs", source = "NVIDIA H100 datasheet'), "hbm_bw_bytes_s"),
    (lambda t: t.replace('sms = { value = 132', 'sms = { value = -132'), "sms"),
    (lambda t: t.replace('launch_overhead_s = { value = 2, unit = "us", source = "shared/reference/gpu.md: kernel launch about 2 us (about 1.3 us in a CUDA graph)" }\n', ''), "launch_overhead_s"),
])
def test_strict_loading_names_file_and_key(tmp_path, edit, needle):
    with pytest.raises(HardwareError, match=needle) as err:
        load_hardware(_write(tmp_path, edit))
    assert "gpu.toml" in str(err.value)


def test_variants_are_checked_again():
    h = load_hardware("h100")
    assert replace(h, sms=66).tensor_peak_flops() == pytest.approx(h.tensor_peak_flops() / 2)
    with pytest.raises(HardwareError):
        replace(h, hbm_efficiency=1.5)


def test_unknown_name_lists_the_bundled_ones():
    with pytest.raises(HardwareError, match="h100"):
        load_hardware("h1000")
