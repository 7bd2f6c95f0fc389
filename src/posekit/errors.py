"""The one exception type for errors a user can cause."""


class PosekitError(Exception):
    """A user-facing error: the message names the input and the fix, in one line.

    The CLI prints ``str(err)`` on one line and exits non-zero without a traceback.
    """
