"""Hardware specs: bundled figures against datasheets as closed forms, exact units, strict loading."""

import dataclasses
import re
from pathlib import Path
from dataclasses import replace

import pytest

from einsum_cascades.errors import UserError
from gpu_models import GPUSpec, HardwareError, list_hardware, load_hardware, spec_path
from gpu_models.schema import SCHEMAS, TABLES
from gpu_models.spec import OP_CLASSES
from gpu_models.units import to_stored

MHz, KiB, MiB, GiB = 1e6, 2**10, 2**20, 2**30


def test_every_bundled_machine_loads_with_a_source_for_every_figure():
    assert set(list_hardware()) >= {"a100", "h100", "h20", "h200", "h800", "b200", "gb200", "fusemax", "flat"}
    for name in list_hardware():
        spec = load_hardware(name)
        assert spec.name == name
        _, schema = SCHEMAS[spec.kind]
        for key, dim in schema.items():
            if dim == "text" or getattr(spec, key) in (None, ""):  # an MMA path the architecture lacks, no baseline machine
                continue
            keys = [f"{key}.{sub}" for sub in getattr(spec, key)] if key in TABLES else [key]
            assert all(spec.sources.get(k, "").strip() for k in keys), (name, key)


@pytest.mark.parametrize("name, dtype, per_clk_sm, datasheet", [
    ("a100", "fp16", 108 * 2048 * 1410 * MHz, 312e12),  # A100 whitepaper: 312 TFLOP/s dense fp16
    ("a100", "tf32", 108 * 1024 * 1410 * MHz, 156e12),
    ("h100", "fp16", 132 * 4096 * 1830 * MHz, 989.4e12),  # H100 whitepaper: 989.4 at 1830 MHz
    ("h100", "fp8", 132 * 8192 * 1830 * MHz, 1978.9e12),
    ("h100", "tf32", 132 * 2048 * 1830 * MHz, 494.7e12),
    ("h200", "fp16", 132 * 4096 * 1830 * MHz, 989.4e12),
    ("h800", "fp16", 132 * 4096 * 1830 * MHz, 990e12),  # FlashMLA's deep dive: 990 TFLOP/s on an H800 SXM5
    ("h800", "fp8", 132 * 8192 * 1830 * MHz, 1978.9e12),
    ("h20", "fp16", 78 * 1036.85 * 1830 * MHz, 148e12),  # the H20's throttled rate: 148 TFLOP/s at 78 SMs
    ("h20", "fp8", 78 * 2073.7 * 1830 * MHz, 296e12),
    ("b200", "fp16", 148 * 8192 * 1855.8 * MHz, 2250e12),
    ("b200", "fp8", 148 * 16384 * 1855.8 * MHz, 4500e12),
    ("gb200", "fp16", 152 * 8192 * 2007.75 * MHz, 2500e12),  # GB200 NVL72: 360 PFLOP/s sparse / 72 GPUs / 2
])
def test_tensor_peaks_are_sms_times_rate_times_clock_and_match_the_datasheets(name, dtype, per_clk_sm, datasheet):
    peak = load_hardware(name).tensor_peak_flops(dtype)
    assert peak == pytest.approx(per_clk_sm, rel=1e-12)
    assert peak == pytest.approx(datasheet, rel=1e-3)


def test_other_gpu_peaks_keep_their_own_clocks():
    a100, h100 = load_hardware("a100"), load_hardware("h100")
    assert h100.fp32_peak_flops() == pytest.approx(66.9e12, rel=1e-3)  # 2 x 132 x 128 x 1980 MHz
    assert a100.fp32_peak_flops() == pytest.approx(19.5e12, rel=1e-3)  # 2 x 108 x 64 x 1410 MHz
    assert h100.sfu_peak_ops(h100.tensor_clock_hz) == pytest.approx(3.9e12, rel=0.01)  # FA3 paper: 3.9 TFLOP/s
    assert a100.sfu_peak_ops() == 108 * 16 * 1410 * MHz  # default: the sustained clock, the tensor peak's
    assert a100.tensor_peak_flops("fp16", clock_hz=1200 * MHz) == 108 * 2048 * 1200 * MHz
    assert h100.hbm_achievable_bw == pytest.approx(3.35e12 * 0.949)  # BabelStream Dot, the read-only stream


