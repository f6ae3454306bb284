"""Sizes as users write them: ``4096``, ``4k``, ``64K``, ``1m`` (k = 1024)."""

import re

from einsum_cascades.errors import UserError

_SIZE = re.compile(r"^\s*([0-9]+)\s*([kKmMgG]?)\s*$")  # ASCII digits only: "３２k" is refused, not read as 32k
_ZERO_FRACTION = re.compile(r"^\s*([0-9]+)\.0+\s*$")  # 4096.0: how pandas writes an int column that has blanks
_SCALE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
MAX_SIZE = 1 << 40  # 1024g: far beyond any sequence, batch or head count, and safe in int64 products
MAX_DIGITS = 20  # longer digit strings are refused before int() (Python caps int() at 4300 digits)


def parse_size(text: str | int, what: str = "size") -> int:
    """Parse a positive size with an optional k/m/g suffix (powers of 1024).

    >>> parse_size("4k"), parse_size("64K"), parse_size("1m"), parse_size(4096)
    (4096, 65536, 1048576, 4096)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and text.isdigit() and text.isascii() and len(text) <= MAX_DIGITS:
        value = int(text)
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise UserError(f"bad {what} {short_repr(text)}: use a positive integer with an optional k/m/g suffix, e.g. 4096, 4k, 1m")
        if len(match.group(1)) > MAX_DIGITS:
            raise UserError(f"bad {what} {short_repr(text)}: at most {format_size(MAX_SIZE)} ({MAX_SIZE})")
        value = int(match.group(1)) * _SCALE[match.group(2).lower()]
    if value <= 0:
        raise UserError(f"bad {what} {short_repr(text)}: must be positive")
    if value > MAX_SIZE:
        raise UserError(f"bad {what} {short_repr(text)}: at most {format_size(MAX_SIZE)} ({MAX_SIZE})")
    return value


def integral(value):
    """A count written as an integral float as the count it holds: 4096.0 as 4096, the text '4096.0' as '4096' (a
    CSV column of ints with a blank cell, as pandas writes it); any other value as it is."""
    if type(value) is float and value.is_integer():
        return int(value)
    if isinstance(value, str) and (match := _ZERO_FRACTION.match(value)):
        return match.group(1)
    return value


def parse_count(value, what: str = "size") -> int:
    """``parse_size`` of an ``integral`` value: 4096.0 and '4096.0' too; 4096.5 and 1.5k are refused as
    ``parse_size`` refuses them.

    >>> parse_count(4096.0), parse_count("4096.0"), parse_count("4k")
    (4096, 4096, 4096)
    """
    value = integral(value)
    return parse_size(value if isinstance(value, (int, str)) else str(value), what)


def short_repr(text, limit: int = 40) -> str:
    """``repr`` of a user's value, cut to ``limit`` characters so an error stays one short line."""
    shown = repr(str(text) if not isinstance(text, int) else text)
    return shown if len(shown) <= limit else shown[:limit - 5] + "...'"


def format_size(n: int) -> str:
    """Shortest exact spelling of a size: 4096 -> '4k', 1048576 -> '1m', 1000 -> '1000'."""
    for suffix, scale in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{suffix}"
    return str(n)
