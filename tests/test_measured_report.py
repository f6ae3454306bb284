"""`validate report` on users' own measurements (CSV / JSON), the one-line roofline beside the model,
and bench/accuracy.py."""

import json
import statistics
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from simulator.api import evaluate, hardware
from simulator.workload import Workload
from validation.roofline import roofline_bytes, roofline_flops, roofline_time_s

ROOT = Path(__file__).resolve().parent.parent
HEADER = "hardware,algorithm,batch,heads,kv_heads,head_dim,seq_len,causal,measured_ms,device,kernel\n"
ROWS = ("h100,flash3,2,32,8,128,4k,true,0.45,H100 SXM (mine),fa3-hopper\n"
        "h100,flash2,1,16,16,64,8k,false,2.5,H100 SXM (mine),fa2-cutlass\n"
        "a100,,1,32,32,128,16k,,21.0,A100 80GB,\n")


def run(*args):
    return CliRunner().invoke(cli, list(args))


def report_json(path, *extra) -> dict:
    r = run("validate", "report", str(path), "--format", "json", *extra)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)  # notes go to stderr


def one_line_error(path, *extra) -> str:
    r = run("validate", "report", str(path), *extra)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


# ---------------------------------------------------------------- the one-line roofline

ROUND = replace(hardware("h100"), sms=100, tensor_clock_hz=1e9, tensor_flops_per_clk_sm={"fp16": 1000, "bf16": 1000},
                hbm_bw_bytes_s=1e12)  # tensor peak 1e14 FLOP/s, HBM 1e12 B/s


def test_roofline_compute_bound_prefill_is_flops_over_60_percent_of_the_tensor_peak():
    wl = Workload(batch=2, heads=16, head_dim=128, seq_len=8192)
    flops = 4 * 2 * 16 * 8192 * 8192 * 128
    assert roofline_flops(wl) == flops
    assert roofline_time_s(ROUND, wl) == pytest.approx(flops / (0.6 * 100 * 1000 * 1e9))


def test_roofline_causal_halves_the_flops_and_not_the_bytes():
    dense, causal = Workload(seq_len=8192), Workload(seq_len=8192, causal=True)
    assert roofline_flops(causal) == roofline_flops(dense) / 2
    assert roofline_bytes(causal) == roofline_bytes(dense)
    assert roofline_time_s(ROUND, causal) == pytest.approx(roofline_time_s(ROUND, dense) / 2)
    # a causal term of the pattern is causal too; the rest of the mask is not the one-liner's
    assert roofline_flops(Workload(seq_len=8192, pattern="causal&chunked(1k)")) == roofline_flops(causal)
    assert roofline_flops(Workload(seq_len=8192, pattern="chunked(1k)")) == roofline_flops(dense)


def test_roofline_memory_bound_decode_is_the_compulsory_bytes_over_90_percent_of_hbm():
    wl = Workload(batch=4, heads=32, kv_heads=8, head_dim=128, seq_len=1, kv_len=65536, dtype="bf16")
    q_and_o, k_and_v = 2 * 4 * 32 * 1 * 128, 2 * 4 * 8 * 65536 * 128
    assert roofline_bytes(wl) == 2 * (q_and_o + k_and_v)
    assert roofline_time_s(ROUND, wl) == pytest.approx(2 * (q_and_o + k_and_v) / (0.9 * 1e12))


def test_roofline_reads_the_peaks_of_the_hardware_toml():
    h100, wl = hardware("h100"), Workload(seq_len=16384)
    peak = h100.sms * h100.tensor_flops_per_clk_sm["fp16"] * h100.tensor_clock_hz
    assert roofline_time_s(h100, wl) == pytest.approx(max(roofline_flops(wl) / (0.6 * peak),
                                                          roofline_bytes(wl) / (0.9 * h100.hbm_bw_bytes_s)))


def test_roofline_of_an_8_bit_call_on_a_gpu_without_8_bit_mma_takes_the_fp16_peak():
    """An A100 has no 8-bit MMA: a kernel that reads an 8-bit cache there (FlashInfer's fp8 decode) computes in 16
    bits, so the one-line roofline takes the fp16 peak for the FLOPs and one byte an element for the bytes."""
    a100, wl = hardware("a100"), Workload(dtype="fp8")
    compute = roofline_flops(wl) / (0.6 * a100.tensor_peak_flops("fp16"))
    assert roofline_time_s(a100, wl) == pytest.approx(max(compute, roofline_bytes(wl) / (0.9 * a100.hbm_bw_bytes_s)))


