"""Bad inputs a hostile-input review found handled badly: each now exits 2 with one line naming the value, or is
read as the user meant."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli


from cli_runner import one_line_error, run  # noqa: E402  (tests/cli_runner.py)


@pytest.mark.parametrize("args, needle", [
    (("'window(4k)'", "--seq-len", "1024g"), "8,589,934,592 tile rows; at most 16,777,216"),  # numpy path: 64 GiB
    (("full", "--seq-len", "512g"), "tile rows; at most"),
    (("sinks(128)", "--seq-len", "1024g", "--kv-len", "1"), "tile rows; at most"),
    (("window(4k)", "--seq-len", "1g", "--block-size", "1"), "1x1 tiles has 1,073,741,824 tile rows"),
])
def test_pattern_show_refuses_grids_too_large_to_hold(args, needle):
    assert needle in one_line_error("pattern", "show", *[a.strip("'") for a in args])


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("hardware,hardware,seq_len,measured_ms\nh100,a100,4k,0.5\n")
    assert "column 'hardware' appears twice" in one_line_error("validate", "report", str(path))
    assert "column 'hardware' appears twice" in one_line_error("simulate", "--from", str(path))


def test_a_short_measured_row_names_the_missing_column(tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("seq_len,causal,measured_ms\n4k,true\n")
    assert "fewer values than the header has columns (no value for 'measured_ms')" in one_line_error(
        "validate", "report", str(path))


def test_clock_locked_nan_is_refused_as_the_option():
    line = one_line_error("validate", "report", "validation/published/fa3-paper-h100.json", "--clock-locked", "nan")
    assert "--clock-locked" in line and "nan" in line


def test_an_at_sign_without_a_mapping_is_refused():
    line = one_line_error("simulate", "--algo", "attention-3pass@")
    assert "'attention-3pass@'" in line and "nothing after '@'" in line


def test_a_config_without_architectures_is_causal_when_its_model_type_is_a_decoder(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "num_attention_heads": 32, "hidden_size": 4096}))
    r = run("simulate", "--model", str(path), "--format", "json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)[0]["causal"] is True


def test_a_tile_past_the_machines_per_block_shared_memory_is_refused(tmp_path):
    toml = (Path(__file__).resolve().parent.parent / "gpu_models/specs/h100.toml").read_text()
    small = tmp_path / "small-smem.toml"
    small.write_text(toml.replace("smem_per_block_bytes = { value = 227,", "smem_per_block_bytes = { value = 0.5,")
                     .replace('name = "h100"', 'name = "small-smem"'))
    for algo in ("flash2", "flash3"):
        line = one_line_error("simulate", "--hw", str(small), "--algo", algo)
        assert "B of shared memory" in line and "allows 512 per CTA" in line


def test_calibrate_refuses_fitting_one_architecture_from_anothers_timings(tmp_path):
    line = one_line_error("calibrate", "--kernels", "validation/published/fa3-paper-h100.json", "--hw", "b200",
                          "-o", str(tmp_path / "x.toml"))
    assert "--hw b200" in line and "sm_90" in line and "sm_100" in line
    assert not (tmp_path / "x.toml").exists()


def test_a_sweep_without_a_terminal_prints_plain_progress_lines(tmp_path, monkeypatch):
    from cli import sweep_cmd

    monkeypatch.setattr(sweep_cmd, "LOG_EVERY_S", 0.0)
    monkeypatch.setattr(sweep_cmd, "FIRST_CHUNK", 1)  # a line after each chunk but the last
    r = CliRunner().invoke(cli, ["sweep", "--seq-len", "1k..64k", "--jobs", "1", "-o", str(tmp_path / "s.csv")])
    assert r.exit_code == 0, r.output
    assert "attnsim: sweep 1 of 7 points (14%)" in r.output


def test_a_long_simulate_says_it_is_working(monkeypatch):
    from cli import simulate_cmd

    monkeypatch.setattr(simulate_cmd, "SAY_POINTS", 2)
    r = CliRunner().invoke(cli, ["simulate", "--seq-len", "1k,2k,4k", "--format", "csv"])
    assert r.exit_code == 0 and "attnsim: simulating 3 points" in r.output


def test_ctrl_c_inside_a_numba_call_counts_as_an_interrupt():
    from cli.sweep_cmd import _interrupt

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ctrl_c:
            raise SystemError("CPUDispatcher(<function lower>) returned a result with an exception set") from ctrl_c
    except SystemError as err:
        assert _interrupt(err)
    assert not _interrupt(SystemError("a real error"))


def test_a_directory_or_device_given_as_hardware_says_what_it_is(tmp_path):
    assert "is a directory" in one_line_error("simulate", "--hw", str(tmp_path))
    assert "not a regular file" in one_line_error("simulate", "--hw", "/dev/null")


def test_a_size_range_whose_end_is_off_its_doubling_steps_is_refused():
    line = one_line_error("simulate", "--seq-len", "1k..3k")
    assert "'1k..3k'" in line and "power of two" in line
    r = run("simulate", "--seq-len", "1k..4k", "--format", "json")
    assert r.exit_code == 0 and [p["seq_len"] for p in json.loads(r.output)] == [1024, 2048, 4096]