def test_units_convert_exactly_to_si():
    a100, h200 = load_hardware("a100"), load_hardware("h200")
    assert a100.hbm_bw_bytes_s == 2039 * 10**9 and isinstance(a100.hbm_bw_bytes_s, int)
    assert (a100.smem_per_sm_bytes, a100.smem_per_block_bytes) == (164 * KiB, 163 * KiB)
    assert (a100.l2_bytes, h200.l2_bytes, a100.launch_overhead_s) == (40 * MiB, 60 * MiB, pytest.approx(2.62e-6))
    assert load_hardware("b200").l2_bytes == 126.5 * MiB
    assert to_stored(2.039, "TB/s") == 2_039_000_000_000
    assert (to_stored(1, "J"), to_stored(2, "nJ"), to_stored(1.5, "GHz")) == (10**12, 2000, 1_500_000_000)


def test_accelerators_match_the_fusemax_paper():
    fm, flat = load_hardware("fusemax"), load_hardware("flat")
    for spec in (fm, flat):
        assert (spec.pe2d_rows, spec.pe2d_cols, spec.pe1d_count, spec.clock_hz) == (256, 256, 256, 940 * MHz)
        assert spec.dram_bw_bytes_s == 400 * GiB and spec.word_bytes == 2
        assert spec.peak_2d_macs == 256 * 256 * 940 * MHz and spec.peak_1d_ops == 256 * 940 * MHz
    assert (fm.global_buffer_bytes, flat.global_buffer_bytes) == (16 * MiB, 32 * MiB)
    assert fm.pe2d_ops == ("mac", "add", "max") and flat.pe2d_ops == ("mac",)
    assert "exp" in flat.pe1d_ops and "exp" not in fm.pe1d_ops + fm.pe2d_ops
    assert fm.exp_cost == {"mac": 6} and flat.exp_cost == {"exp": 1}  # the subtraction is the cascade's own add
    # The buffer's per-access energy grows with its size (CACTI: 16 MiB vs 32 MiB, 4096-bit rows);
    # FLAT's exp unit is 5 fp MACs and a multiply; only FuseMax has a staging buffer.
    assert (fm.energy_pj["gb_read_per_4096bit"], flat.energy_pj["gb_read_per_4096bit"]) == (12512.8, 23854.7)
    assert flat.energy_pj["exp"] == pytest.approx(5 * 17.1645 + (17.1645 - 8.3395), rel=1e-12)
    assert (fm.staging_buffer_bytes, flat.staging_buffer_bytes) == (8192 * 2, 0)
    assert "staging_read" in fm.energy_pj and "staging_read" not in flat.energy_pj


def test_op_classes_are_the_cascade_ir_ones():
    """The PE units a TOML may list are the IR's op classes but the reciprocal, which runs on a divider or
    on MACs (simulator.lowering.accel_op), never on a unit of its own."""
    from einsum_cascades.ops import OP_CLASSES as IR_CLASSES

    assert OP_CLASSES == tuple(c for c in IR_CLASSES if c != "rcp")


def test_unsupported_dtype_names_the_allowed_ones():
    with pytest.raises(UserError, match="fp8.*allowed fp16, bf16, tf32"):
        load_hardware("a100").tensor_peak_flops("fp8")


def test_variants_via_replace_keep_sources_and_rescale_peaks():
    h100 = load_hardware("h100")
    half = replace(h100, sms=66)
    assert half.tensor_peak_flops() == pytest.approx(h100.tensor_peak_flops() / 2) and half.sources == h100.sources
    with pytest.raises(dataclasses.FrozenInstanceError):
        h100.sms = 1


