"""``attnsim model``: the --model presets and HuggingFace configs, as the simulator reads them."""

import json

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def model():
    """Model presets for --model: shape, mask and dtype of each model's attention call.

    \b
    Examples:
      attnsim model list
      attnsim model show mistral-7b
      attnsim model show ./config.json --json
    """


@model.command("list")
def list_():
    """Every preset with its batch, heads (/ KV heads), head dim, mask and dtype."""
    from rich.markup import escape

    from cli._fit import print_fitted
    from simulator.presets import MODELS, SOURCES, describe

    print_fitted(("model", "attention call", "from"),
                 [[escape(c) for c in (name, describe(name), SOURCES.get(name, "HuggingFace config.json"))]
                  for name in MODELS], text=("attention call", "from"))


@model.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The fields --model sets, as JSON.")
def show(name, as_json):
    """The fields --model NAME sets (NAME: a preset or a HuggingFace config.json)."""
    from einsum_cascades.errors import UserError
    from simulator.presets import config_notes, describe, model_preset
    from simulator.workload import Workload

    preset = model_preset(name)
    try:  # a config's shape --model refuses (KV heads that do not divide the heads, an odd head dim) is no preset
        Workload(seq_len=1, **{k: preset[k] for k in ("batch", "heads", "kv_heads", "head_dim", "v_head_dim")
                               if k in preset})
    except UserError as err:
        raise UserError(f"--model {name!r}: {err}") from None
    click.echo(json.dumps(preset, indent=2) if as_json else f"{name}: {describe(name)}")
    for note in config_notes(name):
        click.echo(f"attnsim: note: {note}", err=True)
