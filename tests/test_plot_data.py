"""The numbers behind the figures, checked without drawing: series, ideal lines, roofs, stacks."""

import pytest

from cli.plots.breakdown import Group, accel_stacks, evaluate_points, gpu_bars
from cli.plots.roofline import kernel_points, roofs
from cli.plots.series import baseline_text, line_series, sparsity_rows
from cli.plots.style import caption, check_output, size_label
from cli.plots.validation import kernel_colours, median_abs_error
from einsum_cascades.errors import UserError
from simulator import hardware


def _row(hw="h100", algo="flash2", n=4096, s=0.0, speedup=1.0, density=1.0, baseline="naive", **extra):
    return dict(hardware=hw, algorithm=algo, baseline=baseline, batch=1, heads=32, kv_heads=32, head_dim=128,
                seq_len=n, kv_len=n, causal=False, dtype="fp16", pattern=None, sparsity=s, speedup=speedup,
                block_density=density, **extra)


def _point(**kw):
    base = dict(hardware="h100", algorithm=None, seq_len=8192, kv_len=None, sparsity=0.0, batch=1, heads=32,
                kv_heads=None, head_dim=128, causal=False, dtype="fp16", pattern=None, block_size=None, baseline=None)
    return {**base, **kw}


def test_line_series_groups_by_machine_and_algorithm_and_sorts_x():
    rows = [_row(n=8192, speedup=3.0), _row(n=1024, speedup=2.0), _row(hw="a100", n=1024, speedup=1.5)]
    a, b = line_series(rows, "seq_len")
    assert (a.hardware, a.x, a.speedup, a.variant) == ("h100", (1024, 8192), (2.0, 3.0), ())
    assert (b.hardware, b.x, b.speedup) == ("a100", (1024,), (1.5,))


def test_a_second_varying_field_splits_the_lines():
    rows = [_row(n=n, s=s) for s in (0.0, 0.9) for n in (1024, 2048)]
    series = line_series(rows, "seq_len")
    assert [s.variant for s in series] == [(("sparsity", 0.0),), (("sparsity", 0.9),)]
    assert series[1].variant_text() == "s=0.9"


def test_ideal_is_one_over_block_density():
    densities = (1.0, 0.5, 0.1)
    rows = [_row(s=1 - d, density=d, baseline="flash2") for d in densities]
    (series,) = line_series(rows, "sparsity")
    assert series.ideal == pytest.approx([1 / d for d in densities])
    assert baseline_text([series]) == "dense flash2"


def test_mixed_baselines_have_no_shared_text():
    rows = [_row(s=0.0), _row(n=8192, s=0.9, baseline="flash2")]
    assert baseline_text(line_series(rows, "seq_len")) is None


def test_sparsity_rows_compare_with_the_dense_run_and_make_causal_density_relative():
    rows = sparsity_rows([_point(algorithm="flash2", seq_len=1024, causal=True, sparsity=s) for s in (0.0, 0.5)])
    assert [r["baseline"] for r in rows] == ["flash2", "flash2"]
    assert rows[0]["speedup"] == pytest.approx(1.0)
    assert 0.5 < rows[0]["dense_block_density"] < 0.6  # causal keeps about half the tiles (plus the diagonal)
    (series,) = line_series(rows, "sparsity")
    assert series.ideal[0] == pytest.approx(1.0)
    assert series.ideal[1] == pytest.approx(rows[0]["block_density"] / rows[1]["block_density"])


def test_a_pattern_at_sparsity_0_is_drawn_at_the_sparsity_it_has():
    """--sparsity 0 with --pattern is the pattern as written (topk(4) keeps 4 of 47 key blocks), not sized to 0 as
    the other values size it: on the sparsity axis it sits at its own sparsity, where it once sat at 0 with a 9.5x
    speedup beside the 0.1 point's 1.1x."""
    rows = sparsity_rows([_point(algorithm="flash3", seq_len=131072, kv_len=8192, pattern="topk(4)", sparsity=s)
                          for s in (0.0, 0.5, 0.9)])
    (series,) = line_series(rows, "sparsity")
    assert series.x[:2] == (0.5, 0.9) and 0.9 < series.x[2] < 0.93  # the as-written point last, at 1 - 4/47
    assert series.x[2] == pytest.approx(1 - rows[0]["block_density"])
    assert series.speedup == tuple(r["speedup"] for r in rows[1:] + rows[:1])


