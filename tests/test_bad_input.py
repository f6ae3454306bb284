"""Bad input ends as one line on stderr and exit status 2 (DESIGN), for each case found by trying the CLI
with hostile values: empty names, sizes and lists past their stated bounds, broken files."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli


def fails(*args) -> str:
    """Run the CLI; assert exit 2 with exactly one line on stderr and no traceback; return that line."""
    r = CliRunner().invoke(cli, list(args))
    assert r.exit_code == 2, (args, r.exit_code, r.stdout, r.stderr, r.exception)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnsim: error: "), r.stderr
    return lines[0]


@pytest.mark.parametrize("option", ["--hw", "--algo", "--model", "--baseline", "--pattern"])
def test_an_empty_name_is_refused_and_named(option):
    assert f"bad {option} ''" in fails("simulate", option, "")


def test_a_list_with_an_empty_name_is_refused():
    assert "empty name" in fails("simulate", "--hw", "h100,,a100")


def test_a_size_past_the_bound_names_the_bound():
    assert "at most 1024g" in fails("simulate", "--seq-len", "99999999999999999999999k")
    assert "bad --seq-len '2g': at most 1g" in fails("simulate", "--seq-len", "2g")
    assert "bad --batch '2m': at most 1m" in fails("simulate", "--batch", "2m")


def test_a_tensor_past_an_exbibyte_is_refused():
    assert "at most 2**60 B" in fails("simulate", "--seq-len", "1g", "--batch", "1m")


def test_ranges_and_lists_are_capped(tmp_path):
    assert "1,000,000,000 values; at most 10,000" in fails("simulate", "--sparsity", "0..0.9:1000000000")
    assert "3,570,000 points; at most 1,000,000" in fails(
        "sweep", "--sparsity", "0..0.9:10000", "--batch", "1..1m", "--heads", "1..64k", "-o", str(tmp_path / "x.csv"))


def test_cascade_check_refuses_sizes_the_oracle_cannot_hold():
    line = fails("cascade", "check", "attention-3pass", "--seq-len", "64k")
    assert "at most 16,777,216" in line or "at most 268,435,456" in line


@pytest.mark.parametrize("option, value", [("--seed", "-1"), ("--tolerance", "nan"), ("--tolerance", "-1"),
                                           ("--tolerance", "inf")])
def test_cascade_check_refuses_a_bad_seed_or_tolerance(option, value):
    assert option in fails("cascade", "check", "attention-3pass", option, value)


def _results(tmp_path, **change) -> str:
    doc = json.loads((Path(__file__).parent / "data" / "synthetic-h100-results.json").read_text())
    path = tmp_path / "results.json"
    path.write_text(json.dumps({**doc, **change}))
    return str(path)


@pytest.mark.parametrize("command, out", [(("simulate", "--from"), None), (("validate", "report"), None),
                                          (("validate", "merge"), "out.json"), (("plot", "validation"), "out.png"),
                                          (("calibrate",), "out.toml")])
def test_a_file_that_is_not_utf8_is_refused(tmp_path, command, out):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'\xff\xfe{"points": []}')
    out = ["-o", str(tmp_path / out)] if out else []
    assert "not UTF-8 text (byte 0 is 0xff)" in fails(*command, str(bad), *out)


@pytest.mark.parametrize("change, says", [({"points": [1, 2]}, "point 0 is int, not an object"),
                                          ({"device": "h100"}, "needs a 'device' object"),
                                          ({"micro": [{"name": "hbm_read", "value": "fast"}]}, "micro entry 0")])
def test_a_results_file_of_the_wrong_shape_is_refused(tmp_path, change, says):
    path = _results(tmp_path, **change)
    assert says in fails("validate", "report", path)
    assert says in fails("calibrate", path, "-o", str(tmp_path / "out.toml"))


@pytest.mark.parametrize("text, says", [("seq_len,heads,batch\n4k,32\n", "row 1: fewer values than the header"),
                                        ("seq_len,heads\n4k,32,1\n", "row 1: more values than the header"),
                                        ("seq_len,pattern\n4k,window(1k,0)\n", "needs double quotes"),
                                        ("", "no points"), ("seq_len,heads\n", "no points")])
def test_a_points_csv_row_is_never_filled_in_and_an_empty_file_is_an_error(tmp_path, text, says):
    path = tmp_path / "points.csv"
    path.write_text(text)
    assert says in fails("simulate", "--from", str(path))


@pytest.mark.parametrize("args", [("sweep", "-o", "/proc/out.csv"), ("plot", "speedup", "-o", "/proc/out.png"),
                                  ("pattern", "show", "causal", "--seq-len", "4k", "--png", "/proc/out.png"),
                                  ("cascade", "show", "attention-1pass", "--graph", "/proc/out.png")])
def test_an_unwritable_output_is_found_by_trying_not_by_os_access(args):
    """/proc accepts os.access(W_OK) for root, yet no file can be created there."""
    assert "cannot write '/proc/out." in fails(*args)


def test_calibrate_cannot_write_into_proc():
    assert "cannot write '/proc/out.toml'" in fails("calibrate", str(Path(__file__).parent / "data" /
                                                                      "synthetic-h100-results.json"), "-o", "/proc/out.toml")


@pytest.mark.parametrize("change, says", [
    ({"points": [{"kernel": "k", "algorithm": "flash2", "causal": [], "measured_s": 1e-3}]}, "causal must be true or false"),
    ({"points": [{"kernel": "k", "algorithm": "flash2", "pattern": 0.5, "measured_s": 1e-3}]}, "pattern must be a string"),
    ({"points": [{"kernel": "k", "algorithm": "flash2", "dtype": ["fp16"], "measured_s": 1e-3}]}, "dtype must be a string"),
    ({"device": {"name": "H100", "sm_clock_mhz": "fast"}}, "sm_clock_mhz must be a number")])
def test_a_results_field_of_the_wrong_type_is_refused_not_a_traceback(tmp_path, change, says):
    """Before: TypeError (unhashable list, float not iterable) and ValueError (float('fast')) tracebacks."""
    path = _results(tmp_path, **change)
    assert says in fails("validate", "report", path)
    assert says in fails("calibrate", path, "-o", str(tmp_path / "out.toml"))
    assert says in fails("calibrate", "--kernels", path, "-o", str(tmp_path / "out.toml"))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_number_in_a_results_file_is_refused(tmp_path, literal):
    """Python's json reads NaN and 1e999; merging such a file then failed writing it (ValueError traceback)."""
    doc = json.loads((Path(__file__).parent / "data" / "synthetic-h100-results.json").read_text())
    doc["device"]["power_w"] = "HERE"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc).replace('"HERE"', literal))
    for args in (("validate", "merge", str(path), "-o", str(tmp_path / "out.json")), ("validate", "report", str(path))):
        assert "results files" in fails(*args) and not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("args", [("validate", "report", "tests/data/synthetic-h100-results.json", "-o", ""),
                                  ("cascade", "show", "attention-1pass", "--graph", ""),
                                  ("pattern", "show", "causal", "--seq-len", "4k", "--png", ""), ("sweep", "-o", "")])
