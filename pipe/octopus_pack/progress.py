"""Progress lines for long packing runs, written for CI logs: one plain line every few seconds, no animation."""

import logging
import time
from collections.abc import Callable

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