def test_h100_roofs_closed_form():
    h = hardware("h100")
    tensor, exp, hbm, l2 = roofs(h, "fp16", [128])
    assert tensor.flops == pytest.approx(132 * 4096 * 1.83e9 * 0.803)  # SMs x FLOP/clk/SM x clock x GEMM efficiency
    assert exp.flops == pytest.approx(132 * 16 * 1.83e9 * 4 * 128)  # exp/s x 4*d FLOPs per score
    assert hbm.bytes_s == pytest.approx(3.35e12 * 0.949)  # the read-only stream fraction
    assert l2.bytes_s == h.l2_bw_bytes_s


def test_accelerator_roofs_closed_form():
    fm = hardware("fusemax")
    array2d, array1d, dram = roofs(fm, "fp16", [64])
    assert array2d.flops == pytest.approx(256 * 256 * 2 * 940e6)  # one MAC = 2 FLOPs per PE per cycle
    assert array1d.flops == pytest.approx(256 * 940e6 * 4 * 64)
    assert dram.bytes_s == fm.dram_bw_bytes_s


def test_kernel_points_are_intensity_and_throughput():
    rows = [_row(n=8192, flops=8e12, hbm_bytes=2e9, time_s=0.01), _row(n=1024, flops=1e11, hbm_bytes=1e8, time_s=1e-3)]
    assert kernel_points(rows) == {"flash2": [("8k", 8e12 / 2e9, 8e12 / 0.01), ("1k", 1e11 / 1e8, 1e11 / 1e-3)]}
    rows[1]["head_dim"] = 64
    assert [label for label, _, _ in kernel_points(rows)["flash2"]] == ["8k, d=128", "1k, d=64"]
    rows[1]["seq_len"] = rows[1]["kv_len"] = 8192  # N shared, d varying: the labels leave N to the caption
    assert [label for label, _, _ in kernel_points(rows)["flash2"]] == ["d=128", "d=64"]


def test_gpu_bars_keep_resource_order_and_drop_zero_resources():
    groups = evaluate_points([_point(algorithm=a) for a in ("naive", "flash2")])
    assert [g.label for g in groups] == ["naive", "flash2"]
    assert gpu_bars(groups)[:6] == ["tensor", "exp", "fma", "smem", "l2", "hbm"]
    assert gpu_bars(groups[:1]).count("smem") == 0  # naive has no shared-memory time


@pytest.mark.parametrize("algo", ["unfused", "flat", "fusemax-cascade", "fusemax"])
def test_accel_stacks_add_up_to_the_array_times(algo):
    (group,) = evaluate_points([_point(hardware="fusemax", algorithm=algo, batch=64, heads=12, head_dim=64, seq_len=4096)])
    stacks, clock, times = accel_stacks(group), group.spec.clock_hz, group.result.times
    assert sum(c for _, c in stacks["2D array"]) == pytest.approx(times["array2d"] * clock)
    assert sum(c for _, c in stacks["1D array"]) == pytest.approx(times["array1d"] * clock)
    assert stacks["DRAM"] == [("DRAM", pytest.approx(times["dram"] * clock))]


def test_unfused_stacks_split_its_phases_by_einsum():
    (group,) = evaluate_points([_point(hardware="fusemax", algorithm="unfused", batch=64, heads=12, head_dim=64)])
    stacks = accel_stacks(group)
    assert [name for name, _ in stacks["2D array"]] == ["QK", "AV"]
    assert [name for name, _ in stacks["1D array"]] == ["GM", "SN", "SD", "A"]


def test_breakdown_labels_name_what_varies():
    groups = evaluate_points([_point(hardware=h, algorithm="flash2", seq_len=n) for h in ("a100", "h100")
                              for n in (1024, 4096)])
    assert groups[0].label == "A100\nflash2\nN=1k" and isinstance(groups[0], Group)


def test_validation_colours_and_median():
    points = [{"kernel": "fa2", "algorithm": "flash2", "error": e} for e in (0.1, -0.3, 0.05)]
    points.append({"kernel": "mine", "algorithm": "flash2", "error": 0.0})
    colours = kernel_colours(points)
    assert colours["fa2"] != colours["mine"]
    assert median_abs_error(points) == pytest.approx((0.05 + 0.1) / 2)


