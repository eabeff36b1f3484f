"""Secrets never reach the log: every printed line passes through one mask, whoever wrote it.

Register a secret the moment it is known (an API key, an access token, an OIDC step token, a proxy
password). `install_mask()` then covers both ways text leaves the process:
- a filter on the root logger's handlers rewrites each record (message, arguments, exception and stack
  text), so our lines, the toolkit's and urllib3's are masked, including text a server echoed back;
- sys.stdout and sys.stderr are wrapped, so print() lines (the toolkit's final ✔/✖ line) and tracebacks
  are masked too.
`mask()` serves anything else that must be shown. `Secret` holds a value that prints as <hidden>.
"""

import io
import logging
import sys
from typing import TextIO

HIDDEN = "<hidden>"
_MIN_SECRET_LENGTH = 8  # shorter strings would mask ordinary words; no real credential is that short

_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Mask `value` in everything printed from now on."""
    if len(value) >= _MIN_SECRET_LENGTH:
        _secrets.add(value)


def mask(text: str) -> str:
    """The text with every registered secret replaced by <hidden>, longest first so none leaves a tail."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


class Secret:
    """A value that prints as <hidden> and is masked in every log line from the moment it exists."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        """The value itself: only for a request header or body."""
        return self._value

    def __repr__(self) -> str:
        return HIDDEN

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and type(other) is type(self) and other._value == self._value

    def __hash__(self) -> int:
        return hash((type(self), self._value))


class SecretMask(logging.Filter):
    """A handler filter that rewrites each record's final text, so arguments and exceptions are covered too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        text = record.getMessage()
        masked = mask(text)
        if masked != text:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class MaskedStream(io.TextIOBase):
    """A text stream that masks what is written and passes it on; print() writes each line whole."""

    def __init__(self, target: TextIO) -> None:
        self.target = target

    def write(self, text: str) -> int:
        self.target.write(mask(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.target.encoding


def install_mask(logger: logging.Logger | None = None) -> None:
    """Mask every handler of `logger` (the root logger by default) and the standard streams; idempotent."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretMask) for f in handler.filters):
            handler.addFilter(SecretMask())
    if not isinstance(sys.stdout, MaskedStream):
        sys.stdout = MaskedStream(sys.stdout)
    if not isinstance(sys.stderr, MaskedStream):
        sys.stderr = MaskedStream(sys.stderr)
