"""``attnsim calibrate``: microbenchmark results -> a hardware TOML of your own GPU."""

import click



@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("results", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The TOML to write.")
@click.option("--hw", default=None, help="Bundled model to start from (default: from the file's device name).")
def calibrate(results, output, hw):
    """Fit achieved rates (HBM, L2, tensor for cuBLAS and mma.sync, exp, launch, clock) from the
    microbenchmarks in RESULTS into a hardware TOML derived from the bundled one.

    Attention-kernel timings are never used, so `attnsim validate report RESULTS --hw OUTPUT`
    stays an honest test of the model.

    \b
    Example:
      attnsim validate run -o h100.json                 # on the GPU (or validate merge of its parts)
      attnsim calibrate h100.json -o my-h100.toml
      attnsim simulate --hw my-h100.toml --seq-len 32k
    """
    from validation.calibrate import calibrate as fit, to_toml

    from cli._files import check_target, write_text

    check_target(output, (".toml",))
    data, replaced = fit(results, hw)
    write_text(output, to_toml(data), (".toml",))
    click.echo(f"wrote {output}: replaced {', '.join(replaced)}", err=True)