def test_captions_and_sizes():
    assert caption([_row(), _row(n=8192)]) == "B=1  H=32  d=128  fp16  dense"  # N varies: left out
    assert caption([{**_row(), "causal": True, "kv_heads": 8}]) == "B=1  H=32/8 KV  d=128  N=4k  fp16  causal"
    assert [size_label(n) for n in (1024, 65536, 1 << 20)] == ["1k", "64k", "1M"]


@pytest.mark.parametrize("name", ["plot.jpg", "plot", "/no/such/dir/plot.png"])
def test_check_output_rejects(name):
    with pytest.raises(UserError):
        check_output(name)


def test_the_caption_names_a_scope_other_than_the_kernel_benchmark():
    from cli.plots.style import caption

    row = dict(batch=1, heads=32, kv_heads=8, head_dim=128, seq_len=1, dtype="fp16", causal=False, pattern=None,
               sparsity=0.0)
    assert "scope" not in caption([{**row, "scope": "kernel"}])
    assert caption([{**row, "scope": "kernel-warm"}]).endswith("scope kernel-warm")
    assert "scope" not in caption([{**row, "scope": "kernel"}, {**row, "scope": "layer"}])  # not shared: not shown


def test_points_left_out_name_each_reason_once_with_its_machines():
    from cli.plots.series import plottable

    rows = [dict(hardware=h, algorithm="flash2", baseline="naive", fits=True, baseline_fits=False, speedup=None)
            for h in ("a100", "h100", "a100")]
    rows += [dict(hardware="b200", algorithm="naive", baseline="x", fits=False, speedup=None),
             dict(hardware="h100", algorithm="flash2", speedup=2.0)]
    kept, note = plottable(rows, "speedup")
    assert len(kept) == 1
    assert note == ("4 of 5 points left out (baseline naive does not fit in A100, H100 memory, naive does not fit "
                    "in B200 memory)")


def test_the_caption_names_a_value_head_dim_a_kv_length_and_a_page_size_that_differ():
    row = {**_row(), "seq_len": 1, "kv_len": 8192, "v_head_dim": 128, "head_dim": 192, "page_size": 16}
    assert caption([row]) == "B=1  H=32  d=192/128  N=1/8k  fp16  dense  pages of 16"
    assert caption([_row()]) == "B=1  H=32  d=128  N=4k  fp16  dense"


def test_a_series_another_lies_on_is_drawn_wider_so_both_show():
    """FlashInfer's fa3 backend and FA3 price a chunked call alike: the first line drawn gets a wider line and larger
    markers per series drawn on top of it, a different one stays as the style sets it."""
    from cli.plots.lines import _lines

    rows = [_row(algo=a, n=n, speedup=n / 1024 * k) for a, k in (("flashinfer-prefill", 1.0), ("flash3", 1.004),
                                                                 ("flash2", 0.5)) for n in (1024, 2048)]
    fig, ax = _lines(line_series(rows, "seq_len"), ideal=False)
    under, over, apart = ax.get_lines()[:3]
    assert under.get_markersize() > over.get_markersize() == apart.get_markersize()
    assert under.get_linewidth() > over.get_linewidth() == apart.get_linewidth()
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_kernel_another_lies_on_is_marked_larger_on_the_roofline():
    from cli.plots.roofline import _covering

    a = [("8k", 100.0, 6e14), ("32k", 100.0, 6.2e14)]
    same = [("8k", 100.2, 6.01e14), ("32k", 100.0, 6.2e14)]
    apart = [("8k", 100.0, 3e14), ("32k", 100.0, 6.2e14)]
    assert _covering(a, [same]) == 1 and _covering(a, [same, same]) == 2
    assert _covering(a, [apart]) == 0 and _covering(a, [same[:1]]) == 0


def test_every_gpu_kernel_family_has_a_look_of_its_own():
    """Colour and marker per family: the name hash the unlisted ones fell back to gave flash4 and flashinfer-decode
    the same colour and the same marker."""
    from cli.plots.style import algo_color, algo_marker
    from simulator.api import GPU_FAMILIES

    looks = [(algo_color(a), algo_marker(a)) for a in GPU_FAMILIES if "@" not in a]
    assert len(set(looks)) == len(looks)


