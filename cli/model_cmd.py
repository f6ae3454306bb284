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
    from rich.console import Console
    from rich.table import Table

    from simulator.presets import MODELS, SOURCES, describe

    table = Table("model", "attention call", "from")
    for name in MODELS:
        table.add_row(name, describe(name), SOURCES.get(name, "HuggingFace config.json"))
    Console().print(table)


@model.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The fields --model sets, as JSON.")
def show(name, as_json):
    """The fields --model NAME sets (NAME: a preset or a HuggingFace config.json)."""
    from simulator.presets import describe, model_preset

    preset = model_preset(name)
    click.echo(json.dumps(preset, indent=2) if as_json else f"{name}: {describe(name)}")
