"""Mends of a user audit's messages, listings and figures (s64): a custom hardware TOML's errors name the key the
file set and what is allowed; a TOML bearing a bundled model's name is refused, and output rows name a TOML by the
path given; every option's error reads `bad --OPTION 'VALUE': ...`; `cascade list` shows whole sentences; a
speedup plot of many lines gives each its own colour with the legend below; bandwidths are decimal everywhere and
log ticks plain numbers."""

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from cli.main import cli  # noqa: E402
from cli.plots import style  # noqa: E402
from einsum_cascades.errors import UserError  # noqa: E402
from gpu_models import HardwareError, load_hardware, spec_path  # noqa: E402
from simulator.workload import Workload  # noqa: E402

H100 = spec_path("h100").read_text()


from cli_runner import one_line_error, run  # noqa: E402  (tests/cli_runner.py)


def _toml(tmp_path, text: str, name: str = "mine.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _mine(text: str = H100) -> str:
    """The bundled H100 under a name of its own."""
    return text.replace('name = "h100"', 'name = "my-h100"', 1)


# 1. hardware TOML messages


def test_an_arch_before_sm80_is_named_with_the_archs_allowed(tmp_path):
    """sm_75 said 'mma_sync_efficiency ... given, but sm_75 has no mma_sync path', a key the user did not touch."""
    path = _toml(tmp_path, _mine().replace('arch = "sm_90"', 'arch = "sm_75"'))
    line = one_line_error("hw", "show", path)
    assert "arch 'sm_75' is not modelled: allowed sm_80 or later" in line and "mma_sync_efficiency" not in line


def test_a_boost_clock_below_the_tensor_clock_names_the_two_keys(tmp_path):
    """boost_clock_hz = 1000 MHz said 'cuda_core_clock_hz (1980 MHz) exceeds the highest clock its figures give'."""
    path = _toml(tmp_path, _mine().replace("boost_clock_hz = { value = 1980,", "boost_clock_hz = { value = 1000,"))
    line = one_line_error("hw", "show", path)
    assert "boost_clock_hz (1000 MHz) is below tensor_clock_hz (1830 MHz)" in line
    assert "allowed: boost_clock_hz at least tensor_clock_hz and sustained_clock_hz" in line
    assert "cuda_core_clock_hz" not in line


@pytest.mark.parametrize("text", ["", _mine().replace('kind = "gpu"\n', "")])
def test_a_missing_kind_is_a_missing_key(tmp_path, text):
    """An empty file, or one without kind, said "kind must be 'gpu' or 'accelerator', got None"."""
    with pytest.raises(HardwareError, match=r"^mine.toml: missing key kind \('gpu' or 'accelerator'\)$"):
        load_hardware(_toml(tmp_path, text))


@pytest.mark.parametrize("key, old, new, bound", [
    ("smem_per_sm_bytes", 'smem_per_sm_bytes = { value = 228, unit = "KiB"', 'smem_per_sm_bytes = { value = 228, unit = "GiB"',
     "at most 4 MiB"),
    ("boost_clock_hz", 'boost_clock_hz = { value = 1980, unit = "MHz"', 'boost_clock_hz = { value = 19.8, unit = "GHz"',
     "at most 10 GHz"),
    ("hbm_bw_bytes_s", 'hbm_bw_bytes_s = { value = 3.35, unit = "TB/s"', 'hbm_bw_bytes_s = { value = 3350, unit = "TB/s"',
     "at most 1000 TB/s"),
])
def test_a_value_past_any_machine_is_refused_naming_the_bound(tmp_path, key, old, new, bound):
    """228 GiB of shared memory per SM (a slip of KiB) loaded as a machine."""
    assert old in H100
    with pytest.raises(HardwareError, match=f"^mine.toml: {key} = .* is past any machine: allowed {bound} "):
        load_hardware(_toml(tmp_path, _mine().replace(old, new)))


def test_every_bundled_machine_is_within_the_bounds():
    from gpu_models.loader import bundled_names

    assert all(load_hardware(name).name == name for name in bundled_names())


# 2. a custom TOML's name and the rows' hardware column


def test_a_toml_bearing_a_bundled_name_is_refused(tmp_path):
    """A copy of h100.toml named a100 labelled its rows hardware=a100, and --from priced a real A100 (3.2x)."""
    path = _toml(tmp_path, H100.replace('name = "h100"', 'name = "a100"'), "clash.toml")
    line = one_line_error("simulate", "--hw", path)
    assert f"{path!r} is named 'a100', the name of a bundled model: pick another name" in line
    with pytest.raises(HardwareError, match="pick another name"):
        load_hardware(_toml(tmp_path, H100, "copy.toml"))  # an identical copy too
    assert load_hardware(str(spec_path("h100"))).name == "h100"  # the bundled file itself, by its path


def test_rows_name_a_toml_by_its_path_and_run_again_from_a_file(tmp_path):
    """The hardware column held the TOML's name, which --from could not load; it holds the path as given."""
    path = _toml(tmp_path, _mine())
    out = tmp_path / "rows.csv"
    r = run("sweep", "--hw", f"{path},h100", "--seq-len", "1k,2k", "--baseline", f"naive@{path}", "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["hardware"] for r in rows] == [path, path, "h100", "h100"]
    assert {r["baseline"] for r in rows} == {"naive", f"naive@{path}"}
    again = json.loads(run("simulate", "--from", str(out), "--format", "json").output)
    assert [a["hardware"] for a in again] == [r["hardware"] for r in rows]
    assert [a["time_s"] for a in again] == pytest.approx([float(r["time_s"]) for r in rows])
    from simulator import simulate

    assert simulate(hw=Path(path))["hardware"] == path


# 3. one form for every option's error


@pytest.mark.parametrize("args, expected", [
    (["--v-head-dim", "0"], "bad --v-head-dim '0': must be positive"),
    (["--v-head-dim", "100"], "bad --v-head-dim '100': must be a multiple of 8"),
    (["--head-dim=100"], "bad --head-dim '100': must be a multiple of 8"),
    (["--kv-heads", "5"], "bad --kv-heads '5': must divide heads (32)"),
    (["--batch", "2m"], "bad --batch '2m': at most 1m"),
])
def test_every_option_error_has_one_form(args, expected):
    assert expected in one_line_error("simulate", *args)


def test_the_api_keeps_its_field_names_and_a_config_value_is_not_called_an_option(tmp_path):
    with pytest.raises(UserError, match=r"^bad v-head-dim 100: must be a multiple of 8$"):
        Workload(head_dim=128, v_head_dim=100)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"num_attention_heads": 32, "hidden_size": 64, "head_dim": 2}))
    assert "bad head-dim 2: must be a multiple of 8" in one_line_error("simulate", "--model", str(config))


