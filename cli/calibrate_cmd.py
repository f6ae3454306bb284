"""``attnsim calibrate``: microbenchmark results -> a hardware TOML of your own GPU."""

import click

from cli._params import finite_clock, not_empty
from einsum_cascades.errors import UserError


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The TOML to write.")
@click.option("--hw", default=None, callback=not_empty, help="Bundled model or TOML to start from (default: from the file's device name); a "
                   "benchmark's locked clock is its file's device clock_locked_mhz, not NAME:MHZ here.")
@click.option("--kernels", is_flag=True,
              help="Fit the kernel figures (per tensor-core path: achieved MMA efficiency and the softmax share left "
                   "exposed; the standard-attention kernels' HBM fraction) from the kernel timings in RESULTS, pooled "
                   "over the files, instead of the hardware rates from microbenchmarks. RESULTS may be results files "
                   "or your own measured points (a CSV or JSON as `attnsim validate report` reads them, each row "
                   "naming its GPU by a hardware or device column). Prints each fit with its leave-one-out error.")
@click.option("--clock-locked", "clock_mhz", type=click.FloatRange(100, 5000), default=None, metavar="MHZ",
              callback=finite_clock,
              help="With --kernels: the SM clock your benchmark locked the GPU at (nvidia-smi --lock-gpu-clocks), "
                   "for every point, as `validate report --clock-locked` takes it: the fit is then per clock. "
                   "Default: each file's device clock_locked_mhz, or a row's NAME:MHZ hardware, else free clocks.")
@click.option("--only", default=None, callback=not_empty, metavar="TARGETS",
              help="With --kernels: fit only these targets (comma list of mma_sync, wgmma, tcgen05, unfused, "
                   "cuda_core, overlap); the file's other points are left out. Default: every target the points allow.")
def calibrate(results, output, hw, kernels, clock_mhz, only):
    """Fit a hardware TOML, derived from the bundled one, to measurements.

    Without --kernels: the achieved rates (HBM, L2, cuBLAS GEMM, exp, smem, FP32, launch, clock) from
    the microbenchmarks of ONE results file. Attention-kernel timings are never used there, so
    `attnsim validate report RESULTS --hw OUTPUT` stays an honest test of the model.

    With --kernels: the figures no datasheet gives: per tensor-core path (mma_sync, wgmma, tcgen05)
    `<path>_efficiency` and `<path>_softmax_exposed` from the fused-kernel points (flash1/2/3/4,
    flash-decoding, or a cascade mapped onto one, such as the kernel timed with its softmax removed,
    attention-nosoftmax@flash2: at one head dim it is what tells the exposure), on tcgen05 also `tcgen05_tile_turnaround` (cycles per FA4 work tile; points of
    several lengths needed), and `unfused_hbm_efficiency` (and, given causal points, `unfused_strided_efficiency`:
    PyTorch's unvectorized element-wise kernels) from the naive (standard attention) points, and
    `cuda_core_issue_efficiency` (the issue slots FlashInfer's CUDA-core decode loop fills) from the
    flashinfer-decode (batch) points whose CUDA-core time outlasts their K/V stream, and `stream_overlap_loss`
    (how much longer than either a fused prefill call whose compute and HBM stream take equal time runs) from
    the fused prefill points, where 3 or more have a stream of half their compute or more, each target with
    the others held as bundled, by a robust
    (soft-L1, 10% scale) loss on log time over one or more files of one GPU, so that a few points the model
    does not describe (a small call's host-side gap) do not set a figure; everything else stays. RESULTS may be
    published or validation results files, or your own timings as `attnsim validate report` reads them (a CSV or
    JSON, each row naming its GPU). Judge the result on other data than the files it was fitted to.

    Either way the TOML written is a machine of its own, named <model>-calibrated, so that `--hw h100,OUTPUT` sets
    the two side by side.

    \b
    Examples:
      attnsim validate run -o h100.json                 # on the GPU (or validate merge of its parts)
      attnsim calibrate h100.json -o my-h100.toml
      attnsim calibrate --kernels validation/published/fa3-paper-h100.json -o h100-fit.toml
      attnsim calibrate --kernels --only cuda_core validation/published/tileops-nightly-2026-09-07-h200.json -o h200-fit.toml
      attnsim calibrate --kernels --only overlap validation/published/fa3-paper-h100.json -o h100-overlap.toml
      attnsim calibrate --kernels my-h100.csv -o my-h100-fit.toml   # your own timings (a CSV as validate report reads it)
      attnsim simulate --hw my-h100.toml --seq-len 32k
    """
    from validation.calibrate import calibrate as fit, to_toml

    from cli._files import check_target, write_text

    check_target(output, (".toml",))
    if hw is not None:  # the TOML the fit derives from, checked before minutes of fitting (no NAME:MHZ lock here)
        from gpu_models import spec_path

        spec_path(hw)
    if only is not None and not kernels:
        raise UserError(f"--only {only}: it picks the targets of a kernel fit; add --kernels")
    if clock_mhz is not None and not kernels:
        raise UserError(f"--clock-locked {clock_mhz:g}: it states the clock kernel timings ran at; add --kernels (a "
                        "microbenchmark file records its own SM clock)")
    if kernels:
        from validation.kernel_fit import KERNEL_TARGETS, calibrate_kernels, fit_table

        chosen = None
        if only is not None:
            chosen = tuple(dict.fromkeys(t.strip() for t in only.split(",")))
            bad = [t for t in chosen if t not in KERNEL_TARGETS]
            if bad:
                what = "an empty target" if not bad[0] else f"unknown target {bad[0]!r}"
                raise UserError(f"--only {only!r}: {what}: allowed {', '.join(KERNEL_TARGETS)} (comma list)")
        data, fits = calibrate_kernels(list(results), hw, say=lambda text: click.echo(f"attnsim: {text}", err=True),
                                       only=chosen, clock_mhz=clock_mhz)
        click.echo(fit_table(fits))
        replaced = [name for f in fits for name in f.values]
    elif len(results) > 1:
        raise UserError(f"calibrate takes one results file for microbenchmarks (got {len(results)}); "
                        "--kernels pools several")
    else:
        if results[0].lower().endswith(".csv"):  # a CSV is a user's own timings, which only --kernels fits
            raise UserError(f"{results[0]}: calibrate without --kernels fits the microbenchmarks of a `validate run` "
                            "results file (JSON); your own kernel timings (a CSV as validate report reads it) fit "
                            "with --kernels")
        data, replaced = fit(results[0], hw)
    write_text(output, to_toml(data), (".toml",))
    click.echo(f"wrote {output}: replaced {', '.join(replaced)}", err=True)
