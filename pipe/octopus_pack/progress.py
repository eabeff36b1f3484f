"""Progress lines for long packing runs and uploads, for CI logs: a plain line every few seconds, no animation."""

import logging
import time
from collections.abc import Callable

from octopus_pack.sizes import format_size

log = logging.getLogger(__name__)


class PackingProgress:
    """Counts files and bytes as the writer finishes them, and logs a line when enough time has passed."""

    def __init__(self, total_files: int, total_bytes: int, interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.interval = interval
        self.clock = clock
        self.files = 0
        self.bytes = 0
        self.started = clock()
        self.next_report = self.started + interval

    def advance(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes
        now = self.clock()
        if now >= self.next_report:
            self.next_report = now + self.interval
            log.info(self.describe(now))

    def describe(self, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = self.bytes / elapsed
        remaining = (self.total_bytes - self.bytes) / rate if rate else 0.0
        return (f"Packed {self.files:,} of {self.total_files:,} files, {self.bytes / 1e6:,.1f} of "
                f"{self.total_bytes / 1e6:,.1f} MB, {rate / 1e6:,.1f} MB/s, about {remaining:,.0f} s left")


class UploadProgress:
    """Called with the bytes sent so far; logs a line when `interval` seconds have passed since the last one.

    Bitbucket's log viewer shows every line, so a line per read (or a carriage-return bar) would flood it;
    short uploads finish before the first interval and print nothing here.
    """

    def __init__(self, what: str, total: int, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._what = what
        self._total = total
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._next_report = self._started + interval

    def __call__(self, sent: int) -> None:
        now = self._clock()
        if now < self._next_report:
            return
        self._next_report = now + self._interval
        sent = min(sent, self._total)
        percent = 100 * sent / self._total if self._total else 100
        rate = sent / max(now - self._started, 1e-9)
        log.info(
            f"Uploading {self._what}: {format_size(sent)} of {format_size(self._total)} ({percent:.0f}%, "
            f"{format_size(int(rate))}/s)"
        )
