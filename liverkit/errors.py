"""The one exception type for user mistakes.

Every error a user can cause and fix (a missing file, a bad CSV column, a label outside the class list,
an unknown manifest entry) raises :class:`LiverkitError` with a message that names the file, field or
value at fault and says what to do. Bugs in the kit itself raise ordinary Python exceptions.
"""


class LiverkitError(ValueError):
    """A user mistake: the message names what is wrong and how to fix it."""