@pytest.mark.parametrize("name, change, needle", [
    ("h100", dict(hbm_efficiency=1.5), "hbm_efficiency must be a fraction"),
    ("h100", dict(sms=0), "sms must be a positive"),
    ("h100", dict(sms=131.5), "sms must be a positive integer"),
    ("h100", dict(smem_per_block_bytes=229 * KiB), "smem_per_block_bytes .* exceeds"),
    ("h100", dict(tensor_flops_per_clk_sm={"fp64": 1}), "tensor_flops_per_clk_sm.fp64"),
    ("h100", dict(tensor_flops_per_clk_sm={"bf16": 4096}), "tensor_flops_per_clk_sm needs fp16"),
    ("h100", dict(arch="hopper"), "arch must look like"),
    ("h100", dict(kind="accelerator"), "kind must be 'gpu'"),
    ("h100", dict(cuda_core_clock_hz=2100e6), "cuda_core_clock_hz .2100 MHz. exceeds the highest clock"),
    ("h100", dict(cuda_core_clock_hz=0), "cuda_core_clock_hz must be a positive"),
    ("b200", dict(cp_async_hbm_efficiency=1.2), "cp_async_hbm_efficiency must be a fraction"),
    ("b200", dict(cp_async_hbm_efficiency=0), "cp_async_hbm_efficiency must be a fraction"),
    ("fusemax", dict(exp_cost={"exp": 1}), "exp"),  # FuseMax has no exp unit to spend an exp op on
    ("fusemax", dict(pe2d_ops=("mac", "fma")), "pe2d_ops"),
    ("flat", dict(pe1d_ops=("max", "add", "mac", "exp")), "no PE array executes 'div'"),
    ("flat", dict(staging_buffer_bytes=16384), "energy_pj needs staging_read, staging_write"),
    ("fusemax", dict(staging_buffer_bytes=0), "staging-buffer energies but staging_buffer_bytes is 0"),
    ("fusemax", dict(staging_buffer_bytes=-1), "staging_buffer_bytes must be a number >= 0"),
])
def test_variants_via_replace_are_checked_again(name, change, needle):
    with pytest.raises(HardwareError, match=needle):
        replace(load_hardware(name), **change)


def _edit(tmp_path, name: str, edits: dict) -> str:
    """A copy of a bundled TOML with the line of each key (``sms``, ``energy_pj.exp``) replaced by
    ``edits[key]`` (None deletes it), named ``mine-<name>`` unless ``edits`` names it (a bundled name is refused)."""
    lines = spec_path(name).read_text().splitlines()
    edits = {"name": f'name = "mine-{name}"', **edits}
    for key, new in edits.items():
        section, _, sub = key.rpartition(".")
        start = lines.index(f"[{section}]") if section else 0
        i = next(i for i in range(start, len(lines)) if lines[i].startswith(f"{sub} = "))
        lines[i:i + 1] = [] if new is None else [new]
    path = tmp_path / "mine.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.mark.parametrize("key, new, needle", [
    ("name", 'name = "h100"\nbogus = { value = 1, source = "x" }', "unknown key 'bogus'"),
    ("tensor_flops_per_clk_sm.tf32", 'fp64 = { value = 1, unit = "flop/clk/SM", source = "x" }', "tensor_flops_per_clk_sm.fp64"),
    ("launch_overhead_s", None, "missing key launch_overhead_s"),
    ("sms", 'sms = { value = 132, unit = "count" }', "sms needs a source"),
    ("sms", 'sms = { value = 132, unit = "count", source = "x", note = "y" }', "sms has unknown field 'note'"),
    ("hbm_bw_bytes_s", 'hbm_bw_bytes_s = { value = 3.35, source = "x" }', "hbm_bw_bytes_s needs a unit"),
    ("hbm_bw_bytes_s", 'hbm_bw_bytes_s = { value = 3.35, unit = "furlongs", source = "x" }', "hbm_bw_bytes_s has bad unit"),
    ("hbm_bw_bytes_s", 'hbm_bw_bytes_s = { value = 3.35, unit = "GHz", source = "x" }', "hbm_bw_bytes_s has bad unit 'GHz'"),
    ("sms", 'sms = { value = -132, unit = "count", source = "x" }', "sms must be a positive number"),
    ("sms", 'sms = { value = 0, unit = "count", source = "x" }', "sms must be a positive number"),
    ("sms", 'sms = { value = "many", unit = "count", source = "x" }', "sms must be a positive number"),
    ("sms", 'sms = { value = nan, unit = "count", source = "x" }', "sms must be a positive number"),
    ("sms", 'sms = { value = 132.5, unit = "count", source = "x" }', "sms must be a positive integer"),
    ("sms", "sms = 132", "sms must be an inline table"),
    ("hbm_efficiency", 'hbm_efficiency = { value = 1.5, unit = "fraction", source = "x" }', "hbm_efficiency must be a fraction"),
    ("gemm_efficiency", 'gemm_efficiency = { value = 0, unit = "fraction", source = "x" }', "gemm_efficiency must be a positive"),
    ("wgmma_softmax_exposed", 'wgmma_softmax_exposed = { value = -0.1, unit = "fraction", source = "x" }', "wgmma_softmax_exposed must be a number >= 0"),
    ("wgmma_softmax_exposed", 'wgmma_softmax_exposed = { value = 1.2, unit = "fraction", source = "x" }', "wgmma_softmax_exposed must be a fraction in"),
    ("wgmma_efficiency", None, "sm_90 needs wgmma_efficiency and wgmma_softmax_exposed"),
    ("hbm_latency_s", 'hbm_latency_s = { value = 0, unit = "us", source = "x" }', "hbm_latency_s must be a positive"),
    ("kind", 'kind = "tpu"', "kind must be 'gpu' or 'accelerator'"),
    ("arch", "arch = 90", "arch must be a non-empty string"),
])
def test_strict_gpu_loading_names_file_and_key(tmp_path, key, new, needle):
    with pytest.raises(HardwareError, match=needle) as err:
        load_hardware(_edit(tmp_path, "h100", {key: new}))
    assert str(err.value).startswith("mine.toml: ") and "\n" not in str(err.value)


