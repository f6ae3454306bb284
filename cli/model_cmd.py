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
    from simulator.presets import config_notes, describe, model_preset

    preset = model_preset(name)
    click.echo(json.dumps(preset, indent=2) if as_json else f"{name}: {describe(name)}")
    for note in config_notes(name):
        click.echo(f"attnsim: note: {note}", err=True)
