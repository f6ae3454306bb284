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


DEFAULT_RANGE_POINTS = 10  # `0..0.99` without `:n` gives 10 evenly spaced values


class SizeListType(click.ParamType):
    """Sizes: ``4k``, a comma list ``1k,4k,16k``, or a power-of-two range ``1k..1m``."""

    name = "SIZES"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out = []
        for part in str(value).split(","):
            out.extend(_size_range(part, _label(param)) if ".." in part else [parse_size(part, _label(param))])
        return out


class FloatListType(click.ParamType):
    """Floats: ``0.9``, a comma list ``0,0.5,0.9``, or an even range ``0..0.99`` / ``0..0.99:20``."""

    name = "FLOATS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out = []
        for part in str(value).split(","):
            out.extend(_float_range(part, _label(param)) if ".." in part else [_float(part, _label(param))])
        return out


def _size_range(text: str, label: str) -> list[int]:
    """``1k..1m``: every power of two from the first to the last size, both included."""
    lo_text, hi_text = text.split("..", 1)
    lo, hi = parse_size(lo_text, label), parse_size(hi_text, label)
    if lo > hi or lo & (lo - 1):
        raise UserError(f"bad {label} range {text!r}: use LOW..HIGH with LOW a power of two <= HIGH, e.g. 1k..1m")
    out = []
    while lo <= hi:
        out.append(lo)
        lo *= 2
    return out


def _float_range(text: str, label: str) -> list[float]:
    """``0..0.99`` (10 values) or ``0..0.99:n``: n evenly spaced values, ends included."""
    span, _, count = text.partition(":")
    lo_text, hi_text = span.split("..", 1)
    lo, hi = _float(lo_text, label), _float(hi_text, label)
    try:
        n = int(count) if count else DEFAULT_RANGE_POINTS
    except ValueError:
        n = 0
    if n < 2 or lo > hi:
        raise UserError(f"bad {label} range {text!r}: use LOW..HIGH or LOW..HIGH:N with LOW <= HIGH and N >= 2")
    return [lo + (hi - lo) * i / (n - 1) for i in range(n)]


def _float(text: str, label: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"bad {label} {text!r}: use a number, a comma list (0,0.5,0.9) or a range (0..0.99:10)") from None


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
