"""Click parameter types shared by every command: sizes and comma lists.

Conversion errors are ``UserError`` so they end as one line and exit 2.
"""

import re

import click

from einsum_cascades.errors import UserError
from einsum_cascades.units import format_size, parse_count, short_repr


class SizeType(click.ParamType):
    """A size such as 4096, 4k or 1m (or 4096.0, the integral float a table may hold)."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        return parse_count(value, _label(param))


DEFAULT_RANGE_POINTS = 10  # `0..0.99` without `:n` gives 10 evenly spaced values
MAX_VALUES = 10_000  # values one list option may hold (a sweep multiplies them, see _workload_opts.MAX_POINTS)


class SizeListType(click.ParamType):
    """Sizes: ``4k``, a comma list ``1k,4k,16k``, or a power-of-two range ``1k..1m``."""

    name = "SIZES"

    def __init__(self, limit: int | None = None, zero: bool = False, why: str = ""):
        self.limit = limit  # the largest size allowed, if below parse_size's
        self.zero = zero  # whether a plain 0 is a value (--num-splits 0: the kernel's split heuristic)
        self.why = why  # what the limit is (said after it)

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out, given = [], {}  # the sizes, and the item each came from (an error names what the user typed)
        for part in str(value).split(","):
            if not part.strip():
                raise UserError(f"bad {_label(param)} {short_repr(str(value))}: an empty item in the comma list")
            if ":" in part:  # no size holds one: Python's 1k:64k, or a float range's :N on a size range
                raise UserError(f"bad {_label(param)} {short_repr(part)}: a size range is LOW..HIGH, doubling from LOW "
                                "(1k..1m), with no step; list other sizes with commas (1k,3k,5k)")
            if self.zero and part.strip() in ("0", "0.0"):  # 0.0 as parse_count reads 4.0
                out.append(0)
                continue
            sizes = _size_range(part, _label(param)) if ".." in part else [parse_count(part, _label(param))]
            out.extend(sizes)
            given.update((v, part.strip()) for v in sizes if v not in given)
        too_big = [v for v in out if self.limit and v > self.limit]
        if too_big:
            limit = format_size(self.limit)
            limit += "" if limit == str(self.limit) else f" ({self.limit})"  # '256 (256)' said the number twice
            item = given[too_big[0]]
            shown = short_repr(item) if ".." not in item else f"{format_size(too_big[0])!r} (of {item!r})"
            raise UserError(f"bad {_label(param)} {shown}: at most {limit}{self.why}")
        return _capped(out, value, param)


class FloatListType(click.ParamType):
    """Floats: ``0.9``, a comma list ``0,0.5,0.9``, or an even range ``0..0.99`` / ``0..0.99:20``."""

    name = "FLOATS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        out = []
        for part in str(value).split(","):
            if not part.strip():
                raise UserError(f"bad {_label(param)} {short_repr(str(value))}: an empty item in the comma list")
            out.extend(_float_range(part, _label(param)) if ".." in part else [_float(part, _label(param))])
        return _capped(out, value, param)


def _capped(values: list, text, param) -> list:
    if len(values) > MAX_VALUES:
        raise UserError(f"bad {_label(param)} {short_repr(text)}: {len(values):,} values; at most {MAX_VALUES:,}")
    return values


def _size_range(text: str, label: str) -> list[int]:
    """``1k..1m``: every power of two from the first to the last size, both included."""
    lo_text, hi_text = text.split("..", 1)
    if not lo_text.strip() or not hi_text.strip() or ".." in hi_text:
        raise UserError(f"bad {label} range {short_repr(text)}: a range is LOW..HIGH, both given, doubling from LOW "
                        "(1k..1m)")
    lo, hi = parse_count(lo_text, label), parse_count(hi_text, label)
    if lo > hi or lo & (lo - 1):
        raise UserError(f"bad {label} range {short_repr(text)}: use LOW..HIGH with LOW a power of two <= HIGH, e.g. 1k..1m")
    if hi & (hi - 1):  # the range doubles from LOW: a HIGH off its steps would be silently left out
        raise UserError(f"bad {label} range {short_repr(text)}: it doubles from {lo_text.strip()}, so HIGH must be a "
                        f"power of two too ({hi:,} is not); list other sizes with commas, e.g. 1k,2k,3k")
    out = []
    while lo <= hi:
        out.append(lo)
        lo *= 2
    return out


def _float_range(text: str, label: str) -> list[float]:
    """``0..0.99`` (10 values) or ``0..0.99:n``: n evenly spaced values, ends included."""
    span, colon, count = text.partition(":")
    lo_text, hi_text = span.split("..", 1)
    lo, hi = _float(lo_text, label), _float(hi_text, label)
    # no ':' is the default count; a ':' with nothing after it is a malformed range, not the default
    n = DEFAULT_RANGE_POINTS if not colon else int(count) if count.strip().isdigit() and len(count) <= 20 else 0
    if n < 2 or not lo <= hi:
        raise UserError(f"bad {label} range {short_repr(text)}: use LOW..HIGH or LOW..HIGH:N with LOW <= HIGH and N >= 2")
    if n > MAX_VALUES:
        raise UserError(f"bad {label} range {short_repr(text)}: {n:,} values; at most {MAX_VALUES:,}")
    # the ends as given, the steps between them to 12 digits (0.05, not 0.049999999999999996; never past HIGH)
    return [lo, *(float(f"{lo + (hi - lo) * i / (n - 1):.12g}") for i in range(1, n - 1)), hi]


def _float(text: str, label: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UserError(f"bad {label} {short_repr(text)}: use a number, a comma list (0,0.5,0.9) or a range (0..0.99:10)") from None


class NameListType(click.ParamType):
    """A comma list of names: ``h100,a100``; ``names`` (a callable) lists them for shell completion."""

    name = "NAMES"

    def __init__(self, names=tuple):
        self.names = names

    def shell_complete(self, ctx, param, incomplete):
        from click.shell_completion import CompletionItem

        done, _, last = incomplete.rpartition(",")
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + n) for n in self.names() if n.startswith(last)]

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        parts = [part.strip() for part in str(value).split(",")]
        if not all(parts):
            raise UserError(f"bad {_label(param)} {short_repr(value)}: empty name; give a name or a comma list of names")
        return _capped(parts, value, param)


# The model names a bad workload value by its field, as the Python API takes it ("bad v-head-dim 100: ..."); on the
# command line that value came from an option, so it is named as the option parsers name theirs (below)
_OPTION_FIELDS = ("batch", "heads", "kv-heads", "head-dim", "v-head-dim", "seq-len", "kv-len", "block-size",
                  "page-size", "num-splits", "sparsity", "dtype", "scope", "pattern", "estimate", "method")
_FIELD_ERROR = re.compile(rf"bad ({'|'.join(_OPTION_FIELDS)}) ('[^']*'|\"[^\"]*\"|[^\s:'\"(][^\s:]*)(?=[:\s])")


def option_wording(message: str, typed) -> str:
    """A model error naming a workload field whose option the command line holds (``typed``: the options it gives,
    ``typed_options``) as that option: 'bad v-head-dim 100: ...' as "bad --v-head-dim '100': ...", the form of
    every option's own parse errors. A value from elsewhere (a --model config's head dim, a --from file) keeps the
    field's name; any other message is as it is."""
    m = _FIELD_ERROR.match(message)
    if not m or f"--{m[1]}" not in typed:
        return message
    value = m[2] if m[2][0] in "'\"" else f"'{m[2]}'"
    return f"bad --{m[1]} {value}{message[m.end():]}"


