"""``attnsim validate``: measure on a GPU (``run``), compare the model with measurements (``report``)."""

import click

from cli._files import check_target
from cli._params import not_empty
from cli.validate_evidence import evidence
from cli.validate_report import report
from einsum_cascades.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def validate():
    """Measure attention on a GPU and compare the model with it (results format: validation/FORMAT.md),
    or with your own measurements from any benchmark (a CSV or JSON: see `validate report --help`);
    `validate evidence` says how well the model knows each kernel family on each GPU.

    \b
    Examples:
      attnsim validate run --quick -o h100-quick.json
      attnsim validate report validation/published/fa3-paper-h100.json
      attnsim validate report results.json --hw my-h100.toml --format json
      attnsim validate report my-benchmark.csv
      attnsim validate evidence --hw h100 --algo flash3
    """


@validate.command("run", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quick", is_flag=True, help="A few minutes: the microbenchmarks and one shape of every kernel.")
@click.option("--hw", default=None, callback=not_empty, help="Hardware model to record for `validate report` (name or TOML).")
@click.option("--only", default=None, callback=not_empty, metavar="PARTS",
              help="Run only these parts (comma-separated): micro, attention, decode, torch. Join the files with `validate merge`.")
@click.option("--warm", is_flag=True,
              help="Time the attention points without the L2 flush between calls (recorded as scope kernel-warm; "
                   "the default flushes L2 before each call, scope kernel). Run both to see what the flush's "
                   "write-backs cost a short call.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The results JSON to write.")
def run(quick, hw, only, warm, output):
    """Run microbenchmarks and attention kernels on this machine's CUDA GPU (needs CuPy).

    Microbenchmarks (HBM, L2, shared memory, tensor cores, exp, FP32, launch) and attnsim's
    kernels (naive, fused FlashAttention-2-style, block-sparse, split-KV decode), plus PyTorch
    SDPA and FlexAttention where PyTorch is installed. Every attention output is checked against
    a float64 reference before it is timed. The full sweep (seq len 512..16k, head dims 64/128,
    causal, sparsity 0/0.5/0.9, decode up to 128k) takes several minutes; the file is rewritten
    after every point, so an interrupted run keeps what it measured. Clocks and device settings
    are never changed.

    \b
    Examples:
      attnsim validate run --quick -o h100-quick.json
      attnsim validate run --hw h100 -o h100.json
      attnsim validate run --hw h100 --only micro,decode -o part1.json   # in parts (validation/RUNNING.md)
      attnsim validate run --hw h100 --only attention,torch --warm -o warm.json
      python -m validation.selftest        # each kernel once, tiny sizes: quick triage
    """
    from validation.gpu import require_gpu
    from validation.runner import parse_parts

    parts = parse_parts(only)  # every input is checked before the GPU is looked for
    check_target(output, (".json",))
    if hw:
        from simulator.api import hardware

        hardware(hw)  # an unknown name fails now, not after the run
    require_gpu()
    from validation.runner import run_suite

    doc = _with_progress(lambda progress: run_suite(output, quick, hw, progress, parts, warm))
    ok = sum(p["ok"] for p in doc["points"])
    click.echo(f"wrote {output}: {len(doc['micro'])} microbenchmarks, {ok}/{len(doc['points'])} attention points "
               f"passed the reference check and were timed"
               + (f"; {len(doc['errors'])} errors recorded" if doc["errors"] else ""), err=True)


@validate.command("merge", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("results", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The joined results JSON.")
def merge(results, output):
    """Join results files of one device written by `validate run --only PART` into one file.

    \b
    Example:
      attnsim validate merge micro.json attention.json decode.json torch.json -o h100.json
    """
    from validation.merge import merge as join
    from validation.runner import save

    check_target(output, (".json",))
    doc = join(list(results))
    try:
        save(output, doc)
    except OSError as err:
        raise UserError(f"cannot write {output!r}: {err.strerror}") from None
    click.echo(f"wrote {output}: {len(doc['micro'])} microbenchmarks, {len(doc['points'])} attention points "
               f"from {len(results)} files", err=True)


def _with_progress(work):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description:<48}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True))
    with bar:
        task = bar.add_task("starting", total=None)

        def progress(done, total, label):
            bar.update(task, completed=done, total=total, description=label[:48])

        return work(progress)


validate.add_command(report)
validate.add_command(evidence)