def test_an_empty_output_name_is_refused_not_ignored(args):
    """Before: an empty --png, --graph or -o was taken as 'not given' and the command succeeded silently."""
    assert "bad output ''" in fails(*args)


@pytest.mark.parametrize("args", [("sweep", "-o", "{tmp}/out.csv/"), ("plot", "speedup", "-o", "{tmp}/out.png/"),
                                  ("calibrate", "tests/data/synthetic-h100-results.json", "-o", "{tmp}/out.toml/")])
def test_an_output_ending_in_a_slash_names_a_directory_and_is_refused(tmp_path, args):
    """Before: 'out.csv/' silently wrote the file out.csv."""
    assert "ends in '/'" in fails(*(a.format(tmp=tmp_path) for a in args))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("figure", ["roofline", "breakdown"])
def test_a_figure_without_speedups_refuses_a_baseline_rather_than_ignore_it(tmp_path, figure):
    """Before: plot breakdown accepted any --baseline, even 'x', and drew the same figure."""
    assert "has no baseline" in fails("plot", figure, "--baseline", "x", "-o", str(tmp_path / "f.png"))


def test_an_empty_from_file_is_refused_not_ignored():
    """Before: --from '' simulated the default point as if --from had not been given."""
    assert "--from ''" in fails("simulate", "--from", "")