# ---------------------------------------------------------------- users' own files

def test_a_csv_of_measured_points_is_predicted_row_by_row(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + ROWS)
    data = report_json(path)
    assert [p["row"] for p in data["points"]] == [1, 2, 3]
    first, _, third = data["points"]
    wl = Workload(batch=2, heads=32, kv_heads=8, head_dim=128, seq_len=4096, causal=True)
    assert first["measured_s"] == pytest.approx(0.45e-3)
    assert first["predicted_s"] == pytest.approx(evaluate(hardware("h100"), "flash3", wl).time_s)
    assert first["roofline_s"] == pytest.approx(roofline_time_s(hardware("h100"), wl))
    assert first["roofline_error"] == pytest.approx(first["roofline_s"] / 0.45e-3 - 1)
    assert (first["kernel"], first["device"], first["hardware"]) == ("fa3-hopper", "H100 SXM (mine)", "h100")
    # empty algorithm, causal and kernel cells take simulate's defaults: A100's family, non-causal
    assert (third["hardware"], third["algorithm"], third["kernel"], third["causal"]) == ("a100", "flash2", "flash2", False)
    assert data["device"]["name"] == "H100 SXM (mine), A100 80GB" and data["hardware"] == "h100, a100"


def test_json_lists_and_points_objects_read_like_the_csv(tmp_path):
    csv_path = tmp_path / "mine.csv"
    csv_path.write_text(HEADER + ROWS)
    keys = HEADER.strip().split(",")
    rows = [{k: v for k, v in zip(keys, line.split(",")) if v} for line in ROWS.splitlines()]
    listed, wrapped = tmp_path / "list.json", tmp_path / "wrapped.json"
    listed.write_text(json.dumps(rows))
    wrapped.write_text(json.dumps({"source": "my benchmark", "points": rows}))
    expected = report_json(csv_path)["points"]
    assert report_json(listed)["points"] == expected
    data = report_json(wrapped)
    assert data["points"] == expected and data["source"] == "my benchmark"


def test_missing_columns_take_the_simulate_defaults_and_seconds_are_seconds(tmp_path):
    path = tmp_path / "bare.json"
    path.write_text(json.dumps([{"seq_len": 4096, "measured_s": 0.002}]))  # seq_len is required: the rest default
    p = report_json(path)["points"][0]
    assert (p["hardware"], p["algorithm"], p["batch"], p["heads"], p["head_dim"], p["seq_len"]) == (
        "h100", "flash3", 1, 32, 128, 4096)
    assert p["measured_s"] == 0.002
    assert p["predicted_s"] == pytest.approx(evaluate(hardware("h100"), "flash3", Workload()).time_s)


