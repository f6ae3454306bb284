"""Entry point of the ``attnsim`` command.

Subcommands live in their own modules and are imported only when invoked, so
``attnsim --help`` never pays for numba, matplotlib or sympy. Every user error
ends the same way: one line on stderr, exit status 2, no traceback.
"""

import gc
import importlib
import signal
import sys

import click

from einsum_cascades import compiling
from einsum_cascades.errors import UserError

# name -> (module, attribute, one-line help shown by `attnsim --help`)
_COMMANDS = {
    "simulate": ("cli.simulate_cmd", "simulate", "Predict time, bound and speedup of an attention kernel on a machine."),
    "sweep": ("cli.sweep_cmd", "sweep", "Evaluate the cartesian product of workload lists and ranges to CSV/JSON."),
    "plot": ("cli.plot_cmd", "plot", "Draw speedup, sparsity, roofline, breakdown, validation or evidence figures."),
    "cascade": ("cli.cascade_cmd", "cascade", "List, show, draw and check Einsum cascades."),
    "pattern": ("cli.pattern_cmd", "pattern", "Show densities and tile counts of a sparsity pattern."),
    "hw": ("cli.hw_cmd", "hw", "List and show hardware models (GPUs and accelerators)."),
    "model": ("cli.model_cmd", "model", "List and show the --model presets (or read a HuggingFace config.json)."),
    "method": ("cli.method_cmd", "method", "List and show the --method presets of published sparse-attention methods."),
    "validate": ("cli.validate_cmd", "validate", "Run the GPU suite (CUDA + CuPy), or report predicted vs measured times."),
    "calibrate": ("cli.calibrate_cmd", "calibrate", "Fit achieved rates from GPU measurements into a hardware TOML."),
}

_FRONT_PAGE = """\
attnsim: how fast will attention algorithm X run on hardware Y at sequence
length N and sparsity s, what bounds it, and how much faster than the baseline?

Attention algorithms are Einsum cascades (3-pass, 2-pass, 1-pass softmax,
FlashAttention, split-KV decode, block-sparse masks) compiled to an IO/roofline
model of GPUs (A100, A800, H100, H200, H20, H800, B200, GB200, B300, GB300: attnsim hw list)
and FuseMax-style accelerators, and checked against real GPU runs.

\b
Examples:
  attnsim simulate --hw h100 --algo flash2 --seq-len 32k --sparsity 0.9
  attnsim simulate --hw fusemax --model bert --seq-len 1k,16k,256k
  attnsim cascade show attention-1pass
  attnsim pattern show 'causal&window(4k)|sinks(128)' --seq-len 64k
  attnsim hw list

Sizes accept 4096, 4k, 64K, 1m (k = 1024); list options accept commas.
"""


class _LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return list(_COMMANDS)

    def get_command(self, ctx, name):
        if name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in _COMMANDS.items()])

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command; turn every user error into one stderr line and exit 2."""
        args = list(sys.argv[1:] if args is None else args)
        nul = next((a for a in args if "\x00" in a), None)
        if nul is not None:  # no shell passes one; a caller that does gets the one line, not open()'s ValueError
            _fail(f"bad argument {nul!r}: contains a NUL byte")
        from cli import _notes

        _notes.drop()  # a previous command in this process (a test runner's) left none to print here
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except UserError as err:
            from cli._params import option_wording, typed_options

            _notes.drop()
            _fail(option_wording(str(err), typed_options(args)))
        except click.exceptions.NoArgsIsHelpError as err:
            click.echo(err.ctx.get_help(), err=True)
            sys.exit(2)
        except click.ClickException as err:
            _fail(err.format_message(), err.exit_code)
        except click.exceptions.Abort:
            click.echo("attnsim: interrupted", err=True)
            sys.exit(130)
        _notes.flush()
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int = 2) -> None:
    one_line = " ".join(message.split())
    click.echo(f"attnsim: error: {one_line}", err=True)
    sys.exit(code)


@click.group(cls=_LazyGroup, help=_FRONT_PAGE, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="attnsim", prog_name="attnsim")
def cli():
    pass


GC_THRESHOLD = 100_000  # allocations between young-generation collections (CPython's default: 700)


CATCHES_INTERRUPT = ("sweep", "validate")  # commands that save their work on Ctrl-C (KeyboardInterrupt)


def main():
    # A sweep builds hundreds of thousands of small dicts and no reference cycles to speak of; at the
    # default threshold the cyclic collector rescans them over and over (half the run time at 100k rows).
    gc.set_threshold(GC_THRESHOLD)
    # Python defers Ctrl-C until a numba loop returns; every other command has nothing to save, so the
    # default action (end the process at once, status 130 in the shell) makes any of its loops interruptible.
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    if command not in CATCHES_INTERRUPT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    compiling.listen(_say_compiling)
    cli.main(prog_name="attnsim")


def _say_compiling(what: str) -> None:
    click.echo(f"attnsim: compiling numba kernels for {what} (first run only)", err=True)  # fits 80 columns


if __name__ == "__main__":
    main()