def test_a_cascade_refused_by_its_kernel_says_which_kernel_it_runs_as():
    """--algo attention-1pass said 'flash3 runs fp16 head dims ...', a kernel the user did not name."""
    line = one_line_error("simulate", "--algo", "attention-1pass", "--v-head-dim", "512")
    assert "attention-1pass runs as flash3 on h100: flash3 runs fp16 head dims" in line
    assert "error: flash3 runs" in one_line_error("simulate", "--algo", "flash3", "--v-head-dim", "512")


# 4. cascade list


def test_cascade_summaries_are_whole_sentences():
    """The summary was the file's first comment line: 'without the max, exponential, sum and'."""
    from einsum_cascades import list_cascades

    summaries = dict(list_cascades())
    assert summaries["attention-nosoftmax"].endswith("without the max, exponential, sum and rescale.")
    assert summaries["attention-sigmoid"].endswith("no running state but the output accumulator.")
    assert all(s.endswith((".", ")", "...")) for s in summaries.values()), summaries
    r = CliRunner().invoke(cli, ["cascade", "list"], terminal_width=80)
    assert "sum and rescale." in " ".join(r.output.replace("│", " ").split())


def test_a_long_first_sentence_is_cut_at_a_clause():
    from einsum_cascades.parser import SUMMARY_CHARS, summary_of

    long = "Softcapped attention, as Gemma 2 runs it (" + "a citation, " * 20 + "the end), one pass. More."
    cut = summary_of(long)
    assert cut == "Softcapped attention, as Gemma 2 runs it ..." and len(cut) <= SUMMARY_CHARS + 4
    assert summary_of("Et al. (Nayak et al. 2024), Sec. 4 of it. Next.") == "Et al. (Nayak et al. 2024), Sec. 4 of it."
    assert summary_of(cut) == cut  # a cascade printed back parses to the same summary


# 5. many lines on a speedup plot


def _saved_figures(monkeypatch) -> list:
    """The figures the command saves, laid out as saved (style.save closes them: ``_renderer`` draws one again)."""
    saved, real = [], style.save
    monkeypatch.setattr(style, "save", lambda fig, output: (saved.append(fig), real(fig, output)))
    return saved


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig.canvas.get_renderer()