@pytest.mark.parametrize("key, new, needle", [
    ("pe2d_ops", 'pe2d_ops = { value = ["mac", "fma"], source = "x" }', "pe2d_ops"),
    ("pe2d_ops", 'pe2d_ops = { value = "mac", source = "x" }', "pe2d_ops must be"),
    ("energy_pj.exp", None, "energy_pj needs exp"),
    ("gb_read_per_4096bit", 'gb_read_per_4096bit = { value = 1, unit = "furlongs", source = "x" }',
     "energy_pj.gb_read_per_4096bit has bad unit"),
    ("staging_buffer_bytes", None, "missing key staging_buffer_bytes"),
    ("word_bytes", 'word_bytes = { value = 2, unit = "count", source = "x" }', "word_bytes has bad unit"),
])
def test_strict_accelerator_loading_names_file_and_key(tmp_path, key, new, needle):
    with pytest.raises(HardwareError, match=needle) as err:
        load_hardware(_edit(tmp_path, "flat", {key: new}))
    assert str(err.value).startswith("mine.toml: ")


def test_a_users_toml_loads_by_path(tmp_path):
    path = _edit(tmp_path, "h100", {"name": 'name = "h100-1500"',
                                    "tensor_clock_hz": 'tensor_clock_hz = { value = 1.5, unit = "GHz", source = "mine" }'})
    spec = load_hardware(path)
    assert isinstance(spec, GPUSpec) and spec.name == "h100-1500"
    assert spec.tensor_peak_flops() == 132 * 4096 * 1.5e9 and spec.sources["tensor_clock_hz"] == "mine"


def test_bad_toml_and_unknown_names_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("sms = { value = 132\n")
    with pytest.raises(HardwareError, match="broken.toml: not valid TOML"):
        load_hardware(str(broken))
    with pytest.raises(HardwareError, match="no such hardware file"):
        load_hardware(str(tmp_path / "absent.toml"))
    with pytest.raises(HardwareError, match="'h1000': allowed a100, a100-40gb, a100-pcie, a800, a800-pcie, b200, b300, flat, fusemax, gb200, gb300, h100, h100-pcie, h20, h200, h800"):
        load_hardware("h1000")
    assert load_hardware("H100").name == "h100"


def test_a_hidden_softmax_is_a_value_not_a_missing_one(tmp_path):
    hw = load_hardware(_edit(tmp_path, "h100", {"wgmma_softmax_exposed": 'wgmma_softmax_exposed = { value = 0, unit = "fraction", source = "measured: x" }'}))
    assert hw.wgmma_softmax_exposed == 0


@pytest.mark.parametrize("name, key, line, needle", [
    ("h100", "name", 'name = "h100"\ntcgen05_tile_turnaround = { value = 3000, unit = "clk", source = "x" }',
     "sm_90 has no tcgen05 path"),
    ("b200", "tcgen05_tile_turnaround", 'tcgen05_tile_turnaround = { value = -1, unit = "clk", source = "x" }',
     "tcgen05_tile_turnaround must be a number >= 0"),
    ("b200", "tcgen05_tile_turnaround", 'tcgen05_tile_turnaround = { value = 3, unit = "us", source = "x" }',
     "tcgen05_tile_turnaround has bad unit 'us'"),
])
def test_a_tile_turnaround_is_cycles_on_a_tcgen05_gpu_only(tmp_path, name, key, line, needle):
    with pytest.raises(HardwareError, match=needle):
        load_hardware(_edit(tmp_path, name, {key: line}))


