"""Secrets never reach the log: every printed line passes through one mask, whoever wrote it.

Register a secret the moment it is known (an API key, an access token, an OIDC step token); the filter on
the root logger's handlers then replaces it in every record, ours, the toolkit's and urllib3's alike,
including text a server echoed back. `mask()` serves the few lines printed without logging.
"""

import logging

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


class SecretMask(logging.Filter):
    """A handler filter that rewrites each record's final text, so arguments and exceptions are covered too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            text = record.getMessage()
            masked = mask(text)
            if masked != text:
                record.msg, record.args = masked, None
        return True


def install_mask(logger: logging.Logger | None = None) -> None:
    """Put the mask on every handler of `logger` (the root logger by default); calling it twice is harmless."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SecretMask) for f in handler.filters):
            handler.addFilter(SecretMask())
