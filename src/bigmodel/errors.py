"""The one exception type that reaches users as a clear one-line message (never a traceback)."""


class BigModelError(Exception):
    """Bad input or an impossible request. The message names what is wrong and where."""
