"""The one exception type for bad user input.

Anything a user can get wrong (a size, a name, a file, an expression) raises
``UserError`` with a one-line message naming the bad value and what is allowed.
The CLI prints that line and exits with status 2; library callers catch it.
"""


class UserError(ValueError):
    """Bad input from a user; ``str(err)`` is a complete one-line explanation."""


def name_key(text: str) -> str:
    """A name as suggestions compare it: lower case, letters and digits only ('FlashAttention-2' -> 'flashattention2',
    'Llama-3.1-8B' -> 'llama318b')."""
    return "".join(c for c in str(text).lower() if c.isalnum())


def listed(names, at_most: int = 8, empty: str = "nothing") -> str:
    """Names for a one-line message: 'A, B, C', or the first ``at_most`` and how many in all ('O0, ..., O7, ... (300
    in all)'), so a message about a user's file of a thousand outputs stays one readable line."""
    names = [str(n) for n in names]
    if not names:
        return empty
    if len(names) <= at_most:
        return ", ".join(names)
    return f"{', '.join(names[:at_most])}, ... ({len(names):,} in all)"


MAX_INPUT_BYTES = 256 << 20  # a points, results or cascade file past 256 MiB is refused before it is read


def read_user_text(path, what: str) -> str:
    """The UTF-8 text of a file the user named; ``UserError`` (naming ``what`` and why) if it cannot be read."""
    from pathlib import Path

    p = Path(path)
    try:
        if not p.is_file():
            raise UserError(f"{what} {str(path)!r}: no such file")
        if p.stat().st_size > MAX_INPUT_BYTES:
            raise UserError(f"{what} {str(path)!r}: {p.stat().st_size:,} bytes; at most {MAX_INPUT_BYTES:,}")
        return p.read_bytes().decode("utf-8-sig")  # a leading byte-order mark dropped
    except UnicodeDecodeError as err:
        raise UserError(f"{what} {str(path)!r}: not UTF-8 text (byte {err.start} is 0x{err.object[err.start]:02x}); "
                        "save it as UTF-8") from None
    except OSError as err:
        raise UserError(f"{what} {str(path)!r}: cannot read it ({err.strerror or err})") from None
