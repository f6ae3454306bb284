"""``attnsim validate``: compare the model with measured GPU runs."""

import click

from cli.validate_report import report


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def validate():
    """Predicted vs measured attention times (results format: validation/FORMAT.md).

    \b
    Examples:
      attnsim validate report validation/published/fa3-paper-h100.json
      attnsim validate report results.json --hw my-h100.toml --format json
    """


validate.add_command(report)
