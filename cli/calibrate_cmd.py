"""``attnsim calibrate``: microbenchmark results -> a hardware TOML of your own GPU."""

from pathlib import Path

import click

from einsum_cascades.errors import UserError


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
      attnsim calibrate validation/results/h100-2026-11-22.json -o my-h100.toml
      attnsim simulate --hw my-h100.toml --seq-len 32k
    """
    from validation.calibrate import calibrate as fit, to_toml

    target = Path(output)
    if target.suffix != ".toml":
        raise UserError(f"bad output {output!r}: the file name must end in .toml")
    data, replaced = fit(results, hw)
    try:
        target.write_text(to_toml(data))
    except OSError as err:
        raise UserError(f"cannot write {output!r}: {err.strerror}") from None
    click.echo(f"wrote {output}: replaced {', '.join(replaced)}", err=True)