def typed_options(args) -> set[str]:
    """The long options the command line gives: among its ``args`` (``--head-dim 64`` and ``--head-dim=64`` both
    give --head-dim), or, of a click context, those its command's parameters took from the command line."""
    if isinstance(args, click.Context):
        from click.core import ParameterSource

        return {max(p.opts, key=len) for p in args.command.params
                if p.opts and args.get_parameter_source(p.name) is ParameterSource.COMMANDLINE}
    return {str(a).partition("=")[0] for a in args if str(a).startswith("--")}


def _label(param) -> str:
    """The option as the user wrote it (``--hw``, not the parameter's name ``hardware``)."""
    if param is None:
        return "value"
    return max(param.opts, key=len) if param.opts else param.name


SIZE = SizeType()
SIZE_LIST = SizeListType()
FLOAT_LIST = FloatListType()
NAME_LIST = NameListType()


def not_empty(ctx, param, value):
    """Click callback: an option or argument given as an empty string is an error, not its default."""
    if isinstance(value, str) and not value.strip():
        raise UserError(f"bad {_label(param)} {value!r}: empty; leave it out for the default or give a value")
    return value


def finite_clock(ctx, param, value):
    """Click callback of a --clock-locked FloatRange: it lets nan through (every comparison with it is false)."""
    if value is not None and value != value:
        raise click.BadParameter("nan is not a clock: give the locked SM clock in MHz, 100 to 5000")
    return value