def test_a_nul_byte_in_an_argument_is_one_line_not_a_traceback(tmp_path):
    """No shell can pass one, but a caller of the CLI's main can: open() then raised ValueError."""
    assert "contains a NUL byte" in fails("sweep", "-o", str(tmp_path / "a\x00.csv"))


@pytest.mark.parametrize("args, says", [(("--hw", "nosuch", "-o", "{tmp}/r.json"), "unknown hardware 'nosuch'"),
                                        (("-o", "/proc/r.json"), "cannot write '/proc/r.json'"),
                                        (("--only", "nosuch", "-o", "{tmp}/r.json"), "bad --only 'nosuch'")])
def test_validate_run_checks_its_inputs_before_looking_for_a_gpu(tmp_path, args, says):
    """Before: a machine without CuPy answered every typo with 'needs a CUDA GPU'; one with a GPU found a bad
    -o only after looking for the device."""
    assert says in fails("validate", "run", *(a.format(tmp=tmp_path) for a in args))


def test_pattern_show_refuses_heads_for_a_single_pattern():
    """Before: --heads 3 with 'causal' was accepted and ignored (the counts are the same for every head)."""
    assert "applies to a heads(...) mix" in fails("pattern", "show", "causal", "--seq-len", "4k", "--heads", "3")


@pytest.mark.parametrize("name", ["[/]", "[bold]x", "a,b", "h100@x", "my gpu", "x\ny", ""])
def test_a_hardware_toml_name_must_be_a_plain_word(tmp_path, name):
    """Before: '[/]' crashed the simulate table (rich MarkupError), '[bold]x' printed as 'x', a comma or '@' broke
    --hw lists and baselines (algo@NAME)."""
    text = (Path(__file__).parent.parent / "gpu_models" / "specs" / "h100.toml").read_text()
    path = tmp_path / "mine.toml"
    path.write_text(text.replace('name = "h100"', f"name = {json.dumps(name)}", 1))
    assert "name must be 1-64 letters" in fails("simulate", "--hw", str(path))


def test_a_cascade_path_with_markup_prints_as_written(tmp_path):
    """Before: the simulate table read '[bold]' in a .cascade path as rich markup and printed another name."""
    path = tmp_path / "[bold]mine.cascade"
    path.write_text((Path(__file__).parent.parent / "einsum_cascades" / "library" / "attention-1pass.cascade").read_text())
    for width in ("200", "40"):  # the table, and the key: value blocks
        r = CliRunner().invoke(cli, ["simulate", "--algo", str(path), "--seq-len", "1k", "--format", "table"],
                               env={"COLUMNS": width})
        assert r.exit_code == 0 and "[bold]mine.cascade" in "".join(r.stdout.split()), r.output


@pytest.mark.parametrize("figure", ["speedup", "breakdown", "roofline"])
def test_a_dollar_in_a_name_on_a_figure_is_text_not_a_formula(tmp_path, figure):
    """Before: a '$' in a .cascade path (or a kernel or device name of a results file) started matplotlib's math
    mode, and a bad formula ended in a ParseException traceback."""
    path = tmp_path / "a$\\frac$b.cascade"
    path.write_text((Path(__file__).parent.parent / "einsum_cascades" / "library" / "attention-1pass.cascade").read_text())
    r = CliRunner().invoke(cli, ["plot", figure, "--algo", str(path), "--seq-len", "1k,2k", "-o", str(tmp_path / "f.svg")])
    assert r.exit_code == 0, r.output
    assert "a$\\frac$b.cascade" in (tmp_path / "f.svg").read_text()


