"""`attnsim plot` through click's runner: every kind writes a real figure; bad paths and kinds exit 2."""

import pytest
from click.testing import CliRunner

from cli.main import cli

FA3_PUBLISHED = "validation/published/fa3-paper-h100.json"
MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<?xml"}

KINDS = {
    "speedup": ["--hw", "a100,h100", "--seq-len", "1k..8k"],
    "sparsity": ["--hw", "h100", "--algo", "flash2,flash3", "--seq-len", "4k", "--sparsity", "0,0.5,0.9"],
    "roofline": ["--hw", "h100", "--algo", "naive,flash2,flash3", "--seq-len", "1k,8k"],
    "breakdown": ["--hw", "h100", "--algo", "naive,flash2,flash3", "--seq-len", "4k"],
    "validation": [FA3_PUBLISHED],
}


def run(*args):
    return CliRunner().invoke(cli, ["plot", *args])


def _figure(tmp_path, kind, args, suffix=".png"):
    out = tmp_path / f"{kind}{suffix}"
    r = run(kind, *args, "-o", str(out))
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines() == [f"wrote {out}"]  # the one line on stderr
    data = out.read_bytes()
    assert data.startswith(MAGIC[suffix]) and len(data) > 5_000
    return data


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_writes_a_png(tmp_path, kind):
    _figure(tmp_path, kind, KINDS[kind])


def test_accelerator_breakdown_and_roofline(tmp_path):
    bert = ["--hw", "fusemax", "--algo", "unfused,flat,fusemax", "--model", "bert", "--seq-len", "4k"]
    _figure(tmp_path, "breakdown", bert)
    _figure(tmp_path, "roofline", bert)


def test_svg_carries_the_titles_workload_and_units(tmp_path):
    svg = _figure(tmp_path, "speedup", KINDS["speedup"], ".svg").decode()
    for text in ("Speedup over naive", "A100", "H100", "B=1", "d=128", "sequence length N (tokens)", "speedup (×)"):
        assert text in svg


def test_decode_speedup_runs_along_the_kv_length(tmp_path):
    """One query length and a range of KV lengths (decode): the x axis is Nkv, one line per algorithm."""
    args = ["--hw", "h100", "--algo", "flash3,flash-decoding", "--model", "llama3-8b", "--seq-len", "1",
            "--kv-len", "1k..64k"]
    svg = _figure(tmp_path, "speedup", args, ".svg").decode()
    assert "vs KV length" in svg and "KV length Nkv (tokens)" in svg and "Nkv=" not in svg


def test_validation_svg_reports_the_median_error(tmp_path):
    svg = _figure(tmp_path, "validation", KINDS["validation"], ".svg").decode()
    assert "median |error|" in svg and "±10%" in svg


def test_pdf(tmp_path):
    _figure(tmp_path, "roofline", KINDS["roofline"], ".pdf")


@pytest.mark.parametrize("output, needle", [
    ("figure.jpg", ".png, .svg, .pdf"),
    ("/no/such/dir/figure.png", "/no/such/dir"),
])
def test_bad_output_is_one_line_exit_2(output, needle):
    r = run("speedup", "--seq-len", "1k", "-o", output)
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.output


def test_unknown_kind_exits_2():
    r = run("pie", "-o", "x.png")
    assert r.exit_code == 2 and "pie" in r.output


def test_roofline_needs_one_machine(tmp_path):
    r = run("roofline", "--hw", "a100,h100", "-o", str(tmp_path / "r.png"))
    assert r.exit_code == 2 and "one machine" in r.output


def test_breakdown_refuses_gpus_and_accelerators_together(tmp_path):
    r = run("breakdown", "--hw", "h100,fusemax", "-o", str(tmp_path / "b.png"))
    assert r.exit_code == 2 and "one kind of machine" in r.output


def test_missing_validation_file_exits_2(tmp_path):
    r = run("validation", str(tmp_path / "nope.json"), "-o", str(tmp_path / "v.png"))
    assert r.exit_code == 2 and "nope.json" in r.output


def test_a_pattern_at_sparsity_0_beside_sized_ones_is_named_as_written(tmp_path):
    """`--pattern topk(4) --sparsity 0..0.9`: the 0 point is topk(4) as written, the others topk sized to each
    sparsity; the command says so once (simulate and plot alike), and says nothing without a 0 or without a pattern."""
    def notes(*args):
        r = CliRunner().invoke(cli, list(args))
        assert r.exit_code == 0, r.output
        return [line for line in r.output.splitlines() if "is the pattern as written" in line]

    sized = ("--hw", "h100", "--algo", "flash3", "--seq-len", "16k")
    assert len(notes("simulate", *sized, "--pattern", "topk(4)", "--sparsity", "0,0.5", "--format", "csv")) == 1
    assert len(notes("plot", "sparsity", *sized, "--pattern", "topk(4)", "--sparsity", "0,0.5",
                     "-o", str(tmp_path / "s.png"))) == 1
    assert notes("simulate", *sized, "--pattern", "topk(4)", "--sparsity", "0.3,0.5", "--format", "csv") == []
    assert notes("simulate", *sized, "--sparsity", "0,0.5", "--format", "csv") == []
    assert notes("simulate", *sized, "--pattern", "topk(4)", "--format", "csv") == []


def test_plot_sparsity_takes_a_range_by_default_and_refuses_one_value(tmp_path):
    """A sparsity axis of one point (plot sparsity without --sparsity drew a lone dot at 0) says nothing: the default
    is 0..0.9, said in a note, and one value is a one-line error."""
    out = tmp_path / "s.png"
    r = run("sparsity", "--hw", "h100", "--seq-len", "8k", "-o", str(out))
    assert r.exit_code == 0 and "--sparsity 0..0.9 (plot sparsity's default range" in r.output, r.output
    r = run("sparsity", "--hw", "h100", "--seq-len", "8k", "--sparsity", "0.5", "-o", str(out))
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "attnsim: error: bad --sparsity '0.5': plot sparsity draws speedup against sparsity, so it needs two values or "
        "more (a list, or a range such as 0..0.9)"]


def test_the_default_range_keeps_the_sparsities_a_method_mask_reaches(tmp_path):
    """StreamingLLM's causal sinks and window reach block sparsity 0.50-0.99 at 32k: the default 0..0.9 leaves out
    0.1-0.4 with a note (it failed whole at 0.1); a named value out of reach stays an error."""
    out = tmp_path / "m.png"
    r = run("sparsity", "--hw", "h100", "--method", "streamingllm", "--seq-len", "32k", "-o", str(out))
    assert r.exit_code == 0 and out.exists(), r.output
    assert "sparsities 0.1, 0.2, 0.3, 0.4 left out: the mask cannot reach them" in r.output
    r = run("sparsity", "--hw", "h100", "--method", "streamingllm", "--seq-len", "32k", "--sparsity", "0.2,0.6",
            "-o", str(out))
    assert r.exit_code == 2 and "cannot reach sparsity 0.2" in r.output and "Traceback" not in r.output