def test_many_lines_each_take_a_colour_and_the_legend_goes_below(tmp_path, monkeypatch):
    """8 lines of one machine and kernel were one red told apart by dashes, the legend two-thirds of the width
    and the title five lines."""
    saved = _saved_figures(monkeypatch)
    r = run("plot", "speedup", "--hw", "h100", "--seq-len", "1k..4k", "--batch", "1,2", "--heads", "16,32",
            "--head-dim", "64,128", "-o", str(tmp_path / "many.png"))
    assert r.exit_code == 0, r.output
    (fig,) = saved
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if line.get_label().startswith("B=")]
    assert len(lines) == 8 and len({line.get_color() for line in lines}) == 8
    assert {line.get_linestyle() for line in lines} == {"-", "-."}  # the head dim, a second dimension
    assert "H100" not in " ".join(line.get_label() for line in lines)  # shared: in the title
    assert "H100 flash3" in ax.get_title() and ax.get_title().count("\n") <= 2
    renderer = _renderer(fig)
    legend, axes = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.y1 < axes.y0 and legend.width > axes.width / 2  # below the axes, in columns
    assert legend.y0 >= 0 and axes.width / fig.bbox.width > 0.8  # inside the figure; the axes keep the width
    plt.close(fig)


def test_a_single_line_keeps_its_kernel_colour_and_legend_inside(tmp_path, monkeypatch):
    saved = _saved_figures(monkeypatch)
    assert run("plot", "speedup", "--hw", "h100", "--seq-len", "1k..4k", "-o", str(tmp_path / "one.png")).exit_code == 0
    (fig,) = saved
    ax = fig.axes[0]
    (line,) = [line for line in ax.get_lines() if line.get_label() == "H100 flash3"]
    assert line.get_color() == style.algo_color("flash3") and line.get_linestyle() == "-"
    renderer = _renderer(fig)
    assert ax.get_window_extent(renderer).contains(*ax.get_legend().get_window_extent(renderer).p0)
    plt.close(fig)


# 6. units and ticks


def test_accelerator_bandwidth_is_decimal_as_the_gpus_and_the_roofline():
    r = run("hw", "list")
    assert r.exit_code == 0 and "429 GB/s DRAM" in r.output and "GiB/s" not in r.output
    assert "429.5 GB/s" in run("hw", "show", "fusemax").output
    from cli.plots.roofline import roofs

    assert "DRAM 429 GB/s" in [roof.label for roof in roofs(load_hardware("fusemax"), "fp16", [128])]


@pytest.mark.parametrize("hw", ["fusemax", "h100"])
def test_roofline_ticks_are_plain_numbers(tmp_path, monkeypatch, hw):
    saved = _saved_figures(monkeypatch)
    assert run("plot", "roofline", "--hw", hw, "-o", str(tmp_path / "r.png")).exit_code == 0
    (fig,) = saved
    _renderer(fig)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") + ax.xaxis.get_ticklabels(which="both")
              if t.get_text()]
    assert labels and not any("times" in t or "^" in t or "$" in t for t in labels), labels
    assert "100" in labels and "1,000" in labels
    plt.close(fig)


def test_a_time_axis_labels_the_part_decade_its_points_lie_in():
    """A validation scatter from 0.17 ms to 18 ms labelled 1 ms and 10 ms only: no label beside its 0.2-0.5 ms
    points."""
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.plot([1.7e-4, 1.8e-2], [1.7e-4, 1.8e-2])
    ax.set_xlim(1.7e-4, 1.8e-2)
    ax.set_ylim(1.7e-4, 1.8e-2)
    ax.set_aspect("equal")
    style.seconds_axis(ax.xaxis)
    style.seconds_axis(ax.yaxis)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for axis in (ax.xaxis, ax.yaxis):
        ticks = [t for t in axis.get_ticklabels(which="both") if t.get_text() and t.get_visible()]
        assert {"200 us", "500 us", "1 ms", "10 ms"} <= {t.get_text() for t in ticks}
        boxes = sorted(((b.x0, b.x1) if axis is ax.xaxis else (b.y0, b.y1))
                       for b in (t.get_window_extent(renderer) for t in ticks))
        assert all(a1 <= b0 for (_, a1), (b0, _) in zip(boxes, boxes[1:]))  # none overlaps the next
    plt.close(fig)