def test_a_dollar_in_a_results_file_s_names_is_text(tmp_path):
    doc = json.loads((Path(__file__).parent / "data" / "synthetic-h100-results.json").read_text())
    doc["device"]["name"] = "H100 $\\undefined$"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["plot", "validation", str(path), "--hw", "h100", "-o", str(tmp_path / "v.png")])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("device, says", [
    ("NVIDIA H100 80GB HBM3", "is the device of the h100 model: use h100"),  # torch.cuda.get_device_name()
    ("NVIDIA A100 80GB PCIe", "use a100-pcie"),
    ("NVIDIA H100 NVL", "no bundled model of device 'NVIDIA H100 NVL' (the H100 NVL"),  # a part with no model: why
])
def test_a_device_name_given_as_hw_names_its_model_and_is_not_taken(device, says):
    """A pasted device name is an error (no silent substitution) whose one line names the model to give instead,
    or why none fits."""
    line = fails("simulate", "--hw", device, "--algo", "flash2")
    assert f"unknown hardware {device!r}" in line and says in line


@pytest.mark.parametrize("name", ["tpu-v5", "h100:abc"])  # no GPU; a machine with a bad locked clock
def test_a_name_that_is_no_gpu_gets_no_device_hint(name):
    line = fails("simulate", "--hw", name, "--algo", "flash2")
    assert "device" not in line and "allowed a100" in line


def test_hw_show_given_a_device_name_names_the_model():
    line = fails("hw", "show", "NVIDIA H200")
    assert "unknown hardware 'NVIDIA H200'" in line and "is the device of the h200 model: use h200" in line


@pytest.mark.parametrize("sep", [";", "\t"])
def test_a_csv_separated_by_other_than_commas_says_so(tmp_path, sep):
    """A semicolon (European spreadsheet export) or tab CSV reads as one column; the error says why, where it
    said 'no measured_ms' or 'unknown column'."""
    path = tmp_path / "mine.csv"
    path.write_text(sep.join(("algorithm", "seq_len", "measured_ms")) + "\n" + sep.join(("flash3", "4k", "1")) + "\n")
    for args in (("validate", "report", str(path)), ("simulate", "--from", str(path))):
        line = fails(*args)
        assert "the header is one column" in line and f"not {sep!r}" in line


@pytest.mark.parametrize("value", ["1k:64k", "1k:64k:x2", "1k..1m:5"])
def test_a_size_range_in_another_syntax_names_the_range_syntax(value):
    """Python's slice syntax, or a fraction range's :N step on sizes, said only 'use a positive integer'."""
    for cmd in (("sweep", "-o", "x.csv"), ("simulate",)):
        line = fails(*cmd, "--seq-len", value)
        assert f"bad --seq-len {value!r}" in line and "LOW..HIGH" in line and "1k..1m" in line


@pytest.mark.parametrize("option, value, meant", [
    ("--algo", "fa3", "flash3"), ("--algo", "FlashAttention-2", "flash2"), ("--algo", "flash_attn", "flash2"),
    ("--algo", "FA4", "flash4"), ("--algo", "flsh3", "flash3"), ("--algo", "eager", "naive"),
    ("--algo", "flash_decoding", "flash-decoding"),
    ("--model", "llama-3-8b", "llama3-8b, the same attention shape"), ("--model", "llama3.1-8b", "llama3-8b"),
    ("--model", "Llama-3.3-70B", "llama3-70b"), ("--model", "Mistral_7B", "mistral-7b"),
])
def test_an_unknown_name_suggests_what_it_likely_means(option, value, meant):
    """What people call the kernels (FA3, flash_attn, eager attention), a typo, or a model spelled otherwise or a
    release of the same attention shape (Llama 3.1): the one-line error names it, and nothing runs in its place."""
    line = fails("simulate", option, value)
    what = {"--algo": "algorithm", "--model": "model"}[option]
    assert f"unknown {what} {value!r} (did you mean {meant}" in line


@pytest.mark.parametrize("option, value", [("--algo", "sdpa"), ("--algo", "FlashAttention"), ("--algo", "xyz"),
                                           ("--model", "llama3-405b"), ("--model", "deepseek-v2"),
                                           ("--model", "mixtral")])
def test_a_name_with_no_clear_match_gets_no_guess(option, value):
    """torch SDPA dispatches to several kernels, an unnumbered FlashAttention is any of four, llama3-405b is spelled
    like llama3-70b but has 128 heads: no guess."""
    line = fails("simulate", option, value)
    what = {"--algo": "algorithm", "--model": "model"}[option]
    assert f"unknown {what} {value!r}:" in line and "did you mean" not in line