def test_a_tile_turnaround_may_be_zero_or_absent(tmp_path):
    zero = load_hardware(_edit(tmp_path, "b200", {"tcgen05_tile_turnaround": 'tcgen05_tile_turnaround = { value = 0, unit = "clk", source = "x" }'}))
    absent = load_hardware(_edit(tmp_path, "b200", {"tcgen05_tile_turnaround": None}))
    assert zero.tile_turnaround("tcgen05") == 0 and absent.tcgen05_tile_turnaround is None
    assert absent.tile_turnaround("tcgen05") == 0 and load_hardware("b200").tile_turnaround("wgmma") == 0


def test_an_mma_path_the_architecture_lacks_is_refused(tmp_path):
    extra = 'wgmma_efficiency = { value = 0.8, unit = "fraction", source = "x" }\nwgmma_softmax_exposed = { value = 0.5, unit = "fraction", source = "x" }'
    with pytest.raises(HardwareError, match="sm_80 has no wgmma path"):
        load_hardware(_edit(tmp_path, "a100", {"mma_sync_efficiency": extra + "\n" + 'mma_sync_efficiency = { value = 0.8, unit = "fraction", source = "x" }'}))


@pytest.mark.parametrize("key, value, unit", [("sms", "1e300", "count"), ("hbm_bw_bytes_s", "1e300", "TB/s"),
                                              ("sustained_clock_hz", "1e-300", "MHz"), ("hbm_bytes", "2e9", "GiB")])
def test_a_figure_past_its_dimension_s_sane_range_is_refused(tmp_path, key, value, unit):
    """1e300 SMs overflowed a C long in the model; every figure now has a stated range."""
    import re

    text = Path(spec_path("h100")).read_text()
    text = re.sub(rf'(?m)^{key} = \{{ value = [^,]+, unit = "[^"]+"', f'{key} = {{ value = {value}, unit = "{unit}"', text)
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(HardwareError, match=f"mine.toml: {key} = .* is out of range"):
        load_hardware(str(path))


def test_gb200_is_the_b200_sm_with_more_sms_at_a_higher_clock():
    """The GB200's GPU is the B200's sm_100 SM (same per-clock rates, fitted efficiencies and memory) with 152 SMs
    at 2062 MHz instead of 148 at 1965: a compute-bound call runs faster by about the SM-clock ratio."""
    from simulator.api import simulate

    b200, gb200 = load_hardware("b200"), load_hardware("gb200")
    assert gb200.arch == b200.arch
    same = ("tensor_flops_per_clk_sm", "sfu_ops_per_clk_sm", "fp32_fma_per_clk_sm", "smem_bytes_per_clk_sm",
            "smem_per_sm_bytes", "tcgen05_efficiency", "tcgen05_softmax_exposed", "hbm_bw_bytes_s")
    assert all(getattr(gb200, k) == getattr(b200, k) for k in same)
    ratio = (gb200.sms * gb200.sustained_clock_hz) / (b200.sms * b200.sustained_clock_hz)
    assert ratio == pytest.approx(1.0778, abs=1e-3)
    shape = dict(batch=4, heads=16, head_dim=128, seq_len=16384)
    t_b, t_gb = (simulate(hw, "flash4", **shape)["time_s"] for hw in ("b200", "gb200"))
    assert t_b / t_gb == pytest.approx(ratio, rel=0.03)


def test_h20_is_the_h100_sm_with_fewer_sms_and_a_throttled_tensor_rate():
    """The H20 is a GH100 with 78 SMs whose tensor rate is capped at 148 TFLOP/s dense fp16: per SM and clock it
    keeps the H100's MUFU, FP32 and shared-memory rates and kernel fits, and runs MMAs at about a quarter of them."""
    h100, h20 = load_hardware("h100"), load_hardware("h20")
    assert h20.arch == h100.arch and h20.sms == 78
    same = ("sustained_clock_hz", "sfu_ops_per_clk_sm", "fp32_fma_per_clk_sm", "smem_bytes_per_clk_sm",
            "smem_per_sm_bytes", "mma_sync_efficiency", "mma_sync_softmax_exposed", "wgmma_efficiency",
            "wgmma_softmax_exposed")
    assert all(getattr(h20, k) == getattr(h100, k) for k in same)
    assert h20.tensor_flops_per_clk_sm["fp16"] / h100.tensor_flops_per_clk_sm["fp16"] == pytest.approx(
        (148e12 / 78) / (989.4e12 / 132), rel=1e-3)


