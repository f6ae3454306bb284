"""Click parameter types shared by every command: sizes and comma lists.

Conversion errors are ``UserError`` so they end as one line and exit 2.
"""

import click

from einsum_cascades.errors import UserError
from einsum_cascades.units import parse_size


class SizeType(click.ParamType):
    """A size such as 4096, 4k or 1m."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        return parse_size(value, _label(param))


class SizeListType(click.ParamType):
    """A comma list of sizes: ``1k,4k,16k``."""

    name = "SIZES"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        return [parse_size(part, _label(param)) for part in str(value).split(",")]


class FloatListType(click.ParamType):
    """A comma list of floats: ``0,0.5,0.9``."""

    name = "FLOATS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            return [float(part) for part in str(value).split(",")]
        except ValueError:
            raise UserError(f"bad {_label(param)} {value!r}: use a number or a comma list of numbers, e.g. 0,0.5,0.9") from None


class NameListType(click.ParamType):
    """A comma list of names: ``h100,a100``."""

    name = "NAMES"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        return [part.strip() for part in str(value).split(",") if part.strip()]


def _label(param) -> str:
    return f"--{param.name.replace('_', '-')}" if param is not None else "value"


SIZE = SizeType()
SIZE_LIST = SizeListType()
FLOAT_LIST = FloatListType()
NAME_LIST = NameListType()