def test_many_series_on_one_line_grow_their_rings_only_so_far():
    """Ten series the model prices alike (the same x and speedups) once drew the first with markers 35 points wide."""
    from cli.plots.lines import HALO_MARKER, MAX_HALOS, _lines

    rows = [_row(algo="flash3", n=n, speedup=1.0, s=s) for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
            for n in (1024, 2048)]
    fig, ax = _lines(line_series(rows, "seq_len"), ideal=False)
    sizes = [line.get_markersize() for line in ax.get_lines() if len(line.get_xdata())]
    assert max(sizes) - min(sizes) == pytest.approx(HALO_MARKER * MAX_HALOS)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_causal_pattern_as_written_sits_on_the_axis_its_sized_points_use():
    """--sparsity sizes a causal pattern to a fraction of all tiles empty (the causal half counted), so the
    pattern as written sits at 1 - its block density too; it sat at 1 - its density relative to the causal run
    (0.865 for StreamingLLM's sinks and window at 32k), left of the 0.9 point it is sparser than. The dense twin
    is the plain call: no method preset refilling its mask, no estimate (a --method's twin had kept its mask)."""
    rows = sparsity_rows([_point(method="streamingllm", seq_len=32768, causal=True, sparsity=s) for s in (0.0, 0.9)])
    assert 0.5 < rows[0]["dense_block_density"] < 0.51  # causal: the twin lost the method's window
    (series,) = line_series(rows, "sparsity")
    assert series.x[0] == 0.9 and series.x[1] == pytest.approx(1 - rows[0]["block_density"]) and series.x[1] > 0.93
    assert series.speedup[1] > series.speedup[0]  # sparser, faster


def test_the_ideal_follows_the_baseline_and_each_line_draws_its_own_where_they_differ():
    """Over another baseline than the kernel's own dense run (naive), the ideal is 1 / block density times that
    run's speedup over the baseline: it was drawn from 1x under a curve starting at 4.6x. Kernels whose ideals
    differ (other tiles) each draw theirs in their colour, where one black line had stood for all."""
    from cli.plots.lines import _one_ideal

    rows = sparsity_rows([_point(algorithm="flash3", baseline="naive", sparsity=s) for s in (0.0, 0.5)])
    (series,) = line_series(rows, "sparsity")
    assert series.speedup[0] > 4 and series.ideal[0] == pytest.approx(series.speedup[0])
    assert series.ideal[1] == pytest.approx(series.speedup[0] * rows[0]["block_density"] / rows[1]["block_density"])
    mixed = sparsity_rows([_point(hardware=hw, algorithm=algo, causal=True, pattern="causal&window(1k)", sparsity=s)
                           for hw, algo in (("h100", "flash2"), ("b200", "flash4")) for s in (0.5, 0.95)])
    assert not _one_ideal(line_series(mixed, "sparsity"))
    same = sparsity_rows([_point(algorithm=algo, sparsity=s) for algo in ("flash2", "flash3") for s in (0.0, 0.5)])
    assert _one_ideal(line_series(same, "sparsity"))  # random empty tiles: 1 / (1 - s) for both


def test_every_bundled_machine_has_its_own_colour_and_a_thick_line_names_what_lies_on_it():
    """Ten machines took hashed colours that met the fixed ones (H200 and B300 one purple; three parts one grey in
    plot evidence); and a line drawn wide because another lies on it (the A800 on the A100) now says so."""
    from pathlib import Path

    from cli.plots.lines import _covering_labels
    from cli.plots.series import Series
    from cli.plots.style import HW_COLORS

    bundled = {p.stem for p in (Path(__file__).resolve().parent.parent / "gpu_models" / "specs").glob("*.toml")}
    assert bundled <= set(HW_COLORS) and len(set(HW_COLORS.values())) == len(HW_COLORS)
    a, b = (Series(hw, "flash2", (), ("naive",), (1024, 2048), (2.8, 2.6), (1.0, 1.0)) for hw in ("a100", "a800"))
    assert _covering_labels(a, [b]) == ["A800 flash2"]