def test_a_row_without_hardware_takes_the_model_its_device_names(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text("device,batch,heads,seq_len,causal,measured_ms\n"
                    "NVIDIA GB200,4,16,8k,true,0.78\n"   # 'B200' is in the name too: the longer name wins
                    "NVIDIA H100 PCIe,1,32,4k,false,1.0\n"
                    "NVIDIA A100-SXM4-40GB,1,32,4k,false,2.0\n"
                    "NVIDIA B200,1,32,4k,false,0.3\n"
                    "NVIDIA H200,1,32,4k,false,0.5\n"
                    "NVIDIA H20,1,32,4k,false,3.0\n"   # 'H20' is in 'NVIDIA H200' too: the H200 row stays h200
                    "NVIDIA H800,1,32,4k,false,1.0\n"   # the H800 SXM5, as torch and nvidia-smi print it
                    "NVIDIA H800 80GB HBM3,1,32,4k,false,1.0\n"
                    ",1,32,4k,false,1.0\n")   # no device, no hardware: simulate's default
    got = [(p["hardware"], p["algorithm"]) for p in report_json(path)["points"]]
    assert got == [("gb200", "flash4"), ("h100-pcie", "flash3"), ("a100-40gb", "flash2"), ("b200", "flash4"),
                   ("h200", "flash3"), ("h20", "flash3"), ("h800", "flash3"), ("h800", "flash3"), ("h100", "flash3")]


def test_a_device_with_no_bundled_model_is_an_error_not_another_gpus_prediction(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text("device,batch,heads,seq_len,measured_ms\n"
                    "NVIDIA H100 80GB HBM3,1,32,4k,1.0\n"
                    "NVIDIA GeForce RTX 4090,1,32,4k,1.0\n")
    result = run("validate", "report", str(path))
    assert result.exit_code == 2
    line = result.output.strip()
    assert "\n" not in line and "row 2" in line and "'NVIDIA GeForce RTX 4090'" in line and "--hw" in line
    # the user says which model to use: per row, or for the whole file
    path.write_text("device,hardware,batch,heads,seq_len,measured_ms\n"
                    "NVIDIA H100 80GB HBM3,,1,32,4k,1.0\n"
                    "NVIDIA GeForce RTX 4090,./my-4090.toml,1,32,4k,1.0\n")
    assert run("validate", "report", str(path)).exit_code == 2  # the TOML does not exist: still exit 2
    path.write_text("device,hardware,batch,heads,seq_len,measured_ms\n"
                    "NVIDIA H100 80GB HBM3,,1,32,4k,1.0\n"
                    "NVIDIA GeForce RTX 4090,h200,1,32,4k,1.0\n")
    assert [p["hardware"] for p in report_json(path)["points"]] == ["h100", "h200"]
    path.write_text("device,batch,heads,seq_len,measured_ms\nNVIDIA GeForce RTX 4090,1,32,4k,1.0\n")
    assert [p["hardware"] for p in report_json(path, "--hw", "a100")["points"]] == ["a100"]
    # a name that holds a bundled model's but is another part: the H20-3e (HBM3e) is not the H20
    path.write_text("device,batch,heads,seq_len,measured_ms\nNVIDIA H20-3e,1,32,4k,1.0\n")
    result = run("validate", "report", str(path))
    assert result.exit_code == 2 and "'NVIDIA H20-3e'" in result.output and "another part than any bundled" in result.output
    # nor is the H800 PCIe (114 SMs, HBM2e) or the H800 NVL the H800 SXM5 that 'NVIDIA H800' names
    for device in ("NVIDIA H800 PCIe", "NVIDIA H800 NVL"):
        path.write_text(f"device,batch,heads,seq_len,measured_ms\n{device},1,32,4k,1.0\n")
        result = run("validate", "report", str(path))
        assert result.exit_code == 2 and f"'{device}'" in result.output and "another part than any bundled" in result.output
    # a MIG slice of a bundled part is not the part; nor is the A100 PCIe 40GB the 80GB SXM4 its name starts like
    for device, why in (("NVIDIA H100 80GB HBM3 MIG 1g.10gb", "a MIG instance"),
                        ("NVIDIA A100-PCIE-40GB", "HBM2 at 1,555 GB/s and 250 W")):
        path.write_text(f"device,batch,heads,seq_len,measured_ms\n{device},1,32,4k,1.0\n")
        result = run("validate", "report", str(path))
        assert result.exit_code == 2 and f"'{device}'" in result.output and why in result.output


@pytest.mark.parametrize("device, model", [
    ("NVIDIA H800", "h800"), ("NVIDIA H800 80GB HBM3", "h800"),  # the H800 SXM5
    ("NVIDIA H800 PCIe", None), ("NVIDIA H800 NVL", None),  # PCIe cards (114 SMs, HBM2e; 94 GB): not the SXM5
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100-pcie"), ("NVIDIA H200", "h200"),
    ("NVIDIA H20", "h20"), ("NVIDIA H20-3e", None), ("NVIDIA H100 NVL", None), ("NVIDIA H200 NVL", None),
    ("NVIDIA GH200 480GB", None), ("NVIDIA GeForce RTX 4090", None),
    ("NVIDIA A800-SXM4-80GB", "a800"), ("NVIDIA A800 80GB PCIe", "a800-pcie"),  # the A100s' export twins
    ("NVIDIA A800 40GB Active", None), ("NVIDIA A800 40GB PCIe", None), ("NVIDIA A800-SXM4-80GB MIG 3g.40gb", None),
    ("NVIDIA A100 80GB PCIe", "a100-pcie"), ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"),
    ("NVIDIA A100-PCIE-40GB", None),  # 1,555 GB/s at 250 W: neither the 80GB SXM4 (2,039 GB/s) nor the 40GB SXM4
    ("NVIDIA H100 80GB HBM3 MIG 1g.10gb", None), ("NVIDIA A100-SXM4-80GB MIG 3g.40gb", None),  # a slice of the SMs
    ("NVIDIA B300 SXM6 AC", "b300"), ("NVIDIA GB300", "gb300"),  # the GB300 holds 'B300': its own model
    ("NVIDIA GB200", "gb200"), ("NVIDIA B200", "b200"),
])
def test_device_names_map_to_the_bundled_model_of_that_part(device, model):
    from validation.report import device_hardware

    assert device_hardware(device) == model


@pytest.mark.parametrize("device, model", [
    ("h100", "h100"), ("a100-pcie", "a100-pcie"), ("h100-pcie", "h100-pcie"), ("a800", "a800"),  # --hw's names
    ("nvidia h100 80gb hbm3", "h100"), ("H100-PCIe", "h100-pcie"), ("nvidia_a100_80gb_pcie", "a100-pcie"),
    ("  NVIDIA H200 ", "h200"), ("nvidia h20-3e", None), ("nvidia a100-pcie-40gb", None),
    ("A100-PCIE", None),  # upper case is a part name: the start of nvidia-smi's A100 PCIe 40GB, no model
])
def test_device_names_in_any_case_or_spelling_and_model_names(device, model):
    """A user's device column in lower case, with hyphens or underscores between words, or naming the model
    itself as --hw does, finds the same model (until 2026-12-06 'h100' was 'no bundled model', and 'H100-PCIe' the
    SXM5's)."""
    from validation.report import device_hardware

    assert device_hardware(device) == model


def test_a_device_with_a_locked_clock_is_an_error_not_a_free_clock(tmp_path):
    """'h100:1500' in the device column would otherwise be the h100 at free clocks, the lock silently dropped."""
    path = tmp_path / "mine.csv"
    path.write_text("algorithm,seq_len,measured_ms,device\nflash3,8192,1.0,h100:1500\n")
    result = run("validate", "report", str(path))
    assert result.exit_code == 2 and "device 'h100:1500' holds a ':'" in result.output
    path.write_text("algorithm,seq_len,measured_ms,hardware\nflash3,8192,2.0,h100:1500\n")
    assert report_json(path)["points"][0]["predicted_s"] > 0


def test_a_lower_case_device_column_reports(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("algorithm,heads,head_dim,seq_len,measured_ms,device\nflash3,16,128,8192,1.0,h100\n")
    assert report_json(path)["points"][0]["hardware"] == "h100"


def test_hw_option_predicts_every_row_on_that_model(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + "h100,flash2,1,32,32,128,4k,false,1.0,,\n")
    p = report_json(path, "--hw", "h200")["points"][0]
    assert p["hardware"] == "h200"
    assert p["predicted_s"] == pytest.approx(evaluate(hardware("h200"), "flash2", Workload()).time_s)


def test_speedups_pair_points_of_one_hardware_only(tmp_path):
    """A naive row on the A100 is no baseline for a fused row of the same shape on the H100."""
    path = tmp_path / "mine.csv"
    path.write_text("hardware,algorithm,seq_len,measured_ms\n"
                    "a100,naive,4k,9.0\nh100,flash2,4k,1.0\nh100,naive,4k,5.0\n")
    pairs = [s for s in report_json(path)["speedups"] if s["kind"] == "fused_vs_naive"]
    assert len(pairs) == 1 and pairs[0]["measured"] == pytest.approx(5.0)


@pytest.mark.parametrize("name, text, needles", [
    ("unknown.csv", "seq_len,measured_ms,tflops_mine\n4k,1,300\n", ("row 1", "unknown column 'tflops_mine'",
                                                                     "measured_ms", "kernel")),
    ("both.csv", "seq_len,measured_ms,measured_s\n4k,1,2\n2k,1,\n", ("row 1", "exactly one of", "has measured_ms and measured_s")),
    ("neither.csv", "seq_len,measured_ms,measured_s\n4k,1,\n2k,,\n", ("row 2", "exactly one of", "measured_us", "has none")),
    ("negative.csv", "seq_len,measured_ms\n4k,1\n8k,-3\n", ("row 2", "measured_ms", "-3", "positive")),
    ("zero.json", '[{"measured_s": 0}]', ("row 1", "measured_s", "positive")),
    ("text.json", '[{"measured_s": "fast"}]', ("row 1", "fast", "positive number of seconds")),
    ("hardware.csv", "hardware,seq_len,measured_ms\nh100,4k,1\nz80,4k,1\n", ("row 2", "unknown hardware 'z80'", "h100")),
    ("algorithm.csv", "algorithm,seq_len,measured_ms\nflash9,4k,1\n", ("row 1", "unknown algorithm 'flash9'", "flash2")),
    ("cannot-run.csv", "hardware,algorithm,seq_len,measured_ms\nh100,fusemax,4k,1\n", ("row 1", "'fusemax'", "h100")),
    ("size.csv", "seq_len,measured_ms\n4q,1\n", ("row 1", "seq_len", "4q", "4k")),
    ("shape.csv", "heads,kv_heads,seq_len,measured_ms\n32,5,4k,1\n", ("row 1", "kv-heads", "divide")),
    ("wide.csv", "seq_len,measured_ms\n4k,1,7\n", ("row 1", "more values than the header")),
    ("scalars.json", "[1, 2]", ("row 1", "object")),
    ("nested.json", '{"points": [{"seq_len": 4096, "measured_s": 1}, [4096]]}', ("row 2", "object")),
    ("extra.json", '{"points": [], "gpu": "x"}', ("unknown top-level key 'gpu'", "points, source")),
    ("empty.json", "[]", ("no measured points",)),
    ("broken.json", "[{", ("not valid JSON", ".csv")),
])
def test_every_bad_file_or_row_is_one_line_and_exit_2(tmp_path, name, text, needles):
    path = tmp_path / name
    path.write_text(text)
    line = one_line_error(path)
    assert str(path) in line or name in line
    for needle in needles:
        assert needle in line, line


def test_a_file_that_is_not_utf8_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("seq_len,measured_ms,device\n4k,1,Gerät\n".encode("latin-1"))
    line = one_line_error(path)
    assert "latin1.csv" in line and "UTF-8" in line


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeffseq_len,measured_ms\n4k,1\n".encode("utf-8"))
    assert report_json(path)["points"][0]["seq_len"] == 4096


def test_simulate_from_reads_the_same_way(tmp_path):
    """The measured-file reader reuses --from's: same errors for a non-UTF-8 file and a foreign column."""
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("pattern\nwindow(1k)\xe9\n".encode("latin-1"))
    r = run("simulate", "--from", str(latin))
    assert r.exit_code == 2 and "UTF-8" in r.output and len(r.output.strip().splitlines()) == 1
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("seq_len,measured_ms\n4k,1\n")
    r = run("simulate", "--from", str(foreign))
    assert r.exit_code == 2 and "unknown column 'measured_ms'" in r.output


def test_the_plot_of_a_measured_csv(tmp_path):
    path, png = tmp_path / "mine.csv", tmp_path / "mine.png"
    path.write_text(HEADER + ROWS)
    r = run("validate", "report", str(path), "--format", "json", "-o", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- the report's roofline column

def test_summary_gives_the_roofline_median_on_the_same_points(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + ROWS)
    data = report_json(path)
    for algo in ("flash3", "flash2"):
        mine = [p for p in data["points"] if p["algorithm"] == algo]
        expected = statistics.median(abs(p["roofline_s"] / p["measured_s"] - 1) for p in mine)
        assert data["summary"]["per_algorithm"][algo]["roofline_median_abs_error"] == pytest.approx(expected)
    assert data["summary"]["per_kernel"]["fa3-hopper"]["roofline_median_abs_error"] == pytest.approx(
        abs(data["points"][0]["roofline_error"]))
    table = run("validate", "report", str(path), "--format", "table").output
    assert "roofline" in table and f"{data['summary']['overall']['roofline_median_abs_error']:.1%}" in table


def test_the_published_fa3_table_reports_both_medians():
    data = report_json(ROOT / "validation" / "published" / "fa3-paper-h100.json")
    for stats in data["summary"]["per_algorithm"].values():
        assert stats["median_abs_error"] is not None and stats["roofline_median_abs_error"] is not None


def test_no_roofline_median_where_a_point_has_no_roofline(tmp_path):
    """An accelerator row has no roofline time; the overall roofline median is then not over the same points."""
    path = tmp_path / "mixed.csv"
    path.write_text("hardware,seq_len,measured_ms\nh100,4k,1\nfusemax,4k,1\n")
    data = report_json(path)
    assert data["points"][1]["roofline_s"] is None
    assert data["summary"]["overall"]["roofline_median_abs_error"] is None
    assert data["summary"]["per_algorithm"]["flash3"]["roofline_median_abs_error"] is not None


# ---------------------------------------------------------------- bench/accuracy.py

def bench(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "accuracy.py"), *args], capture_output=True,
                          text=True, timeout=300, check=True)


def test_accuracy_bench_covers_every_published_file():
    results = json.loads(bench("--json").stdout)
    published = sorted(p.name for p in (ROOT / "validation" / "published").iterdir() if p.suffix in (".json", ".csv"))
    assert [r["file"] for r in results] == published
    for r in results:
        assert r["rows"] or r["skipped"]  # every file is reported on, or skipped with a reason
        for row in r["rows"]:
            model, roof = row["model_median_abs_error"], row["roofline_median_abs_error"]
            assert row["wins"] == ("tie" if abs(model - roof) < 0.0005 else "model" if model < roof else "roofline")
            assert isinstance(row["model_median_error"], float)  # the bias (checked below)


def test_accuracy_bench_bias_is_the_signed_median_error():
    """The bias column: the signed median of predicted / measured - 1 over the row's points (+ the model slow,
    - fast), recomputed here from `validate report`'s own predictions of the file."""
    from validation.measured_file import load
    from validation.report import predict

    path = ROOT / "validation" / "published" / "flashinfer-prefill-h100.json"
    rows = {row["algorithm"]: row for row in json.loads(bench("--json", str(path)).stdout)[0]["rows"]}
    points = predict(load(str(path)), None, [])
    for algo, row in rows.items():
        errors = [p["error"] for p in points if p["algorithm"] == algo]
        assert row["model_median_error"] == pytest.approx(statistics.median(errors))
        assert row["model_median_abs_error"] == pytest.approx(statistics.median(abs(e) for e in errors))
    out = bench(str(path)).stdout
    assert "bias" in out.splitlines()[1] and f"{rows['flash2']['model_median_error']:+.1%}" in out


def test_accuracy_bench_says_which_points_a_bundled_figure_was_fitted_from():
    """A row's role comes from the TOML sources' calibrate commands and the points those fits take: the FA3
    paper's sets are fitted, only the four CUDA-core-bound calls of the A100 PCIe decode file are, the FlashInfer
    post's H100 file is a development set no figure is fitted from, and the Fig. 7 appends are held out."""
    rows = {(r["file"], row["algorithm"]): row["role"] for r in json.loads(bench("--json").stdout)
            for row in r["rows"]}
    assert rows[("fa3-paper-h100.json", "flash3")] == rows[("fa3-paper-h100.json", "naive")] == "fit"
    assert rows[("flashinfer-decode-a100-pcie.json", "flashinfer-decode")] == "fit 4/28"
    assert rows[("flashinfer-decode-a100-pcie.json", "flashinfer-single-decode")] == "held out"
    assert rows[("tileops-nightly-2026-09-07-h200.json", "flashinfer-decode")] == "fit"
    assert rows[("tileops-nightly-2026-09-07-h200.json", "flash3")] == "held out"
    assert rows[("flashinfer-decode-h100.json", "flashinfer-single-decode-tc")] == "dev"
    assert rows[("flashinfer-append-h100.json", "flash2")] == "held out"


def test_accuracy_bench_pools_every_point_by_role(tmp_path):
    """The table ends with every point pooled by its row's role, the model's and the roofline's medians over the
    same points, recomputed here from the rows the JSON gives."""
    out = bench(str(ROOT / "validation" / "published" / "fa3-paper-h100.json")).stdout
    line = next(l for l in out.splitlines() if l.strip().startswith("fit "))
    n = int(line.split()[1])
    rows = json.loads(bench("--json", str(ROOT / "validation" / "published" / "fa3-paper-h100.json")).stdout)[0]["rows"]
    assert n == sum(row["n"] for row in rows)
    assert "model median" in line and "roofline median" in line and "within 10%" in line


def test_accuracy_bench_pools_the_held_out_points_per_family():
    """After the roles, the held-out points pooled per kernel family over every set, worst first: each family's n
    and medians recomputed here from `validate report`'s own predictions of the two held-out files given, the
    family over the 10% bar marked, and a fitted row (the FA3 paper's) pooled nowhere in it."""
    lines, errors = _pooled_block(("flashinfer-prefill-h100.json", "flashinfer-v02-prefill-h100.json"),
                                  "held-out points pooled by kernel family", lambda p: p["algorithm"])
    assert set(lines) == set(errors)  # flash3 and naive come only from the fitted FA3 paper set
    medians = {algo: statistics.median(e) for algo, e in errors.items()}
    assert list(lines) == sorted(medians, key=lambda a: -medians[a])
    for algo, e in errors.items():
        assert f"{len(e):4d} points  model median {medians[algo]:>5.1%}," in lines[algo]
        assert f"{sum(x <= 0.1 for x in e):3d} within 10%;" in lines[algo]
        assert lines[algo].endswith("over 10%") == (medians[algo] > 0.1)


def _pooled_block(held_out: tuple, heading: str, key) -> tuple[dict, dict]:
    """bench/accuracy.py run on the ``held_out`` files and the FA3 paper's fitted set: the lines of the block under
    ``heading`` by their first word, and the |errors| of `validate report`'s own predictions of the held-out
    files' points, grouped by ``key(point)``."""
    from validation.measured_file import load
    from validation.report import predict

    paths = [str(ROOT / "validation" / "published" / n) for n in (*held_out, "fa3-paper-h100.json")]
    out = bench(*paths).stdout.splitlines()
    start = next(i for i, line in enumerate(out) if line.startswith(heading))
    lines = {}
    for line in out[start + 1:]:  # indented under the heading, up to the next one
        if not line.startswith("  "):
            break
        lines[line.split()[0]] = line
    errors = {}
    for path in paths[:-1]:
        for p in predict(load(path), None, []):
            errors.setdefault(key(p), []).append(abs(p["error"]))
    return lines, errors


def test_accuracy_bench_pools_the_held_out_points_per_phase():
    """Last, the held-out points pooled by phase: decode calls (at most 16 queries a request) and prefill calls,
    recomputed here from `validate report`'s predictions of a held-out decode set and a held-out prefill set."""
    lines, errors = _pooled_block(("flashinfer-prefill-h100.json", "attention-tests-decode-h20.json"),
                                  "held-out points pooled by phase",
                                  lambda p: "decode" if p["seq_len"] <= 16 else "prefill")
    assert list(lines) == ["decode", "prefill"] and set(errors) == set(lines)
    for phase, e in errors.items():
        assert f"{len(e):4d} points  model median {statistics.median(e):>5.1%}," in lines[phase]
        assert f"{sum(x <= 0.1 for x in e):3d} within 10%;" in lines[phase]


def test_accuracy_bench_pools_the_held_out_points_per_input_width():
    """Then by input width: 8-bit (fp8) and 16-bit (fp16, bf16) calls, recomputed from `validate report`'s
    predictions of a held-out set of both (FlashInfer's 8-bit decode) and a 16-bit one."""
    lines, errors = _pooled_block(("flashinfer-decode-fp8-h100.json", "flashinfer-prefill-h100.json"),
                                  "held-out points pooled by input width",
                                  lambda p: "8-bit" if p["dtype"] == "fp8" else "16-bit")
    assert list(lines) == ["8-bit", "16-bit"] and set(errors) == set(lines)
    for width, e in errors.items():
        assert f"{len(e):4d} points  model median {statistics.median(e):>5.1%}," in lines[width]


def test_accuracy_bench_skips_points_it_cannot_run_and_says_why(tmp_path):
    doc = json.loads((ROOT / "validation" / "published" / "fa3-paper-h100.json").read_text())
    doc["points"] = doc["points"][:3]
    doc["points"][0] = {**doc["points"][0], "algorithm": "flash9", "kernel": "fa9-future"}
    path = tmp_path / "future.json"
    path.write_text(json.dumps(doc))
    out = bench(str(path)).stdout
    assert "future.json  naive" in out and " 2 " in out
    assert "skipped future.json, 1 point of kernel fa9-future: unknown algorithm 'flash9'" in out


def test_a_locked_clock_option_predicts_the_points_with_the_sms_at_it(tmp_path):
    """--clock-locked MHZ: a benchmark run under nvidia-smi --lock-gpu-clocks is predicted at that clock, so a
    compute-bound point takes longer at 1200 MHz than at the H100's 1830 MHz (and the A100's 1410) by nearly the
    clock ratio; off a GPU model, outside 100-5000 MHz, and above a GPU's highest clock (1500 MHz on the A100
    row: its figures top out at 1410), it is a one-line error naming the row."""
    path = tmp_path / "mine.csv"
    path.write_text(HEADER + ROWS)
    free = report_json(path)["points"]
    locked = report_json(path, "--clock-locked", "1200")["points"]
    for f, lk in zip(free, locked):
        assert lk["measured_s"] == f["measured_s"]
        ratio, clock_ratio = lk["predicted_s"] / f["predicted_s"], hardware(f["hardware"]).sustained_clock_hz / 1200e6
        assert 1.0 < ratio <= clock_ratio + 1e-9
    assert locked[0]["predicted_s"] / free[0]["predicted_s"] > 1.3  # FA3 causal 4k, d=128: tensor-bound
    assert "0.0 is not in the range" in one_line_error(path, "--clock-locked", "0")
    assert "applies to a GPU model; fusemax is an accelerator" in one_line_error(path, "--clock-locked", "1500",
                                                                                 "--hw", "fusemax")
    line = one_line_error(path, "--clock-locked", "1500")
    assert "row 3" in line and "A100" in line and "100 to 1410 MHz" in line


def test_dtype_cells_as_benchmarks_print_them_are_attnsims(tmp_path):
    """A benchmark's CSV says torch.bfloat16 or float16: the same dtypes as bf16 and fp16 (predicted alike); a
    dtype that is none of them is still a one-line error naming it and the allowed ones."""
    path = tmp_path / "mine.csv"
    head = "hardware,algorithm,batch,heads,kv_heads,head_dim,seq_len,causal,dtype,measured_ms\n"
    path.write_text(head + "h100,flash3,2,32,8,128,4k,true,torch.bfloat16,0.5\nh100,flash3,2,32,8,128,4k,true,Float16,0.5\n"
                    "h100,flash3,2,32,8,128,4k,true,bf16,0.5\n")
    points = report_json(path)["points"]
    assert [p["dtype"] for p in points] == ["bf16", "fp16", "bf16"]
    assert points[0]["predicted_s"] == points[2]["predicted_s"]
    path.write_text(head + "h100,flash3,2,32,8,128,4k,true,int8,0.5\n")
    line = one_line_error(path)
    assert "row 1" in line and "'int8'" in line and "fp16, bf16, fp8" in line


def test_a_time_in_microseconds_is_the_same_time(tmp_path):
    path = tmp_path / "us.csv"
    path.write_text("hardware,algorithm,seq_len,measured_us\nh100,flash3,4k,450\n")
    us = report_json(path)["points"][0]
    path.write_text("hardware,algorithm,seq_len,measured_ms\nh100,flash3,4k,0.45\n")
    ms = report_json(path)["points"][0]
    assert us["measured_s"] == pytest.approx(450e-6) and us["predicted_s"] == ms["predicted_s"]
    path.write_text("hardware,algorithm,seq_len,measured_us\nh100,flash3,4k,-1\n")
    assert "positive number of microseconds" in one_line_error(path)
