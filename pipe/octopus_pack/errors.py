"""User-facing errors: raised anywhere, printed once by pipe.py as a single line with exit code 1."""


class PipeError(Exception):
    """A problem the user can fix; the message names it and says how, in one line."""