def test_h800_is_the_h100_sxm5_in_every_figure_the_model_uses():
    """The H800 SXM5 is the H100 SXM5 cut for export in NVLink, which attnsim does not model: its users print the
    H100 SXM5's 132 SMs, 1980 MHz, 80 GB and 3.35 TB/s, and it takes the H100 SXM5's per-SM rates and kernel fits,
    so every figure, and so every prediction, is the H100 SXM5's."""
    from simulator.api import simulate

    h100, h800 = load_hardware("h100"), load_hardware("h800")
    figures = [f.name for f in dataclasses.fields(GPUSpec) if f.name not in ("name", "display_name", "description",
                                                                            "sources")]
    assert "wgmma_efficiency" in figures and "mma_sync_flops_per_clk_sm" in figures
    assert {k: getattr(h800, k) for k in figures} == {k: getattr(h100, k) for k in figures}
    # the fits are the H100 SXM5's, and say so where bench/check_calibration.py finds the command to re-run
    fitted = ("unfused_hbm_efficiency", "mma_sync_efficiency", "mma_sync_softmax_exposed", "wgmma_efficiency",
              "wgmma_softmax_exposed")
    for k in fitted:
        assert h800.sources[k].startswith("the H100 SXM5's fit")
        assert h800.sources[k].split("fitted by", 1)[1] == h100.sources[k].split("fitted by", 1)[1]
    shape = dict(batch=2, heads=16, head_dim=128, seq_len=8192, causal=True)
    for algo in ("flash2", "flash3"):
        assert simulate("h800", algo, **shape)["time_s"] == simulate("h100", algo, **shape)["time_s"]


@pytest.mark.parametrize("a800, a100", [("a800", "a100"), ("a800-pcie", "a100-pcie")])
def test_a800_is_its_a100_in_every_figure_the_model_uses(a800, a100):
    """The A800 is the A100 cut for export in NVLink (400 GB/s for 600), which attnsim does not model: NVIDIA calls it
    an alternative to the A100, its users print the A100's 80 GB and power caps, so every figure, and so every
    prediction, is its A100's (the SXM4 80GB's for the SXM part, the PCIe 80GB's for the PCIe card)."""
    from simulator.api import simulate

    twin, base = load_hardware(a800), load_hardware(a100)
    figures = [f.name for f in dataclasses.fields(GPUSpec) if f.name not in ("name", "display_name", "description",
                                                                            "sources")]
    assert {k: getattr(twin, k) for k in figures} == {k: getattr(base, k) for k in figures}
    assert "A800" in twin.display_name and twin.sources["sms"].count("NVLink") >= 1
    for k in ("mma_sync_efficiency", "mma_sync_softmax_exposed"):  # bench/check_calibration.py re-runs their command
        assert twin.sources[k].split("fitted by", 1)[1] == base.sources[k].split("fitted by", 1)[1]
    shape = dict(batch=2, heads=16, head_dim=128, seq_len=8192, causal=True)
    for algo in ("flash2", "flash3"):
        assert simulate(a800, algo, **shape)["time_s"] == simulate(a100, algo, **shape)["time_s"]


def test_hopper_mma_sync_runs_at_its_own_ceiling_below_the_tensor_peak():
    """Hopper issues the legacy mma.sync at 2/3 of the wgmma rate (2731 of 4096 flop/clk/SM, measured): the
    mma.sync path's rate is the lower of that ceiling and the tensor peak, so on the H20, whose whole tensor rate
    is capped below the ceiling, the cap is what holds FA2, and other paths keep the tensor peak."""
    h100, h20, a100 = load_hardware("h100"), load_hardware("h20"), load_hardware("a100")
    assert h100.path_flops_per_clk_sm("mma_sync", "fp16") == 2731
    assert h100.path_flops_per_clk_sm("wgmma", "fp16") == 4096
    assert h20.path_flops_per_clk_sm("mma_sync", "fp16") == h20.tensor_flops_per_clk_sm["fp16"] < 2731
    assert a100.mma_sync_flops_per_clk_sm is None
    assert a100.path_flops_per_clk_sm("mma_sync", "bf16") == a100.tensor_flops_per_clk_sm["bf16"]


