"""Progress lines for long packing runs and uploads, for CI logs: a plain line every few seconds, no animation.

Bitbucket's log viewer shows every line, so a line per file or per read (or a carriage-return bar) would flood
it; short runs finish before the first interval and print nothing here.
"""

import logging
import time
from collections.abc import Callable

from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


class Throttle:
    """Says when `interval` seconds have passed since the start or since it last said so."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._next = self.started + interval

    def due(self) -> float | None:
        """The current time when a line is due (and the next one is scheduled), else None."""
        now = self.clock()
        if now < self._next:
            return None
        self._next = now + self.interval
        return now


class PackingProgress:
    """Counts files and bytes as the writer finishes them, and logs a line when enough time has passed."""

    def __init__(self, total_files: int, total_bytes: int, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.throttle = Throttle(interval, clock)
        self.files = 0
        self.bytes = 0

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes
        now = self.throttle.due()
        if now is not None:
            log.info(self.describe(now))

    def describe(self, now: float) -> str:
        elapsed = max(now - self.throttle.started, 1e-9)
        rate = self.bytes / elapsed
        remaining = (self.total_bytes - self.bytes) / rate if rate else 0.0
        return (f"Packed {self.files:,} of {self.total_files:,} files, {self.bytes / 1e6:,.1f} of "
                f"{self.total_bytes / 1e6:,.1f} MB, {rate / 1e6:,.1f} MB/s, about {remaining:,.0f} s left")


class UploadProgress:
    """Called with the bytes sent so far; logs a line when `interval` seconds have passed since the last one."""

    def __init__(self, what: str, total: int, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._total = total
        self._throttle = Throttle(interval, clock)

    def __call__(self, sent: int) -> None:
        now = self._throttle.due()
        if now is None:
            return
        sent = min(sent, self._total)
        percent = 100 * sent / self._total if self._total else 100
        rate = sent / max(now - self._throttle.started, 1e-9)
        log.info(
            f"Uploading {self._what}: {format_size(sent)} of {format_size(self._total)} ({percent:.0f}%, "
            f"{format_size(int(rate))}/s)"
        )
