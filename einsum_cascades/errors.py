"""The one exception type for bad user input.

Anything a user can get wrong (a size, a name, a file, an expression) raises
``UserError`` with a one-line message naming the bad value and what is allowed.
The CLI prints that line and exits with status 2; library callers catch it.
"""


class UserError(ValueError):
    """Bad input from a user; ``str(err)`` is a complete one-line explanation."""