def test_blackwell_mma_sync_runs_at_a_quarter_of_the_tcgen05_peak():
    """The legacy mma.sync issues 0.50 HMMA m16n8k16 a cycle on a Blackwell datacenter SM (measured on a B300:
    2048 flop/clk/SM, a quarter of tcgen05's 8192; tf32 half that), which the B200 and GB200 take as assumed.
    Read against that ceiling, the B200 fit puts FA2 near the share of the legacy path it reaches on the
    H100 against its own measured 2731 (0.71 against 0.62 since its fit left out the calls whose timed window
    holds the host's dispatch); against the tcgen05 peak, as before, it read a quarter of that."""
    h100 = load_hardware("h100")
    for name in ("b200", "gb200"):
        hw = load_hardware(name)
        assert hw.path_flops_per_clk_sm("mma_sync", "bf16") == hw.path_flops_per_clk_sm("mma_sync", "fp16") == 2048
        assert hw.path_flops_per_clk_sm("tcgen05", "bf16") == 8192
        assert hw.path_flops_per_clk_sm("mma_sync", "tf32") == 1024
        assert 0.8 < hw.mma_sync_efficiency / h100.mma_sync_efficiency < 1.25


def test_an_mma_sync_ceiling_needs_every_tensor_dtype(tmp_path):
    text = spec_path("h100").read_text()
    cut = re.sub(r"^tf32 = .*\n?\Z", "", text, flags=re.M)
    assert cut != text
    path = tmp_path / "cut.toml"
    path.write_text(cut)
    with pytest.raises(HardwareError, match="mma_sync_flops_per_clk_sm needs tf32"):
        load_hardware(str(path))


def test_an_uncapped_rate_below_the_capped_one_is_an_error():
    h20 = load_hardware("h20")
    low = dict(h20.uncapped_tensor_flops_per_clk_sm, fp16=500)
    with pytest.raises(HardwareError, match=r"uncapped_tensor_flops_per_clk_sm.fp16 \(500\) is below"):
        replace(h20, uncapped_tensor_flops_per_clk_sm=low)


def test_the_blackwell_ultra_parts_take_the_b200s_kernel_fits_and_cite_their_command():
    """No sm_103 fit is carried (docs/kernels.md S: fitted to the GB300's FA4 timings, the tcgen05 figures jump
    between basins and miss the held-out local calls): the B300's and GB300's tcgen05, mma.sync and unfused figures
    are the B200's, their sources say so and cite the B200's command (bench/check_calibration.py re-runs it). Their
    own figures are the part's: sm_103, MUFU.EX2 at twice the B200's rate, the B300's 2032 MHz, the GB300's 152
    SMs at 2070."""
    b200, b300, gb300 = load_hardware("b200"), load_hardware("b300"), load_hardware("gb300")
    for k in ("tcgen05_efficiency", "tcgen05_softmax_exposed", "tcgen05_tile_turnaround", "mma_sync_efficiency",
              "mma_sync_softmax_exposed", "unfused_hbm_efficiency"):
        for part in (b300, gb300):
            assert getattr(part, k) == getattr(b200, k)
            assert part.sources[k].startswith("the B200's fit")
            assert part.sources[k].split("fitted by", 1)[1] == b200.sources[k].split("fitted by", 1)[1]
    assert (b300.arch, b300.sfu_ops_per_clk_sm, b300.sustained_clock_hz) == ("sm_103", 2 * b200.sfu_ops_per_clk_sm,
                                                                            2032e6)
    assert (gb300.arch, gb300.sms, gb300.sustained_clock_hz) == ("sm_103", 152, 2070e6)
    assert b300.mma_sync_flops_per_clk_sm == b200.mma_sync_flops_per_clk_sm == gb300.mma_sync_flops_per_clk_sm
    assert "QuickRunCUDA" in b300.sources["sms"] and "QuickRunCUDA" in b300.sources["mma_sync_flops_per_clk_sm.fp16"]
