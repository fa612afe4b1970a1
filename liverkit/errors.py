"""The exception type for user mistakes and the warning type for suspicious input.

Every error a user can cause and fix (a missing file, a bad CSV column, a label outside the class list,
an unknown manifest entry) raises :class:`LiverkitError` with a message that names the file, field or
value at fault and says what to do. Input that is usable but probably not what the user meant (a constant
image, a non-square ROI padded to square, images without patient ids) gives a :class:`LiverkitWarning`,
which names the files or ids concerned. Bugs in the kit itself raise ordinary Python exceptions.
"""


class LiverkitError(ValueError):
    """A user mistake: the message names what is wrong and how to fix it."""


class LiverkitWarning(UserWarning):
    """Suspicious input the kit accepts: the message names the files or ids and what the kit did about it.

    Turn these into errors with ``warnings.simplefilter("error", LiverkitWarning)`` to refuse such data.
    """
